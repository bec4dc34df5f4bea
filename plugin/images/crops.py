"""Crops of objects, as a model should see them: the object, some context, never too small.

A box is in FiftyOne's relative ``[x, y, width, height]`` of the image as the App shows it
(EXIF orientation applied), so crops are cut from that frame. Each crop keeps ``margin`` of
the box's size on every side, and grows around the box's centre to at least ``min_side``
pixels per side so that tiny objects stay legible. The object stays in the centre of its crop
even at the image's edge (the part outside the image is neutral grey), so "the object in the
centre" is always the right object; :class:`Crop` says where it lies, so coordinates found in
a crop map back to the whole image.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

__all__ = ["DEFAULT_MARGIN", "DEFAULT_MIN_SIDE", "Crop", "crop_boxes", "crop_region"]

#: context kept around a box, as a share of its width / height on each side
DEFAULT_MARGIN = 0.15
#: the least a crop's side may be, in pixels of the displayed image
DEFAULT_MIN_SIDE = 96
_GREY: dict[str, int | tuple[int, int, int]] = {"RGB": (128, 128, 128), "L": 128}


@dataclass(frozen=True)
class Crop:
    """A crop's JPEG bytes and where it lies: ``region`` in pixels ``(x0, y0, x1, y1)`` of the
    displayed image of ``image_size`` ``(width, height)``."""

    data: bytes
    region: tuple[int, int, int, int]
    image_size: tuple[int, int]

    def to_image(self, box: Sequence[float]) -> list[float]:
        """A relative ``[x, y, w, h]`` box of the crop as a relative box of the whole image."""
        x0, y0, x1, y1 = self.region
        width, height = self.image_size
        cw, ch = x1 - x0, y1 - y0
        return [
            (x0 + box[0] * cw) / width,
            (y0 + box[1] * ch) / height,
            box[2] * cw / width,
            box[3] * ch / height,
        ]


def crop_region(
    box: Sequence[float],
    image_size: tuple[int, int],
    *,
    margin: float = DEFAULT_MARGIN,
    min_side: int = DEFAULT_MIN_SIDE,
) -> tuple[int, int, int, int]:
    """The pixel region ``(x0, y0, x1, y1)`` to crop for a relative box, centred on it (it
    may reach past the image's edges; see the module)."""
    width, height = image_size
    bx, by, bw, bh = (float(v) for v in box)
    x0, x1 = (bx - margin * bw) * width, (bx + bw + margin * bw) * width
    y0, y1 = (by - margin * bh) * height, (by + bh + margin * bh) * height
    x0, x1 = _at_least(x0, x1, min_side)
    y0, y1 = _at_least(y0, y1, min_side)
    return round(x0), round(y0), max(round(x1), round(x0) + 1), max(round(y1), round(y0) + 1)


def _at_least(start: float, end: float, side: float) -> tuple[float, float]:
    """``[start, end]`` grown around its centre to ``side``."""
    if end - start < side:
        centre = (start + end) / 2
        start, end = centre - side / 2, centre + side / 2
    return start, end


def crop_boxes(
    image: Image.Image,
    boxes: Sequence[Sequence[float]],
    *,
    margin: float = DEFAULT_MARGIN,
    min_side: int = DEFAULT_MIN_SIDE,
    quality: int = 95,
) -> list[Crop]:
    """One :class:`Crop` per relative box of ``image`` (already in the displayed frame)."""
    crops = []
    rgb = image if image.mode in ("RGB", "L") else image.convert("RGB")
    for box in boxes:
        region = crop_region(box, rgb.size, margin=margin, min_side=min_side)
        x0, y0, x1, y1 = region
        inside = (max(0, x0), max(0, y0), min(rgb.width, x1), min(rgb.height, y1))
        piece = rgb.crop(inside)
        if inside != region:  # past the edge: grey around the image, the object centred
            canvas = Image.new(rgb.mode, (x1 - x0, y1 - y0), _GREY[rgb.mode])
            canvas.paste(piece, (inside[0] - x0, inside[1] - y0))
            piece = canvas
        out = io.BytesIO()
        piece.save(out, format="JPEG", quality=quality)
        crops.append(Crop(out.getvalue(), region, rgb.size))
    return crops
