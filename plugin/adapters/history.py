"""A dataset's Gemini runs, read back from their run records: history, spending, the views a
user reviews a run through, and deleting a run with only what the plugin created.

Every label field the plugin writes has a run record ``gemini_<field>`` (see
:mod:`gemini_vision.adapters.runs`): its config says what was asked (task, model, prompt), its
results the latest invocation's counts, tokens, cost and stop reason, and earlier invocations.
Delegated runs still queued or running are read from FiftyOne's delegated operations.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import fiftyone as fo
from fiftyone import ViewField as F

from gemini_vision.adapters import runs
from gemini_vision.errors import ConfigurationError

__all__ = [
    "PLUGIN_URI",
    "RunEntry",
    "Spending",
    "active_operations",
    "delete_run",
    "failures_view",
    "flawed_view",
    "run_evaluations",
    "run_history",
    "sample_results",
    "spending",
]

logger = logging.getLogger(__name__)

#: the plugin whose delegated operations count as this dataset's Gemini runs
PLUGIN_URI = "@gemini-vision/gemini"


@dataclass(frozen=True)
class RunEntry:
    """One label field the plugin wrote, as its run record tells it (latest invocation)."""

    label_field: str
    task: str
    model: str
    prompt: str
    finished_at: str | None
    labelled: int
    failed: int
    incomplete: int
    objects_without_mask: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    #: "finished", "stopped" (then ``stopped_reason`` says why) or "running"
    status: str
    stopped_reason: str | None
    #: how many times the plugin ran into this field (the latest included)
    invocations: int
    #: the semantic field composed from these instances, if any
    semantic_field: str | None
    #: evaluations of this field (keys), newest last
    eval_keys: tuple[str, ...]
    #: samples of the latest invocation answered from the response cache (at no cost)
    from_cache: int = 0


@dataclass(frozen=True)
class Spending:
    """Tokens and cost of every recorded invocation on a dataset, in all and per model."""

    input_tokens: int
    output_tokens: int
    cost_usd: float
    invocations: int
    by_model: dict[str, dict[str, float]]


def run_history(dataset: fo.Dataset) -> list[RunEntry]:
    """The plugin's runs on ``dataset``, newest first (fields whose run is still under way
    first of all)."""
    entries = []
    for field, config in runs.plugin_label_fields(dataset).items():
        if config.get("instances_field"):
            continue  # a semantic field: shown with the instances it was composed from
        record = runs.load_summary(dataset, field) or {}
        entries.append(_entry(dataset, field, config, record))
    return sorted(
        entries, key=lambda e: (e.status == "running", e.finished_at or ""), reverse=True
    )


def _entry(
    dataset: fo.Dataset, field: str, config: dict[str, Any], record: dict[str, Any]
) -> RunEntry:
    latest = record.get("latest") or {}
    task = config.get("task") or {}
    # no results yet: the record is being written (a run starting or finishing)
    running = latest.get("state") == "running" or not latest
    reason = latest.get("stopped_reason")
    return RunEntry(
        label_field=field,
        task=str(task.get("kind", "")),
        model=str(config.get("model", "")),
        prompt=str(task.get("prompt") or ""),
        finished_at=None if running else latest.get("finished_at"),
        labelled=int(latest.get("labelled", 0)),
        failed=int(latest.get("failed", 0)),
        incomplete=int(latest.get("incomplete", 0)),
        objects_without_mask=int(latest.get("objects_without_mask", 0)),
        input_tokens=int(latest.get("input_tokens", 0)),
        output_tokens=int(latest.get("output_tokens", 0)),
        cost_usd=float(latest.get("cost_usd", 0.0)),
        status="running" if running else ("stopped" if reason else "finished"),
        stopped_reason=reason,
        invocations=len(record.get("history") or []) + (0 if running else 1),
        semantic_field=config.get("semantic_field"),
        eval_keys=tuple(run_evaluations(dataset, field)),
        from_cache=int(latest.get("from_cache", 0)),
    )


def spending(dataset: fo.Dataset) -> Spending:
    """What every recorded invocation on ``dataset`` cost (the latest and the history of each
    field, semantic fields excluded: they share their instances' requests)."""
    by_model: dict[str, dict[str, float]] = defaultdict(
        lambda: {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "invocations": 0}
    )
    for field, config in runs.plugin_label_fields(dataset).items():
        if config.get("instances_field"):
            continue
        record = runs.load_summary(dataset, field) or {}
        invocations = [*(record.get("history") or []), record.get("latest") or {}]
        for invocation in invocations:
            if invocation.get("state") == "running" or not invocation:
                continue
            totals = by_model[str(config.get("model", ""))]
            totals["input_tokens"] += invocation.get("input_tokens", 0)
            totals["output_tokens"] += invocation.get("output_tokens", 0)
            totals["cost_usd"] += invocation.get("cost_usd", 0.0)
            totals["invocations"] += 1
    models = dict(sorted(by_model.items()))
    return Spending(
        input_tokens=int(sum(t["input_tokens"] for t in models.values())),
        output_tokens=int(sum(t["output_tokens"] for t in models.values())),
        cost_usd=round(sum(t["cost_usd"] for t in models.values()), 6),
        invocations=int(sum(t["invocations"] for t in models.values())),
        by_model=models,
    )


def run_evaluations(dataset: fo.Dataset, label_field: str) -> list[str]:
    """The evaluation keys whose predictions are ``label_field`` (or its semantic field)."""
    keys = []
    for key in dataset.list_evaluations():
        try:
            pred_field = getattr(dataset.get_evaluation_info(key).config, "pred_field", None)
        except Exception:  # an evaluation another tool left half-written
            logger.debug("Evaluation %s could not be read", key, exc_info=True)
            continue
        if pred_field == label_field:
            keys.append(key)
    return keys


def failures_view(dataset: fo.Dataset, label_field: str) -> fo.DatasetView:
    """The samples whose latest answer for ``label_field`` failed (their reason in
    ``<label_field>_error``); an empty view when none failed."""
    error_field = f"{label_field}_error"
    if not dataset.has_field(error_field):
        return dataset.limit(0)
    return dataset.exists(error_field)


def flawed_view(dataset: fo.Dataset, label_field: str) -> fo.DatasetView:
    """The samples of ``label_field`` labelled from an incomplete answer, or with objects
    whose mask could not be used."""
    _require_run(dataset, label_field)
    incomplete = F(f"{label_field}.incomplete").exists()
    if dataset.has_field(f"{label_field}.detections"):
        unmasked = F(f"{label_field}.detections").filter(F("mask_error").exists()).length() > 0
        return dataset.match(incomplete | unmasked)
    return dataset.match(incomplete)


def delete_run(dataset: fo.Dataset, label_field: str) -> list[str]:
    """Deletes what the plugin's run into ``label_field`` created: the label field, its error
    field, its semantic field, the evaluations of those fields and their run records. Never
    a field the plugin did not create. Returns the fields deleted."""
    config = _require_run(dataset, label_field)
    semantic = config.get("semantic_field")
    fields = [label_field, f"{label_field}_error"]
    if semantic and semantic in runs.plugin_label_fields(dataset):
        fields.append(semantic)
    for field in (label_field, semantic):
        for key in run_evaluations(dataset, field) if field else []:
            dataset.delete_evaluation(key)
    deleted = [field for field in fields if dataset.has_field(field)]
    for field in deleted:
        dataset.delete_sample_field(field)
    for field in (label_field, semantic):
        if field and dataset.has_run(runs.run_key_for(field)):
            dataset.delete_run(runs.run_key_for(field))
    if semantic and semantic in dataset.mask_targets:
        dataset.mask_targets = {k: v for k, v in dataset.mask_targets.items() if k != semantic}
        dataset.save()
    return deleted


def _require_run(dataset: fo.Dataset, label_field: str) -> dict[str, Any]:
    config = runs.plugin_label_fields(dataset).get(label_field)
    if config is None:
        raise ConfigurationError(
            f"'{label_field}' was not written by Gemini Vision on dataset '{dataset.name}'; "
            "nothing of it is changed"
        )
    return config


def active_operations(dataset: fo.Dataset) -> list[dict[str, Any]]:
    """The plugin's delegated operations on ``dataset`` still queued or running: operator,
    output field, state and progress (0-1, or None before the first report)."""
    from fiftyone.operators.delegated import DelegatedOperationService

    active = []
    service = DelegatedOperationService()
    for state in ("queued", "running"):
        for op in service.list_operations(dataset_name=dataset.name, run_state=state):
            if not str(op.operator).startswith(PLUGIN_URI):
                continue
            params = (op.context.request_params or {}).get("params", {}) if op.context else {}
            status = getattr(op, "status", None)
            active.append(
                {
                    "operator": str(op.operator).rsplit("/", 1)[-1],
                    "label_field": params.get("label_field"),
                    "state": state,
                    "progress": getattr(status, "progress", None) if status else None,
                    "label": getattr(status, "label", None) if status else None,
                }
            )
    return active


def sample_results(dataset: fo.Dataset, sample_id: str) -> list[tuple[str, str]]:
    """(field, what it holds for this sample) for each of the plugin's label fields, newest
    run first: the labels in a few words, the reason it failed, or that it was not run."""
    sample = dataset[sample_id]
    results = []
    for entry in run_history(dataset):
        field = entry.label_field
        value = sample[field] if dataset.has_field(field) else None
        error_field = f"{field}_error"
        error = sample[error_field] if dataset.has_field(error_field) else None
        if value is None:
            results.append((field, f"failed: {error}" if error else "not labelled"))
        else:
            results.append((field, _in_words(value)))
    return results


def _in_words(value: Any) -> str:
    """A label in a few words: what the panel shows for one sample."""
    if isinstance(value, str):
        return value if len(value) <= 120 else value[:117] + "..."
    if isinstance(value, fo.Detections):
        labels = sorted({d.label for d in value.detections if d.label})
        shown = ", ".join(labels[:6]) + (", ..." if len(labels) > 6 else "")
        return f"{len(value.detections)} object(s)" + (f": {shown}" if shown else "")
    if isinstance(value, fo.Keypoints):
        return f"{len(value.keypoints)} point(s)"
    if isinstance(value, fo.Classification):
        return str(value.label)
    if isinstance(value, fo.Classifications):
        return ", ".join(str(c.label) for c in value.classifications) or "no class"
    if isinstance(value, fo.Segmentation):
        return "a segmentation mask"
    return type(value).__name__
