#!/usr/bin/env python3
"""Feature-visualisation step time and peak memory, ours vs PyTorch side by side in one run (issue #6).

The same loop on both sides, on the same weights: Lucid's Fourier image (1/f scaling, colour decorrelation,
sigmoid), Lucid's standard transforms (pad 12, jitter 8, scale 0.90-1.10, rotation -10..10 degrees, jitter 4, back
to the model's side), CLIP normalisation, the image tower up to the last block's pre-ReLU sum (`.add`), the mean of
one channel, its input gradient only (model weights frozen), Adam 0.05. No redirected ReLU on either side.

Models: the built-in model (96 px; `crates/builtin/weights/builtin.safetensors` loaded into the same-shaped
open_clip model) and RN50x4 with random weights (288 px; cached by bench/compare.py in bench/.cache/). Each side runs
in its own process under GNU time, so its peak resident memory (including loading the weights) is its own. Speed = PyTorch time / our time.
Run through bench/viz_step.sh.
"""
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

STEPS = {"builtin": 30, "RN50x4": 6}
CHANNEL = 7


def run_measured(cmd, env=None):
    """Run `cmd` under GNU time; return (stdout, peak RSS in MiB of that process alone)."""
    rss_file = Path("/tmp/clipneurons-viz-bench.rss")
    p = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss_file)] + cmd, capture_output=True, text=True,
                       env=env)
    if p.returncode != 0:
        sys.exit(f"{cmd[0]} failed: {p.stderr[-2000:]}")
    return p.stdout, int(rss_file.read_text().split()[-1]) / 1024


def torch_side(name, steps):
    """The PyTorch loop, in this (child) process; prints one JSON line."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(2)
    torch.manual_seed(0)
    if name == "builtin":
        from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg
        from safetensors.torch import load_file

        vision = CLIPVisionCfg(layers=(1, 1, 1, 1), width=16, image_size=96, head_width=64)
        text = CLIPTextCfg(context_length=32, vocab_size=49408, width=128, heads=2, layers=2)
        model = CLIP(embed_dim=128, vision_cfg=vision, text_cfg=text, quick_gelu=True).float().eval()
        sd = {k: v.float() for k, v in load_file(str(ROOT / "crates/builtin/weights/builtin.safetensors")).items()}
        missing, unexpected = model.load_state_dict(sd, strict=False)
        assert not [k for k in missing if not k.endswith("num_batches_tracked")], missing
        size = 96
    else:
        import compare

        model, _ = compare.get_model(name, 0)
        size = compare.image_size(model)
    for p in model.parameters():
        p.requires_grad_(False)
    visual = model.visual
    last = visual.layer4[-1]

    class Stop(Exception):
        pass

    captured = {}

    def hook(_module, inputs):
        captured["add"] = inputs[0]  # the ReLU's input: the block's pre-ReLU sum
        raise Stop

    last.act3.register_forward_pre_hook(hook)

    # Lucid's Fourier parametrisation.
    fy = torch.fft.fftfreq(size)[:, None]
    fx = torch.fft.rfftfreq(size)[None, :]
    freqs = torch.sqrt(fx * fx + fy * fy)
    scale = 1.0 / torch.clamp(freqs, min=1.0 / size)
    spectrum = (torch.randn(1, 3, size, size // 2 + 1, 2) * 0.01).requires_grad_(True)
    colour = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
    colour = colour / colour.norm(dim=0).max()
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    opt = torch.optim.Adam([spectrum], lr=0.05)
    gen = torch.Generator().manual_seed(0)

    def rgb():
        s = torch.view_as_complex(spectrum) * scale
        img = torch.fft.irfftn(s, s=(size, size), norm="ortho") / 4.0
        img = torch.einsum("bchw,dc->bdhw", img, colour)
        return torch.sigmoid(img)

    def rint(n):
        return int(torch.randint(0, n, (1,), generator=gen))

    def transforms(x):
        x = F.pad(x, (12, 12, 12, 12), value=0.5)
        d = rint(9)
        e = rint(9)
        x = x[:, :, d:d + x.shape[2] - 8, e:e + x.shape[3] - 8]
        s = 1 + (rint(11) - 5) / 50
        n = round(x.shape[2] * s)
        x = F.interpolate(x, size=(n, n), mode="bilinear", align_corners=False)
        a = math.radians(rint(21) - 10)
        theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]]).unsqueeze(0)
        grid = F.affine_grid(theta, list(x.shape), align_corners=False)
        x = F.grid_sample(x - 0.5, grid, mode="bilinear", padding_mode="zeros", align_corners=False) + 0.5
        d = rint(5)
        e = rint(5)
        x = x[:, :, d:d + x.shape[2] - 4, e:e + x.shape[3] - 4]
        h = x.shape[2]
        if h >= size:
            o = (h - size) // 2
            return x[:, :, o:o + size, o:o + size]
        p = size - h
        return F.pad(x, (p // 2, p - p // 2, p // 2, p - p // 2), value=0.5)

    def step():
        opt.zero_grad()
        x = (transforms(rgb()) - mean) / std
        try:
            visual(x)
        except Stop:
            pass
        obj = captured["add"][:, CHANNEL].mean()
        (-obj).backward()
        opt.step()
        return float(obj)

    step()  # the first step allocates; as on our side it is not timed
    times = []
    for _ in range(steps - 1):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    print(json.dumps({"seconds_per_step": sum(times) / len(times)}))


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--torch-side":
        torch_side(sys.argv[2], int(sys.argv[3]))
        return
    binary = sys.argv[1]
    import compare

    compare.CACHE.mkdir(exist_ok=True)
    _, rn50x4 = compare.get_model("RN50x4", 0)
    models = {"builtin": None, "RN50x4": str(rn50x4)}
    rows = []
    for name, path in models.items():
        steps = STEPS[name]
        out = Path("/tmp") / f"clipneurons-viz-bench-{name}.png"
        cmd = [binary, "viz", "--neuron", str(CHANNEL), "--steps", str(steps), "--redirect-steps", "0",
               "--out", str(out), "--json"]
        if path:
            cmd[2:2] = ["--model", path]
        env = dict(os.environ, RAYON_NUM_THREADS="2")
        stdout, ours_rss = run_measured(cmd, env)
        ours = json.loads(stdout.strip().splitlines()[-1])
        stdout, ref_rss = run_measured([sys.executable, __file__, "--torch-side", name, str(steps)])
        ref = json.loads(stdout.strip().splitlines()[-1])
        rows.append((name, steps, ours["seconds_per_step"], ours_rss, ref["seconds_per_step"], ref_rss))
        print(f"{name}: ours {ours['seconds_per_step'] * 1e3:.1f} ms/step, PyTorch {ref['seconds_per_step'] * 1e3:.1f}",
              file=sys.stderr)
    print("Feature-visualisation step (Lucid loop, batch 1, input gradient only), 2 threads; mean over the steps "
          "after the first; speed = PyTorch time / our time\n")
    print("| model | steps | ours (ms/step) | PyTorch (ms/step) | speed | ours peak RSS (MiB) | PyTorch peak RSS (MiB) |")
    print("|---|---|---|---|---|---|---|")
    for name, steps, o, orss, r, rrss in rows:
        print(f"| {name} | {steps} | {o * 1e3:.1f} | {r * 1e3:.1f} | {r / o:.2f}x | {orss:.0f} | {rrss:.0f} |")


if __name__ == "__main__":
    main()
