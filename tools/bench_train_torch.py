"""PyTorch's training throughput on the MNIST ResNet fixture, measured like bench/train.ts.

Same network (tools/make_resnets.py's MnistResNet: 7 ReLUs, 9 batch-norms in training mode),
same step (forward + cross-entropy + backward + Adam, lr 1e-4, batch 64), same data (the 2,000
test digits, x = u8/255, a seeded permutation), same protocol: every configuration once per round,
`--steps` batches per round after a 3-batch warm-up, the median over `--rounds` rounds.
Threads are set with torch.set_num_threads (intra-op) and one inter-op thread.

    /usr/bin/python3 tools/bench_train_torch.py [--json] [--rounds 5] [--steps 20] [--threads 1,2] [--dtypes float32,float64]

JSON lines: {"kind":"train","impl":"pytorch","model":"mnist_relu_res","dtype":…,"threads":…,"batch":64,"images_per_s":…,"rounds":[…]}
Not part of npm test (needs Debian's python3-torch: apt-get install -y python3-torch python3-onnx).
"""
import argparse
import json
import os
import statistics
import sys
import time
import datetime

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_resnets import MnistResNet  # noqa: E402

BATCH = 64


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--dtypes", default="float32,float64")
    a = ap.parse_args()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
    x = np.fromfile(os.path.join(root, "mnist_test_2000.u8"), dtype=np.uint8).astype(np.float32) / 255
    y = np.fromfile(os.path.join(root, "mnist_test_2000_labels.u8"), dtype=np.uint8).astype(np.int64)
    x = x.reshape(-1, 1, 28, 28)
    torch.set_num_interop_threads(1)
    torch.manual_seed(1)
    perm = np.random.RandomState(1).permutation(len(y))

    runs = []
    for dt in a.dtypes.split(","):
        for t in [int(v) for v in a.threads.split(",")]:
            dtype = torch.float32 if dt == "float32" else torch.float64
            model = MnistResNet().to(dtype).train()
            opt = torch.optim.Adam(model.parameters(), lr=1e-4)
            runs.append({"dtype": dt, "threads": t, "model": model, "opt": opt, "x": torch.from_numpy(x).to(dtype), "y": torch.from_numpy(y), "at": 0, "seen": []})

    def batches(r, k):
        torch.set_num_threads(r["threads"])
        t0 = time.perf_counter()
        for _ in range(k):
            if r["at"] + BATCH > len(y):
                r["at"] = 0
            idx = torch.from_numpy(perm[r["at"]:r["at"] + BATCH])
            r["at"] += BATCH
            r["opt"].zero_grad(set_to_none=True)
            loss = F.cross_entropy(r["model"](r["x"][idx]), r["y"][idx])
            loss.backward()
            r["opt"].step()
        return k * BATCH / (time.perf_counter() - t0)

    for r in runs:
        batches(r, 3)
    for _ in range(a.rounds):
        for r in runs:
            r["seen"].append(batches(r, a.steps))
    for r in runs:
        row = {
            "kind": "train", "impl": "pytorch", "torch": torch.__version__, "model": "mnist_relu_res", "dtype": r["dtype"], "threads": r["threads"],
            "batch": BATCH, "steps_per_round": a.steps, "images_per_s": round(statistics.median(r["seen"]), 1),
            "rounds": [round(v, 1) for v in r["seen"]], "cpus": os.cpu_count(), "date": datetime.date.today().isoformat(),
        }
        if a.json:
            print(json.dumps(row))
        else:
            print(f"mnist_relu_res {r['dtype']} {r['threads']}T (PyTorch): {row['images_per_s']} images/s (rounds {', '.join(map(str, row['rounds']))})")


if __name__ == "__main__":
    main()
