"""Work claims in MongoDB: several workers never take the same sample, a dead worker's samples
are taken over when its lease expires, finished work is not taken again by running workers."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from support.datasets import DatasetFactory

pytestmark = pytest.mark.fiftyone

fo = pytest.importorskip("fiftyone")

import fiftyone.core.odm as foo_odm  # noqa: E402

from gemini_vision.adapters.claims import LockBusy, WorkClaims  # noqa: E402
from gemini_vision.adapters.work_source import claimed_items, iter_pages  # noqa: E402


@pytest.fixture
def collection() -> Iterator[Any]:
    coll = foo_odm.get_db_conn()[f"test_claims_{uuid.uuid4().hex[:8]}"]
    yield coll
    coll.drop()


def worker(collection: Any, name: str, lease: float = 60.0, group: str = "g") -> WorkClaims:
    return WorkClaims(collection, group, lease_seconds=lease, owner=name)


KEYS = [f"s{i:03d}" for i in range(100)]


def test_two_workers_split_the_same_page_without_overlap(collection: Any) -> None:
    a, b = worker(collection, "a"), worker(collection, "b")
    got_a = a.claim(KEYS[:60])
    got_b = b.claim(KEYS[40:])
    assert got_a == KEYS[:60]
    assert got_b == KEYS[60:]
    assert b.deferred == set(KEYS[40:60])


def test_concurrent_claims_never_give_a_key_twice(collection: Any) -> None:
    workers = [worker(collection, f"w{i}") for i in range(4)]
    results: dict[str, list[str]] = {}

    def run(w: WorkClaims) -> None:
        mine = []
        for start in range(0, len(KEYS), 10):
            mine += w.claim(KEYS[start : start + 20])  # overlapping pages
        results[w.owner] = mine

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [key for keys in results.values() for key in keys]
    assert sorted(every) == KEYS  # all claimed, none twice


def test_a_dead_workers_items_are_taken_over_after_its_lease(collection: Any) -> None:
    dead = worker(collection, "dead", lease=0.3)
    assert dead.claim(KEYS[:5]) == KEYS[:5]
    alive = worker(collection, "alive")
    assert alive.claim(KEYS[:5]) == []
    assert alive.deferred == set(KEYS[:5])
    time.sleep(0.4)
    assert alive.take_deferred() == KEYS[:5]
    assert not alive.deferred and alive.taken_over == 5


def test_the_heartbeat_keeps_a_slow_but_moving_workers_leases(collection: Any) -> None:
    slow = worker(collection, "slow", lease=0.3)
    with slow:
        slow.claim(KEYS[:6])
        for key in KEYS[3:6]:  # longer than the lease in all: only renewals keep the rest
            time.sleep(0.25)
            slow.complete([key])  # ... and they go on while the worker's items move
        other = worker(collection, "other")
        assert other.claim(KEYS[:3]) == []
    # leaving releases what was not finished: free for anyone at once
    assert other.take_deferred() == KEYS[:3]


def test_finished_items_are_skipped_by_running_workers_and_retried_by_later_runs(
    collection: Any,
) -> None:
    early = worker(collection, "early")
    concurrent = worker(collection, "concurrent")
    early.claim(KEYS[:4])
    early.complete(KEYS[:4])
    assert concurrent.claim(KEYS[:4]) == []  # finished while it ran: not again
    assert not concurrent.deferred
    time.sleep(0.01)
    rerun = worker(collection, "rerun")  # started after they finished: a rerun retries
    assert rerun.claim(KEYS[:4]) == KEYS[:4]


def test_live_workers_are_counted_for_sharing_the_quota(collection: Any) -> None:
    a, b = worker(collection, "a"), worker(collection, "b")
    assert a.live_workers() == 1
    b.claim(KEYS[:1])
    assert a.live_workers() == 2
    b.complete(KEYS[:1])
    assert a.live_workers() == 1


@pytest.fixture
def dataset(datasets: DatasetFactory) -> Any:
    return datasets.samples(fo.Sample(filepath=f"/tmp/claims/{i}.png") for i in range(300))


def test_pages_cover_a_view_once_in_id_order(dataset: Any) -> None:
    pages = list(iter_pages(dataset.limit(250), page_size=64))
    ids = [key for page in pages for key, _ in page]
    assert [len(p) for p in pages] == [64, 64, 64, 58]
    assert ids == sorted(ids) and len(set(ids)) == 250


def test_two_workers_streaming_one_dataset_cover_it_exactly_once(
    dataset: Any, collection: Any
) -> None:
    seen: dict[str, list[str]] = {}

    def work(name: str, page_size: int) -> None:
        with worker(collection, name, lease=1.0) as claims:
            mine = seen.setdefault(name, [])
            for item in claimed_items(dataset, claims, page_size=page_size, poll_seconds=0.05):
                mine.append(item.key)
                time.sleep(0.001)  # "asking Gemini"
                claims.complete([item.key])

    threads = [
        threading.Thread(target=work, args=("a", 32)),
        threading.Thread(target=work, args=("b", 48)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(seen["a"]).isdisjoint(seen["b"])
    assert sorted(seen["a"] + seen["b"]) == sorted(dataset.values("id"))
    assert seen["a"] and seen["b"]  # both took part


def test_a_worker_that_dies_mid_page_loses_nothing(dataset: Any, collection: Any) -> None:
    todo = dataset.exists("result", False)  # what the runner streams: samples without a result
    crashed = worker(collection, "crashed", lease=0.3)
    stream = claimed_items(todo, crashed, page_size=64, claim_size=64)
    first = [next(stream).key for _ in range(10)]  # took a page of 64, finished 10, died
    dataset.select(first).set_values("result", ["ok"] * 10)
    crashed.complete(first)
    survivor = worker(collection, "survivor", lease=5.0)
    rest = [item.key for item in claimed_items(todo, survivor, poll_seconds=0.1)]
    assert sorted(first + rest) == sorted(dataset.values("id"))
    assert survivor.taken_over == 54


def test_a_lock_admits_one_worker_at_a_time_and_expires_with_a_dead_holder(
    collection: Any,
) -> None:
    holder, other = worker(collection, "holder", lease=0.3), worker(collection, "other")
    with (
        holder.exclusive("dataset"),
        pytest.raises(LockBusy),
        other.exclusive("dataset", wait=None),
    ):
        pass
    with other.exclusive("dataset", wait=None):  # released on exit
        pass
    dead = holder.exclusive("dataset")
    dead.__enter__()  # never left: the process died holding it
    started = time.monotonic()
    with other.exclusive("dataset", wait=5.0):
        assert time.monotonic() - started >= 0.2  # waited for the dead holder's lease


def test_a_stuck_workers_items_pass_to_a_live_one(collection: Any) -> None:
    """The heartbeat renews leases only while the worker's items move."""
    with worker(collection, "stuck", lease=0.6) as stuck:
        assert stuck.claim(KEYS[:5]) == KEYS[:5]
        moving = worker(collection, "moving", lease=60.0)
        assert moving.claim(KEYS[:5]) == []  # leased, and the lease is being renewed
        time.sleep(1.5)  # the stuck worker's heartbeat beat twice, without progress
        assert not stuck.moving()
        assert sorted(moving.take_deferred()) == KEYS[:5]
