"""Answers ``generateContent`` requests by looking at the images, in Gemini's real formats.

:func:`respond` reads what the prompt asks (:mod:`.intent`), looks at every image
(:mod:`.vision`) and writes the answer a real model would:

- detection: a JSON list of ``{"box_2d": [ymin, xmin, ymax, xmax], "label": ...}``, integers
  on 0-1000 relative to the *received* image, plus ``"confidence"`` when asked for;
- segmentation: the same plus ``"mask": "data:image/png;base64,..."``, a 256 x 256 8-bit
  grayscale mask (0 / 255, like real Gemini's) of the object inside its ``box_2d`` (resized
  bilinearly to the box and thresholded at 127 it gives the object back);
- pointing: ``[{"point": [y, x], "label": ...}]`` on 0-1000, a point well inside each object;
- classification: one of the listed classes (bare value for ``text/x.enum``, JSON with a
  schema), several for multi-label prompts; the dominant shape class when no list is given;
- captions, answers to questions, comparisons of several images: plain sentences.

Labels are the user's class names when classes are given, else descriptive ("red circle").
With ``responseSchema``/``responseJsonSchema`` the value is reshaped to fit
(:mod:`.schema_fit`). Answers are plain JSON; fences and prose are fault knobs of the server.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from gemini_vision.api.wire import GenerateContentRequest
from gemini_vision.catalog import model_spec
from gemini_vision.emulator.model import language, vision
from gemini_vision.emulator.model.identity import IDENTITY_KEY
from gemini_vision.emulator.model.intent import Intent, read_intent
from gemini_vision.emulator.model.png import encode_gray_png
from gemini_vision.emulator.model.schema_fit import fit, map_to_enum

__all__ = ["Reply", "mask_data_url", "respond", "to_box_2d"]

MASK_SIZE = 256
_CACHE_SIZE = 128
_cache: OrderedDict[bytes, list[vision.FoundObject]] = OrderedDict()
_cache_lock = threading.Lock()
#: a lock per image being looked at, so that one look serves every request waiting for it
_looking: dict[bytes, threading.Lock] = {}


@dataclass(frozen=True)
class Reply:
    """The model's answer text, in Gemini's output format, and the task it recognised
    (``detect``, ``segment``, ``point``, ``classify``, ``caption``, ``ask``, ``compare`` or
    ``text``)."""

    text: str
    kind: str = "text"


@dataclass(frozen=True)
class _View:
    image: Image.Image
    objects: list[vision.FoundObject]

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def respond(
    request: GenerateContentRequest,
    images: list[Image.Image],
    *,
    model: str,
    rng: random.Random,
) -> Reply:
    """The answer to ``request`` about ``images`` (see the module docstring)."""
    masks_supported = model_spec(model).family != "3"
    intent = read_intent(request, len(images), masks_supported=masks_supported)
    if not images:
        return _without_images(intent)
    views = [_View(img, _analyze(img)) for img in images]
    if intent.kind in ("detect", "segment", "point"):
        return Reply(_spatial(intent, views[0]), intent.kind)
    if intent.kind == "classify":
        return Reply(_classify(intent, views[0], rng), "classify")
    text = _prose(intent, views, rng)
    return Reply(_as_requested(text, intent, key=_TEXT_KEYS[intent.kind]), intent.kind)


_TEXT_KEYS = {"caption": "caption", "ask": "answer", "compare": "differences"}


def _analyze(image: Image.Image) -> list[vision.FoundObject]:
    """:func:`vision.analyze`, remembered by the image's pixel identity (or, for an image
    without one, by its pixels): retries and several tasks on the same image (the usual
    benchmark traffic) cost a lookup instead of a look (~20 ms). Requests about one image
    that arrive together wait for one look (hundreds of connections opening at once would
    otherwise all look, each slowing the others)."""
    key = _sight_key(image)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        lock = _looking.setdefault(key, threading.Lock())
    with lock:
        with _cache_lock:
            if key in _cache:
                return _cache[key]
        try:
            found = vision.analyze(_rgb(image))
        finally:
            with _cache_lock:
                _looking.pop(key, None)
        with _cache_lock:
            _cache[key] = found
            while len(_cache) > _CACHE_SIZE:
                _cache.popitem(last=False)
    return found


def _rgb(image: Image.Image) -> Image.Image:
    return image if image.mode == "RGB" else image.convert("RGB")


def _sight_key(image: Image.Image) -> bytes:
    """The image's pixel identity when the server attached one (no decoding), else a hash of
    its RGB pixels (~2 ms for 640 x 480)."""
    identity = image.info.get(IDENTITY_KEY)
    if isinstance(identity, bytes):
        return identity
    rgb = _rgb(image)
    digest = hashlib.sha1(f"{rgb.size}".encode())
    digest.update(rgb.tobytes())
    return digest.digest()


def _without_images(intent: Intent) -> Reply:
    if intent.kind in ("detect", "segment", "point"):
        return Reply("[]", intent.kind)
    text = (
        "I don't see an image in your message. Please attach one and tell me what you would "
        "like to know about it."
    )
    return Reply(_as_requested(text, intent, key="answer"), "text")


# --------------------------------------------------------------------------------------------
# Spatial tasks


def to_box_2d(box_xyxy: tuple[int, int, int, int], size: tuple[int, int]) -> list[int]:
    """Pixel box ``(x0, y0, x1, y1)`` -> ``[ymin, xmin, ymax, xmax]`` integers on 0-1000."""
    w, h = size
    x0, y0, x1, y1 = box_xyxy
    values = (y0 / h, x0 / w, y1 / h, x1 / w)
    return [min(1000, max(0, round(v * 1000))) for v in values]


def mask_data_url(obj: vision.FoundObject, box_2d: list[int], size: tuple[int, int]) -> str:
    """The object's mask as Gemini sends it: a ``data:image/png;base64,`` 256 x 256 8-bit
    grayscale probability map covering exactly the region that ``box_2d`` names (drawn once
    per object and box: zlib at level 9 takes about 4 ms a mask)."""
    key = ("mask", tuple(box_2d), size)
    if key not in obj.drawn:
        obj.drawn[key] = _mask_data_url(obj, box_2d, size)
    return obj.drawn[key]


def _mask_data_url(obj: vision.FoundObject, box_2d: list[int], size: tuple[int, int]) -> str:
    w, h = size
    pad = 4
    x0, y0 = obj.box_xyxy[0] - pad, obj.box_xyxy[1] - pad
    padded = np.pad(obj.mask, pad).astype(np.uint8) * 255
    region = (
        box_2d[1] / 1000 * w - x0,
        box_2d[0] / 1000 * h - y0,
        box_2d[3] / 1000 * w - x0,
        box_2d[2] / 1000 * h - y0,
    )
    region = (
        min(max(region[0], 0.0), padded.shape[1] - 1.0),
        min(max(region[1], 0.0), padded.shape[0] - 1.0),
        min(max(region[2], 1.0), float(padded.shape[1])),
        min(max(region[3], 1.0), float(padded.shape[0])),
    )
    # resampled to 256 x 256, then binary (0 / 255): every real Gemini 2.5 mask we have seen
    # is a two-valued PNG, whatever "probability map" Google's "Image understanding" guide
    # promises
    probability = Image.fromarray(padded, "L").resize(
        (MASK_SIZE, MASK_SIZE), Image.Resampling.BILINEAR, box=region
    )
    binary = np.where(np.asarray(probability) > 127, 255, 0).astype(np.uint8)
    return "data:image/png;base64," + base64.b64encode(encode_gray_png(binary)).decode("ascii")


def _selected(intent: Intent, view: _View) -> list[vision.FoundObject]:
    objects = [o for o in view.objects if intent.wants(o.label, o.color)]
    if intent.max_items is not None and len(objects) > intent.max_items:
        keep = set(map(id, sorted(objects, key=lambda o: -o.area)[: intent.max_items]))
        objects = [o for o in objects if id(o) in keep]
    return objects


def _label(obj: vision.FoundObject, intent: Intent) -> str:
    if intent.classes:
        return intent.class_for(obj.label, obj.color) or obj.label
    return language.noun(obj)


def _spatial(intent: Intent, view: _View) -> str:
    items: list[dict[str, Any]] = []
    for obj in _selected(intent, view):
        box = to_box_2d(obj.box_xyxy, view.size)
        item: dict[str, Any]
        if intent.kind == "point":
            x, y = obj.inner_point()
            w, h = view.size
            item = {"point": [round(y / h * 1000), round(x / w * 1000)]}
        elif intent.kind == "segment":
            item = {"box_2d": box, "mask": mask_data_url(obj, box, view.size)}
        else:
            item = {"box_2d": box}
        item["label"] = _label(obj, intent)
        if intent.confidence:
            item["confidence"] = obj.score
        items.append(item)
    value: Any = fit(items, intent.schema) if intent.schema else items
    return dump(value)


def dump(value: Any) -> str:
    """JSON as Gemini lays it out: a list of objects one per line, anything else on one."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        lines = ",\n".join("  " + json.dumps(v, ensure_ascii=False) for v in value)
        return f"[\n{lines}\n]"
    return json.dumps(value, ensure_ascii=False)


