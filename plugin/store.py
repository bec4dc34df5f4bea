"""The response cache in FiftyOne's own MongoDB, shared by every process and worker.

Delegated-operation workers on several machines share one database, so keeping answers there
means a rerun, a crash recovery or another worker never pays twice for the same request. The
collection is keyed by the content address of the request (see :mod:`.cache`).
"""

from __future__ import annotations

from typing import Any

import fiftyone.core.odm as foo_odm

from .cache import CachedAnswer

__all__ = ["MongoResponseCache"]

COLLECTION = "gemini_vision_responses"


class MongoResponseCache:
    """A :class:`~.cache.ResponseCache` in the ``gemini_vision_responses`` collection."""

    def __init__(self, collection_name: str = COLLECTION) -> None:
        self._collection: Any = foo_odm.get_db_conn()[collection_name]

    def get(self, key: str) -> CachedAnswer | None:
        doc = self._collection.find_one({"_id": key})
        return CachedAnswer.from_dict(doc) if doc else None

    def put(self, key: str, answer: CachedAnswer) -> None:
        self._collection.replace_one({"_id": key}, answer.to_dict(), upsert=True)

    def clear(self) -> int:
        """Deletes every cached answer; returns how many there were."""
        return int(self._collection.delete_many({}).deleted_count)
