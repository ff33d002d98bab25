"""Training step of the built-in model, ours vs PyTorch side by side in one run (issue #4 budget, issue #3 speed).

Builds the same-shaped open_clip ModifiedResNet CLIP (layers 1-1-1-1, width 16, 96 px, embed 128, text 2x128,
context 32), random init, batch 128 of random pixels and tokens, 2 threads, and times forward+backward of each
tower and one AdamW step; then runs our `profile_towers` example (same shape and batch, a world batch) and prints
a Markdown table with the ratios (speed: PyTorch time / our time). Run through bench/train_step.sh.
"""
import json
import subprocess
import sys
import time

import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

torch.set_num_threads(2)
PX, B, REPS = 96, 128, 3


def best(fn):
    fn()  # warm-up
    times = []
    for _ in range(REPS):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return min(times)


def main():
    bin_cmd = sys.argv[1:]
    vision = CLIPVisionCfg(layers=(1, 1, 1, 1), width=16, image_size=PX, head_width=64)
    text = CLIPTextCfg(context_length=32, vocab_size=49408, width=128, heads=2, layers=2)
    model = CLIP(embed_dim=128, vision_cfg=vision, text_cfg=text, quick_gelu=True).float()
    model.visual.eval()  # frozen batch norm, as our trainer folds it
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    x = torch.randn(B, 3, PX, PX)
    t = torch.randint(1, 49000, (B, 32))

    def image():
        model.zero_grad()
        model.encode_image(x).pow(2).sum().backward()

    def text_tower():
        model.zero_grad()
        model.encode_text(t).pow(2).sum().backward()

    def step():
        opt.zero_grad()
        i = torch.nn.functional.normalize(model.encode_image(x), dim=-1)
        s = torch.nn.functional.normalize(model.encode_text(t), dim=-1)
        logits = model.logit_scale.exp() * i @ s.t()
        y = torch.arange(B)
        loss = (torch.nn.functional.cross_entropy(logits, y) + torch.nn.functional.cross_entropy(logits.t(), y)) / 2
        loss.backward()
        opt.step()

    torch_ms = {"image_fwd_bwd_ms": best(image), "text_fwd_bwd_ms": best(text_tower), "step_ms": best(step)}
    ours = json.loads(subprocess.run(bin_cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    print(f"Training step, {PX} px, batch {B}, 2 threads (best of {REPS}); speed = PyTorch time / our time\n")
    print("| work | ours (ms) | PyTorch (ms) | speed |")
    print("|---|---|---|---|")
    for key, name in [("image_fwd_bwd_ms", "image tower forward + backward"),
                      ("text_fwd_bwd_ms", "text tower forward + backward"),
                      ("step_ms", "whole step (both towers, loss, backward, AdamW)")]:
        print(f"| {name} | {ours[key]:.0f} | {torch_ms[key]:.0f} | {torch_ms[key] / ours[key]:.2f}x |")


if __name__ == "__main__":
    main()
