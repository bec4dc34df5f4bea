"""Numbers in model answers: a value read as a finite float, and a model's confidence.

Models write numbers as JSON numbers or as strings (``250``, ``"250"``, ``" 0.9 "``), and
confidences in several forms: a fraction (``0.9``), a number on 0-100 (``87``), a percentage
(``"90%"``) or a word (``"high"``). Both readers are total: anything they cannot read is None.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

__all__ = ["CONFIDENCE_WORDS", "finite_number", "parse_confidence"]

#: confidence words models write instead of a number, and the fraction each one stands for
CONFIDENCE_WORDS = {"very high": 0.95, "high": 0.9, "medium": 0.6, "moderate": 0.6, "low": 0.3}


def finite_number(value: Any) -> float | None:
    """``value`` read as a finite float, or None.

    An int, a float or a numeric string (surrounding whitespace ignored) becomes a float.
    None for anything else: ``bool`` (``True`` is no coordinate), NaN, ``±inf``, and an int
    too large for a float.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        # str.strip, not float's own trimming: it also drops the ASCII separators \x1c-\x1f
        number = float(value.strip()) if isinstance(value, str) else float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def parse_confidence(
    value: Any, *, numbers_only: bool = False, note: Callable[[str], None] | None = None
) -> float | None:
    """A model's confidence as a fraction in [0, 1], or None when it cannot be read.

    - a number (or numeric string) in [0, 1] is the fraction itself; one in (1, 100] is on
      0-100 and is divided by 100; anything else (negative, above 100, not a number) is None;
    - ``"90%"``: the number before ``%`` divided by 100, then read as above (so ``"90%"`` is
      0.9 and ``"150%"``, read as 1.5 on 0-100, is 0.015);
    - a word of :data:`CONFIDENCE_WORDS` (``"high"``, any case) is its fraction.

    ``numbers_only`` reads numbers and numeric strings only (no ``%``, no words).
    ``note`` is told, in a few words, about each repair or refusal worth a warning: a word
    mapped to a number, a 0-100 value rescaled, an unreadable value ignored.
    """
    tell = note if note is not None else _silent
    if isinstance(value, str) and not numbers_only:
        text = value.strip().lower()
        if text in CONFIDENCE_WORDS:
            tell("confidence given as a word, mapped to a number")
            return CONFIDENCE_WORDS[text]
        if text.endswith("%"):
            percent = finite_number(text[:-1])
            return None if percent is None else _fraction(percent / 100, tell)
    return _fraction(finite_number(value), tell)


def _fraction(number: float | None, tell: Callable[[str], None]) -> float | None:
    """A number on [0, 1] as is, on (1, 100] divided by 100; None outside [0, 100]."""
    if number is None or number < 0 or number > 100:
        tell("unreadable confidence ignored")
        return None
    if number > 1:
        tell("confidence on 0-100 rescaled to 0-1")
        return number / 100
    return number


def _silent(_: str) -> None:
    """A ``note`` that keeps nothing: callers without warnings to collect."""
