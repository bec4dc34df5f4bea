"""Hostile answers: what a misbehaving proxy, a corrupted stream or a rambling model can send.

With ``EmulatorConfig.hostile`` set to a case name, every generateContent request gets that
case's answer instead of the real one (authentication, quotas and request validation still
apply, so the client reaches this point as it would the real service). The cases are the
ones a client must survive without hanging, exhausting memory or failing a whole run:

- bodies: ``huge_body`` (a 50 MB envelope), ``huge_after_valid`` (a valid answer, then 50 MB
  more), ``endless_body`` (chunks for ever), ``slow_drip`` (one byte every
  ``hostile_drip_seconds``), ``cut_stream`` (the connection closes mid-body), ``not_utf8``,
  ``html_200``, ``empty_200``, ``json_not_object``, ``nested_envelope`` (100,000 nested arrays
  in the envelope);
- answer texts: ``huge_caption`` (50 MB of text), ``nested_text`` (100,000 nested arrays),
  ``backtracking_text`` (long runs of what the parser's patterns look for, never completed),
  ``dash_table`` (a Markdown table of 64 columns of dashes), ``many_objects`` (10,000
  objects), ``wild_coordinates`` (NaN, negative and huge numbers), ``long_labels`` (10 kB
  labels with markup), ``too_large_labels`` (60 full-frame objects with masks: on a
  12-megapixel image, 720 MB of instance masks, more than one sample may take);
- masks: ``mask_bomb`` (a PNG whose header claims 100,000 x 100,000 pixels over a deflate
  stream of zeros), ``mask_gigapixels`` (a header claiming 8 gigapixels);
- pacing: ``retry_tomorrow`` (a 429 whose RetryInfo asks to wait a day).
"""

from __future__ import annotations

import base64
import functools
import json
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from gemini_vision.emulator.model.png import PNG_SIGNATURE, encode_gray_png, png_chunk
from gemini_vision.emulator.server.transport import HttpReply

__all__ = ["HOSTILE_CASES", "hostile_reply"]

_MB = 1024 * 1024
#: the size of the "huge" answers
HUGE_BYTES = 50 * _MB
#: how deep the nested cases nest
NESTING = 100_000


def _envelope(text: str) -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": text}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 10},
        "modelVersion": "gemini-2.5-flash",
    }


def _json(payload: Any) -> HttpReply:
    return HttpReply(body=json.dumps(payload).encode())


def _text(text: str) -> HttpReply:
    return _json(_envelope(text))


def _objects(items: list[dict[str, Any]]) -> HttpReply:
    return _text(json.dumps(items))


