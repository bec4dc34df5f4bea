"""Reads what a prompt asks for, the way a model would from natural language.

:func:`read_intent` turns a ``generateContent`` request (system instruction, user text, the
response MIME type and schema, the number of images) into an :class:`Intent`: the task
(detect, segment, point, classify, caption, ask, compare), the classes or free-text target
that restrict the answer, a maximum count, whether confidences or descriptive labels are
wanted. It recognises the phrasings of Google's "Image understanding" guide and of the Gemini
API Cookbook as well as ours, e.g.
"Detect the all of the prominent items in the image. The box_2d should be [ymin, xmin, ymax,
xmax] normalized to 0-1000.", "Give the segmentation masks for ...", "Point to ...",
"Classify this image ...", "Caption this image.", "How many circles are there?",
"What is different between these two images?".

Targets are read with a small vocabulary of shapes and colours (with synonyms such as "ball",
"disc", "pyramid", "violet"); words outside it ("cupcakes", "the table") match nothing,
while generic words ("objects", "items", "shapes", "everything") match everything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from gemini_vision.api import wire

__all__ = ["Intent", "Selector", "parse_selectors", "read_intent", "schema_enum"]

SHAPE_WORDS: dict[str, tuple[str, ...]] = {
    "circle": (
        "circle", "circles", "circular", "round", "disc", "discs", "disk", "disks", "dot",
        "dots", "ball", "balls", "oval", "ovals", "ellipse", "ellipses", "sphere", "spheres",
    ),
    "square": (
        "square", "squares", "rectangle", "rectangles", "rectangular", "quadrilateral",
        "quadrilaterals", "diamond", "diamonds", "rhombus", "block", "blocks", "tile", "tiles",
        "cube", "cubes",
    ),
    "triangle": ("triangle", "triangles", "triangular", "pyramid", "pyramids", "wedge", "wedges"),
    "star": ("star", "stars", "pentagram", "pentagrams", "asterisk", "starfish"),
}  # fmt: skip
COLOR_WORDS: dict[str, tuple[str, ...]] = {
    "red": ("red", "crimson", "scarlet", "reddish"),
    "orange": ("orange", "amber"),
    "yellow": ("yellow", "gold", "golden", "yellowish"),
    "green": ("green", "lime", "greenish"),
    "cyan": ("cyan", "turquoise", "teal", "aqua"),
    "blue": ("blue", "navy", "azure", "bluish"),
    "purple": ("purple", "violet", "lilac", "lavender", "purplish"),
    "pink": ("pink", "magenta", "fuchsia"),
}


def _wordset(text: str) -> frozenset[str]:
    return frozenset(text.split())


GENERIC_WORDS = _wordset(
    "object objects item items shape shapes thing things everything all anything figure "
    "figures element elements instance instances entity entities prominent visible one ones "
    "something stuff"
)
_SHAPE_OF = {w: shape for shape, words in SHAPE_WORDS.items() for w in words}
_COLOR_OF = {w: color for color, words in COLOR_WORDS.items() for w in words}
_NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "twenty": 20,
}  # fmt: skip


@dataclass(frozen=True)
class Selector:
    """One thing a prompt asks about: a shape class and/or colours; ``matches_nothing`` for
    words outside the vocabulary ("cupcakes"). ``text`` is the phrase as written."""

    shape: str | None = None
    colors: frozenset[str] = frozenset()
    text: str = ""
    matches_nothing: bool = False

    def matches(self, label: str, color: str) -> bool:
        if self.matches_nothing:
            return False
        return (self.shape is None or self.shape == label) and (
            not self.colors or color in self.colors
        )

    @property
    def specificity(self) -> int:
        return (self.shape is not None) + bool(self.colors)


@dataclass(frozen=True)
class Intent:
    """What the request asks for. ``classes`` are the allowed labels as the user wrote them
    (with their selectors); ``targets`` restrict which objects count; ``max_items`` caps the
    answer; ``question`` is the user's text for ask/compare."""

    kind: str
    classes: tuple[tuple[str, Selector], ...] = ()
    targets: tuple[Selector, ...] = ()
    max_items: int | None = None
    confidence: bool = False
    multi_label: bool = False
    detailed: bool = False
    question: str = ""
    mime_type: str | None = None
    schema: Any = None
    #: the question is about the object in the centre of the image (a crop around it)
    central: bool = False

    def wants(self, label: str, color: str) -> bool:
        """True if an object of this class and colour belongs in the answer."""
        if self.targets and not any(t.matches(label, color) for t in self.targets):
            return False
        return not self.classes or self.class_for(label, color) is not None

    def class_for(self, label: str, color: str) -> str | None:
        """The user's class name for an object (the most specific match), if any."""
        best: tuple[int, str] | None = None
        for name, sel in self.classes:
            if sel.matches(label, color) and (best is None or sel.specificity > best[0]):
                best = (sel.specificity, name)
        return best[1] if best else None


