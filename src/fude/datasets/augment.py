"""Augmentation on whole batches, on the batch's device: random affine, elastic distortion and
random erasing.

Random affine (rotation, scale, shift, shear) follows the usual handwriting recipe, and elastic
distortion (a random displacement field smoothed by a Gaussian) is from Simard et al., "Best
Practices for CNNs Applied to Visual Document Analysis", ICDAR 2003; the two are one resampling;
random erasing is Zhong et al., arXiv:1708.04896 (cutout: DeVries & Taylor, arXiv:1708.04552).
Both draw from an explicit ``torch.Generator`` so a seeded run repeats exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class AugmentConfig:
    """Strength of each random transform; zero turns it off."""

    rotate: float = 10.0  # degrees, uniform in [-rotate, rotate]
    scale: float = 0.10  # relative, zoom uniform in [1 - scale, 1 + scale]
    shift: float = 2.0  # pixels, uniform in [-shift, shift] along each axis
    shear: float = 8.0  # degrees, uniform in [-shear, shear]
    erase: float = 0.25  # probability that an image has one random rectangle blanked
    erase_side: float = 0.4  # largest side of that rectangle, as a share of the image side
    elastic: float = 0.0  # Simard's alpha: pixels a unit of the smoothed uniform(-1, 1) field moves
    elastic_sigma: float = 4.0  # pixels, standard deviation of the Gaussian that smooths the field

    @classmethod
    def off(cls) -> "AugmentConfig":
        return cls(rotate=0.0, scale=0.0, shift=0.0, shear=0.0, erase=0.0, erase_side=0.0, elastic=0.0)


def _uniform(n: int, bound: float, g: torch.Generator, device) -> torch.Tensor:
    return (torch.rand(n, generator=g, device=device) * 2 - 1) * bound


def elastic_field(b: int, h: int, w: int, cfg: AugmentConfig, g: torch.Generator, device) -> torch.Tensor:
    """Simard's elastic distortion: uniform(-1, 1) displacements per pixel, smoothed by a Gaussian
    of ``elastic_sigma`` pixels (zero padding), times ``elastic`` pixels. Returns ``(B, H, W, 2)``
    float32 (x, y) displacements in grid_sample's [-1, 1] units."""
    noise = torch.rand(b, 2, h, w, generator=g, device=device) * 2 - 1
    radius = max(1, math.ceil(3 * cfg.elastic_sigma))
    t = torch.arange(-radius, radius + 1, device=device, dtype=torch.float32)
    k = torch.exp(-t ** 2 / (2 * cfg.elastic_sigma ** 2))
    k = k / k.sum()
    field = F.conv2d(noise, k.view(1, 1, 1, -1).expand(2, 1, 1, -1), padding=(0, radius), groups=2)  # along x
    field = F.conv2d(field, k.view(1, 1, -1, 1).expand(2, 1, -1, 1), padding=(radius, 0), groups=2)  # along y
    scale = torch.tensor([2 * cfg.elastic / w, 2 * cfg.elastic / h], device=device)  # pixels -> [-1, 1]
    return field.permute(0, 2, 3, 1) * scale


def random_affine(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Random rotation, scale, shear and shift of each image, and with ``cfg.elastic`` an elastic
    distortion, in one resampling. ``x``: ``(B, C, H, W)`` float; returns the same shape, with the
    outside filled by 0 (the datasets' black background)."""
    b, _, h, w = x.shape
    dev = x.device
    angle = _uniform(b, math.radians(cfg.rotate), g, dev)
    shear = _uniform(b, math.radians(cfg.shear), g, dev)
    zoom = 1 + _uniform(b, cfg.scale, g, dev)
    tx, ty = _uniform(b, 2 * cfg.shift / w, g, dev), _uniform(b, 2 * cfg.shift / h, g, dev)  # pixels -> [-1, 1]
    cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(shear)
    # theta maps output coordinates to input coordinates: rotation @ shear, divided by zoom
    theta = torch.stack([
        torch.stack([cos, cos * tan - sin, tx], 1),
        torch.stack([sin, sin * tan + cos, ty], 1),
    ], 1) / torch.stack([zoom, zoom, torch.ones_like(zoom)], 1)[:, None, :]  # (B, 2, 3)
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    if cfg.elastic:
        grid = grid + elastic_field(b, h, w, cfg, g, dev).to(x.dtype)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def random_erase(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Blank one random rectangle (sides up to ``erase_side`` of the image) in a random share
    ``erase`` of the images of ``x`` ``(B, C, H, W)``."""
    b, _, h, w = x.shape
    dev = x.device
    hit = torch.rand(b, generator=g, device=dev) < cfg.erase
    eh = (torch.rand(b, generator=g, device=dev) * cfg.erase_side * h).round()
    ew = (torch.rand(b, generator=g, device=dev) * cfg.erase_side * w).round()
    top = torch.rand(b, generator=g, device=dev) * (h - eh + 1)
    left = torch.rand(b, generator=g, device=dev) * (w - ew + 1)
    ys = torch.arange(h, device=dev)[None, :]
    xs = torch.arange(w, device=dev)[None, :]
    rows = (ys >= top.floor()[:, None]) & (ys < (top.floor() + eh)[:, None])  # (B, H)
    cols = (xs >= left.floor()[:, None]) & (xs < (left.floor() + ew)[:, None])  # (B, W)
    mask = rows[:, :, None] & cols[:, None, :] & hit[:, None, None]  # (B, H, W)
    return x.masked_fill(mask[:, None], 0.0)


def augment(x: torch.Tensor, cfg: AugmentConfig, g: torch.Generator) -> torch.Tensor:
    """Apply :func:`random_affine` then :func:`random_erase` to ``(B, C, H, W)`` float images."""
    if cfg.rotate or cfg.scale or cfg.shift or cfg.shear or cfg.elastic:
        x = random_affine(x, cfg, g)
    if cfg.erase and cfg.erase_side:
        x = random_erase(x, cfg, g)
    return x
