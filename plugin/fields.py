"""The fields a run reads and writes: which samples need work, whether an output field may be
written, and the vocabulary of an existing label field."""

from __future__ import annotations

from typing import Any

import fiftyone as fo

from . import runs
from .errors import ConfigurationError
from .tasks import TaskKind

__all__ = ["OUTPUT_TYPES", "check_output_field", "classes_from_field", "samples_to_process"]

#: the FiftyOne label type each task writes (None: a plain string field)
OUTPUT_TYPES: dict[TaskKind, tuple[type, ...] | None] = {
    TaskKind.DETECT: (fo.Detections,),
    TaskKind.SEGMENT: (fo.Detections,),
    TaskKind.POINT: (fo.Keypoints,),
    TaskKind.CLASSIFY: (fo.Classification, fo.Classifications),
    TaskKind.CAPTION: None,
    TaskKind.ASK: None,
}


def samples_to_process(collection: Any, label_field: str, overwrite: bool) -> Any:
    """The samples a run must visit: all of them with ``overwrite``, else those without a
    result (failed samples have none, so a rerun retries them)."""
    if overwrite or not collection.has_field(label_field):
        return collection
    return collection.exists(label_field, False)


def check_output_field(
    dataset: fo.Dataset,
    label_field: str,
    kind: TaskKind,
    *,
    overwrite: bool,
    gt_field: str | None = None,
) -> None:
    """Raises :class:`ConfigurationError` unless ``label_field`` can receive ``kind``'s labels."""
    runs.check_writable(dataset, label_field, overwrite=overwrite, protected_fields=(gt_field,))
    if not dataset.has_field(label_field):
        return
    existing = dataset.get_field(label_field)
    expected = OUTPUT_TYPES.get(kind)
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
