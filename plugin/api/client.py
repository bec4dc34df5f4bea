"""GeminiClient and AsyncGeminiClient: the Gemini REST API over httpx, with typed errors.

Both clients are thin shells around one :class:`~gemini_vision.api.operations.Operations`, which
describes every call as a generator of effects (see :mod:`gemini_vision.api.effects`): URL
building, headers, body serialisation, retries, error mapping and response checks are written
once.
The sync client performs the effects with ``httpx.Client`` and ``time.sleep``; the async one
with ``httpx.AsyncClient`` and ``asyncio.sleep``.

The API key only ever travels in the ``x-goog-api-key`` header of requests to the API itself
(on Vertex AI with Google Cloud credentials: an access token in the ``Authorization`` header,
filled in as each request is sent, see :mod:`gemini_vision.api.credentials`).
Upload-chunk requests go to the session URL the server returned and carry no key. Redirects
are not followed, because httpx would forward the key header to another host.

Example::

    with GeminiClient() as client:  # key from GEMINI_API_KEY / GOOGLE_API_KEY
        request = wire.GenerateContentRequest(contents=[wire.Content(parts=[...])])
        text = answer_text(client.generate_content("gemini-2.5-flash", request))
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypedDict, TypeVar

import httpx
from typing_extensions import Unpack

from gemini_vision.api import wire
from gemini_vision.api.access import check_access
from gemini_vision.api.answers import answer_text
from gemini_vision.api.config import (
    DEFAULT_API_VERSION,
    DEFAULT_TIMEOUT,
    ClientConfig,
    SecretSource,
)
from gemini_vision.api.driver import Driver, past_deadline, read_back, take_chunk
from gemini_vision.api.effects import Authorize, Effect, Op, Send, Sleep
from gemini_vision.api.files import UploadSource
from gemini_vision.api.operations import Operations, model_path
from gemini_vision.api.retry import ClientStats, RetryLoop, RetryPolicy
from gemini_vision.errors import GeminiVisionError

__all__ = [
    "AsyncGeminiClient",
    "ClientOptions",
    "ClientStats",
    "GeminiClient",
    "RetryPolicy",
    "answer_text",
    "model_path",
]

T = TypeVar("T")


class ClientOptions(TypedDict, total=False):
    """Keyword options shared by both clients (see :class:`GeminiClient`)."""

    base_url: str | None
    api_version: str
    timeout: float | httpx.Timeout
    retry: RetryPolicy | None
    secrets: SecretSource | None
    on_rate_limited: Callable[[float | None], None] | None
    inline_limit_bytes: int | None
    upload_chunk_size: int | None
    max_response_bytes: int | None
    deadline: float | None
    rng: random.Random | None
    vertexai: bool | None
    project: str | None
    location: str | None
    credentials: Any


class _ClientBase:
    """Configuration, statistics and the shared operations; subclasses only send and sleep."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        api_version: str = DEFAULT_API_VERSION,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        secrets: SecretSource | None = None,
        on_rate_limited: Callable[[float | None], None] | None = None,
        inline_limit_bytes: int | None = None,
        upload_chunk_size: int | None = None,
        max_response_bytes: int | None = None,
        deadline: float | None = None,
        rng: random.Random | None = None,
        vertexai: bool | None = None,
        project: str | None = None,
        location: str | None = None,
        credentials: Any = None,
    ) -> None:
        self.config = ClientConfig.resolve(
            api_key,
            secrets=secrets,
            vertexai=vertexai,
            project=project,
            location=location,
            credentials=credentials,
            base_url=base_url,
            api_version=api_version,
            timeout=timeout,
            inline_limit_bytes=inline_limit_bytes,
            upload_chunk_size=upload_chunk_size,
            max_response_bytes=max_response_bytes,
            deadline=deadline,
        )
        #: counters over the client's life: requests, retries, by_status, rate_limited, ...
        self.stats = ClientStats()
        loop = RetryLoop(
            retry or RetryPolicy(),
            self.stats,
            secrets=(self.config.api_key,) if self.config.api_key is not None else (),
            on_rate_limited=on_rate_limited,
            rng=rng,
            max_bytes=self.config.max_response_bytes,
            deadline=self.config.deadline,
            tokens=self.config.tokens.known if self.config.tokens is not None else None,
        )
        self._ops = Operations(self.config, loop)

    def _authorize(self, effect: Authorize) -> None:
        """Puts the current access token on the request (the caller refreshed it if needed)."""
        tokens = self.config.tokens
        if tokens is None:  # an express-mode or Developer API key is already on the request
            return
        effect.request.headers["authorization"] = f"Bearer {tokens.token(effect.stale)}"

    @property
    def retry_policy(self) -> RetryPolicy:
        """The policy every request of this client goes through."""
        return self._ops.loop.policy

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.config.base_url!r}, "
            f"api_version={self.config.api_version!r}, api_key='***')"
        )


