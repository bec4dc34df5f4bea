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
Every name is importable from here (``wire.GenerateContentRequest``)::

    base         RequestModel, ResponseModel, Int64, decode_base64, enum_value
    generation   generateContent and countTokens: Content, Part, GenerationConfig, Candidate...
    files        the Files API: FileSpec, File, FileState
    models       ModelInfo and the models list
    batches      Batch Mode: CreateBatchRequest, BatchOperation, Status
"""

from __future__ import annotations

from gemini_vision.api.wire.base import (
    Int64,
    RequestModel,
    ResponseModel,
    decode_base64,
    enum_value,
)
from gemini_vision.api.wire.batches import (
    BatchInputConfig,
    BatchMetadata,
    BatchOperation,
    BatchOutput,
    BatchSpec,
    BatchState,
    BatchStats,
    CreateBatchRequest,
    InlinedRequest,
    InlinedRequests,
    InlinedResponse,
    InlinedResponses,
    ListBatchesResponse,
    OpenBatchState,
    Status,
    batch_state_name,
)
from gemini_vision.api.wire.files import (
    CreateFileRequest,
    File,
    FileSpec,
    FileState,
    ListFilesResponse,
    OpenFileState,
)
from gemini_vision.api.wire.generation import (
    BLOCKING_FINISH_REASONS,
    Blob,
    BlockReason,
    Candidate,
    Content,
    CountTokensRequest,
    CountTokensResponse,
    FileData,
    FinishReason,
    GenerateContentRequest,
    GenerateContentResponse,
    GenerationConfig,
    ModalityTokenCount,
    OpenBlockReason,
    OpenFinishReason,
    Part,
    PartMediaResolution,
    PromptFeedback,
    ResponseBlob,
    ResponseContent,
    ResponseFileData,
    ResponsePart,
    SafetyRating,
    SafetySetting,
    ThinkingConfig,
    UsageMetadata,
)
from gemini_vision.api.wire.models import ListModelsResponse, ModelInfo

__all__ = [
    "BLOCKING_FINISH_REASONS",
    "BatchInputConfig",
    "BatchMetadata",
    "BatchOperation",
    "BatchOutput",
    "BatchSpec",
    "BatchState",
    "BatchStats",
    "Blob",
    "BlockReason",
    "Candidate",
    "Content",
    "CountTokensRequest",
    "CountTokensResponse",
    "CreateBatchRequest",
    "CreateFileRequest",
    "File",
    "FileData",
    "FileSpec",
    "FileState",
    "FinishReason",
    "GenerateContentRequest",
    "GenerateContentResponse",
    "GenerationConfig",
    "InlinedRequest",
    "InlinedRequests",
    "InlinedResponse",
    "InlinedResponses",
    "Int64",
    "ListBatchesResponse",
    "ListFilesResponse",
    "ListModelsResponse",
    "ModalityTokenCount",
    "ModelInfo",
    "OpenBatchState",
    "OpenBlockReason",
    "OpenFileState",
    "OpenFinishReason",
    "Part",
    "PartMediaResolution",
    "PromptFeedback",
    "RequestModel",
    "ResponseBlob",
    "ResponseContent",
    "ResponseFileData",
    "ResponseModel",
    "ResponsePart",
    "SafetyRating",
    "SafetySetting",
    "Status",
    "ThinkingConfig",
    "UsageMetadata",
    "batch_state_name",
    "decode_base64",
    "enum_value",
]
