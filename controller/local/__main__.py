"""`python -m controller.local`: serve the emulated AWS until interrupted.

Design: a thin shell over `EmulatedAws` for `make run` and for people who want one
long-lived emulator that several `ecs-gitops --local` commands share. It listens on
127.0.0.1:4599 by default, the address `--local` looks for before starting its own.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import threading
from collections.abc import Sequence

from controller.local.config import DEFAULT_REGIONS
from controller.local.server import EmulatedAws

DEFAULT_PORT = 4599


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m controller.local",
        description="Emulated AWS (moto + ecs-gitops task-set emulator) - not real AWS.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument(
        "--region",
        action="append",
        dest="regions",
        help=f"a region to pre-create the network in (repeatable; default {', '.join(DEFAULT_REGIONS)})",
    )
    parser.add_argument(
        "--task-start-delay", type=float, default=2.0, help="seconds a task stays PENDING"
    )
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with EmulatedAws(
        host=args.host,
        port=args.port,
        regions=args.regions,
        task_start_delay=args.task_start_delay,
    ) as aws:
        print(f"{aws.banner}: {aws.endpoint_url}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
