"""One question about several images at once: every image of a collection in one request."""

from __future__ import annotations

import time
from typing import Any

from gemini_vision.adapters.fields import check_collection
from gemini_vision.adapters.labels import to_label
from gemini_vision.engine import ItemOutcome, check_access, open_engine, run_coroutine_sync
from gemini_vision.errors import ConfigurationError, GeminiVisionError
from gemini_vision.settings import RunSettings
from gemini_vision.tasks import TaskKind, TaskSpec

__all__ = ["ANSWERS_KEY", "ask_about_samples"]

#: where the answers are kept: ``dataset.info[ANSWERS_KEY]``, the last 50
ANSWERS_KEY = "gemini_answers"
_HISTORY_LENGTH = 50


def ask_about_samples(
    collection: Any, question: str, *, settings: RunSettings | None = None
) -> dict[str, Any]:
    """Sends every image of ``collection`` in one request with ``question``; keeps the answer
    in ``dataset.info["gemini_answers"]`` and returns it.

    Raises the error that stopped the answer: :class:`~gemini_vision.errors.BlockedResponseError`,
    :class:`~gemini_vision.errors.TruncatedResponseError`, a server or transport error after its
    retries, or :class:`~gemini_vision.errors.RunStoppedError` (key refused, unknown model, no
    quota)."""
    settings = settings or RunSettings()
    check_collection(collection)
    ids, paths = collection.values(["id", "filepath"])
    if not ids:
        raise ConfigurationError("no samples to ask about: select some samples first")
    check_access(settings)  # Vertex AI: credentials, project and location, for free
    outcome = _ask(paths, question, settings)
    answer = to_label(TaskKind.ASK, outcome.answer, (0, 0))
    _keep(collection._dataset, question, answer, settings.model, list(ids), outcome)
    return {
        "question": question,
        "answer": answer,
        "model": settings.model,
        "num_images": len(ids),
    }


def _ask(paths: list[str], question: str, settings: RunSettings) -> ItemOutcome:
    """One request with every image of ``paths``: a comparison of several, or a question
    about one."""
    kind = TaskKind.COMPARE if len(paths) > 1 else TaskKind.ASK
    engine = open_engine(TaskSpec(kind=kind, question=question), settings)

    async def go() -> ItemOutcome:
        async with engine.client:
            return await engine.answer(paths)

    outcome = run_coroutine_sync(go)
    if outcome.status != "ok":
        raise outcome.exception or GeminiVisionError(outcome.error or "Gemini gave no answer")
    return outcome


def _keep(
    dataset: Any, question: str, answer: str, model: str, ids: list[str], outcome: ItemOutcome
) -> None:
    record = {
        "question": question,
        "answer": answer,
        "model": model,
        "sample_ids": ids,
        "input_tokens": outcome.input_tokens,
        "output_tokens": outcome.output_tokens,
        "asked_at": time.time(),
    }
    dataset.reload()
    history = list(dataset.info.get(ANSWERS_KEY, []))[-(_HISTORY_LENGTH - 1) :]
    dataset.info[ANSWERS_KEY] = [*history, record]
    dataset.save()
