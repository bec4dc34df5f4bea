"""generateContent semantics: token accounting, thinking, the answer envelope.

The vision responder (``responder.respond``) writes the model's *text*; this module wraps it
the way the API does: ``candidates[].content.parts``, ``finishReason``, ``usageMetadata`` with
``total = prompt + candidates + thoughts`` and zero counters omitted, ``modelVersion`` and
``responseId``; thought parts only with ``includeThoughts``; thinking tokens count against
``maxOutputTokens`` (→ ``MAX_TOKENS``, answer cut at ~4 characters per token).
"""

from __future__ import annotations

import hashlib
import logging
import random
import string
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gemini_vision.api import wire
from gemini_vision.catalog import estimate_image_tokens, estimate_text_tokens, model_spec
from gemini_vision.emulator.model import responder
from gemini_vision.emulator.server.faults import fence, malform, wrap_in_prose
from gemini_vision.emulator.server.media import Media, collect_media, load_pixels

__all__ = [
    "Answer",
    "Media",
    "ReplyCache",
    "collect_media",
    "generate",
    "load_pixels",
    "prompt_usage",
    "stream_chunks",
]

logger = logging.getLogger(__name__)

Respond = Callable[..., responder.Reply]

_THINKING_RANGES = {
    "MINIMAL": (0, 40),
    "LOW": (150, 450),
    "MEDIUM": (400, 1200),
    "HIGH": (800, 2400),
}
_DYNAMIC_THINKING = (300, 1500)
_SAFETY_CATEGORIES = (
    "HARM_CATEGORY_SEXUALLY_EXPLICIT",
    "HARM_CATEGORY_HATE_SPEECH",
    "HARM_CATEGORY_HARASSMENT",
    "HARM_CATEGORY_DANGEROUS_CONTENT",
)
_ID_CHARS = string.ascii_letters + string.digits + "-_"


def _texts(request: wire.GenerateContentRequest) -> list[str]:
    contents = list(request.contents)
    if request.system_instruction is not None:
        contents.append(request.system_instruction)
    return [part.text for content in contents for part in content.parts if part.text]


def prompt_usage(
    request: wire.GenerateContentRequest, media: list[Media], model: str
) -> tuple[int, list[dict[str, Any]]]:
    """Prompt tokens and their per-modality details (zero modalities left out)."""
    text_tokens = sum(estimate_text_tokens(text) for text in _texts(request))
    image_tokens = sum(
        estimate_image_tokens(
            m.image.width, m.image.height, model=model, media_resolution=m.media_resolution
        )
        for m in media
    )
    details = [
        {"modality": modality, "tokenCount": count}
        for modality, count in (("TEXT", text_tokens), ("IMAGE", image_tokens))
        if count
    ]
    return text_tokens + image_tokens, details


#: the base64 of the request's inline images, which its fingerprint replaces by their pixel
#: identities
_INLINE_DATA = {"contents": {"__all__": {"parts": {"__all__": {"inline_data": {"data"}}}}}}


def answer_seed(
    request: wire.GenerateContentRequest, model: str, seed: int, media: list[Media]
) -> int:
    """Same request, model and seed → same answer. Images count by their pixel identity,
    already known: the same picture gets the same answer, whatever comments its file carries
    (serialising the images' base64 into the fingerprint cost ~0.3 ms a request)."""
    digest = hashlib.sha256(f"{seed}:{model}:".encode())
    fingerprint = request.model_dump_json(by_alias=True, exclude_none=True, exclude=_INLINE_DATA)
    digest.update(fingerprint.encode())
    for item in media:
        digest.update(item.identity or item.sha256.encode())
    return int.from_bytes(digest.digest()[:8], "big")


