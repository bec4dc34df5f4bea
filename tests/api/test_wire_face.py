"""``gemini_vision.api.wire`` is one namespace, whatever module of the package defines a model;
its base64 reader takes every form the API accepts."""

from __future__ import annotations

import base64
import importlib
import pkgutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gemini_vision.api import wire


def test_the_wire_face_exports_every_public_name_of_its_modules() -> None:
    for info in pkgutil.iter_modules(wire.__path__):
        module = importlib.import_module(f"{wire.__name__}.{info.name}")
        for name in module.__all__:
            assert getattr(wire, name) is getattr(module, name), f"{info.name}.{name}"
            assert name in wire.__all__, f"{info.name}.{name}"


@settings(max_examples=300, deadline=None)
@given(
    data=st.binary(max_size=200),
    urlsafe=st.booleans(),
    unpadded=st.booleans(),
    spaced=st.booleans(),
)
def test_base64_is_read_in_every_form_the_api_accepts(
    data: bytes, urlsafe: bool, unpadded: bool, spaced: bool
) -> None:
    """Padded standard base64 (read in one pass) and the lenient forms (URL-safe alphabet,
    no padding, line breaks) all give the bytes back."""
    text = (base64.urlsafe_b64encode if urlsafe else base64.b64encode)(data).decode()
    if unpadded:
        text = text.rstrip("=")
    if spaced:
        text = "\n".join(text[i : i + 76] for i in range(0, len(text), 76))
    assert wire.decode_base64(text) == data


@pytest.mark.parametrize("text", ["YQ=x", "Y*Q=", "YQ==YQ==x", "@@@@", "é"])
def test_what_is_not_base64_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="invalid base64"):
        wire.decode_base64(text)
