"""The whole platform as a user starts it: prepare, five supervised services, the gateway under
gunicorn, and a real SMTP server (aiosmtpd) receiving the platform's emails; one stack for the
end-to-end package, stopped when it ends (its services share the run's vhost with the
integration suite, which must not find them answering)."""
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from services.common.config import ROOT, SERVICES, WORKERS
from tests.conftest import PG_SERVER, RUN_ID, TMP, _drop, free_port, wait_for

ADMIN = ("e2e-admin@operator.example", "e2e admin password")


class Stack:
    def __init__(self, amqp_uri: str, smtp_port: int, oidc_issuer: str, name: str = "e2e"):
        """``name`` keeps two stacks of one run apart (databases, logs, files)."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.logs = Path(TMP, f"{name}-logs")
        self.logs.mkdir(exist_ok=True)
        self.env = {**os.environ, "AMQP_URI": amqp_uri, "GATEWAY_BIND": f"127.0.0.1:{self.port}",
                    "GATEWAY_WORKERS": "1", "LOG_FORMAT": "json", "VAR_DIR": str(Path(TMP, f"{name}-var")),
                    "PORTAL_ADMIN_EMAIL": ADMIN[0], "PORTAL_ADMIN_PASSWORD": ADMIN[1],
                    "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}", "PORTAL_URL": self.base,
                    "SESSION_RECHECK_SECONDS": "1",
                    "ORDERS_RECURRING_SECONDS": "1",      # recurring orders are booked within a second
                    # the import-by-email listener (orders-mail-imports): a port of this stack's own
                    "IMPORT_MAIL_BIND": f"127.0.0.1:{free_port()}",
                    # Webhook receivers of the tests listen on loopback, over plain http.
                    "WEBHOOK_ALLOWED_NETWORKS": "127.0.0.0/8", "WEBHOOK_ALLOW_HTTP": "1",
                    "SSO_PROVIDERS": json.dumps({"mock": {"issuer": oidc_issuer, "client_id": "portal-e2e",
                                                          "client_secret": "e2e-client-secret"}})}
        if PG_SERVER:
            self.env["DATABASE_URL"] = PG_SERVER.rsplit("/", 1)[0] + f"/portal_{name}_{RUN_ID}"
        self.procs: dict[str, subprocess.Popen] = {}
        self.process_env: dict[str, dict] = {}     # what one process gets beyond env (its own broker user)
        self.metrics_ports: dict[str, int] = {}     # each process serves its metrics on its own port

    def run(self, name: str, *args: str, env: dict | None = None) -> subprocess.Popen:
        out = open(self.logs / f"{name}.log", "ab")
        proc = subprocess.Popen([sys.executable, *args], env={**self.env, **self.process_env.get(name, {}), **(env or {})}, cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def start(self) -> None:
        subprocess.run([sys.executable, "-m", "services.common.prepare", "--demo"], env=self.env,
                       cwd=ROOT, check=True, timeout=180, capture_output=True)
        for service in SERVICES + tuple(WORKERS):
            self.run(service, "-m", "services.common.run", service, env=self._metrics_env(service))
        self.run("gateway", "-m", "gunicorn", "-c", "gateway/gunicorn_conf.py", "gateway.wsgi:app",
                 env=self._metrics_env("gateway"))
        try:
            wait_for(self.ready, timeout=90, interval=0.5, what="the stack to be ready")
        except AssertionError as timeout:
            raise AssertionError(f"{timeout}\n{self.why_not_ready()}") from None

    def _metrics_env(self, name: str) -> dict:
        self.metrics_ports[name] = free_port()
        return {"METRICS_PORT": str(self.metrics_ports[name]), "METRICS_BIND": "127.0.0.1"}

    def another_gateway(self, name: str = "gateway-2", env: dict | None = None) -> str:
        """A further gateway process on the same services (as behind a load balancer); its URL."""
        port = free_port()
        self.run(name, "-m", "gunicorn", "-c", "gateway/gunicorn_conf.py", "gateway.wsgi:app",
                 env={"GATEWAY_BIND": f"127.0.0.1:{port}", **self._metrics_env(name), **(env or {})})
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: self.ready(base), timeout=60, interval=0.5, what=f"{name} to be ready")
        return base

    def ready(self, base: str | None = None) -> bool:
        try:
            return requests.get(f"{base or self.base}/readyz", timeout=3).status_code == 200
        except requests.RequestException:
            return False

    def why_not_ready(self) -> str:
        """What a stack that did not come up tells: /readyz's answer, the processes that exited,
        and the end of each process's log (a failure in CI leaves nothing else to read)."""
        try:
            answer = requests.get(f"{self.base}/readyz", timeout=5).text
        except requests.RequestException as error:
            answer = repr(error)
        lines = [f"/readyz: {answer.strip()}"]
        for name, proc in self.procs.items():
            tail = self.log(name).splitlines()[-8:]
            lines.append(f"--- {name} ({'running' if proc.poll() is None else f'exited {proc.returncode}'})")
            lines.extend(line[:400] for line in tail)
        return "\n".join(lines)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        if PG_SERVER:
            for service in SERVICES:
                _drop(f"{self.env['DATABASE_URL']}_{service}")


