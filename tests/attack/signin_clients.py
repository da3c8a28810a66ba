"""HTTP clients that come from an address of their own.

Sign-in throttling counts failures per account AND per client address (services/identity/
throttle.py). Every attack suite reaches the shared stack from 127.0.0.1, so a burst of wrong
passwords from there would block every suite's sign-ins for a quarter of an hour. Linux routes
the whole of 127.0.0.0/8 to loopback: a socket bound to 127.x.y.z reaches the gateway on
127.0.0.1 and the gateway sees 127.x.y.z as the caller, a real other address."""
from __future__ import annotations

import random

import requests
from requests.adapters import HTTPAdapter


class _FromAddress(HTTPAdapter):
    def __init__(self, address: str):
        self.address = address
        super().__init__(pool_connections=4, pool_maxsize=200)   # a burst of concurrent requests

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def fresh_address() -> str:
    """A loopback address no other test uses (never 127.0.0.x, where the other suites are)."""
    return f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


def client_from(address: str | None = None) -> requests.Session:
    """A session whose connections leave from ``address`` (a fresh one by default)."""
    session = requests.Session()
    adapter = _FromAddress(address or fresh_address())
    session.mount("http://", adapter)
    session.address = adapter.address
    return session
