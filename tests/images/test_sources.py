"""Images from http(s) URLs (images/sources.py), through prepare_image: downloads, HTTP errors,
the size cap and unreachable hosts, against a real server on 127.0.0.1 (port 0)."""

from __future__ import annotations

import http.server
import io
import threading
from collections.abc import Iterator

import pytest
from PIL import Image

from gemini_vision.errors import ImageError
from gemini_vision.images import prepare_image

# --------------------------------------------------------------------------------------------
# URLs (a real server on 127.0.0.1, port 0)


def _jpeg(width: int, height: int) -> bytes:
    """A plain RGB JPEG that prepare_image passes through as it is."""
    buf = io.BytesIO()
    Image.linear_gradient("L").resize((width, height)).convert("RGB").save(buf, "JPEG")
    return buf.getvalue()


JPEG_BODY = _jpeg(64, 48)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path == "/img.jpg":
            self._send(200, JPEG_BODY)
        elif path == "/big-declared":
            self._send(200, b"x" * 5000)
        elif path == "/big-chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for _ in range(10):
                self.wfile.write(b"3e8\r\n" + b"x" * 1000 + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self._send(404, b"not here")

    def _send(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_url_200_is_downloaded_and_passed_through(server: str) -> None:
    prepared = prepare_image(f"{server}/img.jpg?X-Signature=secret")
    assert prepared.passthrough and prepared.data == JPEG_BODY
    assert prepared.source == f"{server}/img.jpg?..."  # no query string (signed URLs)


def test_url_404_raises_image_error(server: str) -> None:
    with pytest.raises(ImageError, match="HTTP 404") as info:
        prepare_image(f"{server}/missing.jpg")
    assert f"{server}/missing.jpg" in str(info.value)


@pytest.mark.parametrize("path", ["/big-declared", "/big-chunked"])
def test_url_over_the_size_limit_is_refused(server: str, path: str) -> None:
    with pytest.raises(ImageError, match="max_download_bytes=4000"):
        prepare_image(server + path, max_download_bytes=4000)


def test_unreachable_url_raises_image_error() -> None:
    with socket_closed_port() as port, pytest.raises(ImageError, match="download failed"):
        prepare_image(f"http://127.0.0.1:{port}/x.jpg", timeout=2)


class socket_closed_port:
    """A port on 127.0.0.1 that nothing listens on (bound, then closed)."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return int(sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        return None
