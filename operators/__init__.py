"""FiftyOne operators of the @gemini-vision/gemini plugin."""


def register(plugin) -> None:
    """Registers every operator listed in ``fiftyone.yml``."""
