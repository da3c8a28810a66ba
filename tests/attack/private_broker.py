"""A RabbitMQ node of this run's own, for the fault suites: a second node of the installed server
on free ports and a data directory under the run's tmp dir, so a suite may kill -9 it and start
it again without touching the machine's broker (other suites' stacks run on that one).

The node keeps its data directory across a kill: durable queues and persistent messages must
come back with it (that is what the soak proves)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

from tests.conftest import TMP, wait_for
from tests.conftest import free_port


class PrivateBroker:
    def __init__(self, name: str, plugins: tuple[str, ...] = (), config: str = ""):
        """``plugins`` to enable and ``config`` lines to add to its rabbitmq.conf."""
        self.node = f"portal-{name}-{uuid.uuid4().hex[:6]}@localhost"
        self.port = free_port()
        self.home = Path(TMP, f"rabbit-{name}")
        self.home.mkdir(exist_ok=True)
        self.uri = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        for sub in ("mnesia", "log"):
            (self.home / sub).mkdir(exist_ok=True)
        self.proc: subprocess.Popen | None = None
        self.kills = 0
        # Our own config and env files: the machine's name the port (5672) and node we must not use.
        (self.home / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\nlog.console = false\n"
            "log.file.level = warning\n" + config)
        (self.home / "rabbitmq-env.conf").write_text("ERL_EPMD_ADDRESS=127.0.0.1\n")
        (self.home / "enabled_plugins").write_text(f"[{','.join(plugins)}].\n")
        self.env = {**os.environ,
                    "RABBITMQ_NODENAME": self.node, "RABBITMQ_NODE_PORT": str(self.port),
                    "RABBITMQ_DIST_PORT": str(free_port()),
                    "RABBITMQ_CONF_ENV_FILE": str(self.home / "rabbitmq-env.conf"),
                    "RABBITMQ_CONFIG_FILE": str(self.home / "rabbitmq.conf"),
                    "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.home / "enabled_plugins"),
                    "RABBITMQ_MNESIA_BASE": str(self.home / "mnesia"),
                    "RABBITMQ_LOG_BASE": str(self.home / "log"),
                    "RABBITMQ_PID_FILE": str(self.home / "beam.pid"),
                    "ERL_FLAGS": "-kernel inet_dist_use_interface {127,0,0,1}"}

    @classmethod
    def cluster(cls, name: str, size: int = 3) -> list["PrivateBroker"]:
        """``size`` nodes that form one cluster (peer discovery from the list of their names, as
        deploy/rabbitmq/cluster.conf does): start the first, then the others, which join it."""
        nodes = [cls(f"{name}{n}") for n in range(1, size + 1)]
        peers = "cluster_formation.peer_discovery_backend = classic_config\n" + "".join(
            f"cluster_formation.classic_config.nodes.{n} = {node.node}\n" for n, node in enumerate(nodes, 1))
        for node in nodes:
            with open(node.home / "rabbitmq.conf", "a") as conf:
                conf.write(peers)
        return nodes

    def running_nodes(self) -> list[str]:
        import json

        status = self.ctl("cluster_status", "--formatter", "json")
        return json.loads(status.stdout).get("running_nodes", []) if status.returncode == 0 else []

    def ctl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([_script("rabbitmqctl"), "-q", "-n", self.node, *args], capture_output=True,
                              text=True, timeout=timeout, env=self.env)

    def start(self) -> None:
        out = open(self.home / "server.out", "ab")
        self.proc = subprocess.Popen([_script("rabbitmq-server")], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_for(self._accepting, timeout=120, interval=0.5, what=f"RabbitMQ node {self.node} to start")

    def _accepting(self) -> bool:
        from kombu import Connection

        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(f"RabbitMQ node {self.node} exited: see {self.home}/server.out")
        try:
            with Connection(self.uri, connect_timeout=2) as conn:
                conn.connect()
            return True
        except Exception:
            return False

    def beam_pid(self) -> int:
        return int((self.home / "beam.pid").read_text().strip())

    def kill9(self) -> None:
        """The whole node dies at once, as on a power cut: no clean close of any connection."""
        os.kill(self.beam_pid(), signal.SIGKILL)
        self.proc.wait(timeout=30)
        if _group_alive(self.proc.pid):        # epmd helpers of the dead node, if any
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.kills += 1

    def restart_after_kill(self, down_seconds: float = 1.0) -> None:
        self.kill9()
        time.sleep(down_seconds)      # clients see the broker gone for a moment, not just a reset
        self.start()

    def queues(self) -> list[tuple[str, int, int]]:
        """(name, messages, consumers) of every queue of the node's default vhost."""
        listing = self.ctl("list_queues", "name", "messages", "consumers", "--no-table-headers").stdout
        rows = []
        for line in listing.splitlines():
            parts = line.split("\t")
            if len(parts) == 3 and parts[1].isdigit():
                rows.append((parts[0], int(parts[1]), int(parts[2])))
        return rows

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.ctl("stop", timeout=60)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        shutil.rmtree(self.home, ignore_errors=True)


def _script(name: str) -> str:
    """The server's own script, not the distribution's wrapper in /usr/sbin: as root the wrapper
    re-runs it as the rabbitmq user, who can reach neither our tmp dir nor our Erlang cookie."""
    own = Path("/usr/lib/rabbitmq/bin", name)
    return str(own) if own.exists() else (shutil.which(name) or name)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False