# --------------------------------------------------------------------------------------------
# Classification


def _classify(intent: Intent, view: _View, rng: random.Random) -> str:
    objects = view.objects
    if intent.central:  # about the one object in the centre: what lies there, if anything
        objects = _at_centre(objects, view.size)
    if intent.classes:
        names = [name for name, _ in intent.classes]
        count: Counter[str] = Counter()
        area: Counter[str] = Counter()
        for o in objects:
            name = intent.class_for(o.label, o.color)
            if name is not None:
                count[name] += 1
                area[name] += o.area
        ranked = sorted(count, key=lambda n: (-count[n], -area[n], names.index(n)))
        total = max(1, sum(count.values()))
        if intent.multi_label:
            value: Any = ranked
            if intent.confidence:
                value = [{"label": n, "confidence": _share(count[n], total)} for n in ranked]
            return _as_requested(value, intent, key="labels")
        nothing = next((n for n in names if n.strip().lower() in _NOTHING), None)
        if ranked:
            best = ranked[0]
            share = _share(count[best], total)
        elif nothing is not None:  # nothing of the list is there, and "none" is an answer
            best, share = nothing, 0.9
        else:  # made to choose among classes none of which is there: a guess
            best, share = rng.choice(names), 0.3
        if intent.confidence:
            return _as_requested({"label": best, "confidence": share}, intent, key="label")
        return _as_requested(best, intent, key="label")
    shapes = _dominant_shapes(objects)
    if intent.multi_label:
        return _as_requested(shapes, intent, key="labels")
    best = shapes[0] if shapes else "background"
    return _as_requested(best, intent, key="label")


