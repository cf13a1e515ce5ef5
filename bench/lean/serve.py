"""Serve the lean push server: `python -m bench.lean.serve serve --data DIR --port N [--group G] [--threads T]`.

The arguments of `fieldsync serve` that `bench/_server.py` passes, so the same `ServerProcess`
starts either server. granian as the real server runs it (`server/cli.py`, `server/transport.py`):
one worker process, ASGI, one blocking thread; `--threads` sets granian's runtime threads.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--data", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--group", type=int, default=1, help="pushes one commit may take (1: a commit a push)")
    parser.add_argument("--threads", type=int, default=1, help="granian's runtime threads")
    parser.add_argument("--pull", choices=["thread", "loop"], default="thread",
                        help="where a pull reads: a worker thread, or on the event loop itself")
    parser.add_argument("--page", choices=["sql", "python"], default="sql",
                        help="a pull's page built as JSON by SQLite, or its rows read and encoded in Python")
    parser.add_argument("--switch", type=float, default=0, help="sys.setswitchinterval in ms (0: Python's 5 ms)")
    args = parser.parse_args()
    os.environ["LEAN_DATA"] = str(Path(args.data).resolve())
    os.environ["LEAN_GROUP"] = str(args.group)
    os.environ["LEAN_PULL"] = args.pull
    os.environ["LEAN_PAGE"] = args.page
    os.environ["LEAN_SWITCH_MS"] = str(args.switch)
    from granian import Granian
    from granian.constants import Interfaces
    from granian.http import HTTP1Settings

    Granian(
        target="bench.lean.app:app_factory", factory=True, address=args.host, port=args.port,
        interface=Interfaces.ASGI, workers=1, runtime_threads=args.threads, blocking_threads=1,
        backlog=2048, backpressure=1024, http1_settings=HTTP1Settings(keep_alive=True), log_access=False,
    ).serve()


if __name__ == "__main__":
    main()
