"""Google Cloud credentials that work against a running emulator, for tests and the demo.

:func:`service_account_file` writes a real service-account key file (a fresh RSA key pair)
whose ``token_uri`` is the emulator's token endpoint, and registers its public key there, so
google-auth's whole flow - signed JWT in, short-lived access token out - runs offline.
:func:`user_credentials_file` does the same for a user's ``gcloud auth application-default
login`` file (a refresh token); google-auth sends such a token to Google's own endpoint
whatever the file says, so a test redirects
``google.oauth2.credentials._GOOGLE_OAUTH2_TOKEN_ENDPOINT`` to the emulator's.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gemini_vision.emulator.server.http import Emulator

__all__ = ["DEFAULT_PROJECT", "service_account_file", "user_credentials_file"]

DEFAULT_PROJECT = "emulated-project"


def _write_private(path: Path, info: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump(info, out, indent=2)
    return path


def service_account_file(
    emulator: Emulator,
    path: str | os.PathLike[str],
    *,
    project: str = DEFAULT_PROJECT,
    name: str = "gemini-labeller",
) -> Path:
    """A service-account key file at ``path`` for ``name@{project}.iam.gserviceaccount.com``,
    trusted by ``emulator`` (mode 0600, like a downloaded key)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    email = f"{name}@{project}.iam.gserviceaccount.com"
    emulator.config.service_accounts[email] = public_pem
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": secrets.token_hex(20),
        "private_key": private_pem,
        "client_email": email,
        "client_id": str(10**20 + secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": f"{emulator.base_url}/token",
        "universe_domain": "googleapis.com",
    }
    return _write_private(Path(path), info)


def user_credentials_file(
    emulator: Emulator, path: str | os.PathLike[str], *, quota_project: str | None = None
) -> Path:
    """A user's application-default credentials file (``authorized_user``) at ``path`` whose
    refresh token ``emulator`` accepts."""
    refresh_token = "1//emulated-" + secrets.token_urlsafe(24)
    if emulator.config.refresh_tokens is None:
        emulator.config.refresh_tokens = set()
    emulator.config.refresh_tokens.add(refresh_token)
    info: dict[str, Any] = {
        "type": "authorized_user",
        "client_id": "emulated-client.apps.googleusercontent.com",
        "client_secret": "emulated-" + secrets.token_urlsafe(12),
        "refresh_token": refresh_token,
        "token_uri": f"{emulator.base_url}/token",
        "universe_domain": "googleapis.com",
    }
    if quota_project:
        info["quota_project_id"] = quota_project
    return _write_private(Path(path), info)
