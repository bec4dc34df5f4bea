"""Helpers of the reliability, batch and pipeline tests: many small, distinct images, fast.

Generating scenes is slowish, so a few base scenes are rendered once and written many times as
PNGs that differ only in a text chunk: every file has its own bytes (its own sha256, so neither
our cache nor the emulator's per-image counters merge them) while the pixels - and therefore
the emulator's answers - are those of its base scene.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from gemini_vision.demo import scenes


def base_images(count: int, *, size: tuple[int, int] = (160, 120), seed: int = 0) -> list[Any]:
    """``count`` rendered scenes (PIL images)."""
    return [scenes.generate_scene(seed + i, size).image for i in range(count)]


def png_bytes(image: Image.Image, tag: str) -> bytes:
    """``image`` as PNG bytes carrying ``tag`` in a text chunk (distinct bytes per tag)."""
    info = PngInfo()
    info.add_text("variant", tag)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, compress_level=1)
    return buffer.getvalue()


def write_variants(
    directory: Path,
    count: int,
    *,
    bases: int = 20,
    size: tuple[int, int] = (160, 120),
    seed: int = 0,
    salt: str = "",
) -> list[tuple[Path, int]]:
    """``count`` PNG files with distinct bytes: ``[(path, index of its base scene), ...]``.

    Files of another ``salt`` have other bytes (the response cache lives in the test database
    for the whole session: a test that counts requests needs images nobody asked about)."""
    directory.mkdir(parents=True, exist_ok=True)
    images = base_images(bases, size=size, seed=seed)
    files = []
    for i in range(count):
        base = i % bases
        path = directory / f"img_{i:05d}.png"
        path.write_bytes(png_bytes(images[base], f"{salt}{seed}-{i}"))
        files.append((path, base))
    return files


def sha256_of(path: Path) -> str:
    """The digest the emulator counts for this file (our PNGs are sent as they are)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_dataset(
    files: Sequence[tuple[Path, int]], *, name: str | None = None, persistent: bool = False
) -> Any:
    """A FiftyOne dataset with one sample per file; ``base`` records the base scene."""
    import fiftyone as fo

    dataset = fo.Dataset(name, persistent=persistent, overwrite=bool(name))
    samples = [fo.Sample(filepath=str(path), base=base) for path, base in files]
    dataset.add_samples(samples, progress=False)
    return dataset
