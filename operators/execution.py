"""Running a job from an operator: progress in the App, in delegated runs, and from Python.

Immediate runs in the App are generators: the job runs in a background thread while the
generator yields throttled ``set_progress`` messages (frequent messages freeze the App), then
reloads the dataset and reports the summary. Delegated runs report progress to the delegated
operation document and return the summary as the operation's result. Immediate runs from
Python (``foo.execute_operator``, which sends no App request) run in place and return the
summary too, so the caller gets it as ``result.result``.

A job is told to stop through the event it is given: the App stream sets it when its generator
is closed before the job is over (the App went away, or the run was cancelled), so no request
is sent for a run nobody is waiting for.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from fiftyone.operators.executor import ExecutionContext

from gemini_vision.engine import one_line

logger = logging.getLogger(__name__)

#: minimum seconds between two progress messages to the App
PROGRESS_INTERVAL_SECONDS = 1.0


Report = Callable[[float | None, str], None]
#: ``job(report, cancel)``: runs, calling ``report(fraction, label)``; stops when ``cancel`` is set
Job = Callable[[Report, threading.Event], Any]


def run(
    ctx: ExecutionContext,
    job: Job,
    describe: Callable[[Any], str],
    variant: Callable[[Any], str],
    *,
    starting: str = "Starting",
    outputs: dict[str, Any] | None = None,
    saved_view: str | None = None,
) -> Any:
    """Runs ``job(report)`` the way ``ctx`` asks: delegated, streamed to the App, or in place
    for a Python caller; the last two return or notify the summary. ``starting``: the first
    progress text the App shows, before the first answer arrives; ``outputs``: the output
    view (JSON) the App shows the result in when the run is over; ``saved_view``: the saved
    view the App opens then."""
    if ctx.delegated:
        return run_delegated(ctx, job)
    if not from_app(ctx):
        return job(lambda fraction, label: None, threading.Event())
    return stream(
        ctx, job, describe, variant, starting=starting, outputs=outputs, saved_view=saved_view
    )


def from_app(ctx: ExecutionContext) -> bool:
    """Whether the App sent this request (its requests name the operator; Python's
    ``execute_operator`` builds them without)."""
    return bool((getattr(ctx, "request_params", None) or {}).get("operator_uri"))


def run_delegated(ctx: ExecutionContext, job: Job) -> Any:
    """Runs ``job(report)`` in this thread, reporting progress to the delegated operation."""
    last = [0.0]

    def report(fraction: float | None, label: str) -> None:
        now = time.monotonic()
        if now - last[0] >= PROGRESS_INTERVAL_SECONDS * 5:
            last[0] = now
            ctx.set_progress(progress=fraction, label=label)

    return job(report, threading.Event())


def stream(
    ctx: ExecutionContext,
    job: Job,
    describe: Callable[[Any], str],
    variant: Callable[[Any], str] = lambda result: "success",
    *,
    starting: str = "Starting",
    outputs: dict[str, Any] | None = None,
    saved_view: str | None = None,
) -> Iterator[Any]:
    """Runs ``job(report)`` in a thread and yields App messages until it finishes; the last
    one notifies ``describe(result)`` with the ``variant(result)`` colour.

    A job that fails as a whole is told as an error notification, not raised: the App drops
    an exception raised inside a generator operator, and the user would see nothing.

    Closing the generator before the job is over (the App does when it goes away) stops the
    job: nothing more is sent, and what was answered is kept."""
    updates: queue.Queue[tuple[float | None, str]] = queue.Queue()
    outcome: dict[str, Any] = {}
    cancel = threading.Event()

    def target() -> None:
        try:
            outcome["result"] = job(lambda fraction, label: updates.put((fraction, label)), cancel)
        except BaseException as exc:  # told below, in the operator's thread
            logger.exception("The Gemini Vision run stopped")  # the App shows one line
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="gemini-vision-operator", daemon=True)
    worker.start()
    try:
        yield ctx.ops.set_progress(label=starting, progress=0.0)
        yield from _progress_until_done(ctx, worker, updates)
    finally:
        if worker.is_alive():  # closed before the end: nobody is waiting for the answers
            cancel.set()
    worker.join()
    if "error" in outcome:
        message = one_line(str(outcome["error"])) or type(outcome["error"]).__name__
        yield ctx.ops.set_progress(label=f"Stopped: {message}", progress=None)
        yield ctx.ops.reload_dataset()
        yield ctx.ops.notify(f"Gemini Vision stopped: {message}", variant="error")
        return
    result = outcome.get("result")
    yield ctx.ops.set_progress(label="Done", progress=1.0)
    yield ctx.ops.reload_dataset()
    yield ctx.ops.notify(describe(result), variant=variant(result))
    if saved_view is not None:
        # by its stages: the App knows the saved views it loaded, not one saved just now
        ctx.dataset.reload()
        yield ctx.ops.set_view(view=ctx.dataset.load_saved_view(saved_view))
    if outputs is not None:
        yield ctx.ops.show_output(outputs, result)


def _progress_until_done(
    ctx: ExecutionContext, worker: threading.Thread, updates: queue.Queue[tuple[float | None, str]]
) -> Iterator[Any]:
    """Progress messages, at most one per ``PROGRESS_INTERVAL_SECONDS``, until ``worker`` ends."""
    last_sent = time.monotonic()
    pending: tuple[float | None, str] | None = None
    while worker.is_alive() or not updates.empty():
        with contextlib.suppress(queue.Empty):
            pending = updates.get(timeout=0.2)
        now = time.monotonic()
        if pending is not None and now - last_sent >= PROGRESS_INTERVAL_SECONDS:
            fraction, label = pending
            yield ctx.ops.set_progress(label=label, progress=fraction)
            last_sent, pending = now, None
