"""The platform's Kubernetes manifests, rendered from one description of its processes.

    python deploy/k8s/render.py          # rewrites deploy/k8s/*.yaml from this file
    kubectl apply -k deploy/k8s          # see deploy/RUNBOOK.md for the order on a first install

Every service and worker is the same kind of thing (the one image of deploy/Dockerfile with
another command), so they are written once here, from services.common.config's SERVICES and
WORKERS: a process added there gets its Deployment, probes, disruption budget and autoscaler
without anyone copying a block of YAML. The rendered files are committed (plain YAML to read and
to apply); tests/unit/test_k8s_manifests.py fails when they differ from what this renders and
validates each against the Kubernetes API schemas.

Assumed around the manifests, as in any real cluster: PostgreSQL is a managed server (its URL in
the Secret), documents go to an S3-compatible bucket (BLOB_S3_*), Prometheus scrapes the pods
that say so (annotations; every process serves /metrics on port 9100, deploy/monitoring has the
dashboard and alert rules), and prometheus-adapter serves the RabbitMQ queue depth as an
external metric for the autoscalers (``rabbitmq_queue_messages_ready{queue=...}``, from RabbitMQ's own
rabbitmq_prometheus plugin).
"""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from services.common.config import SERVICES, WORKERS  # noqa: E402
from services.common.broker_access import ADMIN, WITHOUT_BROKER, auth_http_config  # noqa: E402
from services.common.topology import INGEST_QUEUE  # noqa: E402

NAMESPACE = "portal"
IMAGE = "registry.example.com/customer-portal:1.0.0"    # set by the release (kustomize images:)
CONFIG = "portal-config"
SECRET = "portal-secrets"
BROKER_SECRET = "rabbitmq-secrets"     # the Erlang cookie stays with the broker's pods
BROKER_USERS = "broker-users"          # process -> AMQP_URI of its own broker user
BROKER_DEFINITIONS = "rabbitmq-definitions"   # those users, as the broker loads them at boot
BROKER_AUTH = "tracking-broker-auth"   # answers the broker about driver apps (HTTP auth backend)
BROKER_AUTH_PORT = 8010
METRICS_PORT = 9100                                     # every process's /metrics (services/common/metrics.py)
UID = 10001                                             # the image's user (deploy/Dockerfile)
PART_OF = {"app.kubernetes.io/part-of": "customer-portal"}

# What each process asks for. Figures from bench/ on a 2-core machine: a service idles at
# ~90 MB and stays under 300 MB under load; the import worker parses spreadsheets (bounded to
# 200 MB a file by the hostile-upload checks) so it gets the most memory.
RESOURCES = {
    "gateway": ({"cpu": "250m", "memory": "256Mi"}, {"memory": "512Mi"}),
    "service": ({"cpu": "100m", "memory": "192Mi"}, {"memory": "512Mi"}),
    "orders-imports": ({"cpu": "250m", "memory": "384Mi"}, {"memory": "1Gi"}),
    # runs the same upload checks on mailed attachments (up to MAX_UPLOAD_BYTES each, in memory)
    "orders-mail-imports": ({"cpu": "100m", "memory": "256Mi"}, {"memory": "1Gi"}),
    "tracking-ingest": ({"cpu": "200m", "memory": "192Mi"}, {"memory": "512Mi"}),
    BROKER_AUTH: ({"cpu": "50m", "memory": "128Mi"}, {"memory": "256Mi"}),
}
# Queue whose depth scales a process out (besides CPU): a service's RPC queue, the drivers'
# ingest queue. The import worker takes its jobs from the database and scales on CPU alone.
QUEUE_OF = {**{s: f"rpc-{s}" for s in SERVICES}, "tracking-ingest": INGEST_QUEUE}
QUEUE_TARGET = "20"        # ready messages per pod before another pod is added
# A worker others connect to: its port (container, Service). The import-by-email listener takes
# the mail of IMPORT_MAIL_DOMAIN (its MX points at this Service, e.g. a LoadBalancer in front).
LISTENS = {"orders-mail-imports": ("smtp", 2525, 25)}


def labels(name: str, component: str) -> dict:
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/component": component, **PART_OF}


def selector(name: str) -> dict:
    return {"app.kubernetes.io/name": name}


def meta(name: str, component: str, **extra) -> dict:
    return {"name": name, "labels": labels(name, component), **extra}


