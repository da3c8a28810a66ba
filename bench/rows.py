"""Each bench's figures (the dict its *_figures function returns) as rows of the results table.

Every builder takes {} too, for a bench that could not run: it then gives the same rows with no
values, so a missing figure shows as missing under its own name (and the capacity model knows
which one it lacks). Keys are stable: bench/capacity.py reads them.
"""
from __future__ import annotations

from bench.table import Goal, Row

STACK, OWN, SCRATCH = "running stack", "own platform", "scratch PostgreSQL db"


def plus(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a + b


def dig(data, *path):
    """data[a][b]... or None where any step is missing."""
    for step in path:
        if not isinstance(data, dict) or step not in data or data[step] is None:
            return None
        data = data[step]
    return data


def flaw_of(run: dict | None) -> str:
    """A wrk run with failed requests measured something else than the route: say so."""
    if not run:
        return ""
    sockets = ", ".join(f"{kind} {n}" for kind, n in (run.get("socket_errors") or {}).items())
    parts = [f"non-2xx {run['non2xx']}" if run.get("non2xx") else "", f"socket errors {sockets}" if sockets else ""]
    return ", ".join(p for p in parts if p)


# --- gateway: bench.run ---------------------------------------------------------------------------
def gateway(fig: dict) -> list[Row]:
    from bench.run import GOAL_CONNECTIONS as LOAD, GOAL_P99_MS, GOAL_RPS, GOAL_SHARE

    at = {(r["route"], r["connections"]): r for r in fig.get("runs", [])}
    healthz, ping, me, naive = (at.get((route, LOAD)) for route in ("healthz", "ping", "me", "naive"))
    ping1, me1 = at.get(("ping", 1)), at.get(("me", 1))

    def cpu(run: dict | None) -> float | None:     # the platform's, not the load generator's
        used = dig(run, "cpu_us_per_request")
        return sum(v for g, v in used.items() if g != "wrk") if used else None
    return [
        Row("gateway.healthz.rps", f"GET /healthz, {LOAD} conns (HTTP alone)", dig(healthz, "rps"), "req/s",
            flaw=flaw_of(healthz)),
        Row("gateway.ping.rps", f"GET /api/v1/ping, {LOAD} conns (one bare RPC)", dig(ping, "rps"), "req/s",
            baseline="naive gateway /ping (proxy per thread, sync workers)", baseline_value=dig(naive, "rps"),
            flaw=flaw_of(ping)),
        Row("gateway.me.rps", f"GET /api/v1/me, {LOAD} conns (token + RPC + query)", dig(me, "rps"), "req/s",
            baseline="GET /api/v1/ping, same run", baseline_value=dig(ping, "rps"),
            goals=[Goal(">=", GOAL_RPS), Goal(">=", GOAL_SHARE, "ratio")], flaw=flaw_of(me)),
        Row("gateway.me.p99_ms", f"GET /api/v1/me p99, {LOAD} conns", dig(me, "p99_ms"), "ms",
            baseline="issue 2's goal", baseline_value=GOAL_P99_MS, goals=[Goal("<", GOAL_P99_MS)], flaw=flaw_of(me)),
        Row("gateway.me.p50_ms_1", "GET /api/v1/me p50, 1 conn", dig(me1, "p50_ms"), "ms",
            baseline="GET /api/v1/ping p50, 1 conn", baseline_value=dig(ping1, "p50_ms"), flaw=flaw_of(me1)),
        Row("gateway.me.cpu_us", f"CPU per GET /api/v1/me, all processes but wrk, {LOAD} conns", cpu(me), "us",
            baseline="CPU per GET /api/v1/ping", baseline_value=cpu(ping)),
    ]


# --- orders: bench.orders imports and list --------------------------------------------------------
def imports(fig: dict) -> list[Row]:
    from bench.orders import GOAL_IMPORT_SECONDS

    out = []
    for fmt in ("csv", "xlsx"):
        mine = [r for r in fig.get("imports", []) if r["format"] == fmt]
        small, large = (mine[0], mine[-1]) if mine else ({}, {})
        rows = large.get("rows")
        size = f"{rows:,} rows" if rows else "largest file"
        goal = fmt == "csv" and (rows or 0) >= 100_000      # the goal is for 100,000 CSV rows
        out += [
            Row(f"orders.import.{fmt}.rows_per_s", f"{fmt.upper()} import, {size}", large.get("rows_per_s"), "rows/s",
                where=SCRATCH),
            Row(f"orders.import.{fmt}.seconds", f"{fmt.upper()} import time, {size}", large.get("seconds"), "s",
                where=SCRATCH, baseline="issue 4's goal" if goal else "",
                baseline_value=GOAL_IMPORT_SECONDS if goal else None,
                goals=[Goal("<", GOAL_IMPORT_SECONDS)] if goal else [],
                note="" if goal or not mine else "issue 4's goal is for 100,000 CSV rows"),
            Row(f"orders.import.{fmt}.peak_rss_mb", f"{fmt.upper()} import peak memory, {size}", large.get("peak_rss_mb"),
                "MB", where=SCRATCH, baseline=f"the same, {small['rows']:,} rows" if len(mine) > 1 else "",
                baseline_value=small.get("peak_rss_mb") if len(mine) > 1 else None,
                note="flat memory: ratio close to 1"),
        ]
    return out


LIST_KEYS = {"first page": "first", "filtered page": "filtered", "search: id": "search_id",
             "search: name": "search_name"}


def orders_list(fig: dict) -> list[Row]:
    from bench.orders import GOAL_LIST_P99_MS, LIST_CASES

    cases, me = fig.get("cases", {}), fig.get("baseline")
    on = f"{fig['orders']:,} orders, {fig['connections']} conns" if fig else "the large account"
    first = cases.get("first page")
    out = [Row("orders.list.first.rps", f"GET /orders first page req/s ({on})", dig(first, "rps"), "req/s",
               baseline="GET /api/v1/me, same run", baseline_value=dig(me, "rps"), flaw=flaw_of(first))]
    for label, _path in LIST_CASES:
        run = cases.get(label)
        out.append(Row(f"orders.list.{LIST_KEYS[label]}.p99_ms", f"GET /orders {label} p99 ({on})",
                       dig(run, "p99_ms"), "ms", baseline="issue 4's goal", baseline_value=GOAL_LIST_P99_MS,
                       goals=[Goal("<", GOAL_LIST_P99_MS)], flaw=flaw_of(run)))
    return out


# --- billing: bench.billing -----------------------------------------------------------------------
def billing(fig: dict) -> list[Row]:
    m = fig.get("measures", {})
    a, b, c, f = (dig(m, key, "median_ms") for key in ("(a)", "(b)", "(c)", "(f)"))
    bare = "(f) bare SQL fetch of its ledger rows"
    of = f"{fig['invoices']:,} invoices" if fig else "the large account"
    return [
        Row("billing.statement.ms", f"year's statement, JSON view ({of})", a, "ms", where=SCRATCH, baseline=bare,
            baseline_value=f, note=dig(m, "(a)", "detail") or ""),
        Row("billing.statement_csv.ms", f"year's statement as CSV ({of})", plus(a, b), "ms", where=SCRATCH,
            baseline=bare, baseline_value=f),
        Row("billing.statement_pdf.ms", f"year's statement as PDF ({of})", plus(a, c), "ms", where=SCRATCH,
            baseline=bare, baseline_value=f, note=dig(m, "(c)", "detail") or ""),
        Row("billing.summary.ms", "account summary", dig(m, "(d)", "median_ms"), "ms", where=SCRATCH),
        Row("billing.listing.ms", "open invoices, page 1", dig(m, "(e)", "median_ms"), "ms", where=SCRATCH),
    ]


# --- tracking: bench.tracking ---------------------------------------------------------------------
def tracking(fig: dict) -> list[Row]:
    from bench.tracking import FLOOR_RATE, GOAL_P99_MS, GOAL_RATE, GOAL_SHARE

    rates, live, held = fig.get("rates", {}), fig.get("live"), fig.get("streams")
    bare = dig(rates, "flow", "bare")
    sent = dig(live, "sent_rate")
    behind = dig(live, "backlog")
    late = f"{behind:,} positions still queued when the publisher stopped" if behind and behind >= (sent or 0) else ""
    return [
        Row("tracking.bare.rps", "bare pika consumer, same messages (broker ceiling)", bare, "msgs/s", where=OWN),
        Row("tracking.stored1.rps", "positions stored, 1 ingest worker", dig(rates, "flow", "1"), "msgs/s",
            where=OWN, baseline="bare pika consumer, same run", baseline_value=bare,
            goals=[Goal(">=", GOAL_RATE), Goal(">=", GOAL_SHARE, "ratio")]),
        Row("tracking.stored2.rps", "positions stored, 2 ingest workers", dig(rates, "flow", "2"), "msgs/s",
            where=OWN, baseline="bare pika consumer, same run", baseline_value=bare,
            goals=[Goal(">=", FLOOR_RATE)], note=f"the floor is {FLOOR_RATE:,.0f}/s"),
        Row("tracking.screen.p50_ms", f"publish -> SSE screen p50 at {sent or '?'}/s", dig(live, "p50"), "ms",
            where=OWN),
        Row("tracking.screen.p99_ms", f"publish -> SSE screen p99 at {sent or '?'}/s", dig(live, "p99"), "ms",
            where=OWN, baseline="issue 5's goal", baseline_value=GOAL_P99_MS, goals=[Goal("<", GOAL_P99_MS)],
            flaw=late),
        Row("tracking.streams.held", "SSE streams held by one gateway worker", dig(held, "streams"), "streams",
            where=OWN, baseline="streams opened", baseline_value=fig.get("streams_asked"),
            note=f"{held['reached']:,} got the next position within {held['fanout_ms']:,.0f} ms" if held else ""),
    ]


# --- notify: bench.notify -------------------------------------------------------------------------
def notify(fig: dict) -> list[Row]:
    asked = fig.get("rate")
    lost = (dig(fig, "email", "lost") or 0) + (dig(fig, "webhook", "lost") or 0) if fig else None
    dups = ((dig(fig, "email", "duplicate_effects") or 0) + (dig(fig, "webhook", "duplicate_effects") or 0)
            if fig else None)
    left = (dig(fig, "emails_queued_after") or 0) + (dig(fig, "notify_queues_after", "waiting") or 0)
    delivered = [dig(fig, ch, "delivered_per_s") for ch in ("email", "webhook")]
    rows = [
        Row("notify.api.rate", "status changes made (POST /orders answered 201)", fig.get("achieved_rate"), "/s",
            where=OWN, baseline="rate asked", baseline_value=asked,
            note=f"POST /orders p50 {dig(fig, 'api_ms', 'p50'):,.0f} ms" if dig(fig, "api_ms", "p50") else ""),
        Row("notify.delivered.rate", "status changes delivered, email and webhook", None if None in delivered
            else min(delivered), "/s", where=OWN, baseline="status changes made/s", baseline_value=fig.get("achieved_rate"),
            note=f"notify's queue peaked at {dig(fig, 'notify_event_backlog', 'max'):,}"
            if dig(fig, "notify_event_backlog", "max") is not None else ""),
    ]
    for channel, transport in (("email", "smtplib send"), ("webhook", "requests.post")):
        rows += [Row(f"notify.{channel}.p50_ms", f"status change -> {channel} p50", dig(fig, channel, "latency_ms", "p50"),
                     "ms", where=OWN, baseline=f"bare {transport} p50, same run",
                     baseline_value=dig(fig, "baseline", f"{'smtp' if channel == 'email' else 'http'}_p50")),
                 Row(f"notify.{channel}.p99_ms", f"status change -> {channel} p99", dig(fig, channel, "latency_ms", "p99"),
                     "ms", where=OWN)]
    rows += [
        Row("notify.lost", "status changes lost (email or webhook never arrived)", lost, "changes", where=OWN,
            goals=[Goal("==", 0)], note=f"{left:,} still queued in notify after the drain: late, not lost" if lost and left
            else ""),
        Row("notify.duplicates", "duplicate effects (one change under two ids)", dups, "changes", where=OWN,
            goals=[Goal("==", 0)]),
    ]
    return rows
