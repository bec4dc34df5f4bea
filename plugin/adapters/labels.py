"""Engine outcomes -> FiftyOne labels, in the frame FiftyOne displays -> the dataset, in bulk.

Boxes become relative ``[x, y, w, h]`` of the displayed (EXIF-oriented) image; instance masks
are built at exactly the pixel extent FiftyOne draws them with (see
:mod:`gemini_vision.geometry`), so masks map 1:1 to displayed pixels. Every label keeps what the
model actually said (``raw_label``) next to the class it was mapped to, and the model's
confidence when it gave one.

:class:`LabelWriter` works in two halves, so the slow one runs in parallel:
:meth:`LabelWriter.convert` turns one answer into labels (decoding PNG masks, composing semantic
masks) and is called by the engine's workers in its thread pool as answers arrive;
:meth:`LabelWriter.__call__` stores a batch with ``set_values(..., key_field="id")`` (labels
built by FiftyOne's own classes need no second validation). Outcomes that were not converted yet
(batch mode) are converted on the spot.

Failed samples keep whatever they had and get a one-line reason in ``<label_field>_error`` (a
field that exists only once some sample failed); a successful sample clears its reason. An
answer known to be incomplete (cut off at the output limit even after asking again with more
room, or broken JSON) is written with the objects it kept, and its label carries an
``incomplete`` attribute that says why.
"""

from __future__ import annotations

import functools
import io
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import fiftyone as fo
import numpy as np
from bson import Binary, ObjectId
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError, DocumentTooLarge, OperationFailure

from gemini_vision import geometry
from gemini_vision.adapters.fields import OUTPUT_TYPES, classes_from_field
from gemini_vision.engine import ItemOutcome
from gemini_vision.errors import ConfigurationError, InvalidResponseError
from gemini_vision.parsing import (
    ClassificationResult,
    ClassPrediction,
    ParsedObject,
    ParseResult,
    TextAnswer,
)
from gemini_vision.tasks import TaskKind, TaskSpec

__all__ = ["LabelWriter", "Labels", "semantic_classes", "semantic_segmentation", "to_label"]

FrameSize = tuple[int, int]
#: the longest label and raw label stored (characters)
MAX_LABEL_CHARS = 500
#: the most memory the instance masks of one sample may take (one byte per pixel, each mask
#: at its box's size on the displayed image): an answer past it is that sample's failure
#: instead of a worker's memory (MongoDB stores masks compressed, at most 16 MB a sample)
MAX_SAMPLE_MASK_BYTES = 128 * 2**20


def _capped(text: str) -> str:
    """``text``, cut to :data:`MAX_LABEL_CHARS` (a label that long is no class name)."""
    return text if len(text) <= MAX_LABEL_CHARS else text[: MAX_LABEL_CHARS - 1] + "…"


def _common_attributes(obj: ParsedObject) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if obj.raw_label is not None:
        attributes["raw_label"] = _capped(obj.raw_label)
    if obj.label_match is not None:
        attributes["label_method"] = obj.label_match.method
    return attributes


@dataclass(frozen=True)
class _Found:
    """One object of an answer, ready to store: its label, box (relative, displayed frame),
    confidence, instance mask and attributes."""

    label: str
    box: tuple[float, float, float, float]
    confidence: float | None
    mask: np.ndarray | None
    attributes: dict[str, Any]


def _found(obj: ParsedObject, frame_size: FrameSize, with_mask: bool) -> _Found | None:
    """What ``obj`` becomes (None for an object without a usable box)."""
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
    return _Found(_capped(obj.label), rel_box, obj.confidence, mask, attributes)


