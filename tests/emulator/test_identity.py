"""Pixel identity: the emulator tells the same picture from its bytes, without decoding it.

Two encodings may share an identity only if they decode to the same pixels (a JPEG and the
same JPEG with other comments); anything else that differs gives another identity. Over a
real socket: an image whose identity decoded before is neither decoded nor looked at again,
gets the same answer, and a broken image is refused every time.
"""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile

from gemini_vision.demo import generate_scene
from gemini_vision.emulator import Emulator, EmulatorConfig
from gemini_vision.emulator.model import vision
from gemini_vision.emulator.model.identity import pixel_identity

KEY = "test-key-identity"
GEN = "/v1beta/models/gemini-2.5-flash:generateContent"
DETECT = "Detect the prominent items. The box_2d should be [ymin, xmin, ymax, xmax] 0-1000."


def _jpeg(seed: int = 7, *, size: tuple[int, int] = (96, 72), quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    generate_scene(seed, size).image.save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()


def _segments(data: bytes) -> list[int]:
    """The offsets of the marker segments before the first scan (after SOI)."""
    offsets, position = [], 2
    while data[position + 1] != 0xDA:
        offsets.append(position)
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
    return [*offsets, position]


def _with_comment(data: bytes, text: bytes, at: int) -> bytes:
    """``data`` with a COM segment holding ``text`` inserted before its ``at``-th segment."""
    offset = _segments(data)[at]
    return data[:offset] + b"\xff\xfe" + (len(text) + 2).to_bytes(2, "big") + text + data[offset:]


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


@settings(max_examples=60, deadline=None)
@given(
    text=st.binary(max_size=300),
    at=st.integers(min_value=0, max_value=50),
    more=st.booleans(),
)
def test_comments_anywhere_before_the_scan_keep_the_identity(
    text: bytes, at: int, more: bool
) -> None:
    plain = _jpeg()
    commented = _with_comment(plain, text, at % len(_segments(plain)))
    if more:
        commented = _with_comment(commented, b"second " + text, 0)
    assert commented != plain
    assert pixel_identity(commented) == pixel_identity(plain)
    assert np.array_equal(_pixels(commented), _pixels(plain))  # the claim the identity makes


def test_other_pixels_or_other_metadata_give_another_identity() -> None:
    plain = _jpeg(7)
    assert pixel_identity(_jpeg(8)) != pixel_identity(plain)  # another scene
    assert pixel_identity(_jpeg(7, quality=89)) != pixel_identity(plain)  # other tables
    # an APP segment (here an APP1 with EXIF orientation) is not a comment: it may change
    # what a reader shows, so it changes the identity
    buffer = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.open(io.BytesIO(plain)).save(buffer, format="JPEG", quality=90, exif=exif)
    assert pixel_identity(buffer.getvalue()) != pixel_identity(plain)
    flipped = bytearray(plain)
    flipped[-10] ^= 0x01  # one bit of the entropy-coded data
    assert pixel_identity(bytes(flipped)) != pixel_identity(plain)


def test_anything_else_is_identified_by_all_its_bytes() -> None:
    png = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(png, format="PNG")
    data = png.getvalue()
    assert pixel_identity(data) == pixel_identity(bytes(data))
    assert pixel_identity(data + b"\0") != pixel_identity(data)
    cut = _jpeg()[:40]  # a JPEG whose segments cannot be walked to its scan
    assert pixel_identity(_with_comment_at_start(cut)) != pixel_identity(cut)
    # a walkable JPEG and the bytes it leaves after its comments are removed are told apart
    plain = _jpeg()
    assert pixel_identity(_with_comment(plain, b"x", 0)) == pixel_identity(plain)
    assert pixel_identity(b"garbage" + plain) != pixel_identity(plain)


def _with_comment_at_start(data: bytes) -> bytes:
    return data[:2] + b"\xff\xfe\x00\x03x" + data[2:]


@pytest.fixture
def emu():
    with Emulator(EmulatorConfig(seed=5)) as server:
        yield server


def _ask(emu: Emulator, data: bytes) -> httpx.Response:
    inline = {"mimeType": "image/jpeg", "data": base64.b64encode(data).decode()}
    body = {"contents": [{"parts": [{"inlineData": inline}, {"text": DETECT}]}]}
    return httpx.post(emu.base_url + GEN, json=body, headers={"x-goog-api-key": KEY}, timeout=10)


def _answer_text(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.json()["candidates"][0]["content"]["parts"][0]["text"]


def test_the_same_picture_is_decoded_and_looked_at_once(emu, monkeypatch) -> None:
    decodes, looks = [], []
    real_load, real_analyze = ImageFile.ImageFile.load, vision.analyze

    def counting_load(image: ImageFile.ImageFile):
        if image.tile:  # tiles still to decode: a first load
            decodes.append(image.size)
        return real_load(image)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    monkeypatch.setattr(vision, "analyze", lambda im: looks.append(im.size) or real_analyze(im))
    plain = _jpeg(31, size=(101, 77))  # pixels no other test sends
    first = _answer_text(_ask(emu, plain))
    copies = [_with_comment(plain, f"copy {i}".encode(), 0) for i in (1, 2)]
    again = [_answer_text(_ask(emu, data)) for data in copies]
    assert again == [first, first]  # the same picture, the same answer
    assert decodes == [(101, 77)] and looks == [(101, 77)]
    other = _answer_text(_ask(emu, _jpeg(32, size=(101, 77))))
    assert len(decodes) == 2 and len(looks) == 2 and other != first


def test_a_broken_image_is_refused_every_time_whatever_its_comments(emu) -> None:
    plain = _jpeg(41, size=(90, 70))
    broken = plain[: len(plain) * 2 // 3]  # cut inside the scan
    for data in (broken, broken, _with_comment(broken, b"again", 0)):
        response = _ask(emu, data)
        assert response.status_code == 400
        assert "Unable to process input image" in response.json()["error"]["message"]
    assert _ask(emu, plain).status_code == 200
