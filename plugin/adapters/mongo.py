"""What the engine remembers, kept in FiftyOne's own MongoDB and shared by every worker.

Delegated-operation workers on several machines share one database, so keeping these there
means a rerun, a crash recovery or another worker never pays twice and never loses work:

- ``gemini_vision_responses``: the response cache, keyed by the request's content address
  (see :mod:`gemini_vision.engine.cache`); each answer remembers which datasets it served
  (so it can be cleared for one dataset) and expires ``GEMINI_VISION_CACHE_TTL_DAYS`` days
  (default 30) after it was stored;
- ``gemini_vision_uploads``: Files API uploads by (project namespace, sha256) until they
  expire (see :mod:`.uploads`); a TTL index drops expired records;
- ``gemini_vision_batches``: open Batch API jobs and their request → samples mapping (see
  :mod:`.batch`);
- ``gemini_vision_claims``: per-sample work leases of concurrent workers (see :mod:`.claims`).

None of them ever holds an API key.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any, TypeVar, cast

import fiftyone.core.odm as foo_odm
from pymongo.errors import ConnectionFailure

from gemini_vision.adapters.claims import WorkClaims
from gemini_vision.engine.batch import BatchRecord
from gemini_vision.engine.cache import CachedAnswer
from gemini_vision.engine.uploads import UploadRecord
from gemini_vision.errors import DatabaseUnavailableError
from gemini_vision.settings import EnvSetting, env_number

__all__ = [
    "BATCHES",
    "CLAIMS",
    "COLLECTION",
    "UPLOADS",
    "MongoBatchJournal",
    "MongoResponseCache",
    "MongoUploads",
    "cache_ttl_days",
    "cached_answers",
    "clear_cached_answers",
    "database_errors",
    "database_reachable",
    "unreachable",
    "work_claims",
]

COLLECTION = "gemini_vision_responses"
UPLOADS = "gemini_vision_uploads"
BATCHES = "gemini_vision_batches"
CLAIMS = "gemini_vision_claims"


@contextlib.contextmanager
def database_errors() -> Iterator[None]:
    """Turns "the database cannot be reached" into :class:`DatabaseUnavailableError`, whose
    one line says what to do (every other database error passes through unchanged)."""
    try:
        yield
    except ConnectionFailure as exc:
        raise DatabaseUnavailableError(unreachable(exc)) from exc


F = TypeVar("F", bound=Callable[..., Any])


def _translated(method: F) -> F:
    """``method`` with :func:`database_errors` around it."""

    @functools.wraps(method)
    def translated(*args: Any, **kwargs: Any) -> Any:
        with database_errors():
            return method(*args, **kwargs)

    return cast(F, translated)


def database_reachable() -> bool:
    """Whether the FiftyOne database can take writes now, as far as the driver knows, without
    any I/O (its monitor notices a server that went away as soon as its connection drops)."""
    description = foo_odm.get_db_client().topology_description
    return bool(description.has_writable_server())


def unreachable(exc: BaseException) -> str:
    """The one-line reason of a run stopped by the database going away."""
    cause = " ".join(str(exc).split())[:160]
    return (
        f"the FiftyOne database is unreachable ({type(exc).__name__}: {cause}); run again "
        "when it is back - finished samples are kept"
    )


def _collection(name: str) -> Any:
    return foo_odm.get_db_conn()[name]


class MongoResponseCache:
    """A :class:`~gemini_vision.engine.ResponseCache` in ``gemini_vision_responses``.

    ``dataset_id``: the dataset this run serves; every answer it stores or is served is
    marked with it, so :meth:`clear` can drop one dataset's answers. ``ttl_days``: answers
    expire that long after they were stored (MongoDB's TTL monitor removes them within a
    minute); default ``GEMINI_VISION_CACHE_TTL_DAYS`` or 30, 0 keeps them for ever."""

    def __init__(
        self,
        collection_name: str = COLLECTION,
        *,
        dataset_id: str | None = None,
        ttl_days: float | None = None,
    ) -> None:
        self._collection: Any = _collection(collection_name)
        self.dataset_id = dataset_id
        days = cache_ttl_days().value if ttl_days is None else ttl_days
        _expire_after(self._collection, "stored_at", int(days * 86_400) if days > 0 else None)

    @_translated
    def get(self, key: str) -> CachedAnswer | None:
        doc = self._collection.find_one({"_id": key})
        if doc is None:
            return None
        if self.dataset_id and self.dataset_id not in doc.get("datasets", ()):
            self._collection.update_one({"_id": key}, {"$addToSet": {"datasets": self.dataset_id}})
        return CachedAnswer.from_dict(doc)

    @_translated
    def put(self, key: str, answer: CachedAnswer) -> None:
        update: dict[str, Any] = {"$set": {**answer.to_dict(), "stored_at": _utcnow()}}
        if self.dataset_id:
            update["$addToSet"] = {"datasets": self.dataset_id}
        self._collection.update_one({"_id": key}, update, upsert=True)

    @_translated
    def count(self, dataset_id: str | None = None) -> int:
        """How many answers are kept (those that served ``dataset_id``, when given)."""
        query = {"datasets": dataset_id} if dataset_id else {}
        return int(self._collection.count_documents(query))

    @_translated
    def clear(self, dataset_id: str | None = None) -> int:
        """Deletes the answers that served ``dataset_id`` (all of them without one), so the
        next run asks again; returns how many were deleted. An answer that also served other
        datasets goes too: kept, it would answer this dataset's next run again."""
        query = {"datasets": dataset_id} if dataset_id else {}
        return int(self._collection.delete_many(query).deleted_count)