def _png_claiming(width: int, height: int, inflated_bytes: int) -> str:
    """A grey PNG whose header claims ``width`` x ``height`` over ``inflated_bytes`` of zeros."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(bytes(inflated_bytes), 9)
    png = (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", data)
        + png_chunk(b"IEND", b"")
    )
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _mask_object(mask: str, box: list[float], label: str = "circle") -> dict[str, Any]:
    return {"box_2d": box, "label": label, "mask": mask}


@functools.lru_cache(maxsize=1)
def _full_mask() -> str:
    """A 256 x 256 mask covering its whole box: a few hundred bytes that decode, on a
    full-frame box of a 12-megapixel image, to 12 MB of instance mask."""
    full = np.full((256, 256), 255, np.uint8)
    return "data:image/png;base64," + base64.b64encode(encode_gray_png(full)).decode()


def _chunks(
    stopping: threading.Event, first: bytes, step: Callable[[], bytes], pause: float
) -> Iterator[bytes]:
    yield first
    while not stopping.is_set():
        if pause:
            stopping.wait(pause)
        yield step()


CASES: dict[str, Callable[[dict[str, Any], threading.Event, float], HttpReply]] = {
    "huge_body": lambda answer, stop, drip: _text("x" * HUGE_BYTES),
    "huge_caption": lambda answer, stop, drip: _text("A caption. " * (HUGE_BYTES // 11)),
    "huge_after_valid": lambda answer, stop, drip: HttpReply(
        body=json.dumps(answer).encode() + b" " * 16 + b"x" * HUGE_BYTES
    ),
    "endless_body": lambda answer, stop, drip: HttpReply(
        chunks=_chunks(stop, b'{"candidates": [', lambda: b'{"x": 1},' * 4096, 0.0)
    ),
    "slow_drip": lambda answer, stop, drip: HttpReply(
        chunks=_chunks(stop, b"{", lambda: b" ", drip)
    ),
    "cut_stream": lambda answer, stop, drip: HttpReply(
        body=json.dumps(answer).encode()[:40], headers={"Content-Length": "100000"}
    ),
    "not_utf8": lambda answer, stop, drip: HttpReply(body=b'{"candidates": "\xff\xfe\x80"}'),
    "html_200": lambda answer, stop, drip: HttpReply(
        body=b"<html><body>Service maintenance</body></html>", content_type="text/html"
    ),
    "empty_200": lambda answer, stop, drip: HttpReply(body=b""),
    "json_not_object": lambda answer, stop, drip: _json([1, 2, 3]),
    "nested_envelope": lambda answer, stop, drip: HttpReply(
        body=b'{"candidates": ' + b"[" * NESTING + b"]" * NESTING + b"}"
    ),
    "nested_text": lambda answer, stop, drip: _text("[" * NESTING + "]" * NESTING),
    "backtracking_text": lambda answer, stop, drip: _text(
        "Verdict: no " * 20_000 + "box_2d: [" + "1, " * 50_000 + "**" * 20_000 + "```" * 5_000
    ),
    "dash_table": lambda answer, stop, drip: _text(
        "\n".join("|" + "|".join(["-" * 40] * 64) + "|" for _ in range(200))
    ),
    "many_objects": lambda answer, stop, drip: _objects(
        [
            {"box_2d": [i % 900, i % 700, i % 900 + 50, i % 700 + 50], "label": "circle"}
            for i in range(10_000)
        ]
    ),
    "wild_coordinates": lambda answer, stop, drip: _text(
        '[{"box_2d": [NaN, -5, 1e308, 400], "label": "circle"},'
        ' {"box_2d": [-1e9, -1e9, 2e9, 5], "label": "square"},'
        ' {"box_2d": [100, 100, 300, 300], "label": "star"}]'
    ),
    "long_labels": lambda answer, stop, drip: _objects(
        [{"box_2d": [100, 100, 400, 400], "label": "<b>" + "circle **" * 1100 + "</b>"}]
    ),
    "too_large_labels": lambda answer, stop, drip: _objects(
        [_mask_object(_full_mask(), [0, 0, 1000, 1000], "circle") for _ in range(60)]
    ),
    "mask_bomb": lambda answer, stop, drip: _objects(
        [_mask_object(_png_claiming(100_000, 100_000, 64 * _MB), [100, 100, 500, 500])]
    ),
    "mask_gigapixels": lambda answer, stop, drip: _objects(
        [_mask_object(_png_claiming(100_000, 80_000, 8 * _MB), [100, 100, 500, 500])]
    ),
    "retry_tomorrow": lambda answer, stop, drip: _json_error_429(86_400),
}
HOSTILE_CASES = tuple(CASES)


def _json_error_429(seconds: int) -> HttpReply:
    body = {
        "error": {
            "code": 429,
            "message": f"Resource has been exhausted. Please retry in {seconds}s.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds}s"}
            ],
        }
    }
    return HttpReply(status=429, body=json.dumps(body).encode())


def hostile_reply(
    case: str, answer: dict[str, Any], stopping: threading.Event, drip_seconds: float
) -> HttpReply:
    """The reply of ``case`` (one of :data:`HOSTILE_CASES`); ``answer`` is the real answer's
    body, for the cases that send it (or part of it) first."""
    try:
        build = CASES[case]
    except KeyError:
        raise ValueError(f"unknown hostile case {case!r}; one of {', '.join(CASES)}") from None
    return build(answer, stopping, drip_seconds)