# --- the platform's processes ---------------------------------------------------------------
def healthcheck(name: str, period: int, failures: int) -> dict:
    """A service is healthy when it answers an RPC ping (it has no port); a worker when its
    supervisor's liveness file is fresh (services/common/healthcheck.py)."""
    return {"exec": {"command": ["python", "-m", "services.common.healthcheck", name]},
            "periodSeconds": period, "timeoutSeconds": 10, "failureThreshold": failures}


def http_check(path: str, period: int, failures: int) -> dict:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period,
            "timeoutSeconds": 5, "failureThreshold": failures}


def broker_user(name: str) -> list[dict]:
    """AMQP_URI of the process's own broker user (services/common/broker_access.py), from the
    Secret its definitions command wrote; a process that never uses the broker gets none."""
    user = ADMIN if name == "prepare" else name
    if user in WITHOUT_BROKER:
        return []
    return [{"name": "AMQP_URI", "valueFrom": {"secretKeyRef": {"name": BROKER_USERS, "key": user}}}]


def container(name: str, command: list[str], resources: tuple[dict, dict], probes: dict,
              ports: list | None = None) -> dict:
    requests, limits = resources
    spec = {
        "name": name, "image": IMAGE, "command": command,
        "envFrom": [{"configMapRef": {"name": CONFIG}}, {"secretRef": {"name": SECRET}}],
        "env": broker_user(name),
        "resources": {"requests": requests, "limits": limits},
        "ports": [*(ports or []), {"name": "metrics", "containerPort": METRICS_PORT}],
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "var", "mountPath": "/var/lib/portal"},
                         {"name": "tmp", "mountPath": "/tmp"}],
        **probes,
    }
    return spec


def deployment(name: str, component: str, main: dict, replicas: int = 2) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(name, component),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(name)},
            # One new pod before an old one goes: capacity never drops during a roll-out, and
            # old and new code run side by side for a while (RUNBOOK: upgrades).
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels(name, component),
                             "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT)}},
                "spec": {
                    "automountServiceAccountToken": False,
                    # SIGTERM lets in-flight handlers finish before the connection closes
                    # (PITFALLS 1); the supervisor forwards it and waits.
                    "terminationGracePeriodSeconds": 40,
                    "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID,
                                        "fsGroup": UID, "seccompProfile": {"type": "RuntimeDefault"}},
                    "topologySpreadConstraints": [{
                        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": selector(name)}}],
                    "containers": [main],
                    # VAR_DIR holds the supervisor's liveness files only: the root file system
                    # stays read-only.
                    "volumes": [{"name": "var", "emptyDir": {}}, {"name": "tmp", "emptyDir": {}}],
                },
            },
        },
    }


def disruption_budget(name: str, component: str) -> dict:
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta(name, component),
            "spec": {"minAvailable": 1, "selector": {"matchLabels": selector(name)}}}


def autoscaler(name: str, component: str, most: int, queue: str | None) -> dict:
    metrics = [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]
    if queue:
        metrics.append({"type": "External", "external": {
            "metric": {"name": "rabbitmq_queue_messages_ready", "selector": {"matchLabels": {"queue": queue}}},
            "target": {"type": "AverageValue", "averageValue": QUEUE_TARGET}}})
    return {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta(name, component),
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                 "minReplicas": 2, "maxReplicas": most, "metrics": metrics,
                 # Scale in slowly: a queue that empties for a minute often fills again.
                 "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}}},
    }


def process(name: str) -> list[dict]:
    """A service or worker: the supervisor (services.common.run) with the process in a child."""
    component = "worker" if name in WORKERS else "service"
    resources = RESOURCES.get(name, RESOURCES["service"])
    probes = {"startupProbe": healthcheck(name, 5, 24),        # two minutes to connect and migrate-check
              "readinessProbe": healthcheck(name, 15, 2),
              "livenessProbe": healthcheck(name, 30, 4)}
    listens = LISTENS.get(name)
    main = container(name, ["python", "-m", "services.common.run", name], resources, probes,
                     ports=[{"name": listens[0], "containerPort": listens[1]}] if listens else None)
    service = [{"apiVersion": "v1", "kind": "Service", "metadata": meta(name, component),
                "spec": {"selector": selector(name),
                         "ports": [{"name": listens[0], "port": listens[2], "targetPort": listens[0]}]}}
               ] if listens else []
    return [deployment(name, component, main), *service, disruption_budget(name, component),
            autoscaler(name, component, 8, QUEUE_OF.get(name))]