class GeminiClient(_ClientBase):
    """Synchronous Gemini client (thread-safe; share one per process).

    - ``api_key``: else ``secrets`` (FiftyOne's ``ctx.secrets``), else the environment
      (GEMINI_API_KEY, GOOGLE_API_KEY); without one, ConfigurationError says how to set it;
    - ``base_url``: else GOOGLE_GEMINI_BASE_URL, else the public endpoint; ``api_version``;
    - ``vertexai`` (else GOOGLE_GENAI_USE_VERTEXAI), ``project``, ``location`` and
      google-auth ``credentials``: Vertex AI instead (see :mod:`gemini_vision.api.backend`);
    - ``timeout``: seconds, or an ``httpx.Timeout`` (default 120 s read, 10 s connect);
    - ``retry``: a :class:`RetryPolicy`; ``on_rate_limited(retry_after)`` hears every 429;
    - ``inline_limit_bytes`` (image_part) and ``upload_chunk_size`` (uploads), in bytes;
    - ``sleep``, ``transport`` / ``http_client`` and ``rng`` (jitter) are injectable.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        http_client: httpx.Client | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(api_key, **options)
        self._http = http_client or httpx.Client(transport=transport, follow_redirects=False)
        self._owns_http = http_client is None
        self._sleep = sleep

    def close(self) -> None:
        """Closes the connection pool (only if this client created it)."""
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> GeminiClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, Sleep):
            return self._sleep(effect.seconds)
        if isinstance(effect, Authorize):
            try:
                return self._authorize(effect)
            except GeminiVisionError as exc:
                return exc
        started = time.monotonic()
        try:
            response = self._http.send(effect.request, stream=True)
            try:
                body = bytearray()
                for chunk in response.iter_bytes():
                    take_chunk(body, chunk, effect, time.monotonic() - started)
            finally:
                response.close()
            return read_back(response, body)
        except httpx.RequestError as exc:
            return exc
        except GeminiVisionError as exc:
            return exc

    def _run(self, op: Op[T]) -> T:
        driver = Driver(op)
        while (effect := driver.next_effect()) is not None:
            driver.resume(self._perform(effect))
        return driver.result

    def generate_content(
        self, model: str, request: wire.GenerateContentRequest
    ) -> wire.GenerateContentResponse:
        """``models/{model}:generateContent``; ``.retries_taken`` says how many retries it took."""
        return self._run(self._ops.generate_content(model, request))

    def count_tokens(
        self, model: str, request: wire.GenerateContentRequest | wire.CountTokensRequest
    ) -> wire.CountTokensResponse:
        """``models/{model}:countTokens`` (a GenerateContentRequest counts system text too)."""
        return self._run(self._ops.count_tokens(model, request))

    def check_access(self, model: str) -> None:
        """On Vertex AI, one free countTokens call: raises (saying what to change) when the
        credentials, the project or the model's location are refused."""
        self._run(check_access(self._ops, model))

    def get_model(self, model: str) -> wire.ModelInfo:
        return self._run(self._ops.get_model(model))

    def list_models(
        self, *, page_size: int = 100, limit: int | None = None
    ) -> list[wire.ModelInfo]:
        """Every model (all pages), or the first ``limit``."""
        return self._run(self._ops.list_models(page_size, limit))

    def upload_file(
        self,
        source: UploadSource,
        *,
        mime_type: str | None = None,
        display_name: str | None = None,
        chunk_size: int | None = None,
    ) -> wire.File:
        """Resumable upload of bytes, a path or a binary file; the File may be PROCESSING."""
        op = self._ops.upload_file(source, mime_type, display_name, chunk_size)
        return self._run(op)

    def get_file(self, name: str) -> wire.File:
        return self._run(self._ops.get_file(name))

    def list_files(self, *, page_size: int = 100, limit: int | None = None) -> list[wire.File]:
        return self._run(self._ops.list_files(page_size, limit))

    def delete_file(self, name: str) -> None:
        self._run(self._ops.delete(name, "files"))

    def wait_until_active(
        self, file: str | wire.File, *, timeout: float = 300.0, poll_interval: float = 2.0
    ) -> wire.File:
        """Polls until ACTIVE (seconds); ImageError if FAILED, APITimeoutError on timeout."""
        return self._run(self._ops.wait_until_active(file, timeout, poll_interval))

    def image_part(
        self,
        data: bytes,
        mime_type: str,
        *,
        other_request_bytes: int = 0,
        display_name: str | None = None,
    ) -> wire.Part:
        """Inline part if the request stays under ``inline_limit_bytes``, else upload + file part.

        ``other_request_bytes``: size of the rest of the request (text, other inline images).
        """
        op = self._ops.image_part(data, mime_type, other_request_bytes, display_name)
        return self._run(op)

    def download_file(self, name: str) -> bytes:
        """Content of a generated file, e.g. a batch's ``responsesFile``."""
        return self._run(self._ops.download_file(name))

    def create_batch(
        self,
        model: str,
        requests: Sequence[tuple[str, wire.GenerateContentRequest]] | None = None,
        *,
        file_name: str | None = None,
        display_name: str | None = None,
    ) -> wire.BatchOperation:
        """A batch from inline ``(key, request)`` pairs or an uploaded JSONL ``file_name``."""
        return self._run(self._ops.create_batch(model, requests, file_name, display_name))

    def get_batch(self, name: str) -> wire.BatchOperation:
        return self._run(self._ops.get_batch(name))

    def list_batches(
        self, *, page_size: int = 100, limit: int | None = None
    ) -> list[wire.BatchOperation]:
        return self._run(self._ops.list_batches(page_size, limit))

    def cancel_batch(self, name: str) -> None:
        self._run(self._ops.cancel_batch(name))

    def delete_batch(self, name: str) -> None:
        self._run(self._ops.delete(name, "batches"))


