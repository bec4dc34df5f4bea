"""The request/reply values passed between the HTTP handler and the API endpoints.

Endpoints never touch sockets: they get an :class:`HttpCall` and return an :class:`HttpReply`,
which the handler writes (with ``Content-Length``, or chunked for a stream), or drops.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from gemini_vision.emulator.server.rpc import ApiError

__all__ = ["HttpCall", "HttpReply", "error_reply", "json_reply"]

JSON_TYPE = "application/json; charset=UTF-8"


@dataclass
class HttpCall:
    """One request. ``base_url`` is how the client reached us (``http://host:port``)."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Message  # case-insensitive names
    body: bytes
    base_url: str


@dataclass
class HttpReply:
    """One answer: a body, a stream of chunks, or nothing at all (``drop``)."""

    status: int = 200
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    #: written with chunked transfer encoding, in order, as they are produced
    chunks: Iterator[bytes] | None = None
    #: close the connection without answering, after holding it ``hold`` seconds
    drop: bool = False
    hold: float = 0.0


def _dumps(payload: Any) -> bytes:
    # The API pretty-prints its JSON with two-space indents.
    return json.dumps(payload, indent=2, ensure_ascii=False).encode("utf-8")


def json_reply(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> HttpReply:
    return HttpReply(status=status, body=_dumps(payload), headers=dict(headers or {}))


def error_reply(error: ApiError) -> HttpReply:
    return json_reply(error.body(), error.code, error.headers)