def gateway() -> list[dict]:
    probes = {"startupProbe": http_check("/healthz", 2, 30),
              "readinessProbe": http_check("/readyz", 5, 2),      # every service answers
              "livenessProbe": http_check("/healthz", 10, 3)}     # the process itself
    main = container("gateway", ["gunicorn", "-c", "gateway/gunicorn_conf.py", "gateway.wsgi:app"],
                     RESOURCES["gateway"], probes, ports=[{"name": "http", "containerPort": 8000}])
    service = {"apiVersion": "v1", "kind": "Service", "metadata": meta("gateway", "gateway"),
               "spec": {"selector": selector("gateway"),
                        "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
    return [deployment("gateway", "gateway", main), service, disruption_budget("gateway", "gateway"),
            autoscaler("gateway", "gateway", 10, None)]


def broker_auth() -> list[dict]:
    """services/tracking/broker_auth.py: the broker asks it whether a driver app may sign in and
    publish. Only the broker's pods may reach it (NetworkPolicy)."""
    probes = {"readinessProbe": http_check("/healthz", 10, 2), "livenessProbe": http_check("/healthz", 20, 3)}
    main = container(BROKER_AUTH, ["gunicorn", "-w", "2", "-b", f"0.0.0.0:{BROKER_AUTH_PORT}",
                                   "services.tracking.broker_auth:create_app()"],
                     RESOURCES[BROKER_AUTH], probes, ports=[{"name": "http", "containerPort": BROKER_AUTH_PORT}])
    service = {"apiVersion": "v1", "kind": "Service", "metadata": meta(BROKER_AUTH, "broker-auth"),
               "spec": {"selector": selector(BROKER_AUTH),
                        "ports": [{"name": "http", "port": BROKER_AUTH_PORT, "targetPort": "http"}]}}
    only_broker = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                   "metadata": meta(BROKER_AUTH, "broker-auth"),
                   "spec": {"podSelector": {"matchLabels": selector(BROKER_AUTH)}, "policyTypes": ["Ingress"],
                            "ingress": [{"from": [{"podSelector": {"matchLabels": selector("rabbitmq")}}],
                                         "ports": [{"port": BROKER_AUTH_PORT}]}]}}
    return [deployment(BROKER_AUTH, "broker-auth", main), service, only_broker,
            disruption_budget(BROKER_AUTH, "broker-auth")]


def prepare() -> list[dict]:
    """Databases, migrations, the RabbitMQ topology and the operator admin, before the services
    (DESIGN: topology first, PITFALLS 4). Migrations only add (expand/contract, RUNBOOK)."""
    main = container("prepare", ["python", "-m", "services.common.prepare"], RESOURCES["service"], {})
    pod = deployment("portal-prepare", "prepare", main)["spec"]["template"]
    pod["spec"]["restartPolicy"] = "OnFailure"
    del pod["metadata"]["annotations"]          # a Job's run is over before a scrape
    return [{"apiVersion": "batch/v1", "kind": "Job", "metadata": meta("portal-prepare", "prepare"),
             "spec": {"backoffLimit": 6, "ttlSecondsAfterFinished": 3600, "template": pod}}]


def settings() -> list[dict]:
    """What is not secret, in a ConfigMap; the Secrets' keys are shown in secret.example.yaml
    (placeholders) and the real ones created by the operator (RUNBOOK), never committed."""
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(CONFIG, "config"), "data": {
        "LOG_FORMAT": "json", "VAR_DIR": "/var/lib/portal", "METRICS_PORT": str(METRICS_PORT), "GATEWAY_BIND": "0.0.0.0:8000",
        "IMPORT_MAIL_BIND": "0.0.0.0:2525", "IMPORT_MAIL_DOMAIN": "imports.portal.example.com",
        "GATEWAY_WORKERS": "2", "PORTAL_URL": "https://portal.example.com",
        "PORTAL_OPERATOR_NAME": "Example Logistics", "BLOB_S3_BUCKET": "portal-documents",
        "BILLING_PAYMENT_PROVIDER": "stripe"}}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": meta(SECRET, "config"), "type": "Opaque",
              "stringData": {
                  "SECRET_KEY": "<64 random bytes, base64; the same for every process>",
                  "DATABASE_URL": "postgresql://portal:<password>@postgres.example.internal:5432/portal",
                  "PORTAL_ADMIN_EMAIL": "admin@example.com", "PORTAL_ADMIN_PASSWORD": "<first password>",
                  "SMTP_URL": "smtp://<user>:<password>@smtp.example.com:587?starttls=required",
                  "STRIPE_API_KEY": "<sk_live_...>", "STRIPE_WEBHOOK_SECRET": "<whsec_...>",
                  "AWS_ACCESS_KEY_ID": "<key>", "AWS_SECRET_ACCESS_KEY": "<secret>"}}
    broker = {"apiVersion": "v1", "kind": "Secret", "metadata": meta(BROKER_SECRET, "config"), "type": "Opaque",
              "stringData": {"RABBITMQ_ERLANG_COOKIE": "<random, the same on the three nodes>"}}
    # Both written by `python -m services.common.broker_access definitions` (RUNBOOK).
    users = {"apiVersion": "v1", "kind": "Secret", "metadata": meta(BROKER_USERS, "config"), "type": "Opaque",
             "stringData": {user: f"amqp://{user}:<password>@rabbitmq:5672/"
                            for user in sorted({*SERVICES, *WORKERS, "gateway", BROKER_AUTH, ADMIN} - WITHOUT_BROKER)}}
    definitions = {"apiVersion": "v1", "kind": "Secret", "metadata": meta(BROKER_DEFINITIONS, "config"),
                   "type": "Opaque", "stringData": {"definitions.json": "<the users, their password hashes and permissions>"}}
    return [config, secret, broker, users, definitions]


