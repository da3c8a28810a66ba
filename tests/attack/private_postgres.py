"""A PostgreSQL cluster of this run's own, for the fault suites: initdb in a tmp dir of its own, a
free port, trust auth on loopback, started and restarted with pg_ctl (never the machine's
server on 5432, which other suites' stacks use). PostgreSQL refuses to run as root, so as root
the cluster runs as the ``postgres`` user; the suite is skipped when that cannot be arranged."""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.conftest import RUN_ID
from tests.conftest import free_port


def _bin(tool: str) -> str | None:
    return shutil.which(tool) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"))), None)


class PrivatePostgres:
    def __init__(self, name: str):
        self.initdb, self.pg_ctl = _bin("initdb"), _bin("pg_ctl")
        if not (self.initdb and self.pg_ctl):
            pytest.skip("initdb/pg_ctl not found: cannot run a private PostgreSQL")
        self._as: list[str] = []
        owner = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no postgres user to run a private PostgreSQL")
            self._as = ["runuser", "-u", "postgres", "--"]
        # Not under the run's tmp dir: that one is root's (0700) and the postgres user must reach this.
        self.root = Path(tempfile.mkdtemp(prefix=f"portal-pg-{name}-{RUN_ID}-"))
        if owner is not None:
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/portal_{name}"
        self.restarts = 0

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"{args[0]} failed: {done.stdout}{done.stderr}"
        return done

    def start(self) -> None:
        self._run(self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        with open(self.data / "postgresql.conf", "a") as conf:
            # max_connections: five services x (pool + overflow) x two instances while one restarts.
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                       "max_connections = 300\nfsync = off\nfull_page_writes = off\n")
        self.ctl("start", "-w", "-t", "60", "-l", str(self.data / "server.log"))

    def ctl(self, *args: str) -> None:
        self._run(self.pg_ctl, "-D", str(self.data), *args)

    def restart(self) -> None:
        """``pg_ctl restart -m fast``: every connection is cut, in-flight statements fail."""
        self.ctl("restart", "-m", "fast", "-w", "-t", "60", "-l", str(self.data / "server.log"))
        self.restarts += 1

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            subprocess.run([*self._as, self.pg_ctl, "-D", str(self.data), "stop", "-m", "immediate"],
                           capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)

