"""The engine's HTTP transport (aiohttp under httpx) against a real socket server on 127.0.0.1:
bytes, headers, compression, kept-alive connections, and aiohttp's failures as httpx's."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import socket
import threading
from collections.abc import Callable, Iterator

import httpx
import pytest

from gemini_vision.api import AiohttpTransport, AsyncGeminiClient, RetryPolicy, wire

Handler = Callable[[socket.socket, bytes], None]


class RawServer:
    """A one-thread-per-connection HTTP/1.1 server whose replies are written by hand."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.requests: list[bytes] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), conn:  # a client hanging up ends the connection
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                body, buffer = buffer[:length], buffer[length:]
                self.requests.append(head + b"\r\n\r\n" + body)
                self.handler(conn, body)

    def close(self) -> None:
        self.listener.close()


def reply(status: str, body: bytes, *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], RawServer]]:
    servers: list[RawServer] = []

    def start(handler: Handler) -> RawServer:
        servers.append(RawServer(handler))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


async def send(transport: AiohttpTransport, request: httpx.Request) -> httpx.Response:
    async with httpx.AsyncClient(transport=transport) as client:
        response = await client.send(request)
        await response.aread()
        return response


def test_bytes_and_headers_travel_unchanged_and_connections_are_kept_alive(serve) -> None:
    def echo(conn: socket.socket, body: bytes) -> None:
        conn.sendall(reply("201 Created", body[::-1], "X-Echo: yes", "Set-Cookie: a=b"))

    server = serve(echo)
    transport = AiohttpTransport()
    url = f"{server.url}/v1beta/models/m:generateContent?alt=json"

    async def go() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=transport) as client:
            out = []
            for i in range(5):
                request = client.build_request(
                    "POST", url, content=f"body {i} ünïcode".encode(), headers={"x-k": "v"}
                )
                out.append(await client.send(request))
            return out

    responses = asyncio.run(go())
    assert [r.status_code for r in responses] == [201] * 5
    assert responses[3].content == "body 3 ünïcode".encode()[::-1]
    assert responses[0].headers["x-echo"] == "yes" and responses[0].reason_phrase == "Created"
    assert server.connections == 1  # one connection, kept alive for all five
    first = server.requests[0]
    assert first.startswith(b"POST /v1beta/models/m:generateContent?alt=json HTTP/1.1\r\n")
    assert b"\r\nx-k: v\r\n" in first.lower() and first.lower().count(b"\r\nhost: ") == 1
    assert first.lower().count(b"content-length") == 1
    assert b"content-type" not in first.lower()  # none asked for, none invented


def test_gzip_bodies_are_decoded_once_by_httpx(serve) -> None:
    text = b'{"candidates": []}' * 100

    def gzipped(conn: socket.socket, body: bytes) -> None:
        conn.sendall(reply("200 OK", gzip.compress(text), "Content-Encoding: gzip"))

    server = serve(gzipped)
    response = asyncio.run(send(AiohttpTransport(), httpx.Request("GET", server.url)))
    assert response.content == text


def test_a_refused_connection_is_a_connect_error_never_sent() -> None:
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        asyncio.run(send(AiohttpTransport(), httpx.Request("GET", f"http://127.0.0.1:{port}")))


def test_a_connection_closed_mid_body_is_a_protocol_error(serve) -> None:
    def cut(conn: socket.socket, body: bytes) -> None:
        conn.sendall(reply("200 OK", b"x" * 1000)[:-500])
        conn.shutdown(socket.SHUT_RDWR)

    server = serve(cut)
    with pytest.raises(httpx.RemoteProtocolError):
        asyncio.run(send(AiohttpTransport(), httpx.Request("GET", server.url)))


def test_a_silent_server_is_a_read_timeout(serve) -> None:
    server = serve(lambda conn, body: None)
    request = httpx.Request("GET", server.url, extensions={"timeout": {"read": 0.3}})
    with pytest.raises(httpx.ReadTimeout):
        asyncio.run(send(AiohttpTransport(), request))


def test_a_garbled_answer_is_retried_on_a_fresh_connection(serve) -> None:
    answers = iter([b"garbage that is not http\r\n\r\n", reply("200 OK", b'{"totalTokens": 3}')])

    def flaky(conn: socket.socket, body: bytes) -> None:
        conn.sendall(next(answers))
        if not server.requests[1:]:
            conn.shutdown(socket.SHUT_RDWR)

    server = serve(flaky)
    retry = RetryPolicy(initial_delay=0.01, jitter=0.0)

    async def go() -> int | None:
        async with AsyncGeminiClient(
            "k", base_url=server.url, transport=AiohttpTransport(), retry=retry
        ) as client:
            answer = await client.count_tokens("gemini-2.5-flash", _request())
            return answer.total_tokens

    assert asyncio.run(go()) == 3
    assert len(server.requests) == 2 and server.connections == 2


def test_one_transport_serves_one_event_loop_after_another(serve) -> None:
    server = serve(lambda conn, body: conn.sendall(reply("200 OK", b"ok")))
    transport = AiohttpTransport()

    async def once() -> bytes:
        response = await transport.handle_async_request(httpx.Request("GET", server.url))
        return await response.aread()

    assert asyncio.run(once()) == b"ok"
    assert asyncio.run(once()) == b"ok"  # a new loop gets a new session


def _request() -> wire.GenerateContentRequest:
    return wire.GenerateContentRequest(contents=[wire.Content(parts=[wire.Part(text="hi")])])


def test_a_body_left_unread_closes_its_connection_a_read_one_keeps_it(serve) -> None:
    server = serve(lambda conn, body: conn.sendall(reply("200 OK", b"x" * 200_000)))
    transport = AiohttpTransport()

    async def go() -> None:
        async with httpx.AsyncClient(transport=transport) as client:
            async with client.stream("GET", server.url) as response:
                async for _ in response.aiter_bytes():
                    break  # the rest is never read
            assert (await client.get(server.url)).content == b"x" * 200_000
            assert (await client.get(server.url)).content == b"x" * 200_000

    asyncio.run(go())
    assert server.connections == 2  # a new one after the unread body, then kept alive
