"""Run a Gemini task over a FiftyOne collection and write the answers back as labels.

This is the FiftyOne side of the engine (:mod:`gemini_vision.engine`): it picks the samples to
process, feeds their file paths to the engine, turns each answer into a label in the frame
FiftyOne displays, writes labels in bulk, records the run on the dataset, and evaluates against
ground truth when asked. Operators and the Python API both call :func:`run_task`.

Data safety: the output field is checked before anything is sent (never a ground-truth field,
never a field another tool wrote unless ``overwrite``); a failed sample keeps whatever it had and
gets a one-line reason in ``<label_field>_error``; finished samples are written in batches as
the run goes, so an interrupted run loses at most the last few seconds of answers - and even
those are in the response cache, so the rerun does not pay for them again.

Workers writing the same field of the same dataset (several delegated operations of one job)
share one set of claims (:mod:`gemini_vision.adapters.claims`); its ``dataset`` lock serialises
their changes to the dataset itself.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import fiftyone as fo

from gemini_vision.adapters import runs
from gemini_vision.adapters.claims import WorkClaims
from gemini_vision.adapters.evaluation import check_eval_key, evaluate
from gemini_vision.adapters.fields import (
    check_collection,
    check_output_field,
    check_semantic_field,
    is_object_view,
    samples_to_process,
)
from gemini_vision.adapters.labels import LabelWriter, semantic_classes
from gemini_vision.adapters.mongo import (
    MongoBatchJournal,
    MongoResponseCache,
    MongoUploads,
    database_errors,
    database_reachable,
    work_claims,
)
from gemini_vision.adapters.objects import OBJECT_TASKS, run_on_frames, run_on_patches
from gemini_vision.adapters.summary import RunSummary
from gemini_vision.adapters.work_source import claimed_items
from gemini_vision.engine import (
    Engine,
    EngineReport,
    ItemOutcome,
    Progress,
    ResponseCache,
    check_access,
    one_line,
    open_batch,
    open_engine,
    run_coroutine_sync,
)
from gemini_vision.errors import ConfigurationError, LockBusyError, RunStoppedError
from gemini_vision.settings import RunSettings
from gemini_vision.tasks import TaskKind, TaskSpec

__all__ = ["RunSettings", "RunSummary", "check_run", "run_task"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


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
    cancel: threading.Event | None = None,
) -> RunSummary:
    """Runs ``task`` on every sample of ``collection`` that needs it; writes ``label_field``.

    1. Checks the outputs before anything is sent: never a ground-truth field or one another
       tool wrote (unless ``settings.overwrite``); a semantic field needs a vocabulary.
    2. Labels the samples still to do, online or as Batch API jobs, writing as answers arrive.
    3. Finishes: records the run on the dataset as ``gemini_<label_field>``, or removes the
       fields it created when nothing could be labelled (then raises ``RunStoppedError``).
    4. Evaluates the new labels against ``gt_field`` under ``eval_key`` when both are given.

    Setting ``cancel`` (from any thread) stops an online run: nothing more is sent, the
    answers in flight are stored, and the run is recorded as stopped. Returns the run's summary.
    """
    settings = settings or RunSettings()
    if is_object_view(collection):  # patches or frames: results go to the source samples
        return _run_on_objects(
            collection, task, label_field, settings, progress, gt_field, eval_key
        )
    with database_errors():  # the database going away stops the run, said in one line
        run = check_run(
            collection, task, label_field, settings, semantic_field, gt_field, eval_key
        )
        assert run is not None  # (object views went their own way above)
        check_access(settings)  # Vertex AI: credentials, project and location, for free
        if cache is None and run.settings.use_cache:
            cache = MongoResponseCache(dataset_id=str(run.dataset._doc.id))
        uploads = MongoUploads() if run.settings.use_cache else None
        engine = open_engine(task, settings, cache=cache, uploads=uploads, on_progress=progress)
        report, summary = _run_under_claims(run, engine, cache, cancel)
    if report.progress.refused and not report.progress.ok:
        raise RunStoppedError(report.progress.stopped_reason or "the run stopped")
    if gt_field and eval_key and report.progress.ok:
        summary.evaluation = _evaluate(run, gt_field, eval_key)
    return summary


def _run_under_claims(
    run: _Run, engine: Engine, cache: ResponseCache | None, cancel: threading.Event | None
) -> tuple[EngineReport, RunSummary]:
    """Labels the samples under this worker's claims, then records the run."""
    with work_claims(run.group, lease_seconds=run.settings.lease_seconds) as claims:
        writer, created = _open_outputs(run, claims)
        if run.settings.mode == "batch":
            report = _label_in_batches(run, engine, cache, writer, claims)
        else:
            report = _label_online(run, engine, writer, claims, cancel)
        return report, _finish(run, report, writer, created, claims)


