"""The ``generateContent`` and ``countTokens`` bodies: what we ask, and what comes back.

Requests are built of :class:`Content` and :class:`Part` (text, inline base64 images, file URIs)
with a :class:`GenerationConfig`; responses carry :class:`Candidate` answers, the prompt's
feedback and :class:`UsageMetadata` (token counts).
"""

from __future__ import annotations

import base64
import enum
from typing import Annotated, Any, TypeAlias

from pydantic import AliasChoices, Field

from gemini_vision.api.wire.base import RequestModel, ResponseModel, decode_base64, enum_value

__all__ = [
    "BLOCKING_FINISH_REASONS",
    "Blob",
    "BlockReason",
    "Candidate",
    "Content",
    "CountTokensRequest",
    "CountTokensResponse",
    "FileData",
    "FinishReason",
    "GenerateContentRequest",
    "GenerateContentResponse",
    "GenerationConfig",
    "ModalityTokenCount",
    "OpenBlockReason",
    "OpenFinishReason",
    "Part",
    "PartMediaResolution",
    "PromptFeedback",
    "ResponseBlob",
    "ResponseContent",
    "ResponseFileData",
    "ResponsePart",
    "SafetyRating",
    "SafetySetting",
    "ThinkingConfig",
    "UsageMetadata",
]

# --------------------------------------------------------------------------------------------
# Open enums: known values become members, unknown ones stay strings


class FinishReason(str, enum.Enum):
    FINISH_REASON_UNSPECIFIED = "FINISH_REASON_UNSPECIFIED"
    STOP = "STOP"
    MAX_TOKENS = "MAX_TOKENS"
    SAFETY = "SAFETY"
    RECITATION = "RECITATION"
    LANGUAGE = "LANGUAGE"
    OTHER = "OTHER"
    BLOCKLIST = "BLOCKLIST"
    PROHIBITED_CONTENT = "PROHIBITED_CONTENT"
    SPII = "SPII"
    MALFORMED_FUNCTION_CALL = "MALFORMED_FUNCTION_CALL"
    IMAGE_SAFETY = "IMAGE_SAFETY"
    IMAGE_PROHIBITED_CONTENT = "IMAGE_PROHIBITED_CONTENT"
    IMAGE_OTHER = "IMAGE_OTHER"
    NO_IMAGE = "NO_IMAGE"
    IMAGE_RECITATION = "IMAGE_RECITATION"
    UNEXPECTED_TOOL_CALL = "UNEXPECTED_TOOL_CALL"
    TOO_MANY_TOOL_CALLS = "TOO_MANY_TOOL_CALLS"


#: finish reasons that mean "the content was withheld for policy reasons"
BLOCKING_FINISH_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)


class BlockReason(str, enum.Enum):
    BLOCK_REASON_UNSPECIFIED = "BLOCK_REASON_UNSPECIFIED"
    SAFETY = "SAFETY"
    OTHER = "OTHER"
    BLOCKLIST = "BLOCKLIST"
    PROHIBITED_CONTENT = "PROHIBITED_CONTENT"
    IMAGE_SAFETY = "IMAGE_SAFETY"


# Open enum field types: a member when the value is known, else the plain string.
OpenFinishReason: TypeAlias = Annotated[FinishReason | str, Field(union_mode="left_to_right")]
OpenBlockReason: TypeAlias = Annotated[BlockReason | str, Field(union_mode="left_to_right")]


# --------------------------------------------------------------------------------------------
# Request side


class Blob(RequestModel):
    mime_type: str
    data: str  # base64

    @classmethod
    def from_bytes(cls, data: bytes, mime_type: str) -> Blob:
        return cls(mime_type=mime_type, data=base64.b64encode(data).decode("ascii"))

    def to_bytes(self) -> bytes:
        return decode_base64(self.data)


class FileData(RequestModel):
    mime_type: str | None = None
    file_uri: str


class PartMediaResolution(RequestModel):
    level: str | None = None
    num_tokens: int | None = None


class Part(RequestModel):
    text: str | None = None
    inline_data: Blob | None = None
    file_data: FileData | None = None
    function_call: dict[str, Any] | None = None
    function_response: dict[str, Any] | None = None
    executable_code: dict[str, Any] | None = None
    code_execution_result: dict[str, Any] | None = None
    video_metadata: dict[str, Any] | None = None
    media_resolution: PartMediaResolution | None = None
    thought: bool | None = None
    thought_signature: str | None = None
    part_metadata: dict[str, Any] | None = None

    @classmethod
    def from_text(cls, text: str) -> Part:
        return cls(text=text)

    @classmethod
    def from_bytes(cls, data: bytes, mime_type: str) -> Part:
        return cls(inline_data=Blob.from_bytes(data, mime_type))

    @classmethod
    def from_uri(cls, file_uri: str, mime_type: str | None = None) -> Part:
        return cls(file_data=FileData(file_uri=file_uri, mime_type=mime_type))


