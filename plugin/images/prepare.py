"""Load an image and prepare the bytes we send to Gemini: what Gemini sees is what the App shows.

:func:`prepare_image`:

1. reads the bytes: a local path, ``bytes``, or an http(s) URL (streamed, size cap, deadline);
2. reads the header only (format, stored size, EXIF orientation) and refuses more than
   ``max_pixels`` pixels before decoding any;
3. **passes the original bytes through** when nothing needs to change: a type Gemini accepts
   (PNG, JPEG, WEBP, HEIC, HEIF), orientation 1 or absent, no downscale needed, one frame of
   plain 8-bit RGB or grey (RGBA/LA too if the alpha is fully opaque). The file is still checked
   whole (a JPEG's marker structure, :mod:`.jpeg`; other formats decoded once), so a truncated
   file fails here, named, not at Gemini;
4. otherwise decodes (JPEG in the DCT domain via ``Image.draft``), applies the EXIF orientation,
   normalises the pixels to 8-bit RGB or L, downscales the whole frame to ``max_side`` and
   encodes: lossy sources (JPEG, HEIF, AVIF, WEBP) as JPEG, lossless ones (PNG, BMP, TIFF, GIF,
   ...) as PNG, unless ``output_format`` says otherwise.

Sizes are ``(width, height)`` pixels. ``source_size``: the stored grid. ``display_size``: after
the EXIF orientation, as the App shows it. ``sent_size``: the display frame scaled as a whole, so
Gemini's 0-1000 coordinates are equally relative to the display frame (see
:mod:`gemini_vision.geometry`).

Choices:

- ``DEFAULT_MAX_SIDE = 1024``: Gemini answers on a 0-1000 grid, so ~1000 px per side is where one
  pixel is one grid step; more pixels add cost, not coordinate precision, fewer lose small
  objects. The Gemini cookbook's "Spatial understanding" notebook sends 1024 px images too. A
  4:3 image costs 2 tiles (516 tokens) on Gemini 2.x; Gemini 3 bills by media resolution,
  whatever the size.
- How pixels are decoded, converted and encoded (JPEG drafts, alpha, 16-bit): :mod:`.convert`.
- ``DEFAULT_MAX_PIXELS`` is Pillow's own hard limit (2 x ``Image.MAX_IMAGE_PIXELS``): we never
  refuse what Pillow (and FiftyOne) would open. Going above it needs Pillow's limit raised too.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
import pillow_heif
from PIL import Image, UnidentifiedImageError

from gemini_vision.api.wire import Part, PartMediaResolution
from gemini_vision.catalog import estimate_image_tokens, normalize_media_resolution
from gemini_vision.errors import ImageError
from gemini_vision.images.convert import (
    ALPHA_MODES,
    JPEG_FORMATS,
    PLAIN_MODES,
    compatible_icc,
    encode,
    load_pixels,
    to_display,
)
from gemini_vision.images.exif import read_orientation
from gemini_vision.images.jpeg import jpeg_damage
from gemini_vision.images.sources import ImageSource, read_source

__all__ = [
    "DEFAULT_JPEG_QUALITY",
    "DEFAULT_MAX_DOWNLOAD_BYTES",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_SIDE",
    "DEFAULT_TIMEOUT",
    "SUPPORTED_MIME_TYPES",
    "ImageSource",
    "PreparedImage",
    "image_size",
    "load_display_image",
    "prepare_image",
    "register_heif",
]

DEFAULT_MAX_SIDE = 1024
DEFAULT_JPEG_QUALITY = 90
DEFAULT_MAX_PIXELS = 178_956_970  # Pillow's DecompressionBombError threshold (2 x 89,478,485)
DEFAULT_MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
DEFAULT_TIMEOUT = 30.0

SUPPORTED_MIME_TYPES = ("image/png", "image/jpeg", "image/webp", "image/heic", "image/heif")
_OUTPUT_FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_FORMAT_ALIASES = {"JPG": "JPEG"}
_LOSSY_FORMATS = frozenset({"JPEG", "MPO", "HEIF", "AVIF", "WEBP"})

_heif_registered = False


def register_heif() -> None:
    """Registers pillow_heif's HEIC/HEIF opener and saver with Pillow (once per process)."""
    global _heif_registered
    if not _heif_registered:
        pillow_heif.register_heif_opener()
        _heif_registered = True


