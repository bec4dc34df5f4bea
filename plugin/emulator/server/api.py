"""Routing, authentication and the model endpoints of the emulated Gemini API.

Paths are served under ``v1beta``, ``v1`` and ``v1alpha`` (the SDK uses ``v1``, the curl
examples of Google's "Image understanding" guide ``v1beta``), plus the ``/upload/{v}/files``
and ``/download/{v}/files`` prefixes.
The key comes in the ``x-goog-api-key`` header or ``?key=``; it is checked, never logged.

Beside the Developer API the same server answers Vertex AI's paths (:mod:`.vertex`), Google's
OAuth token endpoint (:mod:`.oauth`) and Cloud Storage reads (:mod:`.storage`).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from gemini_vision.api import wire
from gemini_vision.catalog import model_spec, normalize_model_id
from gemini_vision.emulator.config import EmulatorConfig
from gemini_vision.emulator.server import files_api, storage
from gemini_vision.emulator.server.batches import BatchJob, BatchStore, operation
from gemini_vision.emulator.server.bodies import parse_body, read_json, validate_generate_request
from gemini_vision.emulator.server.faults import (
    FaultInjector,
    FaultPlan,
    QuotaExceeded,
    QuotaTracker,
    quota_error,
)
from gemini_vision.emulator.server.generation import (
    Answer,
    ReplyCache,
    Respond,
    generate,
    prompt_usage,
    stream_chunks,
)
from gemini_vision.emulator.server.hostile import hostile_reply
from gemini_vision.emulator.server.media import Media, ReadUri, collect_media
from gemini_vision.emulator.server.oauth import TOKEN_PATH, TokenAuthority
from gemini_vision.emulator.server.rpc import ApiError
from gemini_vision.emulator.server.state import EmulatorStats, FileStore
from gemini_vision.emulator.server.transport import HttpCall, HttpReply, error_reply, json_reply
from gemini_vision.emulator.server.vertex import VertexApi

if TYPE_CHECKING:
    from gemini_vision.emulator.server.http import Emulator

__all__ = ["GeminiApi"]

logger = logging.getLogger(__name__)

_ROUTE = re.compile(
    r"^/(?:(?P<prefix>upload|download)/)?(?P<version>v1|v1beta|v1alpha)/(?P<rest>.*)$"
)
_MODEL_ACTIONS = {
    "generateContent": "generateContent",
    "streamGenerateContent": "streamGenerateContent",
    "countTokens": "countTokens",
    "batchGenerateContent": "batches.create",
}
_DEFAULT_RPM = {"free": 10, "paid": 1000}

#: an endpoint's work, run once the route is known
Action = Callable[[], HttpReply]
#: (endpoint name for the statistics, its action)
Route = tuple[str, Action]


def _model_resource(model_id: str) -> dict[str, Any]:
    spec = model_spec(model_id)
    words = [w if any(c.isdigit() for c in w) else w.capitalize() for w in model_id.split("-")]
    resource: dict[str, Any] = {
        "name": f"models/{model_id}",
        "version": "001",
        "displayName": " ".join(words).replace("Er ", "ER "),
        "description": f"Emulated {' '.join(words)} (local Gemini-compatible server).",
        "inputTokenLimit": 1048576,
        "outputTokenLimit": 65536 if spec.thinking_control else 8192,
        "supportedGenerationMethods": [
            "generateContent",
            "countTokens",
            "createCachedContent",
            "batchGenerateContent",
        ],
        "temperature": 1,
        "topP": 0.95,
        "topK": 64,
        "maxTemperature": 2,
    }
    if spec.thinking_control:
        resource["thinking"] = True
    return resource


class GeminiApi:
    """Turns :class:`HttpCall` s into :class:`HttpReply` s; reads the config on every call."""

    def __init__(
        self, emulator: Emulator, stopping: threading.Event, respond: Respond | None = None
    ) -> None:
        self._emulator = emulator
        self._stopping = stopping
        self._respond = respond
        seed = emulator.config.seed
        self.files = FileStore(seed)
        self.batches = BatchStore(seed, self.files, self._answer_batch_request)
        self.quotas = QuotaTracker()
        self.faults = FaultInjector()
        self.replies = ReplyCache()
        #: access tokens issued by the OAuth endpoint, checked on Vertex AI calls
        self.tokens = TokenAuthority()
        self.vertex = VertexApi(self)

    @property
    def config(self) -> EmulatorConfig:
        return self._emulator.config

    @property
    def stats(self) -> EmulatorStats:
        return self._emulator.stats

    # --- entry point --------------------------------------------------------------------

    def handle(self, call: HttpCall) -> HttpReply:
        endpoint = "unknown"
        try:
            endpoint, action = self._route(call)
            reply = action()
        except ApiError as error:
            reply = error_reply(error)
        except Exception:
            logger.exception("emulator failure on %s %s", call.method, endpoint)
            reply = error_reply(ApiError.internal())
        self.stats.record_response(endpoint, 0 if reply.drop else reply.status)
        return reply

    def _route(self, call: HttpCall) -> Route:
        """(endpoint name, zero-argument callable) for the call; 404 for unknown paths."""
        if call.path == TOKEN_PATH and call.method == "POST":
            return "oauth.token", lambda: self.tokens.token_endpoint(call, self.config)
        if (found := storage.object_route(call.path)) and call.method == "GET":
            bucket, name = found

            def read_object() -> HttpReply:
                self.tokens.check(call)
                return storage.serve_object(call, bucket, name, self.config)

            return "storage.objects.get", read_object
        if (vertex_route := self.vertex.route(call)) is not None:
            return vertex_route
        match = _ROUTE.match(call.path)
        if match is None:
            raise ApiError.not_found(f"The requested URL {call.path} was not found.")
        prefix, version, rest = match["prefix"], match["version"], match["rest"]
        method = call.method
        if prefix == "upload" and rest == "files" and method == "POST":
            if "upload_id" in call.query:
                return "files.upload_chunk", lambda: files_api.upload_chunk(
                    call, self.files, self.config
                )
            return "files.upload", self._authed(
                call, lambda: files_api.start_upload(call, self.files, version)
            )
        route = self._resource_route(call, version, rest)
        # /download/{v}/... serves file downloads only (the URL of Google's REST reference for
        # the Files API; the SDK's has no prefix)
        if route is None or (prefix is not None and route[0] != f"files.{prefix}"):
            raise ApiError.not_found(f"The requested URL {call.path} was not found.")
        endpoint, action = route
        return endpoint, self._authed(call, action)

    def _resource_route(self, call: HttpCall, version: str, rest: str) -> Route | None:
        method = call.method
        if rest == "models" and method == "GET":
            return "models.list", lambda: self._list_models(call)
        if (found := re.fullmatch(r"models/([^/:]+)", rest)) and method == "GET":
            model_id = found[1]
            return "models.get", lambda: self._get_model(model_id, version)
        if found := re.fullmatch(r"models/([^/:]+):(\w+)", rest):
            endpoint = _MODEL_ACTIONS.get(found[2])
            if endpoint and method == "POST":
                return endpoint, lambda: self._model_action(call, found[1], found[2], version)
        if rest == "files" and method == "GET":
            return "files.list", lambda: files_api.list_files(call, self.files)
        if found := re.fullmatch(r"files/([^/:]+)", rest):
            file_id = found[1]
            if method == "GET":
                return "files.get", lambda: files_api.get_file(call, self.files, file_id)
            if method == "DELETE":
                return "files.delete", lambda: files_api.delete_file(self.files, file_id)
        if (found := re.fullmatch(r"files/([^/:]+):download", rest)) and method == "GET":
            file_id = found[1]
            return "files.download", lambda: files_api.download_file(call, self.files, file_id)
        return self._batch_route(call, rest)

    def _batch_route(self, call: HttpCall, rest: str) -> Route | None:
        method = call.method
        if rest == "batches" and method == "GET":
            return "batches.list", lambda: self._list_batches(call)
        if found := re.fullmatch(r"batches/([^/:]+)", rest):
            batch_id = found[1]
            if method == "GET":
                return "batches.get", lambda: json_reply(operation(self._job(batch_id)))
            if method == "DELETE":
                return "batches.delete", lambda: self._delete_batch(batch_id)
        if (found := re.fullmatch(r"batches/([^/:]+):cancel", rest)) and method == "POST":
            batch_id = found[1]
            return "batches.cancel", lambda: self._cancel_batch(batch_id)
        return None

    def _authed(self, call: HttpCall, action: Action) -> Action:
        """``action`` behind the API-key check (run when the route is executed)."""

        def run() -> HttpReply:
            self.check_key(call)
            return action()

        return run

    def check_key(self, call: HttpCall) -> None:
        """The API-key check: 403 without a key, 401 for a bearer token, 400 for a bad key."""
        key = call.headers.get("x-goog-api-key") or call.query.get("key")
        if not key:
            if call.headers.get("Authorization"):
                raise ApiError.unauthenticated()
            raise ApiError.unregistered_caller()
        config = self.config
        accepted = config.accepted_api_keys
        if key in config.rejected_api_keys or (accepted is not None and key not in accepted):
            raise ApiError.api_key_invalid()

    # --- models -------------------------------------------------------------------------

    def _known_model(self, raw: str, version: str, method: str) -> str:
        model = normalize_model_id(raw)
        if model not in self.config.models:
            raise ApiError.model_not_found(model, version, method)
        return model

    def _list_models(self, call: HttpCall) -> HttpReply:
        size = files_api.page_size(call, default=50, maximum=1000)
        offset = files_api.decode_page_token(call.query.get("pageToken"))
        models = list(self.config.models)
        body: dict[str, Any] = {}
        if models[offset : offset + size]:
            body["models"] = [_model_resource(m) for m in models[offset : offset + size]]
        if offset + size < len(models):
            body["nextPageToken"] = files_api.encode_page_token(offset + size)
        return json_reply(body)

    def _get_model(self, raw: str, version: str) -> HttpReply:
        return json_reply(_model_resource(self._known_model(raw, version, "get")))

    def _model_action(self, call: HttpCall, raw: str, action: str, version: str) -> HttpReply:
        model = self._known_model(raw, version, action)
        if len(call.body) > self.config.max_request_bytes:
            raise ApiError.invalid_argument(
                f"Request payload size exceeds the limit: {self.config.max_request_bytes} bytes."
            )
        data = read_json(call.body)
        if action == "countTokens":
            return self._count_tokens(data, model)
        if action == "batchGenerateContent":
            batch = parse_body(wire.CreateBatchRequest, data, "BatchGenerateContentRequest")
            job = self.batches.create(model, batch.batch, self.config)
            created = json_reply(operation(job))
            self.batches.start(job)
            return created
        request = parse_body(wire.GenerateContentRequest, data, "GenerateContentRequest")
        return self.generate(call, request, model, stream=action == "streamGenerateContent")

    def _count_tokens(self, data: Any, model: str) -> HttpReply:
        body = parse_body(wire.CountTokensRequest, data, "CountTokensRequest")
        if body.contents is not None and body.generate_content_request is not None:
            raise ApiError.bullets(
                "CountTokensRequest: only one of contents and generate_content_request may be set."
            )
        inner = body.generate_content_request or wire.GenerateContentRequest(
            contents=body.contents or []
        )
        if not inner.contents:
            raise ApiError.bullets("CountTokensRequest.contents: contents is not specified")
        validate_generate_request(inner, model, "CountTokensRequest")
        total, details = prompt_usage(inner, collect_media(inner, self.files), model)
        payload: dict[str, Any] = {"totalTokens": total}
        if details:
            payload["promptTokensDetails"] = details
        return json_reply(payload)

    # --- generateContent ----------------------------------------------------------------

    def generate(
        self,
        call: HttpCall,
        request: wire.GenerateContentRequest,
        model: str,
        *,
        stream: bool,
        read_uri: ReadUri | None = None,
    ) -> HttpReply:
        """One generateContent call: quotas, injected faults, the answer, sent once the
        plan's latency has passed since the call arrived: like Gemini's, the latency includes
        the work, so hundreds of calls at once each take the latency asked for, not the
        latency plus their wait for a turn at this process's CPU (``read_uri`` reads fileData
        URIs that are not Files API files)."""
        arrived = time.monotonic()
        media = self._media(request, model, read_uri)
        prompt_tokens, _ = prompt_usage(request, media, model)
        try:
            self.quotas.admit(self.config, model, prompt_tokens)
        except QuotaExceeded as error:
            self.stats.record_fault(error.dimension)
            raise
        plan = self._plan(request, media)
        transport_fault = self._transport_fault(plan, model, arrived)
        if transport_fault is not None:
            return transport_fault
        answer = self._answer(request, model, media, plan)
        self._wait_until(arrived + plan.latency)
        if self.config.hostile:
            drip = self.config.hostile_drip_seconds
            return hostile_reply(self.config.hostile, answer.body, self._stopping, drip)
        if not stream:
            return json_reply(answer.body)
        return self._stream(call, answer)

    def _wait_until(self, deadline: float) -> None:
        """Waits until ``deadline`` (``time.monotonic()``), or until the emulator stops."""
        self._stopping.wait(max(0.0, deadline - time.monotonic()))

    def _transport_fault(self, plan: FaultPlan, model: str, arrived: float) -> HttpReply | None:
        """The injected failure, if any: a 429 or a dropped connection at once, a 5xx once
        the plan's latency has passed."""
        config = self.config
        if plan.transport == "429":
            self.stats.record_fault("429")
            limit = _DEFAULT_RPM.get(config.tier, 10)
            return error_reply(quota_error(config, "rpm", model, limit, plan.retry_delay))
        if plan.transport == "timeout":
            self.stats.record_fault("timeout")
            hold = config.timeout_hold if config.timeout_mode == "hang" else 0.0
            return HttpReply(drop=True, hold=hold)
        errors = {"500": ApiError.internal, "503": ApiError.unavailable}
        errors["504"] = ApiError.deadline_exceeded
        if plan.transport in errors:
            self._wait_until(arrived + plan.latency)
            self.stats.record_fault(plan.transport)
            return error_reply(errors[plan.transport]())
        return None

    def _stream(self, call: HttpCall, answer: Answer) -> HttpReply:
        chunks = stream_chunks(answer.body)
        if call.query.get("alt") != "sse":
            return json_reply(chunks)
        delay = self.config.stream_chunk_delay

        def events() -> Iterator[bytes]:
            for index, chunk in enumerate(chunks):
                if index and delay:
                    self._stopping.wait(delay)
                yield b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\r\n\r\n"

        return HttpReply(content_type="text/event-stream", chunks=events())

    def _answer_batch_request(
        self, request: wire.GenerateContentRequest, model: str
    ) -> dict[str, Any]:
        """One request of a batch job: content faults only (no latency, quotas, 5xx)."""
        media = self._media(request, model)
        return self._answer(request, model, media, self._plan(request, media)).body

    def _media(
        self, request: wire.GenerateContentRequest, model: str, read_uri: ReadUri | None = None
    ) -> list[Media]:
        """Validates the request and opens its images (counted per sha256)."""
        validate_generate_request(request, model)
        media = collect_media(request, self.files, read_uri)
        self.stats.record_images([m.sha256 for m in media])
        return media

    def _plan(self, request: wire.GenerateContentRequest, media: list[Media]) -> FaultPlan:
        # the plan tells requests apart by their images; only image-less ones need their JSON
        content_key = "" if media else request.model_dump_json(exclude_none=True)
        return self.faults.plan(self.config, [m.sha256 for m in media], content_key)

    def _answer(
        self,
        request: wire.GenerateContentRequest,
        model: str,
        media: list[Media],
        plan: FaultPlan,
    ) -> Answer:
        config = self.config
        blocked = config.blocked_images.intersection(m.sha256 for m in media)
        content = "safety" if blocked else plan.content
        answer = generate(
            request,
            model,
            media,
            seed=config.seed,
            thinking_scale=config.thinking_scale,
            fault=content,
            fault_rng=plan.rng,
            respond=self._respond,
            cache=self.replies,
            cache_size=config.reply_cache_size,
        )
        if content:
            self.stats.record_fault(content)
        self.stats.record_usage(answer.usage)
        return answer

    # --- batches ------------------------------------------------------------------------

    def _job(self, batch_id: str) -> BatchJob:
        job = self.batches.get(batch_id)
        if job is None:
            raise ApiError.not_found()
        return job

    def _list_batches(self, call: HttpCall) -> HttpReply:
        size = files_api.page_size(call, default=50, maximum=1000)
        offset = files_api.decode_page_token(call.query.get("pageToken"))
        jobs, following = self.batches.page(size, offset)
        body: dict[str, Any] = {}
        if jobs:
            body["operations"] = [operation(job) for job in jobs]
        if following is not None:
            body["nextPageToken"] = files_api.encode_page_token(following)
        return json_reply(body)

    def _cancel_batch(self, batch_id: str) -> HttpReply:
        if not self.batches.cancel(batch_id):
            raise ApiError.not_found()
        return json_reply({})

    def _delete_batch(self, batch_id: str) -> HttpReply:
        if not self.batches.delete(batch_id):
            raise ApiError.not_found()
        return json_reply({})
