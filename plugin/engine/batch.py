"""Batch mode: Gemini Batch API jobs for big delegated runs (half the price, no rate limits).

::

    resume: journal records of this group ──► poll ──► results ──► sink (same writer as online)
    new:    items ──► prepare (thread pool) ──► cache hit? ──► sink
                                              └─► job chunk (dedup by content address)
                                                  ├ ≤ 20 MB in all: inline requests
                                                  └ else: a JSONL file (on disk) uploaded with
                                                    the Files API; images too big to inline
                                                    are uploaded (and reused) on their own
                  chunk full ──► journal "submitting" ──► create ──► journal "submitted"
    then:   poll every job with backoff ──► read inline or download the responses file
            ──► answers ──► cache + sink ──► journal entry removed

Resumable: before a job is created its record (the request key → samples mapping and what the
writer needs of each image) is saved in a journal (MongoDB in the FiftyOne adapter); the job's
name is added once it exists. A worker that restarts finds the open records of its group and
polls those jobs instead of submitting again - creation is not idempotent and would bill twice.
A record still ``submitting`` (the worker died around the create call) is matched to a job by
its unique display name, or dropped when no job has it (its samples are then submitted anew).

Requests in a job are keyed by their content address, so identical images in one job are asked
once. Malformed or truncated answers are not asked again here (the job is over): their samples
get a reason, and a rerun resubmits them.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from gemini_vision import tasks as tasks_mod
from gemini_vision.api import AsyncGeminiClient, wire
from gemini_vision.catalog import price_for
from gemini_vision.engine.batch_jobs import (
    BatchJournal,
    BatchRecord,
    JobChunk,
    MemoryJournal,
    parse_line,
)
from gemini_vision.engine.cache import ResponseCache, answer_from_response
from gemini_vision.engine.outcomes import (
    EngineReport,
    ItemOutcome,
    Progress,
    Sink,
    WorkItem,
    failed_outcome,
)
from gemini_vision.engine.pipeline import take
from gemini_vision.engine.requests import ImageInfo, PreparedRequest, RequestBuilder
from gemini_vision.engine.uploads import UploadRegistry
from gemini_vision.engine.verdicts import read_response
from gemini_vision.errors import GeminiVisionError
from gemini_vision.settings import RunSettings

__all__ = ["BatchJournal", "BatchRecord", "BatchRunner", "BatchSettings", "MemoryJournal"]

logger = logging.getLogger(__name__)

_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"})


@dataclass(frozen=True)
class BatchSettings:
    """Sizes in bytes, times in seconds."""

    #: requests per job (each job's record must stay well under MongoDB's 16 MB per document)
    max_requests_per_job: int = 2000
    #: total size of inline requests per job (the API's limit is 20 MB); above: a JSONL file
    inline_limit_bytes: int = 20 * 1024 * 1024
    poll_interval: float = 1.0
    max_poll_interval: float = 120.0
    poll_multiplier: float = 1.5
    #: stop waiting after this long (the job keeps running; a rerun collects it); None = wait
    max_wait_seconds: float | None = None
    #: images prepared at once
    prepare_concurrency: int = 4


class BatchRunner:
    """Runs one task over many items as Gemini Batch jobs; see the module docstring."""

    def __init__(
        self,
        client: AsyncGeminiClient,
        task: tasks_mod.TaskSpec,
        settings: RunSettings,
        *,
        journal: BatchJournal,
        group: str,
        cache: ResponseCache | None = None,
        uploads: UploadRegistry | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        sleep: Callable[[float], Any] = asyncio.sleep,
    ) -> None:
        tasks_mod.check_model_supports(task, settings.model)
        self.client = client
        self.task = task
        self.settings = settings
        self.batch = batch = settings.batch or BatchSettings()
        self.journal = journal
        self.group = group
        self.cache = cache
        self.on_progress = on_progress
        self._sleep = sleep
        self.builder = RequestBuilder.from_settings(
            task,
            settings,
            client,
            uploads=uploads,
            prepare_workers=max(settings.tuning.prepare_workers, batch.prepare_concurrency),
        )
        self.progress = Progress()
        self.errors: Counter[str] = Counter()
        self.jobs_submitted = 0
        self.jobs_resumed = 0
        self._requests_before = client.stats.requests
        self._retries_before = client.stats.retries

    # ---------------------------------------------------------------------------------------

    async def run(
        self,
        items: Callable[[], tuple[int, Iterable[WorkItem]]],
        sink: Sink,
    ) -> EngineReport:
        """Finishes this group's open jobs, then submits and finishes jobs for ``items()``
        (called after the open jobs' results are written, so it sees what is left to do)."""
        try:
            for record in self.journal.open_records(self.group):
                self.jobs_resumed += 1
                if not await self._finish(record, sink):
                    return self.report()
            total, todo = await asyncio.to_thread(items)
            self.progress.total = self.progress.done + total
            records = await self._submit_all(iter(todo), sink)
            for record in records:
                if not await self._finish(record, sink):
                    break
        finally:
            self.builder.close()
        return self.report()

    def report(self) -> EngineReport:
        p = self.progress
        price = price_for(self.settings.model)
        report = EngineReport(
            progress=p,
            errors=self.errors,
            retries=self.client.stats.retries - self._retries_before,
            rate_limited=0,
            duration_seconds=p.elapsed,
            cost_usd=price.cost(p.input_tokens, p.output_tokens, batch=True),
            requests=self.client.stats.requests - self._requests_before,
            uploaded_files=self.builder.uploaded,
            reused_uploads=self.builder.reused_uploads,
        )
        report.extra = {
            "mode": "batch",
            "batch_jobs_submitted": self.jobs_submitted,
            "batch_jobs_resumed": self.jobs_resumed,
        }
        return report

    # ---------------------------------------------------------------------------------------
    # building and submitting

    async def _submit_all(self, items: Iterator[WorkItem], sink: Sink) -> list[BatchRecord]:
        records: list[BatchRecord] = []
        chunk = JobChunk(self.batch.inline_limit_bytes)
        ready: list[ItemOutcome] = []
        try:
            while True:
                window = await asyncio.to_thread(take, items, self.batch.prepare_concurrency * 4)
                if not window:
                    break
                prepared = await asyncio.gather(*(self._prepare(item) for item in window))
                for entry in prepared:
                    if isinstance(entry, ItemOutcome):
                        ready.append(entry)
                        continue
                    chunk.add(entry, await self.builder.sendable(entry))
                    if len(chunk) >= self.batch.max_requests_per_job:
                        records.append(await self._submit(chunk))
                        chunk = JobChunk(self.batch.inline_limit_bytes)
                if len(ready) >= self.settings.tuning.write_batch_size:
                    await self._deliver(ready, sink)
                    ready = []
            if len(chunk):
                records.append(await self._submit(chunk))
        finally:
            chunk.discard()
        await self._deliver(ready, sink)
        return records

    async def _prepare(self, item: WorkItem) -> PreparedRequest | ItemOutcome:
        """The prepared request, or the outcome already known (cache hit, bad image)."""
        try:
            prepared = await self.builder.prepared(item.key, [item.source])
        except GeminiVisionError as exc:
            return failed_outcome(item.key, exc)
        if self.cache is not None:
            cached = await asyncio.to_thread(self.cache.get, prepared.cache_key)
            if cached is not None:
                try:
                    answer = tasks_mod.interpret_answer(self.task, cached.text)
                except GeminiVisionError:
                    return prepared
                return ItemOutcome(
                    item.key, "ok", answer, prepared.info, cached=True,
                    cache_key=prepared.cache_key,
                )  # fmt: skip
        return prepared

    async def _submit(self, chunk: JobChunk) -> BatchRecord:
        chunk.close()
        record = BatchRecord(
            token=uuid.uuid4().hex, group=self.group, model=self.settings.model,
            requests=chunk.requests,
        )  # fmt: skip
        await asyncio.to_thread(self.journal.save, record)
        if chunk.inline:
            operation = await self.client.create_batch(
                self.settings.model, chunk.pairs, display_name=record.display_name
            )
        else:
            assert chunk.path is not None
            file = await self.client.upload_file(
                chunk.path, mime_type="application/jsonl", display_name=record.display_name
            )
            file = await self.client.wait_until_active(file)
            record.input_file = file.name
            operation = await self.client.create_batch(
                self.settings.model, file_name=file.name, display_name=record.display_name
            )
        record.name, record.state = operation.name, "submitted"
        await asyncio.to_thread(self.journal.save, record)
        self.jobs_submitted += 1
        logger.info(
            "Submitted batch job %s: %d requests for %d samples (%s)",
            record.name,
            len(record.requests),
            record.sample_count(),
            "inline" if chunk.inline else "JSONL file",
        )
        chunk.discard()
        return record

    # ---------------------------------------------------------------------------------------
    # polling and collecting

    async def _finish(self, record: BatchRecord, sink: Sink) -> bool:
        """Waits for ``record``'s job and writes its results; False if we stopped waiting."""
        if record.name is None and not await self._adopt(record):
            return True
        assert record.name is not None
        operation = await self._poll(record.name)
        if operation is None:
            self.progress.stopped_reason = (
                f"Batch job {record.name} is still running after "
                f"{self.batch.max_wait_seconds:.0f} s; run again to collect its results "
                "(it will not be submitted twice)"
            )
            return False
        state = operation.state or "UNKNOWN"
        if state == "SUCCEEDED":
            lines = await self._result_lines(operation)
        else:
            lines = iter(())
            logger.warning("Batch job %s ended %s", record.name, state)
        await self._collect(record, lines, state, sink)
        await asyncio.to_thread(self.journal.delete, record.token)
        if record.input_file:
            try:
                await self.client.delete_file(record.input_file)
            except GeminiVisionError:
                logger.info("Could not delete batch input file %s", record.input_file)
        return True

    async def _adopt(self, record: BatchRecord) -> bool:
        """Finds the job of a record saved just before a crash; drops the record if none."""
        for operation in await self.client.list_batches():
            metadata = operation.metadata
            if metadata is not None and metadata.display_name == record.display_name:
                record.name, record.state = operation.name, "submitted"
                await asyncio.to_thread(self.journal.save, record)
                return True
        await asyncio.to_thread(self.journal.delete, record.token)
        return False

    async def _poll(self, name: str) -> wire.BatchOperation | None:
        """The finished operation, or None when ``max_wait_seconds`` passed first."""
        started = time.monotonic()
        delay = self.batch.poll_interval
        while True:
            operation = await self.client.get_batch(name)
            if operation.state in _TERMINAL:
                return operation
            waited = time.monotonic() - started
            limit = self.batch.max_wait_seconds
            if limit is not None and waited + delay > limit:
                return None
            await self._sleep(delay)
            delay = min(delay * self.batch.poll_multiplier, self.batch.max_poll_interval)

    async def _result_lines(self, operation: wire.BatchOperation) -> Iterator[dict[str, Any]]:
        output = operation.metadata.output if operation.metadata else None
        if output is not None and output.inlined_responses is not None:
            return (
                {
                    "key": (line.metadata or {}).get("key"),
                    "response": line.response,
                    "error": line.error,
                }
                for line in output.inlined_responses.inlined_responses
            )
        if output is not None and output.responses_file:
            data = await self.client.download_file(output.responses_file)
            return (parse_line(raw) for raw in data.splitlines() if raw.strip())
        return iter(())

    async def _collect(
        self,
        record: BatchRecord,
        lines: Iterator[dict[str, Any]],
        state: str,
        sink: Sink,
    ) -> None:
        pending = dict(record.requests)
        ready: list[ItemOutcome] = []
        for line in lines:
            entry = pending.pop(str(line.get("key")), None)
            if entry is None:
                continue
            ready.extend(await self._outcomes(str(line["key"]), entry, line))
            if len(ready) >= self.settings.tuning.write_batch_size:
                await self._deliver(ready, sink)
                ready = []
        reason = (
            f"batch job {record.name} ended {state}; run again to resubmit"
            if state != "SUCCEEDED"
            else f"no result for this request in batch job {record.name}"
        )
        for key, entry in pending.items():
            error = GeminiVisionError(reason)
            ready.extend(
                failed_outcome(sample, error, ItemOutcome(sample, "failed", cache_key=key))
                for sample in entry["samples"]
            )
        await self._deliver(ready, sink)

    async def _outcomes(
        self, key: str, entry: dict[str, Any], line: dict[str, Any]
    ) -> list[ItemOutcome]:
        image = entry["image"]
        info = ImageInfo(
            display_size=tuple(image["display_size"]),
            sent_size=tuple(image["sent_size"]),
            sha256=image["sha256"],
            mime_type=image["mime_type"],
        )
        base = ItemOutcome(entry["samples"][0], "failed", image=info, cache_key=key)
        response = line.get("response")
        if response is None:
            status = line.get("error")
            text = f"{status.code} {status.message}" if status is not None else "no response"
            outcome = failed_outcome(
                base.key, GeminiVisionError(f"batch request failed: {text}"), base
            )
        else:
            usage = response.usage_metadata
            base.input_tokens = usage.input_tokens if usage else 0
            base.output_tokens = usage.output_tokens if usage else 0
            verdict = read_response(self.task, response)
            if verdict.error is not None:
                outcome = failed_outcome(base.key, verdict.error, base)
            else:
                base.status, base.answer = "ok", verdict.answer
                base.raw_text, base.warnings = verdict.raw_text, verdict.warnings
                base.incomplete = verdict.warnings[0] if verdict.partial else None
                outcome = base
                if self.cache is not None and not verdict.partial and verdict.raw_text:
                    cached = answer_from_response(verdict.raw_text, response)
                    await asyncio.to_thread(self.cache.put, key, cached)
        copies = [
            ItemOutcome(
                **{**outcome.__dict__, "key": sample, "input_tokens": 0, "output_tokens": 0}
            )
            for sample in entry["samples"][1:]
        ]
        return [outcome, *copies]

    async def _deliver(self, outcomes: list[ItemOutcome], sink: Sink) -> None:
        if not outcomes:
            return
        unstored = await asyncio.to_thread(sink, outcomes) or {}
        for outcome in outcomes:
            if outcome.key in unstored:
                outcome = failed_outcome(outcome.key, GeminiVisionError(unstored[outcome.key]))
            self._count(outcome)
        if self.on_progress is not None:
            await asyncio.to_thread(self.on_progress, self.progress)

    def _count(self, outcome: ItemOutcome) -> None:
        self.progress.record(
            outcome, self.errors, masks=self.task.kind is tasks_mod.TaskKind.SEGMENT
        )
