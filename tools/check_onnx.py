"""Checks ONNX files written by Veil with the onnx package and runs them in PyTorch.

Usage: /usr/bin/python3 tools/check_onnx.py DIR
DIR holds <name>.onnx files and <name>.json files ({"input": [[...]], "shape": [...], "logits": [...]})
made by tools/check-onnx-writer.mjs. For every model:
  1. onnx.checker.check_model(full_check=True) (structure, types, shape inference);
  2. the graph is run by a small interpreter over torch.nn.functional in float64 (each ONNX op of
     the set Veil writes mapped to its PyTorch function), and compared with Veil's logits.
Prints one line per model and exits 1 on any failure. Not part of npm test (needs Debian's
python3-onnx and python3-torch, importable from /usr/bin/python3 only).
"""
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper


def attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def pad2d(x, pads, value=0.0):
    top, left, bottom, right = pads
    return F.pad(x, (left, right, top, bottom), value=value)


def run(model, x):
    vals = {t.name: torch.from_numpy(numpy_helper.to_array(t).astype(np.float64)) for t in model.graph.initializer}
    vals[model.graph.input[0].name] = x
    for n in model.graph.node:
        a = attrs(n)
        i = [vals[k] for k in n.input if k != ""]
        op = n.op_type
        if op == "Conv":
            p = list(a.get("pads", [0, 0, 0, 0]))
            y = F.conv2d(pad2d(i[0], p), i[1], i[2] if len(i) > 2 else None, stride=tuple(a.get("strides", [1, 1])))
        elif op == "BatchNormalization":
            y = F.batch_norm(i[0], i[3], i[4], i[1], i[2], training=False, eps=float(np.float32(a.get("epsilon", 1e-5))))
        elif op == "Relu":
            y = F.relu(i[0])
        elif op == "Erf":
            y = torch.erf(i[0])
        elif op in ("Add", "Sub", "Mul", "Div"):
            y = {"Add": torch.add, "Sub": torch.sub, "Mul": torch.mul, "Div": torch.div}[op](i[0], i[1])
        elif op == "AveragePool":
            p = list(a.get("pads", [0, 0, 0, 0]))
            k = tuple(a["kernel_shape"])
            s = tuple(a.get("strides", [1, 1]))
            if a.get("count_include_pad", 0):
                y = F.avg_pool2d(pad2d(i[0], p), k, s)
            else:
                ones = torch.ones_like(i[0])
                y = F.avg_pool2d(pad2d(i[0], p), k, s, divisor_override=1) / F.avg_pool2d(pad2d(ones, p), k, s, divisor_override=1)
        elif op == "GlobalAveragePool":
            y = i[0].mean(dim=(2, 3), keepdim=True)
        elif op == "Flatten":
            y = torch.flatten(i[0], a.get("axis", 1))
        elif op == "Reshape":
            y = i[0].reshape([int(d) for d in i[1].tolist()])
        elif op == "Gemm":
            w = i[1].t() if a.get("transB", 0) else i[1]
            y = i[0] @ w * a.get("alpha", 1.0) + (i[2] * a.get("beta", 1.0) if len(i) > 2 else 0)
        elif op == "MatMul":
            y = i[0] @ i[1]
        else:
            raise ValueError(f"op {op} not in the interpreter")
        vals[n.output[0]] = y
    return vals[model.graph.output[0].name]


def main(d):
    ok = True
    for f in sorted(os.listdir(d)):
        if not f.endswith(".onnx"):
            continue
        name = f[:-5]
        m = onnx.load(os.path.join(d, f))
        try:
            onnx.checker.check_model(m, full_check=True)
            ref = json.load(open(os.path.join(d, name + ".json")))
            x = torch.tensor(ref["input"], dtype=torch.float64).reshape(ref["shape"])
            y = run(m, x).detach().numpy().reshape(-1)
            want = np.array(ref["logits"], dtype=np.float64)
            err = float(np.max(np.abs(y - want)) / (1 + np.max(np.abs(want))))
            # 1e-7: Veil reads the GELU pattern as exact erf(x/√2); the file holds √2 in float32 (rel. 2e-8)
            good = err < 1e-7
            ok &= good
            print(f"{'ok  ' if good else 'FAIL'} {name}: checker passed, torch float64 vs Veil max rel diff {err:.2e}, ops {sorted({n.op_type for n in m.graph.node})}")
        except Exception as e:  # report and go on
            ok = False
            print(f"FAIL {name}: {type(e).__name__}: {e}")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/veil-onnx-check")
