"""The emulator's vision on generated scenes, as a client really sends them.

Each scene (random size 480-1600 px, 3-7 shapes, some overlapping) is JPEG-encoded (quality
75-95, 4:2:0 chroma subsampling), decoded and resized (LANCZOS) to a max side of 1024 and of
512 px, then analysed. Predictions are matched to the ground truth class-aware at box IoU
>= 0.5; mask IoU is measured against the true mask resized to the received size (bilinear,
threshold 127). Goals: precision and recall >= 0.98, mean mask IoU >= 0.93, ~20 ms per
1024 px image.

Run: ``.venv/bin/python benchmarks/bench_vision.py [--scenes N]``
"""

from __future__ import annotations

import argparse
import io
import random
import statistics
import time

import numpy as np
from PIL import Image

from gemini_vision.demo import Scene, encode_image, generate_scene
from gemini_vision.emulator.model import vision


def received(scene: Scene, rng: random.Random, max_side: int) -> Image.Image:
    data = encode_image(scene.image, "JPEG", quality=rng.randint(75, 95))
    image = Image.open(io.BytesIO(data)).convert("RGB")
    image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def box_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def evaluate(n_scenes: int, max_side: int, seed: int) -> None:
    rng = random.Random(seed)
    tp = fp = fn = colours = 0
    ious: list[float] = []
    times: list[float] = []
    for index in range(n_scenes):
        scene = generate_scene(seed + index)
        image = received(scene, rng, max_side)
        start = time.perf_counter()
        found = vision.analyze(image)
        times.append(time.perf_counter() - start)
        sx, sy = image.width / scene.size[0], image.height / scene.size[1]
        used: set[int] = set()
        for f in found:
            scored = [
                (box_iou(f.box_xyxy, (x0 * sx, y0 * sy, x1 * sx, y1 * sy)), i)
                for i, o in enumerate(scene.objects)
                if i not in used and o.label == f.label
                for x0, y0, x1, y1 in [o.box_xyxy]
            ]
            best, i = max(scored, default=(0.0, -1))
            if best < 0.5:
                fp += 1
                continue
            used.add(i)
            tp += 1
            colours += f.color == scene.objects[i].color
            truth = Image.fromarray(scene.objects[i].mask.astype(np.uint8) * 255)
            truth_mask = np.asarray(truth.resize(image.size, Image.Resampling.BILINEAR)) > 127
            mask = f.full_mask(image.size)
            ious.append(float((mask & truth_mask).sum() / (mask | truth_mask).sum()))
        fn += len(scene.objects) - len(used)
    print(
        f"max side {max_side:4d}: {tp + fn} objects in {n_scenes} scenes | "
        f"precision {tp / max(1, tp + fp):.4f} recall {tp / max(1, tp + fn):.4f} | "
        f"mask IoU mean {statistics.mean(ious):.4f} min {min(ious):.3f} | "
        f"colour {colours / max(1, tp):.4f} | "
        f"time median {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=5000)
    args = parser.parse_args()
    for max_side in (1024, 512):
        evaluate(args.scenes, max_side, args.seed)


if __name__ == "__main__":
    main()
