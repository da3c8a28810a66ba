"""A platform of its own for a benchmark: a fresh RabbitMQ vhost and fresh PostgreSQL databases,
the services it names started as the run command starts them, torn down afterwards. So a
benchmark controls what runs (how many ingest workers, say) and never touches a platform that
is running on this machine."""
from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote, urlparse

from sqlalchemy.engine import make_url

from services.common.config import ROOT, env

ADMIN = ("bench-admin@operator.example", "bench admin password")


class PlatformError(Exception):
    """The bench platform could not be set up or used; the message says why."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rabbitmqctl(*args: str) -> None:
    if not shutil.which("rabbitmqctl"):
        raise PlatformError("rabbitmqctl is needed (a vhost of the benchmark's own); run where RabbitMQ runs")
    done = subprocess.run(["rabbitmqctl", "-q", *args], capture_output=True, timeout=60)
    if done.returncode:
        raise PlatformError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr.decode()[:300]}")


def raise_file_limit() -> int:
    """Each live stream is a socket: lift the soft limit of open files to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Platform:
    def __init__(self, name: str, **settings: str):
        server = os.environ.get("TEST_DATABASE_URL") or env("DATABASE_URL")
        if not server or not server.startswith("postgresql"):
            raise PlatformError("needs PostgreSQL: set TEST_DATABASE_URL (or DATABASE_URL) to a server URL")
        run_id = uuid.uuid4().hex[:8]
        self.vhost = f"portal-bench-{name}-{run_id}"
        broker = urlparse(env("AMQP_URI"))
        self.amqp_uri = broker._replace(path="/" + quote(self.vhost, safe="")).geturl()
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.tmp = Path(tempfile.mkdtemp(prefix=f"portal-bench-{name}-"))
        self.database = make_url(server).set(database=f"portal_bench_{name}_{run_id}").render_as_string(
            hide_password=False)
        self.env = {**os.environ, "AMQP_URI": self.amqp_uri, "DATABASE_URL": self.database,
                    "VAR_DIR": str(self.tmp), "GATEWAY_BIND": f"127.0.0.1:{self.port}", "PORTAL_URL": self.base,
                    "PORTAL_ADMIN_EMAIL": ADMIN[0], "PORTAL_ADMIN_PASSWORD": ADMIN[1], "LOG_LEVEL": "WARNING",
                    "ACCESS_LOG": "0", "LOG_FORMAT": "text", **settings}
        self.env.pop("SMTP_URL", None)
        self.procs: dict[str, subprocess.Popen] = {}

    def url(self, service: str) -> str:
        return make_url(self.database).set(database=f"{make_url(self.database).database}_{service}").render_as_string(
            hide_password=False)

    def run(self, name: str, *args: str) -> subprocess.Popen:
        out = open(self.tmp / f"{name}.log", "ab")
        proc = subprocess.Popen([sys.executable, *args], env=self.env, cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        self.procs[name] = proc
        return proc

    def start(self, services: tuple[str, ...], gateway: bool = True) -> None:
        _rabbitmqctl("add_vhost", self.vhost)
        user = urlparse(self.amqp_uri).username or "guest"
        _rabbitmqctl("set_permissions", "-p", self.vhost, user, ".*", ".*", ".*")
        subprocess.run([sys.executable, "-m", "services.common.prepare"], env=self.env, cwd=ROOT,
                       check=True, timeout=300, capture_output=True)
        for service in services:
            self.run(service, "-m", "services.common.run", service)
        if gateway:
            self.run("gateway", "-m", "gunicorn", "-c", "gateway/gunicorn_conf.py", "gateway.wsgi:app")
        deadline = time.monotonic() + 90
        while not self.ready():
            if time.monotonic() > deadline:
                raise PlatformError(f"the bench platform did not get ready; logs in {self.tmp}")
            time.sleep(0.5)

    def ready(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(self.base + "/readyz", timeout=3) as response:
                return response.status == 200
        except OSError:
            return False

    def stop_process(self, name: str) -> None:
        proc = self.procs.pop(name, None)
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)

    def stop(self) -> None:
        from services.common.config import SERVICES
        from services.common.migrations import drop_database

        for proc in self.procs.values():         # all at once, then wait: each stops gracefully
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for name, proc in list(self.procs.items()):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                print(f"{name} did not stop within 30 s; killed")
                os.killpg(proc.pid, signal.SIGKILL)
        self.procs.clear()
        for service in SERVICES:
            try:
                drop_database(self.url(service))
            except Exception as exc:     # cleaning up: say what is left behind, go on
                print(f"could not drop {self.url(service)}: {exc}")
        try:
            _rabbitmqctl("delete_vhost", self.vhost)
        except PlatformError as exc:
            print(f"could not delete the vhost {self.vhost}: {exc}")
        shutil.rmtree(self.tmp, ignore_errors=True)
