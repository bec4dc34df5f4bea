"""The Batch API: jobs that move PENDING → RUNNING → SUCCEEDED in a background thread.

A job is a ``batches/{id}`` long-running Operation, as in Google's "Batch Mode" guide for the
Gemini API: ``metadata`` carries the ``@type``, ``state`` (``BATCH_STATE_*``), string
``batchStats`` and, when done, ``output``; the results also appear in ``response``, as the real
API sends them. Inline jobs answer in ``inlinedResponses.inlinedResponses``; file jobs
(``inputConfig.fileName`` of an uploaded JSONL) write ``files/batch-{id}``, downloadable like a
generated file.
Cancelled and expired jobs keep no results.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gemini_vision.api import wire
from gemini_vision.emulator.config import EmulatorConfig
from gemini_vision.emulator.server.bodies import parse_body, read_json
from gemini_vision.emulator.server.rpc import ApiError
from gemini_vision.emulator.server.state import FileStore, IdMaker, StoredFile, rfc3339

__all__ = ["BatchJob", "BatchStore"]

_TYPE_PREFIX = "type.googleapis.com/google.ai.generativelanguage.v1main."
_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED", "EXPIRED"})

#: answers one request: (request, model) -> GenerateContentResponse body, or raises ApiError
Process = Callable[[wire.GenerateContentRequest, str], dict[str, Any]]


@dataclass
class BatchItem:
    """One request of a job: parsed, or the error its input line already has."""

    request: wire.GenerateContentRequest | None
    metadata: dict[str, Any] | None = None
    key: str | None = None
    error: dict[str, Any] | None = None


@dataclass
class BatchJob:
    batch_id: str
    model: str
    display_name: str | None
    items: list[BatchItem]
    created: float
    pending_time: float
    running_time: float
    expiry: float
    input_file: str | None = None
    state: str = "PENDING"
    updated: float = 0.0
    ended: float | None = None
    done_count: int = 0
    failed_count: int = 0
    output: dict[str, Any] | None = None
    wake: threading.Event = field(default_factory=threading.Event, repr=False)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def done(self) -> bool:
        return self.state in _TERMINAL

    def finish(self, state: str, output: dict[str, Any] | None = None) -> None:
        with self.lock:
            if self.done:
                return
            self.state = state
            self.output = output
            self.updated = self.ended = time.time()

    def expire_if_late(self) -> None:
        if not self.done and time.time() >= self.created + self.expiry:
            self.finish("EXPIRED")


class BatchStore:
    """Batch jobs by id; each job runs in its own daemon thread."""

    def __init__(self, seed: int, files: FileStore, process: Process) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, BatchJob] = {}
        self._ids = IdMaker(seed, "batches")
        self._files = files
        self._process = process

    def create(self, model: str, spec: wire.BatchSpec, config: EmulatorConfig) -> BatchJob:
        """Registers a PENDING job (403 if its input file is unknown); :meth:`start` runs it."""
        source = spec.input_config
        if source.requests is not None:
            items = [BatchItem(r.request, r.metadata) for r in source.requests.requests]
            input_file = None
        elif source.file_name:
            input_file = source.file_name
            items = self._read_input_file(input_file)
        else:
            raise ApiError.bullets(
                "BatchGenerateContentRequest.batch.input_config: input_config must set"
                " requests or file_name"
            )
        now = time.time()
        job = BatchJob(
            batch_id=self._ids.new(36),
            model=model,
            display_name=spec.display_name,
            items=items,
            created=now,
            updated=now,
            pending_time=config.batch_pending_time,
            running_time=config.batch_running_time,
            expiry=config.batch_expiry,
            input_file=input_file,
        )
        with self._lock:
            self._jobs[job.batch_id] = job
        return job

    def start(self, job: BatchJob) -> None:
        """Runs the job in a daemon thread (after its creation was answered as PENDING)."""
        threading.Thread(target=self._run, args=(job,), daemon=True, name="batch").start()

    def _read_input_file(self, file_name: str) -> list[BatchItem]:
        file_id = file_name.removeprefix("files/")
        stored = self._files.get(file_id)
        if stored is None:
            raise ApiError.file_permission(file_id)
        items = []
        for line in stored.data.decode("utf-8", errors="replace").splitlines():
            if line.strip():
                items.append(_parse_line(line))
        return items

    def get(self, batch_id: str) -> BatchJob | None:
        with self._lock:
            job = self._jobs.get(batch_id)
        if job is not None:
            job.expire_if_late()
        return job

    def page(self, page_size: int, offset: int) -> tuple[list[BatchJob], int | None]:
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)
        for job in jobs:
            job.expire_if_late()
        following = offset + page_size
        return jobs[offset:following], following if following < len(jobs) else None

    def cancel(self, batch_id: str) -> bool:
        job = self.get(batch_id)
        if job is None:
            return False
        job.finish("CANCELLED")
        job.wake.set()
        return True

    def delete(self, batch_id: str) -> bool:
        with self._lock:
            job = self._jobs.pop(batch_id, None)
        if job is None:
            return False
        job.finish("CANCELLED")
        job.wake.set()
        return True

    def stop(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.wake.set()

    # --- the worker ---------------------------------------------------------------------

    def _wait(self, job: BatchJob, until: float) -> bool:
        """Sleeps until ``until`` (epoch s) or the job's deadline; False if it must stop."""
        deadline = job.created + job.expiry
        job.wake.wait(max(0.0, min(until, deadline) - time.time()))
        job.expire_if_late()
        return not job.done and not job.wake.is_set()

    def _run(self, job: BatchJob) -> None:
        if not self._wait(job, job.created + job.pending_time):
            return
        with job.lock:
            if job.done:  # cancelled or expired while it was waking up
                return
            job.state, job.updated = "RUNNING", time.time()
        started = time.time()
        spacing = job.running_time / max(len(job.items), 1)
        lines: list[dict[str, Any]] = []
        for index, item in enumerate(job.items):
            lines.append(self._answer(job, item))
            with job.lock:
                job.done_count += 1
                job.failed_count += "error" in lines[-1]
            if not self._wait(job, started + spacing * (index + 1)):
                return
        job.finish("SUCCEEDED", self._write_output(job, lines))

    def _answer(self, job: BatchJob, item: BatchItem) -> dict[str, Any]:
        line: dict[str, Any] = {}
        if item.key is not None:
            line["key"] = item.key
        if item.error is not None:
            line["error"] = item.error
        elif item.request is not None:
            try:
                line["response"] = self._process(item.request, job.model)
            except ApiError as error:
                line["error"] = error.batch_status()
        if item.metadata is not None:
            line["metadata"] = item.metadata
        return line

    def _write_output(self, job: BatchJob, lines: list[dict[str, Any]]) -> dict[str, Any]:
        if job.input_file is None:
            return {"inlinedResponses": {"inlinedResponses": lines}}
        file_id = f"batch-{job.batch_id}"
        payload = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines)
        self._files.add(
            StoredFile(
                file_id=file_id,
                data=payload.encode("utf-8"),
                mime_type="application/jsonl",
                display_name=file_id,
                created=time.time(),
                processing_delay=0.0,
                ttl=6 * 7 * 24 * 3600.0,  # results are kept for six weeks
                source="GENERATED",
            )
        )
        return {"responsesFile": f"files/{file_id}"}


