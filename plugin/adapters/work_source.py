"""Work items streamed from a FiftyOne collection, page by page, claimed for this worker.

:func:`iter_pages` walks a collection (dataset or view) in ``_id`` order, one page of ids and
file paths at a time, each page a fresh query (``_id`` greater than the last one seen): no
cursor stays open for hours while a quota-paced run crawls, memory holds one page, and samples
that got a result meanwhile (from another worker) drop out of later pages by themselves when
the collection is "samples without a result".

:func:`claimed_items` claims each page (see :mod:`.claims`) and yields only the samples this
worker won; at the end it waits for the samples other workers held, and takes over those whose
worker died (lease expired).

The collection is used through FiftyOne's public view methods (``match``, ``sort_by``,
``limit``, ``select``, ``values``); this module does not import FiftyOne itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from bson import ObjectId

from gemini_vision.adapters.claims import WorkClaims
from gemini_vision.engine.pipeline import WorkItem

__all__ = ["claimed_items", "iter_pages"]

logger = logging.getLogger(__name__)

PAGE_SIZE = 256
#: samples claimed at a time: small, so that a worker holds little more than it is working on
#: and workers that start later still find free samples
CLAIM_SIZE = 32


def iter_pages(collection: Any, page_size: int = PAGE_SIZE) -> Iterator[list[tuple[str, str]]]:
    """``[(sample id, filepath), ...]`` pages of ``collection`` in ``_id`` order."""
    last: str | None = None
    while True:
        page = collection if last is None else collection.match({"_id": {"$gt": ObjectId(last)}})
        ids, paths = page.sort_by("id").limit(page_size).values(["id", "filepath"])
        if not ids:
            return
        yield list(zip(ids, paths, strict=True))
        if len(ids) < page_size:
            return
        last = ids[-1]


def claimed_items(
    collection: Any,
    claims: WorkClaims | None,
    *,
    page_size: int = PAGE_SIZE,
    claim_size: int = CLAIM_SIZE,
    poll_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Iterator[WorkItem]:
    """The work items of ``collection`` this worker claimed (all of them without ``claims``),
    claimed ``claim_size`` at a time as the consumer pulls them.

    After the last page, waits (``poll_seconds`` between checks; default a quarter of the
    lease, at most 5 s) for samples other workers held, and yields those whose lease expired
    while they still need a result."""
    for page in iter_pages(collection, page_size):
        if claims is None:
            yield from (WorkItem(key, path) for key, path in page)
            continue
        paths = dict(page)
        keys = [key for key, _ in page]
        for start in range(0, len(keys), claim_size):
            for key in claims.claim(keys[start : start + claim_size]):
                yield WorkItem(key, paths[key])
    if claims is None:
        return
    pause = poll_seconds or min(claims.lease.total_seconds() / 4, 5.0)
    while claims.deferred:
        logger.info("Waiting for %d sample(s) other workers hold", len(claims.deferred))
        sleep(pause)
        taken = claims.take_deferred()
        if not taken:
            continue
        # only those still without a result (their worker may have written it meanwhile)
        ids, paths = collection.select(taken).values(["id", "filepath"])
        still = set(ids)
        claims.complete(key for key in taken if key not in still)
        yield from (WorkItem(key, path) for key, path in zip(ids, paths, strict=True))
