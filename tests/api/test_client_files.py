"""Files API: the resumable upload on the wire, get/list/delete, waiting, expiry, inline/upload."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from support.fakes import (
    BASE,
    KEY,
    Script,
    Sleeps,
    error_body,
    file_resource,
    make_async_client,
    make_client,
)

from gemini_vision import errors
from gemini_vision.api import wire
from gemini_vision.api.files import file_is_usable, fits_inline, inline_size

SESSION = f"{BASE}/upload/v1beta/files?upload_id=u-1&upload_protocol=resumable"


class UploadServer:
    """The resumable protocol's server side, strict about offsets; records every request."""

    def __init__(
        self,
        *,
        session_url: str | None = SESSION,
        final_status: str = "final",
        fail_chunk_once: int | None = None,
    ) -> None:
        self.session_url = session_url
        self.final_status = final_status
        self.fail_chunk_once = fail_chunk_once
        self.requests: list[httpx.Request] = []
        self.received = bytearray()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        command = request.headers.get("x-goog-upload-command", "")
        if command == "start":
            headers = {"X-Goog-Upload-Status": "active"}
            if self.session_url:
                headers["X-Goog-Upload-URL"] = self.session_url
            return httpx.Response(200, headers=headers)
        offset = int(request.headers["x-goog-upload-offset"])
        if offset == self.fail_chunk_once:
            self.fail_chunk_once = None
            return httpx.Response(503, json=error_body(503, "try again", "UNAVAILABLE"))
        if offset != len(self.received):
            return httpx.Response(400, json=error_body(400, "bad offset", "INVALID_ARGUMENT"))
        self.received += request.content
        if "finalize" not in command:
            return httpx.Response(200, headers={"X-Goog-Upload-Status": "active"})
        body = {"file": file_resource("up1", sizeBytes=str(len(self.received)))}
        return httpx.Response(200, headers={"X-Goog-Upload-Status": self.final_status}, json=body)

    @property
    def chunks(self) -> list[httpx.Request]:
        return self.requests[1:]


def test_single_chunk_upload_sends_exactly_the_protocol_headers() -> None:
    server = UploadServer()
    client = make_client(server)
    file = client.upload_file(b"0123456789", mime_type="image/png", display_name="cat")

    assert file.name == "files/up1" and file.size_bytes == 10
    start, chunk = server.requests
    assert str(start.url) == f"{BASE}/upload/v1beta/files"
    assert start.method == "POST"
    assert start.headers["x-goog-api-key"] == KEY
    assert start.headers["content-type"] == "application/json"
    assert start.headers["x-goog-upload-protocol"] == "resumable"
    assert start.headers["x-goog-upload-command"] == "start"
    assert start.headers["x-goog-upload-header-content-length"] == "10"
    assert start.headers["x-goog-upload-header-content-type"] == "image/png"
    assert json.loads(start.content) == {
        "file": {"displayName": "cat", "mimeType": "image/png", "sizeBytes": "10"}
    }
    assert str(chunk.url) == SESSION
    assert "x-goog-api-key" not in chunk.headers
    assert chunk.headers["x-goog-upload-command"] == "upload, finalize"
    assert chunk.headers["x-goog-upload-offset"] == "0"
    assert chunk.content == b"0123456789"


def test_multi_chunk_upload_sends_offsets_and_finalizes_last() -> None:
    server = UploadServer()
    data = bytes(range(10))
    make_client(server).upload_file(data, mime_type="image/png", chunk_size=4)
    commands = [c.headers["x-goog-upload-command"] for c in server.chunks]
    offsets = [c.headers["x-goog-upload-offset"] for c in server.chunks]
    assert commands == ["upload", "upload", "upload, finalize"]
    assert offsets == ["0", "4", "8"]
    assert [len(c.content) for c in server.chunks] == [4, 4, 2]
    assert bytes(server.received) == data
    assert all("x-goog-api-key" not in c.headers for c in server.chunks)


def test_chunk_size_that_divides_the_file_finalizes_on_the_last_full_chunk() -> None:
    server = UploadServer()
    make_client(server).upload_file(b"abcdefgh", mime_type="image/png", chunk_size=4)
    assert [c.headers["x-goog-upload-command"] for c in server.chunks] == [
        "upload",
        "upload, finalize",
    ]


