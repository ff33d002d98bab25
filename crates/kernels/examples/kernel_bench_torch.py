"""PyTorch timings for the shapes of kernel_bench.rs, on the current machine.

Usage: python kernel_bench_torch.py [threads] [full]   (default 2 threads)
Prints best and median ms of 10 runs (5 for gradients), like kernel_bench.
"""
import sys
import time

import torch

F = torch.nn.functional
threads = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 2
torch.set_num_threads(threads)


def bench(f, n=10):
    f()
    ts = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return f"{ts[0] * 1e3:8.2f} (med {ts[len(ts) // 2] * 1e3:8.2f})"


def conv(label, xs, oc, k, s, p=None, train=False):
    p = k // 2 if p is None else p
    x = torch.rand(*xs) - 0.5
    w = (torch.rand(oc, xs[1], k, k) - 0.5) * 0.1
    print(f"{label + ' fwd':<46} torch {bench(lambda: F.conv2d(x, w, stride=s, padding=p))}")
    xv = x.clone().requires_grad_(True)

    def fb():
        F.conv2d(xv, w, stride=s, padding=p).sum().backward()
        xv.grad = None

    print(f"{label + ' fwd+input-grad':<46} torch {bench(fb, 5)}")
    if train:
        wv = w.clone().requires_grad_(True)

        def fbw():
            F.conv2d(xv, wv, stride=s, padding=p).sum().backward()
            xv.grad = None
            wv.grad = None

        print(f"{label + ' fwd+input+weight grads':<46} torch {bench(fbw, 5)}")


def lin(label, r, i, o):
    x = torch.rand(r, i) - 0.5
    w = (torch.rand(o, i) - 0.5) * 0.05
    b = torch.rand(o) - 0.5
    print(f"{label + ' fwd':<46} torch {bench(lambda: F.linear(x, w, b))}")
    xv = x.clone().requires_grad_(True)

    def fb():
        F.linear(xv, w, b).sum().backward()
        xv.grad = None

    print(f"{label + ' fwd+input-grad':<46} torch {bench(fb)}")


print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
a = torch.rand(1024, 1024)
bm = torch.rand(1024, 1024)
print(f"{'GEMM 1024³':<46} torch {bench(lambda: a @ bm.t())}")
conv("conv3x3 64→64 16×56×56", (16, 64, 56, 56), 64, 3, 1, train=True)
conv("conv1x1 256→64 16×56×56", (16, 256, 56, 56), 64, 1, 1)
lin("ViT-B/32 MLP c_fc b1 50×768→3072", 50, 768, 3072)
lin("ViT-B/32 MLP c_fc b16 800×768→3072", 800, 768, 3072)
lin("ViT-B/32 MLP c_proj b1 50×3072→768", 50, 3072, 768)
lin("text b64 c_fc 4928×512→2048", 77 * 64, 512, 2048)
if "full" in sys.argv:
    for label, xs, oc, k, s in [
        ("stem 3→32 s2 224² b1", (1, 3, 224, 224), 32, 3, 2),
        ("stem 32→32 112² b1", (1, 32, 112, 112), 32, 3, 1),
        ("3x3 64→64 56² b1", (1, 64, 56, 56), 64, 3, 1),
        ("3x3 128→128 28² b1", (1, 128, 28, 28), 128, 3, 1),
        ("3x3 256→256 14² b1", (1, 256, 14, 14), 256, 3, 1),
        ("3x3 512→512 7² b1", (1, 512, 7, 7), 512, 3, 1),
        ("1x1 1024→256 14² b1", (1, 1024, 14, 14), 256, 1, 1),
        ("1x1 512→2048 7² b1", (1, 512, 7, 7), 2048, 1, 1),
        ("RN50x4 3x3 80→80 72² b1", (1, 80, 72, 72), 80, 3, 1),
        ("RN50x4 3x3 640→640 9² b1", (1, 640, 9, 9), 640, 3, 1),
        ("3x3 128→128 28² b16", (16, 128, 28, 28), 128, 3, 1),
        ("3x3 512→512 7² b16", (16, 512, 7, 7), 512, 3, 1),
    ]:
        conv(label, xs, oc, k, s)
    conv("ViT-B/32 patchify 3→768 k32 s32 b1", (1, 3, 224, 224), 768, 32, 32, p=0)
