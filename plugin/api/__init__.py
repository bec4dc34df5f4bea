"""The Gemini REST API (Developer API and Vertex AI): clients, wire models, configuration,
credentials, retries and the Files API.

::

    config       where the key and base URL come from (argument, secret, environment)
    backend      Vertex AI or the Developer API: project, location, host, model paths
    credentials  Google Cloud credentials (google-auth) as bearer tokens, refreshed in time
    access       one free countTokens call: is this project / location / model usable?
    storage      the first bytes of gs:// objects (Cloud Storage JSON API)
    wire         pydantic models of the REST envelope, shared with the emulator
    effects      Send, Sleep, Authorize: how an operation asks for I/O without doing it
    operations   every API call as a generator of effects: URLs, headers, bodies, checks (no I/O)
    status       error responses and transport failures -> the exception tree; retry delays
    retry        whether and when to try again (RetryPolicy), the retry loop, ClientStats
    files        the Files API: resumable upload, waiting for ACTIVE, inline-or-upload
    driver       running an operation's effects; reading answers within their size and time
    client       GeminiClient (httpx.Client) and AsyncGeminiClient (httpx.AsyncClient)
    transport    httpx transports: aiohttp underneath (the engine's), or small httpcore pools
    model_list   the models a user can pick (live ``models.list``, cached, with a fallback)

Nothing here imports FiftyOne.
"""

from gemini_vision.api import wire
from gemini_vision.api.client import (
    AsyncGeminiClient,
    ClientOptions,
    GeminiClient,
    answer_text,
)
from gemini_vision.api.config import (
    API_KEY_NAMES,
    BASE_URL_NAME,
    DEFAULT_BASE_URL,
    ClientConfig,
    SecretSource,
    resolve_api_key,
    resolve_base_url,
)
from gemini_vision.api.files import file_is_usable, fits_inline
from gemini_vision.api.model_list import list_models
from gemini_vision.api.operations import model_path
from gemini_vision.api.retry import ClientStats, RetryPolicy
from gemini_vision.api.transport import AiohttpTransport, ShardedTransport

__all__ = [
    "API_KEY_NAMES",
    "BASE_URL_NAME",
    "DEFAULT_BASE_URL",
    "AiohttpTransport",
    "AsyncGeminiClient",
    "ClientConfig",
    "ClientOptions",
    "ClientStats",
    "GeminiClient",
    "RetryPolicy",
    "SecretSource",
    "ShardedTransport",
    "answer_text",
    "file_is_usable",
    "fits_inline",
    "list_models",
    "model_path",
    "resolve_api_key",
    "resolve_base_url",
    "wire",
]
