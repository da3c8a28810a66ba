"""CPU work (decoding an image, opening a spreadsheet) run in a real OS thread, so a service's
eventlet hub keeps serving its other workers and the AMQP heartbeat meanwhile (PITFALLS 10).

eventlet is imported here, when the work runs, not where the rules are written: the domain
modules stay free of the messaging layer (PITFALLS 11, tests/unit/test_layering.py)."""
from __future__ import annotations

from typing import Any, Callable, TypeVar

T = TypeVar("T")


def off_the_hub(fn: Callable[..., T], *args: Any) -> T:
    from eventlet import tpool

    return tpool.execute(fn, *args)
