"""Run a Gemini task over a FiftyOne collection and write the answers back as labels.

This is the FiftyOne side of the engine (:mod:`.pipeline`): it picks the samples to process,
feeds their file paths to the engine, turns each answer into a label in the frame FiftyOne
displays, writes labels in bulk, records the run on the dataset, and evaluates against ground
truth when asked. Operators and the Python API both call :func:`run_task`.

Data safety: the output field is checked before anything is sent (never a ground-truth field,
never a field another tool wrote unless ``overwrite``); a failed sample keeps whatever it had and
gets a one-line reason in ``<label_field>_error``; finished samples are written in batches as
the run goes, so an interrupted run loses at most the last few seconds of answers — and even
those are in the response cache, so the rerun does not pay for them again.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import fiftyone as fo

from gemini_vision.adapters import runs
from gemini_vision.adapters.claims import LockBusy, WorkClaims
from gemini_vision.adapters.evaluation import (
    EVALUABLE_TYPES,
    check_evaluation,
    evaluate,
    ground_truth_types,
)
from gemini_vision.adapters.fields import (
    check_collection,
    check_output_field,
    check_semantic_field,
    classes_from_field,
    samples_to_process,
)
from gemini_vision.adapters.labels import to_label
from gemini_vision.adapters.mongo import (
    MongoBatchJournal,
    MongoResponseCache,
    MongoUploads,
    work_claims,
)
from gemini_vision.adapters.preview import CostPreview, preview_cost
from gemini_vision.adapters.work_source import claimed_items
from gemini_vision.adapters.writer import LabelWriter, semantic_classes
from gemini_vision.api import (
    AsyncGeminiClient,
    RetryPolicy,
    ShardedTransport,
    list_models,
    resolve_api_key,
)
from gemini_vision.catalog import DEFAULT_MODEL, price_for
from gemini_vision.engine.batch import BatchRunner, BatchSettings
from gemini_vision.engine.cache import ResponseCache
from gemini_vision.engine.pipeline import (
    Engine,
    EngineReport,
    EngineSettings,
    ItemOutcome,
    Progress,
    WorkItem,
    run_coroutine_sync,
)
from gemini_vision.engine.ratelimit import RateLimiter, RateLimitSettings
from gemini_vision.errors import ConfigurationError, RunStoppedError
from gemini_vision.images import DEFAULT_MAX_SIDE
from gemini_vision.tasks import TaskKind, TaskSpec

__all__ = [
    "EVALUABLE_TYPES",
    "CostPreview",
    "RunSettings",
    "RunSummary",
    "ask_about_samples",
    "check_collection",
    "check_evaluation",
    "check_output_field",
    "classes_from_field",
    "describe_summary",
    "evaluate",
    "ground_truth_types",
    "has_api_key",
    "list_models",
    "plugin_fields",
    "preview_cost",
    "run_task",
    "samples_to_process",
    "summary_variant",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSettings:
    """How to run: model, image size, concurrency and quotas, caching. Secrets are read from
    ``api_key`` / ``secrets`` / the environment and are never stored.

    ``mode``: ``"online"`` (concurrent requests, paced) or ``"batch"`` (Gemini Batch API jobs:
    half the price, results within hours; resumable). ``tier`` (``free``, ``tier1``...) picks
    the published quotas of ``model``; ``requests_per_minute`` / ``tokens_per_minute`` win over
    it. ``timeout``: seconds per HTTP request. ``lease_seconds``: how long a worker's claim on
    a sample survives without renewal (a crashed worker's samples go to others after that)."""

    model: str = DEFAULT_MODEL
    max_image_side: int | None = DEFAULT_MAX_SIDE
    overwrite: bool = False
    concurrency: int = 16
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    use_cache: bool = True
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    secrets: Mapping[str, Any] | None = field(default=None, repr=False)
    request_options: Mapping[str, Any] = field(default_factory=dict)
    mode: str = "online"
    tier: str | None = None
    timeout: float | None = None
    lease_seconds: float = 120.0
    retry: RetryPolicy | None = field(default=None, repr=False)
    batch: BatchSettings | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in ("online", "batch"):
            raise ConfigurationError(f"mode must be 'online' or 'batch', got {self.mode!r}")

    def public(self) -> dict[str, Any]:
        """The settings worth recording (no key, no secrets)."""
        hidden = ("api_key", "secrets", "base_url", "request_options", "retry", "batch")
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden}
        data["request_options"] = dict(self.request_options)
        return data