def test_default_chunk_size_is_8_mib() -> None:
    server = UploadServer()
    data = b"x" * (8 * 1024 * 1024 + 5)
    make_client(server).upload_file(data, mime_type="image/png")
    assert [len(c.content) for c in server.chunks] == [8 * 1024 * 1024, 5]


def test_empty_file_is_one_finalize_at_offset_zero() -> None:
    server = UploadServer()
    make_client(server).upload_file(b"", mime_type="image/png")
    (chunk,) = server.chunks
    assert chunk.headers["x-goog-upload-command"] == "upload, finalize"
    assert chunk.headers["x-goog-upload-offset"] == "0"
    assert chunk.content == b""


def test_upload_from_a_path_guesses_the_mime_type(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"\xff\xd8jpegdata")
    server = UploadServer()
    make_client(server).upload_file(path, chunk_size=5)
    assert server.requests[0].headers["x-goog-upload-header-content-type"] == "image/jpeg"
    assert bytes(server.received) == b"\xff\xd8jpegdata"


def test_upload_from_an_open_file_reads_from_its_position() -> None:
    stream = io.BytesIO(b"HEADERpayload")
    stream.seek(6)
    server = UploadServer()
    make_client(server).upload_file(stream, mime_type="image/webp", chunk_size=3)
    assert bytes(server.received) == b"payload"
    assert server.requests[0].headers["x-goog-upload-header-content-length"] == "7"


def test_upload_without_a_mime_type_is_a_configuration_error() -> None:
    server = UploadServer()
    with pytest.raises(errors.ConfigurationError, match="mime_type"):
        make_client(server).upload_file(b"data")
    assert server.requests == []


def test_missing_upload_url_is_a_clear_error_and_nothing_is_sent() -> None:
    server = UploadServer(session_url=None)
    with pytest.raises(errors.InvalidResponseError, match="X-Goog-Upload-URL"):
        make_client(server).upload_file(b"data", mime_type="image/png")
    assert len(server.requests) == 1


def test_finalize_without_final_status_is_a_clear_error() -> None:
    server = UploadServer(final_status="active")
    with pytest.raises(errors.InvalidResponseError, match="X-Goog-Upload-Status 'final'"):
        make_client(server).upload_file(b"data", mime_type="image/png")


def test_chunk_answered_final_too_early_is_an_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["x-goog-upload-command"] == "start":
            return httpx.Response(200, headers={"X-Goog-Upload-URL": SESSION})
        return httpx.Response(200, headers={"X-Goog-Upload-Status": "final"}, json={})

    with pytest.raises(errors.InvalidResponseError, match="byte 0"):
        make_client(handler).upload_file(b"0123456789", mime_type="image/png", chunk_size=4)


def test_failed_chunk_is_retried_at_the_same_offset() -> None:
    server = UploadServer(fail_chunk_once=4)
    make_client(server).upload_file(bytes(10), mime_type="image/png", chunk_size=4)
    offsets = [c.headers["x-goog-upload-offset"] for c in server.chunks]
    assert offsets == ["0", "4", "4", "8"]
    assert len(server.received) == 10


def test_async_multi_chunk_upload() -> None:
    server = UploadServer()
    client = make_async_client(server)
    file = asyncio.run(client.upload_file(b"abcdefghij", mime_type="image/png", chunk_size=3))
    assert file.name == "files/up1"
    assert [c.headers["x-goog-upload-offset"] for c in server.chunks] == ["0", "3", "6", "9"]


# -- get / list / delete ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["abc123", "files/abc123", f"{BASE}/v1beta/files/abc123", "  files/abc123 "]
)
def test_get_file_accepts_ids_names_and_uris(name: str) -> None:
    script = Script().on("GET", "/v1beta/files/abc123", httpx.Response(200, json=file_resource()))
    file = make_client(script).get_file(name)
    assert file.name == "files/abc123"
    assert file.state == wire.FileState.ACTIVE


@pytest.mark.parametrize("name", ["", "files/", "../models/x", "files/a b", "files/x?alt=media"])
def test_get_file_rejects_bad_names_before_sending(name: str) -> None:
    script = Script()
    with pytest.raises(errors.ConfigurationError):
        make_client(script).get_file(name)
    assert script.requests == []


