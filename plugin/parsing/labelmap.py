"""Map the labels a model writes to the classes a user asked for, keeping the raw label.

Models rarely echo class names verbatim: they pluralise ("cupcakes"), change case ("Cat"), use
synonyms ("sofa" for "couch"), describe ("a red circle"), misspell, or add a newline. The
:class:`LabelMapper` tries, in order, and reports which rule matched:

========== ================================================================ =====
method     rule                                                             score
========== ================================================================ =====
exact      the label is a class name                                        1.0
case       equal after case folding and whitespace/punctuation/_ clean-up   1.0
plural     equal after singularising every word (cupcakes, boxes, leaves)   0.95
synonym    a user synonym, or a built-in synonym group shared with a class  0.9
contains   exactly one class appears as whole words ("a red circle")        0.8
fuzzy      closest class by difflib ratio, if at least ``fuzzy_cutoff``     ratio
unmapped   nothing matched: ``label`` is None, the raw label is kept        0.0
open       no classes given (open vocabulary): the cleaned raw label        1.0
========== ================================================================ =====
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from gemini_vision.errors import ConfigurationError

__all__ = ["BUILTIN_SYNONYMS", "LabelMapper", "LabelMatch", "clean_label", "normalize", "singular"]

Method = Literal["exact", "case", "plural", "synonym", "contains", "fuzzy", "unmapped", "open"]


@dataclass(frozen=True)
class LabelMatch:
    """How one raw model label maps to a class (``label`` is None when unmapped)."""

    label: str | None
    raw: str
    method: Method
    score: float

    @property
    def mapped(self) -> bool:
        return self.label is not None


#: groups of interchangeable names (COCO-style classes first); a class matches any member
BUILTIN_SYNONYMS: tuple[frozenset[str], ...] = tuple(
    frozenset(group)
    for group in (
        {"person", "people", "human", "man", "woman", "boy", "girl", "child", "pedestrian"},
        {"bicycle", "bike"},
        {"car", "automobile", "sedan"},
        {"motorcycle", "motorbike"},
        {"airplane", "aeroplane", "plane", "aircraft", "jet"},
        {"couch", "sofa"},
        {"tv", "television", "tv monitor", "tvmonitor"},
        {"cell phone", "mobile phone", "smartphone", "phone", "cellphone"},
        {"laptop", "notebook computer"},
        {"dining table", "table"},
        {"potted plant", "houseplant", "pottedplant", "plant pot"},
        {"cup", "mug"},
        {"dog", "puppy"},
        {"cat", "kitten"},
        {"handbag", "purse"},
        {"sports ball", "ball"},
        {"donut", "doughnut"},
        {"hair drier", "hair dryer", "hairdryer"},
        {"trash can", "garbage can", "waste bin", "rubbish bin", "dustbin"},
    )
)

_IRREGULAR = {
    "people": "person",
    "men": "man",
    "women": "woman",
    "children": "child",
    "mice": "mouse",
    "geese": "goose",
    "teeth": "tooth",
    "feet": "foot",
    "knives": "knife",
    "leaves": "leaf",
    "loaves": "loaf",
    "wolves": "wolf",
    "halves": "half",
    "shelves": "shelf",
    "calves": "calf",
    "lives": "life",
    "wives": "wife",
    "scarves": "scarf",
    "thieves": "thief",
    "buses": "bus",
    "lenses": "lens",
    "gases": "gas",
    "quizzes": "quiz",
    "axes": "axe",
    "oxen": "ox",
    "dice": "die",
    "cacti": "cactus",
    "fungi": "fungus",
}
_INVARIANT = frozenset(
    {
        "sheep",
        "fish",
        "deer",
        "series",
        "species",
        "aircraft",
        "glasses",
        "scissors",
        "pants",
        "jeans",
        "shorts",
        "news",
        "lens",
        "bus",
        "gas",
        "chess",
        "grass",
        "glass",
        "dress",
    }
)
_IES_TO_S = frozenset(
    {
        "cookies",
        "movies",
        "pies",
        "ties",
        "lies",
        "zombies",
        "selfies",
        "hoodies",
        "brownies",
        "smoothies",
        "calories",
        "species",
        "rookies",
        "aunties",
        "goalies",
        "beanies",
        "dies",
    }
)
_OES_TO_O = frozenset(
    {
        "tomatoes",
        "potatoes",
        "heroes",
        "mangoes",
        "echoes",
        "volcanoes",
        "torpedoes",
        "mosquitoes",
        "dominoes",
        "buffaloes",
    }
)


def singular(word: str) -> str:
    """English singular of one lower-case word (cupcakes→cupcake, boxes→box, berries→berry)."""
    if len(word) <= 3 or word in _INVARIANT or not word.isalpha():
        return word
    if word in _IRREGULAR:
        return _IRREGULAR[word]
    if word.endswith("ies"):
        return word[:-1] if word in _IES_TO_S else word[:-3] + "y"
    if word.endswith("oes"):
        return word[:-2] if word in _OES_TO_O else word[:-1]
    if word.endswith(("sses", "xes", "zes", "ches", "shes")):
        return word[:-2]
    if word.endswith(("ss", "us", "is")):
        return word
    if word.endswith("s"):
        return word[:-1]
    return word


_SEPARATORS = re.compile(r"[\s_\-/|·•]+")
_NON_WORD = re.compile(r"[^\w\s]+")


def clean_label(raw: object) -> str:
    """The label to show: outer whitespace gone, inner runs of whitespace collapsed to one."""
    return " ".join(str(raw).split())


def normalize(label: str) -> str:
    """Comparison form: NFKC, case-folded, ``_``/``-``//`` as spaces, punctuation dropped."""
    text = unicodedata.normalize("NFKC", str(label)).casefold()
    text = _SEPARATORS.sub(" ", text)
    text = _NON_WORD.sub(" ", text)
    return " ".join(text.split())


