"""The response cache is content-addressed and durable across processes."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from gemini_vision.api.wire import Content, GenerateContentRequest, GenerationConfig, Part
from gemini_vision.engine.cache import CachedAnswer, MemoryCache, SqliteCache, request_cache_key


def request(image: bytes, prompt: str = "Caption this image.", temperature: float = 0.5):
    return GenerateContentRequest(
        contents=[
            Content(role="user", parts=[Part.from_bytes(image, "image/png"), Part(text=prompt)])
        ],
        generation_config=GenerationConfig(temperature=temperature),
    )


def answer(text: str = "a red circle") -> CachedAnswer:
    return CachedAnswer(text, "STOP", "gemini-2.5-flash", 300, 12, 1.0)


def test_same_pixels_prompt_and_settings_give_the_same_key() -> None:
    a = request_cache_key("gemini-2.5-flash", request(b"\x89PNG-1"))
    b = request_cache_key("models/gemini-2.5-flash", request(b"\x89PNG-1"))
    assert a == b and len(a) == 64


def test_any_change_of_image_prompt_settings_or_model_changes_the_key() -> None:
    base = request_cache_key("gemini-2.5-flash", request(b"\x89PNG-1"))
    assert request_cache_key("gemini-2.5-flash", request(b"\x89PNG-2")) != base
    assert request_cache_key("gemini-2.5-flash", request(b"\x89PNG-1", prompt="Describe.")) != base
    assert request_cache_key("gemini-2.5-flash", request(b"\x89PNG-1", temperature=0.0)) != base
    assert request_cache_key("gemini-2.5-pro", request(b"\x89PNG-1")) != base


def test_memory_cache_round_trip() -> None:
    cache = MemoryCache()
    assert cache.get("k") is None
    cache.put("k", answer())
    assert cache.get("k") == answer()


def _writer(path: str) -> None:
    SqliteCache(path).put("from-child", answer("written by another process"))


def test_sqlite_cache_is_shared_between_processes(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    cache = SqliteCache(path)
    cache.put("k", answer())
    child = multiprocessing.get_context("spawn").Process(target=_writer, args=(str(path),))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert cache.get("from-child") == answer("written by another process")
    assert SqliteCache(path).get("k") == answer()
