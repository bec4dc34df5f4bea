"""Textures for generated scenes: low-chroma backgrounds and fast Gaussian pixel noise.

Arrays are float32, shaped ``(height, width)`` or ``(height, width, 3)``, in 8-bit units
(0-255) before the renderer's final clip and rounding; every draw comes from the ``numpy``
generator passed in, so a scene's seed fixes its texture.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

__all__ = ["background", "tiled_noise"]


def tiled_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Unit Gaussian noise of ``shape``, tiled from a 192 x 192 patch (drawing millions of
    normals is the slowest part of rendering; a repeat every 192 px is invisible)."""
    tile = rng.standard_normal((192, 192, *shape[2:]), dtype=np.float32)
    reps = (-(-shape[0] // 192), -(-shape[1] // 192)) + (1,) * (len(shape) - 2)
    return np.tile(tile, reps)[: shape[0], : shape[1]]


def background(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A low-chroma textured background (float32 RGB): gradient + stripes or blotches + noise."""
    yy, xx = np.ogrid[0:height, 0:width]
    yy, xx = yy.astype(np.float32), xx.astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    t = (xx * math.cos(angle) + yy * math.sin(angle)) / max(width, height)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    lo, hi = sorted(rng.uniform(55, 225, size=2))
    base = lo + (hi - lo) * t
    kind = rng.integers(0, 3)
    if kind == 0:  # stripes
        period = rng.uniform(0.03, 0.12) * min(width, height)
        sangle = rng.uniform(0, math.pi)
        phase = (xx * math.cos(sangle) + yy * math.sin(sangle)) / period
        base += rng.uniform(8, 25) * ((phase % 1.0) < 0.5)
    elif kind == 1:  # soft blotches: low-frequency noise upsampled
        coarse = Image.fromarray(rng.normal(0, 1, size=(6, 6)).astype(np.float32), "F")
        base += rng.uniform(8, 20) * np.asarray(
            coarse.resize((width, height), Image.Resampling.BILINEAR)
        )
    tint = rng.uniform(-10, 10, size=3).astype(np.float32)
    base += 4 * tiled_noise(rng, (height, width))  # grain
    np.clip(base, 40, 225, out=base)
    return base[..., None] + tint[None, None, :]
