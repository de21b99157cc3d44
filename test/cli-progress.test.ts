/**
 * The CLI's progress reporter: the estimate of the time left is the stage's own rate so far,
 * lines are throttled per stage but a stage's first update and its end always print, and a new
 * stage restarts the clock (a fake clock and sink, so nothing depends on the machine's speed).
 */
import { describe, expect, it } from 'vitest';
import { ProgressReporter, formatDuration } from '../src/cli/progress.js';

function fake(interval = 2) {
  let now = 0;
  const lines: string[] = [];
  const r = new ProgressReporter({ sink: { write: (s: string) => lines.push(s) }, interval, now: () => now, prefix: '' });
  return { r, lines, at: (s: number) => (now = s * 1000) };
}

describe('ProgressReporter', () => {
  it('estimates the time left from the stage rate: elapsed × (total − done) / done', () => {
    const { r, lines, at } = fake(0);
    at(100);
    r.update('encrypting', 0, 8);
    at(110);
    r.update('encrypting', 2, 8); // 10 s for 2 → 30 s for the other 6
    at(140);
    r.update('encrypting', 8, 8);
    expect(lines).toEqual([
      'encrypting: 0% (0/8)\n',
      'encrypting: 25% (2/8), 10.0 s elapsed, about 30.0 s left\n',
      'encrypting: 100% (8/8), 40.0 s elapsed, done\n',
    ]);
  });

  it('throttles a stage to one line per interval, but prints its first update and its end; a new stage restarts the clock', () => {
    const { r, lines, at } = fake(2);
    at(0);
    r.update('a', 0, 100);
    for (let i = 1; i < 100; i++) {
      at(i * 0.1); // 10 s in all: about 5 lines of throttled progress
      r.update('a', i, 100);
    }
    at(10);
    r.update('a', 100, 100);
    expect(lines.length).toBeGreaterThanOrEqual(5);
    expect(lines.length).toBeLessThanOrEqual(8);
    expect(lines.at(-1)).toBe('a: 100% (100/100), 10.0 s elapsed, done\n');
    at(20);
    r.update('b', 1, 4, 'layer 1');
    at(23);
    r.update('b', 2, 4, 'layer 2');
    // the clock of stage b started at its first update (t = 20 s), not at stage a's start
    expect(lines.at(-1)).toBe('b [layer 2]: 50%, 3.0 s elapsed, about 3.0 s left\n'.replace('50%,', '50% (2/4),'));
  });

  it('shows fractional units (predicted seconds) as a percentage only', () => {
    const { r, lines, at } = fake(0);
    at(0);
    r.update('inference', 0.5, 2.5);
    at(4);
    r.update('inference', 1.25, 2.5);
    expect(lines.at(-1)).toBe('inference: 50%, 4.0 s elapsed, about 4.0 s left\n');
  });

  it('formats durations for people', () => {
    expect(formatDuration(0.25)).toBe('250 ms');
    expect(formatDuration(12.34)).toBe('12.3 s');
    expect(formatDuration(245)).toBe('4 min 05 s');
    expect(formatDuration(3720)).toBe('1 h 02 min');
  });
});
