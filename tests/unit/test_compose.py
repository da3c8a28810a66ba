"""docker-compose.yml and deploy/Dockerfile, checked against the code they start.

No Docker engine is needed: both files are read as data, and every name in them (services,
modules, files, settings, URLs) is looked up in the repository, so a rename in the code or a
typo in a container definition fails here rather than at ``docker compose up``.
"""
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from services.common.config import ROOT, SERVICES, VARIABLES, WORKERS

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
PLATFORM = (*SERVICES, *WORKERS, "gateway")
DECLARED = {v.name for v in VARIABLES}
DOCKERFILE_INSTRUCTIONS = {"FROM", "RUN", "COPY", "WORKDIR", "ENV", "USER", "EXPOSE", "CMD",
                           "HEALTHCHECK", "ARG", "LABEL", "ENTRYPOINT"}


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load(COMPOSE.read_text())["services"]


@pytest.fixture(scope="module")
def platform(services) -> dict:
    """The containers that run our image (prepare, the five services, the gateway)."""
    return {name: svc for name, svc in services.items() if "build" in svc}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    instructions, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, args = pending.strip().partition(" ")
        instructions.append((keyword, args.strip()))
        pending = ""
    assert not pending, "the Dockerfile ends in a continuation line"
    return instructions


def dockerfile_cmd() -> list[str]:
    return json.loads([args for keyword, args in dockerfile_instructions() if keyword == "CMD"][-1])


def as_argv(command) -> list[str]:
    return command if isinstance(command, list) else command.split()


def code_named_by(argv: list[str]) -> list[Path]:
    """The files of the repository a command runs: ``python -m <module>``, gunicorn's config
    file and app module, and for ``services.common.run`` the service it starts."""
    paths = []
    if argv[:2] == ["python", "-m"]:
        paths.append(ROOT / (argv[2].replace(".", "/") + ".py"))
        if argv[2] == "services.common.run":
            module = WORKERS.get(argv[3])
            paths.append(ROOT / (module.replace(".", "/") + ".py") if module
                         else ROOT / "services" / argv[3] / "service.py")
    elif argv[0] == "gunicorn":
        paths.append(ROOT / argv[argv.index("-c") + 1])
        paths.append(ROOT / (argv[-1].split(":")[0].replace(".", "/") + ".py"))
    return paths


def published(svc: dict) -> list[tuple[str, str, str]]:
    """(host address, host port, container port) of each published port ("" = every address)."""
    parts = [str(p).split(":") for p in svc.get("ports", [])]
    return [tuple(p) if len(p) == 3 else ("", *p) for p in parts]


# --- compose: the services and how they wait for each other --------------------------------
@pytest.mark.parametrize("name", PLATFORM)
def test_every_process_of_the_platform_runs_with_a_healthcheck(services, name):
    assert name in services, f"docker-compose.yml has no service {name!r}"
    check = services[name].get("healthcheck", {})
    assert check.get("test") and not check.get("disable"), f"{name} has no healthcheck"
    if name in SERVICES:    # each service is pinged under its own name, not a neighbour's
        assert check["test"][-2:] == ["services.common.healthcheck", name], check["test"]


def test_dependencies_exist_and_wait_for_the_right_condition(services):
    for name, svc in services.items():
        for dep, spec in svc.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on {dep!r}, which is not a service"
            want = "service_completed_successfully" if dep == "prepare" else "service_healthy"
            assert spec.get("condition") == want, f"{name} -> {dep}: {spec}"
            if want == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy"
            assert set(services[dep].get("profiles", [])) <= set(svc.get("profiles", [])), \
                f"{name} depends on {dep}, which only starts with profiles {services[dep]['profiles']}"
    assert set(services["prepare"]["depends_on"]) == {"rabbitmq", "postgres"}
    for name in SERVICES:
        assert "prepare" in services[name]["depends_on"], f"{name} may start before prepare ran"
    assert set(services["gateway"]["depends_on"]) == set(SERVICES)


def test_the_gateway_is_published_on_8000_and_the_rest_on_this_machine_only(services):
    gateway = services["gateway"]
    assert ("", "8000", "8000") in published(gateway)
    assert gateway["environment"]["GATEWAY_BIND"] == "0.0.0.0:8000"
    for name, svc in services.items():
        if name != "gateway":
            for address, host_port, _ in published(svc):
                assert address == "127.0.0.1", f"{name} publishes {host_port} to every address"


