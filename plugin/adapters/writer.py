"""Engine outcomes → FiftyOne labels → the dataset, in bulk.

Two halves, so the slow one runs in parallel: :meth:`LabelWriter.convert` turns one answer into
labels (decoding PNG masks, composing semantic masks) and is called by the engine's workers in
its thread pool as answers arrive; :meth:`LabelWriter.__call__` stores a batch with
``set_values(..., key_field="id")`` (labels built by us need no second validation). Outcomes that
were not converted yet (batch mode) are converted on the spot.

Failed samples keep whatever they had and get a one-line reason in ``<label_field>_error``; a
successful sample clears its reason. An answer known to be incomplete (cut off at the output
limit even after asking again with more room, or broken JSON) is written with the objects it
kept, and its label carries an ``incomplete`` attribute that says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import fiftyone as fo

from gemini_vision.adapters.fields import OUTPUT_TYPES, classes_from_field
from gemini_vision.adapters.labels import semantic_segmentation, to_label
from gemini_vision.engine.outcomes import ItemOutcome
from gemini_vision.errors import ConfigurationError
from gemini_vision.geometry import class_index_map
from gemini_vision.tasks import TaskSpec

__all__ = ["LabelWriter", "Labels", "semantic_classes"]


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
        return class_index_map(mask_targets=dataset.mask_targets[gt_field])
    if gt_field and collection.has_field(gt_field):
        return class_index_map(classes_from_field(collection, gt_field))
    if task.classes:
        return class_index_map(task.classes)
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
        self._declare(self.error_field, None)
        output = OUTPUT_TYPES[task.kind]
        self._declare(
            label_field,
            (fo.Classifications if task.multi_label else output[0]) if output else None,
        )
        if semantic_field:
            self._declare(semantic_field, fo.Segmentation)

    def _declare(self, name: str, label_type: type | None) -> None:
        """Declares a field up front, so a batch of all-None values still has a type."""
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
        """The labels of one successful outcome, in its displayed frame."""
        assert outcome.image is not None
        frame = outcome.image.display_size
        label = to_label(self.task.kind, outcome.answer, frame, multi_label=self.task.multi_label)
        semantic = None
        if self.semantic_field and self.class_to_index and isinstance(label, fo.Detections):
            semantic = semantic_segmentation(label, frame, self.class_to_index)
        return Labels(label, semantic)

    def __call__(self, outcomes: list[ItemOutcome]) -> None:
        labels: dict[str, Any] = {}
        errors: dict[str, str | None] = {}
        semantic: dict[str, Any] = {}
        for outcome in outcomes:
            if outcome.status != "ok" or outcome.image is None:
                errors[outcome.key] = outcome.error or "failed"
                continue
            converted = outcome.converted or self.convert(outcome)
            labels[outcome.key] = _marked(converted.label, outcome.incomplete)
            errors[outcome.key] = None
            if converted.semantic is not None:
                semantic[outcome.key] = converted.semantic
        # every value was built (and validated) by FiftyOne's own label classes
        if labels:
            self.dataset.set_values(self.label_field, labels, key_field="id", validate=False)
        if errors:
            self.dataset.set_values(self.error_field, errors, key_field="id", validate=False)
        if semantic and self.semantic_field:
            self.dataset.set_values(self.semantic_field, semantic, key_field="id", validate=False)


def _marked(label: Any, incomplete: str | None) -> Any:
    """``label`` carrying ``incomplete`` (why the answer is known to be cut short) as an
    attribute, so such samples can be found: ``F("<field>.incomplete").exists()``."""
    if incomplete is not None and isinstance(label, fo.Label):
        label = label.copy()
        label["incomplete"] = incomplete
    return label
