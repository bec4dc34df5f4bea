"""The fields a run reads and writes: which samples need work, whether an output field may be
written, and the vocabulary of an existing label field."""

from __future__ import annotations

from typing import Any

import fiftyone as fo

from gemini_vision.adapters import runs
from gemini_vision.errors import ConfigurationError
from gemini_vision.tasks import TaskKind

__all__ = [
    "OUTPUT_TYPES",
    "check_collection",
    "check_output_field",
    "check_semantic_field",
    "classes_from_field",
    "is_object_view",
    "samples_to_process",
]

#: the FiftyOne label type each task writes (None: a plain string field)
OUTPUT_TYPES: dict[TaskKind, tuple[type, ...] | None] = {
    TaskKind.DETECT: (fo.Detections,),
    TaskKind.SEGMENT: (fo.Detections,),
    TaskKind.POINT: (fo.Keypoints,),
    TaskKind.CLASSIFY: (fo.Classification, fo.Classifications),
    TaskKind.CAPTION: None,
    TaskKind.ASK: None,
}


def is_object_view(collection: Any) -> bool:
    """Whether ``collection`` is a patches or frames view (see :mod:`.objects`)."""
    return bool(collection._is_patches or collection._is_frames)


def check_collection(collection: Any, *, object_views: bool = False) -> None:
    """Raises :class:`ConfigurationError` unless ``collection`` holds image samples stored in
    their own dataset, or (``object_views``) is a patches or frames view, whose results go
    to the source samples (see :mod:`.objects`); clips views are refused."""
    if collection._is_clips or (is_object_view(collection) and not object_views):
        kind = (
            "patches" if collection._is_patches else "frames" if collection._is_frames else "clips"
        )
        raise ConfigurationError(
            f"this task cannot run on a {kind} view: run it on the source dataset or a view of "
            "it (detect, segment, point and classify run on patches and frames views too)"
        )
    if is_object_view(collection):
        return
    media_type = collection.media_type
    if media_type == "group":
        raise ConfigurationError(
            "this is a grouped dataset: choose its image slices, e.g. "
            "dataset.select_group_slices(media_type='image')"
        )
    if media_type == "video":
        raise ConfigurationError(
            "Gemini Vision labels images; this is a video dataset: run on its frames view, "
            "dataset.to_frames(sample_frames=True) (frames written as images; the results go "
            "to the videos' frames)"
        )
    if media_type != "image":
        raise ConfigurationError(
            f"Gemini Vision labels images; this collection holds {media_type} samples"
        )


def samples_to_process(collection: Any, label_field: str, overwrite: bool) -> Any:
    """The samples a run must visit: all of them with ``overwrite``, else those without a
    result (failed samples have none, so a rerun retries them)."""
    if overwrite or not collection._dataset.has_field(label_field):
        return collection
    if collection.has_field(label_field):
        return collection.exists(label_field, False)
    # the view leaves the field out (select_fields, exclude_fields): ask the dataset which of
    # the view's samples have no result yet
    ids = collection.values("id")
    return collection._dataset.select(ids, ordered=True).exists(label_field, False)


def check_output_field(
    dataset: fo.Dataset,
    label_field: str,
    kind: TaskKind,
    *,
    overwrite: bool,
    gt_field: str | None = None,
    multi_label: bool = False,
) -> None:
    """Raises :class:`ConfigurationError` unless ``label_field`` can receive ``kind``'s labels
    (``multi_label`` classifications are ``Classifications``, single ones ``Classification``)."""
    runs.check_writable(dataset, label_field, overwrite=overwrite, protected_fields=(gt_field,))
    expected = OUTPUT_TYPES.get(kind)
    if kind is TaskKind.CLASSIFY:
        expected = (fo.Classifications,) if multi_label else (fo.Classification,)
    _check_type(dataset, label_field, expected)


def check_semantic_field(
    dataset: fo.Dataset,
    semantic_field: str,
    label_field: str,
    *,
    overwrite: bool,
    gt_field: str | None = None,
) -> None:
    """Raises :class:`ConfigurationError` unless ``semantic_field`` can receive the semantic
    masks composed from ``label_field``'s instances."""
    if semantic_field == label_field:
        raise ConfigurationError(
            f"the semantic field must differ from the instances field '{label_field}'"
        )
    runs.check_writable(dataset, semantic_field, overwrite=overwrite, protected_fields=(gt_field,))
    _check_type(dataset, semantic_field, (fo.Segmentation,))


def _check_type(dataset: fo.Dataset, label_field: str, expected: tuple[type, ...] | None) -> None:
    """Refuses an existing field whose values are not of the ``expected`` label types (None: a
    string field): FiftyOne could not store the new values in it."""
    if not dataset.has_field(label_field):
        return
    existing = dataset.get_field(label_field)
    document_type = getattr(existing, "document_type", None)
    if expected is None:
        ok = isinstance(existing, fo.StringField)
    else:
        ok = document_type is not None and issubclass(document_type, expected)
    if not ok:
        held = document_type.__name__ if document_type else type(existing).__name__
        wants = "a string" if expected is None else " or ".join(t.__name__ for t in expected)
        raise ConfigurationError(
            f"Field '{label_field}' holds {held} values but this task writes {wants}; "
            "choose another output field"
        )


def classes_from_field(collection: Any, field_name: str) -> list[str]:
    """The vocabulary of an existing label field (e.g. ground truth), sorted."""
    if not collection.has_field(field_name):
        raise ConfigurationError(f"no field '{field_name}' to take the classes from")
    document_type = getattr(collection.get_field(field_name), "document_type", None)
    paths = {
        fo.Detections: "detections.label",
        fo.Classifications: "classifications.label",
        fo.Keypoints: "keypoints.label",
        fo.Polylines: "polylines.label",
        fo.Classification: "label",
    }
    if document_type is fo.Segmentation:
        targets = collection._dataset.mask_targets.get(field_name) or {}
        return sorted(str(v) for k, v in targets.items() if int(k) != 0)
    if document_type not in paths:
        raise ConfigurationError(f"'{field_name}' is not a label field with class names")
    return sorted(str(v) for v in collection.distinct(f"{field_name}.{paths[document_type]}"))
