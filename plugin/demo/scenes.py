"""Synthetic scenes with exact ground truth, for tests, benchmarks and the demo.

A scene is a textured, low-saturation background with a few flat, saturated shapes on it:
``circle``, ``square``, ``triangle`` and ``star`` in six colours. Some shapes overlap; an occluded
shape always keeps at least 80 % of its area visible, in one piece. Everything is deterministic
from a seed.

Conventions (pixels unless a name says ``_rel``):

- ``box_xyxy``: ``(x0, y0, x1, y1)`` pixel *edges*, ``x1``/``y1`` exclusive, so the pixels of a
  box are ``mask[y0:y1, x0:x1]`` and its size is ``(x1 - x0, y1 - y0)``.
- ``box_xywh_rel``: FiftyOne's ``[x, y, w, h]``, top-left corner and size, relative to the frame.
- masks are ``bool`` arrays shaped ``(height, width)``; an object's ``mask`` is its *visible*
  part in the full frame, ``TruthDetection.mask`` is that mask cropped to the tight box
  (FiftyOne's ``Detection.mask`` convention).

Scene-level truth: the *scene class* is the shape class with the most instances; ties go to the
class with the larger total visible area. Counts are per class, per colour and per both.

Files: see :mod:`gemini_vision.demo.scene_files` (any format, optionally EXIF-oriented).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from gemini_vision.demo.scene_files import encode_image, save_scene, stored_pixels
from gemini_vision.demo.texture import background, tiled_noise

__all__ = [
    "CLASSES",
    "COLORS",
    "PALETTE",
    "Scene",
    "SceneObject",
    "SceneSpec",
    "SceneTruth",
    "ShapeSpec",
    "TruthDetection",
    "encode_image",
    "generate_scene",
    "generate_spec",
    "ground_truth",
    "random_size",
    "render",
    "save_scene",
    "shape_coverage",
    "stored_pixels",
    "variant",
]

CLASSES: tuple[str, ...] = ("circle", "square", "triangle", "star")

#: saturated sRGB colours with well separated hues (red 0, orange 27, yellow 54, green 136,
#: blue 222, purple 281 degrees)
PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (214, 38, 40),
    "orange": (245, 120, 20),
    "yellow": (235, 215, 25),
    "green": (30, 175, 70),
    "blue": (35, 90, 215),
    "purple": (150, 40, 200),
}
COLORS: tuple[str, ...] = tuple(PALETTE)

#: star inner radius / outer radius (a fat star: its arms survive JPEG and downscaling)
STAR_INNER_RATIO = 0.45
#: an occluded object keeps at least this fraction of its own area visible
MIN_VISIBLE_FRACTION = 0.8
_SUPERSAMPLE = 4


@dataclass(frozen=True)
class ShapeSpec:
    """One shape to draw: centre and circumradius in pixels, rotation in degrees."""

    label: str
    color: str
    cx: float
    cy: float
    radius: float
    rotation: float = 0.0


@dataclass(frozen=True)
class SceneSpec:
    """Everything needed to render a scene; shapes are listed back to front."""

    width: int
    height: int
    shapes: tuple[ShapeSpec, ...]
    background_seed: int


@dataclass(frozen=True, eq=False)
class SceneObject:
    """Ground truth of one shape: its visible ``mask`` (full frame) and tight pixel box."""

    label: str
    color: str
    mask: np.ndarray
    box_xyxy: tuple[int, int, int, int]
    spec: ShapeSpec
    z: int  # paint order, 0 = furthest back

    @property
    def area(self) -> int:
        """Visible area in pixels."""
        return int(self.mask.sum())

    @property
    def name(self) -> str:
        """A natural descriptive name, e.g. ``"red circle"``."""
        return f"{self.color} {self.label}"


@dataclass(frozen=True, eq=False)
class Scene:
    """A rendered scene: the RGB image (as displayed) and the truth of each object."""

    image: Image.Image
    objects: tuple[SceneObject, ...]
    spec: SceneSpec
    seed: int | None = None

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return self.image.size

    def save(self, path: str | Path, **kwargs: Any) -> Path:
        """Writes the image; see :func:`save_scene` for the options."""
        return save_scene(self.image, path, **kwargs)

    def count(self, label: str | None = None, color: str | None = None) -> int:
        """How many objects match the class and/or colour (``None`` matches any)."""
        return sum(
            1
            for o in self.objects
            if (label is None or o.label == label) and (color is None or o.color == color)
        )

    @property
    def class_counts(self) -> Counter[str]:
        return Counter(o.label for o in self.objects)

    @property
    def color_counts(self) -> Counter[str]:
        return Counter(o.color for o in self.objects)

    @property
    def scene_class(self) -> str:
        """The class with the most instances; ties go to the larger total visible area."""
        area: Counter[str] = Counter()
        for o in self.objects:
            area[o.label] += o.area
        counts = self.class_counts
        return max(counts, key=lambda c: (counts[c], area[c]))

    @property
    def largest(self) -> SceneObject:
        """The object with the largest visible area."""
        return max(self.objects, key=lambda o: o.area)


@dataclass(frozen=True, eq=False)
class TruthDetection:
    """One object in handy forms: FiftyOne relative box and box-cropped mask."""

    label: str
    color: str
    box_xywh_rel: tuple[float, float, float, float]
    box_xyxy: tuple[int, int, int, int]
    mask: np.ndarray  # bool, (y1 - y0, x1 - x0): the visible mask inside the tight box
    area: int


@dataclass(frozen=True, eq=False)
class SceneTruth:
    """Ground truth of a scene in the displayed frame."""

    width: int
    height: int
    detections: tuple[TruthDetection, ...]
    semantic_mask: np.ndarray  # uint8 (height, width), values from class_index, 0 = background
    class_index: dict[str, int]
    scene_class: str
    class_counts: dict[str, int]
    color_counts: dict[str, int]
    pair_counts: dict[tuple[str, str], int] = field(default_factory=dict)  # (color, label)


# --------------------------------------------------------------------------------------------
# Geometry and rendering


def shape_polygon(spec: ShapeSpec, scale: float = 1.0) -> list[tuple[float, float]]:
    """Vertices (x, y) in pixels of a polygonal shape (not for circles)."""
    n, radii = {
        "square": (4, (spec.radius,)),
        "triangle": (3, (spec.radius,)),
        "star": (5, (spec.radius, spec.radius * STAR_INNER_RATIO)),
    }[spec.label]
    step = 2 * math.pi / (n * len(radii))
    start = math.radians(spec.rotation) - math.pi / 2  # first vertex points up at rotation 0
    if spec.label == "square":
        start += math.pi / 4  # rotation 0 = axis-aligned square
    points = []
    for i in range(n * len(radii)):
        r = radii[i % len(radii)]
        a = start + i * step
        points.append(((spec.cx + r * math.cos(a)) * scale, (spec.cy + r * math.sin(a)) * scale))
    return points


def shape_coverage(
    spec: ShapeSpec, width: int, height: int, ss: int = _SUPERSAMPLE
) -> tuple[np.ndarray, int, int]:
    """Anti-aliased coverage of a shape: ``(alpha, x0, y0)``, alpha float32 in [0, 1] for the
    pixel window starting at ``(x0, y0)``; ``ss`` is the supersampling factor."""
    pad = 2
    x0 = max(0, math.floor(spec.cx - spec.radius) - pad)
    y0 = max(0, math.floor(spec.cy - spec.radius) - pad)
    x1 = min(width, math.ceil(spec.cx + spec.radius) + pad)
    y1 = min(height, math.ceil(spec.cy + spec.radius) + pad)
    w, h = x1 - x0, y1 - y0
    canvas = Image.new("L", (w * ss, h * ss), 0)
    draw = ImageDraw.Draw(canvas)
    local = replace(spec, cx=spec.cx - x0, cy=spec.cy - y0)
    if spec.label == "circle":
        r = local.radius * ss
        c = (local.cx * ss, local.cy * ss)
        draw.ellipse((c[0] - r, c[1] - r, c[0] + r, c[1] + r), fill=255)
    else:
        draw.polygon(shape_polygon(local, ss), fill=255)
    alpha = np.asarray(canvas.reduce(ss), dtype=np.float32) / 255.0  # box filter = coverage
    return alpha, x0, y0


def render(spec: SceneSpec, seed: int | None = None) -> Scene:
    """Renders a :class:`SceneSpec` (shapes back to front) into a :class:`Scene`."""
    w, h = spec.width, spec.height
    rng = np.random.default_rng(spec.background_seed)
    img = background(w, h, rng)
    coverages = [shape_coverage(s, w, h) for s in spec.shapes]
    for s, (alpha, x0, y0) in zip(spec.shapes, coverages, strict=True):
        ah, aw = alpha.shape
        window = img[y0 : y0 + ah, x0 : x0 + aw]
        colour = np.asarray(PALETTE[s.color], dtype=np.float32)
        shade = 1.0 + rng.uniform(-0.06, 0.06)  # a slightly different tone per object
        window[:] = (
            window * (1 - alpha[..., None]) + np.clip(colour * shade, 0, 255) * alpha[..., None]
        )
    img += 2 * tiled_noise(rng, img.shape) + 0.5  # sensor noise, and rounding
    np.clip(img, 0, 255, out=img)
    image = Image.fromarray(img.astype(np.uint8), "RGB")

    # visible coverage = own coverage times what every later (front) shape lets through
    objects = []
    for i, (s, (alpha, x0, y0)) in enumerate(zip(spec.shapes, coverages, strict=True)):
        ah, aw = alpha.shape
        vis = alpha.copy()
        for alpha_f, fx0, fy0 in coverages[i + 1 :]:
            ox0, oy0 = max(x0, fx0), max(y0, fy0)
            ox1 = min(x0 + aw, fx0 + alpha_f.shape[1])
            oy1 = min(y0 + ah, fy0 + alpha_f.shape[0])
            if ox0 < ox1 and oy0 < oy1:
                front = alpha_f[oy0 - fy0 : oy1 - fy0, ox0 - fx0 : ox1 - fx0]
                vis[oy0 - y0 : oy1 - y0, ox0 - x0 : ox1 - x0] *= 1 - front
        mask = np.zeros((h, w), bool)
        mask[y0 : y0 + ah, x0 : x0 + aw] = vis > 0.5
        objects.append(SceneObject(s.label, s.color, mask, _tight_box(mask), s, z=i))
    return Scene(image=image, objects=tuple(objects), spec=spec, seed=seed)


def _tight_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    if ys.size == 0:
        return (0, 0, 0, 0)
    return (int(xs[0]), int(ys[0]), int(xs[-1]) + 1, int(ys[-1]) + 1)


# --------------------------------------------------------------------------------------------
# Scene generation


def _binary(spec: ShapeSpec, width: int, height: int) -> np.ndarray:
    alpha, x0, y0 = shape_coverage(spec, width, height, ss=2)
    out = np.zeros((height, width), bool)
    out[y0 : y0 + alpha.shape[0], x0 : x0 + alpha.shape[1]] = alpha > 0.5
    return out


def _placement_ok(
    new: np.ndarray,
    color: str,
    placed: list[tuple[ShapeSpec, np.ndarray, np.ndarray]],
    gap: int,
) -> bool:
    """True if ``new`` (painted on top) keeps every earlier shape mostly visible and in one
    piece, and stays ``gap`` pixels away from shapes of its own colour (same-coloured shapes
    that touch would merge into one blob)."""
    x0, y0, x1, y1 = _tight_box(new)
    h, w = new.shape
    win = (slice(max(0, y0 - gap), min(h, y1 + gap)), slice(max(0, x0 - gap), min(w, x1 + gap)))
    near = ndimage.binary_dilation(new[win], iterations=gap)
    for spec, full, visible in placed:
        if spec.color == color and (near & full[win]).any():
            return False
        if not (new[win] & visible[win]).any():
            continue
        bx0, by0, bx1, by1 = _tight_box(visible)
        own = (slice(by0, by1), slice(bx0, bx1))
        remaining = visible[own] & ~new[own]
        if remaining.sum() < MIN_VISIBLE_FRACTION * full.sum():
            return False
        # one solid piece, even after a small erosion (thin necks would break after JPEG)
        core = ndimage.binary_erosion(remaining, iterations=max(1, gap // 3))
        if ndimage.label(core)[1] != 1:
            return False
    return True


def random_size(rng: random.Random) -> tuple[int, int]:
    """A random image size (width, height): 480-1600 px, aspect ratio between 1:2 and 2:1."""
    long_side = rng.randint(480, 1600)
    aspect = rng.choice([1.0, 4 / 3, 3 / 2, 16 / 9, 2.0])
    short = round(long_side / aspect)
    return (long_side, short) if rng.random() < 0.6 else (short, long_side)


def generate_spec(
    seed: int,
    size: tuple[int, int] | None = None,
    *,
    n_objects: int | None = None,
    overlap_rate: float = 0.35,
    classes: tuple[str, ...] = CLASSES,
    colors: tuple[str, ...] = COLORS,
) -> SceneSpec:
    """A random, valid scene layout: ``n_objects`` (default 3-7) shapes, some overlapping."""
    rng = random.Random(seed)
    width, height = size or random_size(rng)
    short = min(width, height)
    gap = max(4, round(0.04 * short))
    margin = max(3, round(0.02 * short))
    target = n_objects if n_objects is not None else rng.randint(3, 7)
    placed: list[tuple[ShapeSpec, np.ndarray, np.ndarray]] = []
    attempts = 0
    while len(placed) < target and attempts < 60 * max(target, 1):
        attempts += 1
        radius = rng.uniform(max(0.07 * short, 16), max(0.17 * short, 20))
        if placed and rng.random() < overlap_rate:
            anchor = rng.choice(placed)[0]
            ang = rng.uniform(0, 2 * math.pi)
            dist = (anchor.radius + radius) * rng.uniform(0.7, 1.0)
            cx, cy = anchor.cx + dist * math.cos(ang), anchor.cy + dist * math.sin(ang)
        else:
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        if not (
            margin + radius <= cx <= width - margin - radius
            and margin + radius <= cy <= height - margin - radius
        ):
            continue
        spec = ShapeSpec(
            label=rng.choice(classes),
            color=rng.choice(colors),
            cx=cx,
            cy=cy,
            radius=radius,
            rotation=rng.uniform(0, 360),
        )
        new = _binary(spec, width, height)
        if not _placement_ok(new, spec.color, placed, gap):
            continue
        placed = [(s, full, vis & ~new) for s, full, vis in placed]
        placed.append((spec, new, new.copy()))
    return SceneSpec(
        width=width,
        height=height,
        shapes=tuple(p[0] for p in placed),
        background_seed=rng.randrange(2**32),
    )


def generate_scene(
    seed: int,
    size: tuple[int, int] | None = None,
    *,
    n_objects: int | None = None,
    overlap_rate: float = 0.35,
    classes: tuple[str, ...] = CLASSES,
    colors: tuple[str, ...] = COLORS,
) -> Scene:
    """A deterministic random scene. ``size`` is ``(width, height)`` in pixels (random if
    ``None``); ``n_objects`` defaults to 3-7 (fewer if they do not fit)."""
    spec = generate_spec(
        seed, size, n_objects=n_objects, overlap_rate=overlap_rate, classes=classes, colors=colors
    )
    return render(spec, seed=seed)


def variant(scene: Scene, seed: int) -> tuple[Scene, str]:
    """A second scene that differs from ``scene`` in one object (removed or recoloured), for
    multi-image comparison tests. Returns the new scene and a sentence saying what changed."""
    rng = random.Random(seed)
    shapes = list(scene.spec.shapes)
    i = rng.randrange(len(shapes))
    old = shapes[i]
    unused = [c for c in COLORS if c not in {s.color for s in shapes}]
    if unused and rng.random() < 0.5:
        new_color = rng.choice(unused)
        shapes[i] = replace(old, color=new_color)
        change = f"the {old.color} {old.label} became {new_color}"
    else:
        del shapes[i]
        change = f"the {old.color} {old.label} was removed"
    spec = replace(scene.spec, shapes=tuple(shapes))
    return render(spec, seed=scene.seed), change


# --------------------------------------------------------------------------------------------
# Ground truth in handy forms


def ground_truth(scene: Scene) -> SceneTruth:
    """Ground truth in the displayed frame (the frame of ``scene.image``)."""
    w, h = scene.size
    class_index = {c: i + 1 for i, c in enumerate(CLASSES)}
    semantic = np.zeros((h, w), np.uint8)
    detections = []
    for o in scene.objects:  # back to front, so front objects win any shared pixel
        semantic[o.mask] = class_index[o.label]
        x0, y0, x1, y1 = o.box_xyxy
        detections.append(
            TruthDetection(
                label=o.label,
                color=o.color,
                box_xywh_rel=(x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h),
                box_xyxy=o.box_xyxy,
                mask=o.mask[y0:y1, x0:x1].copy(),
                area=o.area,
            )
        )
    pairs = Counter((o.color, o.label) for o in scene.objects)
    return SceneTruth(
        width=w,
        height=h,
        detections=tuple(detections),
        semantic_mask=semantic,
        class_index=class_index,
        scene_class=scene.scene_class,
        class_counts=dict(scene.class_counts),
        color_counts=dict(scene.color_counts),
        pair_counts=dict(pairs),
    )
