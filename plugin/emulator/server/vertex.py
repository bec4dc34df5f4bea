"""Vertex AI's Gemini endpoints, answered by the same model as the Developer API's.

Paths (``v1`` and ``v1beta1``, the official SDK's default)::

    /{v}/projects/{project}/locations/{location}/publishers/google/models/{model}:{method}
    /{v}/publishers/google/models/{model}:{method}          (express mode: an API key)

with ``generateContent``, ``streamGenerateContent`` and ``countTokens``. Checks come in the
service's order, each with Vertex AI's own error: the bearer token (401 UNAUTHENTICATED; see
:mod:`.oauth`), the project (403 PERMISSION_DENIED, when :attr:`EmulatorConfig.vertex_projects`
is set), the model's availability in the location (404 NOT_FOUND, per
``vertex_models_by_location``), the body (400), then the quotas: Vertex AI's shared dynamic
quota answers a bare 429 RESOURCE_EXHAUSTED without RetryInfo. ``fileData`` may name
``gs://`` objects (see :mod:`.storage`); the Files API and batches do not exist here.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gemini_vision.api import wire
from gemini_vision.catalog import normalize_model_id
from gemini_vision.emulator.server import storage
from gemini_vision.emulator.server.bodies import parse_body, read_json, validate_generate_request
from gemini_vision.emulator.server.generation import prompt_usage
from gemini_vision.emulator.server.media import collect_media
from gemini_vision.emulator.server.rpc import ApiError
from gemini_vision.emulator.server.transport import HttpCall, HttpReply, error_reply, json_reply

if TYPE_CHECKING:
    from gemini_vision.emulator.server.api import GeminiApi

__all__ = ["VertexApi"]

_PATH = re.compile(
    r"^/(?P<version>v1|v1beta1)/(?:projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/)?"
    r"publishers/google/models/(?P<model>[^/:]+):(?P<method>\w+)$"
)
_METHODS = ("generateContent", "streamGenerateContent", "countTokens")
_RESOURCE_EXHAUSTED = (
    "Resource exhausted. Please try again later. Please refer to "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
)

#: (endpoint name for the statistics, its action)
Route = tuple[str, Callable[[], HttpReply]]


def _exhausted() -> ApiError:
    """Vertex AI's 429 for its shared dynamic quota: no RetryInfo, no quota names."""
    return ApiError(429, "RESOURCE_EXHAUSTED", _RESOURCE_EXHAUSTED)


def permission_denied(project: str, location: str, model: str) -> ApiError:
    resource = f"projects/{project}/locations/{location}/publishers/google/models/{model}"
    return ApiError(
        403,
        "PERMISSION_DENIED",
        f"Permission 'aiplatform.endpoints.predict' denied on resource "
        f"'//aiplatform.googleapis.com/{resource}' (or it may not exist).",
        [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "IAM_PERMISSION_DENIED",
                "domain": "aiplatform.googleapis.com",
                "metadata": {"permission": "aiplatform.endpoints.predict", "resource": resource},
            }
        ],
    )


def model_not_found(project: str | None, location: str | None, model: str) -> ApiError:
    scope = f"projects/{project}/locations/{location}/" if project else ""
    return ApiError(
        404,
        "NOT_FOUND",
        f"Publisher Model `{scope}publishers/google/models/{model}` was not found or your "
        "project does not have access to it. Please ensure you are using a valid model version. "
        "For more information, see: "
        "https://cloud.google.com/vertex-ai/generative-ai/docs/learn/model-versions",
    )


class VertexApi:
    """Routes Vertex AI calls to the shared model, behind Vertex AI's checks."""

    def __init__(self, gemini: GeminiApi) -> None:
        self._gemini = gemini

    def route(self, call: HttpCall) -> Route | None:
        found = _PATH.match(call.path)
        if found is None:
            return None
        method = found["method"]
        if method not in _METHODS or call.method != "POST":
            raise ApiError.not_found(f"The requested URL {call.path} was not found.")
        project, location, model = found["project"], found["location"], found["model"]
        return method, lambda: self._call(call, project, location, model, method)

    def _call(
        self, call: HttpCall, project: str | None, location: str | None, raw: str, method: str
    ) -> HttpReply:
        config = self._gemini.config
        model = normalize_model_id(raw)
        if project is None:  # express mode
            self._gemini.check_key(call)
        else:
            self._gemini.tokens.check(call)
            allowed = config.vertex_projects
            if allowed is not None and project not in allowed:
                raise permission_denied(project, location or "", model)
        served = config.models
        if location is not None and config.vertex_models_by_location is not None:
            served = tuple(config.vertex_models_by_location.get(location, ()))
        if model not in served:
            raise model_not_found(project, location, model)
        data = read_json(call.body)
        request = parse_body(wire.GenerateContentRequest, data, "GenerateContentRequest")
        if method == "countTokens":
            return self._count_tokens(request, model)
        stream = method == "streamGenerateContent"
        try:
            reply = self._gemini.generate(call, request, model, stream=stream, read_uri=self._read)
        except ApiError as error:
            if error.code == 429:
                raise _exhausted() from None
            raise
        if reply.status == 429:
            return error_reply(_exhausted())
        return _with_vertex_envelope(reply)

    def _count_tokens(self, request: wire.GenerateContentRequest, model: str) -> HttpReply:
        if not request.contents:
            raise ApiError.invalid_argument("contents must not be empty")
        validate_generate_request(request, model, "CountTokensRequest")
        media = collect_media(request, self._gemini.files, read_uri=self._read)
        total, _ = prompt_usage(request, media, model)
        return json_reply({"totalTokens": total, "totalBillableCharacters": 0})

    def _read(self, uri: str) -> tuple[bytes, str]:
        if not uri.startswith("gs://"):
            raise ApiError.invalid_argument(
                f"Invalid file uri {uri}: Vertex AI reads Cloud Storage (gs://) URIs"
            )
        return storage.object_bytes(uri, self._gemini.config)


def _with_vertex_envelope(reply: HttpReply) -> HttpReply:
    """A generateContent answer with the fields only Vertex AI adds (createTime, trafficType)."""
    if reply.status != 200 or reply.chunks is not None or not reply.body:
        return reply
    body: dict[str, Any] = json.loads(reply.body)
    if not isinstance(body, dict):
        return reply
    body["createTime"] = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    usage = body.get("usageMetadata")
    if isinstance(usage, dict):
        usage["trafficType"] = "ON_DEMAND"
    return json_reply(body, reply.status, reply.headers)
