"""Reading an operator's parameters the same way for every caller, and refusing bad ones.

Parameters arrive from the App's form (typed values), from Python's ``execute_operator``
(anything), and from AI assistants through FiftyOne's MCP server (JSON). :class:`Params` reads
each one by what it must be - text, a whole number in a range, a yes/no, one of some choices,
a list of names - and collects every problem as one sentence naming the parameter, the value
and what to send instead. Forms put those sentences on the form (:meth:`Params.mark`), which
makes FiftyOne refuse the call before ``execute`` runs, with the first sentence as the reason;
``execute`` refuses the same way (:meth:`Params.check`) when it is reached without a form.

The operators turn FiftyOne's own type checks off (``disable_schema_validation``): every
refusal is one of ours, in words that say what to do.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

import fiftyone.operators.types as types

from gemini_vision.errors import ConfigurationError

__all__ = ["Params"]

#: what FiftyOne itself may put among the parameters
_FRAMEWORK_PARAMS = frozenset({"view_target", "delegation_target", "request_delegation"})


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Params:
    """The parameters of one call (``ctx.params``), read and checked; see the module doc.

    ``known``: every parameter the operator takes; anything else is refused (a misspelt
    name would otherwise be ignored in silence)."""

    def __init__(self, params: Mapping[str, Any] | None, known: Iterable[str]) -> None:
        self.raw: dict[str, Any] = dict(params or {})
        self.known = frozenset(known)
        #: parameter name -> one sentence, in the order met
        self.problems: dict[str, str] = {}
        for name in self.raw:
            if name not in self.known and name not in _FRAMEWORK_PARAMS:
                self.problems[name] = self._unknown(name)

    def _unknown(self, name: str) -> str:
        close = difflib.get_close_matches(str(name), sorted(self.known), n=1, cutoff=0.7)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        accepted = ", ".join(sorted(self.known))
        return f"unknown parameter {str(name)!r}{hint} (this operator takes: {accepted})"

    # -- readers ----------------------------------------------------------------------------

    def given(self, name: str) -> bool:
        """Whether ``name`` has a value (not missing, None or blank text)."""
        value = self.raw.get(name)
        return value is not None and not (isinstance(value, str) and not value.strip())

    def text(self, name: str, default: str | None = None) -> str | None:
        """Text, stripped (blank is missing)."""
        value = self.raw.get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            return self.refuse(name, f"{name} must be text, got {_shown(value)}", default)
        return value.strip() or default

    def texts(self, name: str) -> list[str]:
        """A list of names: a list of texts, or one text with commas (``"cat, dog"``)."""
        value = self.raw.get(name)
        if value is None:
            return []
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            sentence = f"{name} must be a list of names (texts), got {_shown(value)}"
            return self.refuse(name, sentence, [])
        return [v.strip() for v in value if v.strip()]

    def flag(self, name: str, default: bool) -> bool:
        """Yes or no: a JSON boolean (``"false"`` is refused, never taken as yes)."""
        value = self.raw.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            message = f"{name} must be true or false, got {_shown(value)}"
            return self.refuse(name, message, default)
        return value

    def number(
        self,
        name: str,
        default: float | None,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
        whole: bool = False,
        zero_means: str | None = None,
    ) -> Any:
        """A number in ``[minimum, maximum]`` (a whole one with ``whole``). Numeric text
        (``"16"``) is accepted; ``zero_means``: 0 is allowed too and means that."""
        value = self.raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return default
        number = _as_number(value)
        if zero_means is not None and number == 0:
            return 0
        if number is None or (whole and not float(number).is_integer()):
            return self.refuse(name, self._range_sentence(name, value, minimum, maximum, whole))
        if (minimum is not None and number < minimum) or (
            maximum is not None and number > maximum
        ):
            return self.refuse(name, self._range_sentence(name, value, minimum, maximum, whole))
        return int(number) if whole else float(number)

    @staticmethod
    def _range_sentence(
        name: str, value: Any, minimum: float | None, maximum: float | None, whole: bool
    ) -> str:
        kind = "a whole number" if whole else "a number"
        if minimum is not None and maximum is not None:
            bounds = f" from {minimum:g} to {maximum:g}"
        elif minimum is not None:
            bounds = f" of at least {minimum:g}"
        else:
            bounds = ""
        return f"{name} must be {kind}{bounds}, got {_shown(value)}"

    def choice(self, name: str, choices: Iterable[str], default: str | None) -> str | None:
        """One of ``choices`` (case and surrounding spaces ignored)."""
        value = self.raw.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            return default
        options = list(choices)
        if isinstance(value, str):
            for option in options:
                if value.strip().lower() == option.lower():
                    return option
        message = f"{name} must be one of {', '.join(options)}, got {_shown(value)}"
        return self.refuse(name, message, default)

    # -- problems ---------------------------------------------------------------------------

    def refuse(self, name: str, sentence: str, fallback: Any = None) -> Any:
        """Records ``sentence`` as the problem of ``name`` (the first one stays) and returns
        ``fallback``, so reading can go on and every problem be found."""
        self.problems.setdefault(name, sentence)
        return fallback

    @property
    def ok(self) -> bool:
        return not self.problems

    def first(self) -> str | None:
        return next(iter(self.problems.values()), None)

    def check(self) -> None:
        """Raises :class:`ConfigurationError` with the first problem, if there is one."""
        if self.problems:
            raise ConfigurationError(self.first() or "invalid parameters")

    def mark(self, inputs: types.Object) -> None:
        """Shows the problems on the form and blocks execution: each problem on its own input
        when the form has one, and all of them in one error at the top (FiftyOne reports the
        first invalid input as the reason, so the first problem leads)."""
        if not self.problems:
            return
        for name, sentence in self.problems.items():
            prop = inputs.properties.get(name)
            if prop is not None:
                prop.invalid = True
                prop.error_message = sentence
        first = self.first() or ""
        summary = types.Property(
            types.Void(),
            view=types.Error(label=first, description=_others(self.problems)),
            invalid=True,
            error_message=first,
        )
        inputs.properties = {"parameter_error": summary, **inputs.properties}


def _others(problems: Mapping[str, str]) -> str:
    rest = list(problems.values())[1:]
    return "Also: " + " ".join(rest) if rest else ""


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None
