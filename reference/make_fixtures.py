#!/usr/bin/env python3
"""Reference script: writes every file described in fixtures/README.md.

    bash reference/setup.sh
    reference/.venv/bin/python reference/make_fixtures.py            # -> fixtures/
    reference/.venv/bin/python reference/make_fixtures.py --full     # -> reference/out/ (large, not committed)

Everything is random-initialised with fixed seeds, so reruns give the same models, inputs and (up to CPU
floating-point reduction order) the same outputs. No weights are downloaded.
"""
import argparse
import copy
import json
import math
import os
import random
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import open_clip
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg, convert_weights_to_lp
from open_clip.modified_resnet import AttentionPool2d, ModifiedResNet
from open_clip.transformer import VisionTransformer
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
OUT_FULL = ROOT / "reference" / "out"

torch.set_num_threads(max(1, min(4, os.cpu_count() or 1)))
warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
warnings.filterwarnings("ignore", message=".*TorchScript.*")
warnings.filterwarnings("ignore", message=".*torch.jit.*")

# --------------------------------------------------------------------------------------------------------------
# model configurations
# --------------------------------------------------------------------------------------------------------------
# head_width 64 everywhere -> heads follow OpenAI's rules (ResNet width*32//64, ViT width//64, text width//64).

CONFIGS = {
    # fixtures/rn: tiny ModifiedResNet CLIP with the real 49408-token vocabulary
    "rn": dict(
        embed_dim=32,
        vision=dict(layers=(2, 2, 1, 1), width=16, image_size=64, head_width=64),
        text=dict(context_length=77, vocab_size=49408, width=64, heads=1, layers=2),
    ),
    # fixtures/vit: tiny ViT CLIP, grid 4 -> 17 tokens
    "vit": dict(
        embed_dim=32,
        vision=dict(layers=2, width=64, patch_size=8, image_size=32, head_width=64),
        text=dict(context_length=77, vocab_size=1000, width=64, heads=1, layers=2),
    ),
    # fixtures/formats/micro_rn: smallest useful ModifiedResNet (width 4 -> 128-d attnpool, 2 heads of 64)
    "micro_rn": dict(
        embed_dim=16,
        vision=dict(layers=(1, 2, 1, 1), width=4, image_size=64, head_width=64),
        text=dict(context_length=77, vocab_size=500, width=64, heads=1, layers=1),
    ),
    # fixtures/formats/micro_vit: grid 2 -> 5 tokens
    "micro_vit": dict(
        embed_dim=16,
        vision=dict(layers=2, width=64, patch_size=8, image_size=16, head_width=64),
        text=dict(context_length=77, vocab_size=500, width=64, heads=1, layers=1),
    ),
    # --full only: OpenAI's RN50x4 and ViT-B/32 shapes, random weights
    "RN50x4": dict(
        embed_dim=640,
        vision=dict(layers=(4, 6, 10, 6), width=80, image_size=288, head_width=64),
        text=dict(context_length=77, vocab_size=49408, width=640, heads=10, layers=12),
    ),
    "ViT-B-32": dict(
        embed_dim=512,
        vision=dict(layers=12, width=768, patch_size=32, image_size=224, head_width=64),
        text=dict(context_length=77, vocab_size=49408, width=512, heads=8, layers=12),
    ),
}

SEEDS = {"rn": 1001, "vit": 1002, "micro_rn": 1003, "micro_vit": 1004, "RN50x4": 1005, "ViT-B-32": 1006}

RN_TEXTS = [
    "a photo of a dog.",
    "A diagram of the CLIP ResNet, drawn in pencil!",
    "two cats sleeping on a red sofa",
    "spider-man's mask &amp; a 3D printer",
]

FULL_TEXTS = [
    "a photo of a golden retriever.",
    "an illustration of the Eiffel Tower at night",
]


def build_clip(cfg, cast_dtype=None):
    vcfg = dict(cfg["vision"])
    model = CLIP(
        embed_dim=cfg["embed_dim"],
        vision_cfg=CLIPVisionCfg(**vcfg),
        text_cfg=CLIPTextCfg(**cfg["text"]),
        quick_gelu=True,
        cast_dtype=cast_dtype,
    )
    return model.eval()


# --------------------------------------------------------------------------------------------------------------
# randomisation of every parameter and buffer
# --------------------------------------------------------------------------------------------------------------

def randomize_(model: CLIP, seed: int):
    """Overwrite every parameter and persistent buffer with random values chosen so that activations stay O(1)."""
    g = torch.Generator().manual_seed(seed)

    def normal(t, std, mean=0.0):
        with torch.no_grad():
            t.copy_(torch.randn(t.shape, generator=g) * std + mean)

    def uniform(t, lo, hi):
        with torch.no_grad():
            t.copy_(torch.rand(t.shape, generator=g) * (hi - lo) + lo)

    done = set()
    for mname, m in model.named_modules():
        prefix = mname + "." if mname else ""
        own = dict(m.named_parameters(recurse=False))
        own.update({k: v for k, v in m.named_buffers(recurse=False) if k not in m._non_persistent_buffers_set})
        if not own:
            continue
        if isinstance(m, nn.Conv2d):
            fan_in = m.weight[0].numel()
            # He init for the ReLU ResNet; plain 1/sqrt(fan_in) for the ViT patch embedding
            std = math.sqrt(2.0 / fan_in) if isinstance(model.visual, ModifiedResNet) else 1.0 / math.sqrt(fan_in)
            normal(m.weight, std)
            if m.bias is not None:
                normal(m.bias, 0.1)
        elif isinstance(m, nn.BatchNorm2d):
            last = mname.endswith("bn3") or mname.endswith("downsample.1")
            if last:
                uniform(m.weight, 0.25, 0.6)  # keep the residual stream from growing too fast
            else:
                uniform(m.weight, 0.6, 1.4)
            normal(m.bias, 0.15)
            normal(m.running_mean, 0.3)
            uniform(m.running_var, 0.5, 1.5)
            with torch.no_grad():
                m.num_batches_tracked.fill_(int(torch.randint(1, 100000, (1,), generator=g)))
        elif isinstance(m, nn.LayerNorm):
            uniform(m.weight, 0.6, 1.4)
            normal(m.bias, 0.1)
        elif isinstance(m, nn.Linear):
            normal(m.weight, 1.0 / math.sqrt(m.in_features))
            if m.bias is not None:
                normal(m.bias, 0.1)
        elif isinstance(m, nn.MultiheadAttention):
            normal(m.in_proj_weight, 1.0 / math.sqrt(m.embed_dim))
            normal(m.in_proj_bias, 0.1)
        elif isinstance(m, nn.Embedding):
            normal(m.weight, 1.0)
        elif isinstance(m, AttentionPool2d):
            normal(m.positional_embedding, 0.5)
        elif isinstance(m, VisionTransformer):
            normal(m.class_embedding, 1.0)
            normal(m.positional_embedding, 0.5)
            normal(m.proj, 1.0 / math.sqrt(m.proj.shape[0]))
        elif isinstance(m, CLIP):
            normal(m.positional_embedding, 0.5)
            normal(m.text_projection, 1.0 / math.sqrt(m.text_projection.shape[0]))
            with torch.no_grad():
                m.logit_scale.fill_(math.log(10.0 + 40.0 * float(torch.rand((), generator=g))))
        else:
            raise RuntimeError(f"don't know how to randomise {type(m).__name__} at {mname!r}: {list(own)}")
        done.update(prefix + k for k in own)
    expected = set(model.state_dict().keys())
    missing = expected - done
    assert not missing, f"not randomised: {sorted(missing)}"
    return model


