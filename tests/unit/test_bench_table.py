"""The results table and the capacity model, on canned figures: shape, ratios, goals, and a
missing figure shown as missing (never as 0). No timing: bench/ prints figures, tests never
assert them."""
import json

import pytest

from bench import capacity, rows, table
from bench.table import Goal, Row

GATEWAY = {"runs": [
    {"route": "healthz", "connections": 32, "rps": 6000.0, "p50_ms": 4.0, "p99_ms": 9.0, "non2xx": 0,
     "socket_errors": {}, "cpu_us_per_request": {"gateway": 300, "services": 0, "wrk": 50}},
    {"route": "ping", "connections": 32, "rps": 1000.0, "p50_ms": 30.0, "p99_ms": 80.0, "non2xx": 0,
     "socket_errors": {}, "cpu_us_per_request": {"gateway": 900, "services": 400, "wrk": 50}},
    {"route": "me", "connections": 32, "rps": 800.0, "p50_ms": 35.0, "p99_ms": 90.0, "non2xx": 0,
     "socket_errors": {}, "cpu_us_per_request": {"gateway": 1000, "services": 600, "postgres": 200, "wrk": 50}},
    {"route": "naive", "connections": 32, "rps": 500.0, "p50_ms": 60.0, "p99_ms": 150.0, "non2xx": 0,
     "socket_errors": {}, "cpu_us_per_request": {}},
]}


def by_key(found: list[Row]) -> dict[str, Row]:
    return {r.key: r for r in found}


def test_a_row_divides_by_its_baseline_and_checks_every_goal():
    got = by_key(rows.gateway(GATEWAY))
    ping, me = got["gateway.ping.rps"], got["gateway.me.rps"]
    assert ping.ratio == pytest.approx(2.0)             # ping / naive
    assert me.ratio == pytest.approx(0.8)               # me / ping
    assert me.met is False                              # 0.8 >= 0.70, but 800 < 1,000 req/s
    assert got["gateway.me.p99_ms"].met is True         # 90 < 100 ms
    assert got["gateway.me.cpu_us"].value == 1800       # the platform's CPU, the load generator's left out
    assert got["gateway.healthz.rps"].verdict() == ""   # no goal: no verdict


def test_a_run_with_failed_requests_meets_no_goal():
    dirty = json.loads(json.dumps(GATEWAY))
    dirty["runs"][2].update(rps=5000.0, non2xx=12)
    me = by_key(rows.gateway(dirty))["gateway.me.rps"]
    assert me.flaw == "non-2xx 12" and me.met is False
    assert "FLAWED: non-2xx 12" in table.markdown([me])


def test_a_bench_that_did_not_run_shows_its_figures_as_missing_not_zero():
    empty = rows.gateway({}) + rows.tracking({}) + rows.notify({}) + rows.billing({}) + rows.imports({}) \
        + rows.orders_list({})
    assert empty and all(r.value is None and r.ratio is None for r in empty)
    assert all(r.verdict() in ("", table.MISSING) for r in empty)
    text = table.markdown(empty)
    lines = [[cell.strip() for cell in line.split("|")] for line in text.splitlines()[2:]]
    assert [cells[2] for cells in lines] == [table.MISSING] * len(empty)          # the value
    assert {cells[6] for cells in lines} <= {"", table.MISSING}                   # the ratio


def test_a_missing_baseline_leaves_the_ratio_missing():
    row = Row("x", "x", 10.0, "ms", baseline="bare fetch", baseline_value=None)
    assert row.ratio is None
    assert f"| {table.MISSING} |" in table.markdown([row])


def test_the_table_has_one_line_per_row_and_the_same_columns_on_every_line():
    found = rows.gateway(GATEWAY)
    lines = table.markdown(found).splitlines()
    assert len(lines) == len(found) + 2
    assert len({line.count("|") for line in lines}) == 1


def test_rows_survive_the_json_round_trip(tmp_path):
    doc = table.document(rows.gateway(GATEWAY), {"started": "2026-12-04T19:25:00+00:00", "cpus": 2})
    written = table.write(doc, "text", tmp_path)
    assert {p.name for p in written} == {"latest.md", "latest.json", "run-20261204T192500.md",
                                         "run-20261204T192500.json"}
    again = table.rows_of(json.loads((tmp_path / "latest.json").read_text()))
    assert [r.as_dict() for r in again] == doc["rows"]


def test_goals_on_the_ratio_and_on_the_value():
    assert Goal(">=", 0.4, "ratio").met(5000, 0.39) is False
    assert Goal("<", 500).met(499.0, None) is True
    assert Goal("==", 0).met(None, None) is None


