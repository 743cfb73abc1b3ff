"""A CLIP ViT-style image encoder in plain torch (default: the ViT-B/32 shape), random weights.

Seed 002 splits CLIP's image encoder between device and server. No pretrained CLIP image
weights can be loaded on this platform without torchvision, so this encoder has CLIP ViT-B/32's
exact architecture (patch 32, width 768, 12 layers, 12 heads, pre-LayerNorm, QuickGELU MLP of
4x width, class token, projection to 512) with weights drawn from a seed: right for latency and
payload studies, meaningless for accuracy (use MiniLM for that).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from gainnet.errors import GainnetError
from gainnet.split.encoder import Activation, SplitEncoder, tensors_digest


@dataclass(frozen=True)
class ViTShape:
    """Architecture of the image encoder. Defaults: CLIP ViT-B/32."""

    image_size: int = 224
    patch_size: int = 32
    width: int = 768
    layers: int = 12
    heads: int = 12
    output_dim: int = 512

    def __post_init__(self) -> None:
        if self.image_size % self.patch_size or self.width % self.heads:
            raise GainnetError(f"inconsistent ViT shape {self}")
        if min(asdict(self).values()) <= 0:
            raise GainnetError(f"ViT shape values must be positive, got {self}")

    @property
    def tokens(self) -> int:
        return (self.image_size // self.patch_size) ** 2 + 1


class ViTEncoder(SplitEncoder):
    """Image encoder ``[n, 3, H, W]`` float32 pixels -> ``[n, output_dim]`` unit embeddings."""

    name = "vit"
    raw_names = ("images",)

    def __init__(self, shape: ViTShape | None = None, seed: int = 0) -> None:
        self.shape = shape or ViTShape()
        self.seed = int(seed)
        self.num_layers, self.width = self.shape.layers, self.shape.width
        self.fixed_tokens = self.shape.tokens
        self.w = _random_weights(self.shape, self.seed)
        self._digest = tensors_digest(self.w)

    def fingerprint(self) -> str:
        return self._digest

    def random_images(self, n: int, seed: int = 0) -> np.ndarray:
        """``n`` random images ``[n, 3, H, W]`` float32 (normalised pixel statistics)."""
        rng = np.random.default_rng(seed)
        size = self.shape.image_size
        return rng.standard_normal((n, 3, size, size)).astype(np.float32)

    def raw_input(self, inputs) -> dict[str, np.ndarray]:
        images = np.asarray(inputs, dtype=np.float32)
        size = self.shape.image_size
        if images.ndim != 4 or images.shape[1:] != (3, size, size):
            raise GainnetError(f"images must be [n, 3, {size}, {size}], got {images.shape}")
        if not np.isfinite(images).all():
            raise GainnetError("images contain NaN or inf")
        return {"images": images}

    def stage_input(self, raw: dict[str, np.ndarray]) -> Activation:
        images = torch.tensor(self.raw_input(raw["images"])["images"])
        w, p = self.w, self.shape.patch_size
        x = F.conv2d(images, w["conv.weight"], stride=p).flatten(2).transpose(1, 2)
        cls = w["class_embedding"].expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + w["positional_embedding"]
        return Activation(F.layer_norm(x, (self.width,), w["ln_pre.weight"], w["ln_pre.bias"]))

    def run_layers(self, act: Activation, start: int, stop: int) -> Activation:
        if not 0 <= start <= stop <= self.num_layers:
            raise GainnetError(f"layer range {start}..{stop} outside 0..{self.num_layers}")
        x = act.hidden
        for i in range(start, stop):
            x = self._block(x, f"blocks.{i}.")
        return Activation(x)

    def _block(self, x: torch.Tensor, p: str) -> torch.Tensor:
        w, (n, t, width), heads = self.w, x.shape, self.shape.heads
        h = F.layer_norm(x, (width,), w[p + "ln_1.weight"], w[p + "ln_1.bias"])
        q, k, v = F.linear(h, w[p + "qkv.weight"], w[p + "qkv.bias"]).chunk(3, dim=-1)
        q, k, v = (z.view(n, t, heads, width // heads).transpose(1, 2) for z in (q, k, v))
        attn = (q @ k.transpose(-1, -2) / math.sqrt(width // heads)).softmax(-1) @ v
        x = x + F.linear(
            attn.transpose(1, 2).reshape(n, t, width), w[p + "out.weight"], w[p + "out.bias"]
        )
        h = F.layer_norm(x, (width,), w[p + "ln_2.weight"], w[p + "ln_2.bias"])
        h = F.linear(h, w[p + "fc.weight"], w[p + "fc.bias"])
        h = h * torch.sigmoid(1.702 * h)  # QuickGELU, as in CLIP
        return x + F.linear(h, w[p + "proj.weight"], w[p + "proj.bias"])

    def head(self, act: Activation) -> torch.Tensor:
        w = self.w
        cls = F.layer_norm(act.hidden[:, 0], (self.width,), w["ln_post.weight"], w["ln_post.bias"])
        return F.normalize(cls @ w["projection"], dim=-1)


def _random_weights(shape: ViTShape, seed: int) -> dict[str, torch.Tensor]:
    """CLIP-like initialisation (normal, std width^-0.5 scaled) from a private generator."""
    gen = torch.Generator().manual_seed(seed)
    width, std = shape.width, shape.width**-0.5

    def normal(*size: int, scale: float = std) -> torch.Tensor:
        return torch.randn(*size, generator=gen) * scale

    ones, zeros = torch.ones(width), torch.zeros(width)
    w: dict[str, torch.Tensor] = {
        "conv.weight": normal(width, 3, shape.patch_size, shape.patch_size, scale=0.02),
        "class_embedding": normal(width),
        "positional_embedding": normal(shape.tokens, width, scale=0.01),
        "ln_pre.weight": ones.clone(),
        "ln_pre.bias": zeros.clone(),
        "ln_post.weight": ones.clone(),
        "ln_post.bias": zeros.clone(),
        "projection": normal(width, shape.output_dim),
    }
    block_std = std * (2 * shape.layers) ** -0.5
    for i in range(shape.layers):
        p = f"blocks.{i}."
        w |= {
            p + "ln_1.weight": ones.clone(),
            p + "ln_1.bias": zeros.clone(),
            p + "qkv.weight": normal(3 * width, width),
            p + "qkv.bias": torch.zeros(3 * width),
            p + "out.weight": normal(width, width, scale=block_std),
            p + "out.bias": zeros.clone(),
            p + "ln_2.weight": ones.clone(),
            p + "ln_2.bias": zeros.clone(),
            p + "fc.weight": normal(4 * width, width, scale=(2 * width) ** -0.5),
            p + "fc.bias": torch.zeros(4 * width),
            p + "proj.weight": normal(width, 4 * width, scale=block_std),
            p + "proj.bias": zeros.clone(),
        }
    return w
