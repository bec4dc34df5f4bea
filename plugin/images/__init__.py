"""Images in, the bytes Gemini sees out: what Gemini sees is what the FiftyOne App shows.

::

    sources   where bytes come from: a path, the bytes themselves, an http(s) URL (capped)
    exif      EXIF orientations 1-8 as explicit transforms between stored and displayed frames
    prepare   load, check, pass through or convert; sizes without decoding
    jpeg      is a JPEG file whole? its marker structure, read without decoding a pixel
    convert   pixels: decode, orient, normalise to 8-bit, downscale, encode
    cloud     gs:// images Vertex AI reads as they are: checked from their header
    crops     crops of objects with context and a least size, and back to image coordinates

Nothing here imports FiftyOne.
"""

from gemini_vision.images.exif import EXIF_TO_DISPLAY, exif_display_size
from gemini_vision.images.jpeg import JpegSegment, jpeg_header
from gemini_vision.images.prepare import (
    DEFAULT_MAX_SIDE,
    SUPPORTED_MIME_TYPES,
    PreparedImage,
    image_size,
    load_display_image,
    prepare_image,
    register_heif,
)
from gemini_vision.images.sources import ImageSource, read_source

__all__ = [
    "DEFAULT_MAX_SIDE",
    "EXIF_TO_DISPLAY",
    "SUPPORTED_MIME_TYPES",
    "ImageSource",
    "JpegSegment",
    "PreparedImage",
    "exif_display_size",
    "image_size",
    "jpeg_header",
    "load_display_image",
    "prepare_image",
    "read_source",
    "register_heif",
]
