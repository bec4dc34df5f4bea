"""Test datasets: :class:`DatasetFactory` (the ``datasets`` fixture) builds every FiftyOne dataset
the tests use, and many small, distinct images for the reliability, batch and pipeline tests.

Generating scenes is slowish, so a few base scenes are rendered once and written many times as
PNGs that differ only in a text chunk: every file has its own bytes (its own sha256, so neither
our cache nor the emulator's per-image counters merge them) while the pixels - and therefore
the emulator's answers - are those of its base scene.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterable, Sequence
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


class DatasetFactory:
    """Builds the tests' FiftyOne datasets and deletes them all in :meth:`close`.

    Persistent datasets (for worker processes and the App's server, which open them by name)
    get a unique name. FiftyOne is imported on first use, so pure tests never load it."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._made: list[Any] = []

    def _new(self, persistent: bool, prefix: str) -> Any:
        import fiftyone as fo

        name = f"{prefix}-{uuid.uuid4().hex[:8]}" if persistent else None
        dataset = fo.Dataset(name, persistent=persistent)
        self._made.append(dataset)
        return dataset

    def scenes(
        self,
        count: int = 8,
        *,
        seed: int = 0,
        formats: Sequence[Any] | None = None,
        persistent: bool = False,
    ) -> Any:
        """``count`` generated scenes with their ground truth (detections with masks, a
        segmentation and a classification), in the rotating formats of
        :func:`gemini_vision.adapters.synthetic.make_scene_dataset`."""
        from gemini_vision.adapters.synthetic import DEFAULT_FORMATS, make_scene_dataset

        folder = self.directory / f"scenes-{uuid.uuid4().hex[:8]}"
        name = f"scenes-{uuid.uuid4().hex[:8]}" if persistent else None
        dataset = make_scene_dataset(
            folder,
            count=count,
            seed=seed,
            name=name,
            persistent=persistent,
            formats=formats or DEFAULT_FORMATS,
        )
        self._made.append(dataset)
        return dataset

    def files(self, files: Sequence[tuple[Path, int]], *, persistent: bool = False) -> Any:
        """One sample per file of :func:`write_variants`; ``base`` records its base scene."""
        import fiftyone as fo

        dataset = self._new(persistent, "files")
        samples = [fo.Sample(filepath=str(path), base=base) for path, base in files]
        dataset.add_samples(samples, progress=False)
        return dataset

    def samples(self, samples: Iterable[Any]) -> Any:
        """A dataset of the given ``fo.Sample`` objects."""
        dataset = self._new(False, "samples")
        dataset.add_samples(list(samples), progress=False)
        return dataset

    def clone(self, dataset: Any) -> Any:
        """A copy of ``dataset`` a test may change freely."""
        copy = dataset.clone()
        self._made.append(copy)
        return copy

    def close(self) -> None:
        """Deletes every dataset made here that still exists."""
        for dataset in self._made:
            if not dataset.deleted:
                dataset.delete()
        self._made.clear()


def failures(dataset: Any, label_field: str) -> int:
    """How many samples hold a failure reason for ``label_field`` (its ``_error`` field exists
    only once a sample failed)."""
    field = f"{label_field}_error"
    return dataset.exists(field).count() if dataset.has_field(field) else 0