register_heif()


@dataclass(frozen=True)
class PreparedImage:
    """The exact bytes sent to Gemini for one image, and the frames they relate to.

    Sizes are ``(width, height)`` in pixels. ``sent_size`` is ``display_size`` scaled as a whole
    (or equal to it). ``source_size`` is the stored grid before the EXIF ``orientation`` (1-8).
    """

    data: bytes = field(repr=False)
    mime_type: str
    sent_size: tuple[int, int]
    display_size: tuple[int, int]
    source_size: tuple[int, int]
    orientation: int
    passthrough: bool
    sha256: str
    source: str
    source_format: str
    #: what was changed and why, e.g. ``("exif orientation 6", "resized 4000x3000 -> 1000x750")``
    changes: tuple[str, ...] = ()
    #: a ``gs://`` URI Vertex AI reads the image from (then ``data`` is empty)
    uri: str | None = None

    @property
    def scale(self) -> tuple[float, float]:
        """Sent pixels per displayed pixel, per axis (1.0 when not resized)."""
        return (
            self.sent_size[0] / self.display_size[0],
            self.sent_size[1] / self.display_size[1],
        )

    def to_part(self, media_resolution: str | None = None) -> Part:
        """An inline-data request part (a file-data part for a ``uri``). ``media_resolution``
        (e.g. ``"HIGH"``) is set per part (Gemini 3 only)."""
        if self.uri is not None:
            part = Part.from_uri(self.uri, self.mime_type)
        else:
            part = Part.from_bytes(self.data, self.mime_type)
        level = normalize_media_resolution(media_resolution)
        if level is not None:
            part.media_resolution = PartMediaResolution(level=f"MEDIA_RESOLUTION_{level}")
        return part

    def estimated_tokens(self, model: str, media_resolution: str | None = None) -> int:
        """The prompt tokens this image costs on ``model``, estimated from the sent size."""
        width, height = self.sent_size
        return estimate_image_tokens(width, height, model=model, media_resolution=media_resolution)


def prepare_image(
    source: ImageSource,
    *,
    max_side: int | None = DEFAULT_MAX_SIDE,
    output_format: str | None = None,
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_download_bytes: int = DEFAULT_MAX_DOWNLOAD_BYTES,
    timeout: float = DEFAULT_TIMEOUT,
    http_client: httpx.Client | None = None,
) -> PreparedImage:
    """Loads ``source`` and returns the bytes to send, EXIF-oriented and at most ``max_side``.

    Args:
        source: a local path, an http(s) URL, or the file's bytes.
        max_side: the maximum long side of the sent image, in pixels. ``None`` disables
            downscaling. Images are never upscaled.
        output_format: ``"JPEG"``, ``"PNG"`` or ``"WEBP"`` to force an encoding. With ``None``,
            supported files pass through, and converted images become JPEG (lossy sources) or
            PNG (lossless sources).
        jpeg_quality: the quality for JPEG or WEBP output.
        max_pixels: refuse images with more pixels than this, before decoding them.
        max_download_bytes: the size cap for URL downloads.
        timeout: the overall deadline for a URL download, in seconds.
        http_client: an optional client to reuse for downloads.

    Raises:
        ImageError: the source cannot be read, is not an image, is truncated, is too large, or
            cannot be converted. The message names the source and the cause.
    """
    if max_side is not None and max_side < 1:
        raise ValueError(f"max_side must be a positive number of pixels, got {max_side}")
    forced = _normalise_output_format(output_format)
    data, desc = read_source(
        source, max_bytes=max_download_bytes, timeout=timeout, http_client=http_client
    )
    with _open(data, desc, max_pixels) as im:
        header = _Header.read(im)
        target = _target_size(header.display, max_side)
        reasons = _passthrough_blockers(im, header, data, target != header.display, forced)
        if not reasons and _whole_and_opaque(im, header.fmt, data, desc):
            return _passed_through(data, desc, header)
    with _open(data, desc, max_pixels) as fresh:
        out, changes = to_display(fresh, header.fmt, header.display, target, desc)
    out_format = forced or ("JPEG" if header.fmt in _LOSSY_FORMATS else "PNG")
    return _encoded(out, out_format, jpeg_quality, header, desc, [*reasons, *changes])


