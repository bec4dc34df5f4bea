"""An httpx transport that spreads many concurrent requests over several small connection pools.

httpcore's connection pool looks at every connection it holds each time a request starts or a
response closes (and asks the OS whether each idle socket is still open), so its cost per
request grows with the number of connections. At 16 requests in flight that is noise; at 128
it ate the whole CPU in our throughput benchmark (46 instead of 256 requests per second). A
few pools of ``shard_size`` connections each keep that cost constant: each request goes to the
pool with the fewest requests waiting for their answer, and every pool keeps its connections
alive between requests.
"""

from __future__ import annotations

import math

import httpx

__all__ = ["ShardedTransport"]


class ShardedTransport(httpx.AsyncBaseTransport):
    """Up to ``concurrency`` requests in flight over pools of ``shard_size`` connections."""

    def __init__(self, concurrency: int, *, shard_size: int = 8) -> None:
        count = max(1, math.ceil(concurrency / max(1, shard_size)))
        per_shard = math.ceil(concurrency / count)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=per_shard)
        self._shards = [httpx.AsyncHTTPTransport(limits=limits) for _ in range(count)]
        self._waiting = [0] * count

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = min(range(len(self._shards)), key=self._waiting.__getitem__)
        self._waiting[index] += 1
        try:
            # the wait for the answer (the latency) happens before this returns
            return await self._shards[index].handle_async_request(request)
        finally:
            self._waiting[index] -= 1

    async def aclose(self) -> None:
        for shard in self._shards:
            await shard.aclose()
