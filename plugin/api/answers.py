"""What a ``generateContent`` response says: the answer's text, or why there is none."""

from __future__ import annotations

from gemini_vision.api import wire
from gemini_vision.errors import BlockedResponseError, InvalidResponseError, TruncatedResponseError

__all__ = ["answer_text"]


def answer_text(response: wire.GenerateContentResponse) -> str:
    """The answer of the first candidate, thought parts excluded.

    Raises BlockedResponseError (the prompt was blocked, or the answer stopped for a policy
    reason such as SAFETY), TruncatedResponseError (MAX_TOKENS; ``raw_text`` keeps the partial
    answer, possibly empty) or InvalidResponseError (no candidate, or no text).
    """
    feedback = response.prompt_feedback
    block = wire.enum_value(feedback.block_reason) if feedback else None
    if feedback is not None and block:
        detail = f" ({feedback.block_reason_message})" if feedback.block_reason_message else ""
        raise BlockedResponseError(
            f"Gemini blocked the prompt: {block}{detail}", block_reason=block
        )
    if not response.candidates:
        raise InvalidResponseError("Gemini returned no candidates and no block reason")
    candidate = response.candidates[0]
    reason = wire.enum_value(candidate.finish_reason)
    text = candidate.text
    if reason in wire.BLOCKING_FINISH_REASONS:
        raise BlockedResponseError(
            f"Gemini withheld the answer: finishReason {reason}",
            block_reason=reason,
            raw_text=text or None,
        )
    if reason == "MAX_TOKENS":
        raise TruncatedResponseError(
            "The answer hit the output token limit (finishReason MAX_TOKENS; thinking tokens "
            "count too): raise max_output_tokens or lower the thinking budget",
            raw_text=text,
        )
    if not text:
        thoughts = " (only thought parts)" if candidate.thoughts else ""
        raise InvalidResponseError(f"Gemini's answer has no text{thoughts}; finishReason {reason}")
    return text
