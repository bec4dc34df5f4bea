"""Writes images (scenes) to disk in any common format, optionally EXIF-oriented.

With an EXIF orientation 2-8 the pixels are stored inverse-transformed and the Orientation tag
is set, so the image *as displayed* (after ``PIL.ImageOps.exif_transpose``) is the image you
passed: ground truth drawn on it stays valid for the displayed frame. Note that Pillow applies
a TIFF's orientation itself when it loads the file.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Protocol

from PIL import Image

from gemini_vision.images import EXIF_TO_DISPLAY

__all__ = ["encode_image", "save_scene", "stored_pixels"]


class HasImage(Protocol):
    @property
    def image(self) -> Image.Image: ...


_INVERSE = {
    Image.Transpose.ROTATE_90: Image.Transpose.ROTATE_270,
    Image.Transpose.ROTATE_270: Image.Transpose.ROTATE_90,
}
_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".webp": "WEBP",
    ".heic": "HEIF",
    ".heif": "HEIF",
    ".bmp": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".gif": "GIF",
}


def stored_pixels(image: Image.Image, orientation: int) -> Image.Image:
    """The pixels to store so that applying EXIF ``orientation`` displays ``image``."""
    if orientation == 1:
        return image.copy()
    forward = EXIF_TO_DISPLAY[orientation]
    return image.transpose(_INVERSE.get(forward, forward))


def encode_image(
    image: Image.Image,
    fmt: str = "JPEG",
    *,
    quality: int = 90,
    orientation: int = 1,
    subsampling: int | None = None,
) -> bytes:
    """Encodes ``image`` (as displayed) to bytes in ``fmt`` (JPEG, PNG, WEBP, HEIF, BMP, TIFF,
    GIF). With ``orientation`` 2-8 the pixels are stored inverse-transformed and the EXIF
    Orientation tag is set (JPEG, PNG, WEBP, TIFF only). ``subsampling`` is JPEG's chroma
    subsampling (0 = 4:4:4, 2 = 4:2:0, Pillow's default)."""
    fmt = fmt.upper().replace("JPG", "JPEG").replace("HEIC", "HEIF")
    if orientation not in range(1, 9):
        raise ValueError(f"EXIF orientation must be 1-8, got {orientation}")
    if orientation != 1 and fmt not in {"JPEG", "PNG", "WEBP", "TIFF"}:
        raise ValueError(f"cannot store an EXIF orientation in {fmt}; use JPEG/PNG/WEBP/TIFF")
    pixels = stored_pixels(image.convert("RGB"), orientation)
    kwargs: dict[str, object] = {}
    if orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        kwargs["exif"] = exif.tobytes()
    if fmt in {"JPEG", "WEBP", "HEIF"}:
        kwargs["quality"] = quality
    if fmt == "JPEG" and subsampling is not None:
        kwargs["subsampling"] = subsampling
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    if fmt == "GIF":
        pixels = pixels.quantize(256, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    pixels.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def save_scene(
    scene: HasImage | Image.Image,
    path: str | Path,
    *,
    fmt: str | None = None,
    quality: int = 90,
    orientation: int = 1,
    subsampling: int | None = None,
) -> Path:
    """Writes a scene (or any image) to ``path``; the format comes from ``fmt`` or the suffix.
    See :func:`encode_image` for ``orientation``. Returns the path."""
    path = Path(path)
    if fmt is None:
        try:
            fmt = _FORMATS[path.suffix.lower()]
        except KeyError:
            raise ValueError(f"unknown image suffix {path.suffix!r}; pass fmt=") from None
    image = scene if isinstance(scene, Image.Image) else scene.image
    data = encode_image(
        image, fmt, quality=quality, orientation=orientation, subsampling=subsampling
    )
    path.write_bytes(data)
    return path