@dataclass
class RunSummary:
    label_field: str
    task: dict[str, Any]
    model: str
    total: int
    skipped: int
    report: dict[str, Any]
    run_key: str | None = None
    evaluation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ------------------------------------------------------------------------------------------------
# checks and helpers used by the operators' forms


def has_api_key(secrets: Mapping[str, Any] | None = None) -> bool:
    return resolve_api_key(None, secrets) is not None


def plugin_fields(dataset: fo.Dataset) -> set[str]:
    return set(runs.plugin_label_fields(dataset))


# ------------------------------------------------------------------------------------------------
# running


def _items(collection: Any, claims: WorkClaims | None = None) -> tuple[int, Iterator[WorkItem]]:
    """How many samples ``collection`` has, and its work items streamed page by page (only
    those this worker claimed, with ``claims``)."""
    return collection.count(), claimed_items(collection, claims)


def _engine(
    task: TaskSpec,
    settings: RunSettings,
    cache: ResponseCache | None,
    progress: Callable[[Progress], None] | None,
) -> tuple[Engine, AsyncGeminiClient]:
    quotas = RateLimitSettings.for_tier(
        settings.model,
        settings.tier,
        requests_per_minute=settings.requests_per_minute,
        tokens_per_minute=settings.tokens_per_minute,
    )
    limiter = RateLimiter(quotas)
    options: dict[str, Any] = {"timeout": settings.timeout} if settings.timeout else {}
    # 429s are retried by the engine, through the rate limiter (see pipeline.Engine._send)
    retry = settings.retry or RetryPolicy()
    retry = dataclasses.replace(retry, retry_statuses=retry.retry_statuses - {429})
    client = AsyncGeminiClient(
        settings.api_key,
        base_url=settings.base_url,
        secrets=settings.secrets,
        on_rate_limited=limiter.on_rate_limited,
        retry=retry,
        # a kept-alive connection per request in flight, in small pools (see http_pool)
        transport=ShardedTransport(settings.concurrency),
        **options,
    )
    engine_settings = EngineSettings(
        model=settings.model,
        max_image_side=settings.max_image_side,
        concurrency=settings.concurrency,
        rate_limits=quotas,
        request_options=dict(settings.request_options),
    )
    engine = Engine(
        client,
        task,
        engine_settings,
        cache=cache,
        limiter=limiter,
        on_progress=progress,
        uploads=MongoUploads() if settings.use_cache else None,
    )
    return engine, client


def _remove_empty_fields(dataset: fo.Dataset, fields: list[str]) -> None:
    """Deletes the fields of ``fields`` that hold no value (and their run records)."""
    empty = [f for f in fields if dataset.has_field(f) and not dataset.exists(f).count()]
    for field_name in empty:
        dataset.delete_sample_field(field_name)
        if dataset.has_run(runs.run_key_for(field_name)):
            dataset.delete_run(runs.run_key_for(field_name))