# --- RabbitMQ: three nodes that find each other through the Kubernetes API ---------------------
RABBITMQ_CONF = """\
# Peers found through the Kubernetes API (the headless service's endpoints).
cluster_formation.peer_discovery_backend = k8s
cluster_formation.k8s.host = kubernetes.default.svc
cluster_formation.k8s.address_type = hostname
cluster_formation.k8s.service_name = rabbitmq-nodes
cluster_formation.target_cluster_size_hint = 3
# A node cut off from the majority stops serving rather than let the two sides diverge; the
# platform's queues are quorum queues, which need a majority of the three anyway.
cluster_partition_handling = pause_minority
vm_memory_high_watermark.relative = 0.6
disk_free_limit.absolute = 2GB
prometheus.return_per_object_metrics = true
# The users (one per process kind, with only the permissions it needs) and the admin: loaded at
# boot from the Secret services/common/broker_access.py wrote; no default user is created.
load_definitions = /etc/rabbitmq/definitions/definitions.json
# Driver apps are not users: tracking-broker-auth says who they are and what they may publish.
""" + auth_http_config(f"http://{BROKER_AUTH}:{BROKER_AUTH_PORT}")


def rabbitmq() -> list[dict]:
    name, component = "rabbitmq", "broker"
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(name, component)}
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta(name, component),
            "rules": [{"apiGroups": [""], "resources": ["endpoints"], "verbs": ["get"]},
                      {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}]}
    binding = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
               "metadata": meta(name, component),
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
               "subjects": [{"kind": "ServiceAccount", "name": name}]}
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(name, component), "data": {
        "rabbitmq.conf": RABBITMQ_CONF,
        "enabled_plugins": "[rabbitmq_management,rabbitmq_peer_discovery_k8s,rabbitmq_prometheus,"
                           "rabbitmq_auth_backend_http].\n"}}
    nodes = {"apiVersion": "v1", "kind": "Service", "metadata": meta("rabbitmq-nodes", component),
             "spec": {"clusterIP": "None", "publishNotReadyAddresses": True, "selector": selector(name),
                      "ports": [{"name": "epmd", "port": 4369}, {"name": "cluster", "port": 25672}]}}
    client = {"apiVersion": "v1", "kind": "Service", "metadata": meta(name, component),
              "spec": {"selector": selector(name),
                       "ports": [{"name": "amqp", "port": 5672}, {"name": "management", "port": 15672},
                                 {"name": "prometheus", "port": 15692}]}}
    diagnostics = lambda *check, period=30: {      # noqa: E731 (three probes, one shape)
        "exec": {"command": ["rabbitmq-diagnostics", "-q", *check]},
        "periodSeconds": period, "timeoutSeconds": 20, "failureThreshold": 3}
    node = {
        "name": name, "image": "rabbitmq:3.13-management",
        "env": [
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
            {"name": "RABBITMQ_USE_LONGNAME", "value": "true"},
            {"name": "RABBITMQ_NODENAME",
             "value": "rabbit@$(POD_NAME).rabbitmq-nodes.$(POD_NAMESPACE).svc.cluster.local"},
            {"name": "K8S_HOSTNAME_SUFFIX", "value": ".rabbitmq-nodes.$(POD_NAMESPACE).svc.cluster.local"},
            {"name": "RABBITMQ_ERLANG_COOKIE",
             "valueFrom": {"secretKeyRef": {"name": BROKER_SECRET, "key": "RABBITMQ_ERLANG_COOKIE"}}}],
        "ports": [{"name": "amqp", "containerPort": 5672}, {"name": "management", "containerPort": 15672},
                  {"name": "prometheus", "containerPort": 15692}, {"name": "epmd", "containerPort": 4369},
                  {"name": "cluster", "containerPort": 25672}],
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
        "volumeMounts": [{"name": "data", "mountPath": "/var/lib/rabbitmq"},
                         {"name": "config", "mountPath": "/etc/rabbitmq/rabbitmq.conf", "subPath": "rabbitmq.conf"},
                         {"name": "config", "mountPath": "/etc/rabbitmq/enabled_plugins", "subPath": "enabled_plugins"},
                         {"name": "definitions", "mountPath": "/etc/rabbitmq/definitions", "readOnly": True}],
        "startupProbe": {**diagnostics("ping", period=10), "failureThreshold": 30},
        # Ready once it takes AMQP connections (ping answers while the node still boots).
        "readinessProbe": diagnostics("check_port_connectivity", period=10),
        "livenessProbe": diagnostics("status", period=60),
    }
    stateful = {
        "apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta(name, component),
        "spec": {
            "serviceName": "rabbitmq-nodes", "replicas": 3, "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": selector(name)},
            "template": {
                "metadata": {"labels": labels(name, component)},
                "spec": {
                    "serviceAccountName": name,
                    "terminationGracePeriodSeconds": 600,   # a node hands its queue leaders over
                    "securityContext": {"fsGroup": 999, "seccompProfile": {"type": "RuntimeDefault"}},
                    "topologySpreadConstraints": [{
                        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "DoNotSchedule",
                        "labelSelector": {"matchLabels": selector(name)}}],
                    "containers": [node],
                    "volumes": [{"name": "config", "configMap": {"name": name}},
                                {"name": "definitions", "secret": {"secretName": BROKER_DEFINITIONS}}],
                },
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "20Gi"}}}}],
        },
    }
    # Quorum queues keep working with two of three nodes: at most one may be drained at a time.
    budget = {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta(name, component),
              "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(name)}}}
    return [account, role, binding, config, nodes, client, stateful, budget]


# --- the files ----------------------------------------------------------------------------------
def namespace() -> list[dict]:
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": PART_OF}}]


def files() -> dict[str, list[dict]]:
    """File name -> the resources in it (kustomization.yaml lists them; the Secret's example is
    left out of it on purpose)."""
    found = {"namespace.yaml": namespace(), "config.yaml": settings()[:1],
             "secret.example.yaml": settings()[1:], "rabbitmq.yaml": rabbitmq(),
             "prepare-job.yaml": prepare(), "gateway.yaml": gateway(), f"{BROKER_AUTH}.yaml": broker_auth()}
    for name in SERVICES + tuple(WORKERS):
        found[f"{name}.yaml"] = process(name)
    return found


def kustomization(names: list[str]) -> dict:
    return {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "namespace": NAMESPACE,
            "resources": [n for n in names if n != "secret.example.yaml"],
            "images": [{"name": IMAGE.rsplit(":", 1)[0], "newTag": IMAGE.rsplit(":", 1)[1]}]}


HEADER = "# Rendered by deploy/k8s/render.py from the platform's list of processes; edit that, not this.\n"


def dump(documents: list[dict]) -> str:
    return HEADER + "---\n".join(yaml.safe_dump(d, sort_keys=False, width=110) for d in documents)


def rendered() -> dict[str, str]:
    out = {name: dump(docs) for name, docs in files().items()}
    out["kustomization.yaml"] = dump([kustomization(list(files()))])
    return out


def main() -> None:
    for stale in HERE.glob("*.yaml"):
        stale.unlink()
    for name, text in rendered().items():
        (HERE / name).write_text(text)
    print(f"wrote {len(rendered())} files to {HERE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