def round_through_fp16_(model: CLIP):
    """Round exactly the tensors that OpenAI's convert_weights casts to fp16, keep them as fp32."""
    convert_weights_to_lp(model, torch.float16)
    model.float()
    return model


def fp16_keys(model: CLIP):
    """State-dict keys that convert_weights would turn into fp16."""
    m = copy.deepcopy(model)
    convert_weights_to_lp(m, torch.float16)
    return sorted(k for k, v in m.state_dict().items() if v.dtype == torch.float16)


# --------------------------------------------------------------------------------------------------------------
# taps
# --------------------------------------------------------------------------------------------------------------

def tap_specs(model: CLIP, which="all"):
    """[(tap name, open_clip module path, kind)] for every tap name of fixtures/README.md.

    kind: 'out' = module output, 'pre' = module input, 'attn' = first element of nn.MultiheadAttention's output,
    'cls' = token 0 of the output.
    """
    specs = []
    v = model.visual
    if isinstance(v, ModifiedResNet):
        for i in (1, 2, 3):
            specs.append((f"visual.relu{i}", f"visual.act{i}", "out"))
        specs.append(("visual.avgpool", "visual.avgpool", "out"))
        for L in (1, 2, 3, 4):
            layer = getattr(v, f"layer{L}")
            for i in range(len(layer)):
                p = f"visual.layer{L}.{i}"
                specs.append((f"{p}.relu1", f"{p}.act1", "out"))
                specs.append((f"{p}.relu2", f"{p}.act2", "out"))
                specs.append((f"{p}.add", f"{p}.act3", "pre"))
                specs.append((p, p, "out"))
        specs.append(("visual.attnpool", "visual.attnpool", "out"))
    else:
        specs.append(("visual.conv1", "visual.conv1", "out"))
        specs.append(("visual.ln_pre", "visual.ln_pre", "out"))
        for i in range(len(v.transformer.resblocks)):
            p = f"visual.transformer.resblocks.{i}"
            specs.append((f"{p}.attn", f"{p}.attn", "attn"))
            specs.append((f"{p}.mlp.gelu", f"{p}.mlp.gelu", "out"))
            specs.append((p, p, "out"))
        specs.append(("visual.ln_post", "visual.ln_post", "cls"))
    specs.append(("token_embedding", "token_embedding", "out"))
    for i in range(len(model.transformer.resblocks)):
        p = f"transformer.resblocks.{i}"
        specs.append((f"{p}.attn", f"{p}.attn", "attn"))
        specs.append((f"{p}.mlp.gelu", f"{p}.mlp.gelu", "out"))
        specs.append((p, p, "out"))
    specs.append(("ln_final", "ln_final", "out"))
    if callable(which):
        specs = [s for s in specs if which(s[0])]
    elif which != "all":
        wanted = list(which)
        byname = {s[0]: s for s in specs}
        missing = [w for w in wanted if w not in byname]
        assert not missing, missing
        specs = [byname[w] for w in wanted]
    return specs


class TapRecorder:
    def __init__(self, model, specs):
        self.live = {}
        self.handles = []
        mods = dict(model.named_modules())
        for name, path, kind in specs:
            m = mods[path]
            if kind == "pre":
                h = m.register_forward_pre_hook(self._pre_hook(name))
            else:
                h = m.register_forward_hook(self._hook(name, kind))
            self.handles.append(h)

    def _pre_hook(self, name):
        def hook(mod, args):
            # clone: act3 is an in-place ReLU that would overwrite the residual sum
            self.live[name] = args[0].clone()
        return hook

    def _hook(self, name, kind):
        def hook(mod, args, out):
            if kind == "attn":
                out = out[0]
            elif kind == "cls":
                out = out[:, 0]
            self.live[name] = out.clone()
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


def channel_objective(t, c):
    """Sum over the batch of the mean over all positions/tokens of channel c."""
    if t.dim() == 4:  # N C H W
        return t[:, c].mean(dim=(1, 2)).sum()
    if t.dim() == 3:  # N T D
        return t[:, :, c].mean(dim=1).sum()
    if t.dim() == 2:  # N D
        return t[:, c].sum()
    raise ValueError(t.shape)


def run_reference(model, pixels, tokens, specs, objectives):
    """Forward both towers with taps, logits and input gradients. Returns a dict of tensors."""
    names = {s[0] for s in specs}
    extra = [s for s in tap_specs(model) if s[0] in {o["tap"] for o in objectives} and s[0] not in names]
    rec = TapRecorder(model, list(specs) + extra)
    px = pixels.clone().requires_grad_(True)
    image_features = model.encode_image(px)
    with torch.no_grad():
        text_features = model.encode_text(tokens)
    out = {
        "pixels": pixels.contiguous(),
        "tokens": tokens.to(torch.int64).contiguous(),
        "image_features": image_features.detach(),
        "text_features": text_features.detach(),
    }
    with torch.no_grad():
        ni = F.normalize(image_features.detach(), dim=-1)
        nt = F.normalize(text_features, dim=-1)
        out["logits_per_image"] = model.logit_scale.exp() * ni @ nt.T
    N, M = pixels.shape[0], tokens.shape[0]
    for name, _, _ in specs:
        t = rec.live[name]
        batch = M if not name.startswith("visual.") else N
        assert t.shape[0] == batch, (name, t.shape)  # batch first
        out[f"tap.{name}"] = t.detach().contiguous()
    for k, obj in enumerate(objectives):
        t = rec.live[obj["tap"]]
        val = channel_objective(t, obj["channel"])
        (g,) = torch.autograd.grad(val, px, retain_graph=True)
        out[f"input_grad_{k}"] = g.detach().contiguous()
        obj["value"] = float(val.detach())
    rec.remove()
    return {k: v.contiguous() for k, v in out.items()}


