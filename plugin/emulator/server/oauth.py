"""Google's OAuth 2.0 token endpoint, as google-auth uses it, and the access tokens it issues.

A service-account key file names this endpoint as its ``token_uri``; google-auth then posts a
JWT it signed with the file's private key (``grant_type=urn:ietf:params:oauth:grant-type:
jwt-bearer``) and gets a short-lived access token back. A user's ``gcloud auth
application-default login`` file posts its refresh token instead (``grant_type=
refresh_token``). Both answer ``{"access_token", "expires_in", "token_type": "Bearer"}``, or
``400 {"error": "invalid_grant", "error_description": ...}`` as the real endpoint does.

The JWT's signature is checked against the public keys registered in
:attr:`EmulatorConfig.service_accounts`; accounts and refresh tokens listed in
``revoked_credentials`` are refused. Issued tokens expire after ``token_lifetime`` seconds;
a request carrying an expired token is answered 401 and counted. Tokens are never logged.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from gemini_vision.emulator.config import EmulatorConfig
from gemini_vision.emulator.server.rpc import ApiError
from gemini_vision.emulator.server.transport import HttpCall, HttpReply, json_reply

__all__ = ["TOKEN_PATH", "TokenAuthority"]

TOKEN_PATH = "/token"
_JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True)
class _Issued:
    subject: str
    expires_at: float


def _grant_error(description: str, error: str = "invalid_grant") -> HttpReply:
    return json_reply({"error": error, "error_description": description}, 400)


class TokenAuthority:
    """Issues access tokens and checks the ones requests carry (thread-safe)."""

    def __init__(self, clock: Any = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._issued: dict[str, _Issued] = {}
        self._every: list[str] = []
        #: tokens issued, requests refused for carrying an expired token
        self.issued = 0
        self.expired_uses = 0

    def token_endpoint(self, call: HttpCall, config: EmulatorConfig) -> HttpReply:
        """``POST /token`` with a form body: a signed JWT, or a refresh token."""
        form = {k: v[0] for k, v in parse_qs(call.body.decode("utf-8", "replace")).items()}
        grant = form.get("grant_type")
        if grant == _JWT_GRANT:
            subject = self._service_account(form.get("assertion", ""), config)
        elif grant == "refresh_token":
            subject = self._user(form, config)
        else:
            return _grant_error(f"Invalid grant_type: {grant}", "unsupported_grant_type")
        if isinstance(subject, HttpReply):
            return subject
        token = "ya29.emulated-" + secrets.token_urlsafe(32)
        lifetime = max(1, int(config.token_lifetime))
        with self._lock:
            self._issued[token] = _Issued(subject, self._clock() + lifetime)
            self._every.append(token)
            self.issued += 1
        return json_reply({"access_token": token, "expires_in": lifetime, "token_type": "Bearer"})

    def _service_account(self, assertion: str, config: EmulatorConfig) -> str | HttpReply:
        from google.auth import exceptions, jwt

        try:
            claims = jwt.decode(assertion, verify=False)
        except (ValueError, exceptions.GoogleAuthError):
            return _grant_error(
                "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe."
            )
        account = str(claims.get("iss", ""))
        public_key = config.service_accounts.get(account)
        if public_key is None:
            return _grant_error("Invalid grant: account not found")
        try:
            jwt.decode(assertion, certs=public_key, verify=True, clock_skew_in_seconds=60)
        except (ValueError, exceptions.GoogleAuthError):
            return _grant_error("Invalid JWT Signature.")
        if account in config.revoked_credentials:
            return _grant_error("Invalid JWT Signature.")  # what a deleted key gets
        return account

    def _user(self, form: dict[str, str], config: EmulatorConfig) -> str | HttpReply:
        refresh_token = form.get("refresh_token", "")
        if not refresh_token or not form.get("client_id"):
            return _grant_error("Missing required parameter: refresh_token", "invalid_request")
        known = config.refresh_tokens
        if refresh_token in config.revoked_credentials or (
            known is not None and refresh_token not in known
        ):
            return _grant_error("Token has been expired or revoked.")
        return f"user:{form['client_id']}"

    def check(self, call: HttpCall) -> str:
        """The subject of the call's bearer token; 401 when it is missing, unknown or expired."""
        header = call.headers.get("Authorization") or ""
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ApiError.unauthenticated()
        with self._lock:
            issued = self._issued.get(token.strip())
            if issued is not None and self._clock() >= issued.expires_at:
                self.expired_uses += 1
                issued = None
        if issued is None:
            raise ApiError.unauthenticated()
        return issued.subject

    def all_issued(self) -> list[str]:
        """Every token ever issued, revoked ones included (for tests looking for leaks)."""
        with self._lock:
            return list(self._every)

    def revoke_all(self) -> None:
        """Forgets every issued token (a revoked key's tokens stop working too)."""
        with self._lock:
            self._issued.clear()
