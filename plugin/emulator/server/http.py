"""The HTTP server: a threaded HTTP/1.1 keep-alive server on 127.0.0.1, and :class:`Emulator`.

One thread per connection (``ThreadingHTTPServer``); latency is an ``Event.wait`` in that
thread, so slow answers never hold a lock and ~100 concurrent requests proceed in parallel.
Request lines are logged at DEBUG with any ``key=`` scrubbed; the API key is never logged.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from gemini_vision.emulator.config import EmulatorConfig
from gemini_vision.emulator.server.api import GeminiApi
from gemini_vision.emulator.server.generation import Respond
from gemini_vision.emulator.server.state import EmulatorStats
from gemini_vision.emulator.server.transport import HttpCall, HttpReply
from gemini_vision.errors import redact

__all__ = ["Emulator"]

logger = logging.getLogger("gemini_vision.emulator")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # Benchmarks open 64 connections at once; the default backlog of 5 would stall them.
    request_queue_size = 1024

    def __init__(
        self, address: tuple[str, int], api: GeminiApi, stopping: threading.Event
    ) -> None:
        super().__init__(address, _Handler)
        self.api = api
        self.stopping = stopping
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        #: used when a request has no Host header
        self.base_url_hint = f"http://{address[0]}:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up mid-answer (a timeout, a refused oversized answer) is routine:
        no traceback for it; anything else is reported as usual."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Ends kept-alive connections, so a stopped emulator answers nothing more."""
        with self.connections_lock:
            connections = list(self.connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "scaffolding on HTTPServer2"
    sys_version = ""
    server: _Server
    # Headers and body leave in separate writes; with Nagle's algorithm the body would wait
    # for the client's delayed ACK (~40 ms per request on keep-alive connections).
    disable_nagle_algorithm = True
    #: an idle kept-alive connection is closed after this many seconds
    timeout = 60

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)
            open_now = len(self.server.connections)
        self.server.api.stats.record_connections(open_now)

    def finish(self) -> None:
        with self.server.connections_lock:
            self.server.connections.discard(self.connection)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), redact(format % args))

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_DELETE = do_PUT = do_PATCH = do_GET

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            body = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():
                        pass  # trailers
                    return bytes(body)
                body += self.rfile.read(size)
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _dispatch(self) -> None:
        body = self._read_body()
        url = urlsplit(self.path)
        host = self.headers.get("Host")
        call = HttpCall(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers=self.headers,
            body=body,
            base_url=f"http://{host}" if host else self.server.base_url_hint,
        )
        reply = self.server.api.handle(call)
        if reply.drop:
            self._drop(reply.hold)
        elif reply.chunks is not None:
            self._send_stream(reply)
        else:
            self._send(reply)

    def _drop(self, hold: float) -> None:
        if hold > 0:
            self.server.stopping.wait(hold)
        self.close_connection = True

    def _start(self, reply: HttpReply) -> None:
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        for name, value in reply.headers.items():
            self.send_header(name, value)

    def _send(self, reply: HttpReply) -> None:
        self._start(reply)
        if "Content-Length" not in reply.headers:
            self.send_header("Content-Length", str(len(reply.body)))
        elif int(reply.headers["Content-Length"]) > len(reply.body):
            self.close_connection = True  # a body cut short: the connection ends with it
        self.end_headers()
        if reply.body and self.command != "HEAD":
            self.wfile.write(reply.body)

    def _send_stream(self, reply: HttpReply) -> None:
        assert reply.chunks is not None
        self._start(reply)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in reply.chunks:
            self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")


class Emulator:
    """A Gemini-compatible server on a real socket.

    ::

        with Emulator(EmulatorConfig(latency=0.05, fault_rate_503=0.1)) as emu:
            client = GeminiClient("any-key", base_url=emu.base_url)
            ...
            emu.config.rpm = 10          # knobs change at runtime
            emu.stats.count("generateContent", 200)

    ``host``/``port`` default to 127.0.0.1 and a free port. ``respond`` replaces the vision
    responder (same signature as ``responder.respond``), e.g. to serve a fixed answer text.
    """

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        respond: Respond | None = None,
    ) -> None:
        self.config = config or EmulatorConfig()
        self._respond = respond
        self.stats = EmulatorStats()
        self._address = (host, port)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._api: GeminiApi | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash, no API version)."""
        if self._server is None:
            raise RuntimeError("the emulator is not running; call start() first")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api(self) -> GeminiApi:
        """The endpoints and their state (files, batches, quotas, fault injector)."""
        if self._api is None:
            raise RuntimeError("the emulator is not running; call start() first")
        return self._api

    def start(self) -> Emulator:
        if self._server is not None:
            return self
        stopping = threading.Event()
        self._api = GeminiApi(self, stopping, self._respond)
        server = _Server(self._address, self._api, stopping)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="gemini-emulator",
        )
        self._thread.start()
        logger.info("Gemini emulator listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stops serving: pending sleeps end, kept-alive connections are closed."""
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()
        if self._api is not None:
            self._api.batches.stop()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def reset(self) -> None:
        """Clears the statistics, the quota windows and the fault sequence (files stay)."""
        self.stats.reset()
        self.api.quotas.reset()
        self.api.faults.reset()

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
