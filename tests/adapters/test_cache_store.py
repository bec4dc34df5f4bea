"""The response cache in FiftyOne's database: answers expire after a configurable time, know
which datasets they served, and can be cleared for one dataset or all - also from the App."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from support import sent_requests
from support.datasets import DatasetFactory

pytestmark = pytest.mark.fiftyone

fo = pytest.importorskip("fiftyone")
foo = pytest.importorskip("fiftyone.operators")

import fiftyone.core.odm as foo_odm  # noqa: E402

from gemini_vision.adapters.mongo import MongoResponseCache  # noqa: E402
from gemini_vision.engine import CachedAnswer  # noqa: E402

PLUGIN = "@gemini-vision/gemini"


def answer(text: str) -> CachedAnswer:
    return CachedAnswer(text, "STOP", "gemini-2.5-flash", 300, 12, 1.0)


@pytest.fixture
def collection_name() -> Any:
    name = f"test_cache_{uuid.uuid4().hex[:8]}"
    yield name
    MongoResponseCache(name, ttl_days=0)._collection.drop()


def test_answers_expire_after_the_configured_days_and_the_setting_can_change(
    collection_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def expiry() -> Any:
        info = foo_odm.get_db_conn()[collection_name].index_information()
        return info.get("expire_stored_at", {}).get("expireAfterSeconds")

    MongoResponseCache(collection_name, ttl_days=2)
    assert expiry() == 2 * 86_400
    monkeypatch.setenv("GEMINI_VISION_CACHE_TTL_DAYS", "0.5")
    cache = MongoResponseCache(collection_name)
    assert expiry() == 43_200
    cache.put("k", answer("a caption"))
    assert cache._collection.find_one({"_id": "k"})["stored_at"] is not None
    MongoResponseCache(collection_name, ttl_days=0)  # 0: kept for ever
    assert expiry() is None


def test_answers_know_the_datasets_they_served_and_clear_by_dataset(
    collection_name: str,
) -> None:
    first = MongoResponseCache(collection_name, dataset_id="a", ttl_days=30)
    second = MongoResponseCache(collection_name, dataset_id="b", ttl_days=30)
    first.put("shared", answer("one"))
    first.put("mine", answer("two"))
    second.put("theirs", answer("three"))
    assert second.get("shared") == answer("one")  # served to b from a's answer
    assert (first.count("a"), first.count("b"), first.count()) == (2, 2, 3)
    assert first.clear("a") == 2  # "shared" goes too: kept, it would answer a again
    assert first.get("shared") is None and second.get("theirs") == answer("three")
    assert first.clear() == 1 and first.count() == 0


def test_clearing_a_datasets_answers_from_the_app_makes_the_next_run_ask_again(
    datasets: DatasetFactory, plugin_env: Any
) -> None:
    dataset = datasets.scenes(2, seed=61)
    run = {"dataset": dataset, "params": {"label_field": "cap", "overwrite": True}}
    foo.execute_operator(f"{PLUGIN}/caption_images", ctx=run)
    before = sent_requests(plugin_env)
    foo.execute_operator(f"{PLUGIN}/caption_images", ctx=run)
    assert sent_requests(plugin_env) == before  # answered from the cache
    cleared = foo.execute_operator(
        f"{PLUGIN}/clear_cached_answers", ctx={"dataset": dataset, "params": {}}
    ).result
    assert cleared == {"scope": "dataset", "deleted": 2}
    foo.execute_operator(f"{PLUGIN}/caption_images", ctx=run)
    assert sent_requests(plugin_env) == before + 2
