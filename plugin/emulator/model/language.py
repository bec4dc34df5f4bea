"""Sentences about what the emulator saw: captions, short answers, image comparisons.

Everything here works from :class:`~.vision.FoundObject` lists (what the pixels show), so the
words always agree with the boxes and masks the emulator returns for the same image.
``rng`` only picks between equivalent phrasings.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Callable, Sequence

import numpy as np
from PIL import Image
from scipy import ndimage

from gemini_vision.emulator.model.intent import Selector, parse_selectors
from gemini_vision.emulator.model.vision import FoundObject

__all__ = ["answer_question", "background_phrase", "caption", "compare", "detailed_caption"]

_NUMBERS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def number_word(n: int) -> str:
    return _NUMBERS[n] if 0 <= n < len(_NUMBERS) else str(n)


def plural(noun: str, n: int) -> str:
    return noun if n == 1 else noun + "s"


def article(phrase: str) -> str:
    return ("an " if phrase[:1] in "aeiou" else "a ") + phrase


def counted(n: int, noun: str, *, exact: bool = False) -> str:
    """``"a red circle"`` (``"one red circle"`` if ``exact``), ``"two stars"``, ``"no stars"``."""
    if n == 1 and not exact:
        return article(noun)
    return f"{number_word(n)} {plural(noun, n)}"


def join(items: Sequence[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def noun(obj: FoundObject) -> str:
    return f"{obj.color} {obj.label if obj.label != 'object' else 'shape'}"


def inventory(objects: Sequence[FoundObject]) -> str:
    """``"three circles (red, green and blue), two yellow stars and a purple square"``: shapes
    by number (most first), each with its colours."""
    by_shape: dict[str, list[str]] = {}
    for o in objects:
        by_shape.setdefault(o.label if o.label != "object" else "shape", []).append(o.color)
    order = sorted(by_shape, key=lambda k: -len(by_shape[k]))
    parts = []
    for shape in order:
        colors = by_shape[shape]
        distinct = list(dict.fromkeys(colors))
        if len(distinct) == 1:
            parts.append(counted(len(colors), f"{distinct[0]} {shape}"))
        else:
            parts.append(f"{counted(len(colors), shape)} ({join(distinct)})")
    return join(parts)


def where(obj: FoundObject, size: tuple[int, int]) -> str:
    """Position in the frame: ``"in the top left"``, ``"in the center"``..."""
    x0, y0, x1, y1 = obj.box_xyxy
    cx, cy = (x0 + x1) / 2 / size[0], (y0 + y1) / 2 / size[1]
    row = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else ""
    col = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else ""
    if not row and not col:
        return "in the center"
    if row and col:
        return f"in the {row} {col}"
    return f"on the {col}" if col else f"at the {row}"


def background_phrase(image: Image.Image, objects: Sequence[FoundObject]) -> str:
    """``"a light gray background"``: brightness of the pixels no object covers."""
    small = image.convert("L").reduce(max(1, max(image.size) // 128))
    lum = np.asarray(small, dtype=np.float32)
    mask = np.ones(lum.shape, bool)
    fx, fy = lum.shape[1] / image.width, lum.shape[0] / image.height
    for o in objects:
        x0, y0, x1, y1 = o.box_xyxy
        mask[int(y0 * fy) : int(np.ceil(y1 * fy)), int(x0 * fx) : int(np.ceil(x1 * fx))] = False
    level = float(lum[mask].mean()) if mask.any() else float(lum.mean())
    tone = "light gray" if level > 170 else "gray" if level > 95 else "dark gray"
    return f"a {tone} background"


def caption(
    objects: Sequence[FoundObject], background: str, rng: random.Random, count: int = 1
) -> str:
    """One natural sentence naming the objects and their colours."""
    if not objects:
        return f"A plain, softly textured scene: {background} with no distinct objects."
    things = inventory(objects)
    templates = (
        "{Things} on {background}.",
        "{Things} arranged on {background}.",
        "A simple graphic of {things} on {background}.",
    )
    text = rng.choice(templates).format(
        Things=things[0].upper() + things[1:], things=things, background=background
    )
    return text


def detailed_caption(
    objects: Sequence[FoundObject], background: str, size: tuple[int, int], rng: random.Random
) -> str:
    """A short paragraph: what is there, where, which is largest, which ones overlap."""
    if not objects:
        return (
            f"The image shows {background} with a subtle texture. There are no distinct "
            "objects or shapes in it."
        )
    n = len(objects)
    parts = [
        f"The image shows {counted(n, 'flat, brightly colored shape')} on {background}: "
        f"{inventory(objects)}."
    ]
    placed = [f"{article(noun(o))} {where(o, size)}" for o in objects]
    parts.append(f"From top to bottom, there is {join(placed)}.")
    largest = max(objects, key=lambda o: o.area)
    if n > 1:
        parts.append(f"The largest one is the {noun(largest)}.")
    pairs = _touching(objects)
    if pairs:
        said = [f"the {noun(a)} and the {noun(b)}" for a, b in pairs[:3]]
        parts.append(f"Some shapes overlap: {join(said)} touch each other.")
    parts.append(rng.choice(("The colors are saturated and the edges are crisp.", "")))
    return " ".join(p for p in parts if p)


def _touching(objects: Sequence[FoundObject]) -> list[tuple[FoundObject, FoundObject]]:
    pairs = []
    for i, a in enumerate(objects):
        for b in objects[i + 1 :]:
            ax0, ay0, ax1, ay1 = a.box_xyxy
            bx0, by0, bx1, by1 = b.box_xyxy
            if ax0 > bx1 + 2 or bx0 > ax1 + 2 or ay0 > by1 + 2 or by0 > ay1 + 2:
                continue
            if _gap(a, b) <= 2:
                pairs.append((a, b))
    return pairs


def _gap(a: FoundObject, b: FoundObject) -> int:
    x0 = min(a.box_xyxy[0], b.box_xyxy[0]) - 3
    y0 = min(a.box_xyxy[1], b.box_xyxy[1]) - 3
    x1 = max(a.box_xyxy[2], b.box_xyxy[2]) + 3
    y1 = max(a.box_xyxy[3], b.box_xyxy[3]) + 3
    canvas = np.zeros((y1 - y0, x1 - x0, 2), bool)
    for k, o in enumerate((a, b)):
        ox0, oy0, ox1, oy1 = o.box_xyxy
        canvas[oy0 - y0 : oy1 - y0, ox0 - x0 : ox1 - x0, k] = o.mask
    grown = ndimage.binary_dilation(canvas[..., 0], iterations=2)
    return 0 if (grown & canvas[..., 1]).any() else 99


# --------------------------------------------------------------------------------------------
# Questions


def _matching(objects: Sequence[FoundObject], selectors: Sequence[Selector]) -> list[FoundObject]:
    if not selectors:
        return list(objects)
    return [o for o in objects if any(s.matches(o.label, o.color) for s in selectors)]


def _what(selectors: Sequence[Selector], raw: str) -> str:
    """The noun phrase for an answer, singular: ``"red circle"``, ``"object"``, ``"cupcake"``."""
    if len(selectors) == 1 and not selectors[0].matches_nothing:
        s = selectors[0]
        color = " or ".join(sorted(s.colors))
        return f"{color} {s.shape or 'object'}".strip()
    return re.sub(r"s$", "", raw.strip()) or "object"


_TAIL = re.compile(
    r"\s+(?:are|is|do|does|can|could|in|on|within|inside|visible|present|there|here|you)\b.*$"
)


def _subject(match: re.Match[str]) -> str:
    return _TAIL.sub("", match.group("what").strip()).strip(" ?.!")


Size = tuple[int, int]


def _how_many(m: re.Match[str], q: str, objects: Sequence[FoundObject], size: Size) -> str:
    raw = _subject(m)
    selectors = parse_selectors(raw)
    n = len(_matching(objects, selectors))
    verb = "is" if n == 1 else "are"
    return f"There {verb} {n} {plural(_what(selectors, raw), n)} in the image."


def _is_there(m: re.Match[str], q: str, objects: Sequence[FoundObject], size: Size) -> str:
    raw = _subject(m)
    selectors = parse_selectors(raw)
    n = len(_matching(objects, selectors))
    what = _what(selectors, raw)
    if n == 0:
        return f"No, there is no {what} in the image."
    verb = "is" if n == 1 else "are"
    return f"Yes, there {verb} {counted(n, what)}."


def _superlative(
    m: re.Match[str], q: str, objects: Sequence[FoundObject], size: Size
) -> str | None:
    if not objects:
        return None
    pick = min if "smallest" in q else max
    obj = pick(objects, key=lambda o: o.area)
    adjective = "smallest" if "smallest" in q else "largest"
    if re.search(r"\bcolou?r\b", q):
        return f"The {adjective} object is {obj.color}: it is the {noun(obj)}."
    if re.search(r"\bshape\b", q):
        return f"The {adjective} object is {article(obj.label)}: the {noun(obj)}."
    return f"The {adjective} object is the {noun(obj)} {where(obj, size)}."


def _colour_of(m: re.Match[str], q: str, objects: Sequence[FoundObject], size: Size) -> str:
    raw = _subject(m)
    found = _matching(objects, parse_selectors(raw))
    if not found:
        return f"I don't see any {raw} in the image."
    names = join(sorted({o.color for o in found}))
    if len(found) == 1:
        return f"The {found[0].label} is {names}."
    return f"The {plural(found[0].label, 2)} are {names}."


def _shape_of(m: re.Match[str], q: str, objects: Sequence[FoundObject], size: Size) -> str:
    found = _matching(objects, parse_selectors(_subject(m)))
    if not found:
        return "I don't see such an object in the image."
    return f"It is {join([article(o.label) for o in found])}."


def _most_common(
    m: re.Match[str], q: str, objects: Sequence[FoundObject], size: Size
) -> str | None:
    if not objects:
        return None
    if re.search(r"\bcolou?r", q):
        top, n = Counter(o.color for o in objects).most_common(1)[0]
        return f"{top.capitalize()} is the most common color ({counted(n, 'object')})."
    top, n = Counter(o.label for o in objects).most_common(1)[0]
    return f"{plural(top, 2).capitalize()} are the most common shape ({number_word(n)})."


def _colours(m: re.Match[str], q: str, objects: Sequence[FoundObject], size: Size) -> str:
    palette = sorted({o.color for o in objects})
    return f"The shapes are {join(palette)}." if palette else "There are no colored shapes."


#: the questions the emulator answers briefly, in the order they are tried; an answer of None
#: (nothing to talk about) lets the next kind try
_QUESTIONS: tuple[tuple[re.Pattern[str], Callable[..., str | None]], ...] = (
    (re.compile(r"how\s+many\s+(?P<what>[^?.!]+)"), _how_many),
    (
        re.compile(
            r"(?:\b(?:is|are)\s+there|\bdoes\s+(?:the|this)\s+(?:image|picture|photo)\s+"
            r"(?:contain|have|show|include)|\b(?:can|do)\s+you\s+see)\s+"
            r"(?:an?\s+|any\s+|some\s+)?(?P<what>[^?.!]+)"
        ),
        _is_there,
    ),
    (re.compile(r"\b(?:largest|biggest|smallest)\b"), _superlative),
    (re.compile(r"what\s+colou?rs?\s+(?:is|are)\s+(?P<what>[^?.!]+)"), _colour_of),
    (
        re.compile(
            r"what\s+(?:shape|kind\s+of\s+shape|type\s+of\s+shape)\s+(?:is|are)\s+"
            r"(?P<what>[^?.!]+)"
        ),
        _shape_of,
    ),
    (re.compile(r"most\s+(?:common|frequent|often)|appears?\s+most"), _most_common),
    (re.compile(r"\bwhat\s+colou?rs\b|\bwhich\s+colou?rs\b"), _colours),
)


def answer_question(
    question: str,
    objects: Sequence[FoundObject],
    background: str,
    size: Size,
    rng: random.Random,
) -> str:
    """A short answer to a counting, yes/no, colour, shape or superlative question; a short
    description for anything else."""
    q = question.lower()
    for pattern, answer in _QUESTIONS:
        if (m := pattern.search(q)) and (text := answer(m, q, objects, size)) is not None:
            return text
    return caption(objects, background, rng)


# --------------------------------------------------------------------------------------------
# Comparison of several images


def _rel_center(o: FoundObject, size: tuple[int, int]) -> tuple[float, float]:
    x0, y0, x1, y1 = o.box_xyxy
    return (x0 + x1) / 2 / size[0], (y0 + y1) / 2 / size[1]


def _distance(a: FoundObject, sa: tuple[int, int], b: FoundObject, sb: tuple[int, int]) -> float:
    (ax, ay), (bx, by) = _rel_center(a, sa), _rel_center(b, sb)
    return float(np.hypot(ax - bx, ay - by))


def _diff(
    first: Sequence[FoundObject],
    sa: tuple[int, int],
    second: Sequence[FoundObject],
    sb: tuple[int, int],
) -> list[str]:
    left, right = list(first), list(second)
    changes: list[str] = []
    for near, same_color in ((0.08, True), (0.08, False), (2.0, True)):
        for a in list(left):
            options = [
                b
                for b in right
                if b.label == a.label
                and (b.color == a.color) == same_color
                and _distance(a, sa, b, sb) < near
            ]
            if not options:
                continue
            b = min(options, key=lambda o: _distance(a, sa, o, sb))
            left.remove(a)
            right.remove(b)
            if not same_color:
                changes.append(f"the {noun(a)} {where(a, sa)} is {b.color} in the second image")
            elif near > 1:
                changes.append(
                    f"the {noun(a)} moved from {where(a, sa)[3:]} to {where(b, sb)[3:]}"
                )
    changes += [
        f"the {noun(a)} {where(a, sa)} of the first image is missing from the second" for a in left
    ]
    changes += [f"the second image has an extra {noun(b)} {where(b, sb)}" for b in right]
    return changes


def compare(views: Sequence[tuple[Sequence[FoundObject], tuple[int, int]]]) -> str:
    """How the images differ, object by object (each one against the first)."""
    base, base_size = views[0]
    lines = []
    for i, (objects, size) in enumerate(views[1:], start=2):
        changes = _diff(base, base_size, objects, size)
        if len(views) > 2:
            prefix = f"Image {i} compared with image 1: "
        else:
            prefix = ""
        if not changes:
            lines.append(
                f"{prefix}I can't find any difference in the objects: both images show "
                f"{inventory(base) or 'no distinct objects'}."
            )
            continue
        text = "; ".join(changes)
        count = counted(len(changes), "difference")
        lines.append(f"{prefix}There {'is' if len(changes) == 1 else 'are'} {count}: {text}.")
    return "\n".join(lines)
