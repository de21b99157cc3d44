/**
 * What the README claims is checked here:
 *  - every TypeScript snippet is an example file from its first import on (the examples run in
 *    test/examples.test.ts, so the snippets do too);
 *  - every `npm run NAME` it names is a script of package.json;
 *  - every repository path it names (fixtures/, examples/, docs/, bench/, tools/, src/) exists.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('..', import.meta.url).pathname;
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** An example's text from its first import line on. */
function fromFirstImport(text: string): string {
  const i = text.search(/^import /m);
  return i < 0 ? '' : text.slice(i).trimEnd();
}

describe('README', () => {
  it('each TypeScript snippet is an example file from its first import on', () => {
    const snippets = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1].trimEnd());
    expect(snippets.length).toBeGreaterThanOrEqual(4);
    const examples = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.ts'))
      .map((f) => ({ f, body: fromFirstImport(readFileSync(join(root, 'examples', f), 'utf8')) }));
    for (const s of snippets) {
      const hit = examples.find((e) => e.body === s);
      expect(hit, `README snippet not found verbatim in examples/:\n${s.slice(0, 200)}`).toBeDefined();
    }
  });

  it('names only npm scripts that exist', () => {
    const scripts = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts as Record<string, string>;
    const named = new Set([...readme.matchAll(/npm run ([a-z:-]+)/g)].map((m) => m[1]));
    expect(named.size).toBeGreaterThan(3);
    for (const n of named) expect(scripts[n], `npm run ${n}`).toBeDefined();
  });

  it('names only repository paths that exist', () => {
    const paths = new Set([...readme.matchAll(/\b((?:fixtures|examples|docs|bench|tools|src|test)\/[\w./-]*\w)/g)].map((m) => m[1]));
    expect(paths.size).toBeGreaterThan(3);
    for (const p of paths) expect(existsSync(join(root, p)), p).toBe(true);
  });
});