def _at_centre(
    objects: list[vision.FoundObject], size: tuple[int, int]
) -> list[vision.FoundObject]:
    """The object covering the image's centre (else the one whose box is nearest to it)."""
    cx, cy = size[0] / 2, size[1] / 2

    def distance(o: vision.FoundObject) -> float:
        x0, y0, x1, y1 = o.box_xyxy
        dx = max(x0 - cx, 0.0, cx - x1)
        dy = max(y0 - cy, 0.0, cy - y1)
        return (dx * dx + dy * dy) ** 0.5

    near = [o for o in objects if distance(o) <= 0.15 * min(size)]
    return sorted(near, key=distance)[:1]


#: class names that mean "no object of the list is there"
_NOTHING = frozenset({"none", "nothing", "no object", "none of these", "background", "empty"})


def _share(n: int, total: int) -> float:
    return round(0.5 + 0.49 * n / total, 2)


def _dominant_shapes(objects: list[vision.FoundObject]) -> list[str]:
    """Shape classes by number of instances, ties by total area (the scenes' definition)."""
    count: Counter[str] = Counter(o.label for o in objects)
    area: Counter[str] = Counter()
    for o in objects:
        area[o.label] += o.area
    return sorted(count, key=lambda n: (-count[n], -area[n]))


# --------------------------------------------------------------------------------------------
# Text answers


def _prose(intent: Intent, views: list[_View], rng: random.Random) -> str:
    if intent.kind == "compare":
        return language.compare([(v.objects, v.size) for v in views])
    texts = []
    for view in views:
        background = language.background_phrase(view.image, view.objects)
        if intent.kind == "ask":
            text = language.answer_question(
                intent.question, view.objects, background, view.size, rng
            )
        elif intent.detailed:
            text = language.detailed_caption(view.objects, background, view.size, rng)
        else:
            text = language.caption(view.objects, background, rng)
        texts.append(text)
    if len(texts) == 1:
        return texts[0]
    return "\n".join(f"Image {i}: {t}" for i, t in enumerate(texts, start=1))


def _as_requested(value: Any, intent: Intent, *, key: str) -> str:
    """``value`` in the output format the request asks for: a bare enum value, JSON shaped
    by the schema, JSON without a schema, or plain text."""
    mime = intent.mime_type or ""
    schema = intent.schema
    if mime == "text/x.enum" and isinstance(schema, dict):
        enum = schema.get("enum")
        text = value if isinstance(value, str) else json.dumps(value)
        return map_to_enum(text, [str(e) for e in enum]) if isinstance(enum, list) else text
    if schema:
        return dump(fit(value, schema))
    if mime == "application/json":
        return dump(value if isinstance(value, list | dict) else {key: value})
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return dump(value)
    return dump(value)
