#!/usr/bin/env python3
"""Time PyTorch/open_clip, ONNX Runtime and our Rust model code side by side on the same weights and inputs.

Run through `bench/run.sh`, which prepares the reference venv and builds the release binary. Each model is an
open_clip `create_model(name)` with QuickGELU (as OpenAI's weights use) and random weights, with the BatchNorm
statistics and the zero-initialised `bn3` scales randomised too so that no branch is a no-op; its state dict is
saved as open_clip safetensors under `bench/.cache/` and both sides load that file. Inputs (pixels, captions)
also travel through files, and every row checks that our output matches PyTorch's, so the ratios compare the
same computation.

Why side by side: on the 2-vCPU VMs this project runs on, run-to-run noise is 5-15% and other processes come and
go, so absolute figures from different runs do not compare; ratios from one run do. Times are the best of N calls
after a warm-up (as in docs/perf-notes), medians are in the detail table.
"""

import argparse
import copy
import json
import os
import platform
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import open_clip
from safetensors.numpy import load_file as load_numpy
from safetensors.torch import load_file, save_file

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CACHE = HERE / ".cache"
THREADS = 2
MODELS = ["RN50", "RN50x4", "ViT-B-32"]
# the text and tokenizer rows; the text tower row uses RN50's text tower (as in docs/perf-notes)
EXTRA = ["tokenizer", "kernels"]
GRAD_CHANNEL = 7
N_CAPTIONS = 10_000
TEXT_BATCH = 64
# the kernel rows of issue #3's table: one fp32 GEMM 1024³, and a 3×3 conv 64→64 on 16×56×56 (ResNet's first stage)
GEMM_N = 1024
CONV_BATCH = 16

# (warmup, timed calls) per row: sized so the default run stays well under 15 minutes on 2 cores even where our
# code is several times slower than PyTorch; --quick uses one warm-up and one or two calls everywhere.
ITERS = {
    ("RN50", "image", 1): (2, 10),
    ("RN50", "image", 16): (1, 4),
    ("RN50x4", "image", 1): (2, 6),
    ("RN50x4", "image", 16): (1, 2),
    ("ViT-B-32", "image", 1): (2, 10),
    ("ViT-B-32", "image", 16): (1, 5),
    ("RN50x4", "grad", 1): (1, 4),
    ("ViT-B-32", "grad", 1): (1, 6),
    ("RN50", "text", TEXT_BATCH): (1, 4),
    ("tokenizer", "tokenize", N_CAPTIONS): (1, 5),
    ("kernels", "gemm", 1): (2, 10),
    ("kernels", "conv", CONV_BATCH): (2, 6),
    ("kernels", "conv-grad", CONV_BATCH): (1, 4),
}
ROWS = [
    ("kernels", "gemm", 1), ("kernels", "conv", CONV_BATCH), ("kernels", "conv-grad", CONV_BATCH),
    ("RN50", "image", 1), ("RN50", "image", 16),
    ("RN50x4", "image", 1), ("RN50x4", "image", 16),
    ("ViT-B-32", "image", 1), ("ViT-B-32", "image", 16),
    ("RN50x4", "grad", 1), ("ViT-B-32", "grad", 1),
    ("RN50", "text", TEXT_BATCH),
    ("tokenizer", "tokenize", N_CAPTIONS),
]


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------------------------

WORDS = {
    "adj": "red blue green small large old young wooden shiny dark bright striped fluffy broken tiny giant happy "
           "sleepy golden rusty".split(),
    "noun": "dog cat car tree house bird horse boat flower clock guitar spider robot chair bicycle mountain city "
            "lamp teapot dragon".split(),
    "place": "on a beach|in a forest|at night|under the rain|in a kitchen|on the moon|next to a river|in the snow|"
             "on a table|in a museum".split("|"),
    "style": "a photo of|a painting of|a drawing of|a close-up photo of|a cartoon of|a sculpture of|a blurry photo of|"
             "an illustration of".split("|"),
}


SYLLABLES = "ka lo mi ru zen tor vi ash quo el pra sun dor ix bel nae gro tha fi wen".split()