def cached_answers(dataset_id: str | None = None) -> int:
    """How many answers the response cache keeps (those that served ``dataset_id``)."""
    return MongoResponseCache().count(dataset_id)


def clear_cached_answers(dataset_id: str | None = None) -> int:
    """Deletes the cached answers that served ``dataset_id`` (all, without one)."""
    return MongoResponseCache().clear(dataset_id)


def cache_ttl_days() -> EnvSetting:
    """Days a cached answer is kept (``GEMINI_VISION_CACHE_TTL_DAYS``, default 30; 0: always)."""
    return env_number("GEMINI_VISION_CACHE_TTL_DAYS", 30)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _expire_after(collection: Any, field: str, seconds: int | None) -> None:
    """A TTL index on ``field`` removing documents ``seconds`` after it (None: no expiry);
    an existing index is changed in place when the setting changed."""
    name = f"expire_{field}"
    existing = collection.index_information().get(name)
    if seconds is None:
        if existing is not None:
            collection.drop_index(name)
        return
    if existing is None:
        collection.create_index(field, expireAfterSeconds=seconds, name=name)
    elif existing.get("expireAfterSeconds") != seconds:
        collection.database.command(
            "collMod", collection.name, index={"name": name, "expireAfterSeconds": seconds}
        )


class MongoUploads:
    """An :class:`~.uploads.UploadRegistry` in ``gemini_vision_uploads``."""

    def __init__(self, collection_name: str = UPLOADS) -> None:
        self._collection: Any = _collection(collection_name)
        self._collection.create_index("expires", expireAfterSeconds=0)

    @staticmethod
    def _id(namespace: str, sha256: str) -> str:
        return f"{namespace}:{sha256}"

    @_translated
    def get(self, namespace: str, sha256: str) -> UploadRecord | None:
        doc = self._collection.find_one({"_id": self._id(namespace, sha256)})
        return UploadRecord.from_dict(doc) if doc else None

    @_translated
    def put(self, record: UploadRecord) -> None:
        doc = record.to_dict()
        self._collection.replace_one(
            {"_id": self._id(record.namespace, record.sha256)}, doc, upsert=True
        )

    @_translated
    def forget(self, namespace: str, sha256: str) -> None:
        self._collection.delete_one({"_id": self._id(namespace, sha256)})


class MongoBatchJournal:
    """A :class:`~.batch.BatchJournal` in ``gemini_vision_batches``."""

    def __init__(self, collection_name: str = BATCHES) -> None:
        self._collection: Any = _collection(collection_name)

    @_translated
    def open_records(self, group: str) -> list[BatchRecord]:
        cursor = self._collection.find({"group": group}).sort("created", 1)
        return [BatchRecord.from_dict(doc) for doc in cursor]

    @_translated
    def save(self, record: BatchRecord) -> None:
        # request keys are hex content addresses: valid MongoDB field names
        self._collection.replace_one({"_id": record.token}, record.to_dict(), upsert=True)

    @_translated
    def delete(self, token: str) -> None:
        self._collection.delete_one({"_id": token})


def work_claims(group: str, *, lease_seconds: float) -> WorkClaims:
    """This worker's claims in ``group``, in ``gemini_vision_claims``."""
    return WorkClaims(_collection(CLAIMS), group, lease_seconds=lease_seconds)
