"""Gemini Vision for FiftyOne: the engine.

Importable as ``gemini_vision`` once the project is pip-installed; FiftyOne loads the same code
relatively, as a sub-package of the plugin. Modules that import ``fiftyone`` are the adapters
(labels, runner, model, demo); everything else is pure and can be used without FiftyOne.
"""

__version__ = "0.1.0"
