"""A local, Gemini-compatible HTTP server that really looks at the images it receives.

``from gemini_vision.emulator import Emulator, EmulatorConfig``; see :class:`Emulator` for use
and :class:`EmulatorConfig` for every knob. ``python -m gemini_vision.emulator --port 0``
serves from the command line.
"""

from .config import EmulatorConfig
from .server import Emulator
from .state import EmulatorStats

__all__ = ["Emulator", "EmulatorConfig", "EmulatorStats"]