class Pager:
    """Serves ``pages`` keyed by pageToken; records each request's query."""

    def __init__(self, key: str, pages: dict[str | None, tuple[list[dict[str, object]], str]]):
        self.key = key
        self.pages = pages
        self.queries: list[dict[str, str]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.queries.append(dict(request.url.params))
        items, next_token = self.pages[request.url.params.get("pageToken")]
        body: dict[str, object] = {self.key: items}
        if next_token:
            body["nextPageToken"] = next_token
        return httpx.Response(200, json=body)


FILE_PAGES: dict[str | None, tuple[list[dict[str, object]], str]] = {
    None: ([file_resource("a"), file_resource("b")], "t2"),
    "t2": ([file_resource("c"), file_resource("d")], "t3"),
    "t3": ([file_resource("e")], ""),
}


def test_list_files_follows_every_page() -> None:
    pager = Pager("files", FILE_PAGES)
    names = [f.name for f in make_client(pager).list_files(page_size=2)]
    assert names == ["files/a", "files/b", "files/c", "files/d", "files/e"]
    assert pager.queries == [
        {"pageSize": "2"},
        {"pageSize": "2", "pageToken": "t2"},
        {"pageSize": "2", "pageToken": "t3"},
    ]


def test_list_files_stops_at_the_limit() -> None:
    pager = Pager("files", FILE_PAGES)
    names = [f.name for f in make_client(pager).list_files(page_size=2, limit=3)]
    assert names == ["files/a", "files/b", "files/c"]
    assert len(pager.queries) == 2


def test_a_repeated_page_token_stops_the_loop() -> None:
    pager = Pager("files", {None: ([file_resource("a")], "same"), "same": ([], "same")})
    with pytest.raises(errors.InvalidResponseError, match="repeated page token"):
        make_client(pager).list_files()


def test_delete_file_sends_delete() -> None:
    script = Script().on("DELETE", "/v1beta/files/abc123", httpx.Response(200, json={}))
    make_client(script).delete_file("files/abc123")
    assert [r.method for r in script.requests] == ["DELETE"]


def test_missing_file_is_permission_denied_like_the_real_service() -> None:
    body = error_body(403, "You do not have permission to access the File x", "PERMISSION_DENIED")
    script = Script([httpx.Response(403, json=body)])
    with pytest.raises(errors.PermissionDeniedError):
        make_client(script).get_file("x")


# -- waiting for ACTIVE -----------------------------------------------------------------------


def states(*names: str, error: dict[str, object] | None = None) -> Script:
    replies = [httpx.Response(200, json=file_resource(state=s, error=error)) for s in names]
    return Script(list(replies))


def test_wait_until_active_polls_until_active() -> None:
    script = states("PROCESSING", "PROCESSING", "ACTIVE")
    sleeps = Sleeps()
    file = make_client(script, sleep=sleeps).wait_until_active("files/abc123", poll_interval=3)
    assert file.state == wire.FileState.ACTIVE
    assert sleeps == [3.0, 3.0]
    assert len(script.requests) == 3


def test_wait_until_active_raises_image_error_when_processing_failed() -> None:
    script = states("PROCESSING", "FAILED", error={"code": 3, "message": "unsupported codec"})
    with pytest.raises(errors.ImageError, match="unsupported codec"):
        make_client(script).wait_until_active("files/abc123")


def test_wait_until_active_times_out() -> None:
    sleeps = Sleeps()
    client = make_client(states("PROCESSING"), sleep=sleeps)
    with pytest.raises(errors.APITimeoutError, match="still PROCESSING"):
        client.wait_until_active("abc123", timeout=5, poll_interval=2)
    assert sleeps == [2.0, 2.0, 1.0]


def test_wait_until_active_returns_an_active_file_without_a_request() -> None:
    script = Script()
    file = wire.File.model_validate(file_resource(state="ACTIVE"))
    assert make_client(script).wait_until_active(file) is file
    assert script.requests == []


# -- expiry -----------------------------------------------------------------------------------

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("state", "expires_in", "usable"),
    [
        ("ACTIVE", timedelta(hours=47), True),
        ("ACTIVE", timedelta(minutes=30), False),
        ("ACTIVE", -timedelta(minutes=1), False),
        ("PROCESSING", timedelta(hours=47), False),
        ("FAILED", timedelta(hours=47), False),
        ("ACTIVE", None, True),
    ],
)
def test_file_is_usable(state: str, expires_in: timedelta | None, usable: bool) -> None:
    extra = {} if expires_in is None else {"expirationTime": (NOW + expires_in).isoformat()}
    file = wire.File.model_validate(file_resource(state=state, **extra))
    assert file_is_usable(file, now=NOW) is usable


