"""`fieldsync-client` as a terminal starts it, with Ctrl-C at one chosen point of its work: right after the `nth`
return of a named function, the process signals SIGINT to itself, as a technician's Ctrl-C arriving just then
would. The signal's handler runs before that return goes on (`signal.raise_signal`), so the KeyboardInterrupt
comes from exactly there, however loaded the machine is: the windows a Ctrl-C from outside hits only by chance.

    python -m tests.client_sdk.interrupted client_sdk.outbox:Outbox._store_results 1 --db PHONE.db sync
"""

from __future__ import annotations

import functools
import importlib
import runpy
import signal
import sys
from typing import Any


def cut_after(target: str, nth: int) -> None:
    """Ctrl-C right after the `nth` return of `target` (`module:name` or `module:Class.method`)."""
    module, _, qualname = target.partition(":")
    owner: Any = importlib.import_module(module)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    real = getattr(owner, name)
    returned = 0

    @functools.wraps(real)
    def then_ctrl_c(*args: Any, **kwargs: Any) -> Any:
        nonlocal returned
        result = real(*args, **kwargs)
        returned += 1
        if returned == nth:
            signal.raise_signal(signal.SIGINT)
        return result

    setattr(owner, name, then_ctrl_c)


if __name__ == "__main__":
    # As from a terminal (see test_cli_messages.py's `_AS_FROM_A_TERMINAL`): Ctrl-C raises KeyboardInterrupt.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    cut_after(sys.argv[1], int(sys.argv[2]))
    sys.argv[0:3] = ["client_sdk.cli"]
    runpy.run_module("client_sdk.cli", run_name="__main__")
