"""What every wire model shares: the request and response base classes and the field helpers.

Requests accept camelCase and snake_case and reject unknown fields; responses ignore unknown
fields. ``Int64`` carries the API's int64-as-string convention; :func:`decode_base64` reads
both base64 alphabets; :func:`enum_value` reads an open-enum field.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import enum
import sys
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    AliasGenerator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
)
from pydantic.alias_generators import to_camel

__all__ = ["Int64", "RequestModel", "ResponseModel", "decode_base64", "enum_value"]


def _both_spellings(name: str) -> AliasChoices:
    return AliasChoices(to_camel(name), name)


class RequestModel(BaseModel):
    """A request object: camelCase or snake_case in, camelCase out, unknown fields forbidden."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(
            validation_alias=_both_spellings, serialization_alias=to_camel
        ),
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON body as the API expects it (camelCase, unset fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ResponseModel(BaseModel):
    """A response object: camelCase in (snake_case tolerated), unknown fields ignored."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(
            validation_alias=_both_spellings, serialization_alias=to_camel
        ),
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON body as the API sends it (camelCase, zero/unset fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _int_from_wire(value: Any) -> Any:
    return int(value) if isinstance(value, str) and value.strip().lstrip("-").isdigit() else value


#: an int64 field: JSON string on the wire, int in Python
Int64 = Annotated[
    int, BeforeValidator(_int_from_wire), PlainSerializer(str, return_type=str, when_used="json")
]


#: ``binascii.a2b_base64(..., strict_mode=True)`` (Python 3.11+) refuses anything but padded
#: standard base64; what it refuses goes the lenient way
_STRICT_BASE64 = sys.version_info >= (3, 11)


def decode_base64(data: str) -> bytes:
    """Decodes standard or URL-safe base64, with or without padding (as the API accepts)."""
    if _STRICT_BASE64:  # padded standard base64, the usual case: one pass in C
        with contextlib.suppress(binascii.Error, ValueError):
            return binascii.a2b_base64(data, strict_mode=True)
    cleaned = "".join(data.split())
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        if "-" in cleaned or "_" in cleaned:
            return base64.urlsafe_b64decode(cleaned)
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"invalid base64 data: {exc}") from exc


def enum_value(value: enum.Enum | str | None) -> str | None:
    """The string value of an open-enum field, whether it is a member or an unknown string."""
    return value.value if isinstance(value, enum.Enum) else value
