"""Inference Linear layers with their weights pre-packed for oneDNN (CPU only).

    n = prepack_linears(model)     # every float nn.Linear -> PrepackedLinear, in place
    unprepack_linears(model)       # back to nn.Linear with the same weights

A beam-search step multiplies 4 rows (the beams) by every decoder weight. torch's default
CPU path for that (MKL sgemm on fp32 weights) reached 5-8 GB/s of weight reads on an AMD
EPYC (benchmarks/bench_latency.py), a quarter of the machine's read bandwidth; the same
products through oneDNN with the weight reordered once into its blocked layout read it about
twice as fast, and fp32 captions stayed identical (the sums change only in rounding order).
bf16 weights pack as bf16 (the input is cast to the weight's dtype, as autocast would).

Packing is for inference: the packed weight is an opaque tensor outside autograd, so a
module is packed only in `eval()` mode and `PrepackedLinear` refuses to run with gradients
on. Where torch has no oneDNN (or the op is missing from a torch release), nothing is
packed and the model runs as before. `state_dict()` and `copy.deepcopy` see the dense
weight, so a packed model saves, copies and compares like the plain one.
"""

from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import nn


def prepack_supported() -> bool:
    """Whether this torch build can pack Linear weights for oneDNN."""
    if not torch.backends.mkldnn.is_available():
        return False
    ops = torch.ops.mkldnn
    return hasattr(ops, "_reorder_linear_weight") and hasattr(ops, "_linear_pointwise")


def packable_dtypes() -> tuple:
    """Weight dtypes oneDNN packs on this CPU: fp32 always; bf16 only where oneDNN has its
    bf16 path (AVX-512 BW/VL/DQ or AVX-NE-CONVERT; an AVX2-only CPU keeps bf16 Linear
    layers on torch's default path instead of failing)."""
    bf16 = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    return (torch.float32, torch.bfloat16) if bf16 is not None and bf16() else (torch.float32,)


class PrepackedLinear(nn.Module):
    """y = x W^T + b through oneDNN, W held in oneDNN's reordered layout (inference only)."""

    def __init__(self, weight: torch.Tensor, bias: Optional[torch.Tensor]):
        super().__init__()
        self.out_features, self.in_features = weight.shape
        self.dtype = weight.dtype
        self.packed = torch.ops.mkldnn._reorder_linear_weight(weight.detach().contiguous())
        self.register_buffer("bias", None if bias is None else bias.detach().to(weight.dtype))

    @classmethod
    def from_linear(cls, linear: nn.Linear) -> "PrepackedLinear":
        return cls(linear.weight, linear.bias)

    @property
    def weight(self) -> torch.Tensor:
        """The dense (out, in) weight, unpacked on each access (for saving and copies)."""
        return self.packed.to_dense()

    def to_linear(self) -> nn.Linear:
        linear = nn.Linear(self.in_features, self.out_features, bias=self.bias is not None)
        linear = linear.to(self.dtype)
        with torch.no_grad():
            linear.weight.copy_(self.weight)
            if self.bias is not None:
                linear.bias.copy_(self.bias)
        return linear.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and x.requires_grad:
            raise RuntimeError("PrepackedLinear is for inference: unprepack_linears() to train")
        lead = x.shape[:-1]
        y = torch.ops.mkldnn._linear_pointwise(
            x.reshape(-1, self.in_features).to(self.dtype), self.packed, self.bias, "none", [], ""
        )
        return y.view(*lead, self.out_features)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        destination[prefix + "weight"] = self.weight
        if self.bias is not None:
            destination[prefix + "bias"] = self.bias

    def __deepcopy__(self, memo):
        return PrepackedLinear(self.weight, None if self.bias is None else copy.deepcopy(self.bias))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, {self.dtype}"


def prepack_linears(module: nn.Module) -> int:
    """Replace every CPU nn.Linear under `module` (in eval mode) whose weight dtype this CPU
    packs (`packable_dtypes`) by a PrepackedLinear, in place; returns how many were packed
    (0 where unsupported)."""
    if not prepack_supported() or module.training:
        return 0
    dtypes, count = packable_dtypes(), 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if (
                type(child) is nn.Linear  # not quantised or other Linear subclasses
                and child.weight.device.type == "cpu"
                and child.weight.dtype in dtypes
            ):
                setattr(parent, name, PrepackedLinear.from_linear(child))
                count += 1
    return count


def unprepack_linears(module: nn.Module) -> nn.Module:
    """Every PrepackedLinear under `module` back to an nn.Linear, in place; returns `module`."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, PrepackedLinear):
                setattr(parent, name, child.to_linear())
    return module
