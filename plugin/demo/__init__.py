"""The demo and its material: synthetic scenes with exact ground truth.

``python -m gemini_vision.demo`` (what ``make demo`` runs) generates scenes, labels them with
Gemini - or the local emulator without a key - and evaluates the labels against the ground
truth; its FiftyOne half lives in :mod:`gemini_vision.adapters.demo`.

::

    scenes        textured backgrounds with flat, saturated shapes, and their exact truth
    texture       the backgrounds' low-chroma gradients, stripes, blotches and grain
    scene_files   scenes written in any common format, optionally EXIF-oriented

The scenes are pure (no FiftyOne); tests, benchmarks and the emulator's own checks use them.
"""

from gemini_vision.demo.scene_files import encode_image, save_scene, stored_pixels
from gemini_vision.demo.scenes import (
    CLASSES,
    Scene,
    SceneObject,
    SceneTruth,
    generate_scene,
    ground_truth,
)

__all__ = [
    "CLASSES",
    "Scene",
    "SceneObject",
    "SceneTruth",
    "encode_image",
    "generate_scene",
    "ground_truth",
    "save_scene",
    "stored_pixels",
]