def _encoded(
    out: Image.Image,
    out_format: str,
    jpeg_quality: int,
    header: _Header,
    desc: str,
    changes: list[str],
) -> PreparedImage:
    """``out`` (display frame, sent size) encoded as ``out_format``; ``changes`` say why."""
    encoded = encode(out, out_format, jpeg_quality, compatible_icc(header.icc, out))
    return PreparedImage(
        data=encoded,
        mime_type=_OUTPUT_FORMATS[out_format],
        sent_size=out.size,
        display_size=header.display,
        source_size=header.stored,
        orientation=header.orientation,
        passthrough=False,
        sha256=hashlib.sha256(encoded).hexdigest(),
        source=desc,
        source_format=header.fmt,
        changes=(*changes, f"encoded as {out_format}"),
    )


def _passed_through(data: bytes, desc: str, header: _Header) -> PreparedImage:
    """The original bytes, sent as they are."""
    return PreparedImage(
        data=data,
        mime_type=_passthrough_mime(header.fmt, data),
        sent_size=header.display,
        display_size=header.display,
        source_size=header.stored,
        orientation=header.orientation,
        passthrough=True,
        sha256=hashlib.sha256(data).hexdigest(),
        source=desc,
        source_format=header.fmt,
    )


def load_display_image(
    source: ImageSource, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> Image.Image:
    """The decoded image of ``source`` as the App shows it: EXIF-oriented, 8-bit RGB or L,
    full size. Raises ImageError naming the source and the cause."""
    data, desc = read_source(
        source, max_bytes=DEFAULT_MAX_DOWNLOAD_BYTES, timeout=DEFAULT_TIMEOUT, http_client=None
    )
    with _open(data, desc, max_pixels) as im:
        header = _Header.read(im)
        out, _ = to_display(im, header.fmt, header.display, header.display, desc)
        out.load()
        return out


def image_size(source: str | os.PathLike[str] | bytes) -> tuple[int, int]:
    """The displayed ``(width, height)`` of an image (EXIF orientation applied), from its header.

    No pixel is decoded. Unlike FiftyOne's metadata, TIFFs with orientation 5-8 come out right:
    Pillow already reports those in the displayed frame.
    """
    if isinstance(source, bytes):
        data: bytes | None = source
        desc = f"<{len(source)} bytes>"
    else:
        data, desc = None, os.fspath(source)
    try:
        with Image.open(io.BytesIO(data) if data is not None else desc) as im:
            fmt = (im.format or "").upper()
            return _display_size(im, fmt, read_orientation(im))
    except FileNotFoundError as exc:
        raise ImageError("file not found", source=desc) from exc
    except UnidentifiedImageError as exc:
        raise ImageError("not a recognised image file", source=desc) from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(f"refused as a possible decompression bomb: {exc}", source=desc) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"cannot read the image header ({exc})", source=desc) from exc


# --------------------------------------------------------------------------------------------
# Header inspection


@contextmanager
def _open(data: bytes, desc: str, max_pixels: int) -> Iterator[Image.Image]:
    """Opens ``data`` lazily (header only) and refuses bombs before any pixel is decoded."""
    if not data:
        raise ImageError("empty file (0 bytes)", source=desc)
    try:
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise ImageError(f"refused as a possible decompression bomb: {exc}", source=desc) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(
            f"not a recognised image file (starts with {data[:12]!r})", source=desc
        ) from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"cannot read the image header ({exc})", source=desc) from exc
    with im:
        width, height = im.size
        if width < 1 or height < 1:
            raise ImageError(f"image has no pixels ({width}x{height})", source=desc)
        if width * height > max_pixels:
            raise ImageError(
                f"{width}x{height} = {width * height} pixels exceeds max_pixels={max_pixels}; "
                "refused before decoding as a possible decompression bomb",
                source=desc,
            )
        yield im


