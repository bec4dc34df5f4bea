"""Lease-based claims on work items, so several workers share one job without duplicates.

Delegated operations may run on several FiftyOne workers at once over one database. Before a
worker asks Gemini about a sample it *claims* it: one document per (group, item) in a MongoDB
collection, created with a unique ``_id`` (an insert either succeeds for exactly one worker or
fails for the others) and holding a lease that the owner renews from a heartbeat thread for
as long as its items move (it claims or finishes some within a lease period). Then:

- an item leased by a live worker is skipped by the others, and revisited at the end: if its
  owner crashes or is stuck, the lease expires and another worker takes it over (an atomic
  update whose filter only matches expired leases, so exactly one taker wins);
- a finished item (labelled or failed) is marked ``done``; other workers skip items finished
  after they started, and a *later* run (a rerun) retries failed ones, like a rerun without
  claims would. Labelled items are not even offered again: the runner only pages through
  samples without a result;
- a worker that stops (quota, error, cancellation) releases the leases it still holds, so the
  others or a rerun pick the items up at once.

Documents carry ``purge_at`` for a TTL index: done items are forgotten after a day.
``collection`` is anything with pymongo's Collection methods; this module does not import
FiftyOne. Times are UTC datetimes (MongoDB's date type); durations are seconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from pymongo.errors import BulkWriteError, ConnectionFailure, DuplicateKeyError

from gemini_vision.errors import DatabaseUnavailableError, LockBusyError

__all__ = ["LockBusy", "WorkClaims"]

logger = logging.getLogger(__name__)

#: how long finished items are remembered (a day: longer than any overlap of workers)
RETENTION = timedelta(days=1)
_LEASED, _DONE, _LOCK = "leased", "done", "lock"


#: the error :meth:`WorkClaims.exclusive` raises when another live worker holds the lock
LockBusy = LockBusyError


def _utcnow() -> datetime:
    # MongoDB stores milliseconds; truncating keeps our comparisons exact after a round trip
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def _new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class WorkClaims:
    """Claims of one worker (``owner``) in one ``group``; see the module docstring."""

    def __init__(
        self,
        collection: Any,
        group: str,
        *,
        lease_seconds: float = 120.0,
        owner: str | None = None,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        self.collection = collection
        self.group = group
        self.owner = owner or _new_owner()
        self.lease = timedelta(seconds=lease_seconds)
        self._clock = clock
        self.started = clock()
        #: items another live worker held when we asked; revisited by :meth:`take_deferred`
        self.deferred: set[str] = set()
        self.taken_over = 0
        #: called from the heartbeat with the number of live workers in the group
        self.on_workers: Callable[[int], None] | None = None
        self._heartbeat: threading.Thread | None = None
        self._stop = threading.Event()
        #: when this worker last claimed or finished items (monotonic seconds)
        self._last_progress = time.monotonic()
        collection.create_index("purge_at", expireAfterSeconds=0)
        collection.create_index([("group", 1), ("owner", 1), ("state", 1)])

    # -- claiming ---------------------------------------------------------------------------

    def _id(self, key: str) -> str:
        return f"{self.group}|{key}"

    def claim(self, keys: Sequence[str]) -> list[str]:
        """Claims what it can of ``keys``; returns the claimed ones, in order.

        Keys held by another live worker are remembered in :attr:`deferred`."""
        if not keys:
            return []
        now = self._clock()
        docs = [
            {
                "_id": self._id(key),
                "group": self.group,
                "key": key,
                "owner": self.owner,
                "state": _LEASED,
                "lease_until": now + self.lease,
                "purge_at": now + self.lease + RETENTION,
            }
            for key in keys
        ]
        taken: set[str] = set(keys)
        try:
            self.collection.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            clashes = {
                keys[e["index"]] for e in exc.details.get("writeErrors", []) if e["code"] == 11000
            }
            other = [e for e in exc.details.get("writeErrors", []) if e["code"] != 11000]
            if other:
                raise
            taken -= clashes
            taken |= self._take_over(sorted(clashes), now)
        self.deferred -= taken
        self._last_progress = time.monotonic()
        return [key for key in keys if key in taken]

    def _take_over(self, keys: list[str], now: datetime) -> set[str]:
        """Takes ``keys`` whose lease expired or that were finished before we started (a rerun
        retries them); defers those another live worker holds. Keys we hold already are not
        returned again."""
        if not keys:
            return set()
        ids = [self._id(key) for key in keys]
        claimable = {
            "_id": {"$in": ids},
            "$or": [
                {"state": _LEASED, "lease_until": {"$lt": now}},
                {"state": _DONE, "finished_at": {"$lt": self.started}},
            ],
        }
        # each document is updated atomically: of several takers exactly one matches it, and
        # the ticket tells us which documents this very call took
        ticket = uuid.uuid4().hex
        update = {
            "$set": {
                "owner": self.owner,
                "ticket": ticket,
                "state": _LEASED,
                "lease_until": now + self.lease,
                "purge_at": now + self.lease + RETENTION,
            }
        }
        self.collection.update_many(claimable, update)
        mine = self.collection.find({"_id": {"$in": ids}, "ticket": ticket}, {"key": 1})
        got = {doc["key"] for doc in mine}
        live_elsewhere = self.collection.find(
            {"_id": {"$in": ids}, "state": _LEASED, "owner": {"$ne": self.owner}}, {"key": 1}
        )
        self.deferred |= {doc["key"] for doc in live_elsewhere}
        return got

    def take_deferred(self) -> list[str]:
        """Deferred keys that are ours now (their owner finished them: dropped; their lease
        expired: taken over). Call until :attr:`deferred` is empty, pausing in between."""
        if not self.deferred:
            return []
        keys = sorted(self.deferred)
        ids = [self._id(key) for key in keys]
        done = self.collection.find({"_id": {"$in": ids}, "state": _DONE}, {"key": 1})
        gone = {doc["key"] for doc in done}
        present = {doc["key"] for doc in self.collection.find({"_id": {"$in": ids}}, {"key": 1})}
        gone |= set(keys) - present  # released: claim them afresh
        self.deferred -= gone
        fresh = self.claim(sorted(set(keys) - present))
        candidates = sorted(self.deferred)
        self.deferred -= set(candidates)
        taken = self._take_over(candidates, self._clock())
        self.taken_over += len(taken)
        if taken:
            logger.info("Took over %d item(s) whose worker stopped renewing its lease", len(taken))
        return fresh + sorted(taken)

    # -- finishing ----------------------------------------------------------------------------

    def complete(self, keys: Iterable[str]) -> None:
        """Marks ``keys`` finished (labelled or failed with a reason)."""
        ids = [self._id(key) for key in keys]
        if not ids:
            return
        now = self._clock()
        self.collection.update_many(
            {"_id": {"$in": ids}, "owner": self.owner},
            {"$set": {"state": _DONE, "finished_at": now, "purge_at": now + RETENTION}},
        )
        self._last_progress = time.monotonic()

    def release(self) -> int:
        """Gives back every item still leased by this worker; returns how many."""
        result = self.collection.delete_many(
            {"group": self.group, "owner": self.owner, "state": _LEASED}
        )
        return int(result.deleted_count)

    def moving(self) -> bool:
        """Whether this worker claimed or finished items within the last lease period."""
        return time.monotonic() - self._last_progress < self.lease.total_seconds()

    def renew(self) -> None:
        """Extends the leases of this worker's locks, and of its items while they move: a
        worker stuck on an answer stops renewing them, so they pass to a live worker once
        their lease runs out (finishing later, it does no harm: the sample is written once
        more with the same answer)."""
        states = [_LEASED, _LOCK] if self.moving() else [_LOCK]
        now = self._clock()
        self.collection.update_many(
            {"group": self.group, "owner": self.owner, "state": {"$in": states}},
            {"$set": {"lease_until": now + self.lease, "purge_at": now + self.lease + RETENTION}},
        )

    def live_workers(self) -> int:
        """How many workers (this one included) hold live leases in the group."""
        now = self._clock()
        owners = self.collection.distinct(
            "owner", {"group": self.group, "state": _LEASED, "lease_until": {"$gt": now}}
        )
        return len(set(owners) | {self.owner})

    # -- locks --------------------------------------------------------------------------------

    @contextlib.contextmanager
    def exclusive(self, name: str, *, wait: float | None = 60.0) -> Iterator[None]:
        """Holds the group's lock ``name`` (one worker at a time; renewed by the heartbeat, so
        a crashed holder's lock expires). Waits up to ``wait`` seconds (None: not at all)
        for it, then raises :class:`~gemini_vision.errors.LockBusyError`."""
        lock_id = f"{self.group}#{name}"
        deadline = time.monotonic() + (wait or 0.0)
        while not self._try_lock(lock_id):
            if wait is None or time.monotonic() >= deadline:
                raise LockBusyError(
                    f"another worker is changing the same field right now (it holds the "
                    f"'{name}' lock of {self.group} for up to {self.lease.total_seconds():.0f} s "
                    "more); wait for it to finish, or run again in a few minutes"
                )
            time.sleep(0.05)
        try:
            yield
        finally:
            self.collection.delete_one({"_id": lock_id, "owner": self.owner})

    def _try_lock(self, lock_id: str) -> bool:
        now = self._clock()
        fields = {"owner": self.owner, "state": _LOCK, "lease_until": now + self.lease}
        fields["purge_at"] = now + self.lease + RETENTION
        try:
            self.collection.insert_one({"_id": lock_id, "group": self.group, **fields})
            return True
        except DuplicateKeyError:
            taken = self.collection.update_one(
                {"_id": lock_id, "lease_until": {"$lt": now}}, {"$set": fields}
            )
            return bool(taken.modified_count)

    # -- heartbeat ----------------------------------------------------------------------------

    def __enter__(self) -> WorkClaims:
        self._stop.clear()
        self._heartbeat = threading.Thread(
            target=self._beat, name="gemini-vision-claims", daemon=True
        )
        self._heartbeat.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        self._stop.set()
        if exc_type is not None and issubclass(
            exc_type, (DatabaseUnavailableError, ConnectionFailure)
        ):
            return  # nothing can be released; the leases expire by themselves
        if self._heartbeat is not None:
            self._heartbeat.join()
        released = self.release()
        if released:
            logger.info("Released %d unfinished item(s) for other workers or a rerun", released)

    def _beat(self) -> None:
        interval = self.lease.total_seconds() / 3
        while not self._stop.wait(interval):
            try:
                self.renew()
                if self.on_workers is not None:
                    self.on_workers(self.live_workers())
            except Exception:  # a blip of the database must not kill the heartbeat
                logger.warning("Could not renew work leases", exc_info=True)
