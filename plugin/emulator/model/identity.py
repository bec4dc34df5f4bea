"""Which received images are the same picture, told from their bytes without decoding them.

Two encodings share a *pixel identity* only when they certainly decode to the same pixels: the
same bytes, less a JPEG's comment (COM) segments, which decoders skip. The emulator uses it to
remember that an image decoded and what it saw in it, so a request about pixels it has already
looked at costs a hash (about 0.1 ms for a 60 kB JPEG) instead of a decode, a hash of the
pixels and a look (about 2 ms). Any other difference, metadata included, gives another
identity: one look more, never a wrong answer.
"""

from __future__ import annotations

import hashlib

__all__ = ["IDENTITY_KEY", "pixel_identity"]

#: where :func:`pixel_identity` travels with an opened image, in ``PIL.Image.Image.info``
IDENTITY_KEY = "gemini_vision.pixel_identity"

_COM, _SOS = 0xFE, 0xDA
#: markers without a length: SOI, EOI, TEM and the restart markers RST0-7
_STANDALONE = frozenset({0xD8, 0xD9, 0x01, *range(0xD0, 0xD8)})


def pixel_identity(data: bytes) -> bytes:
    """A 20-byte digest shared by encodings that decode to the same pixels (see above)."""
    pieces = _without_comments(data)
    digest = hashlib.blake2b(b"jpeg-without-comments" if pieces else b"bytes", digest_size=20)
    for piece in pieces or [memoryview(data)]:
        digest.update(piece)
    return digest.digest()


def _without_comments(data: bytes) -> list[memoryview] | None:
    """A JPEG's bytes in pieces, its COM segments left out; None for anything that is not a
    JPEG whose segments can be walked to its first scan (those are identified by all their
    bytes)."""
    if data[:2] != b"\xff\xd8":
        return None
    view = memoryview(data)
    pieces: list[memoryview] = []
    kept_from = position = 2
    pieces.append(view[:2])
    while True:
        if position >= len(data) or data[position] != 0xFF:
            return None
        segment_start = position
        while position < len(data) and data[position] == 0xFF:  # fill bytes
            position += 1
        if position + 3 > len(data):
            return None
        marker = data[position]
        position += 1
        if marker in _STANDALONE:
            continue
        length = int.from_bytes(data[position : position + 2], "big")
        if length < 2 or position + length > len(data):
            return None
        if marker == _COM:
            pieces.append(view[kept_from:segment_start])
            kept_from = position + length
        position += length
        if marker == _SOS:
            pieces.append(view[kept_from:])
            return pieces
