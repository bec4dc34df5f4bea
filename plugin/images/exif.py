"""EXIF orientations 1-8 as explicit transforms between the stored and the displayed frame.

:func:`read_orientation` reads the tag. ``PIL.ImageOps.exif_transpose`` turns the stored pixels
into what viewers (and the FiftyOne App) show; :func:`exif_raw_to_display` does the same to
continuous pixel coordinates, which tests use to check that labels land on the displayed frame.
Sizes are ``(width, height)`` in pixels.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
from PIL import Image

__all__ = [
    "EXIF_TO_DISPLAY",
    "exif_display_size",
    "exif_display_to_raw",
    "exif_matrix",
    "exif_raw_to_display",
    "read_orientation",
]

logger = logging.getLogger(__name__)

_ORIENTATION_TAG = 0x0112

#: EXIF orientation -> the Pillow transpose that turns stored pixels into the displayed image
#: (what ``PIL.ImageOps.exif_transpose`` applies)
EXIF_TO_DISPLAY: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

FrameSize = tuple[int, int]

# Continuous pixel coordinates (x, y) of the stored W x H grid -> displayed frame, as affine
# rows (a, b, c_w, c_h): x' = a*x + b*y + (c_w*W + c_h*H). Same as Pillow's exif_transpose:
# 2 FLIP_LEFT_RIGHT, 3 ROTATE_180, 4 FLIP_TOP_BOTTOM, 5 TRANSPOSE, 6 ROTATE_270 (90 deg
# clockwise), 7 TRANSVERSE, 8 ROTATE_90 (90 deg counter-clockwise).
_EXIF_AFFINE: dict[int, tuple[tuple[int, int, int, int], tuple[int, int, int, int]]] = {
    1: ((1, 0, 0, 0), (0, 1, 0, 0)),
    2: ((-1, 0, 1, 0), (0, 1, 0, 0)),
    3: ((-1, 0, 1, 0), (0, -1, 0, 1)),
    4: ((1, 0, 0, 0), (0, -1, 0, 1)),
    5: ((0, 1, 0, 0), (1, 0, 0, 0)),
    6: ((0, -1, 0, 1), (1, 0, 0, 0)),
    7: ((0, -1, 0, 1), (-1, 0, 1, 0)),
    8: ((0, 1, 0, 0), (-1, 0, 1, 0)),
}


def read_orientation(im: Image.Image) -> int:
    """The EXIF orientation (1-8) of an opened image. Invalid or unreadable values count as 1,
    as in browsers."""
    try:
        value = im.getexif().get(_ORIENTATION_TAG, 1)
    except Exception:  # a corrupt EXIF block must not make the pixels unusable
        logger.debug("unreadable EXIF block; assuming orientation 1", exc_info=True)
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def exif_display_size(raw_size: FrameSize, orientation: int) -> FrameSize:
    """Displayed ``(width, height)`` of a stored ``raw_size`` image (5-8 swap the sides)."""
    _check_orientation(orientation)
    width, height = raw_size
    return (height, width) if orientation >= 5 else (width, height)


def exif_matrix(orientation: int, raw_size: FrameSize) -> np.ndarray:
    """3x3 affine matrix from raw continuous ``(x, y, 1)`` pixels to displayed pixels."""
    _check_orientation(orientation)
    width, height = raw_size
    rows = [[a, b, cw * width + ch * height] for a, b, cw, ch in _EXIF_AFFINE[orientation]]
    return np.array([*rows, [0, 0, 1]], dtype=np.float64)


def exif_raw_to_display(
    points_xy: np.ndarray | Sequence[Sequence[float]], orientation: int, raw_size: FrameSize
) -> np.ndarray:
    """Maps ``(n, 2)`` continuous ``(x, y)`` pixels of the stored frame to the displayed frame.

    The pixel ``(i, j)`` covers ``[i, i + 1) x [j, j + 1)``. A box maps by mapping its corners
    and taking their min and max.
    """
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    m = exif_matrix(orientation, raw_size)
    return pts @ m[:2, :2].T + m[:2, 2]


def exif_display_to_raw(
    points_xy: np.ndarray | Sequence[Sequence[float]], orientation: int, raw_size: FrameSize
) -> np.ndarray:
    """The inverse of :func:`exif_raw_to_display` (``raw_size`` is still the stored size)."""
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    m = np.linalg.inv(exif_matrix(orientation, raw_size))
    return pts @ m[:2, :2].T + m[:2, 2]


def _check_orientation(orientation: int) -> None:
    if orientation not in _EXIF_AFFINE:
        raise ValueError(f"EXIF orientation must be 1-8, got {orientation!r}")