# --------------------------------------------------------------------------------------------
# Vocabulary


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z]+", text.lower())


def parse_selector(phrase: str) -> Selector | None:
    """A selector for one phrase ("red circles", "the blue ones", "cupcakes"); ``None`` for
    phrases without content words ("the", "")."""
    words = _words(phrase)
    shapes = [_SHAPE_OF[w] for w in words if w in _SHAPE_OF]
    colors = frozenset(_COLOR_OF[w] for w in words if w in _COLOR_OF)
    generic = any(w in GENERIC_WORDS for w in words)
    content = [
        w
        for w in words
        if w not in _STOP and w not in _SHAPE_OF and w not in _COLOR_OF and w not in GENERIC_WORDS
    ]
    if shapes:
        return Selector(shapes[0], colors, phrase.strip())
    if content:  # "cupcakes", "glass items", "orange bowl": nothing of the kind here
        return Selector(text=phrase.strip(), matches_nothing=True)
    if colors:
        return Selector(None, colors, phrase.strip())
    if generic:
        return Selector(text=phrase.strip())
    return None


def parse_selectors(phrase: str) -> tuple[Selector, ...]:
    """Selectors for a list ("red and blue circles, stars" -> red circle, blue circle, star).
    A colour-only part borrows the shape of the part after it ("red and blue circles")."""
    parts = [p for p in re.split(r",|;|/|\band\b|\bor\b|\bas well as\b|&", phrase) if p.strip()]
    selectors = [s for s in (parse_selector(p) for p in parts) if s is not None]
    out: list[Selector] = []
    for i, sel in enumerate(selectors):
        generic_part = any(w in GENERIC_WORDS for w in _words(sel.text))
        if sel.colors and sel.shape is None and not generic_part:
            later = next((s.shape for s in selectors[i + 1 :] if s.shape), None)
            sel = Selector(later, sel.colors, sel.text)
        out.append(sel)
    return tuple(out)


_STOP = _wordset(
    "the a an of in on at to for with this that these those image picture photo scene "
    "each every any some all its their is are there be please me my only just both which "
    "what where who how many much also from within inside present shown visible here "
    "detect find locate identify segment point give show mark label 2d bounding box boxes "
    "positions position locations location masks mask segmentation matching following "
    "small big large tiny huge left right top bottom center centre middle upper lower side "
    "corner bright dark light colored coloured colorful colourful flat solid filled overlapping "
    "partially partly hidden occluded other different main individual separate distinct "
    "unique single most least smallest largest biggest identifiable clearly fully "
    "json valid text format output response answer coordinates normalized d ones kind kinds "
    "type types shaped ones color colour colors colours near next"
)


# --------------------------------------------------------------------------------------------
# Reading the prompt


def _texts(request: wire.GenerateContentRequest) -> tuple[str, str]:
    system = ""
    if request.system_instruction is not None:
        system = "\n".join(p.text for p in request.system_instruction.parts if p.text)
    user = "\n".join(
        p.text for c in request.contents if c.role != "model" for p in c.parts if p.text
    )
    return system, user