def make_captions(n, seed=0):
    """Short, caption-like strings from a fixed word list; written to a file that both sides read."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = [rng.choice(WORDS["style"]), "a", rng.choice(WORDS["adj"]), rng.choice(WORDS["noun"])]
        if rng.random() < 0.7:
            parts.append(rng.choice(WORDS["place"]))
        if rng.random() < 0.3:
            parts += ["and", "a", rng.choice(WORDS["adj"]), rng.choice(WORDS["noun"])]
        if rng.random() < 0.3:
            # an invented name, so that not every word is a BPE-cache hit after the first few captions
            parts += ["named", "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))).capitalize()]
        out.append(" ".join(parts) + ("." if rng.random() < 0.5 else ""))
    return out


def kernel_inputs():
    """Operands of the kernel rows, in one file both sides read: GEMM `a`, `b`; conv `x`, `w` and the upstream
    gradient `g` (a random one, so that no gradient is a plain sum)."""
    path = CACHE / "kernels.inputs.safetensors"
    if not path.exists():
        g = torch.Generator().manual_seed(3000)
        t = {
            "a": torch.randn((GEMM_N, GEMM_N), generator=g),
            "b": torch.randn((GEMM_N, GEMM_N), generator=g) / GEMM_N ** 0.5,
            "x": torch.randn((CONV_BATCH, 64, 56, 56), generator=g),
            "w": torch.randn((64, 64, 3, 3), generator=g) / 24.0,
            "g": torch.randn((CONV_BATCH, 64, 56, 56), generator=g),
        }
        tmp = path.with_suffix(".tmp")
        save_file(t, str(tmp))
        tmp.replace(path)
    return path, load_file(str(path))


def captions_file():
    path = CACHE / "captions.txt"
    caps = make_captions(N_CAPTIONS)
    text = "\n".join(caps) + "\n"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path, caps


# ---------------------------------------------------------------------------------------------------------------
# models
# ---------------------------------------------------------------------------------------------------------------

def randomize_bn_(model, seed):
    """open_clip initialises BN to identity statistics and zeroes every `bn3` scale, which would make each
    residual branch's output constant; give them values a trained model could have."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                last = name.endswith("bn3") or name.endswith("downsample.1")
                lo, hi = (0.25, 0.6) if last else (0.6, 1.4)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) * (hi - lo) + lo)
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.15)
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)


def image_size(model):
    s = model.visual.image_size
    return s[0] if isinstance(s, (tuple, list)) else int(s)


def get_model(name, seed):
    """The open_clip model with its cached random weights; creates and saves them on first use."""
    path = CACHE / f"{name}.safetensors"
    torch.manual_seed(seed)
    model = open_clip.create_model(name, force_quick_gelu=True).eval()
    if path.exists():
        model.load_state_dict(load_file(str(path)))
    else:
        randomize_bn_(model, seed)
        tmp = path.with_suffix(".tmp")
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp),
                  metadata={"format": "pt"})
        tmp.replace(path)
        for stale in CACHE.glob(f"{name}.visual*.onnx*"):
            stale.unlink()
    for p in model.parameters():
        p.requires_grad_(False)  # feature visualisation differentiates the input only, as our side does
    return model, path


def pixels_file(name, size, seed):
    path = CACHE / f"{name}.pixels.safetensors"
    g = torch.Generator().manual_seed(seed)
    pixels = torch.randn((16, 3, size, size), generator=g)
    if not path.exists():
        save_file({"pixels": pixels}, str(path))
    pixels = load_file(str(path))["pixels"]
    return path, pixels


# ---------------------------------------------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------------------------------------------

def cpu_ticks():
    """(machine total, machine idle, own process) CPU clock ticks, from /proc/stat and /proc/self/stat."""
    v = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    own = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return sum(v), v[3] + v[4], int(own[11]) + int(own[12])


def others_cpu_pct(before, after):
    """Share of the machine's CPU time that other processes used between two `cpu_ticks()`."""
    total = after[0] - before[0]
    busy = total - (after[1] - before[1])
    return max(busy - (after[2] - before[2]), 0) / total * 100 if total > 0 else None


