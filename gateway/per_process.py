"""One instance of something per process, made on first use: after gunicorn forked the worker,
so no connection or thread crosses the fork (a child that inherited one would share its socket)."""
from __future__ import annotations

import os
import threading
from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class PerProcess(Generic[T]):
    def __init__(self, make: Callable[[], T]):
        self._make = make
        self._value: T | None = None
        self._pid: int | None = None
        self._lock = threading.Lock()

    def get(self) -> T:
        if self._value is None or self._pid != os.getpid():
            with self._lock:
                if self._value is None or self._pid != os.getpid():
                    self._value, self._pid = self._make(), os.getpid()
        return self._value

    def forget(self) -> T | None:
        """Drop the instance (the next ``get`` makes another); returns it for closing."""
        value, self._value = self._value, None
        return value