_NEGATED_MASKS = re.compile(
    r"\b(?:never|don'?t|do not|no|without|not|avoid)\s+(?:return(?:ing)?|includ\w*|output\w*|"
    r"giv\w*|send\w*|provid\w*|us\w*)?\s*(?:any\s+)?(?:segmentation\s+)?masks?\b"
)
_SEGMENT = re.compile(r"\bsegment\w*|\bmasks?\b|\"mask\"|\bcutouts?\b")
_POINT = re.compile(
    r"\bpoint(?:s|ing)?\s+(?:to|at|on|of|for|matching)\b|\"point\"|\[\s*y\s*,\s*x\s*\]|"
    r"\bplace\s+(?:a\s+)?points?\b|\bpinpoint\b|\bpoints?\s+in\s+\[|\bget\s+all\s+points\b"
)
_DETECT = re.compile(
    r"bounding\s*box|box_2d|\bboxes\b|\bdetect\w*|\blocate\b|\bfind\s+(?:all|every|each|the)\b|"
    r"\bpositions?\s+of\b|\blocations?\s+of\b|\bdraw\s+(?:a\s+)?(?:square|box|rectangle)|"
    r"\bymin\b|\bdetections?\b"
)
_CLASSIFY = re.compile(
    r"\bclassif\w*|\bcategor\w*|\bwhich\s+(?:one|class|category|label|of\s+these)\b|"
    r"\bone\s+of\b|\bclasses\b|\bmain\s+subject\b|\blabels?\s+(?:for|of)\s+(?:this|the)\s+image|"
    r"\btag\s+(?:this|the)\s+image|\bshort\s+labels\b|\bapply\s+to\s+this\s+image"
)
_COMPARE = re.compile(
    r"\bdiffer\w*|\bcompar\w*|\bchange[sd]?\b|\bsame\b|\bspot\s+the\b|\bversus\b|\bvs\b|"
    r"\bwhat\s+changed\b|\bmissing\b"
)
_QUESTION = re.compile(
    r"\bhow\s+many\b|\bcount\b|\bnumber\s+of\b|\bis\s+there\b|\bare\s+there\b|"
    r"\bdoes\s+(?:the|this)\s+(?:image|picture|photo)\b|"
    r"\b(?:can|do)\s+you\s+see\s+(?:an?|any|some)\b|"
    r"\bwhat\s+colou?rs?\b|\bwhich\s+colou?rs?\b|\bwhat\s+shapes?\b|\bwhich\s+(?:object|shape)\b|"
    r"\b(?:largest|biggest|smallest)\b|\bmost\s+(?:common|frequent|often)\b|^\s*(?:is|are)\b"
)
_MULTI = re.compile(
    r"\bwhich\s+of\s+these\b.*\bapply\b|\ball\s+that\s+apply\b|\bone\s+or\s+more\b|"
    r"\bmulti[\s-]?label\b|\bjson\s+list\s+of\s+(?:the\s+)?(?:classes|labels|short\s+labels)\b|"
    r"\bevery\s+class\b|\blist\s+(?:the\s+)?(?:main\s+)?(?:objects|classes|labels)\b"
)
_CONFIDENCE = re.compile(r"\bconfidence\b|\bprobabilit\w*|\bcertainty\b|\bscores?\b")
_DETAILED = re.compile(
    r"\bdetail\w*|\bparagraph\b|\bthorough\w*|\bin\s+depth\b|\belaborat\w*|\blong\b"
)
_LIMIT = re.compile(
    r"\b(?:limit\s+(?:it\s+|this\s+|the\s+\w+\s+)?to|no\s+more\s+than|at\s+most|up\s+to|"
    r"maximum\s+(?:of\s+)?|max(?:imum)?\.?:?|not\s+more\s+than|only|top)\s+"
    r"(\d+|" + "|".join(_NUMBER_WORDS) + r")\b"
)
_TARGET = re.compile(
    r"(?:\bdetect(?:ion)?s?|\bfind|\blocate|\bidentify|\bshow\s+me|\bhighlight|\bmark|"
    r"\boutline|\bsegment(?:ation\s+masks?)?|\bmasks?|\bpoint\s+(?:to|at)|\bpoints?\s+(?:of|for|on)|"
    r"\bpositions?\s+of|\blocations?\s+of|\bbounding\s+box(?:es)?\s+(?:of|for|around)|"
    r"\bdraw\s+(?:a\s+)?(?:box|square|rectangle)e?s?\s+around|\bmatching|\bonly)\s+"
    r"(?P<target>[^.!?\n]*)",
    re.IGNORECASE,
)
_TARGET_LEADS = re.compile(
    r"^(?:(?:the|all|of|every|each|any|for|me|in|2d|bounding|boxes|box|masks?|segmentation|"
    r"following|objects?|items?)\b[\s:]*)+(?=\S)",
    re.IGNORECASE,
)
_TARGET_TAIL = re.compile(
    r"\s*(?:\(.*|\bin\s+(?:the|this)\s+(?:image|picture|photo|scene)\b.*|\bwith\s+(?:a\s+|the\s+)?"
    r"(?:\"|“|label|confidence|descriptive|explanation).*|\busing\b.*|\bas\s+(?:a\s+)?json\b.*|"
    r"\band\s+(?:return|output|give|label)\b.*|\boutput\b.*|\bset\s+\"?label.*|\bthe\s+box_2d\b.*|"
    r"\bnormalized\b.*|\bno\s+more\s+than\b.*|\blimit\b.*|\(?no\s+more\b.*)$",
    re.IGNORECASE,
)