def manual_attention(block, x, causal):
    """nn.MultiheadAttention on batch-first x, spelled out (checks the meaning of the `.attn` taps)."""
    a = block.attn
    h = a.num_heads
    N, T, D = x.shape
    qkv = x @ a.in_proj_weight.T + a.in_proj_bias
    q, k, v = (t.reshape(N, T, h, D // h).transpose(1, 2) for t in qkv.chunk(3, dim=-1))
    s = q @ k.transpose(-1, -2) / math.sqrt(D // h)
    if causal:
        s = s + torch.full((T, T), float("-inf")).triu(1)
    o = (s.softmax(-1) @ v).transpose(1, 2).reshape(N, T, D)
    return a.out_proj(o)


@torch.no_grad()
def self_check(model, ref):
    """Recompute relations between taps from their definitions, so a wrong hook cannot go unnoticed."""
    tol = dict(rtol=1e-4, atol=1e-4)
    close = torch.testing.assert_close
    taps = {k[4:]: v for k, v in ref.items() if k.startswith("tap.")}
    n = 0
    if "visual.attnpool" in taps:
        close(taps["visual.attnpool"], ref["image_features"], **tol); n += 1
    if "visual.ln_post" in taps:
        close(taps["visual.ln_post"] @ model.visual.proj, ref["image_features"], **tol); n += 1
    if "ln_final" in taps:
        x = taps["ln_final"]
        pooled = x[torch.arange(x.shape[0]), ref["tokens"].argmax(-1)]
        close(pooled @ model.text_projection, ref["text_features"], **tol); n += 1
    if "token_embedding" in taps:
        close(taps["token_embedding"], model.token_embedding.weight[ref["tokens"]], rtol=0, atol=0); n += 1
    for name, t in taps.items():
        if name.endswith(".add") and name[:-4] in taps:
            close(F.relu(t), taps[name[:-4]], rtol=0, atol=0); n += 1
    for prefix, blocks, first in (("visual.transformer.resblocks", getattr(model.visual, "transformer", None),
                                   "visual.ln_pre"),
                                  ("transformer.resblocks", model.transformer, "token_embedding")):
        if blocks is None:
            continue
        for i, blk in enumerate(blocks.resblocks):
            p = f"{prefix}.{i}"
            prev = taps.get(f"{prefix}.{i - 1}") if i > 0 else taps.get(first)
            if prev is None:
                continue
            if i == 0 and first == "token_embedding":
                prev = prev + model.positional_embedding
            causal = not prefix.startswith("visual")
            attn = manual_attention(blk, blk.ln_1(prev), causal)
            if f"{p}.attn" in taps:
                close(taps[f"{p}.attn"], attn, **tol); n += 1
            mid = prev + attn
            gelu = blk.mlp.gelu(blk.mlp.c_fc(blk.ln_2(mid)))
            if f"{p}.mlp.gelu" in taps:
                close(taps[f"{p}.mlp.gelu"], gelu, **tol); n += 1
            if p in taps:
                close(taps[p], mid + blk.mlp.c_proj(gelu), **tol); n += 1
    return n


def tensor_stats(t):
    t = t.float()
    return dict(
        shape=list(t.shape),
        min=float(t.min()),
        max=float(t.max()),
        mean=float(t.mean()),
        std=float(t.std()) if t.numel() > 1 else 0.0,
        zero_frac=float((t == 0).float().mean()),
    )


def check_not_degenerate(ref, label):
    bad = []
    lines = []
    for k, t in ref.items():
        if not t.is_floating_point() or k == "pixels":
            continue
        s = tensor_stats(t)
        lines.append(
            f"  {k:45s} {str(s['shape']):18s} min {s['min']:+9.4f} max {s['max']:+9.4f} "
            f"std {s['std']:8.4f} zero {s['zero_frac']:.2f}"
        )
        if not torch.isfinite(t).all():
            bad.append(f"{k}: non-finite")
        scale = max(abs(s["min"]), abs(s["max"]))
        # input gradients of a mean over positions are small in absolute terms; judge them relatively
        if s["std"] < (1e-3 * scale if k.startswith("input_grad") else 1e-4) or scale == 0:
            bad.append(f"{k}: std {s['std']}")
        if max(abs(s["min"]), abs(s["max"])) > 1e4:
            bad.append(f"{k}: range {s['min']}..{s['max']}")
        if s["zero_frac"] > 0.9:
            bad.append(f"{k}: {s['zero_frac']:.2f} zeros")
    print(f"[{label}] tensor stats:")
    print("\n".join(lines))
    if bad:
        raise RuntimeError(f"[{label}] degenerate tensors: {bad}")


# --------------------------------------------------------------------------------------------------------------
# inputs
# --------------------------------------------------------------------------------------------------------------

def random_pixels(n, res, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, 3, res, res), generator=g)


def random_tokens(m, vocab, context, seed, eot_positions):
    """Random ids in [1, vocab-2) with SOT-like id vocab-2 at position 0, EOT id vocab-1 at the given positions
    and 0 padding after it (argmax pooling picks the EOT)."""
    g = torch.Generator().manual_seed(seed)
    toks = torch.zeros((m, context), dtype=torch.int64)
    for i in range(m):
        e = eot_positions[i]
        toks[i, 0] = vocab - 2
        toks[i, 1:e] = torch.randint(1, vocab - 2, (e - 1,), generator=g)
        toks[i, e] = vocab - 1
    return toks


# --------------------------------------------------------------------------------------------------------------
# file writers
# --------------------------------------------------------------------------------------------------------------

def save_st(tensors, path, metadata=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.detach().contiguous().clone() for k, v in tensors.items()}, str(path),
              metadata=metadata or {"format": "pt"})
    os.chmod(path, 0o644)


def write_json(obj, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, ensure_ascii=False)
        f.write("\n")


def versions():
    import PIL
    return {"torch": torch.__version__, "open_clip": open_clip.__version__, "pillow": PIL.__version__,
            "numpy": np.__version__}


def cfg_json(cfg):
    c = copy.deepcopy(cfg)
    c["quick_gelu"] = True
    v = c["vision"]
    if isinstance(v["layers"], (tuple, list)):
        v["layers"] = list(v["layers"])
        v["heads"] = v["width"] * 32 // v["head_width"]
    else:
        v["heads"] = v["width"] // v["head_width"]
    return c


def make_model_fixture(name, n_texts_or_tokens, objectives, specs_which="all", texts=None,
                       fp16_round=False, n_images=2):
    cfg = CONFIGS[name]
    seed = SEEDS[name]
    torch.manual_seed(seed)
    model = randomize_(build_clip(cfg), seed)
    if fp16_round:
        round_through_fp16_(model)
    model.eval()
    res = cfg["vision"]["image_size"]
    pixels = random_pixels(n_images, res, seed + 1)
    if texts is not None:
        tokens = open_clip.tokenize(texts, context_length=cfg["text"]["context_length"])
        assert int(tokens.max()) < cfg["text"]["vocab_size"]
    else:
        ctx = cfg["text"]["context_length"]
        eots = [5, 17, ctx - 1, 1, 40, 9][:n_texts_or_tokens]
        tokens = random_tokens(n_texts_or_tokens, cfg["text"]["vocab_size"], ctx, seed + 2, eots)
    specs = tap_specs(model, specs_which)
    objectives = [dict(o) for o in objectives]
    ref = run_reference(model, pixels, tokens, specs, objectives)
    check_not_degenerate(ref, name)
    print(f"[{name}] {self_check(model, ref)} tap relations re-derived and checked")
    meta = {
        "model": name,
        "config": cfg_json(cfg),
        "seed": seed,
        "logit_scale": float(model.logit_scale.detach()),
        "texts": texts,
        "tokens": "open_clip.tokenize(texts)" if texts is not None else
                  f"random ids in [1,{cfg['text']['vocab_size'] - 2}), id {cfg['text']['vocab_size'] - 2} at "
                  f"position 0, EOT id {cfg['text']['vocab_size'] - 1}, 0 padding after it",
        "taps": [s[0] for s in specs],
        "tap_modules": {s[0]: {"open_clip_module": s[1], "kind": s[2]} for s in specs},
        "objectives": [{"name": f"input_grad_{k}", **o} for k, o in enumerate(objectives)],
        "fp16_rounded": fp16_round,
        "versions": versions(),
    }
    return model, ref, meta


# ---------------------------------------------------------------- OpenAI-style TorchScript archive

def make_openai_jit(model, cfg, path, pixels, tokens):
    """A TorchScript archive shaped like OpenAI's release: traced CLIP module tree (data.pkl is a nested module
    object graph), conv/linear/attention/projection weights fp16 (convert_weights), norms/embeddings fp32, extra
    int64 scalar buffers input_resolution, context_length, vocab_size."""
    m = build_clip(cfg, cast_dtype=torch.float16)  # LayerNormFp32 like OpenAI's fp16-safe LayerNorm
    m.load_state_dict(model.state_dict())
    # open_clip keeps these two as python ints; OpenAI's archive has them as tensors
    del m.context_length
    del m.vocab_size
    m.register_buffer("input_resolution", torch.tensor(cfg["vision"]["image_size"], dtype=torch.int64))
    m.register_buffer("context_length", torch.tensor(cfg["text"]["context_length"], dtype=torch.int64))
    m.register_buffer("vocab_size", torch.tensor(cfg["text"]["vocab_size"], dtype=torch.int64))
    # OpenAI's causal mask is a plain tensor attribute (traced into a constant), not a buffer/state-dict entry
    mask = m.attn_mask
    del m.attn_mask
    m.attn_mask = mask
    convert_weights_to_lp(m, torch.float16)
    m.eval()
    img16 = pixels.half()
    with torch.no_grad():
        traced = torch.jit.trace_module(
            m,
            {"forward": (img16, tokens), "encode_image": (img16,), "encode_text": (tokens,)},
            check_trace=False,
            _store_inputs=False,  # no traced_inputs/ entries (OpenAI's 2021 archives have none)
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    traced.save(str(path))
    return m


def verify_openai_jit(path, model, ref, cfg):
    loaded = torch.jit.load(str(path), map_location="cpu")
    sd = loaded.state_dict()
    ref_sd = model.state_dict()
    extra = {"input_resolution", "context_length", "vocab_size"}
    keys = set(sd.keys())
    assert keys - extra == set(ref_sd.keys()), (sorted(keys ^ (set(ref_sd) | extra)))
    assert extra <= keys
    half = set(fp16_keys(model))
    for k, v in ref_sd.items():
        w = sd[k]
        want_dtype = torch.float16 if k in half else v.dtype
        assert w.dtype == want_dtype, (k, w.dtype, want_dtype)
        assert torch.equal(w.to(v.dtype), v), k
    assert int(sd["input_resolution"]) == cfg["vision"]["image_size"]
    assert int(sd["context_length"]) == cfg["text"]["context_length"]
    assert int(sd["vocab_size"]) == cfg["text"]["vocab_size"]
    # the archive's root object is a module object graph, not a dict
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        pkl = [n for n in names if n.endswith("/data.pkl")]
        assert len(pkl) == 1, names
        head = z.read(pkl[0])[:200]
        assert b"__torch__" in head and b"CLIP" in head, head
    # runs (fp16 on CPU) and agrees loosely with the fp32 reference
    with torch.no_grad():
        f16 = loaded.encode_image(ref["pixels"].half()).float()
        t16 = loaded.encode_text(ref["tokens"]).float()
    for a, b, what in ((f16, ref["image_features"], "image"), (t16, ref["text_features"], "text")):
        rel = float((a - b).norm() / b.norm())
        assert rel < 2e-2, (what, rel)
    # open_clip's own loader for OpenAI archives rebuilds the same model
    oc = open_clip.openai.load_openai_model(str(path), precision="fp32", device="cpu")
    with torch.no_grad():
        fi = oc.encode_image(ref["pixels"])
        ft = oc.encode_text(ref["tokens"])
    torch.testing.assert_close(fi, ref["image_features"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ft, ref["text_features"], rtol=1e-5, atol=1e-5)
    return sorted(keys), pkl[0]


# ---------------------------------------------------------------- HF transformers layout (ViT only)

def to_hf_state_dict(model: CLIP, cfg):
    sd = model.state_dict()
    hf = {}

    def block(src, dst):
        w = sd[f"{src}.attn.in_proj_weight"]
        b = sd[f"{src}.attn.in_proj_bias"]
        for name, wi, bi in zip(("q", "k", "v"), w.chunk(3, dim=0), b.chunk(3, dim=0)):
            hf[f"{dst}.self_attn.{name}_proj.weight"] = wi
            hf[f"{dst}.self_attn.{name}_proj.bias"] = bi
        hf[f"{dst}.self_attn.out_proj.weight"] = sd[f"{src}.attn.out_proj.weight"]
        hf[f"{dst}.self_attn.out_proj.bias"] = sd[f"{src}.attn.out_proj.bias"]
        for a, c in (("ln_1", "layer_norm1"), ("ln_2", "layer_norm2")):
            hf[f"{dst}.{c}.weight"] = sd[f"{src}.{a}.weight"]
            hf[f"{dst}.{c}.bias"] = sd[f"{src}.{a}.bias"]
        for a, c in (("c_fc", "fc1"), ("c_proj", "fc2")):
            hf[f"{dst}.mlp.{c}.weight"] = sd[f"{src}.mlp.{a}.weight"]
            hf[f"{dst}.mlp.{c}.bias"] = sd[f"{src}.mlp.{a}.bias"]

    n_pos_v = sd["visual.positional_embedding"].shape[0]
    hf["vision_model.embeddings.class_embedding"] = sd["visual.class_embedding"]
    hf["vision_model.embeddings.patch_embedding.weight"] = sd["visual.conv1.weight"]
    hf["vision_model.embeddings.position_embedding.weight"] = sd["visual.positional_embedding"]
    hf["vision_model.embeddings.position_ids"] = torch.arange(n_pos_v, dtype=torch.int64)[None]
    hf["vision_model.pre_layrnorm.weight"] = sd["visual.ln_pre.weight"]
    hf["vision_model.pre_layrnorm.bias"] = sd["visual.ln_pre.bias"]
    for i in range(cfg["vision"]["layers"]):
        block(f"visual.transformer.resblocks.{i}", f"vision_model.encoder.layers.{i}")
    hf["vision_model.post_layernorm.weight"] = sd["visual.ln_post.weight"]
    hf["vision_model.post_layernorm.bias"] = sd["visual.ln_post.bias"]
    hf["visual_projection.weight"] = sd["visual.proj"].T

    ctx = sd["positional_embedding"].shape[0]
    hf["text_model.embeddings.token_embedding.weight"] = sd["token_embedding.weight"]
    hf["text_model.embeddings.position_embedding.weight"] = sd["positional_embedding"]
    hf["text_model.embeddings.position_ids"] = torch.arange(ctx, dtype=torch.int64)[None]
    for i in range(cfg["text"]["layers"]):
        block(f"transformer.resblocks.{i}", f"text_model.encoder.layers.{i}")
    hf["text_model.final_layer_norm.weight"] = sd["ln_final.weight"]
    hf["text_model.final_layer_norm.bias"] = sd["ln_final.bias"]
    hf["text_projection.weight"] = sd["text_projection"].T
    hf["logit_scale"] = sd["logit_scale"]
    return {k: v.contiguous() for k, v in hf.items()}


def hf_config(cfg, logit_scale):
    v, t = cfg["vision"], cfg["text"]
    return {
        "architectures": ["CLIPModel"],
        "model_type": "clip",
        "projection_dim": cfg["embed_dim"],
        "logit_scale_init_value": logit_scale,
        "initializer_factor": 1.0,
        "torch_dtype": "float32",
        "text_config": {
            "model_type": "clip_text_model",
            "vocab_size": t["vocab_size"],
            "hidden_size": t["width"],
            "intermediate_size": 4 * t["width"],
            "num_hidden_layers": t["layers"],
            "num_attention_heads": t["width"] // 64,
            "max_position_embeddings": t["context_length"],
            "hidden_act": "quick_gelu",
            "layer_norm_eps": 1e-5,
            "projection_dim": cfg["embed_dim"],
            "bos_token_id": t["vocab_size"] - 2,
            "eos_token_id": 2,  # legacy value -> transformers pools at argmax(input_ids), like OpenAI
            "pad_token_id": 1,
        },
        "vision_config": {
            "model_type": "clip_vision_model",
            "hidden_size": v["width"],
            "intermediate_size": 4 * v["width"],
            "num_hidden_layers": v["layers"],
            "num_attention_heads": v["width"] // 64,
            "image_size": v["image_size"],
            "patch_size": v["patch_size"],
            "num_channels": 3,
            "hidden_act": "quick_gelu",
            "layer_norm_eps": 1e-5,
            "projection_dim": cfg["embed_dim"],
        },
    }


def verify_hf(hf_dir, ref):
    """Load the HF files into transformers' CLIPModel (if transformers is installed) and compare features."""
    try:
        import transformers
        from transformers import CLIPConfig, CLIPModel
    except ImportError:
        print("  transformers not installed: HF layout not cross-checked")
        return None
    from safetensors.torch import load_file
    conf = CLIPConfig.from_pretrained(str(hf_dir))
    model = CLIPModel(conf).eval()
    sd = load_file(str(hf_dir / "model.safetensors"))
    res = model.load_state_dict(sd, strict=False)
    assert not res.missing_keys, res.missing_keys
    assert all(k.endswith("position_ids") for k in res.unexpected_keys), res.unexpected_keys
    with torch.no_grad():
        fi = model.get_image_features(pixel_values=ref["pixels"])
        ft = model.get_text_features(input_ids=ref["tokens"])
    if not torch.is_tensor(fi):
        fi = fi.pooler_output
    if not torch.is_tensor(ft):
        ft = ft.pooler_output
    torch.testing.assert_close(fi, ref["image_features"], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ft, ref["text_features"], rtol=1e-5, atol=1e-5)
    print(f"  HF layout verified with transformers {transformers.__version__} CLIPModel")
    return transformers.__version__


# ---------------------------------------------------------------- fixtures/rn, fixtures/vit

OBJECTIVES = {
    "rn": [{"tap": "visual.layer4.0.add", "channel": 5}, {"tap": "visual.layer2.1.relu2", "channel": 3}],
    "vit": [{"tap": "visual.transformer.resblocks.1.mlp.gelu", "channel": 7},
            {"tap": "visual.transformer.resblocks.0", "channel": 2}],
    "RN50x4": [{"tap": "visual.layer4.5.add", "channel": 100}],
    "ViT-B-32": [{"tap": "visual.transformer.resblocks.9.mlp.gelu", "channel": 300}],
}


def make_main_fixtures():
    # rn
    # every vision tap; the text tower is the same code as vit's, so only a few text taps (keeps the file small)
    rn_text_taps = {"token_embedding", "transformer.resblocks.0.attn", "transformer.resblocks.1", "ln_final"}
    model, ref, meta = make_model_fixture("rn", None, OBJECTIVES["rn"], texts=RN_TEXTS,
                                          specs_which=lambda t: t.startswith("visual.") or t in rn_text_taps)
    save_st(model.state_dict(), FIXTURES / "rn" / "model.safetensors")
    save_st(ref, FIXTURES / "rn" / "reference.safetensors")
    write_json(meta, FIXTURES / "rn" / "reference.json")
    # vit
    model, ref, meta = make_model_fixture("vit", 3, OBJECTIVES["vit"],
                                          specs_which=lambda t: t != "transformer.resblocks.0.mlp.gelu")
    save_st(model.state_dict(), FIXTURES / "vit" / "model.safetensors")
    save_st(ref, FIXTURES / "vit" / "reference.safetensors")
    write_json(meta, FIXTURES / "vit" / "reference.json")


MICRO_TAPS = {
    "micro_rn": ["visual.relu3", "visual.layer2.1.add", "visual.layer4.0", "visual.attnpool", "ln_final"],
    "micro_vit": ["visual.ln_pre", "visual.transformer.resblocks.1.mlp.gelu", "visual.ln_post",
                  "transformer.resblocks.0", "ln_final"],
}
MICRO_OBJECTIVES = {
    "micro_rn": [{"tap": "visual.layer4.0.add", "channel": 1}],
    "micro_vit": [{"tap": "visual.transformer.resblocks.1.mlp.gelu", "channel": 3}],
}


def make_format_fixtures():
    for name in ("micro_rn", "micro_vit"):
        d = FIXTURES / "formats" / name
        cfg = CONFIGS[name]
        model, ref, meta = make_model_fixture(name, 2, MICRO_OBJECTIVES[name], specs_which=MICRO_TAPS[name],
                                              fp16_round=True)
        sd = model.state_dict()
        save_st(sd, d / "openclip.safetensors")
        torch.save(sd, str(d / "state_dict.pt"))
        save_st(ref, d / "reference.safetensors")
        make_openai_jit(model, cfg, d / "openai_jit.pt", ref["pixels"], ref["tokens"])
        jit_keys, pkl_name = verify_openai_jit(d / "openai_jit.pt", model, ref, cfg)
        # state_dict.pt round trip
        sd2 = torch.load(str(d / "state_dict.pt"), map_location="cpu", weights_only=True)
        assert list(sd2.keys()) == list(sd.keys()) and all(torch.equal(sd2[k], sd[k]) for k in sd)
        meta["fp16_keys"] = fp16_keys(model)
        meta["openai_jit"] = {"data_pkl": pkl_name, "state_dict_keys": jit_keys}
        if name == "micro_vit":
            hf = to_hf_state_dict(model, cfg)
            save_st(hf, d / "hf" / "model.safetensors")
            write_json(hf_config(cfg, float(model.logit_scale.detach())), d / "hf" / "config.json")
            meta["hf_verified_with_transformers"] = verify_hf(d / "hf", ref)
        write_json(meta, d / "reference.json")
        print(f"[{name}] formats written and cross-checked")


# ---------------------------------------------------------------- tokenizer/cases.json

def tokenizer_cases():
    captions = [
        "a photo of a dog", "a photo of a cat.", "A photo of a golden retriever playing in the snow.",
        "two people riding bicycles down a busy street", "an oil painting of a lighthouse at sunset",
        "a close-up photo of a red apple on a wooden table", "the Eiffel Tower at night",
        "a black and white photo of an old car", "a bowl of ramen with a soft-boiled egg",
        "a child flying a kite on the beach", "a diagram of the human heart", "a screenshot of a video game",
        "a sketch of a horse", "a tattoo of a rose", "a cartoon of a robot", "a blurry photo of a bird",
        "a origami crane", "the text 'hello world' written on a chalkboard", "a low resolution photo of the truck",
        "a photo of the hard to see sofa", "a bright photo of a mug", "a sculpture of a lion",
        "a photo of many cups", "a pixelated photo of a frog", "an embroidered owl", "a plushie tiger",
        "a rendering of a spaceship", "a doodle of a house", "itap of a camera", "art of the violin",
        "neurons in CLIP respond to concepts, not just pixels", "Spider-Man", "Donald Trump", "Lady Gaga",
        "the Stanford bunny", "New York City skyline", "Pokémon", "Hello Kitty", "Tokyo", "Paris, France",
    ]
    templates = ["a photo of a {}.", "a bad photo of the {}.", "a {} in a video game.", "itap of my {}.",
                 "a origami {}.", "the cartoon {}."]
    classes = ["tench", "goldfish", "great white shark", "tiger shark", "hammerhead", "electric ray",
               "stingray", "cock", "hen", "ostrich", "brambling", "goldfinch", "house finch", "junco",
               "indigo bunting", "American robin", "bulbul", "jay", "magpie", "chickadee"]
    templated = [t.format(c) for i, c in enumerate(classes) for t in templates[i % 3: i % 3 + 2]]
    punctuation = [
        "Hello, world!", "what?!?", "...", "--", "—em—dash—", "(parenthesised)", "[brackets] {braces}",
        "a/b\\c", "email@example.com", "#hashtag", "$100", "50% off", "C++ & C#", "1+1=2", "x_y_z",
        "https://example.com/path?query=1&b=2", "\"double quotes\"", "'single quotes'", "`backticks`",
        "~tilde~", "a;b:c", "!!!!!", "????", "a...b", "hello!!!world", "¿qué?", "¡hola!", "«guillemets»",
        "“curly quotes”", "‘curly single’", "it’s curly", "…ellipsis char", "•bullet", "©2021 ®™",
        "<b>html tags</b>", "a <|startoftext|> b", "ab*cd", "snake_case_name", "kebab-case-name",
        "CamelCaseWord", "a|b|c", "^caret", "%%%", "@@@", "=>", "->", "<=", ">=", "!=",
    ]
    contractions = [
        "it's", "IT'S", "It'S", "can't", "CAN'T", "we're", "they've", "I'm", "we'll", "she'd",
        "you're", "he'll've", "rock'n'roll", "o'clock", "'s alone", "'t", "the dog's bone", "dogs' bones",
        "don't you'd've", "ma'am", "y'all", "'quoted'", "it''s", "'ll 'd 'm 've 're 's 't",
        "I'M SURE YOU'LL", "that'S", "L'amour", "rock 'n' roll",
    ]
    uppercase = ["A PHOTO OF A DOG", "MiXeD CaSe TeXt", "NASA", "HTTP", "ALLCAPSWORDWITHOUTSPACES", "İstanbul",
                 "STRASSE", "ÉCOLE", "ΣΊΣΥΦΟΣ", "ПРИВЕТ"]
    digits = ["1234567890", "3.14159", "year 2021", "1st 2nd 3rd 4th", "10,000", "007", "0", "9",
              "٣ arabic-indic digit", "½ ¼ ¾", "x² y³", "①②③", "Ⅻ roman numeral", "१२३", "phone: +1 (555) 123-4567",
              "v1.2.3-beta", "1e-5", "-42", "100%", "24/7", "12:30pm", "3x3", "RN50x4", "ViT-B/32"]
    html_cases = ["&amp;", "&quot;hi&quot;", "&#39;", "&amp;amp;", "&amp;amp;amp;", "&lt;b&gt;bold&lt;/b&gt;",
                  "&nbsp;", "a&nbsp;b", "&eacute;t&eacute;", "&#x27;hex&#x27;", "&copy; 2021", "AT&T",
                  "&notanentity;", "&ampersand", "Tom &amp; Jerry", "&#128512;", "&#65;&#66;&#67;", "&amp",
                  "&lt;|endoftext|&gt;", "fish &amp;amp; chips", "&gt;&gt;&gt;", "&hellip;", "&mdash;"]
    whitespace = ["  leading spaces", "trailing spaces   ", "a\tb", "a\nb", "a\r\nb", "multiple     spaces",
                  "\u00a0nbsp\u00a0", "ideographic\u3000space", "zero\u200bwidth", "\t\n mixed \t\n", "a\x0bb\x0cc",
                  "line\u2028separator", "para\u2029graph", "a \u2003 em space", " ", "\n", "\t"]
    accented = ["café", "naïve", "über", "niño", "Ångström", "façade", "crème brûlée", "cafe\u0301 (NFD)",
                "São Paulo", "Zürich", "Kraków", "Dvořák", "Øresund", "Þórr", "œuvre", "Straße", "ﬁne ligature",
                "Ｆｕｌｌｗｉｄｔｈ", "ｶﾀｶﾅ halfwidth"]
    non_latin = ["一只猫的照片", "猫の写真", "고양이 사진", "фотография кошки", "φωτογραφία μιας γάτας", "صورة قطة",
                 "תמונה של חתול", "बिल्ली की तस्वीर", "รูปแมว", "ფოტო", "Ճ", "ᚠᚢᚦ runes", "ꙮ", "𝔣𝔯𝔞𝔨𝔱𝔲𝔯",
                 "𝐛𝐨𝐥𝐝", "中文 English 混合", "日本語とEnglish", "Привет, мир!", "Γειά σου Κόσμε", "مرحبا بالعالم"]
    emoji = ["🐶", "I ❤️ NY", "👍🏽", "👨‍👩‍👧‍👦 family", "🇺🇸 flag", "☺", "🐱🐶🐭", "a 🍕 pizza", "🔥🔥🔥", "✨sparkles✨",
             "😀😃😄😁", "🤖 robot", "🏳️‍🌈", "⚽", "emoji at end 🎉"]
    special = ["<|startoftext|>", "<|endoftext|>", "a <|endoftext|> b", "<start_of_text>", "<end_of_text>",
               "a <end_of_text> b <start_of_text> c", "<START_OF_TEXT>", "<|endoftext|><|endoftext|>", "<|>",
               "<end_of_text><end_of_text>"]
    ftfy_cases = ["cafÃ©", "â€œquotedâ€\x9d", "Ã©Ã¨Ãª", "\x1b[31mred\x1b[0m", "a\x00b", "soft\u00adhyphen",
                  "â€™", "l'Ã©tÃ©", "ðŸ˜€", "\ufeffBOM"]
    empty = ["", "   ", "\n\n"]
    # boundaries of the 77-token context: 'a ' -> one token each
    boundary = ["a " * 74, "a " * 75, "a " * 76, "a " * 100, "dog " * 75, "hello, " * 30,
                "a photo of a " + "very " * 80 + "big dog", "🐶" * 30, "猫" * 80, "supercalifragilisticexpialidocious " * 10]
    rng = random.Random(20240613)
    words = ("the quick brown fox jumps over lazy dog photo of a cat neuron feature visualization spider man "
             "Ünïcödé café 東京 москва ελλάδα 🐱 42 3.14 it's don't &amp; HELLO World").split()
    long_texts = [" ".join(rng.choice(words) for _ in range(220)) for _ in range(2)]
    long_texts = [t[:1200] for t in long_texts]
    pool = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") * 3
            + list(" " * 30) + list(".,;:!?'\"-()[]{}&#@$%*/\\_+=<>|~^`") + ["'s", "'t", "'re", "'ll"]
            + list("éüñçøåßæœ") + list("日本語中文한국어") + list("абвгдежзийклмн") + list("αβγδεζηθ")
            + ["🐶", "❤️", "👍🏽", "🇫🇷"] + ["&amp;", "&quot;", "&#39;", "&lt;", "\t", "\n"])
    random_strings = ["".join(rng.choice(pool) for _ in range(rng.randint(1, 60))) for _ in range(120)]
    word_salad = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 12))) for _ in range(40)]

    texts = (captions + templated + punctuation + contractions + uppercase + digits + html_cases + whitespace
             + accented + non_latin + emoji + special + ftfy_cases + empty + boundary + long_texts + random_strings
             + word_salad)
    # deduplicate, keep order
    seen = set()
    texts = [t for t in texts if not (t in seen or seen.add(t))]
    import html
    from open_clip.tokenizer import _clean_lower, whitespace_clean
    toks = open_clip.tokenize(texts, context_length=77)
    cases = []
    for t, row in zip(texts, toks.tolist()):
        assert len(row) == 77
        # would the cleaned text differ if ftfy.fix_text were left out of open_clip's basic_clean?
        without_ftfy = whitespace_clean(html.unescape(html.unescape(t)).strip()).lower()
        cases.append({"text": t, "tokens": row, "needs_ftfy": _clean_lower(t) != without_ftfy})
    return cases


