"""A forgiving recursive-descent JSON reader for model output (used by :mod:`.json_scan`).

It reads one value starting at an opening bracket and returns ``(value, complete)``. Beyond
strict JSON it accepts trailing, doubled and missing commas, single quotes, ``//``, ``#`` and
``/* */`` comments, unquoted keys, Python literals (``True``, ``None``), ``NaN``/``Infinity``,
raw control characters in strings, "welded" keys (``"label": "text": "x"``) and a stray quote
left by a value that swallowed the next key. When the text ends mid-value, arrays keep their
complete items (:class:`PartialList`) and objects their complete members (:class:`PartialDict`);
what was cut off is counted (``lost_items``) and located (``lost_from``). Anything else raises
:class:`SyntaxIssue` with the position.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "LenientParser",
    "PartialDict",
    "PartialList",
    "SyntaxIssue",
    "without_surrogates",
]

#: nesting deeper than this is not model output; refusing it keeps recursion bounded
MAX_DEPTH = 32


class PartialList(list[Any]):
    """A JSON array cut short by the end of its text: holds only the complete items."""


class PartialDict(dict[str, Any]):
    """A JSON object cut short by the end of its text: holds only the complete members."""


class SyntaxIssue(Exception):
    def __init__(self, pos: int, message: str) -> None:
        super().__init__(message)
        self.pos = pos


_WS = re.compile(r"(?:\s+|//[^\n]*|#[^\n]*|/\*.*?(?:\*/|\Z))+", re.S)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_$][\w$-]*")
_DQ_BODY = re.compile(r'[^"\\]*')
_SQ_BODY = re.compile(r"[^'\\]*")
_LITERALS = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
    "NaN": float("nan"),
    "Infinity": float("inf"),
}
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_VALUE_START = frozenset("{[\"'-+.0123456789tfnTFNI")


class LenientParser:
    """Recursive descent over ``text[pos:end]``; values are (value, complete) pairs."""

    def __init__(self, text: str, pos: int, end: int) -> None:
        self.text = text
        self.pos = pos
        self.end = end
        self.repairs: set[str] = set()
        self.lost_items = 0
        self.lost_from: int | None = None

    # -- helpers --
    def _skip(self) -> None:
        match = _WS.match(self.text, self.pos, self.end)
        if match:
            if "/" in match.group(0) or "#" in match.group(0):
                self.repairs.add("comments")
            self.pos = match.end()

    def _eof(self) -> bool:
        return self.pos >= self.end

    def _lose(self, start: int) -> None:
        if self.lost_from is None or start < self.lost_from:
            self.lost_from = start

    # -- values --
    def value(self, depth: int = 0) -> tuple[Any, bool]:
        self._skip()
        if self._eof():
            return None, False
        char = self.text[self.pos]
        if char == "{":
            return self._object(depth + 1)
        if char == "[":
            return self._array(depth + 1)
        if char in "\"'":
            return self._string()
        return self._scalar()

    def _scalar(self) -> tuple[Any, bool]:
        start = self.pos
        number = _NUMBER.match(self.text, start, self.end)
        if number:
            self.pos = number.end()
            token = number.group(0)
            # a number that touches the end of the text may have lost digits
            complete = self.pos < self.end
            if re.fullmatch(r"[-+]?\d{1,18}", token):
                return int(token), complete
            return float(token), complete
        ident = _IDENT.match(self.text, start, self.end)
        if ident and ident.group(0) in _LITERALS:
            self.pos = ident.end()
            if ident.group(0) not in ("true", "false", "null"):
                self.repairs.add("python literals")
            return _LITERALS[ident.group(0)], True
        if self.text.startswith("-Infinity", start):
            self.pos = start + len("-Infinity")
            return float("-inf"), True
        if (
            ident
            and ident.end() >= self.end
            and any(name.startswith(ident.group(0)) for name in _LITERALS)
        ):
            # a literal cut short ("tru", "nul") at the very end
            self.pos = self.end
            return None, False
        raise SyntaxIssue(start, f"unexpected character {self.text[start]!r}")

    def _string(self) -> tuple[str, bool]:
        quote = self.text[self.pos]
        if quote == "'":
            self.repairs.add("single quotes")
        body = _DQ_BODY if quote == '"' else _SQ_BODY
        self.pos += 1
        chunks: list[str] = []
        while True:
            match = body.match(self.text, self.pos, self.end)
            if match:
                chunks.append(match.group(0))
                self.pos = match.end()
            if self._eof():
                return _text(chunks), False
            char = self.text[self.pos]
            if char == quote:
                self.pos += 1
                text = _text(chunks)
                if any(c < " " for c in text):
                    self.repairs.add("control characters in strings")
                return text, True
            # a backslash escape
            if self.pos + 1 >= self.end:
                self.pos = self.end
                return _text(chunks), False
            code = self.text[self.pos + 1]
            if code == "u":
                hex_digits = self.text[self.pos + 2 : self.pos + 6]
                if len(hex_digits) < 4 and self.pos + 2 + len(hex_digits) >= self.end:
                    self.pos = self.end
                    return _text(chunks), False
                if re.fullmatch(r"[0-9a-fA-F]{4}", hex_digits):
                    chunks.append(chr(int(hex_digits, 16)))
                    self.pos += 6
                    continue
                # a bad \u escape falls through and keeps the letter
            chunks.append(_ESCAPES.get(code, code))
            self.pos += 2

    def _array(self, depth: int) -> tuple[list[Any], bool]:
        if depth > MAX_DEPTH:
            raise SyntaxIssue(self.pos, "nesting too deep")
        self.pos += 1
        items: list[Any] = []
        while True:
            self._skip()
            if self._eof():
                return PartialList(items), False
            char = self.text[self.pos]
            if char == "]":
                self.pos += 1
                return items, True
            if char == ",":
                self.repairs.add("extra commas")
                self.pos += 1
                continue
            item_start = self.pos
            lost_before = self.lost_items
            item, complete = self.value(depth)
            if not complete:
                # count the item once, not also the pieces cut short inside it
                self.lost_items = lost_before + 1
                self._lose(item_start)
                return PartialList(items), False
            items.append(item)
            self._skip()
            if self._eof():
                return PartialList(items), False
            char = self.text[self.pos]
            if char == ",":
                self._comma("]")
            elif char == "]":
                self.pos += 1
                return items, True
            elif char in _VALUE_START:
                self.repairs.add("missing commas")
            else:
                raise SyntaxIssue(self.pos, f"expected ',' or ']' but found {char!r}")

    def _key(self) -> tuple[str, bool]:
        char = self.text[self.pos]
        if char in "\"'":
            return self._string()
        ident = _IDENT.match(self.text, self.pos, self.end)
        if ident is None:
            raise SyntaxIssue(self.pos, f"expected a key but found {char!r}")
        self.repairs.add("unquoted keys")
        self.pos = ident.end()
        return ident.group(0), self.pos < self.end

    def _object(self, depth: int) -> tuple[dict[str, Any], bool]:
        if depth > MAX_DEPTH:
            raise SyntaxIssue(self.pos, "nesting too deep")
        self.pos += 1
        obj: dict[str, Any] = {}
        while True:
            self._skip()
            if self._eof():
                return PartialDict(obj), False
            char = self.text[self.pos]
            if char == "}":
                self.pos += 1
                return obj, True
            if char == ",":
                self.repairs.add("extra commas")
                self.pos += 1
                continue
            if not self._member(obj, depth) or not self._after_member():
                return PartialDict(obj), False
            char = self.text[self.pos]
            if char == ",":
                self._comma("}")
            elif char == "}":
                self.pos += 1
                return obj, True
            elif char in "\"'" or _IDENT.match(char):
                self.repairs.add("missing commas")
            else:
                raise SyntaxIssue(self.pos, f"expected ',' or '}}' but found {char!r}")

    def _member(self, obj: dict[str, Any], depth: int) -> bool:
        """Reads one ``key: value`` into ``obj``. False when the text ends inside it: a container
        value cut short keeps its complete items, anything else is counted as lost."""
        member_start = self.pos
        key, complete = self._key()
        self._skip()
        if not complete or self._eof():
            self._lose(member_start)
            return False
        if self.text[self.pos] != ":":
            raise SyntaxIssue(self.pos, f"expected ':' after key {key!r}")
        self.pos += 1
        key, value, complete = self._member_value(obj, key, depth)
        if not complete:
            if isinstance(value, dict | list) and value:
                obj[key] = value
            else:
                self._lose(member_start)
            return False
        obj[key] = value
        return True

    def _member_value(self, obj: dict[str, Any], key: str, depth: int) -> tuple[str, Any, bool]:
        """(key, value, complete) after ``key:``, read past welded keys: ``"label": "text": "x"``
        keeps the last value; ``"mask": "<start_of_mask>_box_2d": [...]`` gives the token string
        to ``key`` (in ``obj``) and the value to the key it swallowed."""
        value, complete = self.value(depth)
        self._skip()
        while complete and isinstance(value, str) and not self._eof():
            if self.text[self.pos] != ":":
                break
            self.repairs.add("welded keys")
            self.pos += 1
            welded = _welded_key(value)
            value, complete = self.value(depth)
            self._skip()
            if welded is not None:
                obj[key] = welded[0]
                key = welded[1] if welded[1] not in obj else f"{welded[1]}_swallowed"
        return key, value, complete

    def _after_member(self) -> bool:
        """Steps over a stray quote after a member; False when the text ends before the next
        separator (the object is then cut short)."""
        if self._eof():
            return False
        if self.text[self.pos] == '"' and self._stray_quote():
            self._skip()
        return not self._eof()

    def _comma(self, closer: str) -> None:
        """Consumes a separator; one right before the closing bracket is a trailing comma."""
        self.pos += 1
        after = _WS.match(self.text, self.pos, self.end)
        probe = after.end() if after else self.pos
        if probe < self.end and self.text[probe] == closer:
            self.repairs.add("trailing commas")

    def _stray_quote(self) -> bool:
        """Skips a lone quote right before ',' / '}' / ']' (a value that swallowed a key)."""
        probe = _WS.match(self.text, self.pos + 1, self.end)
        nxt = probe.end() if probe else self.pos + 1
        if nxt < self.end and self.text[nxt] in ",}]":
            self.repairs.add("stray quotes")
            self.pos += 1
            return True
        return False


def _text(chunks: list[str]) -> str:
    return without_surrogates("".join(chunks))


def without_surrogates(text: str) -> str:
    """``\\ud83d\\udc31`` escape pairs joined into one character; lone halves → U+FFFD (they
    cannot be encoded as UTF-8, so no database could store them)."""
    if any("\ud800" <= c <= "\udfff" for c in text):
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


_MASK_TOKEN_TAIL = re.compile(r"^(.*>)_?([A-Za-z_][A-Za-z0-9_]*)$", re.S)


def _welded_key(value: str) -> tuple[str, str] | None:
    """``"<start_of_mask>_box_2d"`` → (``"<start_of_mask>"``, ``"box_2d"``): a token string
    that swallowed the next key; None for an ordinary welded key (``"label": "text": ...``)."""
    match = _MASK_TOKEN_TAIL.match(value)
    if match and "<" in match.group(1):
        return match.group(1), match.group(2)
    return None