_FORMAT_SENTENCE = re.compile(
    r"\bjson\b|\bkey\b|\bentry\b|\bformat\b|normali[sz]ed|box_2d|\boutput\b|\[\s*y"
)


def _targets(user: str) -> tuple[Selector, ...]:
    """Selectors of what the user asks to find. The first phrase after a task verb decides
    (an unknown noun there means "nothing of the kind"); later phrases can only add known
    shapes or colours; "only X" narrows everything to X."""
    main: tuple[Selector, ...] | None = None
    extra: list[Selector] = []
    only: list[Selector] = []
    for sentence in re.split(r"(?<=[.!?])\s+|\n", user):
        if _FORMAT_SENTENCE.search(sentence.lower()):
            continue
        for match in _TARGET.finditer(sentence):
            phrase = _TARGET_TAIL.sub("", match.group("target")).strip(" ,:;\"'“”")
            phrase = _TARGET_LEADS.sub("", phrase)
            selectors = parse_selectors(phrase)
            if not selectors:
                continue
            if match.group(0).lower().startswith("only"):
                only += [s for s in selectors if not s.matches_nothing]
            elif main is None:
                main = selectors
            else:
                extra += [s for s in selectors if not s.matches_nothing]
    if only:
        return tuple(only)
    if main is None:
        return tuple(extra)
    known = [s for s in main if not s.matches_nothing]
    if not known:
        return main[:1]  # nothing of what was asked for is in our vocabulary
    return tuple(known + extra)


def _class_list(text: str) -> list[str]:
    """Classes listed after "one of" / "classes" / "following objects" etc., quoted or not."""
    match = re.search(
        r"(?:\bone\s+of|\bclasses|\bcategories|\blabels|\bfollowing\s+(?:objects|items|"
        r"classes|categories|labels|shapes))\s*(?:\([^)]*\))?\s*:?\s*(?P<rest>[^\n]*)",
        text,
        re.IGNORECASE,
    )
    if not match:
        return []
    # the list runs to the end of its sentence; a lead-in ("apply to this image:") ends at ":"
    segment = re.split(r"\?|[.!](?:\s|$)|\n", match.group("rest"))[0]
    names = [next(g for g in q if g) for q in _QUOTED.findall(segment)]
    names = [n for n in names if n.lower() not in _SCHEMA_KEYS]
    if names:
        return names
    if ":" in segment:
        segment = segment.rsplit(":", 1)[1]
    items = [p.strip(" .\"'[]()") for p in re.split(r",|\bor\b|\band\b", segment)]
    return [i for i in items if i and len(i.split()) <= 4]


_QUOTED = re.compile(r"\"([^\"]+)\"|“([^”]+)”|'([^']+)'")
_SCHEMA_KEYS = frozenset({"box_2d", "label", "mask", "point", "confidence", "labels"})