def _run_on_objects(
    collection: Any,
    task: TaskSpec,
    label_field: str,
    settings: RunSettings,
    progress: Callable[[Progress], None] | None,
    gt_field: str | None,
    eval_key: str | None,
) -> RunSummary:
    """A run on a patches or frames view; with ``gt_field`` and ``eval_key``, the source
    samples the patches came from are evaluated (frames: refused, say how instead)."""
    check_object_run(collection, task)
    if collection._is_frames and gt_field:
        raise ConfigurationError(
            "a frames view's labels are written on the videos' frames: evaluate them on the "
            f"video dataset, e.g. dataset.evaluate_detections('frames.{label_field}', "
            f"gt_field='frames.{gt_field}')"
        )
    with database_errors():
        if collection._is_frames:
            return run_on_frames(
                collection, task, label_field, settings=settings, progress=progress
            )
        summary = run_on_patches(
            collection, task, label_field, settings=settings, progress=progress
        )
        if gt_field and eval_key and summary.report.get("labelled"):
            source = collection._source_collection
            touched = source.select(collection.distinct("sample_id"))
            summary.evaluation = evaluate(touched, label_field, gt_field, eval_key)
        return summary


def check_object_run(collection: Any, task: TaskSpec) -> None:
    """What a run on a patches or frames view refuses (see :mod:`.objects`)."""
    check_collection(collection, object_views=True)
    if collection._is_frames and task.kind not in OBJECT_TASKS | {TaskKind.CAPTION, TaskKind.ASK}:
        raise ConfigurationError(f"a {task.kind.value} task cannot run on a frames view")
    if collection._is_patches and task.kind not in OBJECT_TASKS:
        raise ConfigurationError(
            f"a {task.kind.value} task on a patches view has nowhere to go on the source "
            "samples: run detect, segment, point or classify on patches"
        )


def check_run(
    collection: Any,
    task: TaskSpec,
    label_field: str,
    settings: RunSettings,
    semantic_field: str | None = None,
    gt_field: str | None = None,
    eval_key: str | None = None,
) -> _Run | None:
    """Everything :func:`run_task` can refuse before a request is sent, refused now (the
    forms call it too): the collection, the output fields, the semantic field's vocabulary,
    the ground truth and the evaluation key. Raises ``ConfigurationError``; sends nothing.
    (A patches or frames view is checked by :func:`check_object_run`; None then.)"""
    if is_object_view(collection):
        check_object_run(collection, task)
        return None
    run = _check_outputs(collection, task, label_field, settings, semantic_field, gt_field)
    if gt_field and not run.dataset.has_field(gt_field):
        raise ConfigurationError(f"no ground-truth field '{gt_field}' on this dataset")
    gt_type = getattr(run.dataset.get_field(gt_field), "document_type", None) if gt_field else None
    if gt_type is fo.Segmentation and not semantic_field:
        raise ConfigurationError(
            f"'{gt_field}' is a semantic segmentation: pass semantic_field so that a "
            "Segmentation is written to compare it with"
        )
    if gt_field and eval_key:
        check_eval_key(run.dataset, eval_key, _evaluated_field(run, gt_field), gt_field, task.kind)
    return run


@dataclass
class _Run:
    """One call of :func:`run_task`: what it reads and writes, and what its record says."""

    collection: Any
    task: TaskSpec
    label_field: str
    settings: RunSettings
    semantic_field: str | None
    gt_field: str | None
    #: class -> pixel value of the semantic field (None without one)
    class_to_index: dict[str, int] | None
    #: the samples that need the task (no result yet, or all with ``overwrite``)
    todo: Any
    started_at: float = field(default_factory=time.time)

    @property
    def dataset(self) -> fo.Dataset:
        return self.collection._dataset

    @property
    def group(self) -> str:
        """Workers writing this field of this dataset share their claims and locks."""
        return f"{self.dataset._doc.id}/{self.label_field}"

    @property
    def lock_wait(self) -> float:
        """A crashed holder's lock expires with its lease: waiting a little longer gets it."""
        return 1.5 * self.settings.lease_seconds

    def config(self) -> dict[str, Any]:
        """The run record's config (no key, no secrets)."""
        return {
            "task": self.task.to_dict(),
            "task_fingerprint": self.task.fingerprint(),
            "model": self.settings.model,
            "settings": self.settings.public(),
            "semantic_field": self.semantic_field,
            "started_at": self.started_at,
        }

    def semantic_config(self) -> dict[str, Any]:
        return {
            "task": self.task.to_dict(),
            "model": self.settings.model,
            "instances_field": self.label_field,
        }


