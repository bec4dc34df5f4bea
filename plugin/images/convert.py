"""Pixels: decode, orient, normalise to 8-bit, downscale to the sent size, and encode.

:func:`to_display` turns an opened image into the frame the App shows, at the size we send;
:func:`encode` writes it. Sizes are ``(width, height)`` in pixels.

Choices:

- ``JPEG_DRAFT_SLACK = 0.9``: ``max_side`` is a ceiling. When libjpeg's free 1/2, 1/4 or 1/8
  scaling divides the stored size and lands within 90-100 % of the target, that size is sent
  as is (4000x3000 -> 1000x750, same tokens, no resample). The sent size is always recorded.
- Alpha: Gemini's handling of transparency is undocumented, and the colour under transparent
  pixels is often garbage, so used alpha is flattened on white (how a cut-out looks on a page).
  A fully opaque alpha channel is dropped.
- 16-bit pixels are scaled by 255/65535, float images in [0, 1] by 255, other ranges stretched.
- PNG is written with zlib level 1 (``PNG_COMPRESS_LEVEL``): see its comment.
"""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np
from PIL import Image

from gemini_vision.errors import ImageError
from gemini_vision.images.exif import EXIF_TO_DISPLAY, read_orientation

__all__ = [
    "ALPHA_MODES",
    "JPEG_DRAFT_SLACK",
    "JPEG_FORMATS",
    "PLAIN_MODES",
    "PNG_COMPRESS_LEVEL",
    "compatible_icc",
    "encode",
    "load_pixels",
    "to_display",
]

JPEG_DRAFT_SLACK = 0.9
# zlib level 1 vs Pillow's default 6, measured on 1024 px images: photos +11 % bytes at 2.4x
# the speed, screenshots about the same size at 1.6x. Bytes barely matter under the 20 MB limit.
PNG_COMPRESS_LEVEL = 1

#: Pillow formats decoded by libjpeg; MPO: the multi-picture JPEGs many phones and cameras write
JPEG_FORMATS = ("JPEG", "MPO")
#: pixel modes sent as they are
PLAIN_MODES = frozenset({"RGB", "L"})
#: pixel modes with an alpha channel, flattened unless it is fully opaque
ALPHA_MODES = frozenset({"RGBA", "LA"})

Box = tuple[float, float, float, float]


def load_pixels(im: Image.Image, desc: str) -> None:
    """Decodes ``im``'s pixels; failures become an :class:`ImageError` naming ``desc``."""
    try:
        im.load()
    except Image.DecompressionBombError as exc:
        raise ImageError(f"refused as a possible decompression bomb: {exc}", source=desc) from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageError(f"cannot decode the image data ({exc})", source=desc) from exc


def to_display(
    im: Image.Image,
    fmt: str,
    display: tuple[int, int],
    target: tuple[int, int],
    desc: str,
) -> tuple[Image.Image, list[str]]:
    """Decodes, orients, normalises to 8-bit RGB/L and downscales to ``target``.

    ``display`` is the frame the App shows and ``target`` its whole-frame downscale (both
    ``(width, height)`` pixels); ``fmt`` is Pillow's format name. Returns the image in the
    display frame and what was changed, in words.
    """
    changes: list[str] = []
    if getattr(im, "n_frames", 1) > 1:
        im.seek(0)
    box: Box | None = None
    if fmt in JPEG_FORMATS and target != display:
        box = _draft(im, display, target)
    load_pixels(im, desc)
    # read again after loading: TIFF has applied (and removed) its orientation by now
    orientation = read_orientation(im)
    out: Image.Image = im
    if out.mode not in PLAIN_MODES:
        out, note = _to_8bit(out)
        changes.append(note)
    out, resized = _downscale(out, box, orientation, display, target)
    changes += resized
    if orientation != 1:
        out = out.transpose(EXIF_TO_DISPLAY[orientation])
    return out, changes


def _downscale(
    im: Image.Image,
    box: Box | None,
    orientation: int,
    display: tuple[int, int],
    target: tuple[int, int],
) -> tuple[Image.Image, list[str]]:
    """``im`` (stored frame, maybe drafted to ``box``) at ``target`` (display frame) size."""
    stored_target = (target[1], target[0]) if orientation >= 5 else target
    current = im.size
    # a draft whose scale does not divide the size has a fractional frame: always resample it
    whole = box is None or _is_whole_frame(box, current)
    if box is not None and whole and max(current) <= max(target):
        sent = (current[1], current[0]) if orientation >= 5 else current
        return im, [f"resized {display[0]}x{display[1]} -> {sent[0]}x{sent[1]} (JPEG DCT)"]
    if not whole or max(current) > max(target):
        im = im.resize(stored_target, Image.Resampling.LANCZOS, box=box, reducing_gap=2.0)
        return im, [f"resized {display[0]}x{display[1]} -> {target[0]}x{target[1]}"]
    return im, []


