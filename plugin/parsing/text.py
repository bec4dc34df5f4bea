"""Classification and free-text answers: model text → labels, or → clean text.

Classification answers arrive as ``text/x.enum`` plain text (``cat``), JSON (``{"label":
"cat"}``, ``["cat", "dog"]``, ``[{"label": "cat", "confidence": 0.9}]``, ``{"cat": 0.9}``),
comma or bullet lists, or a sentence naming a class ("The image shows a cat."). Labels are
mapped onto the requested classes by :class:`~.labelmap.LabelMapper`, keeping the raw label.
Classes a prose answer rules out ("a dog, not a cat", "Cat: no", a yes/no table) are not
predicted; an answer that rules out every class it names means no class applies.

Captions and answers keep their content; only packaging is removed: one wrapping fence, a JSON
string or ``{"caption": ...}`` wrapper, wrapping quotes, a ``Caption:`` prefix and a "Here is a
caption:" preamble line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gemini_vision.errors import ParseError
from gemini_vision.parsing.json_scan import (
    MAX_TEXT_ANSWER_CHARS,
    JsonScan,
    PartialDict,
    PartialList,
    check_answer_length,
    region_value,
    scan_json,
    without_surrogates,
)
from gemini_vision.parsing.labelmap import LabelMapper, LabelMatch, clean_label
from gemini_vision.parsing.numbers import parse_confidence

__all__ = [
    "ClassPrediction",
    "ClassificationResult",
    "TextAnswer",
    "parse_classification",
    "parse_free_text",
]


@dataclass(frozen=True)
class ClassPrediction:
    """One predicted class: ``label`` is a requested class (None when unmapped)."""

    label: str | None
    raw: str
    method: str
    score: float
    #: the model's own confidence in [0, 1], when it gave one
    confidence: float | None = None

    @classmethod
    def from_match(cls, match: LabelMatch, confidence: float | None = None) -> ClassPrediction:
        return cls(match.label, match.raw, match.method, match.score, confidence)


@dataclass(frozen=True)
class ClassificationResult:
    """The classes an answer names (an empty tuple only when the model said none applies)."""

    predictions: tuple[ClassPrediction, ...]
    raw_text: str
    warnings: tuple[str, ...] = ()

    @property
    def labels(self) -> list[str]:
        """The mapped class names (unmapped answers left out)."""
        return [p.label for p in self.predictions if p.label is not None]

    @property
    def top(self) -> ClassPrediction | None:
        return self.predictions[0] if self.predictions else None


@dataclass(frozen=True)
class TextAnswer:
    """A caption or an answer, with the packaging removed."""

    text: str
    raw_text: str
    warnings: tuple[str, ...] = ()


_LABEL_KEYS = (
    "label",
    "labels",
    "class",
    "classes",
    "category",
    "categories",
    "answer",
    "prediction",
    "predictions",
    "name",
    "classification",
    "result",
)
_CONFIDENCE_KEYS = ("confidence", "score", "probability")
_NONE_ANSWERS = frozenset(
    {
        "none",
        "no",
        "n/a",
        "nothing",
        "none of these",
        "none of the above",
        "[]",
        "null",
        "no class",
        "no classes",
    }
)
#: "None of these classes apply.", "None of the listed classes apply to this image."
_NONE_SENTENCE = re.compile(
    r"(?:none|no)(?:\s+of)?(?:\s+(?:these|those|them|the))?"
    r"(?:\s+(?:above|listed|given|provided|following))?"
    r"(?:\s+(?:classes|class|labels|label|categories|category|options))?"
    r"(?:\s+(?:apply|applies|match|matches|fit|fits|are\s+present|is\s+present))?"
    r"(?:\s+(?:to|in)\s+(?:this|the)\s+(?:image|picture|photo))?",
    re.I,
)
_PREFIX = re.compile(
    r"^\s*(?:\*\*|__)?(?:final\s+)?(?:caption|answer|title|description|label|class|category|"
    r"classification|response)(?:\*\*|__)?\s*[:：]\s*(?:\*\*|__)?\s*",
    re.I,
)
_PREAMBLE = re.compile(r"^\s*(?:sure[,!.]?\s*)?here(?:'s| is| are)\b[^\n]{0,120}:\s*\n", re.I)
#: "Here is a caption for the image: A dog ..." on one line
_PREAMBLE_INLINE = re.compile(
    r"^\s*(?:sure[,!.]?\s*)?here(?:'s| is)\s+(?:(?:a|an|the|my|one)\s+)?(?:\w+\s+){0,2}"
    r"(?:caption|description|answer)\b[^:\n]{0,60}:[ \t]*(?=\S)",
    re.I,
)
#: **bold** inside a one-line caption or answer: the words without the markup (not `2**10`,
#: not inside `code`; ``__`` is left alone, it is too common in code: ``__init__``)
_EMPHASIS = re.compile(r"(?<![\w*`])\*\*(?=[^\s*])([^*`\n]+?)(?<=\S)\*\*(?![\w*])")
#: a heading line that only names what follows: "## Caption", "**Answer**"
_HEADING = re.compile(
    r"^\s*(?:#{1,6}\s*|\*\*|__)?(?:image\s+)?(?:caption|answer|description|response)"
    r"(?:\*\*|__)?\s*\n",
    re.I,
)
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»", "「": "」"}
_SPLIT = re.compile(r"\s*(?:[,;\n]|^\s*[-*•]\s+|\d+[.)]\s+)\s*", re.M)
_AND = re.compile(r"\s+(?:and|&)\s+", re.I)
_SURE = frozenset({"exact", "case", "plural", "synonym", "open"})


def _score(value: Any) -> float | None:
    """A confidence written as a number (0-1 or 0-100), the only form classification reads."""
    return parse_confidence(value, numbers_only=True)


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1] and text[0] not in text[1:-1]:
        return text[1:-1].strip()
    return text


def _strip_fence(text: str) -> str:
    match = re.fullmatch(
        r"\s*(`{3,}|~{3,})[ \t]*[\w+.-]*[ \t]*\n?(.*?)\n?[ \t]*(?:\1)?\s*", text, re.S
    )
    return match.group(2) if match and "```" not in match.group(2) else text


# --------------------------------------------------------------------------------------------
# Classification


def _json_candidates(value: Any, depth: int = 0) -> list[tuple[str, float | None]] | None:
    """(label, confidence) pairs from a JSON answer; None when it holds no labels."""
    if depth > 6:
        return None
    if isinstance(value, str):
        return [(value, None)]
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return [(str(value), None)]
    if isinstance(value, list):
        out: list[tuple[str, float | None]] = []
        for item in value:
            found = _json_candidates(item, depth + 1)
            if found:
                out.extend(found)
        return out
    if isinstance(value, dict):
        lowered = {str(k).lower(): k for k in value}
        for key in _LABEL_KEYS:
            if key in lowered:
                found = _json_candidates(value[lowered[key]], depth + 1)
                if found is None:
                    return None
                conf_key = next((lowered[k] for k in _CONFIDENCE_KEYS if k in lowered), None)
                if conf_key is not None and len(found) == 1:
                    return [(found[0][0], _score(value[conf_key]))]
                return found
        if value and all(_score(v) is not None for v in value.values()):
            # {"cat": 0.9, "dog": 0.1}: scores per class, best first
            pairs = [(str(k), _score(v)) for k, v in value.items()]
            return sorted(pairs, key=lambda p: -(p[1] or 0.0))
    return None


def _json_answer(text: str) -> tuple[list[tuple[str, float | None]] | None, JsonScan]:
    scan = scan_json(text)
    region = scan.best_region()
    found = region_value(scan, region) if region is not None else None
    if found is None:
        return None, scan
    stripped = _strip_fence(text).strip()
    covers = found.end - found.start >= 0.5 * len(stripped)
    if not covers and not (region is not None and region.fenced):
        return None, scan  # brackets inside a sentence: read it as prose
    if isinstance(found.value, PartialList | PartialDict):
        return None, scan
    return _json_candidates(found.value), scan


def _plain_candidates(text: str, multi_label: bool, mapper: LabelMapper) -> list[str]:
    body = _PREFIX.sub("", _unquote(_strip_fence(text)))
    body = _unquote(body).rstrip(".!").strip()
    if not multi_label:
        return [body]
    parts: list[str] = []
    for part in (_unquote(p).rstrip(".").strip() for p in _SPLIT.split(body)):
        # "cat and dog" is two labels, unless "salt and pepper" is a class itself
        if _AND.search(part) and mapper.map(part).method not in _SURE:
            parts += _AND.split(part)
        elif part:
            parts.append(part)
        if len(parts) >= MAX_CANDIDATES:
            break  # a list this long names no classes a model meant to give
    return [p for p in parts if p][:MAX_CANDIDATES]


def _says_none(text: str, mapper: LabelMapper) -> bool:
    """Whether ``text`` says that no class applies - unless it is one of the classes itself
    (a vocabulary may well have a class named "none")."""
    if mapper.map(text).method in ("exact", "case"):
        return False
    return text.lower() in _NONE_ANSWERS or _NONE_SENTENCE.fullmatch(text.strip()) is not None


#: the most labels read from one multi-label answer in words
MAX_CANDIDATES = 1000
#: where one statement ends: lines, sentences, commas, "but", "however"...
_CLAUSE = re.compile(r"\n|[.;!?](?=\s|$)|,|\s(?:but|however|although|whereas|while)\s", re.I)
#: words that rule out what follows them in the same clause
_NEGATION = re.compile(
    r"\b(?:not|no|never|neither|nor|without|unlike|rather\s+than|instead\s+of|"
    r"(?:is|are|was|were|does|do|did|ca|can|could)n'?t|cannot)\b",
    re.I,
)
#: "dog: no", "| dog | No |", "- dog - absent": a verdict after the class
_VERDICT = re.compile(r"^(?P<subject>.+?)\s*[:|=–-]\s*(?:\*\*)?(?P<verdict>[^:|=]+?)(?:\*\*)?\s*$")
_NEGATIVE_VERDICT = re.compile(
    r"(?:no|false|absent|none|0|n|✗|✘|❌|not\s+(?:present|visible|detected|found|shown)"
    r"(?:\s+in\s+(?:the|this)\s+(?:image|picture|photo))?)[.!]?",
    re.I,
)


def _clause_mentions(clause: str, mapper: LabelMapper) -> tuple[list[str], list[str]]:
    """(affirmed, ruled out) classes named in one clause."""
    text = clause.strip().strip("|").strip()
    verdict = _VERDICT.match(text)
    if verdict and _NEGATIVE_VERDICT.fullmatch(verdict.group("verdict").strip()):
        return [], mapper.find_mentions(verdict.group("subject"))
    whole = mapper.find_mentions(text)
    cue = _NEGATION.search(text)
    if cue is None:
        return whole, []
    before = set(mapper.find_mentions(text[: cue.start()]))
    after = set(mapper.find_mentions(text[cue.end() :]))
    # a class named only across the cue ("no helmet" as a class) is named, not ruled out
    affirmed = [c for c in whole if c in before or c not in after]
    return affirmed, [c for c in whole if c not in affirmed]


def _ruled_out(text: str, mapper: LabelMapper) -> tuple[list[str], list[str]] | None:
    """(named, ruled out) classes of a prose answer that rules some out ("a dog, not a cat",
    "cat: no"); None when it rules nothing out (then the usual reading applies)."""
    if not mapper.classes:
        return None
    affirmed: list[str] = []
    negated: list[str] = []
    for clause in _CLAUSE.split(text):
        yes, no = _clause_mentions(clause, mapper)
        affirmed += [c for c in yes if c not in affirmed]
        negated += [c for c in no if c not in negated]
    negated = [c for c in negated if c not in affirmed]
    return (affirmed, negated) if negated else None


def parse_classification(
    text: str,
    classes: Sequence[str] | None,
    *,
    multi_label: bool,
    synonyms: Mapping[str, str] | None = None,
    mapper: LabelMapper | None = None,
) -> ClassificationResult:
    """The class(es) named by a classification answer, mapped onto ``classes``.

    ``classes=None`` is open vocabulary: the cleaned answer is the label. Single-label answers
    yield one prediction (the first class named); an answer matching no class yields a
    prediction with ``label=None`` and the raw text, never nothing. Raises
    :class:`~.errors.ParseError` only for an empty answer.
    """
    raw_text = text if isinstance(text, str) else ("" if text is None else str(text))
    if not raw_text.strip():
        raise ParseError("the model's answer is empty", raw_text=raw_text)
    check_answer_length(raw_text, MAX_TEXT_ANSWER_CHARS)
    mapper = mapper or LabelMapper(classes, synonyms)
    candidates, _ = _json_answer(raw_text)
    if candidates is None:
        return _from_prose(raw_text, multi_label, mapper)
    if not candidates:
        return ClassificationResult((), raw_text, ("the model answered with an empty list",))
    return _result(raw_text, _mapped(candidates, mapper), [], multi_label, mapper)


def _from_prose(raw_text: str, multi_label: bool, mapper: LabelMapper) -> ClassificationResult:
    """An answer without JSON: "none", a verdict that rules classes out, or labels in words."""
    plain = _plain_candidates(raw_text, multi_label, mapper)
    if len(plain) == 1 and _says_none(plain[0], mapper):
        return ClassificationResult((), raw_text, ("the model said no class applies",))
    ruled = _ruled_out(raw_text, mapper)
    if ruled is None:
        labels = [(p, None) for p in plain if not _says_none(p, mapper)]
        return _result(raw_text, _mapped(labels, mapper), [], multi_label, mapper)
    named, excluded = ruled
    note = f"the answer rules out {', '.join(excluded)}"
    if not named:
        return ClassificationResult((), raw_text, (f"{note}; no class applies",))
    warnings = ["classes found by name in a free-text answer", note]
    return _result(raw_text, _mentioned(named, raw_text), warnings, multi_label, mapper)


def _mapped(
    candidates: Sequence[tuple[str, float | None]], mapper: LabelMapper
) -> list[ClassPrediction]:
    """(label, confidence) pairs as the model wrote them, mapped onto the classes."""
    return [
        ClassPrediction.from_match(mapper.map(without_surrogates(label)), conf)
        for label, conf in candidates
    ]


def _mentioned(classes: Sequence[str], raw_text: str) -> list[ClassPrediction]:
    """Classes named somewhere in a free-text answer (method ``contains``)."""
    return [ClassPrediction(name, clean_label(raw_text), "contains", 0.7) for name in classes]


def _result(
    raw_text: str,
    predictions: list[ClassPrediction],
    warnings: list[str],
    multi_label: bool,
    mapper: LabelMapper,
) -> ClassificationResult:
    """The predictions, deduplicated and cut to one for single-label tasks; when none maps onto
    a class, the classes the answer names in its text instead."""
    if mapper.classes and not any(p.label for p in predictions):
        mentioned = mapper.find_mentions(raw_text)
        if mentioned:
            warnings.append("classes found by name in a free-text answer")
            predictions = _mentioned(mentioned, raw_text)
    predictions = _dedupe(predictions)
    if not multi_label and len(predictions) > 1:
        warnings.append(
            f"single-label answer named {len(predictions)} labels; kept the first "
            f"({predictions[0].label or predictions[0].raw!r})"
        )
        predictions = predictions[:1]
    if any(p.label is None for p in predictions):
        warnings.append("answer matches none of the classes (kept as unmapped)")
    return ClassificationResult(tuple(predictions), raw_text, tuple(warnings))


def _dedupe(predictions: list[ClassPrediction]) -> list[ClassPrediction]:
    seen: dict[str, int] = {}
    out: list[ClassPrediction] = []
    for pred in predictions:
        key = pred.label if pred.label is not None else f"raw:{pred.raw}"
        if key in seen:
            kept = out[seen[key]]
            if (pred.confidence or 0) > (kept.confidence or 0):
                out[seen[key]] = pred
            continue
        seen[key] = len(out)
        out.append(pred)
    return out


# --------------------------------------------------------------------------------------------
# Free text


def parse_free_text(text: str) -> TextAnswer:
    """A caption or an answer with its packaging removed; the content itself is kept.

    Raises :class:`~.errors.ParseError` when nothing is left (an empty answer).
    """
    raw_text = text if isinstance(text, str) else ("" if text is None else str(text))
    check_answer_length(raw_text, MAX_TEXT_ANSWER_CHARS)
    body = _strip_fence(raw_text).strip()
    warnings: list[str] = []
    if body[:1] in ('"', "{", "["):
        unwrapped = _json_text(body)
        if unwrapped is not None:
            body = unwrapped.strip()
            warnings.append("text unwrapped from JSON")
    body = _unquote(body)
    preamble = _PREAMBLE.match(body) or _HEADING.match(body) or _PREAMBLE_INLINE.match(body)
    if preamble and body[preamble.end() :].strip():
        body = body[preamble.end() :].strip()
        warnings.append("preamble line removed")
    body = _unquote(_PREFIX.sub("", body, count=1)).strip()
    if "\n" not in body:  # a one-line caption or answer; longer markdown keeps its structure
        body = _unquote(_EMPHASIS.sub(r"\1", body)).strip()
    body = without_surrogates(body)
    if not body:
        raise ParseError("the model's answer is empty", raw_text=raw_text)
    return TextAnswer(body, raw_text, tuple(warnings))


def _json_text(body: str) -> str | None:
    """The text inside a JSON string or a ``{"caption": "..."}`` answer, else None."""
    if body[0] == '"':
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            return None
        return value if isinstance(value, str) else None
    scan = scan_json(body)
    found = region_value(scan, scan.regions[0])
    if found is None or found.start != 0 or found.end < len(body.rstrip()):
        return None
    value = found.value
    if isinstance(value, dict):
        strings = [v for v in value.values() if isinstance(v, str)]
        for key in ("caption", "answer", "description", "text", "response", "title"):
            if isinstance(value.get(key), str):
                return str(value[key])
        return strings[0] if len(strings) == 1 and len(value) == 1 else None
    return None
