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

from gemini_vision.images import jpeg_header

__all__ = ["IDENTITY_KEY", "pixel_identity"]

#: where :func:`pixel_identity` travels with an opened image, in ``PIL.Image.Image.info``
IDENTITY_KEY = "gemini_vision.pixel_identity"

#: a JPEG comment (COM) segment's marker
_COMMENT = 0xFE


def pixel_identity(data: bytes) -> bytes:
    """A 20-byte digest shared by encodings that decode to the same pixels (see above)."""
    pieces = _without_comments(data)
    digest = hashlib.blake2b(b"jpeg-without-comments" if pieces else b"bytes", digest_size=20)
    for piece in pieces or [memoryview(data)]:
        digest.update(piece)
    return digest.digest()


def _without_comments(data: bytes) -> list[memoryview] | None:
    """A JPEG's bytes in pieces, its COM segments left out; None for anything that is not a
    JPEG whose header is whole up to its first scan (those are identified by all their
    bytes)."""
    segments, damage = jpeg_header(data)
    if damage is not None:
        return None
    view = memoryview(data)
    pieces, kept_from = [], 0
    for segment in segments:
        if segment.marker == _COMMENT:
            pieces.append(view[kept_from : segment.start])
            kept_from = segment.end
    pieces.append(view[kept_from:])
    return pieces
