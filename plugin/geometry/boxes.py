"""Coordinates: from Gemini's 0-1000 boxes and points to FiftyOne's relative boxes, and back.

Conventions, spelled out in the names:

- ``box_2d``: ``(ymin, xmin, ymax, xmax)`` on 0-1000, **y first**, relative to the image that was
  *sent*. The sent image is the displayed (EXIF-oriented) frame, scaled as a whole. So a
  relative coordinate means the same point in both frames, and no resize factor is needed
  (:mod:`gemini_vision.images` never crops or pads).
- ``point_yx``: ``(y, x)`` on 0-1000, same frame.
- FiftyOne relative box (``rel_box``): ``[x, y, w, h]`` in [0, 1] of the displayed frame, top-left
  origin.
- ``_px`` suffix: integer pixels. ``frame_size`` is ``(width, height)`` in pixels.
- FiftyOne draws ``Detection.mask`` resized to the box's *pixel extent*: ``x0 = int(W * x)``,
  ``x1 = int(W * (x + w))``, ``width = x1 - x0`` (eta's ``BoundingBox.coords_in``).
  :func:`mask_extent_px` computes that extent, so masks built at that shape put every mask pixel
  on one displayed pixel.
- Non-finite input: a NaN coordinate has no position, so converting it raises ``ValueError``
  (the parser drops that item and says why). ``inf`` and ``-inf`` clamp like any other
  out-of-range number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from gemini_vision.catalog import COORD_SCALE

__all__ = [
    "COORD_SCALE",
    "FrameSize",
    "RelBox",
    "box_2d_to_relative",
    "mask_extent_px",
    "point_to_relative",
    "relative_to_box_2d",
    "relative_to_point_yx",
]

RelBox = tuple[float, float, float, float]
FrameSize = tuple[int, int]


# --------------------------------------------------------------------------------------------
# Boxes and points


def _coords(values: Sequence[float], count: int, what: str) -> list[float]:
    if len(values) != count:
        raise ValueError(f"{what} needs {count} numbers, got {len(values)}: {list(values)!r}")
    out = [float(v) for v in values]
    if any(math.isnan(v) for v in out):
        raise ValueError(f"{what} has a NaN coordinate: {list(values)!r}")
    return [min(max(v, 0.0), float(COORD_SCALE)) for v in out]


def box_2d_to_relative(box_2d: Sequence[float]) -> RelBox:
    """``(ymin, xmin, ymax, xmax)`` on 0-1000 -> FiftyOne ``(x, y, w, h)`` in [0, 1].

    Coordinates are clamped to [0, 1000] and reversed corners are swapped. So the result always
    satisfies ``0 <= x, y``, ``w, h >= 0`` and ``x + w <= 1``, ``y + h <= 1``. A degenerate box
    has ``w == 0`` or ``h == 0``.

    Raises:
        ValueError: not 4 numbers, or a NaN.
    """
    y0, x0, y1, x1 = _coords(box_2d, 4, "box_2d")
    x, w = _span(x0, x1)
    y, h = _span(y0, y1)
    return x, y, w, h


def _span(a: float, b: float) -> tuple[float, float]:
    """(start, length) in [0, 1] of the 0-1000 interval between a and b."""
    lo, hi = (a, b) if a <= b else (b, a)
    start, end = lo / COORD_SCALE, hi / COORD_SCALE
    length = end - start
    while start + length > 1.0:  # float rounding may overshoot by one ulp
        length = math.nextafter(length, 0.0)
    return start, length


def relative_to_box_2d(rel_box: Sequence[float]) -> tuple[int, int, int, int]:
    """FiftyOne ``(x, y, w, h)`` in [0, 1] -> integer ``(ymin, xmin, ymax, xmax)`` on 0-1000.

    This is how Gemini writes boxes (rounded integers, y first). It is used to render answers in
    the emulator and in tests. The result is clamped to [0, 1000].
    """
    x, y, w, h = (float(v) for v in rel_box)

    def q(v: float) -> int:
        return min(max(round(v * COORD_SCALE), 0), COORD_SCALE)

    return q(y), q(x), q(y + h), q(x + w)


def point_to_relative(point_yx: Sequence[float]) -> tuple[float, float]:
    """``(y, x)`` on 0-1000 -> FiftyOne keypoint ``(x, y)`` in [0, 1] (clamped; NaN raises)."""
    y, x = _coords(point_yx, 2, "point")
    return x / COORD_SCALE, y / COORD_SCALE


def relative_to_point_yx(point_xy: Sequence[float]) -> tuple[int, int]:
    """FiftyOne ``(x, y)`` in [0, 1] -> integer ``(y, x)`` on 0-1000 (Gemini's point format)."""
    x, y = (float(v) for v in point_xy)
    return (
        min(max(round(y * COORD_SCALE), 0), COORD_SCALE),
        min(max(round(x * COORD_SCALE), 0), COORD_SCALE),
    )


def mask_extent_px(rel_box: Sequence[float], frame_size: FrameSize) -> tuple[int, int, int, int]:
    """``(x0, y0, width, height)`` in pixels: where FiftyOne draws ``Detection.mask`` for this box.

    This is the same arithmetic as eta's ``BoundingBox.coords_in``. The corners ``(x, y)`` and
    ``(x + w, y + h)`` are clamped to [0, 1], then truncated by ``int(W * v)``. A mask of shape
    ``(height, width)`` is drawn 1:1, without resampling.
    """
    width, height = frame_size
    x, y, w, h = (float(v) for v in rel_box)
    x0, y0 = int(width * 1.0 * _unit(x)), int(height * 1.0 * _unit(y))
    x1, y1 = int(width * 1.0 * _unit(x + w)), int(height * 1.0 * _unit(y + h))
    return x0, y0, x1 - x0, y1 - y0


def _unit(v: float) -> float:
    return max(0.0, min(v, 1.0))
