"""The command line every sandbox shares: `concord sandbox <system> --port P --seed S --customers N
[vendor options]`. Prints one JSON line (base URL and everything a client needs), serves until
SIGTERM or SIGINT, exits 0."""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Callable

from adapters.sandbox.faults import Faults


def parser(system: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"concord sandbox {system}", description=description)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--customers", type=int, default=1000, help="people in the seeded world")
    p.add_argument("--state-dir", type=Path, default=None, help="default: var/sandboxes")
    p.add_argument("--reset", action="store_true", help="drop the saved state and seed again")
    p.add_argument("--error-rate", "--fault-rate", dest="error_rate", type=float, default=0.0,
                   help="share of requests answered with a 5xx")
    p.add_argument("--throttle-rate", type=float, default=0.0, help="share of requests answered 429 regardless")
    p.add_argument("--slow-rate", type=float, default=0.0, help="share of answers delayed by --slow-seconds")
    p.add_argument("--slow-seconds", type=float, default=2.0)
    p.add_argument("--drop-rate", type=float, default=0.0, help="share of connections closed without an answer")
    return p


def faults(args: argparse.Namespace) -> Faults:
    return Faults(seed=args.seed, error_rate=args.error_rate, throttle_rate=args.throttle_rate,
                  slow_rate=args.slow_rate, slow_seconds=args.slow_seconds, drop_rate=args.drop_rate)


def state_dir(args: argparse.Namespace) -> Path:
    from canonical.paths import sandboxes_dir  # var/sandboxes, or under CONCORD_VAR_DIR when set

    return args.state_dir or sandboxes_dir()


def serve(system: str, build: Callable[[], object]) -> int:
    """Builds the sandbox, prints its JSON line, serves until a signal."""
    try:
        sandbox = build()
    except ValueError as error:
        print(f"{system}-sandbox: {error}", file=sys.stderr)
        return 2
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    sandbox.start()
    print(json.dumps(sandbox.info()), flush=True)
    sys.stderr.write(f"{system}-sandbox listening on {sandbox.base_url}\n")
    while not stopping.wait(0.5):  # a timed wait keeps the main thread responsive to signals
        pass
    sandbox.stop()
    return 0