def _objects_found(
    objects: Sequence[ParsedObject], frame_size: FrameSize, with_mask: bool
) -> Iterator[_Found]:
    """The objects of an answer that have a box; refused as a whole
    (:class:`InvalidResponseError`) once their masks would take more than
    :data:`MAX_SAMPLE_MASK_BYTES` of memory."""
    mask_bytes = 0
    for number, obj in enumerate(objects, 1):
        found = _found(obj, frame_size, with_mask)
        if found is None:
            continue
        mask_bytes += found.mask.nbytes if found.mask is not None else 0
        if mask_bytes > MAX_SAMPLE_MASK_BYTES:
            raise InvalidResponseError(
                f"the instance masks of this answer would take more than "
                f"{MAX_SAMPLE_MASK_BYTES // 2**20} MB of memory ({number} of {len(objects)} "
                "objects read); ask for fewer objects (max_objects)"
            )
        yield found


def _detection(found: _Found) -> fo.Detection:
    return fo.Detection(
        label=found.label,
        bounding_box=list(found.box),
        confidence=found.confidence,
        mask=found.mask,
        **found.attributes,
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
        label=_capped(obj.label), points=[(x, y)], confidence=confidence, **_common_attributes(obj)
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
    found = _objects_found(answer.objects, frame_size, with_mask=kind is TaskKind.SEGMENT)
    return fo.Detections(detections=[_detection(f) for f in found])


def detections_document(answer: ParseResult, frame_size: FrameSize, *, masks: bool) -> dict:
    """The document FiftyOne stores for the ``fo.Detections`` of ``answer`` (see
    :func:`to_label`), built directly: FiftyOne's label objects validate every field of every
    object through mongoengine, which took more than half of the write-back's time."""
    found = _objects_found(answer.objects, frame_size, with_mask=masks)
    return {"_cls": "Detections", "detections": [_detection_document(f) for f in found]}


def _detection_document(found: _Found) -> dict[str, Any]:
    """A ``Detection`` as FiftyOne stores it."""
    document: dict[str, Any] = {
        "_id": ObjectId(),
        "_cls": "Detection",
        "attributes": {},
        "tags": [],
        "label": found.label,
        "bounding_box": [float(v) for v in found.box],
    }
    if found.mask is not None:
        document["mask"] = Binary(_serialized(found.mask))
    if found.confidence is not None:
        document["confidence"] = float(found.confidence)
    document.update((k, v) for k, v in found.attributes.items() if v is not None)
    return document


def _serialized(array: np.ndarray) -> bytes:
    """An array as FiftyOne stores it (``np.save``, zlib-compressed; FiftyOne decompresses
    whatever the level, and level 1 takes a fraction of the time of the default). The bytes
    are ``np.save``'s: its header (remembered per dtype and shape, as writing it took half the
    time) and then the array's, in C order."""
    array = np.ascontiguousarray(array)
    return _compress(_npy_header(array.dtype.str, array.shape) + array.tobytes(), 1)


@functools.lru_cache(maxsize=4096)
def _npy_header(dtype: str, shape: tuple[int, ...]) -> bytes:
    """``np.save``'s header for a C-ordered array of ``dtype`` and ``shape``."""
    fields = {"descr": dtype, "fortran_order": False, "shape": shape}
    with io.BytesIO() as out:
        np.lib.format.write_array_header_1_0(out, fields)
        return out.getvalue()


try:  # the same format, faster
    from zlib_ng import zlib_ng

    _compress = zlib_ng.compress
except ImportError:  # pragma: no cover - zlib-ng is a dependency
    _compress = zlib.compress


def semantic_segmentation(
    detections: fo.Detections, frame_size: FrameSize, class_to_index: Mapping[str, int]
) -> fo.Segmentation:
    """One class index per pixel, composed from instance masks (smaller objects on top)."""
    mask = geometry.compose_semantic_mask(detections.detections, frame_size, class_to_index)
    return fo.Segmentation(mask=mask)


# --------------------------------------------------------------------------------------------
# writing


@dataclass(frozen=True)
class Labels:
    """What one successful answer becomes: the label and, optionally, its semantic mask."""

    label: Any
    semantic: fo.Segmentation | None = None


def semantic_classes(collection: Any, task: TaskSpec, gt_field: str | None) -> dict[str, int]:
    """The class → pixel value map of a semantic output: the ground truth's when there is one
    (so ``evaluate_segmentations`` compares like with like), else the requested classes.

    A semantic mask needs a fixed vocabulary (every worker must paint a class with the same
    value), so without classes or ground truth this raises :class:`ConfigurationError`.
    """
    dataset = collection._dataset
    if gt_field and gt_field in dataset.mask_targets:
        return geometry.class_index_map(mask_targets=dataset.mask_targets[gt_field])
    if gt_field and collection.has_field(gt_field):
        return geometry.class_index_map(classes_from_field(collection, gt_field))
    if task.classes:
        return geometry.class_index_map(task.classes)
    raise ConfigurationError(
        "a semantic segmentation field needs a vocabulary: pass classes, classes_field or a "
        "ground-truth field"
    )


class LabelWriter:
    """Converts answers to labels and writes them; thread-safe (it keeps no mutable state)."""

    def __init__(
        self,
        dataset: fo.Dataset,
        task: TaskSpec,
        label_field: str,
        semantic_field: str | None = None,
        class_to_index: dict[str, int] | None = None,
    ) -> None:
        if semantic_field and class_to_index is None:
            raise ConfigurationError("a semantic field needs a class-to-index map")
        self.dataset = dataset
        self.task = task
        self.label_field = label_field
        self.error_field = f"{label_field}_error"
        self.semantic_field = semantic_field
        self.class_to_index = class_to_index
        output = OUTPUT_TYPES[task.kind]
        self._declare(
            label_field,
            (fo.Classifications if task.multi_label else output[0]) if output else None,
        )
        if semantic_field:
            self._declare(semantic_field, fo.Segmentation)

    def _declare(self, name: str, label_type: type | None) -> None:
        """Declares a field before values are written, so a batch of all-None values still
        has a type (another worker may have declared it meanwhile: then it is there)."""
        if not self.dataset.has_field(name):
            self.dataset.reload()
        if self.dataset.has_field(name):
            return
        if label_type is None:
            self.dataset.add_sample_field(name, fo.StringField)
        else:
            self.dataset.add_sample_field(
                name, fo.EmbeddedDocumentField, embedded_doc_type=label_type
            )

    def mask_targets(self) -> dict[int, str] | None:
        if self.class_to_index is None:
            return None
        return {0: "background"} | {index: label for label, index in self.class_to_index.items()}

    def convert(self, outcome: ItemOutcome) -> Labels:
        """The labels of one successful outcome, in its displayed frame: for detections and
        instance masks (with no semantic field to compose), the stored document itself."""
        assert outcome.image is not None
        frame = outcome.image.display_size
        kind = self.task.kind
        if kind in (TaskKind.DETECT, TaskKind.SEGMENT) and not self.semantic_field:
            masks = kind is TaskKind.SEGMENT
            return Labels(detections_document(outcome.answer, frame, masks=masks))
        label = to_label(self.task.kind, outcome.answer, frame, multi_label=self.task.multi_label)
        semantic = None
        if self.semantic_field and self.class_to_index and isinstance(label, fo.Detections):
            semantic = semantic_segmentation(label, frame, self.class_to_index)
        return Labels(label, semantic)

    def __call__(self, outcomes: list[ItemOutcome]) -> dict[str, str]:
        """Stores a batch of outcomes. A sample whose labels MongoDB cannot hold (a document
        is at most 16 MB) gets that as its failure reason, and is returned with it; the rest
        of the batch is stored."""
        batch = Batch()
        for outcome in outcomes:
            if outcome.status != "ok" or outcome.image is None:
                batch.errors[outcome.key] = outcome.error or "failed"
                continue
            converted = outcome.converted or self.convert(outcome)
            batch.labels[outcome.key] = _marked(converted.label, outcome.incomplete)
            batch.errors[outcome.key] = None
            if converted.semantic is not None:
                batch.semantic[outcome.key] = converted.semantic
        try:
            self._store(batch)
        except MONGO_WRITE_ERRORS as exc:
            if not too_large(exc):
                raise
            unstored = {}
            for key in batch.samples():
                reason = self._store_one(batch.only(key))
                if reason is not None:
                    unstored[key] = reason
            return unstored
        return {}

    def _store(self, batch: Batch) -> None:
        # every value was built (and validated) by FiftyOne's own label classes, or is the
        # very document they would store
        documents = {k: v for k, v in batch.labels.items() if isinstance(v, dict)}
        labels = {k: v for k, v in batch.labels.items() if not isinstance(v, dict)}
        if documents:
            self._store_documents(documents)
        if labels:
            self.dataset.set_values(self.label_field, labels, key_field="id", validate=False)
        if batch.semantic and self.semantic_field:
            self.dataset.set_values(
                self.semantic_field, batch.semantic, key_field="id", validate=False
            )
        # the error field exists only once there is a reason to keep (a success clears one)
        errors = batch.errors
        if any(errors.values()) or (errors and self.dataset.has_field(self.error_field)):
            self._declare(self.error_field, None)
            self.dataset.set_values(self.error_field, errors, key_field="id", validate=False)

    def _store_documents(self, documents: dict[str, dict[str, Any]]) -> None:
        """Writes stored-form documents the way ``set_values`` does (one update per sample,
        its ``last_modified_at`` too)."""
        now = datetime.now(timezone.utc).replace(tzinfo=None)  # FiftyOne's naive UTC
        ops = [
            UpdateOne(
                {"_id": ObjectId(sample_id)},
                {"$set": {self.label_field: document, "last_modified_at": now}},
            )
            for sample_id, document in documents.items()
        ]
        self.dataset._bulk_write(ops, ids=list(documents))

    def _store_one(self, batch: Batch) -> str | None:
        """Stores a one-sample batch; when it is too large, stores why instead and returns it."""
        try:
            self._store(batch)
            return None
        except MONGO_WRITE_ERRORS as exc:
            if not too_large(exc):
                raise
            reason = (
                "its labels are too large for one MongoDB document (16 MB at most; "
                f"{type(exc).__name__}): ask for fewer objects (max_objects)"
            )
            self._store(Batch(errors=dict.fromkeys(batch.samples(), reason)))
            return reason


@dataclass
class Batch:
    """What one batch writes, by sample id: labels, semantic masks, failure reasons."""

    labels: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str | None] = field(default_factory=dict)
    semantic: dict[str, Any] = field(default_factory=dict)

    def samples(self) -> list[str]:
        return list(dict.fromkeys([*self.labels, *self.errors, *self.semantic]))

    def only(self, key: str) -> Batch:
        pick = lambda values: {key: values[key]} if key in values else {}  # noqa: E731
        return Batch(pick(self.labels), pick(self.errors), pick(self.semantic))


#: what a write that MongoDB refuses raises
MONGO_WRITE_ERRORS = (DocumentTooLarge, BulkWriteError, OperationFailure)
#: MongoDB's code for a document larger than it holds (16 MB)
_BSON_TOO_LARGE = 10334


def too_large(exc: Exception) -> bool:
    """Whether ``exc`` says a document would be larger than MongoDB holds."""
    if isinstance(exc, DocumentTooLarge):
        return True
    if isinstance(exc, BulkWriteError):
        codes = {e.get("code") for e in exc.details.get("writeErrors", [])}
        return _BSON_TOO_LARGE in codes or "BSONObj size" in str(exc.details)
    return getattr(exc, "code", None) == _BSON_TOO_LARGE or "BSONObj size" in str(exc)


def _marked(label: Any, incomplete: str | None) -> Any:
    """``label`` carrying ``incomplete`` (why the answer is known to be cut short) as an
    attribute, so such samples can be found: ``F("<field>.incomplete").exists()``."""
    if incomplete is not None and isinstance(label, dict):
        return {**label, "incomplete": incomplete}
    if incomplete is not None and isinstance(label, fo.Label):
        label = label.copy()
        label["incomplete"] = incomplete
    return label
