"""Where image bytes come from: a local path, the bytes themselves, or an http(s) URL.

URLs are streamed with a size cap and an overall deadline; errors are :class:`~.errors.ImageError`
naming the source — for URLs without their query string, since signed URLs carry secrets there.
"""

from __future__ import annotations

import os
import time
from typing import Union
from urllib.parse import urlsplit

import httpx

from gemini_vision.errors import ImageError

__all__ = ["ImageSource", "describe_url", "download", "read_source"]

#: a local path, an http(s) URL, or the file's bytes
ImageSource = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview]


def read_source(
    source: ImageSource, *, max_bytes: int, timeout: float, http_client: httpx.Client | None
) -> tuple[bytes, str]:
    """The bytes of ``source`` and a description of it for error messages."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return data, f"<{len(data)} bytes>"
    if isinstance(source, str) and source[:8].lower().startswith(("http://", "https://")):
        return download(source, max_bytes=max_bytes, timeout=timeout, client=http_client)
    path = os.fspath(source)
    if isinstance(path, str) and "://" in path:
        raise ImageError(
            "unsupported URL scheme: pass a local path, an http(s) URL or bytes", source=path
        )
    try:
        with open(path, "rb") as f:
            return f.read(), str(path)
    except FileNotFoundError as exc:
        raise ImageError("file not found", source=str(path)) from exc
    except IsADirectoryError as exc:
        raise ImageError("is a directory, not an image file", source=str(path)) from exc
    except OSError as exc:
        raise ImageError(
            f"cannot read the file ({exc.strerror or exc})", source=str(path)
        ) from exc


def describe_url(url: str) -> str:
    """The URL without credentials or query string (signed URLs carry secrets there)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}" + ("?..." if parts.query else "")


def download(
    url: str, *, max_bytes: int, timeout: float, client: httpx.Client | None
) -> tuple[bytes, str]:
    desc = describe_url(url)
    deadline = time.monotonic() + timeout  # httpx's timeout is per read, not overall
    too_big = f"download exceeds max_download_bytes={max_bytes}"
    chunks: list[bytes] = []
    stream = client.stream if client is not None else httpx.stream
    try:
        with stream("GET", url, timeout=timeout, follow_redirects=True) as resp:
            if resp.status_code >= 400:
                status = f"HTTP {resp.status_code} {resp.reason_phrase}"
                raise ImageError(f"download failed: {status}", source=desc)
            declared = resp.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise ImageError(f"{too_big} (declares {declared} bytes)", source=desc)
            total = 0
            for chunk in resp.iter_bytes():
                total += len(chunk)
                if total > max_bytes:
                    raise ImageError(too_big, source=desc)
                if time.monotonic() > deadline:
                    raise ImageError(f"download took longer than {timeout:g} s", source=desc)
                chunks.append(chunk)
    except httpx.TimeoutException as exc:
        raise ImageError(f"download timed out after {timeout:g} s", source=desc) from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise ImageError(f"download failed: {type(exc).__name__}: {exc}", source=desc) from exc
    return b"".join(chunks), desc
