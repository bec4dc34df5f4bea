"""Batch Mode: the ``batchGenerateContent`` request and the ``batches/{id}`` operation.

A batch takes its requests inline or from an uploaded JSONL file; the operation reports its
state, counters and, once done, the answers (inline, or the name of a results file). A failed
batch, or a failed line of one, carries a ``google.rpc.Status``.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any, TypeAlias

from pydantic import Field

from gemini_vision.api.wire.base import Int64, RequestModel, ResponseModel, enum_value
from gemini_vision.api.wire.generation import GenerateContentRequest, GenerateContentResponse

__all__ = [
    "BatchInputConfig",
    "BatchMetadata",
    "BatchOperation",
    "BatchOutput",
    "BatchSpec",
    "BatchState",
    "BatchStats",
    "CreateBatchRequest",
    "InlinedRequest",
    "InlinedRequests",
    "InlinedResponse",
    "InlinedResponses",
    "ListBatchesResponse",
    "OpenBatchState",
    "Status",
    "batch_state_name",
]


class BatchState(str, enum.Enum):
    BATCH_STATE_UNSPECIFIED = "BATCH_STATE_UNSPECIFIED"
    BATCH_STATE_PENDING = "BATCH_STATE_PENDING"
    BATCH_STATE_RUNNING = "BATCH_STATE_RUNNING"
    BATCH_STATE_SUCCEEDED = "BATCH_STATE_SUCCEEDED"
    BATCH_STATE_FAILED = "BATCH_STATE_FAILED"
    BATCH_STATE_CANCELLED = "BATCH_STATE_CANCELLED"
    BATCH_STATE_EXPIRED = "BATCH_STATE_EXPIRED"


#: a BatchState member when the value is known, else the plain string
OpenBatchState: TypeAlias = Annotated[BatchState | str, Field(union_mode="left_to_right")]


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


class Status(ResponseModel):
    """``google.rpc.Status``: why a batch, or one request of it, failed."""

    code: int | None = None
    message: str | None = None
    status: str | None = None
    details: list[dict[str, Any]] | None = None


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
