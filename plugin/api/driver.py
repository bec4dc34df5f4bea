"""Running an operation: the driver that feeds an Op its effects' results, and reading an
answer within the bounds its :class:`~gemini_vision.api.effects.Send` sets (size, deadline).

Shared by the sync and async clients (:mod:`gemini_vision.api.client`).
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx

from gemini_vision.api.effects import Effect, Op, Send
from gemini_vision.api.status import url_for_logs
from gemini_vision.errors import InvalidResponseError

__all__ = ["Driver", "past_deadline", "read_back", "take_chunk"]

T = TypeVar("T")


def take_chunk(body: bytearray, chunk: bytes, effect: Send, elapsed: float) -> None:
    """Adds ``chunk`` to ``body`` unless the answer went past the effect's size or deadline."""
    if effect.deadline is not None and elapsed > effect.deadline:
        raise past_deadline(effect)
    body += chunk
    if effect.max_bytes is not None and len(body) > effect.max_bytes:
        raise InvalidResponseError(
            f"the answer to {effect.request.method} {url_for_logs(effect.request)} is larger "
            f"than {effect.max_bytes / 1e6:g} MB (the client's max_response_bytes); refused "
            "without reading the rest"
        )


def past_deadline(effect: Send) -> httpx.ReadTimeout:
    return httpx.ReadTimeout(
        f"no complete answer within the {effect.deadline:g} s deadline (the client's deadline)",
        request=effect.request,
    )


def read_back(response: httpx.Response, body: bytearray) -> httpx.Response:
    """``response`` with ``body`` (already decoded) as its content, ready to be read again."""
    skip = ("content-encoding", "content-length", "transfer-encoding")
    headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in skip]
    return httpx.Response(
        response.status_code,
        headers=headers,
        content=bytes(body),
        request=response.request,
        extensions=response.extensions,
    )


class Driver:
    """Runs an Op: hands its effects to ``perform`` and feeds back results or errors."""

    def __init__(self, op: Op[T]) -> None:
        self._op = op
        self._outcome: Any = None
        self.result: Any = None

    def next_effect(self) -> Effect | None:
        """The op's next effect, or None when it has returned (see ``result``)."""
        outcome, self._outcome = self._outcome, None
        try:
            if isinstance(outcome, BaseException):
                return self._op.throw(outcome)
            return self._op.send(outcome)
        except StopIteration as stop:
            self.result = stop.value
            return None

    def resume(self, outcome: Any) -> None:
        """What the last effect produced: a response, None after a sleep, or an httpx error."""
        self._outcome = outcome
