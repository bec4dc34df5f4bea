"""Vertex AI in the client: configuration by the SDK's names, bearer tokens kept fresh, paths.

Pure tests: httpx.MockTransport stands in for the service and a fake google-auth credentials
object (with a clock the test moves) stands in for the token endpoint; the emulator-backed
flow (real service-account files, signed JWTs) is in tests/emulator/test_vertex_emulator.py.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import httpx
import pytest
from google.auth import exceptions as auth_exceptions

from gemini_vision.api import GeminiClient, wire
from gemini_vision.api.backend import resolve_vertex, vertex_host
from gemini_vision.api.config import ClientConfig
from gemini_vision.api.credentials import AccessTokens
from gemini_vision.errors import AuthenticationError, ConfigurationError

REQUEST = wire.GenerateContentRequest(
    contents=[wire.Content(role="user", parts=[wire.Part(text="hi")])]
)
ANSWER = {"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}}]}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


class FakeCredentials:
    """google-auth's credential protocol: ``refresh(request)`` sets ``token`` and ``expiry``."""

    def __init__(self, clock: Clock, lifetime: float = 3600.0, *, refuse: bool = False) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.refuse = refuse
        self.token: str | None = None
        self.expiry: dt.datetime | None = None
        self.refreshes = 0
        self.service_account_email = "labeller@proj-123.iam.gserviceaccount.com"
        self._lock = threading.Lock()

    def refresh(self, request: Any) -> None:
        if self.refuse:
            raise auth_exceptions.RefreshError(
                "invalid_grant: Invalid JWT Signature.", {"error": "invalid_grant"}
            )
        with self._lock:
            self.refreshes += 1
            number = self.refreshes
        time.sleep(0.01)  # a real exchange takes a while: concurrent callers must wait for it
        self.token = f"ya29.fake-token-{number}"
        moment = dt.datetime.fromtimestamp(self.clock() + self.lifetime, dt.timezone.utc)
        self.expiry = moment.replace(tzinfo=None)  # google-auth keeps naive UTC


def tokens_for(credentials: FakeCredentials, clock: Clock) -> AccessTokens:
    return AccessTokens(credentials, request_factory=lambda: None, clock=clock)


# -- configuration ------------------------------------------------------------------------------


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in (
        "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_CLOUD_PROJECT",
        "GOOGLE_CLOUD_LOCATION",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GOOGLE_VERTEX_BASE_URL",
        "GOOGLE_API_KEY",
        "GEMINI_API_KEY",
    ):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_sdk_names_choose_vertex_its_project_location_and_host(
    clean_env: pytest.MonkeyPatch,
) -> None:
    credentials = FakeCredentials(Clock())
    clean_env.setenv("GOOGLE_GENAI_USE_VERTEXAI", "True")
    clean_env.setenv("GOOGLE_CLOUD_PROJECT", "proj-123")
    config = ClientConfig.resolve(credentials=credentials)
    assert config.vertex is not None and config.api_key is None
    assert (config.vertex.project, config.vertex.location) == ("proj-123", "global")
    assert config.api_root == "https://aiplatform.googleapis.com/v1"
    clean_env.setenv("GOOGLE_CLOUD_LOCATION", "europe-west4")
    regional = ClientConfig.resolve(credentials=credentials)
    assert regional.base_url == "https://europe-west4-aiplatform.googleapis.com"
    assert "project proj-123, location europe-west4" in regional.backend_name
    assert "labeller@proj-123.iam.gserviceaccount.com" in regional.backend_name
    clean_env.setenv("GOOGLE_VERTEX_BASE_URL", "http://127.0.0.1:9/")
    assert ClientConfig.resolve(credentials=credentials).base_url == "http://127.0.0.1:9"
    # secrets (a FiftyOne secret store) win over the environment; arguments over both
    secrets = {"GOOGLE_CLOUD_PROJECT": "from-secrets-1", "GOOGLE_CLOUD_LOCATION": "us-east5"}
    config = ClientConfig.resolve(credentials=credentials, secrets=secrets, location="asia-east1")
    assert config.vertex is not None
    assert (config.vertex.project, config.vertex.location) == ("from-secrets-1", "asia-east1")
    # the flag off (or unset): the Developer API, whatever else is set
    clean_env.setenv("GOOGLE_GENAI_USE_VERTEXAI", "false")
    assert ClientConfig.resolve("key-1").vertex is None


