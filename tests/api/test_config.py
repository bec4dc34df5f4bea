"""Where the API key and base URL come from, and how a missing key is reported."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from gemini_vision.api.config import (
    DEFAULT_BASE_URL,
    ClientConfig,
    resolve_api_key,
    resolve_base_url,
)
from gemini_vision.errors import ConfigurationError


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "GOOGLE_GEMINI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


class FiftyOneLikeSecrets:
    """Mimics FiftyOne's SecretsDictionary: no .get(), None for unknown names."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def __getitem__(self, key: str) -> Any:
        return self._values.get(key)


class ResolvedSecret:
    def __init__(self, value: str) -> None:
        self.value = value


@pytest.mark.parametrize(
    ("explicit", "secrets", "env", "expected"),
    [
        pytest.param("k-arg", {"GEMINI_API_KEY": "k-sec"}, {"GEMINI_API_KEY": "k-env"}, "k-arg",
                     id="explicit-wins"),
        pytest.param(None, {"GOOGLE_API_KEY": "k-google", "GEMINI_API_KEY": "k-gemini"}, {},
                     "k-gemini", id="secrets-gemini-before-google"),
        pytest.param(None, {"GOOGLE_API_KEY": "k-sec"}, {"GEMINI_API_KEY": "k-env"}, "k-sec",
                     id="any-secret-before-env"),
        pytest.param(None, None, {"GOOGLE_API_KEY": "k-google", "GEMINI_API_KEY": "k-gemini"},
                     "k-gemini", id="env-gemini-before-google"),
        pytest.param(None, None, {"GOOGLE_API_KEY": "k-google"}, "k-google", id="env-google"),
        pytest.param("  ", {"GEMINI_API_KEY": ""}, {"GOOGLE_API_KEY": " k-env\n"}, "k-env",
                     id="blank-skipped-and-stripped"),
        pytest.param(None, None, {}, None, id="nothing"),
    ],
)  # fmt: skip
def test_resolve_api_key_precedence(
    monkeypatch: pytest.MonkeyPatch,
    explicit: str | None,
    secrets: dict[str, str] | None,
    env: dict[str, str],
    expected: str | None,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert resolve_api_key(explicit, secrets) == expected


def test_resolve_api_key_reads_fiftyone_secrets_without_get() -> None:
    secrets = FiftyOneLikeSecrets({"GOOGLE_API_KEY": "k-fo"})
    assert resolve_api_key(None, secrets) == "k-fo"


def test_resolve_api_key_unwraps_lazily_resolved_secret_objects() -> None:
    secrets = FiftyOneLikeSecrets({"GEMINI_API_KEY": ResolvedSecret("k-lazy")})
    assert resolve_api_key(None, secrets) == "k-lazy"


def test_resolve_base_url_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_base_url() == DEFAULT_BASE_URL
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", "http://127.0.0.1:9000/")
    assert resolve_base_url() == "http://127.0.0.1:9000"
    secrets = {"GOOGLE_GEMINI_BASE_URL": "http://localhost:8001"}
    assert resolve_base_url(None, secrets) == "http://localhost:8001"
    assert resolve_base_url("https://proxy.example/gemini/", secrets) == (
        "https://proxy.example/gemini"
    )


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("http://127.0.0.1:9000/v1beta", "http://127.0.0.1:9000"),
        (
            "https://generativelanguage.googleapis.com/v1/",
            "https://generativelanguage.googleapis.com",
        ),
        ("https://proxy.example/gemini/v1alpha", "https://proxy.example/gemini"),
        ("https://proxy.example/v1beta-gateway", "https://proxy.example/v1beta-gateway"),
    ],
)
def test_resolve_base_url_drops_a_trailing_api_version(url: str, root: str) -> None:
    assert resolve_base_url(url) == root


@pytest.mark.parametrize(
    "url", ["ftp://host", "generativelanguage.googleapis.com", "https://h/?key=x", "http://"]
)
def test_resolve_base_url_rejects_bad_urls(url: str) -> None:
    with pytest.raises(ConfigurationError, match="base URL"):
        resolve_base_url(url)


def test_plain_http_to_a_remote_host_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="gemini_vision.api.config"):
        resolve_base_url("http://127.0.0.1:8000")
        assert not caplog.records
        resolve_base_url("http://gemini.example.com")
    assert "plain http" in caplog.text


def test_missing_key_error_says_how_to_fix_it() -> None:
    with pytest.raises(ConfigurationError) as info:
        ClientConfig.resolve(None, secrets={})
    message = str(info.value)
    for hint in ("GEMINI_API_KEY", "GOOGLE_API_KEY", "secret", "emulator"):
        assert hint in message


def test_config_repr_and_fields_hide_the_key() -> None:
    config = ClientConfig.resolve("AIzaSyTopSecretValue_000000000000000000")
    assert "TopSecret" not in repr(config)
    assert "TopSecret" not in repr(vars(config))
    assert config.api_key.get_secret_value().endswith("000")


def test_float_timeout_becomes_httpx_timeout_with_short_connect() -> None:
    config = ClientConfig.resolve("k", timeout=300)
    assert isinstance(config.timeout, httpx.Timeout)
    assert config.timeout.read == 300.0
    assert config.timeout.connect == 10.0
    assert ClientConfig.resolve("k").timeout.read == 120.0


@pytest.mark.parametrize("version", ["v1beta", "v1", "v1alpha", "v2beta1"])
def test_api_versions_accepted(version: str) -> None:
    assert ClientConfig.resolve("k", api_version=version).api_root.endswith(f"/{version}")


@pytest.mark.parametrize(
    "options",
    [{"api_version": "beta"}, {"api_version": "v1/../x"}, {"api_version": "v1beta\n"},
     {"upload_chunk_size": 0},
     {"inline_limit_bytes": -1}, {"timeout": 0}],
)  # fmt: skip
def test_invalid_options_raise_configuration_error(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        ClientConfig.resolve("k", **options)


@pytest.mark.parametrize("key", ["AIza key with spaces", "AIzaSy\u2019quote", "a\nb"])
def test_keys_that_cannot_travel_in_a_header_are_rejected_without_echo(key: str) -> None:
    with pytest.raises(ConfigurationError, match="cannot be sent") as info:
        ClientConfig.resolve(key)
    assert key.strip() not in str(info.value)


def test_a_key_ending_in_a_newline_is_rejected_when_built_directly() -> None:
    with pytest.raises(ConfigurationError, match="cannot be sent"):
        ClientConfig(api_key=SecretStr("AIzaSyValid\n"))
