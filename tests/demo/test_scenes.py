"""Synthetic scenes: determinism, self-consistent ground truth, EXIF-oriented files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageOps
from scipy import ndimage

from gemini_vision.demo import scenes
from gemini_vision.demo.scenes import SceneSpec, ShapeSpec


@pytest.fixture(scope="module")
def scene() -> scenes.Scene:
    return scenes.generate_scene(7, (480, 320), n_objects=6, overlap_rate=0.6)


def _full_shape(spec: ShapeSpec, width: int, height: int) -> np.ndarray:
    alpha, x0, y0 = scenes.shape_coverage(spec, width, height)
    out = np.zeros((height, width), bool)
    out[y0 : y0 + alpha.shape[0], x0 : x0 + alpha.shape[1]] = alpha > 0.5
    return out


def test_same_seed_gives_identical_scene() -> None:
    a = scenes.generate_scene(11, (300, 200))
    b = scenes.generate_scene(11, (300, 200))
    assert a.image.tobytes() == b.image.tobytes()
    assert [(o.label, o.color, o.box_xyxy) for o in a.objects] == [
        (o.label, o.color, o.box_xyxy) for o in b.objects
    ]


def test_different_seeds_give_different_scenes() -> None:
    a = scenes.generate_scene(1, (300, 200))
    b = scenes.generate_scene(2, (300, 200))
    assert a.image.tobytes() != b.image.tobytes()


@pytest.mark.parametrize("size", [(480, 320), (200, 400), (640, 640), (900, 450)])
def test_image_has_requested_size_and_objects(size: tuple[int, int]) -> None:
    s = scenes.generate_scene(3, size, n_objects=4)
    assert s.image.size == size
    assert s.image.mode == "RGB"
    assert 1 <= len(s.objects) <= 4
    for o in s.objects:
        assert o.mask.shape == (size[1], size[0])


def test_random_size_varies_aspect_ratio() -> None:
    sizes = {scenes.generate_scene(seed, n_objects=1).size for seed in range(8)}
    assert any(w > h for w, h in sizes) and any(w < h for w, h in sizes)


def test_box_is_tight_box_of_mask(scene: scenes.Scene) -> None:
    for o in scene.objects:
        ys, xs = np.nonzero(o.mask)
        assert o.box_xyxy == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_visible_masks_are_disjoint(scene: scenes.Scene) -> None:
    stack = np.stack([o.mask for o in scene.objects]).astype(int)
    assert stack.sum(axis=0).max() == 1


def test_objects_are_big_enough(scene: scenes.Scene) -> None:
    short = min(scene.size)
    for o in scene.objects:
        x0, y0, x1, y1 = o.box_xyxy
        assert min(x1 - x0, y1 - y0) >= 0.05 * short


def test_occluded_objects_stay_mostly_visible_and_whole() -> None:
    occluded = 0
    for seed in range(12):
        s = scenes.generate_scene(seed, (360, 300), n_objects=6, overlap_rate=0.7)
        for o in s.objects:
            full = _full_shape(o.spec, *s.size)
            if o.area < full.sum() - 0.01 * full.sum() - 20:
                occluded += 1
            assert o.area >= scenes.MIN_VISIBLE_FRACTION * full.sum() - 0.01 * full.sum()
            assert ndimage.label(o.mask, structure=np.ones((3, 3)))[1] == 1
    assert occluded >= 3  # overlaps really happen


def test_same_colour_objects_do_not_touch() -> None:
    for seed in range(10):
        s = scenes.generate_scene(seed, (300, 300), n_objects=7, colors=("red", "blue"))
        for i, a in enumerate(s.objects):
            grown = ndimage.binary_dilation(a.mask, iterations=3)
            for b in s.objects[i + 1 :]:
                if a.color == b.color:
                    assert not (grown & b.mask).any()


def test_mask_pixels_show_the_object_colour(scene: scenes.Scene) -> None:
    rgb = np.asarray(scene.image, dtype=float)
    for o in scene.objects:
        core = ndimage.binary_erosion(o.mask, iterations=2)
        mean = rgb[core].mean(axis=0)
        assert np.abs(mean - scenes.PALETTE[o.color]).max() < 25, o.name


def test_background_is_low_chroma(scene: scenes.Scene) -> None:
    rgb = np.asarray(scene.image, dtype=int)
    anything = np.zeros(rgb.shape[:2], bool)
    for o in scene.objects:
        anything |= ndimage.binary_dilation(o.mask, iterations=2)
    chroma = rgb.max(axis=2) - rgb.min(axis=2)
    assert np.percentile(chroma[~anything], 99.9) < 45


def _spec(*shapes: tuple[str, str, float, float, float]) -> SceneSpec:
    return SceneSpec(
        width=400,
        height=300,
        shapes=tuple(ShapeSpec(lab, col, cx, cy, r) for lab, col, cx, cy, r in shapes),
        background_seed=0,
    )


def test_scene_class_is_most_frequent_class() -> None:
    s = scenes.render(
        _spec(
            ("circle", "red", 60, 60, 40),
            ("star", "blue", 200, 60, 40),
            ("star", "green", 320, 60, 40),
        )
    )
    assert s.scene_class == "star"


def test_scene_class_tie_goes_to_larger_total_area() -> None:
    s = scenes.render(_spec(("circle", "red", 80, 80, 30), ("square", "blue", 250, 150, 60)))
    assert s.scene_class == "square"
    s2 = scenes.render(_spec(("circle", "red", 80, 80, 60), ("square", "blue", 250, 150, 30)))
    assert s2.scene_class == "circle"


def test_counts(scene: scenes.Scene) -> None:
    assert sum(scene.class_counts.values()) == len(scene.objects)
    o = scene.objects[0]
    assert scene.count(o.label, o.color) >= 1
    assert scene.count() == len(scene.objects)


def test_ground_truth_forms_agree_with_objects(scene: scenes.Scene) -> None:
    gt = scenes.ground_truth(scene)
    w, h = scene.size
    assert (gt.width, gt.height) == (w, h)
    for det, o in zip(gt.detections, scene.objects, strict=True):
        x, y, bw, bh = det.box_xywh_rel
        x0, y0, x1, y1 = o.box_xyxy
        assert (round(x * w), round(y * h), round((x + bw) * w), round((y + bh) * h)) == (
            x0,
            y0,
            x1,
            y1,
        )
        assert det.mask.shape == (y1 - y0, x1 - x0)
        assert det.mask.sum() == o.area
        assert (gt.semantic_mask[o.mask] == gt.class_index[o.label]).all()
    assert (gt.semantic_mask > 0).sum() == sum(o.area for o in scene.objects)
    assert set(gt.class_index) == set(scenes.CLASSES) and 0 not in gt.class_index.values()


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "JPEG", "WEBP"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_oriented_file_displays_as_the_scene(
    scene: scenes.Scene, fmt: str, orientation: int
) -> None:
    data = scenes.encode_image(scene.image, fmt, orientation=orientation, quality=95)
    stored = Image.open(io.BytesIO(data))
    assert stored.getexif().get(0x0112, 1) == orientation
    shown = np.asarray(ImageOps.exif_transpose(stored).convert("RGB"), dtype=float)
    truth = np.asarray(scene.image, dtype=float)
    assert shown.shape == truth.shape
    tolerance = 0 if fmt in {"PNG", "TIFF"} else 4
    assert np.abs(shown - truth).mean() <= tolerance
    # Pillow applies a TIFF's orientation itself when loading, so only check the others
    if orientation != 1 and fmt != "TIFF":  # the stored pixels really are transformed
        raw = np.asarray(stored.convert("RGB"), dtype=float)
        assert raw.shape != truth.shape or np.abs(raw - truth).mean() > 10


@pytest.mark.parametrize("suffix", [".heic", ".bmp", ".gif", ".png", ".jpg", ".webp", ".tiff"])
def test_save_scene_writes_a_readable_file(scene: scenes.Scene, tmp_path, suffix: str) -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()
    path = scenes.save_scene(scene, tmp_path / f"s{suffix}")
    with Image.open(path) as im:
        assert im.size == scene.size
        err = np.abs(np.asarray(im.convert("RGB"), float) - np.asarray(scene.image, float))
        assert err.mean() < 8


def test_orientation_refused_where_it_cannot_be_stored(scene: scenes.Scene) -> None:
    with pytest.raises(ValueError, match="orientation"):
        scenes.encode_image(scene.image, "BMP", orientation=6)
    with pytest.raises(ValueError, match="suffix"):
        scenes.save_scene(scene, "x.unknown")


def test_variant_differs_in_exactly_one_object(scene: scenes.Scene) -> None:
    other, change = scenes.variant(scene, seed=5)
    before = [(o.label, o.color) for o in scene.objects]
    after = [(o.label, o.color) for o in other.objects]
    assert other.size == scene.size
    if "removed" in change:
        assert len(after) == len(before) - 1
    else:
        assert len(after) == len(before)
        assert sum(a != b for a, b in zip(before, after, strict=True)) == 1
    assert change.startswith("the ")
