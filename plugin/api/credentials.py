"""Google Cloud credentials for Vertex AI: loaded with ``google-auth``, turned into bearer tokens.

:func:`load_credentials` finds the credentials the way Google's libraries do (Application
Default Credentials): a service-account or user file named by ``GOOGLE_APPLICATION_CREDENTIALS``
(a path, or the file's JSON itself when given as a FiftyOne secret), else the user's ``gcloud
auth application-default login``, else the metadata server of a Google Cloud machine. Signing
and exchanging the JWT is google-auth's work, not ours.

:class:`AccessTokens` hands out the current access token to every request and refreshes it
*before* it expires (a quarter of its life early, at most five minutes) and once more when the
server answers 401 - one refresh at a time, however many requests are in flight. Tokens are
held as :class:`pydantic.SecretStr` and only ever written into an ``Authorization`` header.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from pydantic import SecretStr

from gemini_vision.api.config import SecretSource, lookup
from gemini_vision.errors import (
    APIConnectionError,
    AuthenticationError,
    ConfigurationError,
    redact,
)

__all__ = [
    "CLOUD_PLATFORM_SCOPE",
    "CREDENTIALS_NAME",
    "REFRESH_REFUSED",
    "AccessTokens",
    "load_credentials",
]

logger = logging.getLogger(__name__)

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
#: a service-account or user credentials file (a path; as a FiftyOne secret also its JSON)
CREDENTIALS_NAME = "GOOGLE_APPLICATION_CREDENTIALS"
#: a token is refreshed this share of its life before it expires ...
_EARLY_SHARE = 0.25
#: ... but never more than this many seconds early (real tokens live an hour)
_EARLY_MAX_SECONDS = 300.0

#: how a refused refresh's message begins
REFRESH_REFUSED = "Google Cloud refused to issue an access token for Vertex AI"

NO_CREDENTIALS_HELP = (
    "No Google Cloud credentials found for Vertex AI. Set GOOGLE_APPLICATION_CREDENTIALS to a "
    "service-account key file (environment or FiftyOne secret), run `gcloud auth "
    "application-default login`, pass credentials=... in Python, or use an express-mode key "
    "in GOOGLE_API_KEY without a project."
)


def load_credentials(secrets: SecretSource | None = None) -> tuple[Any, str | None]:
    """(google-auth credentials scoped for Vertex AI, the project they name or None).

    Raises ConfigurationError naming the file and the cause when the credentials cannot be
    loaded (the file's content is never echoed)."""
    import google.auth
    from google.auth import exceptions

    named = lookup((CREDENTIALS_NAME,), secrets)
    try:
        if named is not None and named.lstrip().startswith("{"):
            info = json.loads(named)
            return google.auth.load_credentials_from_dict(info, scopes=[CLOUD_PLATFORM_SCOPE])
        if named is not None:
            return google.auth.load_credentials_from_file(named, scopes=[CLOUD_PLATFORM_SCOPE])
        return google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE])
    except json.JSONDecodeError:
        raise ConfigurationError(
            f"{CREDENTIALS_NAME} holds text that is neither a file path nor JSON credentials"
        ) from None
    except exceptions.DefaultCredentialsError as exc:
        if named is None:
            raise ConfigurationError(NO_CREDENTIALS_HELP) from None
        where = "the JSON given" if named.lstrip().startswith("{") else repr(named)
        # google-auth's message names the file and the problem, never the key inside
        reason = redact(str(exc).split("\n")[0])
        raise ConfigurationError(
            f"{CREDENTIALS_NAME} ({where}) cannot be used as Google Cloud credentials: {reason}"
        ) from None


def _utc_timestamp(moment: datetime) -> float:
    """google-auth's ``expiry`` is a naive UTC datetime."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


class AccessTokens:
    """The bearer tokens of one set of google-auth credentials (thread-safe).

    ``request_factory`` makes the google-auth transport request used to refresh (default:
    ``google.auth.transport.requests.Request``); ``clock`` is ``time.time``.
    """

    def __init__(
        self,
        credentials: Any,
        *,
        request_factory: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credentials = credentials
        self._request_factory = request_factory
        self._clock = clock
        self._lock = threading.Lock()
        self._token: SecretStr | None = None
        #: when the current token is replaced (a share of its life before it expires)
        self._renew_at = 0.0
        self._issued: list[SecretStr] = []
        #: refreshes done so far (by expiry or by a 401)
        self.refreshes = 0

    @property
    def account(self) -> str | None:
        """The service account's e-mail (None for a user's credentials)."""
        email = getattr(self._credentials, "service_account_email", None)
        return email if isinstance(email, str) and "@" in email else None

    def describe(self) -> str:
        """For forms: ``service account x@p.iam.gserviceaccount.com`` or ``user credentials``."""
        return f"service account {self.account}" if self.account else "user credentials"

    def needs_refresh(self, stale: str | None = None) -> bool:
        """Whether :meth:`token` would refresh first: no token yet, too close to its expiry,
        or it is ``stale`` (the token a 401 was answered to)."""
        token = self._token
        if token is None or self._clock() >= self._renew_at:
            return True
        return stale is not None and token.get_secret_value() == stale

    def token(self, stale: str | None = None) -> str:
        """A token to send now, refreshed first when :meth:`needs_refresh` says so.

        Requests arriving while another refreshes wait for it and share its token."""
        if not self.needs_refresh(stale):
            return self._current()
        with self._lock:
            if self.needs_refresh(stale):
                self._refresh()
            return self._current()

    def known(self) -> tuple[str, ...]:
        """Every token handed out so far (for scrubbing server texts)."""
        return tuple(token.get_secret_value() for token in self._issued)

    def _current(self) -> str:
        token = self._token
        assert token is not None
        return token.get_secret_value()

    def _refresh(self) -> None:
        from google.auth import exceptions

        try:
            self._credentials.refresh(self._make_request())
        except exceptions.RefreshError as exc:
            raise AuthenticationError(
                f"{REFRESH_REFUSED} ({self._reason(exc)}): the service-account key may be "
                "revoked or deleted, or the user's login expired; create a new key, or run "
                "`gcloud auth application-default login` again",
                status_code=401,
                status="UNAUTHENTICATED",
            ) from None
        except exceptions.TransportError as exc:
            raise APIConnectionError(
                f"could not reach Google's token endpoint to refresh the access token "
                f"({self._reason(exc)})"
            ) from None
        value = getattr(self._credentials, "token", None)
        if not isinstance(value, str) or not value:
            raise AuthenticationError(
                "Google Cloud credentials refreshed without an access token",
                status_code=401,
                status="UNAUTHENTICATED",
            )
        now = self._clock()
        expiry = getattr(self._credentials, "expiry", None)
        if isinstance(expiry, datetime):
            life = max(0.0, _utc_timestamp(expiry) - now)
            self._renew_at = now + life - min(_EARLY_MAX_SECONDS, life * _EARLY_SHARE)
        else:  # no expiry announced: kept until the server refuses it
            self._renew_at = float("inf")
        self._token = SecretStr(value)
        self._issued.append(self._token)
        self.refreshes += 1
        logger.debug("Vertex AI access token refreshed (%d so far)", self.refreshes)

    def _make_request(self) -> Any:
        if self._request_factory is not None:
            return self._request_factory()
        from google.auth.transport.requests import Request

        return Request()

    def _reason(self, exc: Exception) -> str:
        text = str(exc.args[0]) if exc.args else type(exc).__name__
        return redact(" ".join(text.split())[:300], *self.known())

    def __repr__(self) -> str:
        return f"AccessTokens({self.describe()}, token='***')"