def run_task(
    collection: Any,
    task: TaskSpec,
    label_field: str,
    *,
    settings: RunSettings | None = None,
    semantic_field: str | None = None,
    gt_field: str | None = None,
    eval_key: str | None = None,
    progress: Callable[[Progress], None] | None = None,
    cache: ResponseCache | None = None,
) -> RunSummary:
    """Runs ``task`` on every sample of ``collection`` that needs it; writes ``label_field``.

    Returns the run's summary (also recorded on the dataset as run ``gemini_<label_field>``).
    With ``gt_field`` and ``eval_key``, evaluates the new labels against the ground truth.
    """
    settings = settings or RunSettings()
    check_collection(collection)
    dataset = collection._dataset
    check_output_field(
        dataset,
        label_field,
        task.kind,
        overwrite=settings.overwrite,
        gt_field=gt_field,
        multi_label=task.multi_label,
    )
    if semantic_field:
        if task.kind is not TaskKind.SEGMENT:
            raise ConfigurationError("a semantic field only applies to segmentation")
        check_semantic_field(
            dataset, semantic_field, label_field, overwrite=settings.overwrite, gt_field=gt_field
        )
    class_to_index = semantic_classes(collection, task, gt_field) if semantic_field else None
    if cache is None and settings.use_cache:
        cache = MongoResponseCache()
    todo = samples_to_process(collection, label_field, settings.overwrite)
    started = time.time()
    run_config = {
        "task": task.to_dict(),
        "task_fingerprint": task.fingerprint(),
        "model": settings.model,
        "settings": settings.public(),
        "semantic_field": semantic_field,
        "started_at": started,
    }
    semantic_config = {
        "task": task.to_dict(),
        "model": settings.model,
        "instances_field": label_field,
    }
    engine, client = _engine(task, settings, cache, progress)
    # workers writing the same field of the same dataset (several delegated operations of one
    # job) share one set of claims; the lock serialises their changes to the dataset itself
    group = f"{dataset._doc.id}/{label_field}"

    async def go(run: Callable[[], Awaitable[EngineReport]]) -> EngineReport:
        async with client:
            return await run()

    # a crashed holder's lock expires with its lease: waiting a little longer always gets it
    lock_wait = 1.5 * settings.lease_seconds
    with work_claims(group, lease_seconds=settings.lease_seconds) as claims:
        with claims.exclusive("dataset", wait=lock_wait):
            dataset.reload()
            outputs = (label_field, f"{label_field}_error", semantic_field)
            created = [f for f in outputs if f and not dataset.has_field(f)]
            # provisional records: a concurrent worker must see the new fields as ours
            if not dataset.has_field(label_field):
                runs.record_run(dataset, label_field, run_config, {"state": "running"})
            if semantic_field and not dataset.has_field(semantic_field):
                runs.record_run(dataset, semantic_field, semantic_config, {"state": "running"})
            writer = LabelWriter(dataset, task, label_field, semantic_field, class_to_index)
        if settings.mode == "batch":
            batch = BatchRunner(
                client,
                task,
                engine.settings,
                settings.batch or BatchSettings(),
                journal=MongoBatchJournal(),
                group=f"{group}/{task.fingerprint()}/{settings.model}",
                cache=cache,
                uploads=engine.builder.uploads,
                on_progress=progress,
            )
            # one batch worker per job: a second one would submit the same samples again; a
            # crashed one's lock expires with its lease, so a restart waits that long at most
            try:
                with claims.exclusive("batch", wait=lock_wait):
                    report = run_coroutine_sync(
                        lambda: go(lambda: batch.run(lambda: _items(todo), writer))
                    )
            except LockBusy:
                report = batch.report()
                report.progress.stopped_reason = (
                    "another worker is already running this field's batch jobs; nothing to do"
                )
            total = report.progress.total or 0
        else:
            # workers of one group share the project's quota
            claims.on_workers = lambda workers: engine.limiter.set_share(1 / workers)
            engine.limiter.set_share(1 / claims.live_workers())
            total, items = _items(todo, claims)

            def sink(outcomes: list[ItemOutcome]) -> None:
                writer(outcomes)
                claims.complete(outcome.key for outcome in outcomes)

            report = run_coroutine_sync(
                lambda: go(lambda: engine.run(items, sink, total=total, convert=writer.convert))
            )
        skipped = collection.count() - total
        summary = RunSummary(
            label_field=label_field,
            task=task.to_dict(),
            model=settings.model,
            total=collection.count(),
            skipped=skipped,
            report=report.to_dict(),
        )
        results = dict(summary.report, total=summary.total, skipped=skipped)
        # nothing was labelled and nothing could be (key, model, quota): an error, not a quiet
        # empty run, and it leaves no empty fields behind
        refused = report.progress.refused and not report.progress.ok
        with claims.exclusive("dataset", wait=lock_wait):
            dataset.reload()
            if refused and claims.live_workers() <= 1:  # a co-worker may be writing them
                _remove_empty_fields(dataset, created)
            elif semantic_field:
                targets = writer.mask_targets()
                if targets:
                    dataset.mask_targets = dict(dataset.mask_targets, **{semantic_field: targets})
                    dataset.save()
            if dataset.has_field(label_field):
                summary.run_key = runs.record_run(dataset, label_field, run_config, results)
            if semantic_field and dataset.has_field(semantic_field):
                runs.record_run(dataset, semantic_field, semantic_config, results)
    if refused:
        raise RunStoppedError(report.progress.stopped_reason or "the run stopped")
    if gt_field and eval_key and report.progress.ok:
        pred_field = label_field
        gt_type = getattr(dataset.get_field(gt_field), "document_type", None)
        if gt_type is fo.Segmentation and semantic_field:
            pred_field = semantic_field
        try:
            summary.evaluation = evaluate(collection, pred_field, gt_field, eval_key)
        except ConfigurationError as exc:  # the labels are written; say why there is no score
            logger.warning("Evaluation '%s' skipped: %s", eval_key, exc)
            summary.evaluation = {"eval_key": eval_key, "error": str(exc)}
    return summary


