"""Metrics (services/common/metrics.py): the gateway counts by route template, and the alert
rules and the Grafana dashboard in deploy/monitoring are valid PromQL over metrics that exist."""
import json
import re
from pathlib import Path

import promql_parser
import pytest
import yaml
from prometheus_client import REGISTRY

from gateway.app import create_app
from services.common import metrics
from services.common.config import ROOT

MONITORING = Path(ROOT, "deploy", "monitoring")


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_gateway_counts_requests_by_route_template_not_by_path():
    client = create_app({"ACCESS_LOG": False}).test_client()
    route = "/api/v1/orders/<string:order_id>"
    before = sample("portal_http_requests_total", method="GET", route=route, status="401")
    for order_id in ("o-1", "o-2", "o-3"):
        assert client.get(f"/api/v1/orders/{order_id}").status_code == 401
    assert sample("portal_http_requests_total", method="GET", route=route, status="401") == before + 3
    assert sample("portal_http_request_seconds_count", method="GET", route=route) >= 3
    assert not [m for m in REGISTRY.collect() for s in m.samples if "o-1" in str(s.labels)]


def defined_names() -> set[str]:
    """Every sample name the platform's metrics produce (counters' _total, histograms' _bucket ...)."""
    found = set()
    for value in vars(metrics).values():
        if hasattr(value, "_type") and hasattr(value, "_name"):
            base = value._name
            found |= {"counter": {f"{base}_total"}, "gauge": {base},
                      "histogram": {f"{base}_bucket", f"{base}_sum", f"{base}_count"}}[value._type]
    return found


def expressions() -> list[tuple[str, str]]:
    rules = yaml.safe_load((MONITORING / "alerts.yml").read_text())
    found = [(r["alert"], r["expr"]) for group in rules["groups"] for r in group["rules"]]
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    found += [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p["targets"]]
    return found


@pytest.mark.parametrize("name,expr", expressions(), ids=[n for n, _ in expressions()])
def test_rules_and_panels_are_valid_promql_over_metrics_that_exist(name, expr):
    promql_parser.parse(expr)                                  # raises on a syntax error
    used = set(re.findall(r"\b((?:portal|rabbitmq)_[a-z_]+)\b", expr))
    assert used, "an expression over no platform or broker metric"
    unknown = {m for m in used if m.startswith("portal_")} - defined_names()
    assert not unknown, f"{name}: {unknown} is not defined in services/common/metrics.py"


def test_the_parser_catches_a_broken_expression():
    with pytest.raises(Exception):
        promql_parser.parse("sum(rate(portal_http_requests_total[5m])")


def test_alerts_cover_what_the_issue_names():
    alerts = {r["alert"] for g in yaml.safe_load((MONITORING / "alerts.yml").read_text())["groups"] for r in g["rules"]}
    assert {"PortalOutboxLag", "PortalDeadLetters", "PortalErrorRate", "PortalSlowRpc"} <= alerts
