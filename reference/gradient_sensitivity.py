"""How much does PyTorch's own input gradient of a deep ResNet move when the forward pass changes only by f32
rounding? Runs full-size RN50x4 (from `make_fixtures.py --full`) twice: as built, and with every batch norm folded
into its convolution (mathematically identical). The difference between the two gradients is the floor any
independent implementation can reach; the Rust parity test's tolerance for full-size ResNets is set from it."""
import json
import pathlib

import open_clip
import torch
from safetensors.torch import load_file

torch.set_num_threads(2)
out = pathlib.Path(__file__).parent / "out" / "RN50x4"
meta = json.loads((out / "reference.json").read_text())
ref = load_file(str(out / "reference.safetensors"))
obj = meta["objectives"][0]


def gradient(model):
    x = ref["pixels"].clone().requires_grad_(True)
    acts = {}
    name = obj["tap"].removesuffix(".add") + ".act3"
    h = model.get_submodule(name).register_forward_pre_hook(lambda m, a: acts.__setitem__("t", a[0]))
    model.encode_image(x)
    h.remove()
    acts["t"][:, obj["channel"]].mean(dim=(1, 2)).sum().backward()
    return x.grad


def fold_bn(model):
    for mod in model.modules():
        for conv_name, bn_name in [("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")]:
            conv, bn = getattr(mod, conv_name, None), getattr(mod, bn_name, None)
            if isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d):
                s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
                conv.weight.data *= s[:, None, None, None]
                conv.bias = torch.nn.Parameter(bn.bias - bn.running_mean * s)
                setattr(mod, bn_name, torch.nn.Identity())
    return model


def load():
    return open_clip.create_model("RN50x4-quickgelu", pretrained=str(out / "open_clip_model.safetensors")).eval()


g1 = gradient(load())
g2 = gradient(fold_bn(load()))
rel_l2 = ((g1 - g2).norm() / g1.norm()).item()
rel_max = ((g1 - g2).abs().max() / g1.abs().max()).item()
print(f"PyTorch vs PyTorch with folded batch norm: relative L2 {rel_l2:.2e}, relative max {rel_max:.2e}")
