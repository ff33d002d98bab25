"""Regenerates the extra decode/preprocess cases in this directory.

Run from the repository root with the reference venv and libjpeg-turbo's command-line tools
(cjpeg, jpegtran) on PATH:

    reference/.venv/bin/python crates/image/tests/data/make_data.py

Writes small images covering JPEG codings (subsampling, progressive, successive approximation,
restart markers, RGB, greyscale), PIL modes (P with tRNS, 1, I;16, LA, RGB with tRNS), GIF,
paletted BMP, WebP, TIFF, and `expected.safetensors` holding, for each file, PIL's decoded
pixels `<name>@decoded` (u8 [H,W,3], `np.asarray(Image.open(f).convert("RGB"))`) and
open_clip's eval transform `<name>@16` (f32 [3,16,16]). Deterministic.
"""
import os
import subprocess

import numpy as np
import open_clip
from PIL import Image, ImageFilter
from safetensors.numpy import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(1234)


def photo(w, h):
    """Smooth colours, mild noise and a few hard edges, like a small photo."""
    small = rng.integers(0, 256, (max(2, h // 8), max(2, w // 8), 3), dtype=np.uint8)
    im = Image.fromarray(small).resize((w, h), Image.BICUBIC).filter(ImageFilter.GaussianBlur(1))
    a = np.asarray(im).astype(float) + rng.normal(0, 6, (h, w, 3))
    a[h // 3 : h // 3 + 2, :, :] = 245
    a[:, w // 2 : w // 2 + 1, :] = 12
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def path(name):
    return os.path.join(HERE, name)


def cjpeg(src, name, *args):
    with open(path(name), "wb") as out:
        subprocess.run(["cjpeg", *args, src], stdout=out, check=True)


def main():
    src = photo(45, 34)
    ppm = "/tmp/clipneurons_image_src.ppm"
    src.save(ppm)
    names = []
    for name, args in [
        ("j_420.jpg", ["-sample", "2x2"]),
        ("j_422.jpg", ["-sample", "2x1"]),
        ("j_440.jpg", ["-sample", "1x2"]),
        ("j_444.jpg", ["-sample", "1x1"]),
        ("j_31.jpg", ["-sample", "3x1"]),
        ("j_grey.jpg", ["-grayscale"]),
        ("j_rgb.jpg", ["-rgb"]),
        ("j_opt_q95.jpg", ["-optimize", "-quality", "95"]),
        ("j_rst.jpg", ["-restart", "1B"]),
        ("j_prog.jpg", ["-progressive"]),
        ("j_prog_rst.jpg", ["-progressive", "-restart", "2B", "-sample", "1x1"]),
        ("j_prog_grey.jpg", ["-progressive", "-grayscale"]),
    ]:
        cjpeg(ppm, name, *args)
        names.append(name)
    # Successive approximation with every refinement (no block smoothing in libjpeg).
    scans = "/tmp/clipneurons_image_scans.txt"
    with open(scans, "w") as f:
        f.write("0 1 2: 0 0 0 1;\n0: 1 5 0 2;\n1: 1 63 0 0;\n2: 1 63 0 0;\n0: 6 63 0 1;\n"
                "0: 1 5 2 1;\n0: 1 5 1 0;\n0: 6 63 1 0;\n0 1 2: 0 0 1 0;\n")
    with open(path("j_prog_sa.jpg"), "wb") as out:
        subprocess.run(["jpegtran", "-scans", scans, path("j_420.jpg")], stdout=out, check=True)
    names.append("j_prog_sa.jpg")
    tiny = "/tmp/clipneurons_image_tiny.ppm"
    src.resize((3, 2)).save(tiny)
    cjpeg(tiny, "j_tiny_3x2.jpg", "-sample", "2x2")
    names.append("j_tiny_3x2.jpg")

    tall = photo(30, 100)
    tall.save(path("tall.png"))  # Pillow 13 resizes this vertical pass first
    p = src.quantize(40)
    p.save(path("p_trns.png"), transparency=3)
    src.convert("1").save(path("bw1.png"))
    g16 = (np.asarray(src.convert("L")).astype(np.uint16) * 3).astype(np.uint16)
    Image.fromarray(g16).save(path("i16.png"))
    la = np.dstack([np.asarray(src.convert("L")), rng.integers(0, 256, (34, 45), dtype=np.uint8)])
    Image.fromarray(la, "LA").save(path("la.png"))
    src.save(path("rgb_trns.png"), transparency=(245, 245, 245))
    p.save(path("gif_trns.gif"), transparency=5)
    p.save(path("p8.bmp"))
    src.save(path("lossy.webp"), quality=70)
    src.save(path("rgb.tiff"))
    names += ["tall.png", "p_trns.png", "bw1.png", "i16.png", "la.png", "rgb_trns.png",
              "gif_trns.gif", "p8.bmp", "lossy.webp", "rgb.tiff"]

    t = open_clip.image_transform(16, is_train=False, mean=open_clip.OPENAI_DATASET_MEAN,
                                  std=open_clip.OPENAI_DATASET_STD)
    out = {}
    for name in names:
        im = Image.open(path(name))
        out[f"{name}@decoded"] = np.ascontiguousarray(np.asarray(im.convert("RGB")))
        out[f"{name}@16"] = t(Image.open(path(name))).numpy()
        print(f"{name:16s} {im.mode:5s} {im.size}")
    save_file(out, path("expected.safetensors"))


if __name__ == "__main__":
    main()