def _check_outputs(
    collection: Any,
    task: TaskSpec,
    label_field: str,
    settings: RunSettings,
    semantic_field: str | None,
    gt_field: str | None,
) -> _Run:
    """Everything that can be refused before a request is sent, refused now."""
    check_collection(collection)
    dataset = collection._dataset
    overwrite = settings.overwrite
    check_output_field(
        dataset, label_field, task.kind, overwrite=overwrite, gt_field=gt_field,
        multi_label=task.multi_label,
    )  # fmt: skip
    class_to_index = None
    if semantic_field:
        if task.kind is not TaskKind.SEGMENT:
            raise ConfigurationError("a semantic field only applies to segmentation")
        check_semantic_field(
            dataset, semantic_field, label_field, overwrite=overwrite, gt_field=gt_field
        )
        class_to_index = semantic_classes(collection, task, gt_field)
    todo = samples_to_process(collection, label_field, overwrite)
    return _Run(
        collection, task, label_field, settings, semantic_field, gt_field, class_to_index, todo
    )


def _open_outputs(run: _Run, claims: WorkClaims) -> tuple[LabelWriter, list[str]]:
    """The writer of the run's fields, and the fields this run creates. New fields get a
    provisional run record at once, so a concurrent worker sees them as the plugin's."""
    dataset = run.dataset
    with claims.exclusive("dataset", wait=run.lock_wait):
        dataset.reload()
        outputs = (run.label_field, f"{run.label_field}_error", run.semantic_field)
        created = [f for f in outputs if f and not dataset.has_field(f)]

        def provisional_records() -> None:
            if run.label_field in created:
                runs.record_run(dataset, run.label_field, run.config(), {"state": "running"})
            if run.semantic_field in created:
                config = run.semantic_config()
                runs.record_run(dataset, run.semantic_field, config, {"state": "running"})

        despite_reloads(dataset, provisional_records)
        writer = LabelWriter(
            dataset, run.task, run.label_field, run.semantic_field, run.class_to_index
        )
    return writer, created


def _drive(engine: Engine, work: Callable[[], Awaitable[EngineReport]]) -> EngineReport:
    """Runs ``work()`` to completion with the engine's client open."""

    async def go() -> EngineReport:
        async with engine.client:
            return await work()

    return run_coroutine_sync(go)


def _label_online(
    run: _Run,
    engine: Engine,
    writer: LabelWriter,
    claims: WorkClaims,
    cancel: threading.Event | None = None,
) -> EngineReport:
    """Concurrent requests, paced; the workers of one group share the project's quota."""
    claims.on_workers = lambda workers: engine.limiter.set_share(1 / workers)
    engine.limiter.set_share(1 / claims.live_workers())
    total = run.todo.count()
    items = _translated(claimed_items(run.todo, claims))

    def sink(outcomes: list[ItemOutcome]) -> dict[str, str]:
        with database_errors():
            unstored = writer(outcomes)
            claims.complete(outcome.key for outcome in outcomes)
        return unstored

    return _drive(
        engine,
        lambda: engine.run(
            items,
            sink,
            total=total,
            convert=writer.convert,
            sink_ready=database_reachable,
            cancel=cancel,
        ),
    )


def _label_in_batches(
    run: _Run,
    engine: Engine,
    cache: ResponseCache | None,
    writer: LabelWriter,
    claims: WorkClaims,
) -> EngineReport:
    """Gemini Batch API jobs. One batch worker per job: a second one would submit the same
    samples again; a crashed one's lock expires with its lease."""
    group = f"{run.group}/{run.task.fingerprint()}/{run.settings.model}"
    batch = open_batch(engine, journal=MongoBatchJournal(), group=group, cache=cache)
    try:
        with claims.exclusive("batch", wait=run.lock_wait):
            items = lambda: (run.todo.count(), claimed_items(run.todo, None))  # noqa: E731
            return _drive(engine, lambda: batch.run(items, writer))
    except LockBusyError:
        report = batch.report()
        report.progress.stopped_reason = (
            "another worker is already running this field's batch jobs; nothing to do"
        )
        return report


