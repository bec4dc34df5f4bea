"""The Gemini REST API as operations: URLs, headers, bodies and response checks, no I/O.

Each operation is a generator of effects (see :mod:`gemini_vision.api.effects`) that the sync
and async clients run; this is the single implementation behind both. Paths follow
``{base}/{version}/{resource}[:{method}]`` (``models/gemini-2.5-flash:generateContent``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
import pydantic_core
from pydantic import BaseModel, ValidationError

from gemini_vision import __version__
from gemini_vision.api import files, wire
from gemini_vision.api.config import ClientConfig
from gemini_vision.api.effects import PENDING_BEARER, Op
from gemini_vision.api.retry import RetryLoop
from gemini_vision.errors import ConfigurationError, InvalidResponseError, redact

__all__ = ["USER_AGENT", "Operations", "model_path"]

M = TypeVar("M", bound=BaseModel)

USER_AGENT = f"gemini-vision/{__version__} httpx/{httpx.__version__}"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")


def _vertex_count_body(
    request: wire.GenerateContentRequest | wire.CountTokensRequest,
) -> dict[str, Any]:
    """Vertex AI's countTokens takes the request's fields at the top level."""
    if isinstance(request, wire.CountTokensRequest):
        inner = request.generate_content_request
        if inner is None:
            return request.to_wire()
        request = inner
    body = request.to_wire()
    keep = ("contents", "systemInstruction", "tools", "generationConfig")
    return {name: body[name] for name in keep if name in body}


def model_path(model: str) -> str:
    """``gemini-2.5-flash`` -> ``models/gemini-2.5-flash``; ``models/…``/``tunedModels/…`` kept."""
    name = model.strip()
    prefix = next((p for p in ("models/", "tunedModels/") if name.startswith(p)), "models/")
    model_id = name.removeprefix(prefix)
    if not _ID.fullmatch(model_id):
        raise ConfigurationError(f"Invalid model name {model!r}: expected e.g. 'gemini-2.5-flash'")
    return prefix + model_id


class Operations:
    """Everything both clients share: requests, paths, parsing, and every operation as an Op."""

    def __init__(self, config: ClientConfig, loop: RetryLoop) -> None:
        self.config = config
        self.loop = loop

    # -- building blocks ----------------------------------------------------------------------

    def request(
        self,
        method: str,
        url: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        with_key: bool = True,
    ) -> httpx.Request:
        """A request with our headers and timeouts; the credentials only when ``with_key``: the
        API key, or (Vertex AI) an Authorization header whose token is filled in when sent."""
        all_headers = {"user-agent": USER_AGENT, **(headers or {})}
        if with_key and self.config.api_key is not None:
            all_headers["x-goog-api-key"] = self.config.api_key.get_secret_value()
        elif with_key:
            all_headers["authorization"] = PENDING_BEARER
        if body is not None:
            # compact UTF-8 JSON, as json.dumps(separators=(",", ":"), ensure_ascii=False) writes
            # it, from pydantic's compiled serialiser: a quarter of the time for an inline image
            content = pydantic_core.to_json(body)
            all_headers["content-type"] = "application/json"
        return httpx.Request(
            method,
            url,
            params=params,
            headers=all_headers,
            content=content,
            extensions={"timeout": self.config.timeout.as_dict()},
        )

    def resource_path(self, name: str, collection: str) -> str:
        """``files/abc`` from ``abc``, ``files/abc`` or ``https://…/v1beta/files/abc``."""
        text = name.strip()
        if "://" in text:
            text = urlsplit(text).path
        marker = f"{collection}/"
        resource_id = text[text.rindex(marker) + len(marker) :] if marker in text else text
        if not _ID.fullmatch(resource_id):
            raise ConfigurationError(f"Invalid {collection} name {name!r}")
        return marker + resource_id

    def call(
        self,
        method: str,
        path: str,
        result: type[M],
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        idempotent: bool = True,
    ) -> Op[tuple[M, int]]:
        """Sends ``method {api_root}/{path}`` and parses the JSON answer into ``result``."""
        request = self.request(method, f"{self.config.api_root}/{path}", body=body, params=params)
        exchange = yield from self.loop.send(request, idempotent=idempotent)
        return self.parse(exchange.response, result), exchange.retries

    def parse(self, response: httpx.Response, result: type[M]) -> M:
        """``response``'s JSON body as ``result``, or InvalidResponseError saying what is wrong.

        The body is read by pydantic's own JSON parser, whose nesting limit turns a
        pathologically deep body into an error like any other malformed answer."""
        where = f"{response.request.method} {response.request.url.path}"
        try:
            return result.model_validate_json(response.content)
        except ValidationError as exc:
            # the error (not raised: its text holds the body, which may hold secrets)
            first = exc.errors(include_input=False, include_url=False)[0]
            count = exc.error_count()
        if first["type"] in ("json_invalid", "json_type"):
            snippet = " ".join(response.content[:400].decode("utf-8", "replace").split())
            snippet = redact(snippet[:200], *self.loop.secrets)
            raise InvalidResponseError(
                f"{where}: response is not JSON ({first['msg']}): {snippet!r}"
            )
        location = ".".join(str(p) for p in first["loc"])
        raise InvalidResponseError(
            f"{where}: unexpected {result.__name__} ({count} problems; first at "
            f"{location or 'top level'}: {first['msg']})"
        )

    def paged(
        self, path: str, result: type[M], items: str, page_size: int, limit: int | None
    ) -> Op[list[Any]]:
        """Follows ``nextPageToken`` until the last page or ``limit`` items."""
        collected: list[Any] = []
        seen: set[str] = set()
        token: str | None = None
        while True:
            params: dict[str, Any] = {"pageSize": page_size}
            if token:
                params["pageToken"] = token
            page, _ = yield from self.call("GET", path, result, params=params)
            collected.extend(getattr(page, items))
            token = getattr(page, "next_page_token", None)
            if not token or (limit is not None and len(collected) >= limit):
                return collected[:limit]
            if token in seen:
                raise InvalidResponseError(f"GET {path}: the server repeated page token {token!r}")
            seen.add(token)

    def model_resource(self, model: str) -> str:
        """``models/{id}``, or on Vertex AI ``projects/…/publishers/google/models/{id}``."""
        vertex = self.config.vertex
        return vertex.model_resource(model) if vertex is not None else model_path(model)

    def developer_api_only(self, what: str) -> None:
        """Refuses ``what`` (the Files API, batches, model listing) on Vertex AI."""
        if self.config.vertex is not None:
            raise ConfigurationError(
                f"{what} is a Gemini Developer API feature that Vertex AI does not offer "
                "(unset GOOGLE_GENAI_USE_VERTEXAI to use the Developer API)"
            )

    # -- models ---------------------------------------------------------------------------------

    def generate_content(
        self, model: str, request: wire.GenerateContentRequest
    ) -> Op[wire.GenerateContentResponse]:
        body = request.to_wire()
        body.pop("model", None)  # the model is in the path; the body field is for batches
        path = f"{self.model_resource(model)}:generateContent"
        response, retries = yield from self.call(
            "POST", path, wire.GenerateContentResponse, body=body
        )
        response.retries_taken = retries
        return response

    def count_tokens(
        self, model: str, request: wire.GenerateContentRequest | wire.CountTokensRequest
    ) -> Op[wire.CountTokensResponse]:
        path = f"{self.model_resource(model)}:countTokens"
        if self.config.vertex is not None:
            body = _vertex_count_body(request)
        elif isinstance(request, wire.GenerateContentRequest):
            # Counting a full request (system instruction, tools) needs its model filled in.
            full = request.model_copy(update={"model": model_path(model)})
            body = wire.CountTokensRequest(generate_content_request=full).to_wire()
        else:
            body = request.to_wire()
        counted, _ = yield from self.call("POST", path, wire.CountTokensResponse, body=body)
        return counted

    def get_model(self, model: str) -> Op[wire.ModelInfo]:
        self.developer_api_only("models.get")
        info, _ = yield from self.call("GET", model_path(model), wire.ModelInfo)
        return info

    def list_models(self, page_size: int, limit: int | None) -> Op[list[wire.ModelInfo]]:
        self.developer_api_only("models.list")
        return (
            yield from self.paged("models", wire.ListModelsResponse, "models", page_size, limit)
        )

    # -- files (the protocols live in files.py) ------------------------------------------------

    def get_file(self, name: str) -> Op[wire.File]:
        self.developer_api_only("The Files API")
        file, _ = yield from self.call("GET", self.resource_path(name, "files"), wire.File)
        return file

    def list_files(self, page_size: int, limit: int | None) -> Op[list[wire.File]]:
        self.developer_api_only("The Files API")
        return (yield from self.paged("files", wire.ListFilesResponse, "files", page_size, limit))

    def upload_file(
        self,
        source: files.UploadSource,
        mime_type: str | None,
        display_name: str | None,
        chunk_size: int | None,
    ) -> Op[wire.File]:
        self.developer_api_only("The Files API")
        return files.upload(
            self, source, mime_type=mime_type, display_name=display_name, chunk_size=chunk_size
        )

    def wait_until_active(
        self, file: str | wire.File, timeout: float, poll_interval: float
    ) -> Op[wire.File]:
        return files.wait_until_active(self, file, timeout=timeout, poll_interval=poll_interval)

    def image_part(
        self, data: bytes, mime_type: str, other_request_bytes: int, display_name: str | None
    ) -> Op[wire.Part]:
        return files.image_part(
            self,
            data,
            mime_type,
            other_request_bytes=other_request_bytes,
            display_name=display_name,
        )

    def download_file(self, name: str) -> Op[bytes]:
        self.developer_api_only("The Files API")
        return files.download(self, name)

    def delete(self, name: str, collection: str) -> Op[None]:
        url = f"{self.config.api_root}/{self.resource_path(name, collection)}"
        yield from self.loop.send(self.request("DELETE", url))

    # -- batches --------------------------------------------------------------------------------

    def create_batch(
        self,
        model: str,
        requests: Sequence[tuple[str, wire.GenerateContentRequest]] | None,
        file_name: str | None,
        display_name: str | None,
    ) -> Op[wire.BatchOperation]:
        self.developer_api_only("The Batch API (mode='batch')")
        if (requests is None) == (file_name is None):
            raise ConfigurationError("create_batch needs either inline requests or a file_name")
        if requests is not None:
            keys = [key for key, _ in requests]
            if not keys or len(set(keys)) != len(keys):
                raise ConfigurationError("batch requests need at least one, with unique keys")
            inlined = [
                wire.InlinedRequest(request=request, metadata={"key": key})
                for key, request in requests
            ]
            source = wire.BatchInputConfig(requests=wire.InlinedRequests(requests=inlined))
        else:
            source = wire.BatchInputConfig(file_name=self.resource_path(file_name or "", "files"))
        spec = wire.BatchSpec(display_name=display_name, input_config=source)
        body = wire.CreateBatchRequest(batch=spec).to_wire()
        size = len(json.dumps(body, separators=(",", ":")))
        if requests is not None and size > self.config.batch_inline_limit_bytes:
            raise ConfigurationError(
                f"Inline batch of {size} bytes exceeds {self.config.batch_inline_limit_bytes}: "
                "upload a JSONL file and pass file_name instead"
            )
        path = f"{model_path(model)}:batchGenerateContent"
        # Creating a batch is not idempotent: a retry after an ambiguous failure could start
        # (and bill) the same batch twice.
        operation, _ = yield from self.call(
            "POST", path, wire.BatchOperation, body=body, idempotent=False
        )
        return operation

    def get_batch(self, name: str) -> Op[wire.BatchOperation]:
        self.developer_api_only("The Batch API (mode='batch')")
        path = self.resource_path(name, "batches")
        operation, _ = yield from self.call("GET", path, wire.BatchOperation)
        return operation

    def list_batches(self, page_size: int, limit: int | None) -> Op[list[wire.BatchOperation]]:
        self.developer_api_only("The Batch API (mode='batch')")
        result = wire.ListBatchesResponse
        return (yield from self.paged("batches", result, "operations", page_size, limit))

    def cancel_batch(self, name: str) -> Op[None]:
        url = f"{self.config.api_root}/{self.resource_path(name, 'batches')}:cancel"
        yield from self.loop.send(self.request("POST", url, body={}))
