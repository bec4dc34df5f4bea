"""Masks: Gemini's PNG probability maps and polygons -> binary masks where FiftyOne draws them.

- Instance masks follow FiftyOne exactly: ``Detection.mask`` covers only the box, at the box's
  pixel extent (:func:`gemini_vision.geometry.boxes.mask_extent_px`), so every mask pixel is
  one displayed pixel.
- Threshold: a probability pixel is "on" when it is **strictly greater than 127**
  (:data:`gemini_vision.catalog.MASK_THRESHOLD`, the midpoint Google's "Image understanding"
  guide binarizes at): 128-255 are on, 0-127 are off. A ``> 0`` threshold grows masks by the
  bilinear halo.
- Semantic masks are composed from instance masks, one class index per pixel.
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol, cast

import cv2
import numpy as np
from PIL import Image

from gemini_vision.api.wire import decode_base64
from gemini_vision.catalog import MASK_THRESHOLD
from gemini_vision.geometry.boxes import (
    COORD_SCALE,
    FrameSize,
    RelBox,
    box_2d_to_relative,
    mask_extent_px,
)

_inflator: Callable[[], Any] = zlib.decompressobj
#: what reading a damaged PNG's chunks or inflating them may raise
_PNG_DATA_ERRORS: tuple[type[Exception], ...] = (struct.error, zlib.error)
try:  # zlib-ng inflates Gemini's PNG masks about 3x faster than the standard library
    from zlib_ng import zlib_ng

    # (its stub declares `error` as an instance; it is the exception class)
    _inflator = zlib_ng.decompressobj
    _PNG_DATA_ERRORS = (*_PNG_DATA_ERRORS, cast(type[Exception], zlib_ng.error))
except ImportError:  # pragma: no cover - a dependency, but masks still decode without it
    pass

__all__ = [
    "DEFAULT_MASK_THRESHOLD",
    "MASK_TO_BOX_FACTOR",
    "MAX_MASK_PIXELS",
    "MIN_MASK_SIDE",
    "Instance",
    "MaskedLabel",
    "binarize",
    "check_mask_size",
    "class_index_map",
    "compose_semantic_mask",
    "decode_mask_png",
    "instance_mask",
    "paste_instance",
    "polygon_to_instance_mask",
    "polygons_to_box_2d",
    "resize_probability",
]

#: the default threshold of :func:`binarize` (see :data:`gemini_vision.catalog.MASK_THRESHOLD`)
DEFAULT_MASK_THRESHOLD = MASK_THRESHOLD
#: masks are 256x256 in practice; refuse absurd headers before decoding them
MAX_MASK_PIXELS = 4096 * 4096
#: a mask may be this many times its box's side on the displayed image, or MIN_MASK_SIDE px
#: (Gemini sends 256 x 256 masks, even for boxes of a few pixels); beyond, it is refused
MASK_TO_BOX_FACTOR = 4
MIN_MASK_SIDE = 1024


# --------------------------------------------------------------------------------------------
# Masks


def decode_mask_png(data: bytes | str) -> np.ndarray:
    """A mask image (base64 text, with or without a ``data:image/...;base64,`` prefix, or raw
    bytes) -> ``uint8`` probability map of shape ``(h, w)``, at the PNG's own size.

    Any Pillow mode is accepted:

    - ``L``: taken as is.
    - ``1``: 0 or 255.
    - ``I;16`` and other 16-bit modes: scaled by 255/65535.
    - ``I`` and ``F``: values in [0, 1] are scaled by 255; others are clipped to [0, 255].
    - ``P``: palette colours, turned to grey.
    - colour modes: luminance.
    - modes with alpha (``LA``, ``RGBA``, ``PA``): luminance x alpha / 255, so transparent
      pixels are background. A white-on-transparent mask and a white-on-black mask decode alike.

    Raises:
        ValueError: the data is not base64, not an image, or implausibly large.
    """
    raw = _mask_bytes(data)
    if _is_plain_gray_png(raw):
        width, height = struct.unpack(">II", raw[16:24])
        if width * height > MAX_MASK_PIXELS:
            raise ValueError(f"mask image {width}x{height} is implausibly large")
        # Gemini's own layout (no row filters) inflates straight into pixels, about twice as
        # fast as a general decoder; anything else goes to OpenCV, then Pillow
        decoded = _unfiltered_pixels(raw, width, height)
        if decoded is None:
            decoded = cv2.imdecode(np.frombuffer(raw, np.uint8), cv2.IMREAD_UNCHANGED)
        if decoded is not None and decoded.ndim == 2 and decoded.dtype == np.uint8:
            return decoded
    try:
        with Image.open(io.BytesIO(raw)) as im:
            if im.size[0] * im.size[1] > MAX_MASK_PIXELS:
                raise ValueError(f"mask image {im.size[0]}x{im.size[1]} is implausibly large")
            im.load()
            return _probability(im)
    except ValueError:
        raise
    except Exception as exc:  # Pillow raises many types for corrupt data
        raise ValueError(f"mask is not a decodable image: {type(exc).__name__}: {exc}") from exc


def _is_plain_gray_png(raw: bytes) -> bool:
    """An 8-bit greyscale PNG without a palette or alpha (IHDR bit depth 8, colour type 0)."""
    return (
        len(raw) > 33
        and raw[:8] == b"\x89PNG\r\n\x1a\n"
        and raw[12:16] == b"IHDR"
        and raw[24] == 8
        and raw[25] == 0
    )


def _unfiltered_pixels(raw: bytes, width: int, height: int) -> np.ndarray | None:
    """The pixels of a non-interlaced 8-bit grey PNG whose rows all use filter 0 (none), as
    Gemini writes its masks; None for any other layout or damaged data."""
    if raw[28] != 0:  # interlaced
        return None
    chunks, pos = [], 8
    try:
        while pos + 8 <= len(raw):
            (length,) = struct.unpack(">I", raw[pos : pos + 4])
            if raw[pos + 4 : pos + 8] == b"IDAT":
                chunks.append(raw[pos + 8 : pos + 8 + length])
            pos += 12 + length
        expected = height * (width + 1)
        data = _inflate_at_most(b"".join(chunks), expected)
    except _PNG_DATA_ERRORS:
        return None
    if len(data) != height * (width + 1):
        return None
    rows = np.frombuffer(data, np.uint8).reshape(height, width + 1)
    if rows[:, 0].any():
        return None
    return rows[:, 1:].copy()


def _inflate_at_most(data: bytes, size: int) -> bytes:
    """``data`` inflated, when it holds exactly ``size`` bytes; a stream that inflates to more
    (a decompression bomb behind a modest header) is refused having inflated ``size + 1``."""
    inflater = _inflator()
    out = inflater.decompress(data, size + 1)
    if len(out) > size or inflater.unconsumed_tail:
        raise ValueError(
            f"mask PNG inflates to more than the {size:,} bytes its header claims; refused"
        )
    return bytes(out)


def _png_header_size(raw: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR, without decoding; None if ``raw`` is no PNG."""
    if len(raw) < 24 or raw[:8] != b"\x89PNG\r\n\x1a\n" or raw[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", raw[16:24])
    return int(width), int(height)


def check_mask_size(mask_size: FrameSize, box_size: FrameSize) -> None:
    """Refuses (``ValueError``) a mask image implausibly large for its box: more than
    :data:`MASK_TO_BOX_FACTOR` times the box's side in pixels and over :data:`MIN_MASK_SIDE`,
    or more than :data:`MAX_MASK_PIXELS` in all."""
    (width, height), (box_w, box_h) = mask_size, box_size
    limit_w = max(MASK_TO_BOX_FACTOR * box_w, MIN_MASK_SIDE)
    limit_h = max(MASK_TO_BOX_FACTOR * box_h, MIN_MASK_SIDE)
    if width > limit_w or height > limit_h or width * height > MAX_MASK_PIXELS:
        raise ValueError(
            f"mask image {width}x{height} is implausibly large for its {box_w}x{box_h} px box; "
            "refused before decoding"
        )


def _mask_bytes(data: bytes | str) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    text = data.strip()
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if ";base64" not in header:
            raise ValueError(f"mask data URI is not base64: {header[:40]!r}")
    if not text:
        raise ValueError("mask is empty")
    return decode_base64(text)


def _probability(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode in ("PA", "RGBa", "La"):
        im = im.convert("RGBA")
    mode = im.mode
    if mode.startswith("I;16"):
        values = np.asarray(im, dtype=np.float64) * (255.0 / 65535.0)
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    if mode in ("I", "F"):
        values = np.nan_to_num(np.asarray(im, dtype=np.float64))
        if values.size and values.min() >= 0.0 and values.max() <= 1.0 and mode == "F":
            values = values * 255.0
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    if mode == "L":
        return np.array(im, dtype=np.uint8)
    if mode == "1":
        return np.asarray(im.convert("L"), dtype=np.uint8).copy()
    if "A" in mode:
        lum = np.asarray(im.convert("L"), dtype=np.uint16)
        alpha = np.asarray(im.getchannel("A"), dtype=np.uint16)
        return ((lum * alpha + 127) // 255).astype(np.uint8)
    return np.asarray(im.convert("L"), dtype=np.uint8).copy()


def resize_probability(prob: np.ndarray, size: FrameSize) -> np.ndarray:
    """Bilinear resize of a ``uint8`` probability map to ``size = (width, height)``.

    Shrinking by more than half on an axis uses Pillow's BILINEAR, which is area-aware (its
    filter widens with the shrink), so a 256 px mask squeezed into a 40 px box keeps its thin
    parts. Otherwise
    (enlargements and mild shrinks, where two-tap bilinear still reads every source pixel) it
    uses OpenCV's INTER_LINEAR, the same half-pixel-centred bilinear, about 7x faster: on the
    real masks in tests/data/real-gemini 0.003 % of pixels flip at the threshold when
    enlarging, and about 0.2 % (all on the outline) when shrinking by up to half. A zero-sized
    target gives an empty array of that shape.
    """
    width, height = size
    if width <= 0 or height <= 0 or prob.size == 0:
        return np.zeros((max(height, 0), max(width, 0)), dtype=np.uint8)
    if prob.shape == (height, width):
        return prob
    if 2 * width >= prob.shape[1] and 2 * height >= prob.shape[0]:
        return cv2.resize(prob, (width, height), interpolation=cv2.INTER_LINEAR)
    resized = Image.fromarray(prob).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(resized, dtype=np.uint8)


def binarize(prob: np.ndarray, threshold: int = DEFAULT_MASK_THRESHOLD) -> np.ndarray:
    """``prob > threshold``: a boolean mask (strict, so 127 is off and 128 is on by default)."""
    return np.asarray(prob) > threshold


def instance_mask(
    mask_png: bytes | str | np.ndarray,
    box_2d: Sequence[float],
    frame_size: FrameSize,
    *,
    threshold: int = DEFAULT_MASK_THRESHOLD,
) -> tuple[RelBox, np.ndarray]:
    """A Gemini segmentation item -> ``(rel_box, mask)`` ready for ``fo.Detection``.

    ``mask_png`` is the PNG covering the box (base64 or bytes), or an already decoded
    probability map. ``frame_size`` is the *displayed* ``(width, height)``. The mask is boolean,
    with shape ``(height, width)`` from :func:`mask_extent_px`, so FiftyOne draws it 1:1.
    A degenerate box gives an array with a zero dimension; callers usually drop those.
    """
    rel_box = box_2d_to_relative(box_2d)
    _, _, width, height = mask_extent_px(rel_box, frame_size)
    if isinstance(mask_png, np.ndarray):
        prob = mask_png
    else:
        raw = _mask_bytes(mask_png)
        claimed = _png_header_size(raw)
        if claimed is not None:
            check_mask_size(claimed, (width, height))
        prob = decode_mask_png(raw)
    return rel_box, binarize(resize_probability(prob, (width, height)), threshold)


# --------------------------------------------------------------------------------------------
# Polygons


def _polygon_list(polygons: Sequence) -> list[np.ndarray]:
    """One polygon ``[[a, b], ...]`` or several ``[[[a, b], ...], ...]`` -> float arrays (n, 2)."""
    if len(polygons) == 0:
        return []
    first = polygons[0]
    single = len(first) > 0 and isinstance(first[0], (int, float, np.number))
    rings = [np.asarray(p, dtype=np.float64) for p in ([polygons] if single else polygons)]
    rings = [r.reshape(0, 2) if r.size == 0 else r for r in rings]
    if any(r.ndim != 2 or r.shape[1] != 2 for r in rings):
        raise ValueError("polygon points must be pairs: [[a, b], ...] or a list of those")
    if not all(np.isfinite(r).all() for r in rings):
        raise ValueError("polygon has a non-finite coordinate")
    return rings


def polygons_to_box_2d(
    polygons: Sequence, *, order: Literal["yx", "xy"] = "yx"
) -> tuple[float, float, float, float]:
    """The ``box_2d`` (ymin, xmin, ymax, xmax, 0-1000) around one or several polygons."""
    rings = [r for r in _polygon_list(polygons) if len(r)]
    if not rings:
        raise ValueError("polygon has no points")
    points = np.concatenate(rings)
    if order == "xy":
        points = points[:, ::-1]
    (ymin, xmin), (ymax, xmax) = points.min(axis=0), points.max(axis=0)
    return float(ymin), float(xmin), float(ymax), float(xmax)


def polygon_to_instance_mask(
    polygons: Sequence,
    frame_size: FrameSize,
    *,
    order: Literal["yx", "xy"] = "yx",
    box_2d: Sequence[float] | None = None,
) -> tuple[RelBox, np.ndarray]:
    """Polygon(s) on 0-1000 of the full frame -> ``(rel_box, mask)`` for ``fo.Detection``.

    ``order`` says whether points are ``[y, x]`` (Gemini's usual order) or ``[x, y]``. The box is
    ``box_2d`` if given, else the polygons' bounds. A pixel is inside when its *centre* is
    inside a polygon (even-odd rule); several polygons are united. The mask has the shape of
    :func:`mask_extent_px`.
    """
    rings = _polygon_list(polygons)
    rel_box = box_2d_to_relative(
        box_2d if box_2d is not None else polygons_to_box_2d(polygons, order=order)
    )
    x0, y0, width, height = mask_extent_px(rel_box, frame_size)
    mask = np.zeros((height, width), dtype=bool)
    fw, fh = frame_size
    for ring in rings:
        if len(ring) < 3 or mask.size == 0:
            continue
        ys, xs = (ring[:, 0], ring[:, 1]) if order == "yx" else (ring[:, 1], ring[:, 0])
        mask |= _rasterize(xs / COORD_SCALE * fw - x0, ys / COORD_SCALE * fh - y0, width, height)
    return rel_box, mask


def _rasterize(xs: np.ndarray, ys: np.ndarray, width: int, height: int) -> np.ndarray:
    """Even-odd fill of one closed polygon (pixel coordinates) sampled at pixel centres."""
    xa, ya = xs, ys
    xb, yb = np.roll(xs, -1), np.roll(ys, -1)
    centres = np.arange(height, dtype=np.float64)[:, None] + 0.5  # (rows, 1)
    # half-open rule: an edge counts for rows with min(ya, yb) <= yc < max(ya, yb)
    crosses = (np.minimum(ya, yb) <= centres) & (centres < np.maximum(ya, yb))
    with np.errstate(divide="ignore", invalid="ignore"):  # horizontal edges never cross
        t = (centres - ya) / (yb - ya)
        x_cross = np.where(crosses, xa + t * (xb - xa), np.inf)
    # a crossing at x toggles every pixel whose centre c + 0.5 is at or right of it, so
    # (like the rows) a polygon includes its left edge and excludes its right one
    first = np.clip(np.ceil(x_cross - 0.5), 0, width).astype(np.int64)
    toggles = np.zeros((height, width + 1), dtype=np.int32)
    rows = np.broadcast_to(np.arange(height)[:, None], first.shape)
    np.add.at(toggles, (rows[crosses], first[crosses]), 1)
    return (np.cumsum(toggles[:, :width], axis=1) % 2).astype(bool)


# --------------------------------------------------------------------------------------------
# Pasting and semantic masks


class MaskedLabel(Protocol):
    """Anything shaped like ``fo.Detection``: a label, a relative box and an in-box mask."""

    @property
    def label(self) -> str | None: ...
    @property
    def bounding_box(self) -> Sequence[float]: ...
    @property
    def mask(self) -> np.ndarray | None: ...


@dataclass(frozen=True)
class Instance:
    """A plain :class:`MaskedLabel`: ``bounding_box`` is FiftyOne ``[x, y, w, h]`` relative."""

    label: str | None
    bounding_box: Sequence[float]
    mask: np.ndarray | None


def paste_instance(
    canvas: np.ndarray, rel_box: Sequence[float], mask: np.ndarray, value: int | bool = True
) -> np.ndarray:
    """Writes ``value`` into ``canvas`` (``(H, W)``, in place) where the in-box ``mask`` is on.

    This mirrors FiftyOne's ``_render_instance``. A mask that does not have the extent's shape
    is resized the way eta does it (cv2 bilinear on 0/1, then any non-zero counts).
    """
    height, width = canvas.shape[:2]
    x0, y0, w, h = mask_extent_px(rel_box, (width, height))
    if w <= 0 or h <= 0:
        return canvas
    on = np.asarray(mask)
    if on.shape != (h, w):
        on = cv2.resize(on.astype(np.uint8), (w, h)) if on.size else np.zeros((h, w), np.uint8)
    region, on = canvas[y0 : y0 + h, x0 : x0 + w], on.astype(bool, copy=False)
    if canvas.dtype == bool and value is True:
        np.bitwise_or(region, on, out=region)  # the common boolean union, twice as fast
    else:
        np.copyto(region, value, where=on)
    return canvas


def class_index_map(
    classes: Iterable[str] | None = None, mask_targets: Mapping[int, str] | None = None
) -> dict[str, int]:
    """``label -> pixel value`` for semantic masks.

    From a FiftyOne ``mask_targets`` dict (``{1: "road", ...}``, inverted; the lowest value wins
    when a label repeats), so that predictions match a ground-truth field. Or, without it, from
    ``classes`` numbered from 1 (0 is background).
    """
    if mask_targets is not None:
        out: dict[str, int] = {}
        for value in sorted(mask_targets):
            out.setdefault(str(mask_targets[value]), int(value))
        return out
    if classes is None:
        raise ValueError("pass classes or mask_targets")
    return {label: i for i, label in enumerate(dict.fromkeys(classes), start=1)}


def compose_semantic_mask(
    instances: Iterable[MaskedLabel],
    frame_size: FrameSize,
    class_to_index: Mapping[str, int],
    *,
    order: Literal["area", "given"] = "area",
) -> np.ndarray:
    """Instance masks -> one ``(H, W)`` class-index mask (``fo.Segmentation``), 0 = background.

    ``order="area"`` (default) paints larger instances first, so smaller objects stay on top
    (a cup on a table keeps its pixels). Ties keep the model's order. ``order="given"`` paints
    in the model's order, later on top. Instances whose label is not in ``class_to_index``, or
    that have no mask, are skipped. The dtype is ``uint8``, or ``uint16`` when an index is
    above 255.
    """
    width, height = frame_size
    top = max(class_to_index.values(), default=0)
    if top > np.iinfo(np.uint16).max or min(class_to_index.values(), default=0) < 0:
        raise ValueError("class indices must lie in [0, 65535]")
    canvas = np.zeros((height, width), dtype=np.uint8 if top <= 255 else np.uint16)
    usable = [d for d in instances if d.mask is not None and d.label in class_to_index and d.label]
    if order == "area":
        usable.sort(key=lambda d: -_painted_area(d, frame_size))
    for det in usable:
        assert det.mask is not None and det.label is not None
        paste_instance(canvas, det.bounding_box, det.mask, class_to_index[det.label])
    return canvas


def _painted_area(det: MaskedLabel, frame_size: FrameSize) -> float:
    _, _, w, h = mask_extent_px(det.bounding_box, frame_size)
    mask = np.asarray(det.mask)
    return float(w * h) * (float(mask.mean()) if mask.size else 0.0)
