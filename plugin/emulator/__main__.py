"""``python -m gemini_vision.emulator --port 0 [knobs]``: serve until SIGTERM or Ctrl-C.

The first line on stdout is the base URL (flushed), so a parent process can read it and point
its client there: ``GOOGLE_GEMINI_BASE_URL=$(head -1 <fifo>)``.

For Vertex AI, ``--service-account-file PATH`` writes a service-account key file the emulator
trusts (its ``token_uri`` is the emulator's token endpoint), for
``GOOGLE_APPLICATION_CREDENTIALS``; ``--gcs BUCKET=DIR`` serves a folder as a Cloud Storage
bucket (``gs://BUCKET/...``).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from gemini_vision.emulator.cloud import service_account_file
from gemini_vision.emulator.config import EmulatorConfig
from gemini_vision.emulator.server.http import Emulator

__all__ = ["build_parser", "config_from_args", "main"]

# (flag, EmulatorConfig field, type, help)
_KNOBS: tuple[tuple[str, str, type, str], ...] = (
    ("--seed", "seed", int, "seed of every random choice"),
    ("--latency", "latency", float, "seconds before each generateContent answer"),
    ("--latency-jitter", "latency_jitter", float, "uniform +/- jitter on the latency, seconds"),
    ("--rpm", "rpm", int, "requests per minute per model (429 beyond)"),
    ("--tpm", "tpm", int, "input tokens per minute per model (429 beyond)"),
    ("--rpd", "rpd", int, "requests per day per model (429 with a per-day quotaId)"),
    ("--quota-window", "quota_window", float, "length of the per-minute window, seconds"),
    ("--tier", "tier", str, "free or paid: names of the quotas in 429 bodies"),
    ("--fault-rate-429", "fault_rate_429", float, "probability of an injected 429"),
    ("--fault-rate-500", "fault_rate_500", float, "probability of a 500 INTERNAL"),
    ("--fault-rate-503", "fault_rate_503", float, "probability of a 503 UNAVAILABLE"),
    ("--fault-rate-504", "fault_rate_504", float, "probability of a 504 DEADLINE_EXCEEDED"),
    ("--timeout-rate", "timeout_rate", float, "probability of not answering at all"),
    ("--timeout-mode", "timeout_mode", str, "hang (hold, then close) or close (at once)"),
    ("--timeout-hold", "timeout_hold", float, "seconds a hanging request holds the socket"),
    ("--retry-delay-429", "fault_429_retry_delay", float, "retryDelay of injected 429s, s"),
    ("--malformed-rate", "malformed_rate", float, "probability of truncated/garbled text"),
    ("--fenced-rate", "fenced_rate", float, "probability of a ```json fenced answer"),
    ("--prose-rate", "prose_rate", float, "probability of prose around a fenced answer"),
    ("--safety-rate", "safety_rate", float, "probability of a blocked prompt"),
    ("--safety-finish-rate", "safety_finish_rate", float, "probability of finishReason SAFETY"),
    ("--max-tokens-rate", "max_tokens_rate", float, "probability of a MAX_TOKENS cut"),
    ("--thinking-scale", "thinking_scale", float, "multiplier of emulated thinking tokens"),
    ("--reply-cache-size", "reply_cache_size", int, "replies remembered (0 = off)"),
    ("--file-processing-delay", "file_processing_delay", float, "seconds PROCESSING"),
    ("--batch-pending-time", "batch_pending_time", float, "seconds a batch stays PENDING"),
    ("--batch-running-time", "batch_running_time", float, "seconds a batch stays RUNNING"),
    ("--batch-expiry", "batch_expiry", float, "seconds until an unfinished batch EXPIRES"),
    ("--hostile", "hostile", str, "answer every generateContent with this hostile case"),
    ("--hostile-drip-seconds", "hostile_drip_seconds", float, "seconds between slow_drip bytes"),
    ("--token-lifetime", "token_lifetime", float, "seconds an issued access token lives"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gemini-vision-emulator",
        description="A local Gemini-compatible API server (prints its base URL first).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    for flag, dest, kind, text in _KNOBS:
        parser.add_argument(flag, dest=dest, type=kind, default=None, help=text)
    parser.add_argument(
        "--faults-per-image",
        action="store_true",
        help="draw faults per image sha256 and attempt, not per request order",
    )
    parser.add_argument(
        "--reject-key",
        action="append",
        default=[],
        help="an API key answered with 400 API_KEY_INVALID (repeatable)",
    )
    parser.add_argument(
        "--gcs",
        action="append",
        default=[],
        metavar="BUCKET=DIR",
        help="serve DIR as Cloud Storage bucket BUCKET, for gs:// media (repeatable)",
    )
    parser.add_argument(
        "--service-account-file",
        metavar="PATH",
        help="write a service-account key file this emulator trusts to PATH (Vertex AI)",
    )
    parser.add_argument("--log-level", default="WARNING")
    return parser


def _buckets(pairs: Sequence[str]) -> dict[str, str]:
    buckets = {}
    for pair in pairs:
        name, _, folder = pair.partition("=")
        if not name or not folder:
            raise SystemExit(f"--gcs expects BUCKET=DIR, got {pair!r}")
        buckets[name] = folder
    return buckets


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    """The config the parsed flags describe (unset flags keep the defaults)."""
    values: dict[str, Any] = {
        dest: getattr(args, dest) for _, dest, _, _ in _KNOBS if getattr(args, dest) is not None
    }
    return EmulatorConfig(
        **values,
        faults_per_image=args.faults_per_image,
        rejected_api_keys=set(args.reject_key),
        gcs_buckets=_buckets(args.gcs),
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    done = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with Emulator(config_from_args(args), host=args.host, port=args.port) as emulator:
        print(emulator.base_url, flush=True)
        if args.service_account_file:
            path = service_account_file(emulator, args.service_account_file)
            print(f"service-account key file (trusted by this emulator): {path}", flush=True)
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