def cpu_busy(interval=1.0):
    """Fraction of the machine's CPU time used by anyone over `interval` seconds (we are idle meanwhile)."""
    def snap():
        v = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        return sum(v), v[3] + v[4]  # idle + iowait
    a = snap()
    time.sleep(interval)
    b = snap()
    total = b[0] - a[0]
    return 1.0 - (b[1] - a[1]) / total if total else 0.0


class QuietWait:
    """Waits (at most `max_s` each time) until other processes leave the CPUs alone: this project's machines
    are shared 2-vCPU VMs, and a competing process inflates the times of thread pools that synchronise at every
    op (OpenMP, ORT's, candle's barrier pool) by far more than its CPU share, unevenly between the sides. After
    three waits in a row run out, the machine is taken to be busy for good and only the busy fraction is sampled,
    so the run still ends in reasonable time."""

    def __init__(self, max_s):
        self.max_s, self.timeouts = max_s, 0

    def __call__(self):
        if self.max_s <= 0:
            return None
        t0 = time.time()
        while True:
            busy = cpu_busy()
            if busy < 0.10:
                self.timeouts = 0
                return busy
            if self.timeouts >= 3 or time.time() - t0 >= self.max_s:
                if self.timeouts < 3:
                    self.timeouts += 1
                    if self.timeouts == 3:
                        log("the CPUs stay busy with other processes; no more waiting (see the wait % figures)")
                return busy
            time.sleep(2)


def time_calls(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    times, out = [], None
    before = cpu_ticks()
    for _ in range(iters):
        out = None
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {"times_ms": times, "min_ms": min(times), "median_ms": float(np.median(times)),
            "others_cpu_pct": others_cpu_pct(before, cpu_ticks())}, out


class Stop(Exception):
    """Raised by the hook once the tap is recorded: the rest of the forward pass is not needed (our side stops
    there too)."""


def grad_layer(model):
    """(module to hook, hook kind, our tap name) for the last residual block of the image tower."""
    v = model.visual
    if hasattr(v, "layer4"):
        last = len(v.layer4) - 1
        # the sum before the block's final ReLU is the input of `act3`
        return v.layer4[last].act3, "pre", f"visual.layer4.{last}.add"
    last = len(v.transformer.resblocks) - 1
    return v.transformer.resblocks[last], "post", f"visual.transformer.resblocks.{last}"


def torch_grad(model, pixels, channel):
    module, kind, _ = grad_layer(model)
    n = pixels.shape[0]
    box = {}

    def record(t):
        if t.dim() == 3 and t.shape[0] != n:  # sequence-first transformer
            t = t.transpose(0, 1)
        # channel mean over positions (dim 1 of NCHW, last dim of [N, T, D]) summed over the batch, as
        # clipneurons_model::channel_mean; computed here, before an in-place ReLU can overwrite `t`
        x = t[:, channel] if t.dim() == 4 else t[..., channel]
        box["obj"] = x.reshape(n, -1).mean(1).sum()
        raise Stop

    if kind == "pre":
        h = module.register_forward_pre_hook(lambda m, args: record(args[0]))
    else:
        h = module.register_forward_hook(lambda m, args, out: record(out))

    def call():
        x = pixels.clone().requires_grad_(True)
        try:
            model.encode_image(x)
        except Stop:
            pass
        obj = box.pop("obj")
        obj.backward()
        return float(obj.detach()), x.grad

    return call, h


def reset_peak_rss():
    """Reset this process's VmHWM to its current RSS (Linux >= 4.0); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mib():
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024


def grad_peak_child(name, batch):
    """In a fresh process: PyTorch's peak RSS over a warm-up and one gradient call, counted from the end of model
    loading (weights included), as our binary counts it. Prints one JSON line."""
    torch.set_num_threads(THREADS)
    seed = MODELS.index(name)
    model, _ = get_model(name, seed=1000 + seed)
    _, pixels = pixels_file(name, image_size(model), seed=2000 + seed)
    x = pixels[:batch].contiguous()
    if not reset_peak_rss():
        sys.exit("cannot reset the peak RSS (/proc/self/clear_refs): the figure would include loading")
    call, hook = torch_grad(model, x, GRAD_CHANNEL)
    call()
    call()
    hook.remove()
    print(json.dumps({"peak_rss_mib": peak_rss_mib()}))


def torch_grad_peak(name, batch):
    """PyTorch's peak RSS for a gradient row, measured in a child process (ours is measured per process too)."""
    p = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--peak-child", name, "--batch", str(batch)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        why = (p.stderr.strip() or p.stdout.strip() or f"exit {p.returncode}").splitlines()[-1]
        log(f"{name}: PyTorch peak memory not measured: {why}")
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])["peak_rss_mib"]