def _translated(items: Iterator[T]) -> Iterator[T]:
    """``items``, with the database going away said in one line."""
    with database_errors():
        yield from items


def _finish(
    run: _Run, report: EngineReport, writer: LabelWriter, created: list[str], claims: WorkClaims
) -> RunSummary:
    """Records the run on the dataset; when nothing could be labelled (key, model, quota), an
    error rather than a quiet empty run: the fields it created are removed."""
    total = run.collection.count()
    done = report.progress.total or 0
    summary = RunSummary(
        label_field=run.label_field,
        task=run.task.to_dict(),
        model=run.settings.model,
        total=total,
        skipped=total - done,
        report=report.to_dict(),
    )
    results = dict(summary.report, total=total, skipped=summary.skipped)
    refused = report.progress.refused and not report.progress.ok
    dataset = run.dataset

    def record() -> None:
        dataset.reload()
        if refused and claims.live_workers() <= 1:  # a co-worker may be writing them
            _remove_empty_fields(dataset, created)
        elif run.semantic_field:
            _save_mask_targets(dataset, run.semantic_field, writer.mask_targets())
        if dataset.has_field(run.label_field):
            summary.run_key = runs.record_run(dataset, run.label_field, run.config(), results)
        if run.semantic_field and dataset.has_field(run.semantic_field):
            runs.record_run(dataset, run.semantic_field, run.semantic_config(), results)

    with claims.exclusive("dataset", wait=run.lock_wait):
        despite_reloads(dataset, record)
    return summary


def despite_reloads(dataset: fo.Dataset, step: Callable[[], T]) -> T:
    """``step()``, run once more if it failed while another thread reloaded ``dataset``.

    FiftyOne keeps one ``Dataset`` object per dataset and process, and the App's server
    reloads it for every operator and panel event (``ctx.dataset``): a change to the dataset's
    document (a new field, a run record, an evaluation) made while the user clicks in the App
    can be undone in memory half-way (\"Dataset has no run key\"). A reload is seen as the
    object's document being replaced; the steps wrapped here are idempotent."""
    document = dataset._doc  # replaced by every reload
    try:
        return step()
    except Exception as exc:
        if dataset._doc is document:
            raise
        logger.warning("The dataset was reloaded during a change (%s); doing it again", exc)
        dataset.reload()
        return step()


def _save_mask_targets(
    dataset: fo.Dataset, field_name: str, targets: dict[int, str] | None
) -> None:
    if targets:
        dataset.mask_targets = dict(dataset.mask_targets, **{field_name: targets})
        dataset.save()


def _remove_empty_fields(dataset: fo.Dataset, fields: list[str]) -> None:
    """Deletes the fields of ``fields`` that hold no value (and their run records)."""
    empty = [f for f in fields if dataset.has_field(f) and not dataset.exists(f).count()]
    for field_name in empty:
        dataset.delete_sample_field(field_name)
        if dataset.has_run(runs.run_key_for(field_name)):
            dataset.delete_run(runs.run_key_for(field_name))


def _evaluated_field(run: _Run, gt_field: str) -> str:
    """The field compared with ``gt_field``: the semantic one against a semantic ground
    truth, else the instances (or labels) field."""
    gt_type = getattr(run.dataset.get_field(gt_field), "document_type", None)
    if gt_type is fo.Segmentation and run.semantic_field:
        return run.semantic_field
    return run.label_field


def _evaluate(run: _Run, gt_field: str, eval_key: str) -> dict[str, Any]:
    """The evaluation's metrics; a semantic ground truth is compared with the semantic field.
    The labels are written whatever happens here: a refusal is reported, not raised."""
    field = _evaluated_field(run, gt_field)
    try:
        return despite_reloads(
            run.dataset, lambda: evaluate(run.collection, field, gt_field, eval_key)
        )
    except ConfigurationError as exc:
        logger.warning("Evaluation '%s' skipped: %s", eval_key, exc)
        return {"eval_key": eval_key, "error": str(exc)}
    except Exception as exc:  # the labels and the run record are stored: say it, go on
        logger.exception("Evaluation '%s' failed", eval_key)
        reason = f"the evaluation failed ({type(exc).__name__}: {one_line(str(exc), 200)})"
        return {"eval_key": eval_key, "error": reason}
