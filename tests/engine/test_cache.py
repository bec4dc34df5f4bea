"""The response cache is content-addressed: same pixels, prompt, settings and model, same key."""

from __future__ import annotations

from gemini_vision.api.wire import Content, GenerateContentRequest, GenerationConfig, Part
from gemini_vision.engine.cache import CachedAnswer, MemoryCache, request_cache_key


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
