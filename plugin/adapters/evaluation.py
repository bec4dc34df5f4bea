"""FiftyOne evaluation of a prediction field against ground truth, with sensible defaults.

The evaluation method follows the fields' types (detections, instance masks, keypoints,
segmentations, classifications) and is stored under ``eval_key``, which is all the App's Model
Evaluation panel needs to show it. Defaults a careful user would pick: match by mask IoU when
both fields carry instance masks, and compute mAP only when every prediction has a confidence
(FiftyOne refuses otherwise; a constant confidence would give a one-point PR curve).
"""

from __future__ import annotations

from typing import Any

import fiftyone as fo
import numpy as np
from fiftyone import ViewField as F

from gemini_vision.errors import ConfigurationError
from gemini_vision.tasks import TaskKind

__all__ = [
    "EVALUABLE_TYPES",
    "check_eval_key",
    "check_evaluation",
    "evaluate",
    "ground_truth_types",
    "summary_markdown",
]

EVALUABLE_TYPES: tuple[type, ...] = (
    fo.Detections,
    fo.Keypoints,
    fo.Segmentation,
    fo.Classification,
)


def ground_truth_types(kind: TaskKind) -> tuple[type, ...]:
    """The ground-truth field types a task's output can be evaluated against."""
    return {
        TaskKind.DETECT: (fo.Detections,),
        TaskKind.SEGMENT: (fo.Detections, fo.Segmentation),
        TaskKind.CLASSIFY: (fo.Classification, fo.Classifications),
        TaskKind.POINT: (fo.Keypoints,),
    }.get(kind, ())


def _label_type(collection: Any, field: str) -> type:
    schema = collection.get_field_schema(embedded_doc_type=EVALUABLE_TYPES)
    if field not in schema:
        raise ConfigurationError(
            f"'{field}' is not a Detections, Keypoints, Segmentation or Classification field"
        )
    return schema[field].document_type


def _mask_targets(dataset: fo.Dataset, gt_field: str) -> dict[int, str] | None:
    return dataset.mask_targets.get(gt_field) or dataset.default_mask_targets or None


def check_eval_key(
    dataset: fo.Dataset, eval_key: str, pred_field: str, gt_field: str, kind: TaskKind
) -> None:
    """Refuses, before a run, what would stop its evaluation afterwards: ``eval_key`` not a
    valid key, a ground truth of a kind the task's labels cannot be compared with, or a key
    that holds the evaluation of other fields (``pred_field``: the field that will be
    evaluated, the semantic one against a semantic ground truth)."""
    if not eval_key.isidentifier():
        raise ConfigurationError(
            f"'{eval_key}' is not a valid evaluation key: use letters, digits and underscores, "
            "not starting with a digit"
        )
    expected = ground_truth_types(kind)
    gt_type = getattr(dataset.get_field(gt_field), "document_type", None)
    if gt_type is None or gt_type not in expected:
        held = gt_type.__name__ if gt_type else "no labels"
        wants = " or ".join(t.__name__ for t in expected) or "nothing (this task is not evaluated)"
        raise ConfigurationError(
            f"ground truth '{gt_field}' holds {held}; {kind.value} results are evaluated "
            f"against {wants}"
        )
    if dataset.has_evaluation(eval_key):
        config = dataset.get_evaluation_info(eval_key).config
        fields = (getattr(config, "pred_field", None), getattr(config, "gt_field", None))
        if fields != (pred_field, gt_field):
            raise ConfigurationError(
                f"evaluation key '{eval_key}' already evaluates '{fields[0]}' against "
                f"'{fields[1]}'; choose another key (or delete that evaluation first)"
            )