def test_the_gateway_healthcheck_asks_a_route_that_answers(services):
    from gateway.app import create_app

    code = services["gateway"]["healthcheck"]["test"][-1]
    port, path = re.search(r"http://127\.0\.0\.1:(\d+)(/[\w/]*)", code).groups()
    assert port == services["gateway"]["environment"]["GATEWAY_BIND"].rsplit(":", 1)[1]
    assert create_app().test_client().get(path).status_code == 200


# --- compose: what the containers run, and with which settings ------------------------------
def test_every_command_runs_code_that_exists(platform):
    assert set(PLATFORM) | {"prepare"} <= set(platform)
    for name, svc in platform.items():
        argv = as_argv(svc.get("command") or dockerfile_cmd())
        if name in SERVICES:
            assert argv == ["python", "-m", "services.common.run", name], argv   # supervised: see the file
        commands = [argv, as_argv(svc["healthcheck"]["test"])[1:]] if "healthcheck" in svc else [argv]
        paths = [path for command in commands for path in code_named_by(command)]
        assert paths, f"{name}: cannot tell what {argv} runs"
        missing = [str(p.relative_to(ROOT)) for p in paths if not p.is_file()]
        assert not missing, f"{name} runs code that does not exist: {missing}"
    assert code_named_by(as_argv(platform["prepare"]["command"])) == [
        ROOT / "services" / "common" / "prepare.py"]


def test_containers_set_only_declared_settings(platform):
    for name, svc in platform.items():
        env = svc.get("environment", {})
        assert isinstance(env, dict), f"{name}: write environment as a mapping"
        unknown = [k for k in env if k not in DECLARED and not k.endswith("_DATABASE_URL")]
        assert not unknown, f"{name} sets {unknown}, not in services/common/config.py VARIABLES"


def test_every_container_shares_one_secret_key_given_at_run_time(platform):
    keys = {name: svc["environment"].get("SECRET_KEY") for name, svc in platform.items()}
    assert len(set(keys.values())) == 1, keys
    assert next(iter(keys.values())).startswith("${SECRET_KEY"), "SECRET_KEY is written into the file"