def run_ours(binary, args, out_path):
    env = dict(os.environ, RAYON_NUM_THREADS=str(THREADS))
    cmd = [str(binary), *args, "--save", str(out_path), "--json"]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        msg = (p.stderr.strip() or p.stdout.strip()).splitlines()
        raise RuntimeError(msg[-1] if msg else f"exit {p.returncode}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def rel_diff(ours, ref):
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    if ours.shape != ref.shape:
        return f"shape {list(ours.shape)} vs {list(ref.shape)}"
    return float(np.abs(ours - ref).max() / max(np.abs(ref).max(), 1e-30))


def norm_diff(ours, ref):
    """‖ours − ref‖ / ‖ref‖: unlike the max, not dominated by a few pixels where a ReLU flips on rounding."""
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    return float(np.linalg.norm(ours - ref) / max(np.linalg.norm(ref), 1e-30))


# ---------------------------------------------------------------------------------------------------------------
# ONNX Runtime
# ---------------------------------------------------------------------------------------------------------------

class Visual(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixels):
        return self.model.encode_image(pixels)


def ort_session(name, model, size):
    """An ORT session for the image tower exported with the same weights (opset 17, 2 intra-op threads);
    (None, reason) when export or loading fails."""
    try:
        import onnxruntime as ort
    except Exception as e:  # noqa: BLE001 - any import problem means "no ORT column"
        return None, f"onnxruntime not importable: {e}"
    path = CACHE / f"{name}.visual.onnx"
    try:
        if not path.exists():
            log(f"{name}: exporting the image tower to ONNX")
            tmp = path.with_suffix(".tmp.onnx")
            # The TorchScript exporter: the dynamo one needs `onnxscript`, which the venv does not pin. MHA's
            # inference fast path (`_native_multi_head_attention`) has no ONNX export, so it is off meanwhile; a
            # copy is exported so that tracing leaves nothing behind on the model that PyTorch then times.
            fast = torch.backends.mha.get_fastpath_enabled()
            torch.backends.mha.set_fastpath_enabled(False)
            try:
                with torch.no_grad():
                    torch.onnx.export(Visual(copy.deepcopy(model)), (torch.zeros(1, 3, size, size),), str(tmp),
                                      opset_version=17, input_names=["pixels"], output_names=["features"],
                                      dynamic_axes={"pixels": {0: "n"}, "features": {0: "n"}}, dynamo=False)
            finally:
                torch.backends.mha.set_fastpath_enabled(fast)
            tmp.replace(path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = THREADS
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]), None
    except Exception as e:  # noqa: BLE001 - report the reason in the table instead of aborting the run
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return None, f"{type(e).__name__}: {reason[:160]}"


# ---------------------------------------------------------------------------------------------------------------
# the run
# ---------------------------------------------------------------------------------------------------------------