class Mailbox:
    """An aiosmtpd handler keeping every message delivered to it."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        from email.parser import BytesParser
        from email.policy import default

        self.messages.append(BytesParser(policy=default).parsebytes(envelope.content))
        return "250 OK"

    def wait_for(self, to: str):
        return self.wait_for_subject(to, "")

    def wait_for_subject(self, to: str, subject_start: str):
        return wait_for(lambda: next((m for m in reversed(self.messages) if m["To"] == to
                                      and m["Subject"].startswith(subject_start)), None),
                        timeout=30, what=f"an email to {to} ({subject_start or 'any'})")


@pytest.fixture(scope="package")
def mailbox():
    # In this (eventlet-patched) process aiosmtpd's loop runs in a greenthread: one at a time.
    from aiosmtpd.controller import Controller

    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port(), ready_timeout=10)
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture(scope="package")
def oidc_provider():
    """A real OpenID Connect provider (oidc-provider-mock) on a loopback port."""
    import warnings

    warnings.filterwarnings("ignore", message=".*deprecated")
    from oidc_provider_mock import run_server_in_thread

    with run_server_in_thread(port=free_port()) as server:
        yield f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="package")
def stack(amqp_uri, mailbox, oidc_provider):
    stack = Stack(amqp_uri, mailbox.port, oidc_provider)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="package")
def admin_token(stack):
    response = requests.post(f"{stack.base}/api/v1/auth/login",
                             json={"email": ADMIN[0], "password": ADMIN[1]}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def auth(token):
    return {"Authorization": f"Bearer {token}"}


PASSWORD = "copper-lantern-88-meadow"


def post(stack, path, body, token=None, **kw):
    return requests.post(f"{stack.base}{path}", json=body, headers=auth(token) if token else {},
                         timeout=15, **kw)


def get(stack, path, token, **kw):
    return requests.get(f"{stack.base}{path}", headers=auth(token), timeout=15, **kw)


def sign_in(stack, email, password=PASSWORD):
    response = post(stack, "/api/v1/auth/login", {"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def invite_and_accept(stack, mailbox, admin_token, customer_id, email, role="customer_booker"):
    sent = post(stack, f"/api/v1/admin/customers/{customer_id}/invites",
                {"emails": [email], "role": role}, admin_token)
    assert sent.status_code == 201, sent.text
    message = mailbox.wait_for(email)
    body = message.get_body(preferencelist=("plain",)).get_content()
    link = re.search(r"(http\S+accept-invite#token=(\S+))", body)
    assert link and link[1].startswith(stack.base)
    accepted = post(stack, "/api/v1/invites/accept", {"token": link[2], "name": "Robin", "password": PASSWORD})
    assert accepted.status_code == 201, accepted.text
    again = post(stack, "/api/v1/invites/accept", {"token": link[2], "name": "Robin", "password": PASSWORD})
    assert again.status_code == 404                # the link works once
    return sign_in(stack, email)


# --- a partner's webhook receiver ----------------------------------------------------------
class Receiver:
    """A partner's HTTP endpoint on loopback: keeps every request; ``/gone`` answers 410."""

    def __init__(self):
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body,
                                          "at": time.time()})
                self.send_response(410 if self.path.startswith("/gone") else 200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, path: str, event_type: str, order_id: str) -> list[dict]:
        return [r for r in self.requests if r["path"] == path and json.loads(r["body"])["type"] == event_type
                and json.loads(r["body"])["data"].get("order_id") == order_id]


@pytest.fixture(scope="module")
def receiver():
    made = Receiver()
    yield made
    made.server.shutdown()