def test_broker_and_database_urls_reach_the_compose_services_with_their_credentials(services, platform):
    rabbit, postgres = services["rabbitmq"]["environment"], services["postgres"]["environment"]
    for name, svc in platform.items():
        amqp, db = (urlparse(svc["environment"][k]) for k in ("AMQP_URI", "DATABASE_URL"))
        assert (amqp.hostname, amqp.username, amqp.password) == (
            "rabbitmq", rabbit["RABBITMQ_DEFAULT_USER"], rabbit["RABBITMQ_DEFAULT_PASS"]), name
        assert (db.hostname, db.username, db.password) == (
            "postgres", postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"]), name


def test_the_build_context_and_dockerfile_exist(platform):
    for name, svc in platform.items():
        context = ROOT / svc["build"]["context"]
        assert context.is_dir(), f"{name}: no build context {context}"
        assert (context / svc["build"]["dockerfile"]).resolve() == DOCKERFILE, name


def test_the_cluster_profile_is_three_rabbitmq_nodes_that_find_each_other(services):
    nodes = {name: svc for name, svc in services.items()
             if "cluster" in svc.get("profiles", []) and svc["image"].startswith("rabbitmq:")}
    assert len(nodes) == 3, sorted(nodes)
    cookies = {svc["environment"]["RABBITMQ_ERLANG_COOKIE"] for svc in nodes.values()}
    assert len(cookies) == 1 and all(cookies), cookies
    for name, svc in nodes.items():
        conf = [v.split(":") for v in svc["volumes"] if v.endswith("/etc/rabbitmq/rabbitmq.conf:ro")]
        assert conf, f"{name} does not mount a rabbitmq.conf"
        assert (ROOT / conf[0][0]).resolve() == ROOT / "deploy" / "rabbitmq" / "cluster.conf"
    settings = dict(line.split(" = ", 1) for line in
                    (ROOT / "deploy/rabbitmq/cluster.conf").read_text().splitlines()
                    if line.strip() and not line.startswith("#"))
    assert settings["cluster_formation.peer_discovery_backend"] == "classic_config"
    listed = {v for k, v in settings.items() if k.startswith("cluster_formation.classic_config.nodes.")}
    assert listed == {f"rabbit@{svc['hostname']}" for svc in nodes.values()}


# --- the Dockerfile -------------------------------------------------------------------------
def test_the_dockerfile_has_only_known_instructions_and_copies_what_exists():
    instructions = dockerfile_instructions()
    unknown = [keyword for keyword, _ in instructions if keyword not in DOCKERFILE_INSTRUCTIONS]
    assert not unknown, f"unknown Dockerfile instructions: {unknown}"
    assert instructions[0][0] in ("FROM", "ARG")
    copies = [args.split() for keyword, args in instructions if keyword == "COPY"]
    assert copies
    for args in copies:
        if any(a.startswith("--from=") for a in args):
            continue        # from another stage, not from the repository
        sources = [a for a in args if not a.startswith("--")][:-1]
        missing = [s for s in sources if not (ROOT / s).exists()]
        assert sources and not missing, f"COPY of what the repository lacks: {missing or args}"


def test_the_image_runs_the_gateway_as_a_user_with_no_secret_baked_in():
    instructions = dockerfile_instructions()
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), users
    assert code_named_by(dockerfile_cmd()) == [ROOT / "gateway" / "gunicorn_conf.py",
                                               ROOT / "gateway" / "wsgi.py"]
    env_names = [part.split("=", 1)[0] for keyword, args in instructions if keyword in ("ENV", "ARG")
                 for part in args.split()]
    foreign = [n for n in env_names if n not in DECLARED and not n.startswith(("PYTHON", "PIP_"))]
    assert not foreign, f"the image sets {foreign}: neither a platform setting nor Python's"
    assert "SECRET_KEY" not in env_names and not any("PASSWORD" in n for n in env_names)


# --- the services' healthcheck ----------------------------------------------------------------
def test_healthcheck_fails_at_once_with_one_line_when_the_broker_is_unreachable():
    """Docker marks the container unhealthy on exit 1; RpcClient alone would wait 15 s first."""
    env = {**os.environ, "AMQP_URI": "amqp://guest:guest@127.0.0.1:1/"}
    done = subprocess.run([sys.executable, "-m", "services.common.healthcheck", "identity"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=20)
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("identity unhealthy:"), done.stderr
    assert "refused" in lines[0].lower()


class FakeBroker:
    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def ensure_connection(self, **kwargs):
        return self


@pytest.mark.parametrize("answer,code,out,err", [
    ({"service": "orders", "ok": True}, 0, '{"service": "orders", "ok": true}', ""),
    ("deadline", 1, "", "orders unhealthy: DeadlineExceeded: the orders service did not answer"),
    ({"service": "orders", "ok": False}, 1, "", "orders unhealthy: ValueError: unexpected reply"),
])
def test_healthcheck_is_healthy_only_when_the_service_answers_its_ping(monkeypatch, capsys,
                                                                     answer, code, out, err):
    from services.common import healthcheck
    from services.common.errors import DeadlineExceeded

    calls = []

    class FakeClient:
        def __init__(self, timeout):
            self.timeout = timeout

        def call(self, service, method):
            calls.append((service, method, self.timeout))
            if answer == "deadline":
                raise DeadlineExceeded("The orders service did not answer in time.")
            return answer

    monkeypatch.setattr(healthcheck, "Connection", FakeBroker)
    monkeypatch.setattr(healthcheck, "RpcClient", FakeClient)
    assert healthcheck.main(["orders"]) == code
    assert calls == [("orders", "ping", 5)]
    captured = capsys.readouterr()
    assert captured.out.strip() == out
    assert captured.err.lower().startswith(err.lower())
    assert captured.err.count("\n") == (1 if err else 0)


def test_healthcheck_refuses_a_name_that_is_not_a_service(capsys):
    from services.common import healthcheck

    assert healthcheck.main(["gateway"]) == 1
    assert "usage" in capsys.readouterr().err
