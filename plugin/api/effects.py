"""How an API call is described without doing any I/O: a generator of effects.

An operation yields :class:`Send` (give me the response to this request, or throw the ``httpx``
transport error into me), :class:`Sleep` (wait this many seconds) and, on Vertex AI,
:class:`Authorize` (put a valid access token on this request), and returns its result.
The sync and async clients only carry the effects out, which is how both share one
implementation of everything but sending and sleeping.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias, TypeVar

import httpx

__all__ = ["PENDING_BEARER", "Authorize", "Effect", "Exchange", "Op", "Send", "Sleep"]

T = TypeVar("T")


@dataclass(frozen=True)
class Send:
    """Send ``request``; resume with the (fully read) ``httpx.Response`` or throw its error.

    The answer is read as it streams in: more than ``max_bytes`` of body (None: no limit) is
    refused without reading the rest, and the whole exchange must end within ``deadline``
    seconds (None: only the per-read timeouts apply), so no answer can exhaust memory or hold
    a request for ever."""

    request: httpx.Request
    max_bytes: int | None = None
    deadline: float | None = None


@dataclass(frozen=True)
class Sleep:
    """Wait ``seconds`` before resuming (with None)."""

    seconds: float


#: the Authorization header of a request whose access token is filled in as it is sent
PENDING_BEARER = "Bearer (filled in when sent)"


@dataclass(frozen=True)
class Authorize:
    """Put a current access token in ``request``'s Authorization header (refreshing it first
    when it is close to expiry, or when it is ``stale``: the token a 401 answered); resume
    with None, or throw the error that stopped the refresh."""

    request: httpx.Request
    stale: str | None = None


Effect: TypeAlias = Send | Sleep | Authorize
#: an operation: yields effects, is resumed with what each produced, returns a T
Op: TypeAlias = Generator[Effect, Any, T]


class Exchange(NamedTuple):
    """The successful response of a request and how many retries it took to get it."""

    response: httpx.Response
    retries: int
