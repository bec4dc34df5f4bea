"""The emulator's protocol half: HTTP, routing, authentication, request bodies, error bodies,
the Files API, the Batch API, quotas and fault injection, a request's images (``media``: each
picture decoded once), and generateContent's envelope;
Vertex AI's paths (``vertex``), Google's OAuth token endpoint (``oauth``) and Cloud Storage
buckets mapped to folders (``storage``).

What the answers *say* comes from :mod:`gemini_vision.emulator.model`.
"""

from gemini_vision.emulator.server.http import Emulator
from gemini_vision.emulator.server.state import EmulatorStats

__all__ = ["Emulator", "EmulatorStats"]