def check_evaluation(
    collection: Any,
    pred_field: str,
    gt_field: str,
    eval_key: str,
    *,
    use_masks: bool | None = None,
) -> str:
    """The kind of evaluation (``"detection"``, ``"classification"`` or ``"segmentation"``)
    that compares ``pred_field`` with ``gt_field`` under ``eval_key``; changes nothing.

    Raises :class:`ConfigurationError` when the fields hold different kinds of labels, or when
    ``eval_key`` already holds another kind of evaluation (FiftyOne cannot convert one into the
    other) or the evaluation of other fields (someone's results, as FiftyOne itself refuses).
    Re-evaluating the same fields under the same key is allowed: it replaces the evaluation.
    ``use_masks=True`` is refused unless every object of both fields has an instance mask.
    """
    if not eval_key.isidentifier():
        raise ConfigurationError(f"'{eval_key}' is not a valid evaluation key")
    pred_type, gt_type = _label_type(collection, pred_field), _label_type(collection, gt_field)
    if pred_type is not gt_type:
        raise ConfigurationError(
            f"cannot compare {pred_type.__name__} '{pred_field}' with {gt_type.__name__} "
            f"'{gt_field}': both fields must hold the same kind of label"
        )
    kind = {fo.Segmentation: "segmentation", fo.Classification: "classification"}.get(
        pred_type, "detection"
    )
    dataset = collection._dataset
    if dataset.has_evaluation(eval_key):
        config = dataset.get_evaluation_info(eval_key).config
        if config.type != kind:
            raise ConfigurationError(
                f"evaluation key '{eval_key}' already holds a {config.type} evaluation; "
                f"choose another key for this {kind} evaluation"
            )
        fields = (getattr(config, "pred_field", None), getattr(config, "gt_field", None))
        if fields != (pred_field, gt_field):
            raise ConfigurationError(
                f"evaluation key '{eval_key}' already evaluates '{fields[0]}' against "
                f"'{fields[1]}'; choose another key (or delete that evaluation first)"
            )
    if use_masks and kind == "detection":
        list_path = "keypoints" if pred_type is fo.Keypoints else "detections"
        pred, gt = f"{pred_field}.{list_path}", f"{gt_field}.{list_path}"
        _mask_iou(collection, (pred_field, pred), (gt_field, gt), True)
    return kind


def evaluate(
    collection: Any,
    pred_field: str,
    gt_field: str,
    eval_key: str,
    *,
    use_masks: bool | None = None,
    iou: float = 0.5,
    compute_mAP: bool | None = None,
    classwise: bool = True,
) -> dict[str, Any]:
    """Evaluates ``pred_field`` against ``gt_field``; returns the headline metrics.

    ``classwise=False`` matches objects whatever their labels (useful for open-vocabulary
    predictions such as "red mug" against "cup"). See :func:`check_evaluation` for what is
    refused.
    """
    kind = check_evaluation(collection, pred_field, gt_field, eval_key)
    if collection._dataset.has_evaluation(eval_key):
        collection._dataset.delete_evaluation(eval_key)  # the same fields: replaced
    if kind == "segmentation":
        return _evaluate_segmentations(collection, pred_field, gt_field, eval_key)
    if kind == "classification":
        results = collection.evaluate_classifications(
            pred_field, gt_field=gt_field, eval_key=eval_key
        )
        return _summary(eval_key, "classification", results.metrics())
    return _evaluate_detections(
        collection, pred_field, gt_field, eval_key, use_masks, iou, compute_mAP, classwise
    )


def _evaluate_detections(
    collection: Any,
    pred_field: str,
    gt_field: str,
    eval_key: str,
    use_masks: bool | None,
    iou: float,
    compute_mAP: bool | None,
    classwise: bool,
) -> dict[str, Any]:
    is_keypoints = _label_type(collection, pred_field) is fo.Keypoints
    list_path = "keypoints" if is_keypoints else "detections"
    preds, gts = f"{pred_field}.{list_path}", f"{gt_field}.{list_path}"
    use_masks = _mask_iou(collection, (pred_field, preds), (gt_field, gts), use_masks)
    if compute_mAP is None:
        n_preds = collection.count(preds)
        compute_mAP = n_preds > 0 and collection.count(f"{preds}.confidence") == n_preds
    results = collection.evaluate_detections(
        pred_field,
        gt_field=gt_field,
        eval_key=eval_key,
        iou=iou,
        use_masks=use_masks,
        compute_mAP=compute_mAP,
        classwise=classwise,
    )
    metrics = results.metrics()
    tp, fp, fn = (int(collection.sum(f"{eval_key}_{k}") or 0) for k in ("tp", "fp", "fn"))
    matched = collection.filter_labels(pred_field, F(eval_key) == "tp", only_matches=True)
    ious = matched.values(f"{preds}.{eval_key}_iou", unwind=True)
    if not classwise:
        ious, (tp, fp, fn), rates = _any_class_matches(collection, preds, gts, eval_key)
        metrics = dict(metrics, **rates)
    extra: dict[str, Any] = {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "use_masks": use_masks,
        "classwise": classwise,
        "mean_matched_iou": float(np.mean(ious)) if ious else None,
        "mAP": results.mAP() if compute_mAP else None,
    }
    return _summary(eval_key, "detection", metrics, extra)