def _parse_line(line: str) -> BatchItem:
    """One JSONL input line ``{"key": ..., "request": {...}}``; bad lines become errors."""
    key = None
    try:
        data = read_json(line.encode("utf-8"))
        data = data if isinstance(data, dict) else {}
        key = data["key"] if isinstance(data.get("key"), str) else None
        request = parse_body(wire.GenerateContentRequest, data.get("request"), "request")
    except ApiError as error:
        return BatchItem(None, key=key, error=error.batch_status())
    return BatchItem(request, key=key)


def operation(job: BatchJob) -> dict[str, Any]:
    """The job as the ``google.longrunning.Operation`` JSON the API returns."""
    with job.lock:
        total = len(job.items)
        stats = {"requestCount": str(total)}
        counts = (
            ("pendingRequestCount", 0 if job.done else total - job.done_count),
            ("successfulRequestCount", job.done_count - job.failed_count),
            ("failedRequestCount", job.failed_count),
        )
        stats |= {name: str(value) for name, value in counts if value}
        name = f"batches/{job.batch_id}"
        metadata: dict[str, Any] = {
            "@type": _TYPE_PREFIX + "GenerateContentBatch",
            "model": f"models/{job.model}",
        }
        if job.display_name:
            metadata["displayName"] = job.display_name
        if job.input_file:
            metadata["inputConfig"] = {"fileName": job.input_file}
        if job.output is not None:
            metadata["output"] = job.output
        metadata["createTime"] = rfc3339(job.created)
        if job.ended is not None:
            metadata["endTime"] = rfc3339(job.ended)
        metadata |= {
            "updateTime": rfc3339(job.updated),
            "batchStats": stats,
            "state": f"BATCH_STATE_{job.state}",
            "name": name,
        }
        body: dict[str, Any] = {"name": name, "metadata": metadata}
        if job.done:
            body["done"] = True
            if job.output is not None:
                body["response"] = {"@type": _TYPE_PREFIX + "GenerateContentBatchOutput"}
                body["response"] |= job.output
        return body