def test_file_is_usable_margin_is_configurable() -> None:
    expires = (NOW + timedelta(minutes=30)).isoformat().replace("+00:00", "Z")
    file = wire.File.model_validate(file_resource(expirationTime=expires))
    assert file_is_usable(file, margin=timedelta(minutes=10), now=NOW)
    assert not file_is_usable(file, margin=timedelta(minutes=40), now=NOW)


# -- inline or upload -------------------------------------------------------------------------


def test_inline_size_is_base64_size() -> None:
    assert [inline_size(n) for n in (0, 1, 2, 3, 4, 300)] == [0, 4, 4, 4, 8, 400]
    for n in (0, 1, 5, 1000):
        assert inline_size(n) == len(base64.b64encode(bytes(n)))


def test_fits_inline_counts_the_rest_of_the_request() -> None:
    assert fits_inline(3000, 0, 5000)
    assert not fits_inline(3000, 1000, 5000)
    assert not fits_inline(3750, 0, 5000)  # 5000 bytes of base64 leave no room for the JSON


def test_small_image_goes_inline_without_requests() -> None:
    script = Script()
    part = make_client(script).image_part(b"\x89PNG small", "image/png")
    assert part.inline_data is not None
    assert part.inline_data.to_bytes() == b"\x89PNG small"
    assert part.inline_data.mime_type == "image/png"
    assert script.requests == []


def test_large_image_is_uploaded_and_referenced_by_uri() -> None:
    server = UploadServer()
    client = make_client(server, inline_limit_bytes=1000)
    part = client.image_part(bytes(800), "image/png")
    assert part.inline_data is None
    assert part.file_data is not None
    assert part.file_data.file_uri == f"{BASE}/v1beta/files/up1"
    assert part.file_data.mime_type == "image/png"
    assert len(server.received) == 800


def test_other_request_bytes_can_push_an_image_to_upload() -> None:
    client = make_client(UploadServer(), inline_limit_bytes=1000)
    assert client.image_part(bytes(600), "image/png").inline_data is not None
    uploaded = client.image_part(bytes(600), "image/png", other_request_bytes=300)
    assert uploaded.file_data is not None


def test_default_inline_limit_is_20_mb() -> None:
    client = make_client(UploadServer())
    assert client.config.inline_limit_bytes == 20_000_000
    assert client.image_part(bytes(14_000_000), "image/jpeg").inline_data is not None
    assert client.image_part(bytes(15_100_000), "image/jpeg").file_data is not None


def test_async_image_part_uploads_and_waits_for_active() -> None:
    server = UploadServer()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json=file_resource("up1", state="ACTIVE"))
        response = server(request)
        if "finalize" in request.headers.get("x-goog-upload-command", ""):
            body = {"file": file_resource("up1", state="PROCESSING")}
            return httpx.Response(200, headers=response.headers, json=body)
        return response

    client = make_async_client(handler, inline_limit_bytes=100)
    part = asyncio.run(client.image_part(bytes(200), "image/png"))
    assert part.file_data is not None and part.file_data.file_uri.endswith("/files/up1")


# -- download ---------------------------------------------------------------------------------


def test_download_uses_the_documented_url() -> None:
    script = Script().on(
        "GET", "/download/v1beta/files/batch-b1:download", httpx.Response(200, content=b"{}\n{}\n")
    )
    assert make_client(script).download_file("files/batch-b1") == b"{}\n{}\n"
    (request,) = script.requests
    assert request.url.params["alt"] == "media"
    assert request.headers["x-goog-api-key"] == KEY


def test_download_falls_back_to_the_sdk_url_on_404() -> None:
    script = Script().on(
        "GET", "/v1beta/files/batch-b1:download", httpx.Response(200, content=b"line\n")
    )
    assert make_client(script).download_file("batch-b1") == b"line\n"
    assert [r.url.path for r in script.requests] == [
        "/download/v1beta/files/batch-b1:download",
        "/v1beta/files/batch-b1:download",
    ]