class AsyncGeminiClient(_ClientBase):
    """Asynchronous twin of :class:`GeminiClient` (same arguments; ``sleep`` is async)."""

    def __init__(
        self,
        api_key: str | None = None,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        super().__init__(api_key, **options)
        self._http = http_client or httpx.AsyncClient(transport=transport, follow_redirects=False)
        self._owns_http = http_client is None
        self._sleep = sleep

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncGeminiClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, Sleep):
            return await self._sleep(effect.seconds)
        if isinstance(effect, Authorize):
            try:
                tokens = self.config.tokens
                if tokens is not None and tokens.needs_refresh(effect.stale):
                    # a refresh is a blocking HTTP exchange: never on the event loop
                    return await asyncio.to_thread(self._authorize, effect)
                return self._authorize(effect)
            except GeminiVisionError as exc:
                return exc
        try:
            return await asyncio.wait_for(self._exchange(effect), effect.deadline)
        except asyncio.TimeoutError:
            return past_deadline(effect)
        except httpx.RequestError as exc:
            return exc
        except GeminiVisionError as exc:
            return exc

    async def _exchange(self, effect: Send) -> httpx.Response:
        response = await self._http.send(effect.request, stream=True)
        try:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                take_chunk(body, chunk, effect, 0.0)  # the deadline is wait_for's
        finally:
            await response.aclose()
        return read_back(response, body)

    async def _run(self, op: Op[T]) -> T:
        driver = Driver(op)
        while (effect := driver.next_effect()) is not None:
            driver.resume(await self._perform(effect))
        return driver.result

    async def generate_content(
        self, model: str, request: wire.GenerateContentRequest
    ) -> wire.GenerateContentResponse:
        return await self._run(self._ops.generate_content(model, request))

    async def count_tokens(
        self, model: str, request: wire.GenerateContentRequest | wire.CountTokensRequest
    ) -> wire.CountTokensResponse:
        return await self._run(self._ops.count_tokens(model, request))

    async def check_access(self, model: str) -> None:
        await self._run(check_access(self._ops, model))

    async def get_model(self, model: str) -> wire.ModelInfo:
        return await self._run(self._ops.get_model(model))

    async def list_models(
        self, *, page_size: int = 100, limit: int | None = None
    ) -> list[wire.ModelInfo]:
        return await self._run(self._ops.list_models(page_size, limit))

    async def upload_file(
        self,
        source: UploadSource,
        *,
        mime_type: str | None = None,
        display_name: str | None = None,
        chunk_size: int | None = None,
    ) -> wire.File:
        op = self._ops.upload_file(source, mime_type, display_name, chunk_size)
        return await self._run(op)

    async def get_file(self, name: str) -> wire.File:
        return await self._run(self._ops.get_file(name))

    async def list_files(
        self, *, page_size: int = 100, limit: int | None = None
    ) -> list[wire.File]:
        return await self._run(self._ops.list_files(page_size, limit))

    async def delete_file(self, name: str) -> None:
        await self._run(self._ops.delete(name, "files"))

    async def wait_until_active(
        self, file: str | wire.File, *, timeout: float = 300.0, poll_interval: float = 2.0
    ) -> wire.File:
        return await self._run(self._ops.wait_until_active(file, timeout, poll_interval))

    async def image_part(
        self,
        data: bytes,
        mime_type: str,
        *,
        other_request_bytes: int = 0,
        display_name: str | None = None,
    ) -> wire.Part:
        op = self._ops.image_part(data, mime_type, other_request_bytes, display_name)
        return await self._run(op)

    async def download_file(self, name: str) -> bytes:
        return await self._run(self._ops.download_file(name))

    async def create_batch(
        self,
        model: str,
        requests: Sequence[tuple[str, wire.GenerateContentRequest]] | None = None,
        *,
        file_name: str | None = None,
        display_name: str | None = None,
    ) -> wire.BatchOperation:
        return await self._run(self._ops.create_batch(model, requests, file_name, display_name))

    async def get_batch(self, name: str) -> wire.BatchOperation:
        return await self._run(self._ops.get_batch(name))

    async def list_batches(
        self, *, page_size: int = 100, limit: int | None = None
    ) -> list[wire.BatchOperation]:
        return await self._run(self._ops.list_batches(page_size, limit))

    async def cancel_batch(self, name: str) -> None:
        await self._run(self._ops.cancel_batch(name))

    async def delete_batch(self, name: str) -> None:
        await self._run(self._ops.delete(name, "batches"))
