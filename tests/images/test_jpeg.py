"""The JPEG structure check that stands in for a decode when a JPEG is sent as it is."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from PIL import Image

from gemini_vision.errors import ImageError
from gemini_vision.images.jpeg import jpeg_damage, jpeg_header
from gemini_vision.images.prepare import prepare_image


def photo(width: int = 320, height: int = 240, **options: object) -> bytes:
    rng = np.random.default_rng(width * height)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", **options)
    return buffer.getvalue()


def with_thumbnail(main: bytes) -> bytes:
    """``main`` with a whole JPEG (its own SOS and EOI) inside an APP1 segment, as EXIF
    thumbnails are."""
    thumbnail = photo(32, 24)
    payload = b"Exif\x00\x00" + thumbnail
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return main[:2] + segment + main[2:]


def pillow_decodes(data: bytes) -> bool:
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
    except (OSError, SyntaxError, ValueError):
        return False
    return True


@pytest.mark.parametrize(
    "data",
    [photo(), photo(progressive=True), photo(restart_marker_rows=1), with_thumbnail(photo())],
    ids=["baseline", "progressive", "restart markers", "exif thumbnail"],
)
def test_whole_files_have_no_damage_and_decode(data: bytes) -> None:
    assert jpeg_damage(data) is None
    assert pillow_decodes(data)


@pytest.mark.parametrize("progressive", [False, True])
def test_every_cut_file_is_damaged_as_pillow_finds_it(progressive: bool) -> None:
    data = with_thumbnail(photo(progressive=progressive))
    for end in range(0, len(data) - 1, max(1, len(data) // 97)):
        cut = data[:end]
        assert jpeg_damage(cut) is not None, end
        assert not pillow_decodes(cut), end  # the decode it replaces refused them too


def test_a_cut_main_image_is_not_rescued_by_its_thumbnails_end_marker() -> None:
    data = with_thumbnail(photo())
    thumbnail_end = data.index(b"\xff\xd9") + 2
    cut = data[: thumbnail_end + 200]
    assert jpeg_damage(cut) is not None


def test_damaged_headers_are_named() -> None:
    data = photo()
    assert jpeg_damage(b"") == "no JPEG start-of-image marker"
    assert jpeg_damage(b"\x89PNG\r\n\x1a\n") == "no JPEG start-of-image marker"
    overlong = data[:2] + b"\xff\xe0\xff\xff" + data[6:]
    assert "runs past the end" in (jpeg_damage(overlong) or "")
    not_a_marker = data[:2] + b"\x00" + data[3:]
    assert "expected a marker" in (jpeg_damage(not_a_marker) or "")


def test_a_cut_jpeg_sent_as_it_is_fails_its_sample_with_the_reason(tmp_path) -> None:
    path = tmp_path / "cut.jpg"
    whole = photo()
    path.write_bytes(whole[: len(whole) - 500])
    with pytest.raises(ImageError, match="cannot decode the image data") as info:
        prepare_image(path)
    assert info.value.source == str(path) and "end-of-image" in str(info.value)
    (tmp_path / "whole.jpg").write_bytes(whole)
    prepared = prepare_image(tmp_path / "whole.jpg")
    assert prepared.passthrough and prepared.data == whole


def test_the_header_segments_tile_the_bytes_from_soi_to_the_first_scan() -> None:
    data = with_thumbnail(photo())
    segments, damage = jpeg_header(data)
    assert damage is None
    assert segments[0].start == 2 and segments[-1].marker == 0xDA
    assert all(a.end == b.start for a, b in itertools.pairwise(segments))
    assert segments[0].marker == 0xE1  # the thumbnail's APP1 is one segment, its SOS unseen
    assert all(data[s.start] == 0xFF for s in segments)
    cut_segments, cut_damage = jpeg_header(data[: segments[2].start + 3])
    assert cut_damage == "the file ends inside a header" and cut_segments == segments[:2]
