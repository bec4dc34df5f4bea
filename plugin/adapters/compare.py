"""Choose between models and prompts on your own data: one task, 2-4 variants, one table.

:func:`compare_models` runs the same task with each :class:`Variant` (a model, a prompt, an
image size, a thinking budget) on the same view, each into its own field
(``<prefix>_<variant>``) and evaluated against the ground truth under its own evaluation key
(the same name), so every pair can also be compared in the App's Model Evaluation panel. The
variants share prepared images (each decoded and resized once) and the response cache: a
variant whose requests are identical to another's is answered from it, never sent twice.
The result - per variant and per class precision, recall, F1 (mAP and mean matched IoU where
they apply), failures, tokens, cost and wall time - is returned, kept in
``dataset.info["gemini_comparisons"]`` and shown by the operator.

``dry_run=True`` only estimates the cost of the whole comparison (identical variants counted
once; output tokens from the ground truth's object counts where the task is spatial).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import time
from dataclasses import dataclass, field
from typing import Any

from gemini_vision.adapters.fields import check_collection
from gemini_vision.adapters.preview import CostPreview, preview_cost, typical_output_tokens
from gemini_vision.adapters.runner import check_run, run_task
from gemini_vision.catalog import estimate_text_tokens, price_for
from gemini_vision.engine import PreparedImages
from gemini_vision.errors import ConfigurationError
from gemini_vision.settings import RunSettings
from gemini_vision.tasks import TaskKind, TaskSpec

__all__ = ["COMPARISONS_KEY", "Comparison", "Variant", "compare_models"]

#: where comparisons are kept: ``dataset.info[COMPARISONS_KEY]``, the last 20
COMPARISONS_KEY = "gemini_comparisons"
_KEPT = 20
_EVALUABLE = (TaskKind.DETECT, TaskKind.SEGMENT, TaskKind.POINT, TaskKind.CLASSIFY)
#: one object of each spatial answer, as the task's schema asks for it (the label is filled in
#: with a typical class name); segmentation adds a mask, about 950 base64 characters in Google's
#: recorded answers
_ENTRY = {
    TaskKind.DETECT: '{{"box_2d": [500, 500, 500, 500], "label": "{label}"}}, ',
    TaskKind.POINT: '{{"point": [500, 500], "label": "{label}"}}, ',
    TaskKind.SEGMENT: '{{"box_2d": [500, 500, 500, 500], "mask": "data:image/png;base64,'
    + "A" * 950
    + '", "label": "{label}"}}, ',
}


@dataclass(frozen=True)
class Variant:
    """One way to run the task: ``name`` (a field-name suffix) and what differs from the
    run's settings - ``model``, ``prompt`` (the task's instruction), ``max_image_side``
    (0: full size), ``thinking_budget`` (Gemini 2.5; -1: the model decides)."""

    name: str
    model: str | None = None
    prompt: str | None = None
    max_image_side: int | None = None
    thinking_budget: int | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ConfigurationError(
                f"variant name {self.name!r} must be a name like 'flash' or 'pro_v2' (letters, "
                "digits, underscores)"
            )

    def apply(self, task: TaskSpec, settings: RunSettings) -> tuple[TaskSpec, RunSettings]:
        """The task and settings this variant runs with."""
        if self.prompt and task.kind.spatial:
            task = dataclasses.replace(task, target=self.prompt)
        elif self.prompt:
            task = dataclasses.replace(task, prompt=self.prompt)
        options = dict(settings.request_options)
        if self.thinking_budget is not None:
            options["thinking_budget"] = self.thinking_budget
        changes: dict[str, Any] = {"request_options": options}
        if self.model:
            changes["model"] = self.model
        if self.max_image_side is not None:
            changes["max_image_side"] = self.max_image_side or None
        return task, dataclasses.replace(settings, **changes)


@dataclass
class VariantResult:
    """What one variant did: its field and evaluation, metrics, counts, tokens, cost, time."""

    name: str
    model: str
    label_field: str
    eval_key: str
    estimated_cost_usd: float
    labelled: int = 0
    failed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    from_cache: int = 0
    wall_seconds: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class Comparison:
    """Every variant's result, and the estimate of the whole comparison."""

    task: dict[str, Any]
    gt_field: str
    samples: int
    estimated_cost_usd: float
    variants: list[VariantResult]
    dry_run: bool = False
    #: images decoded and resized, and images the later variants reused
    images_prepared: int = 0
    images_reused: int = 0
    created_at: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat())

    @property
    def cost_usd(self) -> float:
        return sum(v.cost_usd for v in self.variants)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self), default=str))

    def markdown(self) -> str:
        """One table: a row per variant, then a row per (class, variant)."""
        if self.dry_run:
            rows = [
                f"| {v.name} | {v.model} | ${v.estimated_cost_usd:.4f} |" for v in self.variants
            ]
            head = "| variant | model | estimated cost |\n|---|---|---|"
            total = f"**Estimated cost of the comparison: ${self.estimated_cost_usd:.4f}**"
            return "\n".join([head, *rows, "", total])
        head = (
            "| variant | model | precision | recall | F1 | mAP | failed | tokens (in/out) | "
            "cost | time |\n|---|---|---|---|---|---|---|---|---|---|"
        )
        rows = [
            f"| {v.name} | {v.model} | {_num(v.metrics.get('precision'))} | "
            f"{_num(v.metrics.get('recall'))} | {_num(v.metrics.get('fscore'))} | "
            f"{_num(v.metrics.get('mAP'))} | {v.failed} | "
            f"{v.input_tokens:,}/{v.output_tokens:,} | ${v.cost_usd:.4f}"
            f"{' (cache: ' + str(v.from_cache) + ')' if v.from_cache else ''} | "
            f"{v.wall_seconds:.1f} s |"
            for v in self.variants
        ]
        classes = sorted({c for v in self.variants for c in v.per_class})
        per_class = ["", "| class | " + " | ".join(v.name for v in self.variants) + " |"]
        per_class.append("|---|" + "---|" * len(self.variants))
        for name in classes:
            cells = []
            for v in self.variants:
                row = v.per_class.get(name, {})
                cells.append(
                    f"P {_num(row.get('precision'))} R {_num(row.get('recall'))} "
                    f"F1 {_num(row.get('f1-score'))}"
                )
            per_class.append(f"| {name} | " + " | ".join(cells) + " |")
        return "\n".join([head, *rows, *(per_class if classes else [])])


