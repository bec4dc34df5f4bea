"""Pydantic models of the Gemini REST envelope (``generativelanguage.googleapis.com/v1beta``).

Conventions, as on the wire:

- attributes are snake_case; JSON is camelCase. Requests *accept* both spellings (the API and
  the official SDK mix them) and *reject* unknown fields, like the real service does (400).
  Responses ignore unknown fields, so a newer server never breaks an older client.
- enums are open: a value we have never seen is kept as a plain string, never an error.
- int64 fields (``sizeBytes``, batch counters) are JSON strings on the wire and ints here.
- base64 payloads stay base64 strings here (:meth:`Blob.from_bytes` / :meth:`Blob.to_bytes`);
  both the standard and the URL-safe alphabet decode, with or without padding.

These models are shared by the client and by the emulator, which validates requests with them.
"""

from __future__ import annotations

import base64
import binascii
import enum
from datetime import datetime
from typing import Annotated, Any, TypeAlias

from pydantic import (
    AliasChoices,
    AliasGenerator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
)
from pydantic.alias_generators import to_camel

# --------------------------------------------------------------------------------------------
# Base classes and field helpers


def _both_spellings(name: str) -> AliasChoices:
    return AliasChoices(to_camel(name), name)


class RequestModel(BaseModel):
    """A request object: camelCase or snake_case in, camelCase out, unknown fields forbidden."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(
            validation_alias=_both_spellings, serialization_alias=to_camel
        ),
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON body as the API expects it (camelCase, unset fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class ResponseModel(BaseModel):
    """A response object: camelCase in (snake_case tolerated), unknown fields ignored."""

    model_config = ConfigDict(
        alias_generator=AliasGenerator(
            validation_alias=_both_spellings, serialization_alias=to_camel
        ),
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON body as the API sends it (camelCase, zero/unset fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def _int_from_wire(value: Any) -> Any:
    return int(value) if isinstance(value, str) and value.strip().lstrip("-").isdigit() else value


#: an int64 field: JSON string on the wire, int in Python
Int64 = Annotated[
    int, BeforeValidator(_int_from_wire), PlainSerializer(str, return_type=str, when_used="json")
]


def decode_base64(data: str) -> bytes:
    """Decodes standard or URL-safe base64, with or without padding (as the API accepts)."""
    cleaned = "".join(data.split())
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        if "-" in cleaned or "_" in cleaned:
            return base64.urlsafe_b64decode(cleaned)
        return base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"invalid base64 data: {exc}") from exc


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


class FileState(str, enum.Enum):
    STATE_UNSPECIFIED = "STATE_UNSPECIFIED"
    PROCESSING = "PROCESSING"
    ACTIVE = "ACTIVE"
    FAILED = "FAILED"


class BatchState(str, enum.Enum):
    BATCH_STATE_UNSPECIFIED = "BATCH_STATE_UNSPECIFIED"
    BATCH_STATE_PENDING = "BATCH_STATE_PENDING"
    BATCH_STATE_RUNNING = "BATCH_STATE_RUNNING"
    BATCH_STATE_SUCCEEDED = "BATCH_STATE_SUCCEEDED"
    BATCH_STATE_FAILED = "BATCH_STATE_FAILED"
    BATCH_STATE_CANCELLED = "BATCH_STATE_CANCELLED"
    BATCH_STATE_EXPIRED = "BATCH_STATE_EXPIRED"


# Open enum field types: a member when the value is known, else the plain string.
OpenFinishReason: TypeAlias = Annotated[FinishReason | str, Field(union_mode="left_to_right")]
OpenBlockReason: TypeAlias = Annotated[BlockReason | str, Field(union_mode="left_to_right")]
OpenFileState: TypeAlias = Annotated[FileState | str, Field(union_mode="left_to_right")]
OpenBatchState: TypeAlias = Annotated[BatchState | str, Field(union_mode="left_to_right")]


def enum_value(value: enum.Enum | str | None) -> str | None:
    """The string value of an open-enum field, whether it is a member or an unknown string."""
    return value.value if isinstance(value, enum.Enum) else value


def batch_state_name(value: enum.Enum | str | None) -> str | None:
    """Normalises ``JOB_STATE_X`` (SDK vocabulary) and ``BATCH_STATE_X`` (REST) to ``X``."""
    text = enum_value(value)
    if text is None:
        return None
    for prefix in ("BATCH_STATE_", "JOB_STATE_"):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


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


class FileSpec(RequestModel):
    """The ``file`` object sent when starting a resumable upload."""

    name: str | None = None
    display_name: str | None = None
    mime_type: str | None = None
    size_bytes: Int64 | None = None


class CreateFileRequest(RequestModel):
    file: FileSpec | None = None


class InlinedRequest(RequestModel):
    request: GenerateContentRequest
    metadata: dict[str, Any] | None = None


class InlinedRequests(RequestModel):
    requests: list[InlinedRequest]


class BatchInputConfig(RequestModel):
    file_name: str | None = None
    requests: InlinedRequests | None = None


class BatchSpec(RequestModel):
    display_name: str | None = None
    input_config: BatchInputConfig
    priority: Int64 | None = None
    webhook_config: dict[str, Any] | None = None


class CreateBatchRequest(RequestModel):
    batch: BatchSpec


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


class File(ResponseModel):
    """A Files API resource."""

    name: str
    display_name: str | None = None
    mime_type: str | None = None
    size_bytes: Int64 | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None
    expiration_time: datetime | None = None
    sha256_hash: str | None = None
    uri: str | None = None
    download_uri: str | None = None
    state: OpenFileState | None = None
    source: str | None = None
    error: dict[str, Any] | None = None


class ListFilesResponse(ResponseModel):
    files: list[File] = Field(default_factory=list)
    next_page_token: str | None = None


class ModelInfo(ResponseModel):
    """A ``models/{id}`` resource."""

    name: str
    base_model_id: str | None = None
    version: str | None = None
    display_name: str | None = None
    description: str | None = None
    input_token_limit: int | None = None
    output_token_limit: int | None = None
    supported_generation_methods: list[str] = Field(default_factory=list)
    temperature: float | None = None
    max_temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    thinking: bool | None = None

    @property
    def model_id(self) -> str:
        return self.name.removeprefix("models/")


class ListModelsResponse(ResponseModel):
    models: list[ModelInfo] = Field(default_factory=list)
    next_page_token: str | None = None


class CountTokensResponse(ResponseModel):
    total_tokens: int = 0
    cached_content_token_count: int | None = None
    prompt_tokens_details: list[ModalityTokenCount] | None = None


class Status(ResponseModel):
    """``google.rpc.Status``: the body of every error, and of a failed batch line."""

    code: int | None = None
    message: str | None = None
    status: str | None = None
    details: list[dict[str, Any]] | None = None


class ErrorEnvelope(ResponseModel):
    error: Status


class InlinedResponse(ResponseModel):
    response: GenerateContentResponse | None = None
    error: Status | None = None
    metadata: dict[str, Any] | None = None


class InlinedResponses(ResponseModel):
    inlined_responses: list[InlinedResponse] = Field(default_factory=list)


class BatchOutput(ResponseModel):
    responses_file: str | None = None
    inlined_responses: InlinedResponses | None = None


class BatchStats(ResponseModel):
    request_count: Int64 | None = None
    successful_request_count: Int64 | None = None
    failed_request_count: Int64 | None = None
    pending_request_count: Int64 | None = None


class BatchMetadata(ResponseModel):
    name: str | None = None
    model: str | None = None
    display_name: str | None = None
    state: OpenBatchState | None = None
    create_time: datetime | None = None
    update_time: datetime | None = None
    end_time: datetime | None = None
    batch_stats: BatchStats | None = None
    output: BatchOutput | None = None
    input_config: dict[str, Any] | None = None


class BatchOperation(ResponseModel):
    """A ``batches/{id}`` long-running operation."""

    name: str
    metadata: BatchMetadata | None = None
    done: bool | None = None
    error: Status | None = None
    response: dict[str, Any] | None = None

    @property
    def state(self) -> str | None:
        """``PENDING``, ``RUNNING``, ``SUCCEEDED``, ``FAILED``, ``CANCELLED`` or ``EXPIRED``."""
        return batch_state_name(self.metadata.state if self.metadata else None)


class ListBatchesResponse(ResponseModel):
    operations: list[BatchOperation] = Field(default_factory=list)
    next_page_token: str | None = None
