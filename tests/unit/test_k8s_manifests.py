"""deploy/k8s: the committed manifests are what deploy/k8s/render.py renders, each validates
against the Kubernetes API schema (kubernetes-validate, strict: an unknown field is an error),
and every process of the platform is deployed the way a production cluster needs."""
import importlib.util
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from services.common.broker_access import WITHOUT_BROKER
from services.common.config import ROOT, SERVICES, VARIABLES, WORKERS

K8S = Path(ROOT, "deploy", "k8s")
KUBERNETES = "1.31.0"        # the oldest minor version still supported upstream when this was written
PROCESSES = SERVICES + tuple(WORKERS) + ("gateway",)


def _render():
    spec = importlib.util.spec_from_file_location("k8s_render", K8S / "render.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RENDER = _render()


def resources(name: str | None = None) -> list[dict]:
    paths = [K8S / name] if name else sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
    return [doc for path in paths for doc in yaml.safe_load_all(path.read_text()) if doc]


def of_kind(kind: str, name: str) -> dict:
    found = [r for r in resources() if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def test_the_committed_manifests_are_what_render_py_renders():
    expected = RENDER.rendered()
    on_disk = {p.name: p.read_text() for p in K8S.glob("*.yaml")}
    assert on_disk.keys() == expected.keys(), "run: python deploy/k8s/render.py"
    stale = [name for name in expected if on_disk[name] != expected[name]]
    assert not stale, f"{stale} differ from render.py's output; run: python deploy/k8s/render.py"


@pytest.mark.parametrize("document", resources(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_each_manifest_validates_against_the_kubernetes_schema(document):
    kubernetes_validate.validate(document, KUBERNETES, strict=True)


def test_the_schema_check_catches_a_misspelt_field():
    broken = of_kind("Deployment", "identity")
    broken["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"periodSeconds": 5}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


@pytest.mark.parametrize("name", PROCESSES)
def test_every_process_has_probes_requests_a_budget_and_an_autoscaler(name):
    deployment = of_kind("Deployment", name)
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert probe in container, f"{name} has no {probe}"
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert "memory" in container["resources"]["limits"]
    assert container["securityContext"]["readOnlyRootFilesystem"] and pod["securityContext"]["runAsNonRoot"]
    assert deployment["spec"]["replicas"] >= 2          # one pod down is not the service down
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    budget = of_kind("PodDisruptionBudget", name)
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    scaler = of_kind("HorizontalPodAutoscaler", name)
    assert scaler["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
    assert scaler["spec"]["minReplicas"] >= 2


@pytest.mark.parametrize("name", SERVICES + ("tracking-ingest",))
def test_services_scale_on_the_depth_of_their_queue_too(name):
    metrics = of_kind("HorizontalPodAutoscaler", name)["spec"]["metrics"]
    queues = [m["external"]["metric"]["selector"]["matchLabels"]["queue"] for m in metrics if m["type"] == "External"]
    assert queues == [RENDER.QUEUE_OF[name]]


def test_processes_read_settings_from_the_config_map_and_secrets_from_the_secret():
    declared = {v.name for v in VARIABLES}
    config = of_kind("ConfigMap", RENDER.CONFIG)["data"]
    assert config.keys() <= declared, config.keys() - declared
    secret_names = {"SECRET_KEY", "DATABASE_URL", "PORTAL_ADMIN_PASSWORD", "SMTP_URL",
                    "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET"}
    assert not (secret_names | {"AMQP_URI"}) & config.keys(), "a secret in the ConfigMap"
    example = of_kind("Secret", RENDER.SECRET)["stringData"]
    assert secret_names <= example.keys() and "AMQP_URI" not in example
    assert all(value.count("<") for key, value in example.items() if key in secret_names), \
        "secret.example.yaml holds placeholders only"
    users = of_kind("Secret", RENDER.BROKER_USERS)["stringData"]
    assert all("<password>" in uri for uri in users.values())
    for name in PROCESSES + ("portal-prepare",):
        kind = "Job" if name == "portal-prepare" else "Deployment"
        (container,) = of_kind(kind, name)["spec"]["template"]["spec"]["containers"]
        assert container["envFrom"] == [{"configMapRef": {"name": RENDER.CONFIG}},
                                        {"secretRef": {"name": RENDER.SECRET}}]
        # Only its own broker user, from a Secret: no value is written into a pod spec.
        user = "admin" if name == "portal-prepare" else name
        expected = [] if name in WITHOUT_BROKER else [
            {"name": "AMQP_URI", "valueFrom": {"secretKeyRef": {"name": RENDER.BROKER_USERS, "key": user}}}]
        assert container["env"] == expected, name
        assert not expected or user in users


def test_the_broker_loads_the_users_and_asks_broker_auth_about_drivers():
    (node,) = of_kind("StatefulSet", "rabbitmq")["spec"]["template"]["spec"]["containers"]
    assert not any(e["name"].startswith("RABBITMQ_DEFAULT") for e in node["env"])
    conf = of_kind("ConfigMap", "rabbitmq")["data"]
    assert "rabbitmq_auth_backend_http" in conf["enabled_plugins"]
    assert "auth_backends.1 = internal" in conf["rabbitmq.conf"] and "load_definitions" in conf["rabbitmq.conf"]
    assert f"http://{RENDER.BROKER_AUTH}:{RENDER.BROKER_AUTH_PORT}/topic" in conf["rabbitmq.conf"]
    policy = of_kind("NetworkPolicy", RENDER.BROKER_AUTH)["spec"]
    assert policy["ingress"][0]["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "rabbitmq"}}}]


def test_migrations_and_topology_run_as_a_job_and_the_example_secret_is_not_applied():
    job = of_kind("Job", "portal-prepare")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", "services.common.prepare"]
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml", "secret.example.yaml"}


def test_rabbitmq_is_a_three_node_cluster_that_tolerates_one_node_away():
    nodes = of_kind("StatefulSet", "rabbitmq")
    assert nodes["spec"]["replicas"] == 3 and nodes["spec"]["volumeClaimTemplates"]
    assert of_kind("PodDisruptionBudget", "rabbitmq")["spec"]["maxUnavailable"] == 1
    conf = of_kind("ConfigMap", "rabbitmq")["data"]["rabbitmq.conf"]
    assert "peer_discovery_backend = k8s" in conf and "pause_minority" in conf
    (container,) = nodes["spec"]["template"]["spec"]["containers"]
    cookie = next(e for e in container["env"] if e["name"] == "RABBITMQ_ERLANG_COOKIE")
    assert cookie["valueFrom"]["secretKeyRef"]["name"] == RENDER.BROKER_SECRET
