"""Mask images from an answer are checked before they are decoded: a header claiming more
pixels than its box could need, or a deflate stream inflating past what its header claims (a
decompression bomb), is refused in moments and a few megabytes, never decoded."""

from __future__ import annotations

import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pytest

from gemini_vision.geometry import masks

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BOX_2D = [100, 100, 500, 500]  # 400 x 400 px on a 1000 x 1000 image
FRAME = (1000, 1000)


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def grey_png(width: int, height: int, idat: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def zeros_deflated(size: int) -> bytes:
    """``size`` zero bytes, deflated a megabyte at a time (the test never holds them)."""
    packer, block, parts = zlib.compressobj(9), bytes(1 << 20), []
    for _ in range(size >> 20):
        parts.append(packer.compress(block))
    return b"".join(parts) + packer.flush()


def test_a_header_claiming_gigapixels_is_refused_before_decoding() -> None:
    png = grey_png(100_000, 80_000, zlib.compress(bytes(1000)))
    started = time.perf_counter()
    with pytest.raises(ValueError, match="implausibly large"):
        masks.instance_mask(png, BOX_2D, FRAME)
    assert time.perf_counter() - started < 1.0


def test_a_mask_far_larger_than_its_box_is_refused() -> None:
    big = grey_png(2000, 2000, zlib.compress(bytes(2000 * 2001)))
    with pytest.raises(ValueError, match="2000x2000 is implausibly large for its 400x400 px"):
        masks.instance_mask(big, BOX_2D, FRAME)


@pytest.mark.parametrize("side", [256, 1024])
def test_gemini_sized_masks_on_tiny_boxes_are_taken(side: int) -> None:
    """Gemini sends 256 x 256 masks whatever the box; a 4 px box still takes one."""
    rows = np.zeros((side, side + 1), np.uint8)
    rows[:, 1:] = 255
    png = grey_png(side, side, zlib.compress(rows.tobytes()))
    _, mask = masks.instance_mask(png, [500, 500, 504, 504], FRAME)
    assert mask.shape == (4, 4) and mask.all()


def test_a_deflate_bomb_behind_a_modest_header_is_refused_in_little_memory() -> None:
    """The header says 256 x 256 (65,792 bytes of rows); the stream holds 2 GB of zeros. Run
    in a process of its own so its peak memory is the decoder's alone."""
    code = f"""
import resource, sys, time, zlib
sys.path.insert(0, {str(__file__.rsplit("/", 1)[0])!r})
from test_mask_bombs import grey_png, zeros_deflated, BOX_2D, FRAME
from gemini_vision.geometry import masks
png = grey_png(256, 256, zeros_deflated(2 << 30))
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
try:
    masks.instance_mask(png, BOX_2D, FRAME)
    print("decoded")
except ValueError as exc:
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(f"refused {{time.perf_counter() - started:.3f}} {{grown / 1024:.1f}} {{exc}}")
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    verdict, seconds, grown_mb, *reason = done.stdout.split()
    assert verdict == "refused", done.stdout
    assert "inflates to more than the 65,792 bytes its header claims" in " ".join(reason)
    assert float(seconds) < 1.0 and float(grown_mb) < 20, done.stdout
