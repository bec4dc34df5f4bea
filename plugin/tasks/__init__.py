"""Vision tasks: what to ask Gemini, in which words, and how to read the answer.

::

    spec      TaskSpec / TaskKind, the request a task sends on each model family, and how its
              answer is interpreted
    prompts   prompt texts and response schemas per task

Nothing here imports FiftyOne.
"""

from gemini_vision.tasks.prompts import prompt_text, response_format
from gemini_vision.tasks.spec import (
    Answer,
    TaskKind,
    TaskSpec,
    build_request,
    check_model_supports,
    generation_defaults,
    interpret_answer,
)

__all__ = [
    "Answer",
    "TaskKind",
    "TaskSpec",
    "build_request",
    "check_model_supports",
    "generation_defaults",
    "interpret_answer",
    "prompt_text",
    "response_format",
]