class Content(RequestModel):
    role: str | None = None
    parts: list[Part] = Field(default_factory=list)


class ThinkingConfig(RequestModel):
    include_thoughts: bool | None = None
    thinking_budget: int | None = None
    thinking_level: str | None = None


class GenerationConfig(RequestModel):
    candidate_count: int | None = None
    stop_sequences: list[str] | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    response_mime_type: str | None = None
    response_schema: dict[str, Any] | None = None
    response_json_schema: Any | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "responseJsonSchema", "response_json_schema", "_responseJsonSchema"
        ),
    )
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    response_logprobs: bool | None = None
    logprobs: int | None = None
    enable_enhanced_civic_answers: bool | None = None
    response_modalities: list[str] | None = None
    speech_config: dict[str, Any] | None = None
    image_config: dict[str, Any] | None = None
    thinking_config: ThinkingConfig | None = None
    media_resolution: str | None = None
    audio_transcription_config: dict[str, Any] | None = None


class SafetySetting(RequestModel):
    category: str | int
    threshold: str | int


class GenerateContentRequest(RequestModel):
    """Body of ``models/{model}:generateContent`` (``model`` only inside batch/countTokens)."""

    model: str | None = None
    contents: list[Content]
    system_instruction: Content | None = None
    tools: list[dict[str, Any]] | None = None
    tool_config: dict[str, Any] | None = None
    safety_settings: list[SafetySetting] | None = None
    generation_config: GenerationConfig | None = None
    cached_content: str | None = None
    service_tier: str | None = None


class CountTokensRequest(RequestModel):
    contents: list[Content] | None = None
    generate_content_request: GenerateContentRequest | None = None


# --------------------------------------------------------------------------------------------
# Response side


class ResponseBlob(ResponseModel):
    mime_type: str | None = None
    data: str | None = None


class ResponseFileData(ResponseModel):
    mime_type: str | None = None
    file_uri: str | None = None


class ResponsePart(ResponseModel):
    text: str | None = None
    thought: bool | None = None
    thought_signature: str | None = None
    inline_data: ResponseBlob | None = None
    file_data: ResponseFileData | None = None


class ResponseContent(ResponseModel):
    role: str | None = None
    parts: list[ResponsePart] = Field(default_factory=list)


class SafetyRating(ResponseModel):
    category: str | None = None
    probability: str | None = None
    blocked: bool | None = None


class Candidate(ResponseModel):
    content: ResponseContent | None = None
    finish_reason: OpenFinishReason | None = None
    finish_message: str | None = None
    index: int | None = None
    safety_ratings: list[SafetyRating] | None = None
    avg_logprobs: float | None = None

    @property
    def text(self) -> str:
        """The answer: every non-thought text part, joined."""
        if self.content is None:
            return ""
        return "".join(p.text for p in self.content.parts if p.text and not p.thought)

    @property
    def thoughts(self) -> str:
        if self.content is None:
            return ""
        return "".join(p.text for p in self.content.parts if p.text and p.thought)


class PromptFeedback(ResponseModel):
    block_reason: OpenBlockReason | None = None
    block_reason_message: str | None = None
    safety_ratings: list[SafetyRating] | None = None


class ModalityTokenCount(ResponseModel):
    modality: str | None = None
    token_count: int | None = None


class UsageMetadata(ResponseModel):
    prompt_token_count: int | None = None
    cached_content_token_count: int | None = None
    candidates_token_count: int | None = None
    tool_use_prompt_token_count: int | None = None
    thoughts_token_count: int | None = None
    total_token_count: int | None = None
    prompt_tokens_details: list[ModalityTokenCount] | None = None
    candidates_tokens_details: list[ModalityTokenCount] | None = None
    cache_tokens_details: list[ModalityTokenCount] | None = None

    @property
    def input_tokens(self) -> int:
        return self.prompt_token_count or 0

    @property
    def output_tokens(self) -> int:
        """Billed output: answer tokens plus thinking tokens."""
        return (self.candidates_token_count or 0) + (self.thoughts_token_count or 0)


class GenerateContentResponse(ResponseModel):
    candidates: list[Candidate] | None = None
    prompt_feedback: PromptFeedback | None = None
    usage_metadata: UsageMetadata | None = None
    model_version: str | None = None
    response_id: str | None = None
    #: not on the wire: how many retries the client needed to get this response
    retries_taken: int = Field(default=0, exclude=True)

    @property
    def text(self) -> str:
        """Text of the first candidate (thought parts excluded); empty if there is none."""
        return self.candidates[0].text if self.candidates else ""

    @property
    def finish_reason(self) -> str | None:
        return enum_value(self.candidates[0].finish_reason) if self.candidates else None


class CountTokensResponse(ResponseModel):
    total_tokens: int = 0
    cached_content_token_count: int | None = None
    prompt_tokens_details: list[ModalityTokenCount] | None = None
