"""Geometry: from Gemini's answer to pixels of the image as FiftyOne shows it.

::

    boxes   0-1000 ``box_2d`` (y first) and points <-> FiftyOne's relative ``[x, y, w, h]``
    masks   PNG probability maps and polygons -> instance masks at FiftyOne's pixel extent;
            semantic masks composed from instances

EXIF orientations are the 8 dihedral transforms of :mod:`gemini_vision.images.exif`. Nothing
here imports FiftyOne.
"""

from gemini_vision.geometry.boxes import (
    COORD_SCALE,
    FrameSize,
    RelBox,
    box_2d_to_relative,
    mask_extent_px,
    point_to_relative,
    relative_to_box_2d,
    relative_to_point_yx,
)
from gemini_vision.geometry.masks import (
    DEFAULT_MASK_THRESHOLD,
    MAX_MASK_PIXELS,
    Instance,
    MaskedLabel,
    binarize,
    class_index_map,
    compose_semantic_mask,
    decode_mask_png,
    instance_mask,
    paste_instance,
    polygon_to_instance_mask,
    polygons_to_box_2d,
    resize_probability,
)

__all__ = [
    "COORD_SCALE",
    "DEFAULT_MASK_THRESHOLD",
    "MAX_MASK_PIXELS",
    "FrameSize",
    "Instance",
    "MaskedLabel",
    "RelBox",
    "binarize",
    "box_2d_to_relative",
    "class_index_map",
    "compose_semantic_mask",
    "decode_mask_png",
    "instance_mask",
    "mask_extent_px",
    "paste_instance",
    "point_to_relative",
    "polygon_to_instance_mask",
    "polygons_to_box_2d",
    "relative_to_box_2d",
    "relative_to_point_yx",
    "resize_probability",
]
