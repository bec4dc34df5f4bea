"""The emulator's eyes: finds coloured shapes in the pixels of a received image.

Honest by design: :func:`analyze` looks only at pixel values, never at file names, metadata or
anything a scene generator knows. It works on whatever the client sent (resized, JPEG
re-encoded with chroma subsampling, EXIF-transposed, converted from PNG/WEBP/HEIC...):

1. *coarse pass*: on a box-filtered copy (short side >= ~96 px) every saturated pixel gets a
   colour name from its hue; connected components of one colour that are big and solid
   enough become candidates (thin blends along the edge between two objects are dropped);
2. *fine pass*, per candidate, at full resolution inside its padded box: a pixel belongs to
   the object when its chroma is above the midpoint between the object's and the background's
   chroma, and its RGB is nearer the object's colour than any neighbouring object's colour
   (so a shared edge is cut where the blend is 50/50);
3. *shape*: from the convex hull of the mask, ``solidity`` (area / hull area) separates stars
   (~0.56) from convex shapes (>= 0.8 even with 20 % hidden); the hull's circularity
   (4 pi area / perimeter^2) picks circles (~1 vs <= 0.9), and its sharpest corner (turning
   within a short stretch of outline) tells triangles (~120 degrees) from squares (~90).

Boxes are ``(x0, y0, x1, y1)`` pixel edges of the received image, ``x1``/``y1`` exclusive;
masks are ``bool`` arrays cropped to that box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

#: colour names by hue range in degrees (start inclusive); red wraps around 0
_HUE_NAMES: tuple[tuple[float, str], ...] = (
    (0, "red"),
    (14, "orange"),
    (41, "yellow"),
    (72, "green"),
    (168, "cyan"),
    (198, "blue"),
    (258, "purple"),
    (302, "pink"),
    (336, "red"),
)
_COLOR_IDS = {name: i + 1 for i, name in enumerate(dict.fromkeys(n for _, n in _HUE_NAMES))}
_COARSE_CHROMA = 70  # 0-255; our objects have chroma >= ~130, backgrounds <= ~35
_EIGHT = np.ones((3, 3), bool)

# shape thresholds (see the module docstring)
_STAR_SOLIDITY = 0.74
_CIRCLE_CIRCULARITY = 0.92
_TRIANGLE_CORNER = 108.0  # degrees; triangles turn ~120 at a corner, squares ~90
_SQUARE_CORNER = 90.0
_MAX_ELONGATION = 2.2  # our shapes are round-ish; long blobs are reported as generic objects


@dataclass(frozen=True, eq=False)
class FoundObject:
    """One object seen in the received image.

    ``box_xyxy`` is in pixels of the received image (edges, end exclusive); ``mask`` is bool,
    shaped ``(y1 - y0, x1 - x0)``; ``rgb`` is its mean colour; ``score`` a 0-1 confidence."""

    label: str
    color: str
    box_xyxy: tuple[int, int, int, int]
    mask: np.ndarray
    score: float
    rgb: tuple[int, int, int]
    #: what was drawn from this object before (e.g. its PNG mask for a box), since an analysis
    #: is remembered by pixel identity and the same scene is asked about again and again
    drawn: dict[Any, str] = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        """Descriptive name, e.g. ``"red circle"``."""
        return f"{self.color} {self.label}"

    @property
    def area(self) -> int:
        """Visible area in pixels."""
        return int(self.mask.sum())

    def full_mask(self, size: tuple[int, int]) -> np.ndarray:
        """The mask in the full frame; ``size`` is the image's ``(width, height)``."""
        out = np.zeros((size[1], size[0]), bool)
        x0, y0, x1, y1 = self.box_xyxy
        out[y0:y1, x0:x1] = self.mask
        return out

    def inner_point(self) -> tuple[float, float]:
        """``(x, y)`` in pixels of the point deepest inside the mask (always on the object,
        unlike the centroid of a star or an occluded shape)."""
        depth = ndimage.distance_transform_edt(np.pad(self.mask, 1))[1:-1, 1:-1]
        y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
        return self.box_xyxy[0] + x + 0.5, self.box_xyxy[1] + y + 0.5


