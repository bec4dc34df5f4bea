"""A local, Gemini-compatible HTTP server that really looks at the images it receives.

``from gemini_vision.emulator import Emulator, EmulatorConfig``; see :class:`Emulator` for use
and :class:`EmulatorConfig` for every knob. ``python -m gemini_vision.emulator --port 0``
serves from the command line.

::

    config   every knob (latency, quotas, fault rates, answer styles) and the model table
    server/  the protocol half: HTTP, routes, bodies, errors, Files and Batch APIs, faults,
             Vertex AI, the OAuth token endpoint, Cloud Storage
    cloud    service-account and user credential files the emulator trusts
    model/   the "model" half: what it sees in the pixels and what it says about them

Nothing here imports FiftyOne.
"""

from gemini_vision.emulator.config import EmulatorConfig
from gemini_vision.emulator.server import Emulator, EmulatorStats

__all__ = ["Emulator", "EmulatorConfig", "EmulatorStats"]