def _mask_iou(
    collection: Any, pred: tuple[str, str], gt: tuple[str, str], asked: bool | None
) -> bool:
    """Whether to match by mask IoU: when asked (refused, saying which objects lack a mask,
    unless every object of both fields has one), or by default when every object has one."""
    if asked is False:
        return False
    # FiftyOne's mask IoU needs a mask on every object of both fields
    missing = {
        field: collection.count(path) - collection.count(f"{path}.mask")
        for field, path in (pred, gt)
    }
    complete = pred[1].endswith(".detections") and collection.count(pred[1]) > 0
    complete = complete and not any(missing.values())
    if asked and not complete:
        detail = ", ".join(f"{n} in '{f}'" for f, n in missing.items() if n)
        raise ConfigurationError(
            "mask IoU needs an instance mask on every object; objects without one: "
            f"{detail or 'no masks at all'} (evaluate with use_masks=False for box IoU)"
        )
    return complete


def _any_class_matches(
    collection: Any, preds: str, gts: str, eval_key: str
) -> tuple[list[float], tuple[int, int, int], dict[str, float]]:
    """Matches whatever the labels: FiftyOne counts a box matched to an object of another
    class ("red mug" on "cup") as a false positive; without class matching, every IoU match
    is a hit. Returns the matched IoUs, (tp, fp, fn) and precision, recall and F1."""
    ious = [v for v in collection.values(f"{preds}.{eval_key}_iou", unwind=True) if v]
    n_preds, n_gts = collection.count(preds), collection.count(gts)
    tp, fp, fn = len(ious), n_preds - len(ious), n_gts - len(ious)
    precision = tp / n_preds if n_preds else 0.0
    recall = tp / n_gts if n_gts else 0.0
    fscore = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return ious, (tp, fp, fn), {"precision": precision, "recall": recall, "fscore": fscore}


def _evaluate_segmentations(
    collection: Any, pred_field: str, gt_field: str, eval_key: str
) -> dict[str, Any]:
    dataset = collection._dataset
    targets = _mask_targets(dataset, gt_field)
    results = collection.evaluate_segmentations(
        pred_field, gt_field=gt_field, eval_key=eval_key, mask_targets=targets
    )
    matrix = np.asarray(results.pixel_confusion_matrix, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_class = np.diag(matrix) / (matrix.sum(0) + matrix.sum(1) - np.diag(matrix))
    pairs = zip(results.classes, per_class, strict=True)
    ious = {str(c): float(v) for c, v in pairs if np.isfinite(v)}
    extra = {"mean_iou": float(np.mean(list(ious.values()))) if ious else None, "iou": ious}
    return _summary(eval_key, "segmentation", results.metrics(), extra)


def _summary(
    eval_key: str, kind: str, metrics: dict[str, Any], extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"eval_key": eval_key, "type": kind}
    out.update({k: _plain(v) for k, v in metrics.items()})
    out.update({k: _plain(v) for k, v in (extra or {}).items()})
    out["summary"] = summary_markdown(out)
    return out


def _plain(value: Any) -> Any:
    """``value`` as plain JSON: the App parses results with ``JSON.parse``, which rejects NaN
    and infinities (e.g. the IoU of single keypoints), so those become None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def summary_markdown(metrics: dict[str, Any]) -> str:
    """A small markdown table of the headline numbers of an evaluation."""
    names = (
        "precision",
        "recall",
        "fscore",
        "accuracy",
        "mAP",
        "mean_matched_iou",
        "mean_iou",
        "tp",
        "fp",
        "fn",
    )
    rows = [
        f"| {name} | {metrics[name]:.4g} |"
        if isinstance(metrics[name], float)
        else f"| {name} | {metrics[name]} |"
        for name in names
        if metrics.get(name) is not None
    ]
    header = f"**{metrics['eval_key']}** ({metrics['type']})\n\n| metric | value |\n|---|---|\n"
    return header + "\n".join(rows)