def color_name(hue: float) -> str:
    """Colour name of a hue in degrees."""
    hue %= 360
    name = "red"
    for start, candidate in _HUE_NAMES:
        if hue >= start:
            name = candidate
    return name


def _hue_chroma(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hue in degrees and chroma (max - min, 0-255) of an ``(..., 3)`` float32 array."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    mx = np.maximum(np.maximum(r, g), b)
    mn = np.minimum(np.minimum(r, g), b)
    chroma = mx - mn
    safe = np.where(chroma > 0, chroma, 1.0)
    hue = np.where(
        mx == r,
        ((g - b) / safe) % 6,
        np.where(mx == g, (b - r) / safe + 2, (r - g) / safe + 4),
    )
    return hue * 60.0, chroma


def _color_ids(hue: np.ndarray) -> np.ndarray:
    starts = np.array([s for s, _ in _HUE_NAMES], np.float32)
    ids = np.array([_COLOR_IDS[n] for _, n in _HUE_NAMES], np.uint8)
    return ids[np.searchsorted(starts, hue, side="right") - 1]


def _circular_mean(hue: np.ndarray) -> float:
    rad = np.radians(hue)
    return math.degrees(math.atan2(float(np.sin(rad).mean()), float(np.cos(rad).mean()))) % 360


@dataclass
class _Candidate:
    color_id: int
    box: tuple[int, int, int, int]  # coarse pixels
    mask: np.ndarray  # coarse, cropped to box
    rgb: np.ndarray  # mean colour (float32, 3)


def _coarse_candidates(small: np.ndarray) -> tuple[list[_Candidate], float]:
    """Candidates in the reduced image, and the background's median chroma."""
    hue, chroma = _hue_chroma(small)
    saturated = chroma >= _COARSE_CHROMA
    bg_chroma = float(np.median(chroma[~saturated])) if (~saturated).any() else 0.0
    ids = np.where(saturated, _color_ids(hue), 0)
    short = min(small.shape[:2])
    min_area = max(12.0, 0.0012 * short * short)
    found: list[_Candidate] = []
    for cid in np.unique(ids):
        if cid == 0:
            continue
        labels, _ = ndimage.label(ids == cid, structure=_EIGHT)
        for i, sl in enumerate(ndimage.find_objects(labels), start=1):
            if sl is None:
                continue
            comp = labels[sl] == i
            area = int(comp.sum())
            # blends along shared edges are thin: require real area and an interior
            if area < min_area or not ndimage.binary_erosion(comp).any():
                continue
            if ndimage.binary_erosion(comp).sum() < 0.15 * area:
                continue
            rgb = small[sl][comp].mean(axis=0)
            box = (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
            found.append(_Candidate(int(cid), box, comp, rgb))
    return found, bg_chroma


def _refine(
    rgb: np.ndarray,
    cand: _Candidate,
    others: list[_Candidate],
    factor: int,
    bg_chroma: float,
) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """Full-resolution mask of a candidate: ``(mask cropped to its tight box, box)``.

    Only a band around the coarse outline is decided pixel by pixel: coarse pixels two steps
    inside the outline are object for sure, two steps outside are not."""
    h, w = rgb.shape[:2]
    reach = 2 if factor > 1 else 1
    coarse = np.pad(cand.mask, reach + 1)
    core = ndimage.binary_erosion(coarse, iterations=reach)
    outer = ndimage.binary_dilation(coarse, iterations=reach, structure=_EIGHT)
    cx0, cy0 = cand.box[0] - reach - 1, cand.box[1] - reach - 1
    x0, y0 = cx0 * factor, cy0 * factor
    core_up = _upsample(core, factor)
    outer_up = _upsample(outer, factor)
    # clip the window to the image
    ix0, iy0 = max(0, x0), max(0, y0)
    ix1, iy1 = min(w, x0 + core_up.shape[1]), min(h, y0 + core_up.shape[0])
    win = (slice(iy0 - y0, iy1 - y0), slice(ix0 - x0, ix1 - x0))
    core_up, outer_up = core_up[win], outer_up[win]
    band = outer_up & ~core_up
    pixels = rgb[iy0:iy1, ix0:ix1][band].astype(np.int32)
    chroma = pixels.max(axis=1) - pixels.min(axis=1)
    keep = chroma >= 0.5 * (float(np.ptp(cand.rgb)) + bg_chroma)
    # nearer this object's colour than any neighbour's: cuts shared edges at the 50/50 blend
    own = ((pixels - cand.rgb.astype(np.int32)) ** 2).sum(axis=1)
    for other in others:
        if other.color_id == cand.color_id:
            continue  # same-coloured shapes never touch: space separates them, not colour
        ox0, oy0, ox1, oy1 = (v * factor for v in other.box)
        if ox1 < ix0 or ox0 > ix1 or oy1 < iy0 or oy0 > iy1:
            continue
        keep &= own <= ((pixels - other.rgb.astype(np.int32)) ** 2).sum(axis=1)
    inside = core_up.copy()
    inside[band] = keep
    labels, n = ndimage.label(inside, structure=_EIGHT)
    if n == 0:
        return None
    # the piece holding most of the sure interior (a stray neighbour blob never wins)
    votes = np.bincount(labels[core_up], minlength=n + 1) if core_up.any() else None
    if votes is None or votes[1:].max() == 0:
        votes = np.bincount(labels.ravel(), minlength=n + 1)
    votes[0] = 0
    mask = labels == int(np.argmax(votes))
    ys = np.flatnonzero(mask.any(axis=1))
    xs = np.flatnonzero(mask.any(axis=0))
    tight = mask[ys[0] : ys[-1] + 1, xs[0] : xs[-1] + 1]
    box = (ix0 + int(xs[0]), iy0 + int(ys[0]), ix0 + int(xs[-1]) + 1, iy0 + int(ys[-1]) + 1)
    return tight, box


def _upsample(mask: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return mask
    return np.repeat(np.repeat(mask, factor, axis=0), factor, axis=1)


@dataclass(frozen=True)
class ShapeFeatures:
    """Scale-free geometry of a mask (see :func:`shape_features`)."""

    solidity: float  # area / convex hull area: ~0.56 for our stars, ~1 for convex shapes
    circularity: float  # 4 pi area / perimeter^2 of the hull: circle 1, square .79, triangle .6
    sharpest_corner: float  # degrees the hull turns within 6 % of its perimeter: 120 / 90 / <80
    elongation: float  # sqrt of the ratio of the principal second moments (1 = round)


def shape_features(mask: np.ndarray) -> ShapeFeatures:
    """Geometry of a bool mask, from the convex hull of its outline pixels."""
    step = max(1, max(mask.shape) // 160)  # every feature is scale-free: cap the work
    m = mask[::step, ::step]
    area = float(m.sum())
    edge = m & ~ndimage.binary_erosion(m)
    ys, xs = np.nonzero(edge)
    degenerate = ShapeFeatures(1.0, 0.0, 0.0, 99.0)
    if xs.size < 3:
        return degenerate
    # hull of pixel centres: an inset by half a pixel keeps a polygon's proportions, while
    # a hull of pixel corners would round small triangles towards squares
    points = np.stack([xs, ys], axis=1).astype(np.float64)
    try:
        hull = ConvexHull(points)
    except QhullError:
        return degenerate
    solidity = area / (hull.volume + hull.area / 2 + 1)  # hull grown back by half a pixel
    circularity = 4 * math.pi * hull.volume / hull.area**2
    ys, xs = np.nonzero(m)
    cov = np.cov(np.stack([xs, ys]).astype(np.float64))
    ev = np.linalg.eigvalsh(cov) if np.isfinite(cov).all() else np.array([0.0, 1.0])
    elongation = math.sqrt(ev[-1] / max(ev[0], 1e-9))
    corner = _sharpest_corner(points[hull.vertices], 0.06)
    return ShapeFeatures(solidity, circularity, corner, elongation)


def _sharpest_corner(vertices: np.ndarray, window: float) -> float:
    """Largest turning (degrees) of a convex polygon (vertices in order) within any stretch
    of its outline ``window`` x perimeter long. A rounded or occluded corner still turns by
    its full angle within a short stretch, which makes this robust to blur and occlusion."""
    edges = np.roll(vertices, -1, axis=0) - vertices
    lengths = np.hypot(edges[:, 0], edges[:, 1])
    angles = np.arctan2(edges[:, 1], edges[:, 0])
    turn = (angles - np.roll(angles, 1) + math.pi) % (2 * math.pi) - math.pi
    turn = np.abs(turn)
    starts = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    perimeter = float(lengths.sum())
    starts2 = np.concatenate([starts, starts + perimeter])
    cumulative = np.concatenate([[0.0], np.cumsum(np.concatenate([turn, turn]))])
    ends = np.searchsorted(starts2, starts + window * perimeter, side="left")
    totals = cumulative[ends] - cumulative[np.arange(len(starts))]
    return math.degrees(float(totals.max())) if totals.size else 0.0


def classify_shape(mask: np.ndarray) -> tuple[str, float]:
    """The shape class of a mask and a 0-1 confidence (how far from a decision boundary)."""
    f = shape_features(mask)
    if f.elongation > _MAX_ELONGATION or f.solidity < 0.35:
        return "object", 0.5
    if f.solidity < _STAR_SOLIDITY:
        return "star", _confidence(_STAR_SOLIDITY - f.solidity, 0.12)
    if f.circularity >= _CIRCLE_CIRCULARITY and f.sharpest_corner < _SQUARE_CORNER - 4:
        return "circle", _confidence(f.circularity - _CIRCLE_CIRCULARITY, 0.05)
    if f.sharpest_corner >= _TRIANGLE_CORNER:
        return "triangle", _confidence(f.sharpest_corner - _TRIANGLE_CORNER, 8)
    return "square", min(
        _confidence(_TRIANGLE_CORNER - f.sharpest_corner, 8),
        _confidence(_CIRCLE_CIRCULARITY - f.circularity, 0.05),
    )


def _confidence(margin: float, scale: float) -> float:
    return round(0.55 + 0.44 * min(1.0, max(0.0, margin) / scale), 2)


def analyze(image: Image.Image) -> list[FoundObject]:
    """Finds the coloured shapes in ``image`` (any mode/size), in reading order (top to
    bottom, then left to right). Boxes and masks are in pixels of ``image`` as given."""
    rgb_image = image if image.mode == "RGB" else image.convert("RGB")
    w, h = rgb_image.size
    factor = max(1, min(max(w, h) // 256, min(w, h) // 96))
    small_image = rgb_image.reduce(factor) if factor > 1 else rgb_image
    small = np.asarray(small_image, dtype=np.float32)
    candidates, bg_chroma = _coarse_candidates(small)
    rgb = np.asarray(rgb_image)
    found = []
    for cand in candidates:
        others = [c for c in candidates if c is not cand]
        refined = _refine(rgb, cand, others, factor, bg_chroma)
        if refined is None:
            continue
        mask, box = refined
        label, score = classify_shape(mask)
        pixels = rgb[box[1] : box[3], box[0] : box[2]][mask][::7].astype(np.float32)
        hue, chroma = _hue_chroma(pixels)
        strong = hue[chroma >= np.median(chroma)]
        mean = pixels.mean(axis=0)
        found.append(
            FoundObject(
                label=label,
                color=color_name(_circular_mean(strong if strong.size else hue)),
                box_xyxy=box,
                mask=mask,
                score=score,
                rgb=(int(mean[0]), int(mean[1]), int(mean[2])),
            )
        )
    found.sort(key=lambda o: (o.box_xyxy[1], o.box_xyxy[0]))
    return found