def sh(cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except Exception:  # noqa: BLE001
        return ""


def machine():
    lscpu = sh(["lscpu"])
    field = lambda k: next((l.split(":", 1)[1].strip() for l in lscpu.splitlines() if l.startswith(k + ":")), "?")
    flags = set(field("Flags").split())
    mem_kib = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text()).group(1))
    lock = (ROOT / "Cargo.lock").read_text()
    candle = re.search(r'name = "candle-core"\nversion = "([^"]+)"', lock)
    import onnxruntime, onnx
    return {
        "cpu": field("Model name"),
        "cpus": field("CPU(s)"),
        "threads_per_core": field("Thread(s) per core"),
        "avx2": "avx2" in flags,
        "avx512f": "avx512f" in flags,
        "amx": "amx_tile" in flags,
        "ram_gib": round(mem_kib / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "open_clip": open_clip.__version__,
        "onnxruntime": onnxruntime.__version__,
        "onnx": onnx.__version__,
        "rustc": sh(["rustc", "--version"]),
        "candle_core": candle.group(1) if candle else "?",
        "git": sh(["git", "-C", str(ROOT), "describe", "--always", "--dirty"]),
        "loadavg_start": Path("/proc/loadavg").read_text().split()[:3],
    }


SUSPECT_OTHERS_PCT = 5.0


def suspect(r):
    """True when other processes used more than SUSPECT_OTHERS_PCT of the CPUs during the timed calls."""
    return isinstance(r, dict) and (r.get("others_cpu_pct") or 0.0) > SUSPECT_OTHERS_PCT


def fmt_ms(r, unit):
    if r is None:
        return "—"
    if isinstance(r, str):
        return r
    ms = r["min_ms"]
    t = f"{ms:.1f} ms" if ms < 100 else f"{ms:.0f} ms"
    t = f"{t} ({r['batch'] * 1000 / ms:.1f} {unit}/s)" if r["batch"] > 1 else t
    return t + (" ‡" if suspect(r) else "")


def label(model, work, batch):
    pretty = {"ViT-B-32": "ViT-B/32"}.get(model, model)
    return {
        "image": f"{pretty} image fwd b{batch}",
        "grad": f"{pretty} fwd + input gradient b{batch}",
        "text": f"{pretty} text tower fwd b{batch}",
        "tokenize": f"tokenizer, {batch // 1000}k short strings",
        "gemm": f"fp32 GEMM {GEMM_N}³ (x · Wᵀ)",
        "conv": f"conv 3×3 64→64, {batch}×56×56, forward",
        "conv-grad": "same conv, forward + input and weight gradients",
    }[work]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", type=Path, help="the release clipneurons-bench binary (required)")
    ap.add_argument("--peak-child", choices=MODELS, help=argparse.SUPPRESS)
    ap.add_argument("--batch", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="one warm-up and one or two calls per row (smoke run)")
    ap.add_argument("--only", action="append", choices=MODELS + EXTRA, metavar="NAME",
                    help=f"only these rows' models (repeatable): {', '.join(MODELS + EXTRA)}; RN50 includes the "
                         "text-tower row")
    ap.add_argument("--no-ort", action="store_true", help="skip the ONNX Runtime column")
    ap.add_argument("--quiet-wait", type=float, default=None, metavar="S",
                    help="before each measurement wait up to S seconds for the CPUs to be idle "
                         "(default 30, 0 with --quick; given up after three timeouts in a row)")
    args = ap.parse_args()
    if args.peak_child:
        grad_peak_child(args.peak_child, args.batch)
        return
    if args.bin is None:
        ap.error("--bin is required")
    if args.quiet_wait is None:
        args.quiet_wait = 0.0 if args.quick else 30.0
    quiet = QuietWait(args.quiet_wait)

    torch.set_num_threads(THREADS)
    torch.set_num_interop_threads(1)
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / "out").mkdir(exist_ok=True)
    t_start = time.time()
    info = machine()
    cap_path, captions = captions_file()
    wanted = set(args.only or MODELS + EXTRA)
    rows = [r for r in ROWS if r[0] in wanted]
    results = []

    for name in dict.fromkeys(r[0] for r in rows):
        mine = [r for r in rows if r[0] == name]
        model = path = sess = None
        ort_reason = "not run"
        if name == "kernels":
            kin_path, kin = kernel_inputs()
        if name in MODELS:
            log(f"{name}: building the model")
            seed = MODELS.index(name)  # by name, so that --only makes the same weights and inputs
            model, path = get_model(name, seed=1000 + seed)
            size = image_size(model)
            px_path, pixels = pixels_file(name, size, seed=2000 + seed)
            if any(w == "image" for _, w, _ in mine) and not args.no_ort:
                sess, ort_reason = ort_session(name, model, size)
        for (_, work, batch) in mine:
            warmup, iters = ITERS[(name, work, batch)]
            if args.quick:
                warmup, iters = 1, (2 if batch == 1 else 1)
            row = {"model": name, "work": work, "batch": batch, "warmup": warmup, "iters": iters}
            out_path = CACHE / "out" / f"{name}-{work}-b{batch}.safetensors"
            log(f"{label(name, work, batch)}: PyTorch")
            busy = {"torch": quiet()}
            ours_args = ["--work", work, "--batch", str(batch), "--warmup", str(warmup), "--iters", str(iters)]
            if work == "image":
                x = pixels[:batch].contiguous()
                with torch.no_grad():
                    tr, ref = time_calls(lambda: model.encode_image(x), warmup, iters)
                ref = ref.numpy()
                if sess is not None:
                    log(f"{label(name, work, batch)}: ONNX Runtime")
                    busy["ort"] = quiet()
                    xn = x.numpy()
                    orr, ort_out = time_calls(lambda: sess.run(None, {"pixels": xn})[0], warmup, iters)
                    orr["diff_vs_torch"] = rel_diff(ort_out, ref)
                    row["ort"] = orr
                else:
                    row["ort"] = f"n/a ({ort_reason})" if not args.no_ort else None
                ours_args += ["--model", str(path), "--pixels", str(px_path)]
            elif work == "grad":
                x = pixels[:batch].contiguous()
                call, hook = torch_grad(model, x, GRAD_CHANNEL)
                tr, (obj, g) = time_calls(call, warmup, iters)
                hook.remove()
                ref = g.numpy()
                tr["objective"] = obj
                log(f"{label(name, work, batch)}: PyTorch peak memory (own process)")
                row["torch_peak_rss_mib"] = torch_grad_peak(name, batch)
                layer = grad_layer(model)[2]
                row["layer"], row["channel"] = layer, GRAD_CHANNEL
                ours_args += ["--model", str(path), "--pixels", str(px_path), "--layer", layer,
                              "--channel", str(GRAD_CHANNEL)]
            elif work == "text":
                tokens = open_clip.tokenize(captions[:batch])
                with torch.no_grad():
                    tr, ref = time_calls(lambda: model.encode_text(tokens), warmup, iters)
                ref = ref.numpy()
                ours_args += ["--model", str(path), "--captions", str(cap_path)]
            elif work == "gemm":
                with torch.no_grad():
                    tr, ref = time_calls(lambda: torch.nn.functional.linear(kin["a"], kin["b"]), warmup, iters)
                ref = ref.numpy()
                tr["gflops"] = 2 * GEMM_N ** 3 / tr["min_ms"] / 1e6
                ours_args += ["--inputs", str(kin_path)]
            elif work == "conv":
                with torch.no_grad():
                    tr, ref = time_calls(lambda: torch.nn.functional.conv2d(kin["x"], kin["w"], padding=1),
                                         warmup, iters)
                ref = ref.numpy()
                ours_args += ["--inputs", str(kin_path)]
            elif work == "conv-grad":

                def conv_grad():
                    x = kin["x"].clone().requires_grad_(True)
                    w = kin["w"].clone().requires_grad_(True)
                    (torch.nn.functional.conv2d(x, w, padding=1) * kin["g"]).sum().backward()
                    return x.grad, w.grad

                tr, (dx, dw) = time_calls(conv_grad, warmup, iters)
                ref, ref_dw = dx.numpy(), dw.numpy()
                ours_args += ["--inputs", str(kin_path)]
            else:  # tokenize
                caps = captions[:batch]
                tr, ref = time_calls(lambda: open_clip.tokenize(caps), warmup, iters)
                ref = ref.numpy()
                ours_args += ["--captions", str(cap_path)]
            tr["batch"] = batch
            row["torch"] = tr
            log(f"{label(name, work, batch)}: ours")
            busy["ours"] = quiet()
            row["cpu_busy_before"] = busy
            try:
                ours = run_ours(args.bin, ours_args, out_path)
                mine_out = load_numpy(str(out_path))
                if work == "tokenize":
                    bad = int((mine_out["output"].astype(np.int64) != ref).any(axis=1).sum())
                    ours["check"] = "ids identical" if bad == 0 else f"{bad} rows differ"
                else:
                    d = rel_diff(mine_out["output"], ref)
                    ours["diff_vs_torch"] = d
                    ours["check"] = f"{d:.1e}" if isinstance(d, float) else d
                    if work == "conv-grad" and isinstance(d, float):
                        d_dw = rel_diff(mine_out["dw"], ref_dw)
                        ours["check"] = f"dx {d:.1e}, dw " + (f"{d_dw:.1e}" if isinstance(d_dw, float) else d_dw)
                    if work == "gemm":
                        ours["gflops"] = 2 * GEMM_N ** 3 / ours["min_ms"] / 1e6
                    if work == "grad" and isinstance(d, float):
                        ours["norm_diff_vs_torch"] = n = norm_diff(mine_out["output"], ref)
                        ours["check"] = (f"max {d:.1e}, norm {n:.1e}; objective {ours['objective']:.6g} vs "
                                         f"{obj:.6g}")
                row["ours"] = ours
            except Exception as e:  # noqa: BLE001 - one failing row must not lose the others
                row["ours"] = f"error: {e}"
            results.append(row)
        del model, sess

    info["loadavg_end"] = Path("/proc/loadavg").read_text().split()[:3]
    info["wall_s"] = round(time.time() - t_start, 1)
    info["torch_process_peak_rss_mib"] = round(peak_rss_mib())
    report(info, results, args)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (CACHE / f"results-{stamp}.json").write_text(json.dumps({"machine": info, "rows": results}, indent=1))
    log(f"raw results: {CACHE / f'results-{stamp}.json'}")


