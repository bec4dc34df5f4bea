"""What the engine remembers, kept in FiftyOne's own MongoDB and shared by every worker.

Delegated-operation workers on several machines share one database, so keeping these there
means a rerun, a crash recovery or another worker never pays twice and never loses work:

- ``gemini_vision_responses``: the response cache, keyed by the request's content address
  (see :mod:`.cache`);
- ``gemini_vision_uploads``: Files API uploads by (project namespace, sha256) until they
  expire (see :mod:`.uploads`); a TTL index drops expired records;
- ``gemini_vision_batches``: open Batch API jobs and their request → samples mapping (see
  :mod:`.batch`);
- ``gemini_vision_claims``: per-sample work leases of concurrent workers (see :mod:`.claims`).

None of them ever holds an API key.
"""

from __future__ import annotations

from typing import Any

import fiftyone.core.odm as foo_odm

from gemini_vision.adapters.claims import WorkClaims
from gemini_vision.engine.batch import BatchRecord
from gemini_vision.engine.cache import CachedAnswer
from gemini_vision.engine.uploads import UploadRecord

__all__ = [
    "BATCHES",
    "CLAIMS",
    "COLLECTION",
    "UPLOADS",
    "MongoBatchJournal",
    "MongoResponseCache",
    "MongoUploads",
    "work_claims",
]

COLLECTION = "gemini_vision_responses"
UPLOADS = "gemini_vision_uploads"
BATCHES = "gemini_vision_batches"
CLAIMS = "gemini_vision_claims"


def _collection(name: str) -> Any:
    return foo_odm.get_db_conn()[name]


class MongoResponseCache:
    """A :class:`~.cache.ResponseCache` in the ``gemini_vision_responses`` collection."""

    def __init__(self, collection_name: str = COLLECTION) -> None:
        self._collection: Any = _collection(collection_name)

    def get(self, key: str) -> CachedAnswer | None:
        doc = self._collection.find_one({"_id": key})
        return CachedAnswer.from_dict(doc) if doc else None

    def put(self, key: str, answer: CachedAnswer) -> None:
        self._collection.replace_one({"_id": key}, answer.to_dict(), upsert=True)

    def clear(self) -> int:
        """Deletes every cached answer; returns how many there were."""
        return int(self._collection.delete_many({}).deleted_count)


class MongoUploads:
    """An :class:`~.uploads.UploadRegistry` in ``gemini_vision_uploads``."""

    def __init__(self, collection_name: str = UPLOADS) -> None:
        self._collection: Any = _collection(collection_name)
        self._collection.create_index("expires", expireAfterSeconds=0)

    @staticmethod
    def _id(namespace: str, sha256: str) -> str:
        return f"{namespace}:{sha256}"

    def get(self, namespace: str, sha256: str) -> UploadRecord | None:
        doc = self._collection.find_one({"_id": self._id(namespace, sha256)})
        return UploadRecord.from_dict(doc) if doc else None

    def put(self, record: UploadRecord) -> None:
        doc = record.to_dict()
        self._collection.replace_one(
            {"_id": self._id(record.namespace, record.sha256)}, doc, upsert=True
        )

    def forget(self, namespace: str, sha256: str) -> None:
        self._collection.delete_one({"_id": self._id(namespace, sha256)})


class MongoBatchJournal:
    """A :class:`~.batch.BatchJournal` in ``gemini_vision_batches``."""

    def __init__(self, collection_name: str = BATCHES) -> None:
        self._collection: Any = _collection(collection_name)

    def open_records(self, group: str) -> list[BatchRecord]:
        cursor = self._collection.find({"group": group}).sort("created", 1)
        return [BatchRecord.from_dict(doc) for doc in cursor]

    def save(self, record: BatchRecord) -> None:
        # request keys are hex content addresses: valid MongoDB field names
        self._collection.replace_one({"_id": record.token}, record.to_dict(), upsert=True)

    def delete(self, token: str) -> None:
        self._collection.delete_one({"_id": token})


def work_claims(group: str, *, lease_seconds: float) -> WorkClaims:
    """This worker's claims in ``group``, in ``gemini_vision_claims``."""
    return WorkClaims(_collection(CLAIMS), group, lease_seconds=lease_seconds)