class ReplyCache:
    """Replies by (request, model, seed, candidate index), least recently used dropped first.

    The responder is a pure function of those, so a repeated request (a retry after a 429 or
    503, the same image sent again) is answered without looking at the pixels again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replies: OrderedDict[tuple[int, int], responder.Reply] = OrderedDict()

    def get(self, key: tuple[int, int]) -> responder.Reply | None:
        with self._lock:
            reply = self._replies.get(key)
            if reply is not None:
                self._replies.move_to_end(key)
            return reply

    def put(self, key: tuple[int, int], reply: responder.Reply, capacity: int) -> None:
        with self._lock:
            self._replies[key] = reply
            while len(self._replies) > max(capacity, 0):
                self._replies.popitem(last=False)


def _thinking_tokens(
    request: wire.GenerateContentRequest, model: str, rng: random.Random, scale: float
) -> int:
    spec = model_spec(model)
    if spec.thinking_control is None or scale <= 0:
        return 0
    config = request.generation_config
    thinking = config.thinking_config if config else None
    budget = thinking.thinking_budget if thinking else None
    level = thinking.thinking_level if thinking else None
    if budget == 0:
        return 0
    if level is None and spec.thinking_control == "level" and budget is None:
        level = "HIGH"  # Gemini 3 thinks at "high" unless told otherwise
    low, high = _THINKING_RANGES.get((level or "").upper(), _DYNAMIC_THINKING)
    tokens = round(rng.uniform(low, high) * scale)
    return min(tokens, budget) if budget and budget > 0 else tokens


def _thought_summary(kind: str, image_count: int) -> str:
    subject = "the image" if image_count == 1 else f"the {image_count} images"
    goals = {
        "detect": "locate each prominent object and estimate its bounding box",
        "segment": "outline each object and build its mask inside its box",
        "point": "find a representative point on each requested object",
        "caption": "describe what is shown concisely",
    }
    goal = goals.get(kind, "answer the question")
    return f"**Analyzing {subject}**\n\nI'm examining {subject} to {goal}."


def _safety_ratings(blocked_category: str) -> list[dict[str, Any]]:
    return [
        {"category": c, "probability": "HIGH", "blocked": True}
        if c == blocked_category
        else {"category": c, "probability": "NEGLIGIBLE"}
        for c in _SAFETY_CATEGORIES
    ]


def response_id(rng: random.Random) -> str:
    return "".join(rng.choice(_ID_CHARS) for _ in range(23))


@dataclass
class Answer:
    """A complete GenerateContentResponse body and its ``usageMetadata``."""

    body: dict[str, Any]
    usage: dict[str, Any]


def _usage(prompt: int, details: list[dict[str, Any]], candidates: int, thoughts: int) -> dict:
    usage: dict[str, Any] = {"promptTokenCount": prompt}
    if candidates:
        usage["candidatesTokenCount"] = candidates
    usage["totalTokenCount"] = prompt + candidates + thoughts
    if details:
        usage["promptTokensDetails"] = details
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def _apply_text_fault(text: str, fault: str | None, kind: str, rng: random.Random) -> str:
    if fault == "malformed":
        return malform(text, rng)
    if fault == "fenced":
        return fence(text)
    if fault == "prose":
        return wrap_in_prose(text, kind, rng)
    return text


def generate(
    request: wire.GenerateContentRequest,
    model: str,
    media: list[Media],
    *,
    seed: int,
    thinking_scale: float = 1.0,
    fault: str | None = None,
    fault_rng: random.Random | None = None,
    respond: Respond | None = None,
    cache: ReplyCache | None = None,
    cache_size: int = 0,
) -> Answer:
    """Answers a validated request. ``fault`` is a content fault of :mod:`.faults`.

    ``respond`` writes the model's text (default: the vision responder); ``cache`` keeps up
    to ``cache_size`` of its replies.
    """
    respond = respond or responder.respond
    cache = cache if cache_size > 0 else None
    request_seed = answer_seed(request, model, seed, media)
    if cache is None or cache.get((request_seed, 0)) is None:
        load_pixels(media)  # a cached request had decodable images the first time
    fault_rng = fault_rng or random.Random(seed)
    prompt, details = prompt_usage(request, media, model)
    envelope = {"modelVersion": model, "responseId": response_id(fault_rng)}
    if fault == "safety":
        return _blocked_prompt(prompt, details, envelope)

    rng = random.Random(request_seed)
    config = request.generation_config or wire.GenerationConfig()
    show_thoughts = bool(config.thinking_config and config.thinking_config.include_thoughts)
    thoughts = _thinking_tokens(request, model, rng, thinking_scale)
    images = [m.image for m in media]
    candidates: list[dict[str, Any]] = []
    candidate_tokens = 0
    for index in range(max(config.candidate_count or 1, 1)):
        reply_rng = random.Random(rng.getrandbits(64))  # drawn even on a cache hit: same answers
        reply = cache.get((request_seed, index)) if cache else None
        if reply is None:
            reply = respond(request, images, model=model, rng=reply_rng)
            if cache:
                cache.put((request_seed, index), reply, cache_size)
        if fault == "safety_finish":
            candidates.append(_blocked_candidate(index))
            thoughts = 0
            continue
        text = _apply_text_fault(reply.text, fault, reply.kind, fault_rng)
        text, finish, thoughts = _cut(text, fault, config.max_output_tokens, thoughts, fault_rng)
        summary = _thought_summary(reply.kind, len(media)) if show_thoughts and thoughts else None
        candidates.append(_candidate(index, text, finish, summary))
        candidate_tokens += estimate_text_tokens(text)
    usage = _usage(prompt, details, candidate_tokens, thoughts)
    return Answer({"candidates": candidates, "usageMetadata": usage, **envelope}, usage)


def _blocked_prompt(
    prompt: int, details: list[dict[str, Any]], envelope: dict[str, Any]
) -> Answer:
    """A prompt refused for safety: ``promptFeedback`` and no candidates."""
    usage = _usage(prompt, details, 0, 0)
    feedback = {
        "blockReason": "SAFETY",
        "safetyRatings": _safety_ratings("HARM_CATEGORY_DANGEROUS_CONTENT"),
    }
    return Answer({"promptFeedback": feedback, "usageMetadata": usage, **envelope}, usage)


def _blocked_candidate(index: int) -> dict[str, Any]:
    """A candidate stopped for safety: no content, its ratings say why."""
    return {
        "finishReason": "SAFETY",
        "index": index,
        "safetyRatings": _safety_ratings("HARM_CATEGORY_HARASSMENT"),
    }


def _cut(
    text: str, fault: str | None, limit: int | None, thoughts: int, rng: random.Random
) -> tuple[str, str, int]:
    """``(text, finishReason, thinking tokens)`` once a ``max_tokens`` fault and
    ``maxOutputTokens`` (``limit``, which thinking tokens count against) have cut the answer;
    a token is ~4 characters."""
    finish = "STOP"
    if fault == "max_tokens" and text:
        text = text[: max(1, int(len(text) * rng.uniform(0.3, 0.9)))]
        finish = "MAX_TOKENS"
    if limit is not None and thoughts + estimate_text_tokens(text) > limit:
        thoughts = min(thoughts, limit)
        text = text[: (limit - thoughts) * 4]
        finish = "MAX_TOKENS"
    return text, finish, thoughts


def _candidate(index: int, text: str, finish: str, thought: str | None) -> dict[str, Any]:
    """One answer: the thought summary (when asked for) first, then the text."""
    parts: list[dict[str, Any]] = []
    if thought:
        parts.append({"text": thought, "thought": True})
    if text:
        parts.append({"text": text})
    return {"content": _model_content(parts), "finishReason": finish, "index": index}


def _model_content(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """A ``Content`` of role ``model``; without parts the API leaves ``parts`` out."""
    return {"parts": parts, "role": "model"} if parts else {"role": "model"}


def stream_chunks(body: dict[str, Any], pieces: int = 4) -> list[dict[str, Any]]:
    """The SSE chunks of a complete response: text deltas, then finishReason + usage.

    A blocked prompt, or several candidates, stream as one chunk.
    """
    candidates = body.get("candidates") or []
    if len(candidates) != 1:
        return [body]
    candidate = candidates[0]
    envelope: dict[str, Any] = {k: body[k] for k in ("modelVersion", "responseId") if k in body}
    parts = candidate.get("content", {}).get("parts", [])
    thought_parts = [p for p in parts if p.get("thought")]
    text = "".join(p["text"] for p in parts if not p.get("thought"))
    size = max(32, -(-len(text) // pieces))
    deltas = [text[i : i + size] for i in range(0, len(text), size)] or [""]
    chunks: list[dict[str, Any]] = []
    if thought_parts:
        chunks.append(_chunk(thought_parts, envelope))
    for delta in deltas[:-1]:
        chunks.append(_chunk([{"text": delta}], envelope))
    last = _chunk([{"text": deltas[-1]}] if deltas[-1] else [], envelope)
    last["candidates"][0]["finishReason"] = candidate.get("finishReason", "STOP")
    if "safetyRatings" in candidate:
        last["candidates"][0]["safetyRatings"] = candidate["safetyRatings"]
    last["usageMetadata"] = body.get("usageMetadata", {})
    chunks.append(last)
    return chunks


def _chunk(parts: list[dict[str, Any]], envelope: dict[str, Any]) -> dict[str, Any]:
    return {"candidates": [{"content": _model_content(parts), "index": 0}], **envelope}