def test_model_paths_on_each_backend() -> None:
    target, _, _ = resolve_vertex(project="proj-123", location="us-central1", credentials=object())
    assert target.model_resource("gemini-2.5-flash") == (
        "projects/proj-123/locations/us-central1/publishers/google/models/gemini-2.5-flash"
    )
    assert target.model_resource("models/gemini-2.5-flash").endswith("/models/gemini-2.5-flash")
    express, key, tokens = resolve_vertex(api_key="express-key-1")
    assert key == "express-key-1" and tokens is None and express.express
    assert express.model_resource("gemini-2.5-flash") == (
        "publishers/google/models/gemini-2.5-flash"
    )
    assert express.base_url == vertex_host(None) == "https://aiplatform.googleapis.com"
    with pytest.raises(ConfigurationError, match="Invalid model name"):
        target.model_resource("gemini 2.5/../x y")


def test_what_is_missing_is_said_exactly(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("GOOGLE_GENAI_USE_VERTEXAI", "1")
    # a Developer API key is not an express-mode key: without a project nothing can be sent
    clean_env.setenv("GEMINI_API_KEY", "developer-key")
    with pytest.raises(ConfigurationError) as missing:
        ClientConfig.resolve()
    text = str(missing.value)
    assert "GOOGLE_APPLICATION_CREDENTIALS" in text or "GOOGLE_CLOUD_PROJECT" in text
    # credentials that name no project, and no GOOGLE_CLOUD_PROJECT
    with pytest.raises(ConfigurationError, match="needs a Google Cloud project"):
        ClientConfig.resolve(credentials=FakeCredentials(Clock()))
    with pytest.raises(ConfigurationError, match="Invalid Google Cloud project"):
        ClientConfig.resolve(credentials=FakeCredentials(Clock()), project="Bad Project!")
    with pytest.raises(ConfigurationError, match="Invalid GOOGLE_CLOUD_LOCATION"):
        ClientConfig.resolve(credentials=object(), project="proj-123", location="../x")
    clean_env.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")
    with pytest.raises(ConfigurationError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        ClientConfig.resolve(project="proj-123")


def test_no_credentials_anywhere_is_a_sentence_with_the_three_ways(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    with pytest.raises(ConfigurationError) as missing:
        ClientConfig.resolve(project="proj-123")
    text = str(missing.value)
    assert "No Google Cloud credentials" in text
    for way in (
        "GOOGLE_APPLICATION_CREDENTIALS",
        "gcloud auth application-default login",
        "GOOGLE_API_KEY",
    ):
        assert way in text


# -- tokens ---------------------------------------------------------------------------------------


def test_a_token_is_replaced_before_it_expires_not_after() -> None:
    clock = Clock()
    credentials = FakeCredentials(clock, lifetime=100.0)
    tokens = tokens_for(credentials, clock)
    first = tokens.token()
    clock.now += 70  # inside the last quarter of its life (100 s): still used
    assert tokens.token() == first and credentials.refreshes == 1
    clock.now += 6  # 76 s: replaced, 24 s before it would expire
    second = tokens.token()
    assert second != first and credentials.refreshes == 2
    # a real one (an hour) is replaced five minutes early, not a quarter of an hour
    hourly = FakeCredentials(clock, lifetime=3600.0)
    long_lived = tokens_for(hourly, clock)
    long_lived.token()
    clock.now += 3600 - 301
    long_lived.token()
    assert hourly.refreshes == 1
    clock.now += 2
    long_lived.token()
    assert hourly.refreshes == 2


def test_a_stale_token_is_refreshed_once_however_many_ask() -> None:
    clock = Clock()
    credentials = FakeCredentials(clock)
    tokens = tokens_for(credentials, clock)
    stale = tokens.token()
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(tokens.token(stale))) for _ in range(32)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert credentials.refreshes == 2  # the first token, and one refresh for all 32 callers
    assert set(results) == {"ya29.fake-token-2"}
    assert tokens.token("ya29.an-older-token") == "ya29.fake-token-2"  # not stale: kept


def test_a_refused_refresh_is_an_authentication_error_without_secrets() -> None:
    clock = Clock()
    tokens = tokens_for(FakeCredentials(clock, refuse=True), clock)
    with pytest.raises(AuthenticationError) as refused:
        tokens.token()
    assert "Invalid JWT Signature" in str(refused.value)
    assert "revoked" in str(refused.value) and refused.value.status_code == 401


# -- requests -------------------------------------------------------------------------------------


def vertex_client(handler: Any, credentials: FakeCredentials, clock: Clock) -> GeminiClient:
    client = GeminiClient(
        vertexai=True,
        project="proj-123",
        location="us-central1",
        credentials=credentials,
        transport=httpx.MockTransport(handler),
    )
    assert client.config.tokens is not None
    client.config.tokens._clock = clock  # the test's clock decides when tokens expire
    client.config.tokens._request_factory = lambda: None
    return client


def test_requests_carry_a_fresh_bearer_token_and_no_key() -> None:
    clock = Clock()
    credentials = FakeCredentials(clock, lifetime=100.0)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=ANSWER)

    with vertex_client(handler, credentials, clock) as client:
        client.generate_content("gemini-2.5-flash", REQUEST)
        clock.now += 80  # past the refresh point: the next request gets a new token
        client.generate_content("gemini-2.5-flash", REQUEST)
        client.count_tokens("gemini-2.5-flash", REQUEST)
    assert [r.headers["authorization"] for r in seen] == [
        "Bearer ya29.fake-token-1",
        "Bearer ya29.fake-token-2",
        "Bearer ya29.fake-token-2",
    ]
    assert all("x-goog-api-key" not in r.headers for r in seen)
    assert seen[0].url.path == (
        "/v1/projects/proj-123/locations/us-central1/publishers/google/models/"
        "gemini-2.5-flash:generateContent"
    )
    assert seen[0].url.host == "us-central1-aiplatform.googleapis.com"
    # Vertex AI's countTokens takes the request's fields at the top level
    assert b"generateContentRequest" not in seen[2].content and b'"contents"' in seen[2].content


def test_a_401_gets_one_fresh_token_and_one_more_try() -> None:
    clock = Clock()
    credentials = FakeCredentials(clock)
    answers = iter([401, 200, 401, 401])

    def handler(request: httpx.Request) -> httpx.Response:
        status = next(answers)
        if status == 401:
            error = {
                "code": 401,
                "message": "Request had invalid authentication credentials.",
                "status": "UNAUTHENTICATED",
            }
            return httpx.Response(401, json={"error": error})
        return httpx.Response(200, json=ANSWER)

    with vertex_client(handler, credentials, clock) as client:
        client.generate_content("gemini-2.5-flash", REQUEST)  # revoked in flight: recovered
        assert client.stats.reauthorized == 1 and credentials.refreshes == 2
        with pytest.raises(AuthenticationError) as refused:  # refused again: not a third try
            client.generate_content("gemini-2.5-flash", REQUEST)
    assert credentials.refreshes == 3 and client.stats.requests == 4
    for number in (1, 2, 3):
        assert f"fake-token-{number}" not in str(refused.value)


def test_developer_api_only_features_are_refused_on_vertex() -> None:
    clock = Clock()

    def handler(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"nothing may be sent, got {request.url}")

    with vertex_client(handler, FakeCredentials(clock), clock) as client:
        for call in (
            lambda: client.upload_file(b"\x89PNG", mime_type="image/png"),
            lambda: client.create_batch("gemini-2.5-flash", [("k", REQUEST)]),
            lambda: client.list_models(),
        ):
            with pytest.raises(ConfigurationError, match="Vertex AI does not offer"):
                call()
