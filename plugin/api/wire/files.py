"""The Files API resources: the ``file`` sent to start an upload, and the ``File`` it becomes.

A file is ``PROCESSING``, then ``ACTIVE`` (usable in requests) or ``FAILED``; sizes are bytes.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated, Any, TypeAlias

from pydantic import Field

from gemini_vision.api.wire.base import Int64, RequestModel, ResponseModel

__all__ = [
    "CreateFileRequest",
    "File",
    "FileSpec",
    "FileState",
    "ListFilesResponse",
    "OpenFileState",
]


class FileState(str, enum.Enum):
    STATE_UNSPECIFIED = "STATE_UNSPECIFIED"
    PROCESSING = "PROCESSING"
    ACTIVE = "ACTIVE"
    FAILED = "FAILED"


#: a FileState member when the value is known, else the plain string
OpenFileState: TypeAlias = Annotated[FileState | str, Field(union_mode="left_to_right")]


class FileSpec(RequestModel):
    """The ``file`` object sent when starting a resumable upload."""

    name: str | None = None
    display_name: str | None = None
    mime_type: str | None = None
    size_bytes: Int64 | None = None


class CreateFileRequest(RequestModel):
    file: FileSpec | None = None


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
