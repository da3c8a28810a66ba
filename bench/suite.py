"""Every benchmark of bench/ in one run: which ones, with which sizes, in which order.

The benches that load the running stack come first (gateway routes, the orders list), while it is
as the operator left it; then those on a scratch PostgreSQL database (imports, billing); last the
two that start a platform of their own (tracking, notify: they need to control what runs, e.g.
how many ingest workers, an SMTP server and a webhook receiver in the bench process). A bench that
fails or cannot run leaves its rows in the table as missing, with the reason; the others run.
"""
from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

from bench import rows as build
from bench.table import Row


@dataclass(frozen=True)
class Bench:
    name: str
    title: str
    needs_stack: bool
    run: Callable[..., dict]         # (stack, **sizes) -> the bench's figures
    rows: Callable[[dict], list[Row]]


@dataclass(frozen=True)
class Stack:
    """The running stack as the suite found it: its URL, the admin's credentials, and why it
    cannot be loaded (None when it answered /readyz)."""
    base_url: str
    email: str
    password: str
    down: str | None


def _gateway(stack: Stack, **sizes) -> dict:
    from bench.run import gateway_figures
    return gateway_figures(stack.base_url, stack.email, stack.password, **sizes)


def _orders_list(stack: Stack, **sizes) -> dict:
    from bench.orders import list_figures
    return list_figures(stack.base_url, **sizes)


def _imports(_stack: Stack, **sizes) -> dict:
    from bench.orders import import_figures
    return import_figures(**sizes)


def _billing(_stack: Stack, **sizes) -> dict:
    from bench.billing import billing_figures
    return billing_figures(**sizes)


def _tracking(_stack: Stack, **sizes) -> dict:
    from bench.tracking import tracking_figures
    return tracking_figures(**sizes)


def _notify(_stack: Stack, **sizes) -> dict:
    from bench.notify import notify_figures
    return notify_figures(**sizes)


BENCHES = (
    Bench("gateway", "gateway routes and the naive baseline (bench.run)", True, _gateway, build.gateway),
    Bench("orders-list", "orders list on a large account (bench.orders list)", True, _orders_list, build.orders_list),
    Bench("imports", "spreadsheet imports (bench.orders imports)", False, _imports, build.imports),
    Bench("billing", "a year's statement of a large account (bench.billing)", False, _billing, build.billing),
    Bench("tracking", "positions stored, publish -> screen, streams (bench.tracking)", False, _tracking,
          build.tracking),
    Bench("notify", "status change -> email and webhook (bench.notify)", False, _notify, build.notify),
)

# Sizes per bench. "full" is what the issues name, trimmed where it buys nothing so that the whole
# run stays under 20 minutes (13.5 here): tracking with half the messages per rate run (its rates settle well
# before 30,000), billing with 3 timed runs (the PDF alone takes seconds each); notify's drain is
# a limit, not a wait. "quick" is a smoke run of a few minutes in all.
PROFILES = {
    "full": {
        "gateway": {"duration": 8, "counts": (1, 32)},
        "orders-list": {"orders": 100_000, "connections": 16, "duration": 8},
        "imports": {"rows": [10_000, 100_000], "formats": ["csv", "xlsx"]},
        "billing": {"invoices_count": 10_000, "runs": 3},
        "tracking": {"drivers": 200, "messages": 30_000, "rate": 5000, "seconds": 20, "watchers": 20,
                     "streams": 3000},
        "notify": {"rate": 100, "seconds": 60, "drain_seconds": 300, "settle": 5, "threads": 32},
    },
    "quick": {
        "gateway": {"duration": 2, "counts": (1, 32)},
        "orders-list": {"orders": 2_000, "connections": 16, "duration": 2},
        "imports": {"rows": [1_000, 10_000], "formats": ["csv", "xlsx"]},
        "billing": {"invoices_count": 500, "runs": 2},
        "tracking": {"drivers": 8, "messages": 2_000, "rate": 500, "seconds": 4, "watchers": 4, "streams": 100},
        "notify": {"rate": 20, "seconds": 8, "drain_seconds": 60, "settle": 2, "threads": 8},
    },
}


def find_stack(base_url: str, email: str, password: str) -> Stack:
    from bench.run import BenchError, check_ready, require_loopback

    try:
        base = require_loopback(base_url)
        check_ready(base)
        return Stack(base, email, password, None)
    except BenchError as exc:
        return Stack(base_url, email, password, str(exc))


def database_server() -> str:
    """The PostgreSQL server the scratch databases and own platforms go on: TEST_DATABASE_URL, a
    PostgreSQL DATABASE_URL, else the local server (the benches read TEST_DATABASE_URL)."""
    from bench.billing import DEFAULT_SERVER

    if not os.environ.get("TEST_DATABASE_URL"):
        given = os.environ.get("DATABASE_URL") or ""
        os.environ["TEST_DATABASE_URL"] = given if given.startswith("postgresql") else DEFAULT_SERVER
    return os.environ["TEST_DATABASE_URL"]


def run(profile: str, stack: Stack, only: set[str] | None = None) -> tuple[list[Row], dict]:
    """Runs the chosen benches one after the other; returns the rows and the run's facts (per
    bench: seconds, sizes, error) with each bench's raw figures."""
    started = datetime.now(timezone.utc)
    server = database_server()
    print(f"scratch databases and own platforms on {server.rsplit('@', 1)[-1]}", flush=True)
    meta = {"started": started.isoformat(timespec="seconds"), "profile": profile, "cpus": os.cpu_count(),
            "base_url": stack.base_url, "stack": stack.down or "up", "benches": {}, "figures": {}}
    rows: list[Row] = []
    for bench in BENCHES:
        if only and bench.name not in only:
            continue
        sizes = PROFILES[profile][bench.name]
        print(f"\n=== {bench.name}: {bench.title} {sizes}", flush=True)
        began, figures, error = time.monotonic(), {}, None
        if bench.needs_stack and stack.down:
            error = f"not run: no running stack at {stack.base_url}"
        else:
            try:
                figures = bench.run(stack, **sizes)
            except (Exception, SystemExit) as exc:   # one bench failing leaves the others to run
                error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                traceback.print_exc()
        if error:
            print(f"=== {bench.name}: {error}", flush=True)
        mine = bench.rows(figures)
        for row in mine:
            if row.value is None:
                row.note = "; ".join(p for p in (error or "not measured in this run", row.note) if p)
        rows += mine
        meta["benches"][bench.name] = {"seconds": round(time.monotonic() - began, 1), "sizes": sizes,
                                       "error": error}
        meta["figures"][bench.name] = figures
    meta["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    return rows, meta