# --- the capacity model ---------------------------------------------------------------------------
FIGURES = {"notify.api.rate": 25.0, "orders.list.first.rps": 200.0, "gateway.me.rps": 600.0,
           "notify.delivered.rate": 30.0, "tracking.stored2.rps": 5000.0, "tracking.streams.held": 30000.0,
           "tracking.bare.rps": 12000.0}


def doc_of(figures: dict) -> dict:
    return {"cpus": 2, "profile": "full", "started": "2026-12-04T19:25:00+00:00",
            "rows": [{"key": k, "value": v} for k, v in figures.items()]}


def test_one_machine_fills_its_usable_cpu_and_names_what_runs_out_first():
    m = capacity.one_machine(FIGURES)
    shares = capacity.per_customer(FIGURES)
    # the shares of the customers it holds add up to the CPU left after headroom, less the rounding
    used = sum(shares.values()) * m["customers"]
    assert used <= 1 - capacity.CPU_HEADROOM
    assert m["by_cpu"] < m["by_streams"]
    assert sum(shares.values()) * (m["customers"] + 1) > 1 - capacity.CPU_HEADROOM
    assert m["runs_out_first"] == max(shares, key=shares.get)
    assert m["orders_per_day"] == m["customers"] * capacity.ORDERS_PER_CUSTOMER_PER_DAY
    assert m["drivers"] == pytest.approx(m["orders_per_day"] / capacity.ORDERS_PER_DRIVER_PER_DAY)


def test_streams_bind_when_a_gateway_worker_holds_few():
    m = capacity.one_machine({**FIGURES, "tracking.streams.held": 100.0})
    assert m["by_streams"] < m["by_cpu"]
    assert m["runs_out_first"].startswith("SSE connections")
    assert m["watchers"] <= 100.0 * capacity.GATEWAY_WORKERS


def test_a_slower_figure_means_fewer_customers():
    slower = {**FIGURES, "notify.delivered.rate": 3.0}
    assert capacity.one_machine(slower)["customers"] < capacity.one_machine(FIGURES)["customers"]


def test_scaling_needs_proportionally_more_cores():
    m = capacity.one_machine(FIGURES)
    ten, hundred = capacity.scaled(FIGURES, m, 10), capacity.scaled(FIGURES, m, 100)
    assert sum(hundred["cores"].values()) == pytest.approx(10 * sum(ten["cores"].values()))
    assert hundred["machines"] >= 10 * ten["machines"] - 10
    assert hundred["broker_share"] == pytest.approx(10 * ten["broker_share"])


def test_the_report_names_the_missing_figures_instead_of_guessing():
    lacking = {k: v for k, v in FIGURES.items() if k != "tracking.stored2.rps"}
    text = capacity.report(doc_of({**lacking, "tracking.stored2.rps": None}))
    assert "cannot size" in text and "tracking.stored2.rps" in text


def test_the_report_gives_one_machine_and_both_scales():
    text = capacity.report(doc_of(FIGURES), markdown=True)
    assert text.startswith("## Capacity")
    for part in ("customers", "orders/day", "drivers reporting every 5 s", "watchers (SSE)", "10x:", "100x:",
                 "RabbitMQ", "PostgreSQL", "CPU_HEADROOM"):
        assert part in text


# --- the suite: one bench failing or the stack being down leaves rows missing, the rest runs --------
def test_a_failing_bench_and_a_missing_stack_leave_their_rows_missing_with_the_reason(monkeypatch, capsys):
    from bench import suite

    def broken(_stack, **_sizes):
        raise RuntimeError("the broker went away")

    def fine(_stack, **_sizes):
        return GATEWAY

    benches = (suite.Bench("needs-stack", "x", True, fine, rows.gateway),
               suite.Bench("broken", "x", False, broken, rows.billing),
               suite.Bench("fine", "x", False, fine, rows.gateway))
    monkeypatch.setattr(suite, "BENCHES", benches)
    monkeypatch.setitem(suite.PROFILES, "quick", {b.name: {} for b in benches})
    monkeypatch.setenv("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    down = suite.Stack("http://127.0.0.1:9", "a", "b", "does not answer")
    found, meta = suite.run("quick", down)
    stack_rows, broken_rows, fine_rows = found[:6], found[6:11], found[11:]
    assert all(r.value is None and "no running stack" in r.note for r in stack_rows)
    assert all(r.value is None and "the broker went away" in r.note for r in broken_rows)
    assert [r.value for r in fine_rows] == [r.value for r in rows.gateway(GATEWAY)]
    assert meta["benches"]["broken"]["error"] == "RuntimeError: the broker went away"
    assert meta["benches"]["fine"]["error"] is None
