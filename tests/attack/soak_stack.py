"""What the fault suites share: the platform started on a database cluster (and, for the bus soak,
a broker) of their own, and a load of clients that records every answer it was given."""
from __future__ import annotations

import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field

import requests

from tests.e2e.conftest import ADMIN, Stack, invite_and_accept, post, sign_in


def private_stack(amqp_uri: str, mailbox, oidc_issuer: str, database_url: str, name: str) -> Stack:
    """The whole platform as the README starts it, on ``database_url``'s server (each service gets
    its database ``<name>_<service>`` there) and ``amqp_uri``. Started; the caller stops it."""
    stack = Stack(amqp_uri, mailbox.port, oidc_issuer, name=name)
    stack.env["DATABASE_URL"] = database_url
    # A fault suite sees a restart within seconds; the default 60 s would stretch each wait.
    stack.env["NOTIFY_PUMP_SECONDS"] = "1"
    stack.start()
    return stack


def admin_token_of(stack: Stack) -> str:
    return sign_in(stack, ADMIN[0], ADMIN[1])


def customer_with_user(stack: Stack, mailbox, admin_token: str, tag: str) -> dict:
    """A customer of the suite's own and its signed-in customer admin."""
    made = post(stack, "/api/v1/admin/customers", {"name": f"{tag} {uuid.uuid4().hex[:6]}"}, admin_token)
    assert made.status_code == 201, made.text
    email = f"{tag.lower()}.{uuid.uuid4().hex[:6]}@example.com"
    token = invite_and_accept(stack, mailbox, admin_token, made.json()["id"], email, "customer_admin")
    return {"customer": made.json(), "token": token, "email": email}


def service_children(stack: Stack) -> dict[str, int]:
    """The pid of each supervisor's current child (the nameko process doing the work)."""
    children = {}
    for name, proc in stack.procs.items():
        if name == "gateway":
            continue
        found = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
        if found:
            children[name] = int(found[0])
    return children


@dataclass
class Answer:
    kind: str                 # what was asked ("create", "list", ...)
    status: int | None        # None: no answer within the client's timeout, or no connection
    error: str = ""           # the client's exception, when there was no answer
    retry_after: str | None = None
    body: str = ""            # whole: the tallies parse it (an order's answer outgrew a 2,000-character cut)
    started: float = 0.0
    seconds: float = 0.0
    key: str = ""             # the Idempotency-Key sent, for writes


@dataclass
class Load:
    """``threads`` clients each calling ``step(n)`` in a loop until stopped; every answer kept."""

    step: callable
    threads: int
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> "Load":
        self.started = time.monotonic()
        for n in range(self.threads):
            thread = threading.Thread(target=self._run, args=(n,), daemon=True)
            thread.start()
            self._workers.append(thread)
        return self

    def _run(self, n: int) -> None:
        while not self._stop.is_set():
            self.answers.append(self.step(n))

    def stop(self) -> float:
        self._stop.set()
        for thread in self._workers:
            thread.join(60)
        return time.monotonic() - self.started


def call(kind: str, method: str, url: str, timeout: float, key: str = "", **kw) -> Answer:
    started = time.monotonic()
    try:
        response = requests.request(method, url, timeout=timeout, **kw)
    except requests.RequestException as exc:
        return Answer(kind, None, error=type(exc).__name__, started=started,
                      seconds=time.monotonic() - started, key=key)
    return Answer(kind, response.status_code, retry_after=response.headers.get("Retry-After"),
                  body=response.text, started=started, seconds=time.monotonic() - started, key=key)