def make_tokenizer_fixtures():
    cases = tokenizer_cases()
    path = FIXTURES / "tokenizer" / "cases.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:  # one case per line
        f.write("[\n" + ",\n".join(json.dumps(c, ensure_ascii=False) for c in cases) + "\n]\n")
    assert json.load(open(path, encoding="utf-8")) == cases
    n_trunc = sum(1 for c in cases if c["tokens"][-1] == 49407)
    print(f"[tokenizer] {len(cases)} cases ({n_trunc} truncated at 77, "
          f"{sum(c['needs_ftfy'] for c in cases)} where ftfy.fix_text changes the cleaned text)")


# ---------------------------------------------------------------- preprocess

def make_images(d):
    from PIL import Image
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    files = []

    def rgb_pattern(w, h):
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        r = 255 * x / max(w - 1, 1)
        g = 255 * y / max(h - 1, 1)
        b = 127.5 + 127.5 * np.sin(x / 3.0) * np.cos(y / 5.0)
        img = np.stack([r, g, b], -1) + rng.normal(0, 12, (h, w, 3))
        img[h // 4: h // 2, w // 5: w // 2] = [250, 10, 30]  # sharp-edged rectangle
        img[np.abs(x - y * w / h) < 1.0] = [0, 0, 0]  # diagonal line
        img[:, -3:] = [255, 255, 255]
        return np.clip(np.round(img), 0, 255).astype(np.uint8)

    Image.fromarray(rgb_pattern(100, 80), "RGB").save(d / "rgb.png")
    files.append("rgb.png")

    y, x = np.mgrid[0:70, 0:50].astype(np.float32)
    gray = 255 * (x + y) / (49 + 69) + rng.normal(0, 10, (70, 50))
    gray[20:35, 10:30] = 255 - gray[20:35, 10:30]
    Image.fromarray(np.clip(np.round(gray), 0, 255).astype(np.uint8), "L").save(d / "gray.png")
    files.append("gray.png")

    rgba = np.zeros((90, 90, 4), np.uint8)
    rgba[..., :3] = rgb_pattern(90, 90)
    yy, xx = np.mgrid[0:90, 0:90]
    alpha = np.clip(255 * xx / 89, 0, 255)
    alpha[(yy // 15) % 2 == 0] = 255
    alpha[40:60, 40:60] = 0  # fully transparent square: RGB there still holds colour
    rgba[..., 3] = alpha.astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(d / "rgba.png")
    files.append("rgba.png")

    pal = Image.fromarray(rgb_pattern(72, 56), "RGB").convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    pal.save(d / "palette.png")
    files.append("palette.png")

    Image.fromarray(rgb_pattern(120, 64), "RGB").save(d / "photo.jpg", quality=92, subsampling=0)
    files.append("photo.jpg")

    Image.fromarray(rgb_pattern(20, 30), "RGB").save(d / "tiny.png")
    files.append("tiny.png")

    # larger than 224 on both sides: downscaling (PIL's bicubic widens its kernel, i.e. antialiases) at both sizes
    big = rgb_pattern(300, 240).astype(np.float32)
    big = np.round(0.8 * big + 0.2 * np.roll(big, 7, axis=1))  # a bit smoother so the PNG stays small
    Image.fromarray(big.astype(np.uint8), "RGB").save(d / "large.png")
    files.append("large.png")

    return files


def make_preprocess_fixtures():
    from PIL import Image
    from open_clip.transform import PreprocessCfg, image_transform_v2
    d = FIXTURES / "preprocess"
    files = make_images(d)
    out = {}
    info = {}
    for f in files:
        im = Image.open(d / f)
        info[f] = {"mode": im.mode, "size_wh": list(im.size),
                   "resample": {"P": "nearest (PIL forces NEAREST for mode P, before convert('RGB'))",
                                "RGBA": "bicubic on premultiplied alpha (PIL resizes RGBA as RGBa), then alpha "
                                        "dropped by convert('RGB')",
                                "L": "bicubic on the single channel, then replicated by convert('RGB')"}
                   .get(im.mode, "bicubic")}
        w, h = im.size
        for s in (64, 224):
            # torchvision Resize(int): short side -> s, long side -> int(s * long / short); ties: w <= h
            nw, nh = (s, int(s * h / w)) if w <= h else (int(s * w / h), s)
            # torchvision CenterCrop: int(round((size - s) / 2.0)), Python's round-half-to-even
            info[f][f"@{s}"] = {"resized_wh": [nw, nh], "crop_left_top": [int(round((nw - s) / 2.0)),
                                                                         int(round((nh - s) / 2.0))]}
        out[f"{f}@decoded"] = torch.from_numpy(np.asarray(im.convert("RGB")).copy())
        for s in (64, 224):
            tf = image_transform_v2(PreprocessCfg(size=s), is_train=False)
            x = tf(Image.open(d / f))
            assert x.shape == (3, s, s) and x.dtype == torch.float32
            # same as OpenAI's clip._transform(s)
            from torchvision import transforms as T
            oa = T.Compose([T.Resize(s, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(s),
                            lambda im: im.convert("RGB"), T.ToTensor(),
                            T.Normalize((0.48145466, 0.4578275, 0.40821073),
                                        (0.26862954, 0.26130258, 0.27577711))])
            assert torch.equal(oa(Image.open(d / f)), x), f
            out[f"{f}@{s}"] = x
    tf = image_transform_v2(PreprocessCfg(size=224), is_train=False)
    save_st(out, d / "expected.safetensors")
    write_json({"images": info, "transform": repr(tf), "versions": versions()}, d / "expected.json")
    print(f"[preprocess] {len(files)} images: " + ", ".join(f"{f} ({v['mode']} {v['size_wh']})" for f, v in info.items()))


# ---------------------------------------------------------------- --full

def make_full():
    OUT_FULL.mkdir(parents=True, exist_ok=True)
    full_taps = {
        "RN50x4": ["visual.relu3", "visual.layer1.3", "visual.layer3.9.add", "visual.layer4.5.relu2",
                   "visual.layer4.5.add", "visual.layer4.5", "visual.attnpool", "transformer.resblocks.11",
                   "ln_final"],
        "ViT-B-32": ["visual.conv1", "visual.ln_pre", "visual.transformer.resblocks.9.mlp.gelu",
                     "visual.transformer.resblocks.11", "visual.ln_post", "transformer.resblocks.11.mlp.gelu",
                     "ln_final"],
    }
    for name in ("RN50x4", "ViT-B-32"):
        model, ref, meta = make_model_fixture(name, None, OBJECTIVES[name],
                                              specs_which=full_taps[name], texts=FULL_TEXTS)
        n = sum(p.numel() for p in model.parameters())
        meta["n_params"] = n
        ckpt = OUT_FULL / name / "open_clip_model.safetensors"
        save_st(model.state_dict(), ckpt)
        save_st(ref, OUT_FULL / name / "reference.safetensors")
        # the checkpoint loads through open_clip's own factory, like the HF-hub `openai` copies
        del model
        oc = open_clip.create_model(f"{name}-quickgelu", pretrained=str(ckpt)).eval()
        with torch.no_grad():
            torch.testing.assert_close(oc.encode_image(ref["pixels"]), ref["image_features"], rtol=1e-4, atol=1e-4)
            torch.testing.assert_close(oc.encode_text(ref["tokens"]), ref["text_features"], rtol=1e-4, atol=1e-4)
        del oc
        write_json(meta, OUT_FULL / name / "reference.json")
        print(f"[{name}] {n / 1e6:.1f}M params written to {OUT_FULL / name}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="also/only write full-size RN50x4 and ViT-B/32 to "
                                                         "reference/out/ (not committed)")
    ap.add_argument("--only", choices=["models", "formats", "tokenizer", "preprocess"], action="append",
                    help="write only these parts of fixtures/ (default: all); with --full, none unless given")
    args = ap.parse_args()
    parts = args.only or ([] if args.full else ["models", "formats", "tokenizer", "preprocess"])
    if "models" in parts:
        make_main_fixtures()
    if "formats" in parts:
        make_format_fixtures()
    if "tokenizer" in parts:
        make_tokenizer_fixtures()
    if "preprocess" in parts:
        make_preprocess_fixtures()
    if args.full:
        make_full()


if __name__ == "__main__":
    main()
