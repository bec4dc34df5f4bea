"""An operator's parameters, declared once, read the same way for every caller.

Parameters arrive from the App's form (typed values), from Python's ``execute_operator``
(anything), and from AI assistants through FiftyOne's MCP server (JSON). Each operator declares
what every parameter must be - :class:`Text`, :class:`Names`, :class:`Flag`, :class:`Number`
in a range, one :class:`Choice` - and :class:`Params` checks every value it is given against
that declaration as soon as it is built: a wrong value, or a name the operator does not take,
becomes one sentence naming the parameter, the value and what to send instead. Forms put those
sentences on the form (:meth:`Params.mark`), which makes FiftyOne refuse the call before
``execute`` runs, with the first sentence as the reason; ``execute`` refuses the same way
(:meth:`Params.check`) when it is reached without a form. The operators turn FiftyOne's own
type checks off (``disable_schema_validation``), so every refusal is one of ours.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import fiftyone.operators.types as types

from gemini_vision.errors import ConfigurationError

__all__ = ["Choice", "Flag", "Names", "Number", "Params", "Records", "Spec", "Text"]

#: what FiftyOne itself may put among the parameters (the panel ones when an operator is
#: opened while a panel is active, e.g. from the Gemini button with the Gemini panel open)
_FRAMEWORK_PARAMS = frozenset(
    {"view_target", "delegation_target", "request_delegation", "panel_id", "panel_state"}
)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Refused(ValueError):
    """A value a parameter does not accept; the message is the sentence users see."""


class Spec:
    """What one parameter must be. :meth:`read` returns the value to use, or raises
    :class:`Refused`; blank text counts as missing before it is called."""

    def read(self, name: str, value: Any) -> Any:
        raise NotImplementedError


@dataclass(frozen=True)
class Text(Spec):
    """Text, stripped."""

    def read(self, name: str, value: Any) -> str:
        if not isinstance(value, str):
            raise Refused(f"{name} must be text, got {_shown(value)}")
        return value.strip()


@dataclass(frozen=True)
class Names(Spec):
    """A list of names: a list of texts, or one text with commas (``"cat, dog"``)."""

    def read(self, name: str, value: Any) -> list[str]:
        if isinstance(value, str):
            value = value.split(",")
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise Refused(f"{name} must be a list of names (texts), got {_shown(value)}")
        return [v.strip() for v in value if v.strip()]


@dataclass(frozen=True)
class Records(Spec):
    """A list of ``minimum`` to ``maximum`` objects, each of whose fields is read by its own
    spec (unknown fields refused; blank or missing ones left out)."""

    fields: Mapping[str, Spec]
    minimum: int = 1
    maximum: int = 100

    def read(self, name: str, value: Any) -> list[dict[str, Any]]:
        if not isinstance(value, list | tuple) or not all(isinstance(v, dict) for v in value):
            raise Refused(f"{name} must be a list of objects, got {_shown(value)}")
        if not self.minimum <= len(value) <= self.maximum:
            raise Refused(
                f"{name} must hold {self.minimum} to {self.maximum} entries, got {len(value)}"
            )
        records = []
        for index, item in enumerate(value):
            record = {}
            for key, field_value in item.items():
                spec = self.fields.get(key)
                if spec is None:
                    known = ", ".join(self.fields)
                    raise Refused(f"{name}[{index}] has an unknown field {key!r} (takes {known})")
                if field_value is None or (
                    isinstance(field_value, str) and not field_value.strip()
                ):
                    continue
                record[key] = spec.read(f"{name}[{index}].{key}", field_value)
            records.append(record)
        return records


@dataclass(frozen=True)
class Flag(Spec):
    """Yes or no: a JSON boolean (the text ``"false"`` is refused, never taken as yes)."""

    def read(self, name: str, value: Any) -> bool:
        if not isinstance(value, bool):
            raise Refused(f"{name} must be true or false, got {_shown(value)}")
        return value


@dataclass(frozen=True)
class Number(Spec):
    """A number in ``[minimum, maximum]``, a whole one with ``whole``; numeric text
    (``"16"``) is read as its number. ``zero_allowed``: 0 is accepted too (a special value,
    such as "full size")."""

    minimum: float | None = None
    maximum: float | None = None
    whole: bool = False
    zero_allowed: bool = False

    def read(self, name: str, value: Any) -> float | int:
        number = _as_number(value)
        if self.zero_allowed and number == 0:
            return 0
        in_range = number is not None and (
            (self.minimum is None or number >= self.minimum)
            and (self.maximum is None or number <= self.maximum)
        )
        if number is None or not in_range or (self.whole and not number.is_integer()):
            raise Refused(self._sentence(name, value))
        return int(number) if self.whole else number

    def _sentence(self, name: str, value: Any) -> str:
        kind = "a whole number" if self.whole else "a number"
        if self.minimum is not None and self.maximum is not None:
            bounds = f" from {self.minimum:g} to {self.maximum:g}"
        elif self.minimum is not None:
            bounds = f" of at least {self.minimum:g}"
        else:
            bounds = ""
        zero = " (or 0)" if self.zero_allowed else ""
        return f"{name} must be {kind}{bounds}{zero}, got {_shown(value)}"


@dataclass(frozen=True)
class Choice(Spec):
    """One of ``values`` (case and surrounding spaces ignored, unless ``exact``)."""

    values: tuple[str, ...]
    exact: bool = False

    def read(self, name: str, value: Any) -> str:
        if isinstance(value, str):
            for option in self.values:
                if value == option or (not self.exact and value.strip().lower() == option.lower()):
                    return option
        raise Refused(f"{name} must be one of {', '.join(self.values)}, got {_shown(value)}")


class Params:
    """The parameters of one call (``ctx.params``), every one checked against ``specs`` at
    once; see the module doc. Read them with :meth:`get` (or :meth:`text` etc.)."""

    def __init__(self, params: Mapping[str, Any] | None, specs: Mapping[str, Spec]) -> None:
        self.raw: dict[str, Any] = dict(params or {})
        self.specs = dict(specs)
        #: parameter name -> one sentence, in the order met
        self.problems: dict[str, str] = {}
        self._values: dict[str, Any] = {}
        for name, value in self.raw.items():
            spec = self.specs.get(name)
            if spec is None:
                if name not in _FRAMEWORK_PARAMS:
                    self.problems[name] = self._unknown(name)
            elif value is None or (isinstance(value, str) and not value.strip()):
                continue  # missing
            else:
                try:
                    self._values[name] = spec.read(name, value)
                except Refused as exc:
                    self.problems[name] = str(exc)

    def _unknown(self, name: str) -> str:
        known = sorted(self.specs)
        close = difflib.get_close_matches(str(name), known, n=1, cutoff=0.7)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown parameter {str(name)!r}{hint} (this operator takes: {', '.join(known)})"

    # -- reading ----------------------------------------------------------------------------

    def given(self, name: str) -> bool:
        """Whether ``name`` has a usable value (not missing, blank or refused)."""
        return name in self._values

    def get(self, name: str, default: Any = None) -> Any:
        """The checked value of ``name``, or ``default`` when it is missing, refused or not a
        parameter of this operator."""
        value = self._values.get(name)
        return default if value is None or value == "" else value

    text = get
    flag = get
    number = get
    choice = get

    def texts(self, name: str) -> list[str]:
        return list(self.get(name, []))

    # -- problems ---------------------------------------------------------------------------

    def refuse(self, name: str, sentence: str, fallback: Any = None) -> Any:
        """Records ``sentence`` as the problem of ``name`` (the first one stays) and returns
        ``fallback``, so the checks can go on and every problem be found."""
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
