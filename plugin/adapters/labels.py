"""Parsed answers → FiftyOne labels, in the frame FiftyOne displays.

Boxes become relative ``[x, y, w, h]`` of the displayed (EXIF-oriented) image; instance masks
are built at exactly the pixel extent FiftyOne draws them with (see :mod:`.geometry`), so masks
map 1:1 to displayed pixels. Every label keeps what the model actually said (``raw_label``) next
to the class it was mapped to, and the model's confidence when it gave one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import fiftyone as fo
import numpy as np

from gemini_vision import geometry
from gemini_vision.parsing import (
    ClassificationResult,
    ClassPrediction,
    ParsedObject,
    ParseResult,
    TextAnswer,
)
from gemini_vision.tasks import TaskKind

__all__ = ["semantic_segmentation", "to_label"]

FrameSize = tuple[int, int]


def _common_attributes(obj: ParsedObject) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if obj.raw_label is not None:
        attributes["raw_label"] = obj.raw_label
    if obj.label_match is not None:
        attributes["label_method"] = obj.label_match.method
    return attributes


def _detection(obj: ParsedObject, frame_size: FrameSize, with_mask: bool) -> fo.Detection | None:
    if obj.box_2d is None:
        return None
    rel_box = geometry.box_2d_to_relative(obj.box_2d)
    if rel_box[2] <= 0 or rel_box[3] <= 0:
        return None
    attributes = _common_attributes(obj)
    mask = None
    if with_mask:
        rel_box, mask, problem = _mask(obj, rel_box, frame_size)
        if problem:
            attributes["mask_error"] = problem
    return fo.Detection(
        label=obj.label,
        bounding_box=list(rel_box),
        confidence=obj.confidence,
        mask=mask,
        **attributes,
    )


def _mask(
    obj: ParsedObject, rel_box: tuple[float, float, float, float], frame_size: FrameSize
) -> tuple[tuple[float, float, float, float], np.ndarray | None, str | None]:
    data = obj.mask
    if data is None:
        return rel_box, None, "the model returned no mask for this object"
    try:
        if data.kind == "png" and data.png is not None and obj.box_2d is not None:
            rel_box, mask = geometry.instance_mask(data.png, obj.box_2d, frame_size)
            return rel_box, mask, None
        if data.kind == "polygon" and data.polygon_parts_yx:
            rel_box, mask = geometry.polygon_to_instance_mask(
                [list(part) for part in data.polygon_parts_yx], frame_size, box_2d=obj.box_2d
            )
            return rel_box, mask, None
    except ValueError as exc:
        return rel_box, None, f"mask could not be decoded: {exc}"
    return rel_box, None, data.reason or f"unusable mask ({data.kind})"


def _keypoint(obj: ParsedObject) -> fo.Keypoint | None:
    if obj.point is None:
        return None
    x, y = geometry.point_to_relative(obj.point)
    confidence = [obj.confidence] if obj.confidence is not None else None
    return fo.Keypoint(
        label=obj.label, points=[(x, y)], confidence=confidence, **_common_attributes(obj)
    )


def _classification(prediction: ClassPrediction) -> fo.Classification:
    return fo.Classification(
        label=prediction.label if prediction.label is not None else prediction.raw,
        confidence=prediction.confidence,
        raw_label=prediction.raw,
        label_method=prediction.method,
    )


def to_label(
    kind: TaskKind, answer: Any, frame_size: FrameSize, *, multi_label: bool = False
) -> Any:
    """The FiftyOne value for one sample's answer (``frame_size`` = displayed (w, h) px).

    detect → ``fo.Detections``; segment → ``fo.Detections`` with instance masks; point →
    ``fo.Keypoints``; classify → ``fo.Classification`` (``fo.Classifications`` if multi-label);
    caption / ask → ``str``.
    """
    if kind in (TaskKind.CAPTION, TaskKind.ASK, TaskKind.COMPARE):
        assert isinstance(answer, TextAnswer)
        return answer.text
    if kind is TaskKind.CLASSIFY:
        assert isinstance(answer, ClassificationResult)
        if multi_label:
            return fo.Classifications(
                classifications=[_classification(p) for p in answer.predictions]
            )
        return _classification(answer.top) if answer.top is not None else None
    assert isinstance(answer, ParseResult)
    if kind is TaskKind.POINT:
        keypoints = [k for k in map(_keypoint, answer.objects) if k is not None]
        return fo.Keypoints(keypoints=keypoints)
    with_mask = kind is TaskKind.SEGMENT
    detections = [_detection(obj, frame_size, with_mask) for obj in answer.objects]
    return fo.Detections(detections=[d for d in detections if d is not None])


def semantic_segmentation(
    detections: fo.Detections, frame_size: FrameSize, class_to_index: Mapping[str, int]
) -> fo.Segmentation:
    """One class index per pixel, composed from instance masks (smaller objects on top)."""
    mask = geometry.compose_semantic_mask(detections.detections, frame_size, class_to_index)
    return fo.Segmentation(mask=mask)