@dataclass(frozen=True)
class _Header:
    """What an image's header says, read before any pixel is decoded."""

    #: Pillow's format name, upper case ("" when unknown)
    fmt: str
    #: the embedded colour profile, as Pillow found it
    icc: object
    #: EXIF orientation 1-8
    orientation: int
    #: (width, height) in pixels as the App shows it, and the stored grid
    display: tuple[int, int]
    stored: tuple[int, int]

    @classmethod
    def read(cls, im: Image.Image) -> _Header:
        fmt = (im.format or "").upper()
        icc = im.info.get("icc_profile")
        orientation = read_orientation(im)
        display = _display_size(im, fmt, orientation)
        stored = (display[1], display[0]) if orientation >= 5 else display
        return cls(fmt, icc, orientation, display, stored)


def _display_size(im: Image.Image, fmt: str, orientation: int) -> tuple[int, int]:
    width, height = im.size
    # Pillow's TIFF plugin already reports the displayed size (and transposes while loading);
    # every other plugin reports the stored grid. pillow_heif applies HEIF transforms and
    # resets the tag to 1.
    if orientation >= 5 and fmt != "TIFF":
        return height, width
    return width, height


def _target_size(display: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """The whole-frame downscale of ``display`` whose long side is ``max_side`` (never up)."""
    width, height = display
    if max_side is None or max(width, height) <= max_side:
        return display
    scale = max_side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _passthrough_blockers(
    im: Image.Image, header: _Header, data: bytes, needs_resize: bool, forced: str | None
) -> list[str]:
    """Why the original bytes cannot be sent as they are (empty: they can, if they decode)."""
    fmt, orientation = header.fmt, header.orientation
    reasons = []
    family = "JPEG" if fmt in JPEG_FORMATS else fmt
    if family not in ("JPEG", "PNG", "WEBP", "HEIF"):
        reasons.append(f"format {fmt or 'unknown'} is not accepted by Gemini")
    elif forced is not None and forced != family:
        reasons.append(f"output_format {forced} requested")
    if orientation != 1:
        reasons.append(f"exif orientation {orientation}")
    if needs_resize:
        reasons.append("larger than max_side")
    if im.mode not in PLAIN_MODES | ALPHA_MODES:
        reasons.append(f"pixel mode {im.mode}")
    if fmt == "PNG" and len(data) > 24 and data[24] == 16:  # IHDR bit depth
        reasons.append("16-bit PNG")
    if getattr(im, "n_frames", 1) > 1 and fmt not in JPEG_FORMATS:
        reasons.append("animated (first frame kept)")
    return reasons


def _whole_and_opaque(im: Image.Image, fmt: str, data: bytes, desc: str) -> bool:
    """Checks the image is whole before it is sent as it is; False if an alpha channel is not
    fully opaque. A JPEG's structure is read (:mod:`.jpeg`: a cut file has no end-of-image
    marker); other formats are decoded once."""
    if fmt in JPEG_FORMATS:
        damage = jpeg_damage(data)
        if damage is not None:
            raise ImageError(f"cannot decode the image data ({damage})", source=desc)
        return True  # JPEG has no alpha channel
    load_pixels(im, desc)
    if im.mode in ALPHA_MODES:
        return bool(im.getchannel("A").getextrema() == (255, 255))
    return True


def _passthrough_mime(fmt: str, data: bytes) -> str:
    if fmt in JPEG_FORMATS:
        return "image/jpeg"
    if fmt == "HEIF":
        mime = pillow_heif.get_file_mimetype(data)
        return mime if mime in ("image/heic", "image/heif") else "image/heif"
    return f"image/{fmt.lower()}"


def _normalise_output_format(output_format: str | None) -> str | None:
    if output_format is None:
        return None
    name = output_format.strip().upper().removeprefix("IMAGE/")
    name = _FORMAT_ALIASES.get(name, name)
    if name not in _OUTPUT_FORMATS:
        raise ValueError(f"output_format must be one of {sorted(_OUTPUT_FORMATS)}, got {name!r}")
    return name