def _num(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "-"


def compare_models(
    collection: Any,
    task: TaskSpec,
    variants: list[Variant],
    gt_field: str,
    *,
    settings: RunSettings | None = None,
    prefix: str = "compare",
    dry_run: bool = False,
) -> Comparison:
    """Runs ``task`` once per variant on ``collection`` and compares them against
    ``gt_field`` (see the module docstring). Everything is checked before anything is sent."""
    # the variants share the response cache (through the database) and prepared images
    memo = PreparedImages()
    settings = dataclasses.replace(settings or RunSettings(), overwrite=True, prepared_images=memo)
    runs = _check(collection, task, variants, gt_field, settings, prefix)
    estimates = _estimates(collection, runs, gt_field)
    results = [
        VariantResult(
            name=variant.name,
            model=v_settings.model,
            label_field=f"{prefix}_{variant.name}",
            eval_key=f"{prefix}_{variant.name}",
            estimated_cost_usd=estimate,
        )
        for (variant, _, v_settings), estimate in zip(runs, estimates, strict=True)
    ]
    comparison = Comparison(
        task=task.to_dict(),
        gt_field=gt_field,
        samples=collection.count(),
        estimated_cost_usd=sum(estimates),
        variants=results,
        dry_run=dry_run,
    )
    if dry_run:
        return comparison
    for (_, v_task, v_settings), result in zip(runs, results, strict=True):
        started = time.monotonic()
        summary = run_task(
            collection,
            v_task,
            result.label_field,
            settings=v_settings,
            gt_field=gt_field,
            eval_key=result.eval_key,
        )
        _record(result, summary, collection, time.monotonic() - started)
    comparison.images_prepared, comparison.images_reused = memo.misses, memo.hits
    _keep(collection._dataset, comparison)
    return comparison


def _check(
    collection: Any,
    task: TaskSpec,
    variants: list[Variant],
    gt_field: str,
    settings: RunSettings,
    prefix: str,
) -> list[tuple[Variant, TaskSpec, RunSettings]]:
    check_collection(collection)
    if not 2 <= len(variants) <= 4:
        raise ConfigurationError(f"compare 2 to 4 variants, got {len(variants)}")
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ConfigurationError(f"variant names must differ: {names}")
    if task.kind not in _EVALUABLE:
        raise ConfigurationError(
            f"a {task.kind.value} task cannot be scored against ground truth: compare detect, "
            "segment, point or classify"
        )
    if not collection._dataset.has_field(gt_field):
        raise ConfigurationError(f"ground-truth field {gt_field!r} does not exist")
    runs = []
    for variant in variants:
        v_task, v_settings = variant.apply(task, settings)
        field_name = f"{prefix}_{variant.name}"
        check_run(collection, v_task, field_name, v_settings, None, gt_field, field_name)
        runs.append((variant, v_task, v_settings))
    return runs


def _estimates(
    collection: Any, runs: list[tuple[Variant, TaskSpec, RunSettings]], gt_field: str
) -> list[float]:
    """The estimated cost of each variant; a variant asking exactly what an earlier one
    asks costs nothing (the cache answers it)."""
    seen: set[str] = set()
    objects = _objects_per_sample(collection, gt_field)
    costs = []
    for variant, v_task, v_settings in runs:
        fingerprint = json.dumps(
            [
                v_task.to_dict(),
                v_settings.model,
                v_settings.max_image_side,
                dict(v_settings.request_options),
            ],
            sort_keys=True,
            default=str,
        )
        if fingerprint in seen:
            costs.append(0.0)
            continue
        seen.add(fingerprint)
        preview = preview_cost(collection, v_task, f"__preview_{variant.name}", v_settings)
        costs.append(_with_known_objects(preview, v_task, v_settings, objects))
    return costs


def _objects_per_sample(collection: Any, gt_field: str) -> float | None:
    """The ground truth's mean number of objects per sample (None: not a list of objects)."""
    for path in (f"{gt_field}.detections", f"{gt_field}.keypoints"):
        try:
            counts = collection.values(path)
        except (ValueError, KeyError, AttributeError):
            continue
        if counts:
            return sum(len(c or ()) for c in counts) / len(counts)
    return None


def _with_known_objects(
    preview: CostPreview, task: TaskSpec, settings: RunSettings, objects: float | None
) -> float:
    """The preview's cost, with the spatial answers' output tokens counted from what they
    will hold - the ground truth's number of objects per image, each an entry of the task's
    schema, at the token rule used for every text (:func:`estimate_text_tokens`) - instead
    of a typical answer."""
    entry = _ENTRY.get(task.kind)
    if entry is None or objects is None:
        return preview.cost_usd
    labels = task.classes or ("object",)
    label = max(labels, key=len) if len(labels) < 3 else sorted(labels, key=len)[len(labels) // 2]
    per_object = estimate_text_tokens(entry.format(label=label))
    answer = 2 + per_object * min(task.max_objects, objects)  # the list's brackets
    typical = preview.output_tokens / max(1, preview.to_process)
    thinking = typical - typical_output_tokens(task)  # what the preview adds for thinking
    output = round(preview.to_process * (answer + max(0.0, thinking)))
    return price_for(settings.model).cost(preview.input_tokens, output)


def _record(result: VariantResult, summary: Any, collection: Any, seconds: float) -> None:
    report = summary.report
    result.labelled = int(report.get("labelled", 0))
    result.failed = int(report.get("failed", 0))
    result.input_tokens = int(report.get("input_tokens", 0))
    result.output_tokens = int(report.get("output_tokens", 0))
    result.cost_usd = float(report.get("cost_usd", 0.0))
    result.from_cache = int(report.get("from_cache", 0))
    result.wall_seconds = round(seconds, 2)
    evaluation = summary.evaluation or {}
    keep = (
        "precision",
        "recall",
        "fscore",
        "mAP",
        "mean_matched_iou",
        "accuracy",
        "tp",
        "fp",
        "fn",
    )
    result.metrics = {k: evaluation.get(k) for k in keep if evaluation.get(k) is not None}
    try:
        report_by_class = collection.load_evaluation_results(result.eval_key).report()
    except Exception:  # a segmentation's results have no per-class report
        report_by_class = {}
    result.per_class = {
        str(name): {k: float(v) for k, v in row.items() if isinstance(v, int | float)}
        for name, row in report_by_class.items()
        if isinstance(row, dict) and name not in ("micro avg", "macro avg", "weighted avg")
    }


def _keep(dataset: Any, comparison: Comparison) -> None:
    dataset.reload()
    kept = list(dataset.info.get(COMPARISONS_KEY, []))[-(_KEPT - 1) :]
    dataset.info[COMPARISONS_KEY] = [*kept, comparison.to_dict()]
    dataset.save()