def _draft(im: Image.Image, display: tuple[int, int], target: tuple[int, int]) -> Box | None:
    """Lets libjpeg decode at 1/8, 1/4 or 1/2 scale (the largest that still fits).

    Returns the full frame in the drafted image's pixels (for an exact resize), or None.
    A scale that divides the stored size may land down to JPEG_DRAFT_SLACK x the target (and is
    then sent as it is). Otherwise the last drafted pixel covers a partial block, so the frame
    is fractional: the draft must then stay above the target, and it is resampled with the
    exact frame as the box.
    """
    width, height = im.size
    for scale in (8, 4, 2):
        exact = width % scale == 0 and height % scale == 0
        floor = max(target) * (JPEG_DRAFT_SLACK if exact else 1.0)
        if math.ceil(max(width, height) / scale) >= floor:
            result = im.draft(im.mode, (max(1, width // scale), max(1, height // scale)))
            return None if result is None else result[1]
    return None


def _is_whole_frame(box: Box, size: tuple[int, int]) -> bool:
    return box == (0, 0, size[0], size[1])


def _to_8bit(im: Image.Image) -> tuple[Image.Image, str]:
    """Normalises any Pillow mode to 8-bit ``RGB`` or ``L`` (alpha flattened on white)."""
    mode = im.mode
    if mode == "1":
        return im.convert("L"), "1-bit -> L"
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
        if not has_alpha:
            return im, "palette -> RGB"
        mode = "RGBA"
    if mode in ("RGBa", "La"):
        im = im.convert("RGBA" if mode == "RGBa" else "LA")
        mode = im.mode
    if mode in ALPHA_MODES:
        return _flatten_on_white(im)
    if mode.startswith("I") or mode == "F":
        return _scale_to_l(im)
    return im.convert("RGB"), f"{mode} -> RGB"


def _flatten_on_white(im: Image.Image) -> tuple[Image.Image, str]:
    plain = "RGB" if im.mode == "RGBA" else "L"
    alpha = np.asarray(im.getchannel("A"), dtype=np.uint16)
    if alpha.min() == 255:
        return im.convert(plain), f"{im.mode} -> {plain} (opaque alpha dropped)"
    color = np.asarray(im.convert(plain), dtype=np.uint16)
    if color.ndim == 3:
        alpha = alpha[..., None]
    flat = (color * alpha + 255 * (255 - alpha) + 127) // 255
    return Image.fromarray(flat.astype(np.uint8)), f"{im.mode} -> {plain} (flattened on white)"


def _scale_to_l(im: Image.Image) -> tuple[Image.Image, str]:
    """16-bit, 32-bit and float grayscale to ``L`` (see the module docstring for the rules)."""
    values = np.nan_to_num(np.asarray(im, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    low, high = float(values.min()), float(values.max())
    if im.mode == "F" and low >= 0.0 and high <= 1.0:
        factor, note = 255.0, "float [0, 1] -> L"
    elif im.mode.startswith("I;16") or (low >= 0.0 and 255.0 < high <= 65535.0):
        factor, note = 255.0 / 65535.0, f"{im.mode} (16-bit) -> L"
    elif low >= 0.0 and high <= 255.0:
        factor, note = 1.0, f"{im.mode} -> L"
    else:
        factor = 255.0 / (high - low) if high > low else 0.0
        values, note = values - low, f"{im.mode} -> L (min-max stretch)"
    return Image.fromarray(np.clip(np.rint(values * factor), 0, 255).astype(np.uint8)), note


def compatible_icc(icc: object, im: Image.Image) -> bytes | None:
    """Keeps a colour profile only if its colour space matches the output pixels."""
    if not isinstance(icc, bytes) or len(icc) < 20:
        return None
    space = icc[16:20]
    if (im.mode == "RGB" and space == b"RGB ") or (im.mode == "L" and space == b"GRAY"):
        return icc
    return None


def encode(im: Image.Image, fmt: str, quality: int, icc: bytes | None) -> bytes:
    """``im`` written as ``fmt`` (``"JPEG"``, ``"PNG"`` or ``"WEBP"``; ``quality`` for the lossy
    two), with the colour profile ``icc`` when given."""
    options: dict[str, Any] = {"icc_profile": icc} if icc else {}
    if fmt == "PNG":
        options["compress_level"] = PNG_COMPRESS_LEVEL
    else:
        options["quality"] = quality
    buf = io.BytesIO()
    im.save(buf, fmt, **options)
    return buf.getvalue()
