"""FiftyOne's entry point for the @gemini-vision/gemini plugin: it only registers operators."""

from .operators import register

__all__ = ["register"]
