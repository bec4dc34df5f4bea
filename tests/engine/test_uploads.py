"""Uploads are recorded per project under a keyed digest: never the key, nor its plain hash."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gemini_vision.engine import uploads


def test_the_namespace_is_keyed_by_a_secret_of_the_installation() -> None:
    one = uploads.upload_namespace("https://x", "AIzaKEY", secret=b"a" * 32)
    assert one == uploads.upload_namespace("https://x/", "AIzaKEY", secret=b"a" * 32)
    assert one != uploads.upload_namespace("https://x", "AIzaKEY", secret=b"b" * 32)
    assert one != uploads.upload_namespace("https://x", "AIzaOTHER", secret=b"a" * 32)
    plain = hashlib.sha256(b"https://x\0AIzaKEY").hexdigest()[:24]
    assert one != plain and "AIza" not in one


def test_the_secret_is_made_once_and_kept_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    first = uploads._read_or_make_secret()
    path = tmp_path / uploads.SECRET_FILE
    assert path.read_bytes() == first and len(first) == 32
    assert path.stat().st_mode & 0o777 == 0o600
    assert uploads._read_or_make_secret() == first  # kept: every process of this user agrees
