"""The emulator's "model" half: what it sees in the pixels and what it says about them.

::

    vision       finds the coloured shapes of generated scenes in a received image
    intent       reads what a prompt asks for (task, classes, output format)
    language     captions, short answers and comparisons in words
    schema_fit   shapes an answer to a response schema, as structured output does
    png          masks encoded exactly like Gemini's
    identity     which received images are the same picture, without decoding them
    responder    puts it together: a request in, Gemini's answer text out
"""

from gemini_vision.emulator.model.responder import Reply, respond

__all__ = ["Reply", "respond"]
