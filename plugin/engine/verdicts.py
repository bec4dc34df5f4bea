"""How one response is judged: a usable answer, a final refusal, or worth asking again.

A truncated or garbled structured answer keeps its complete items when it has some, marked as
partial: worth asking again once, never cached.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from gemini_vision import tasks as tasks_mod
from gemini_vision.api import answer_text, wire
from gemini_vision.errors import (
    BlockedResponseError,
    GeminiVisionError,
    InvalidResponseError,
    ParseError,
    TruncatedResponseError,
)
from gemini_vision.parsing import ParseResult

__all__ = ["Verdict", "interpret", "read_response"]


@dataclass
class Verdict:
    """What one response means: an answer, or an error, and whether asking again may help.

    ``partial``: a usable answer that is known to be incomplete (cut at the output limit, or
    garbled JSON whose complete items were kept); worth asking again once, never cached.
    ``at_output_limit``: the model stopped at ``maxOutputTokens`` (ask again with more room)."""

    answer: Any = None
    raw_text: str | None = None
    error: GeminiVisionError | None = None
    ask_again: bool = False
    warnings: list[str] = field(default_factory=list)
    partial: bool = False
    at_output_limit: bool = False

    @property
    def size(self) -> int:
        """How many objects a partial answer kept (to keep the better of two)."""
        return len(getattr(self.answer, "objects", ()) or ())


def read_response(task: tasks_mod.TaskSpec, response: wire.GenerateContentResponse) -> Verdict:
    """Judges a response: a usable answer, blocked (final), or malformed/truncated (ask again).

    A truncated or garbled structured answer keeps its complete items when it has some."""
    try:
        text = answer_text(response)
    except TruncatedResponseError as exc:
        salvaged = _salvage(task, exc.raw_text)
        if salvaged is not None:
            kept = len(salvaged.objects)
            note = f"answer cut off at the output limit; kept its {kept} complete object(s)"
            return Verdict(
                salvaged,
                exc.raw_text,
                warnings=[note],
                ask_again=True,
                partial=True,
                at_output_limit=True,
            )
        return Verdict(raw_text=exc.raw_text, error=exc, ask_again=True, at_output_limit=True)
    except BlockedResponseError as exc:
        return Verdict(raw_text=exc.raw_text, error=exc)
    except InvalidResponseError as exc:
        return Verdict(error=exc, ask_again=True)
    try:
        answer, capped = interpret(task, text)
    except ParseError as exc:
        return Verdict(raw_text=text, error=exc, ask_again=True)
    if getattr(answer, "truncated", False) or getattr(answer, "lost_items", 0):
        kept = len(getattr(answer, "objects", ()))
        note = f"answer cut short or garbled; kept its {kept} complete object(s)"
        return Verdict(answer, text, warnings=[note, *capped], ask_again=True, partial=True)
    return Verdict(answer, text, warnings=capped)


def interpret(task: tasks_mod.TaskSpec, text: str) -> tuple[Any, list[str]]:
    """``task``'s answer in ``text``, holding at most ``task.max_objects`` objects (a model
    may list thousands), and the warning saying how many were dropped (none when fewer)."""
    answer = tasks_mod.interpret_answer(task, text)
    if not isinstance(answer, ParseResult) or len(answer.objects) <= task.max_objects:
        return answer, []
    objects = answer.objects
    note = (
        f"the answer listed {len(objects)} objects; kept the first {task.max_objects} "
        "(max_objects)"
    )
    keep = task.max_objects
    pairs = tuple(p for p in answer.duplicates if max(p) < keep)
    return dataclasses.replace(answer, objects=objects[:keep], duplicates=pairs), [note]


def _salvage(task: tasks_mod.TaskSpec, partial: str | None) -> Any:
    """The complete items of a truncated structured answer, or None if there are none."""
    if not partial:
        return None
    try:
        answer, _ = interpret(task, partial)
    except ParseError:
        return None
    objects = getattr(answer, "objects", None)
    return answer if objects else None