def report(info, results, args):
    print(f"## clipneurons vs PyTorch{' (--quick: smoke run, not for quoting)' if args.quick else ''}\n")
    print(f"- machine: {info['cpu']}, {info['cpus']} CPUs ({info['threads_per_core']} thread(s)/core), "
          f"AVX2 {'yes' if info['avx2'] else 'no'}, AVX-512 {'yes' if info['avx512f'] else 'no'}, "
          f"AMX {'yes' if info['amx'] else 'no'}, {info['ram_gib']} GiB RAM, Linux {info['kernel']}")
    print(f"- versions: torch {info['torch']}, open_clip {info['open_clip']}, onnxruntime {info['onnxruntime']} "
          f"(onnx {info['onnx']}), Python {info['python']}; {info['rustc']}, candle-core {info['candle_core']}, "
          f"clipneurons {info['git']}")
    print(f"- {THREADS} threads everywhere (torch.set_num_threads, ORT intra-op, RAYON_NUM_THREADS); random "
          f"weights; best of N calls after warm-up; load average {' '.join(info['loadavg_start'])} at start, "
          f"{' '.join(info['loadavg_end'])} at end; run took {info['wall_s'] / 60:.1f} min\n")
    print("| work | PyTorch | ONNX Runtime | ours | ours speed ÷ PyTorch speed | ours peak RSS (PyTorch's) "
          "| ours vs PyTorch |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        unit = {"image": "img", "grad": "img", "text": "texts", "tokenize": "k strings", "gemm": "",
                "conv": "img", "conv-grad": "img"}[r["work"]]
        ours, tr, ort = r["ours"], r["torch"], r.get("ort")
        if r["work"] == "tokenize":
            # thousands of strings per second read better than 30000/s
            def cell(x):
                if isinstance(x, str):
                    return x
                return f"{x['min_ms']:.0f} ms ({r['batch'] / x['min_ms']:.1f}k/s)" + (" ‡" if suspect(x) else "")
            t_cell, o_cell = cell(tr), cell(ours)
        else:
            t_cell = fmt_ms(tr, unit)
            o_cell = fmt_ms(dict(ours, batch=r["batch"]), unit) if isinstance(ours, dict) else ours
        ort_cell = "—" if ort is None else fmt_ms(dict(ort, batch=r["batch"]), unit) if isinstance(ort, dict) else ort
        if isinstance(ours, dict):
            ratio = f"{tr['min_ms'] / ours['min_ms']:.2f}×"
            rss = f"{ours['peak_rss_mib']:.0f} MiB" if ours.get("peak_rss_mib") else "?"
            if ours.get("peak_rss_mib") and ours.get("load_s") is not None and not ours.get("peak_rss_excludes_load"):
                rss += " (incl. loading)"
            if r.get("torch_peak_rss_mib"):
                rss += f" (PyTorch {r['torch_peak_rss_mib']:.0f} MiB)"
            check = ours.get("check", "")
        else:
            ratio, rss, check = "—", "—", ""
        print(f"| {label(r['model'], r['work'], r['batch'])} | {t_cell} | {ort_cell} | {o_cell} | {ratio} | {rss} "
              f"| {check} |")
    for r in results:
        if r["work"] == "gemm" and isinstance(r["ours"], dict):
            print(f"\nGEMM throughput: PyTorch {r['torch']['gflops']:.0f} GFLOP/s, ours {r['ours']['gflops']:.0f} "
                  f"GFLOP/s ({THREADS} threads).")
    print("\nSpeed ratio > 1: ours is faster. \"ours peak RSS\": VmHWM of our process from the end of model "
          "loading (weights included); on the gradient rows PyTorch's, measured the same way in a process of "
          "its own, is in brackets. \"ours vs PyTorch\": max |ours − torch| ÷ max |torch| over the output "
          "(image or text features; for the gradient rows also ‖ours − torch‖ ÷ ‖torch‖ and the objective).")
    if any(suspect(r.get(k)) for r in results for k in ("torch", "ort", "ours")):
        print(f"‡ other processes used more than {SUSPECT_OTHERS_PCT:.0f}% of the CPUs during these timed calls. "
              "All three sides synchronise their threads at every op, so the time is inflated by more than that "
              "share, unevenly between sides: rerun on an idle machine before quoting that row or its ratio.")
    print("\n<details><summary>best / median of N calls in ms (share of the CPUs other processes used during "
          "the timed calls; machine busy just before)</summary>\n")
    print("| work | N | PyTorch | ONNX Runtime (max rel. diff vs torch) | ours | "
          "ours load s / RSS after load / peak while loading |")
    print("|---|---|---|---|---|---|")

    def bm(x, busy):
        if not isinstance(x, dict):
            return x or "—"
        extra = [f"others {x['others_cpu_pct']:.0f}%"] if x.get("others_cpu_pct") is not None else []
        if busy is not None:
            extra.append(f"busy {busy * 100:.0f}%")
        return f"{x['min_ms']:.1f} / {x['median_ms']:.1f}" + (f" ({', '.join(extra)})" if extra else "")

    for r in results:
        ort, ours, busy = r.get("ort"), r["ours"], r.get("cpu_busy_before", {})
        ort_s = bm(ort, busy.get("ort")) + (f" ({ort['diff_vs_torch']:.1e})" if isinstance(ort, dict) else "")
        load = (f"{ours['load_s']:.1f} s / {ours['rss_after_load_mib']:.0f} MiB / {ours['load_peak_rss_mib']:.0f} MiB"
                if isinstance(ours, dict) and ours.get("load_s") is not None else "—")
        print(f"| {label(r['model'], r['work'], r['batch'])} | {r['warmup']}+{r['iters']} | "
              f"{bm(r['torch'], busy.get('torch'))} | {ort_s} | {bm(ours, busy.get('ours'))} | {load} |")
    print(f"\nPyTorch process peak RSS (all rows, incl. `import torch`): {info['torch_process_peak_rss_mib']} MiB")
    print("\n</details>")


if __name__ == "__main__":
    main()
