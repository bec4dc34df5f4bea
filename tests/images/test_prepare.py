"""prepare_image / image_size: passthrough, EXIF, conversions, downscale and errors."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from gemini_vision.catalog import estimate_image_tokens
from gemini_vision.errors import ImageError
from gemini_vision.images.prepare import DEFAULT_MAX_SIDE, PreparedImage, image_size, prepare_image


def smooth_rgb(width: int, height: int) -> np.ndarray:
    """A gradient with a dark square in the top-left corner (so orientation is visible)."""
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = (np.arange(width) * 255 // max(width - 1, 1)).astype(np.uint8)[None, :]
    img[..., 1] = (np.arange(height) * 255 // max(height - 1, 1)).astype(np.uint8)[:, None]
    img[..., 2] = 128
    img[: height // 4, : width // 4] = 20
    return img


def encode(im: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **options)
    return buf.getvalue()


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def decoded(prepared: PreparedImage) -> Image.Image:
    im = Image.open(io.BytesIO(prepared.data))
    im.load()
    return im


def mean_abs_diff(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).mean())


# --------------------------------------------------------------------------------------------
# Passthrough


def _heif(mime_brand: bytes) -> bytes:
    data = encode(Image.fromarray(smooth_rgb(64, 48)), "HEIF", quality=90)
    return data[:8] + mime_brand + data[12:]  # the major brand decides heic vs heif


PASSTHROUGH_CASES = {
    "png": (lambda: encode(Image.fromarray(smooth_rgb(64, 48)), "PNG"), "image/png"),
    "jpeg": (lambda: encode(Image.fromarray(smooth_rgb(64, 48)), "JPEG"), "image/jpeg"),
    "jpeg-gray": (lambda: encode(Image.new("L", (64, 48), 90), "JPEG"), "image/jpeg"),
    "webp": (lambda: encode(Image.fromarray(smooth_rgb(64, 48)), "WEBP"), "image/webp"),
    "heic": (lambda: _heif(b"heic"), "image/heic"),
    "heif": (lambda: _heif(b"mif1"), "image/heif"),
    "png-opaque-rgba": (
        lambda: encode(Image.fromarray(smooth_rgb(64, 48)).convert("RGBA"), "PNG"),
        "image/png",
    ),
}


@pytest.mark.parametrize("case", sorted(PASSTHROUGH_CASES))
def test_supported_formats_pass_through_byte_identical(case: str) -> None:
    make, mime = PASSTHROUGH_CASES[case]
    data = make()
    prepared = prepare_image(data)
    assert prepared.passthrough
    assert prepared.data == data
    assert prepared.mime_type == mime
    assert prepared.sha256 == hashlib.sha256(data).hexdigest()
    assert prepared.sent_size == prepared.display_size == prepared.source_size == (64, 48)
    assert prepared.orientation == 1
    assert prepared.changes == ()


def test_passthrough_from_a_path_names_the_file(tmp_path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(encode(Image.fromarray(smooth_rgb(30, 20)), "JPEG"))
    prepared = prepare_image(path)
    assert prepared.passthrough and prepared.source == str(path)
    assert prepared.data == path.read_bytes()


def test_forced_output_format_converts_a_supported_file() -> None:
    data = encode(Image.fromarray(smooth_rgb(64, 48)), "PNG")
    prepared = prepare_image(data, output_format="jpeg")
    assert not prepared.passthrough
    assert prepared.mime_type == "image/jpeg" and decoded(prepared).format == "JPEG"
    assert "output_format JPEG requested" in prepared.changes


def test_forced_output_format_equal_to_the_source_still_passes_through() -> None:
    data = encode(Image.fromarray(smooth_rgb(64, 48)), "PNG")
    assert prepare_image(data, output_format="PNG").data == data


def test_unknown_output_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="output_format"):
        prepare_image(b"irrelevant", output_format="GIF")


# --------------------------------------------------------------------------------------------
# EXIF orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied_like_exif_transpose(orientation: int) -> None:
    raw = Image.fromarray(smooth_rgb(96, 64))
    data = encode(raw, "JPEG", quality=95, exif=exif_bytes(orientation))
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    prepared = prepare_image(data)
    sent = decoded(prepared)
    assert sent.size == expected.size == prepared.sent_size == prepared.display_size
    assert prepared.source_size == (96, 64)
    assert prepared.orientation == orientation
    assert prepared.passthrough is (orientation == 1)
    assert mean_abs_diff(sent, expected) < 3.0  # one JPEG re-encode at q90
    # the dark corner of the stored image lands where exif_transpose puts it
    dark = np.argwhere(np.asarray(sent.convert("L")) < 50).mean(axis=0)
    dark_expected = np.argwhere(np.asarray(expected.convert("L")) < 50).mean(axis=0)
    assert np.abs(dark - dark_expected).max() < 1.0
    if orientation != 1:
        assert sent.getexif().get(0x0112) is None  # no tag left for a viewer to re-apply
    assert image_size(data) == expected.size


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "TIFF"])
def test_exif_orientation_is_applied_for_other_formats(fmt: str) -> None:
    raw = Image.fromarray(smooth_rgb(60, 40))
    data = encode(raw, fmt, exif=exif_bytes(6))
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    prepared = prepare_image(data)
    assert expected.size == (40, 60)
    assert prepared.display_size == prepared.sent_size == (40, 60) == image_size(data)
    assert prepared.source_size == (60, 40)
    assert mean_abs_diff(decoded(prepared).convert("RGB"), expected.convert("RGB")) < 3.0


def test_heif_container_rotation_is_applied_by_the_decoder_and_passes_through() -> None:
    raw = Image.fromarray(smooth_rgb(60, 40))
    data = encode(raw, "HEIF", exif=exif_bytes(6), quality=90)
    prepared = prepare_image(data)
    # pillow_heif stores the rotation as a HEIF transform (irot) that every decoder applies
    assert prepared.passthrough and prepared.data == data
    assert prepared.display_size == (40, 60) == image_size(data)


def test_invalid_orientation_values_count_as_upright() -> None:
    data = encode(Image.fromarray(smooth_rgb(60, 40)), "JPEG", exif=exif_bytes(9))
    prepared = prepare_image(data)
    assert prepared.orientation == 1 and prepared.passthrough


# --------------------------------------------------------------------------------------------
# Conversions


def _gif_first_frame_red() -> bytes:
    frames = [Image.new("RGB", (40, 30), color) for color in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    return data


def test_bmp_becomes_png_with_identical_pixels() -> None:
    pixels = smooth_rgb(50, 30)
    prepared = prepare_image(encode(Image.fromarray(pixels), "BMP"))
    assert prepared.mime_type == "image/png" and prepared.source_format == "BMP"
    assert not prepared.passthrough
    assert np.array_equal(np.asarray(decoded(prepared)), pixels)


def test_tiff_becomes_png_with_identical_pixels() -> None:
    pixels = smooth_rgb(50, 30)
    prepared = prepare_image(encode(Image.fromarray(pixels), "TIFF"))
    assert prepared.mime_type == "image/png"
    assert np.array_equal(np.asarray(decoded(prepared)), pixels)


def test_animated_gif_sends_its_first_frame() -> None:
    prepared = prepare_image(_gif_first_frame_red())
    sent = decoded(prepared).convert("RGB")
    assert prepared.mime_type == "image/png" and sent.size == (40, 30)
    assert sent.getpixel((20, 15)) == (255, 0, 0)


def test_avif_becomes_jpeg() -> None:
    pixels = smooth_rgb(64, 48)
    prepared = prepare_image(encode(Image.fromarray(pixels), "AVIF", quality=95))
    sent = decoded(prepared)
    assert prepared.mime_type == "image/jpeg" and sent.size == (64, 48)
    assert mean_abs_diff(sent, Image.fromarray(pixels)) < 6.0


def test_cmyk_jpeg_becomes_rgb_jpeg() -> None:
    data = encode(Image.new("CMYK", (40, 30), (0, 255, 255, 0)), "JPEG", quality=95)
    prepared = prepare_image(data)
    sent = decoded(prepared)
    assert prepared.mime_type == "image/jpeg" and sent.mode == "RGB"
    red, green, blue = sent.getpixel((20, 15))
    assert red > 240 and green < 15 and blue < 15


def test_16bit_gray_png_is_scaled_to_8bit() -> None:
    values = (np.arange(64 * 32, dtype=np.uint32).reshape(32, 64) * 31).astype(np.uint16)
    data = encode(Image.fromarray(values), "PNG")
    prepared = prepare_image(data)
    sent = np.asarray(decoded(prepared))
    assert sent.dtype == np.uint8 and sent.shape == (32, 64)
    assert np.array_equal(sent, np.rint(values * (255 / 65535)).astype(np.uint8))


def test_16bit_rgb_png_is_not_passed_through() -> None:
    pixels = (smooth_rgb(40, 30).astype(np.uint16) * 257)[..., ::-1]  # cv2 writes BGR
    data = cv2.imencode(".png", pixels)[1].tobytes()
    prepared = prepare_image(data)
    assert not prepared.passthrough and "16-bit PNG" in prepared.changes
    assert np.array_equal(np.asarray(decoded(prepared)), smooth_rgb(40, 30))


def test_float_tiff_in_unit_range_is_scaled_by_255() -> None:
    values = np.linspace(0.0, 1.0, 200, dtype=np.float32).reshape(10, 20)
    prepared = prepare_image(encode(Image.fromarray(values), "TIFF"))
    sent = np.asarray(decoded(prepared))
    assert sent[0, 0] == 0 and sent[-1, -1] == 255
    assert np.array_equal(sent, np.rint(values * 255).astype(np.uint8))


def test_palette_png_becomes_rgb() -> None:
    rgb = Image.fromarray(smooth_rgb(40, 30))
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    prepared = prepare_image(encode(palette, "PNG"))
    sent = decoded(prepared)
    assert sent.mode == "RGB" and prepared.mime_type == "image/png"
    assert np.array_equal(np.asarray(sent), np.asarray(palette.convert("RGB")))


def test_one_bit_png_becomes_grayscale() -> None:
    bits = Image.new("1", (20, 10), 0)
    bits.paste(1, (0, 0, 10, 10))
    sent = decoded(prepare_image(encode(bits, "PNG")))
    assert sent.mode == "L" and sent.getpixel((2, 2)) == 255 and sent.getpixel((15, 2)) == 0


def test_transparent_pixels_are_flattened_on_white() -> None:
    rgba = np.zeros((10, 30, 4), np.uint8)
    rgba[:, :10] = (200, 0, 0, 255)  # opaque red
    rgba[:, 10:20] = (0, 0, 0, 0)  # fully transparent (black underneath)
    rgba[:, 20:] = (0, 0, 200, 128)  # half-transparent blue
    prepared = prepare_image(encode(Image.fromarray(rgba), "PNG"))
    sent = decoded(prepared)
    assert prepared.mime_type == "image/png" and sent.mode == "RGB"
    assert sent.getpixel((5, 5)) == (200, 0, 0)
    assert sent.getpixel((15, 5)) == (255, 255, 255)
    assert sent.getpixel((25, 5)) == (127, 127, 227)  # 0.5*blue + 0.5*white, rounded
    assert any("flattened on white" in change for change in prepared.changes)


def test_transparent_palette_gif_is_flattened() -> None:
    im = Image.new("P", (20, 10), 1)
    im.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    im.paste(0, (0, 0, 10, 10))
    data = encode(im, "GIF", transparency=0)
    sent = decoded(prepare_image(data)).convert("RGB")
    assert sent.getpixel((2, 2)) == (255, 255, 255) and sent.getpixel((15, 2)) == (255, 0, 0)


def test_la_png_with_alpha_is_flattened_to_grayscale() -> None:
    la = Image.new("LA", (20, 10), (0, 0))
    la.paste((100, 255), (0, 0, 10, 10))
    sent = decoded(prepare_image(encode(la, "PNG")))
    assert sent.mode == "L" and sent.getpixel((2, 2)) == 100 and sent.getpixel((15, 2)) == 255


def test_icc_profile_is_kept_for_rgb_output() -> None:
    icc = b"\x00" * 16 + b"RGB " + b"\x00" * 108  # only the colour space field is inspected
    data = encode(Image.fromarray(smooth_rgb(40, 30)), "JPEG", icc_profile=icc, exif=exif_bytes(3))
    assert decoded(prepare_image(data)).info.get("icc_profile") == icc


# --------------------------------------------------------------------------------------------
# Downscaling


@pytest.mark.parametrize(
    ("fmt", "size", "max_side"),
    [
        ("PNG", (1500, 900), 1024),
        ("PNG", (700, 1300), 512),
        ("JPEG", (4000, 3000), 1024),  # JPEG DCT scaling to exactly 1000x750
        ("JPEG", (3000, 1700), 1024),  # DCT 1/2 then LANCZOS
        ("JPEG", (1001, 3333), 333),
        ("BMP", (640, 480), 100),
    ],
)
def test_downscale_keeps_aspect_ratio_and_max_side(fmt, size, max_side) -> None:
    data = encode(Image.fromarray(smooth_rgb(*size)), fmt)
    prepared = prepare_image(data, max_side=max_side)
    sent_w, sent_h = decoded(prepared).size
    assert (sent_w, sent_h) == prepared.sent_size
    assert prepared.display_size == size
    assert max(sent_w, sent_h) <= max_side
    assert max(sent_w, sent_h) >= 0.9 * max_side  # never needlessly small
    scale = max(sent_w, sent_h) / max(size)
    assert abs(sent_w - size[0] * scale) <= 1 and abs(sent_h - size[1] * scale) <= 1
    assert prepared.scale == pytest.approx((sent_w / size[0], sent_h / size[1]))


def test_downscaled_content_matches_a_reference_resize() -> None:
    pixels = smooth_rgb(2000, 1000)
    prepared = prepare_image(encode(Image.fromarray(pixels), "PNG"), max_side=500)
    reference = Image.fromarray(pixels).resize(prepared.sent_size, Image.Resampling.LANCZOS)
    assert mean_abs_diff(decoded(prepared), reference) < 1.5


def test_rotated_big_jpeg_is_downscaled_in_the_display_frame() -> None:
    data = encode(Image.fromarray(smooth_rgb(2400, 1600)), "JPEG", exif=exif_bytes(8))
    prepared = prepare_image(data, max_side=600)
    assert prepared.display_size == (1600, 2400)
    width, height = prepared.sent_size
    assert height <= 600 and width < height
    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).resize((width, height))
    assert mean_abs_diff(decoded(prepared), expected) < 4.0


def test_small_images_are_never_upscaled_and_none_disables_downscaling() -> None:
    data = encode(Image.fromarray(smooth_rgb(300, 200)), "PNG")
    assert prepare_image(data, max_side=DEFAULT_MAX_SIDE).sent_size == (300, 200)
    big = encode(Image.fromarray(smooth_rgb(1300, 200)), "PNG")
    assert prepare_image(big, max_side=None).data == big


# --------------------------------------------------------------------------------------------
# Parts and tokens


def test_to_part_carries_the_exact_bytes_and_mime_type() -> None:
    prepared = prepare_image(encode(Image.fromarray(smooth_rgb(30, 20)), "PNG"))
    part = prepared.to_part()
    assert part.inline_data is not None
    assert part.inline_data.mime_type == "image/png"
    assert base64.b64decode(part.inline_data.data) == prepared.data
    assert part.media_resolution is None
    wire = prepared.to_part(media_resolution="high").to_wire()
    assert wire["mediaResolution"] == {"level": "MEDIA_RESOLUTION_HIGH"}


def test_estimated_tokens_use_the_sent_size() -> None:
    data = encode(Image.fromarray(smooth_rgb(2000, 1500)), "JPEG")
    prepared = prepare_image(data, max_side=1024)
    assert prepared.sent_size == (1000, 750)
    expected = estimate_image_tokens(*prepared.sent_size, model="gemini-2.5-flash")
    assert prepared.estimated_tokens("gemini-2.5-flash") == expected == 2 * 258


# --------------------------------------------------------------------------------------------
# Errors


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares ``width`` x ``height`` but carries almost no pixel data."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)


def test_decompression_bomb_is_refused_before_decoding() -> None:
    # 60000 x 60000 declared, no pixel data at all: decoding would fail differently
    with pytest.raises(ImageError, match="decompression bomb") as info:
        prepare_image(_png_header_only(60000, 60000))
    assert "<" in str(info.value) and "bytes>" in str(info.value)  # names the source


def test_max_pixels_is_configurable(tmp_path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(encode(Image.fromarray(smooth_rgb(200, 200)), "PNG"))
    with pytest.raises(ImageError, match="max_pixels=10000") as info:
        prepare_image(path, max_pixels=10_000)
    assert str(path) in str(info.value)
    assert prepare_image(path, max_pixels=40_000).sent_size == (200, 200)


@pytest.mark.parametrize(
    ("name", "content", "cause"),
    [
        ("empty.jpg", b"", "empty file"),
        ("notes.jpg", b"hello, this is a text file\n", "not a recognised image"),
        ("noise.bin", bytes(range(256)) * 4, "not a recognised image"),
        ("head.png", None, "cannot decode"),
        ("cut.jpg", None, "cannot decode"),
    ],
)
def test_unreadable_files_raise_image_error_naming_the_source(
    tmp_path, name: str, content: bytes | None, cause: str
) -> None:
    if name == "head.png":
        content = _png_header_only(20, 20)
    elif name == "cut.jpg":
        full = encode(Image.fromarray(smooth_rgb(300, 200)), "JPEG")
        content = full[: len(full) // 2]
    path = tmp_path / name
    path.write_bytes(content or b"")
    with pytest.raises(ImageError, match=cause) as info:
        prepare_image(path)
    assert str(path) in str(info.value) and info.value.source == str(path)


def test_truncated_jpeg_that_needs_resizing_also_fails() -> None:
    full = encode(Image.fromarray(smooth_rgb(3000, 2000)), "JPEG")
    with pytest.raises(ImageError, match="cannot decode"):
        prepare_image(full[: len(full) * 2 // 3], max_side=512)


def test_missing_file_and_directory(tmp_path) -> None:
    with pytest.raises(ImageError, match="file not found"):
        prepare_image(tmp_path / "nope.jpg")
    with pytest.raises(ImageError, match="directory"):
        prepare_image(tmp_path)
    with pytest.raises(ImageError, match="unsupported URL scheme"):
        prepare_image("s3://bucket/key.jpg")


def test_image_size_reads_only_the_header() -> None:
    full = encode(Image.fromarray(smooth_rgb(300, 200)), "JPEG", exif=exif_bytes(6))
    assert image_size(full[:2000]) == (200, 300)  # truncated pixel data is never touched
    with pytest.raises(ImageError, match="not a recognised image"):
        image_size(b"not an image")


def test_image_size_of_a_path(tmp_path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(encode(Image.fromarray(smooth_rgb(33, 22)), "PNG"))
    assert image_size(path) == (33, 22) == image_size(str(path))
    with pytest.raises(ImageError, match="file not found"):
        image_size(tmp_path / "missing.png")
