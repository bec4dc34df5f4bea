"""One Gemini segmentation mask into a full frame: our vectorised code vs a per-pixel loop.

Both paths start from the base64 PNG that Gemini returns (256x256, 8-bit grey) and do the same
steps: decode it, resize it bilinearly to the box, threshold it, and put it into a full-frame
result. The loop is the segmentation example of Google's "Image understanding" guide for the
Gemini API (``extract_segmentation_masks``): one ``ImageDraw.point`` per pixel, in Python. We
resize, compare with numpy and assign one slice (:func:`gemini_vision.geometry.instance_mask`
and :func:`gemini_vision.geometry.paste_instance`). Goal: at least 100x faster.

Run: ``.venv/bin/python benchmarks/bench_masks.py [--repeats N]``
"""

from __future__ import annotations

import argparse
import base64
import io
import statistics
import time
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from gemini_vision import geometry
from gemini_vision.emulator.model.png import encode_gray_png

FRAME = (1024, 768)  # what we send by default for a 4:3 photo
BOXES = {
    # the median box of Google's published segmentation answers (131 x 161 px at 1024 px)
    "median real box": (400, 430, 610, 558),
    "300 x 250 px object": (340, 350, 665, 643),
    "350 x 350 px object": (272, 329, 728, 671),
    "471 x 491 px object": (180, 240, 820, 700),
}
BOX_2D = BOXES["median real box"]


def gemini_like_mask(seed: int = 0) -> str:
    """A 256x256 binary blob (0/255, like real Gemini masks), as a data URI."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:256, 0:256] / 255.0
    wobble = 0.08 * np.sin(7 * np.arctan2(yy - 0.5, xx - 0.5) + rng.uniform(0, 6))
    blob = np.hypot(xx - 0.5, (yy - 0.5) * 1.2) < 0.38 + wobble
    png = encode_gray_png(np.where(blob, 255, 0).astype(np.uint8))
    return "data:image/png;base64," + base64.b64encode(png).decode()


def guide_loop(png_str: str, box_2d: tuple[int, int, int, int] = BOX_2D) -> np.ndarray:
    """The guide's segmentation example, its per-pixel loop kept, minus file output."""
    width, height = FRAME
    y0 = int(box_2d[0] / 1000 * height)
    x0 = int(box_2d[1] / 1000 * width)
    y1 = int(box_2d[2] / 1000 * height)
    x1 = int(box_2d[3] / 1000 * width)
    mask = Image.open(io.BytesIO(base64.b64decode(png_str.removeprefix("data:image/png;base64,"))))
    mask = mask.resize((x1 - x0, y1 - y0), Image.Resampling.BILINEAR)
    mask_array = np.array(mask)
    overlay = Image.new("RGBA", FRAME, (0, 0, 0, 0))
    overlay_draw = ImageDraw.Draw(overlay)
    color = (255, 255, 255, 200)
    for y in range(y0, y1):
        for x in range(x0, x1):
            if mask_array[y - y0, x - x0] > 128:
                overlay_draw.point((x, y), fill=color)
    return np.asarray(overlay)[..., 3] > 0


def vectorised(
    png_str: str,
    box_2d: tuple[int, int, int, int] = BOX_2D,
    threshold: int = geometry.DEFAULT_MASK_THRESHOLD,
) -> np.ndarray:
    rel_box, mask = geometry.instance_mask(png_str, box_2d, FRAME, threshold=threshold)
    canvas = np.zeros((FRAME[1], FRAME[0]), dtype=bool)
    return geometry.paste_instance(canvas, rel_box, mask)


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()

    png = gemini_like_mask()
    print(f"256x256 PNG mask ({len(png)} base64 chars) into a {FRAME[0]}x{FRAME[1]} frame")
    print(f"medians, measured in this run (guide {args.repeats} runs, ours {args.repeats * 20})\n")
    print(f"{'box':22} {'px':>9} {'guide ms':>8} {'ours ms':>8} {'ratio':>6} {'differ':>7}  goal")
    for name, box_2d in BOXES.items():
        _, _, w, h = geometry.mask_extent_px(geometry.box_2d_to_relative(box_2d), FRAME)
        # same pixels at the guide's own threshold (> 128)? Our enlargement is OpenCV's
        # bilinear, within one grey level of Pillow's, so a few edge pixels may flip
        differ = int((guide_loop(png, box_2d) != vectorised(png, box_2d, threshold=128)).sum())
        t_guide = median_ms(lambda b=box_2d: guide_loop(png, b), args.repeats)
        t_ours = median_ms(lambda b=box_2d: vectorised(png, b), args.repeats * 20)
        ratio = t_guide / t_ours
        verdict = "PASS" if ratio >= 100 and differ <= 0.001 * w * h else "FAIL"
        size = f"{w}x{h}"
        timings = f"{t_guide:8.2f} {t_ours:8.3f} {ratio:5.0f}x"
        print(f"{name:22} {size:>9} {timings} {differ:>7}  {verdict}")
    print(
        "\ngoal: >= 100x faster. Ours is nearly constant (about 0.06-0.14 ms: inflate, resize,"
        "\nfull-frame paste); the guide runs one Python iteration per box pixel, so the ratio"
        "\ngrows with the box area. Small boxes are bounded by costs both paths share"
        "\n(allocation)."
    )


if __name__ == "__main__":
    main()
