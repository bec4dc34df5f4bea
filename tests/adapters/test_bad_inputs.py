"""Bad and unusual image files in one run: each gets a clear per-sample reason or a correct
conversion, and the good samples are labelled regardless. (A URL that answers 404 is covered
at the engine level in test_pipeline.py: FiftyOne keeps only local paths in ``filepath``.)"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image
from support.datasets import DatasetFactory, base_images, png_bytes

pytestmark = pytest.mark.fiftyone

fo = pytest.importorskip("fiftyone")

from gemini_vision import RunSettings, run_task  # noqa: E402
from gemini_vision.emulator import Emulator  # noqa: E402
from gemini_vision.tasks.spec import TaskSpec  # noqa: E402

KEY = "test-key-inputs-0001"

#: kind -> words the per-sample reason must contain (files that cannot be used)
BROKEN = {
    "missing": "file not found",
    "empty": "empty file",
    "truncated_jpeg": "truncated",
    "not_an_image": "not a recognised image",
    "svg": "not a recognised image",
    "bomb": "decompression bomb",
}
#: kinds that must be converted and labelled, with objects found in them
CONVERTED = ("huge", "bmp", "tiff", "gif", "cmyk_jpeg", "rgb16_png", "rgba_png")
#: kinds that must be converted and labelled (colourless: the emulator may see fewer objects)
GREY = ("grey_png", "grey16_png")


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png() -> bytes:
    """A 100000 x 100000 PNG header over almost no data (what a decompression bomb claims)."""
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def write_inputs(directory: Path) -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    good, other, big = base_images(3, size=(320, 240), seed=900)
    files: dict[str, Path] = {}

    def put(kind: str, name: str, data: bytes | None = None) -> Path:
        path = files[kind] = directory / name
        if data is not None:
            path.write_bytes(data)
        return path

    for i in range(4):
        put(f"good_{i}", f"good_{i}.png", png_bytes(good if i % 2 else other, f"inputs-{i}"))
    files["missing"] = directory / "no_such_file.png"
    put("empty", "empty.png", b"")
    good.save(directory / "full.jpg", quality=90)
    put("truncated_jpeg", "truncated.jpg", (directory / "full.jpg").read_bytes()[:3000])
    put("not_an_image", "notes.jpg", b"these are meeting notes, not pixels\n" * 20)
    put("svg", "drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>')
    put("bomb", "bomb.png", bomb_png())
    big.resize((6000, 4500), Image.Resampling.NEAREST).save(put("huge", "huge.jpg"), quality=85)
    good.save(put("bmp", "image.bmp"))
    good.save(put("tiff", "image.tiff"))
    good.save(put("gif", "image.gif"))
    good.convert("CMYK").save(put("cmyk_jpeg", "cmyk.jpg"), quality=92)
    rgb16 = np.asarray(good)[:, :, ::-1].astype(np.uint16) * 257  # BGR for OpenCV
    cv2.imwrite(str(put("rgb16_png", "rgb16.png")), rgb16)
    rgba = np.asarray(good.convert("RGBA")).copy()
    rgba[:20, :20, 3] = 0  # some real transparency in a corner
    Image.fromarray(rgba, "RGBA").save(put("rgba_png", "rgba.png"))
    good.convert("L").save(put("grey_png", "grey.png"))
    grey16 = np.asarray(good.convert("L")).astype(np.uint16) * 257
    Image.fromarray(grey16).save(put("grey16_png", "grey16.png"))
    return files


@pytest.fixture
def dataset(tmp_path: Path, datasets: DatasetFactory) -> Any:
    files = write_inputs(tmp_path / "inputs")
    return datasets.samples(fo.Sample(filepath=str(p), kind=k) for k, p in files.items())


def test_each_bad_input_fails_alone_with_a_clear_reason_and_odd_ones_are_converted(
    dataset: Any,
) -> None:
    with Emulator() as emu:
        settings = RunSettings(api_key=KEY, base_url=emu.base_url, use_cache=False)
        summary = run_task(dataset, TaskSpec(kind="detect"), "pred", settings=settings)
        sent = emu.stats.count("generateContent")
    rows = dataset.values(["kind", "pred", "pred_error", "filepath"])
    by_kind = {kind: (pred, error, path) for kind, pred, error, path in zip(*rows, strict=True)}

    for kind, words in BROKEN.items():
        pred, error, path = by_kind[kind]
        assert pred is None, kind
        assert error and words in error.lower(), (kind, error)
        assert Path(path).name in error, (kind, error)  # names the file
    for kind in (*CONVERTED, *GREY, *(k for k in by_kind if k.startswith("good"))):
        pred, error, _ = by_kind[kind]
        assert error is None and pred is not None, (kind, error)
        if kind not in GREY:
            assert pred.detections, kind
    # the broken files never left the machine (conversions that end in the same pixels, e.g.
    # BMP, TIFF and GIF of one picture, are one request: same content, same answer)
    assert 0 < sent <= len(by_kind) - len(BROKEN)
    assert summary.report["failed"] == len(BROKEN)
    assert summary.report["errors"] == {"ImageError": len(BROKEN)}
    huge = dataset.match({"kind": "huge"}).first()
    box = huge.pred.detections[0].bounding_box
    assert 0 <= box[0] <= 1 and 0 < box[2] <= 1  # relative to the 6000 x 4500 frame