def summary_variant(summary: Mapping[str, Any] | None) -> str:
    """The App notification's variant: ``error`` when the run stopped (bad key, unknown model,
    quota), ``warning`` when samples failed, answers were incomplete or masks missing, else
    ``success``."""
    report = (summary or {}).get("report", {})
    if report.get("stopped_reason"):
        return "error"
    flawed = report.get("failed") or report.get("incomplete") or report.get("objects_without_mask")
    return "warning" if flawed else "success"


def describe_summary(summary: Mapping[str, Any] | None) -> str:
    """One line for the App's notification."""
    if not summary:
        return "Done"
    report = summary.get("report", {})
    cost = price_for(summary.get("model", DEFAULT_MODEL)).cost(
        report.get("input_tokens", 0), report.get("output_tokens", 0)
    )
    text = (
        f"{report.get('labelled', 0)} labelled, {report.get('failed', 0)} failed, "
        f"{summary.get('skipped', 0)} skipped in '{summary.get('label_field')}' "
        f"(~${cost:.4f}, {report.get('duration_seconds', 0):.0f} s)"
    )
    if report.get("incomplete"):
        text += (
            f". {report['incomplete']} answer(s) were cut short (at the output limit, or "
            f"broken JSON) and kept only their complete objects "
            f"({summary.get('label_field')}.incomplete says why)"
        )
    if report.get("objects_without_mask"):
        text += (
            f". {report['objects_without_mask']} object(s) came without a usable mask (box "
            f"only; the reason is in {summary.get('label_field')}.detections.mask_error)"
        )
    if report.get("stopped_reason"):
        text += f". Stopped: {report['stopped_reason']}"
    evaluation = summary.get("evaluation")
    if evaluation:
        metrics = ", ".join(
            f"{k} {evaluation[k]:.3f}"
            for k in ("precision", "recall", "accuracy", "mAP")
            if isinstance(evaluation.get(k), float)
        )
        result = f"not computed ({evaluation['error']})" if "error" in evaluation else metrics
        text += f". Evaluation '{evaluation['eval_key']}': {result}"
    return text


# ------------------------------------------------------------------------------------------------
# one multi-image question


def ask_about_samples(
    collection: Any, question: str, *, settings: RunSettings | None = None
) -> dict[str, Any]:
    """Sends every image of ``collection`` in one request with ``question``; keeps the answer
    in ``dataset.info["gemini_answers"]`` and returns it."""
    settings = settings or RunSettings()
    check_collection(collection)
    ids, paths = collection.values(["id", "filepath"])
    if not ids:
        raise ConfigurationError("no samples to ask about: select some samples first")
    task = TaskSpec(kind=TaskKind.COMPARE, question=question)
    engine, client = _engine(task, settings, None, None)

    async def go() -> ItemOutcome:
        async with client:
            return await engine.answer(paths)

    outcome = run_coroutine_sync(go)
    if outcome.status != "ok":
        raise ConfigurationError(f"Gemini could not answer: {outcome.error}")
    answer = to_label(TaskKind.COMPARE, outcome.answer, (0, 0))
    record = {
        "question": question,
        "answer": answer,
        "model": settings.model,
        "sample_ids": list(ids),
        "input_tokens": outcome.input_tokens,
        "output_tokens": outcome.output_tokens,
        "asked_at": time.time(),
    }
    dataset = collection._dataset
    dataset.reload()
    history = list(dataset.info.get("gemini_answers", []))[-49:]
    dataset.info["gemini_answers"] = [*history, record]
    dataset.save()
    return {
        "question": question,
        "answer": answer,
        "model": settings.model,
        "num_images": len(ids),
    }