def schema_enum(schema: Any, _depth: int = 0) -> list[str]:
    """The enum values a schema allows for the answer's label (first one found)."""
    if not isinstance(schema, dict) or _depth > 12:
        return []
    if isinstance(schema.get("enum"), list):
        return [str(v) for v in schema["enum"]]
    props = schema.get("properties")
    props = props if isinstance(props, dict) else {}
    for key in ("label", "class", "category", "labels", "name"):
        found = schema_enum(props.get(key), _depth + 1)
        if found:
            return found
    for key in ("items", "anyOf", "oneOf", "$defs", "definitions", "properties"):
        value = schema.get(key)
        if isinstance(value, dict):
            values = [value] if key == "items" else list(value.values())
        else:
            values = value if isinstance(value, list) else []
        for sub in values:
            found = schema_enum(sub, _depth + 1)
            if found:
                return found
    return []


def _schema_has(schema: Any, key: str) -> bool:
    return isinstance(schema, (dict, list)) and f'"{key}"' in repr(schema).replace("'", '"')


def _limit(text: str, schema: Any) -> int | None:
    limits = []
    for m in _LIMIT.finditer(text):
        raw = m.group(1)
        limits.append(int(raw) if raw.isdigit() else _NUMBER_WORDS[raw])
    if isinstance(schema, dict) and str(schema.get("maxItems", "")).isdigit():
        limits.append(int(schema["maxItems"]))
    return min(limits) if limits else None


#: "the object in the centre": a question about one object, not about the whole picture
_CENTRAL = re.compile(r"\b(?:object|thing|item)s?\s+(?:is\s+)?(?:in|at)\s+the\s+cent(?:re|er)\b")


def read_intent(
    request: wire.GenerateContentRequest, n_images: int, *, masks_supported: bool = True
) -> Intent:
    """What the request asks for (see the module docstring)."""
    system, user = _texts(request)
    config = request.generation_config
    mime = (config.response_mime_type or "").lower() if config else ""
    schema = None
    if config is not None:
        schema = config.response_json_schema or config.response_schema
    text = f"{system}\n{user}".lower()
    masks_negated = bool(_NEGATED_MASKS.search(text))
    cleaned = _NEGATED_MASKS.sub(" ", text)
    kind = _kind(cleaned, mime, n_images)
    if kind == "segment" and (masks_negated or not masks_supported):
        kind = "detect"  # "segment ... never return masks", or Gemini 3: boxes only
    enum = schema_enum(schema)
    names = enum or _class_list(user) or _class_list(system)
    if kind in ("caption", "ask", "compare"):
        names = enum
    classes = tuple(
        (n, parse_selector(n) or Selector(text=n, matches_nothing=True)) for n in names
    )
    targets = _targets(user) if kind in ("detect", "segment", "point") else ()
    multi = bool(_MULTI.search(cleaned)) or (
        isinstance(schema, dict) and str(schema.get("type", "")).lower() == "array"
    )
    return Intent(
        kind=kind,
        classes=classes,
        targets=targets,
        max_items=_limit(cleaned, schema),
        confidence=bool(_CONFIDENCE.search(cleaned))
        or any(_schema_has(schema, k) for k in ("confidence", "score", "probability")),
        multi_label=multi and kind == "classify",
        detailed=bool(_DETAILED.search(user.lower())),
        question=user.strip(),
        mime_type=mime or None,
        schema=schema,
        central=bool(_CENTRAL.search(cleaned)),
    )


def _kind(text: str, mime: str, n_images: int) -> str:
    if n_images >= 2 and _COMPARE.search(text):
        return "compare"
    if _SEGMENT.search(text):
        return "segment"
    if _POINT.search(text):
        return "point"
    if _DETECT.search(text):
        return "detect"
    if mime == "text/x.enum" or _CLASSIFY.search(text):
        return "classify"
    if _QUESTION.search(text):
        return "ask"
    if n_images >= 2 and re.search(r"\bthese\b|\bboth\b|\btwo\b", text):
        return "compare"
    return "caption"  # "Caption this image.", "Describe it", or nothing recognisable