def _singular_phrase(normalized: str) -> str:
    return " ".join(singular(word) for word in normalized.split())


def _contains_phrase(haystack: list[str], needle: list[str]) -> int | None:
    """Index where ``needle`` (words) occurs in ``haystack`` (words), or None."""
    size = len(needle)
    for i in range(len(haystack) - size + 1):
        if haystack[i : i + size] == needle:
            return i
    return None


class LabelMapper:
    """Maps raw model labels onto ``classes``; ``classes=None`` means open vocabulary.

    ``synonyms`` maps extra names to classes (``{"puppy": "dog"}``); in open vocabulary it
    renames labels. ``fuzzy_cutoff`` is the lowest difflib ratio accepted (0 disables fuzzy).
    """

    def __init__(
        self,
        classes: Sequence[str] | None,
        synonyms: Mapping[str, str] | None = None,
        fuzzy_cutoff: float = 0.8,
        *,
        builtin_synonyms: bool = True,
    ) -> None:
        if isinstance(classes, str):
            raise ConfigurationError("classes must be a list of names, not one string")
        self.classes: tuple[str, ...] | None = (
            tuple(dict.fromkeys(clean_label(c) for c in classes if clean_label(c)))
            if classes is not None
            else None
        )
        self.fuzzy_cutoff = fuzzy_cutoff
        self._by_norm: dict[str, str] = {}
        self._by_singular: dict[str, str] = {}
        for name in self.classes or ():
            self._by_norm.setdefault(normalize(name), name)
            self._by_singular.setdefault(_singular_phrase(normalize(name)), name)
        self._synonyms: dict[str, str] = {}
        for alias, target in (synonyms or {}).items():
            resolved = target if self.classes is None else self._resolve_class(target)
            if resolved is None:
                raise ConfigurationError(
                    f"synonym {alias!r} -> {target!r}: {target!r} is not one of the classes "
                    f"{list(self.classes or ())}"
                )
            self._synonyms[_singular_phrase(normalize(alias))] = resolved
        if builtin_synonyms and self.classes is not None:
            for group in BUILTIN_SYNONYMS:
                forms = {_singular_phrase(normalize(m)) for m in group}
                targets = {self._by_singular[f] for f in forms if f in self._by_singular}
                if len(targets) != 1:
                    continue  # none of the classes is in the group, or several are: ambiguous
                (target,) = targets
                for form in forms:
                    self._synonyms.setdefault(form, target)

    def _resolve_class(self, name: str) -> str | None:
        norm = normalize(name)
        return self._by_norm.get(norm) or self._by_singular.get(_singular_phrase(norm))

    def map(self, raw: object) -> LabelMatch:
        """The class for one raw label (see the module docstring for the order of rules)."""
        raw_text = "" if raw is None else str(raw)
        cleaned = clean_label(raw_text)
        norm = normalize(cleaned)
        single = _singular_phrase(norm)
        if self.classes is None:
            if single in self._synonyms:
                return LabelMatch(self._synonyms[single], raw_text, "synonym", 0.9)
            return LabelMatch(cleaned, raw_text, "open", 1.0)
        if cleaned in self.classes:
            return LabelMatch(cleaned, raw_text, "exact", 1.0)
        if not norm:
            return LabelMatch(None, raw_text, "unmapped", 0.0)
        if norm in self._by_norm:
            return LabelMatch(self._by_norm[norm], raw_text, "case", 1.0)
        if single in self._by_singular:
            return LabelMatch(self._by_singular[single], raw_text, "plural", 0.95)
        if single in self._synonyms:
            return LabelMatch(self._synonyms[single], raw_text, "synonym", 0.9)
        found = self._mentioned(single)
        if len(found) == 1:
            return LabelMatch(found[0], raw_text, "contains", 0.8)
        return self._fuzzy(raw_text, norm, single)

    def _mentioned(self, single_phrase: str) -> list[str]:
        """Classes (or synonyms of exactly one class) named as whole words in the phrase."""
        words = single_phrase.split()
        spans: list[tuple[int, int, str]] = []
        phrases = [(key, name) for key, name in self._by_singular.items()]
        phrases += list(self._synonyms.items())
        for phrase, name in phrases:
            index = _contains_phrase(words, phrase.split())
            if index is not None:
                spans.append((index, index + len(phrase.split()), name))
        # "traffic light" wins over "light": drop spans inside a longer one
        kept = [
            s
            for s in spans
            if not any(
                o[0] <= s[0] and s[1] <= o[1] and (o[1] - o[0]) > (s[1] - s[0]) for o in spans
            )
        ]
        return list(dict.fromkeys(name for _, _, name in sorted(kept)))

    def _fuzzy(self, raw_text: str, norm: str, single: str) -> LabelMatch:
        if self.fuzzy_cutoff <= 0 or not self._by_singular:
            return LabelMatch(None, raw_text, "unmapped", 0.0)
        best_name, best_score = None, 0.0
        for key, name in self._by_singular.items():
            score = max(
                difflib.SequenceMatcher(None, single, key).ratio(),
                difflib.SequenceMatcher(None, norm, normalize(name)).ratio(),
            )
            if score > best_score:
                best_name, best_score = name, score
        if best_name is not None and best_score >= self.fuzzy_cutoff:
            return LabelMatch(best_name, raw_text, "fuzzy", round(best_score, 4))
        return LabelMatch(None, raw_text, "unmapped", 0.0)

    def find_mentions(self, text: str) -> list[str]:
        """Classes named in free text, in order of first mention (plural- and case-aware)."""
        if not self.classes:
            return []
        words = _singular_phrase(normalize(text)).split()
        hits: list[tuple[int, int, str]] = []
        for phrase, name in [*self._by_singular.items(), *self._synonyms.items()]:
            size = len(phrase.split())
            for i in range(len(words) - size + 1):
                if words[i : i + size] == phrase.split():
                    hits.append((i, -size, name))
                    break
        hits.sort()
        taken: list[tuple[int, int]] = []
        order: list[str] = []
        for start, neg_size, name in hits:
            end = start - neg_size
            if any(a <= start and end <= b for a, b in taken):
                continue
            taken.append((start, end))
            if name not in order:
                order.append(name)
        return order
