"""Images that stay in Cloud Storage: Vertex AI reads them by ``gs://`` URI, as they are.

Nothing is downloaded, decoded or re-encoded, so nothing can be corrected either: the image
Vertex AI sees is the stored grid. :func:`prepare_cloud_image` checks, from the object's first
bytes, that this grid is what the FiftyOne App shows and that Vertex AI can read it - and
otherwise refuses the sample with the reason, rather than let a box land in the wrong place:

- EXIF orientation other than 1: the App rotates the image, the model would not;
- a format Vertex AI does not read as it is (TIFF, BMP, GIF, ...), or pixels it may not decode
  the way the App does (16-bit, CMYK, palette tricks);
- more pixels than ``max_pixels``.
"""

from __future__ import annotations

import hashlib
import io

from PIL import Image, UnidentifiedImageError

from gemini_vision.errors import ImageError
from gemini_vision.images.convert import ALPHA_MODES, JPEG_FORMATS, PLAIN_MODES
from gemini_vision.images.exif import read_orientation
from gemini_vision.images.prepare import DEFAULT_MAX_PIXELS, PreparedImage

__all__ = ["CLOUD_MIME_TYPES", "is_cloud_uri", "prepare_cloud_image"]

#: formats passed by reference, and the MIME type Vertex AI is told
CLOUD_MIME_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}

#: pixel modes every decoder renders alike (not 16-bit, not CMYK)
_SAFE_MODES = PLAIN_MODES | ALPHA_MODES | {"P", "PA", "1"}
_KEEP_LOCAL = "copy the image to local storage to have it converted before it is sent"


def is_cloud_uri(source: object) -> bool:
    """Whether ``source`` names a Cloud Storage object (``gs://bucket/name``)."""
    return isinstance(source, str) and source[:5].lower() == "gs://"


def prepare_cloud_image(
    uri: str, head: bytes, *, generation: str = "", max_pixels: int = DEFAULT_MAX_PIXELS
) -> PreparedImage:
    """The image at ``uri`` as a reference, checked from ``head`` (its first bytes).

    Raises ImageError naming ``uri`` when it cannot be sent by reference safely."""
    try:
        im = Image.open(io.BytesIO(head))
    except (UnidentifiedImageError, OSError):
        raise ImageError(
            "not an image Vertex AI can read (unreadable header)", source=uri
        ) from None
    with im:
        fmt = "JPEG" if im.format in JPEG_FORMATS else (im.format or "unknown")
        mime_type = CLOUD_MIME_TYPES.get(fmt)
        if mime_type is None:
            raise ImageError(
                f"format {fmt} cannot be passed to Vertex AI from Cloud Storage as it is "
                f"(JPEG, PNG and WebP can); {_KEEP_LOCAL}",
                source=uri,
            )
        orientation = read_orientation(im)
        if orientation != 1:
            raise ImageError(
                f"EXIF orientation {orientation}: the App shows it rotated, but Vertex AI reads "
                f"the stored pixels, so every box would be misplaced; {_KEEP_LOCAL}",
                source=uri,
            )
        if im.mode not in _SAFE_MODES or (fmt == "PNG" and head[24:25] == b"\x10"):
            raise ImageError(
                f"pixel mode {im.mode if im.mode != 'I;16' else '16-bit'} may not be decoded "
                f"as the App shows it; {_KEEP_LOCAL}",
                source=uri,
            )
        width, height = im.size
    if width * height > max_pixels:
        raise ImageError(f"{width}x{height} has more than {max_pixels} pixels", source=uri)
    return PreparedImage(
        data=b"",
        mime_type=mime_type,
        sent_size=(width, height),
        display_size=(width, height),
        source_size=(width, height),
        orientation=1,
        passthrough=True,
        sha256=hashlib.sha256(f"{uri}#{generation}".encode()).hexdigest(),
        source=uri,
        source_format=fmt,
        uri=uri,
    )
