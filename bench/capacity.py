"""What one 2-core machine holds, from the figures of a bench run, and what to add for 10x and 100x.

    python -m bench.capacity bench/results/latest.json [--markdown]

The model: every customer brings, at the busiest hour, a share of each measured ceiling (orders
created, list pages and light reads served, events notify handles, positions stored), each share
being (its load) / (the rate the bench measured for it on this machine). Those CPU shares add up,
because on one machine they run on the same two cores; the machine is full when they reach the
share left after headroom. Live streams are a separate limit (connections held by the gateway
workers, not CPU). The assumptions below are named constants: change them to an operator's own
figures and run it again; the figures come from the run.
"""
from __future__ import annotations

import argparse
import json
import math
import sys

from services.common.config import env

# --- assumptions: a customer's day ----------------------------------------------------------------
ORDERS_PER_CUSTOMER_PER_DAY = 20   # a small shipper booking through the portal: a van's worth a day
PEAK_TO_AVERAGE = 3.0              # the busiest hour runs at 3x the day's average rate (bookings and
                                   # deliveries crowd into office hours; nights are quiet)
CREATES_PER_ORDER = 1              # one POST /orders (created already submitted; imports are cheaper)
LIST_READS_PER_ORDER = 5           # order list pages and searches its customer's staff open for it
LIGHT_READS_PER_ORDER = 20         # detail, tracking snapshot, status checks: each about GET /api/v1/me's cost
EVENTS_PER_ORDER = 10              # created, submitted, priced, routed, picked up, in transit, delivered,
                                   # invoiced, paid, ...: every event reaches notify, which decides on each
EVENTS_PER_BENCH_CHANGE = 4        # bench.notify's orders each make four (created, submitted,
                                   # status_changed, priced): its delivered rate x 4 is notify's event rate
ORDERS_PER_DRIVER_PER_DAY = 40     # stops a van driver makes in a day
POSITION_INTERVAL_S = 5            # a driver's app reports every 5 s while on the road (all at once at peak)
SHIFT_HOURS = 10                   # hours a day a driver is on the road, reporting
WATCHERS_PER_DRIVER = 3            # SSE screens open at peak per driver on the road (recipients
                                   # following their delivery, the customer's staff, the operator)
CPU_HEADROOM = 0.30                # share of the machine kept free for bursts, GC, deploys, a slow query
GATEWAY_WORKERS = int(env("GATEWAY_WORKERS") or 3)   # each holds the streams bench.tracking measured on one
MESSAGES_PER_READ = 2              # an RPC is a request and a reply through RabbitMQ
MESSAGES_PER_EVENT = 5             # an event is published once and delivered to each service's queue
HISTORY_DAYS = 30                  # position history kept (TRACKING_RETENTION_DAYS' default)

# The figures the model rests on: key in the run's JSON -> what it stands for.
NEEDS = {
    "notify.api.rate": "orders created/s (POST /orders, the whole platform on this machine)",
    "orders.list.first.rps": "order list pages/s (large account)",
    "gateway.me.rps": "light scoped reads/s (GET /api/v1/me)",
    "notify.delivered.rate": "status changes notify delivered/s (email and webhook)",
    "tracking.stored2.rps": "positions stored/s (2 ingest workers)",
    "tracking.streams.held": "SSE streams one gateway worker holds",
    "tracking.bare.rps": "messages/s the broker moves to a bare consumer",
}


def figures_of(doc: dict) -> tuple[dict[str, float], list[str]]:
    """The figures the model needs from a run's JSON, and the ones it lacks."""
    found = {r["key"]: r["value"] for r in doc.get("rows", [])}
    have = {k: found[k] for k in NEEDS if found.get(k)}
    return have, [k for k in NEEDS if k not in have]


def caveats(doc: dict) -> list[str]:
    """Where a figure is a floor rather than a ceiling, which makes the model err low."""
    rows = {r["key"]: r for r in doc.get("rows", [])}
    made, delivered, held = ((rows.get(key) or {}).get("value") for key in
                             ("notify.api.rate", "notify.delivered.rate", "tracking.streams.held"))
    out = []
    if made and delivered and delivered >= 0.95 * made:
        out.append(f"notify delivered all it was given ({delivered:.1f}/s): its own ceiling is higher, so "
                   "the events share is an upper bound")
    asked = (rows.get("tracking.streams.held") or {}).get("baseline_value")
    if held and asked and held >= asked:
        out.append(f"one gateway worker held all {held:,.0f} streams it was given: its limit is higher, so the "
                   "watchers limit is a floor (GATEWAY_CONNECTIONS must allow them; its default is 1000)")
    return out


def per_customer(f: dict[str, float]) -> dict[str, float]:
    """The share of the machine's CPU one customer takes at the busiest hour, per part."""
    orders_per_s = ORDERS_PER_CUSTOMER_PER_DAY * PEAK_TO_AVERAGE / 86_400
    drivers = ORDERS_PER_CUSTOMER_PER_DAY / ORDERS_PER_DRIVER_PER_DAY
    return {
        "orders created (gateway, orders, identity)": orders_per_s * CREATES_PER_ORDER / f["notify.api.rate"],
        "order lists (gateway, orders, PostgreSQL)": orders_per_s * LIST_READS_PER_ORDER / f["orders.list.first.rps"],
        "light reads (gateway, services)": orders_per_s * LIGHT_READS_PER_ORDER / f["gateway.me.rps"],
        "events through notify": orders_per_s * EVENTS_PER_ORDER
        / (f["notify.delivered.rate"] * EVENTS_PER_BENCH_CHANGE),
        "positions stored (tracking-ingest, PostgreSQL)": drivers / POSITION_INTERVAL_S / f["tracking.stored2.rps"],
    }


def one_machine(f: dict[str, float]) -> dict:
    """Customers one machine holds and what that means in orders, drivers, watchers and load."""
    shares = per_customer(f)
    usable = 1 - CPU_HEADROOM
    by_cpu = usable / sum(shares.values())
    streams = f["tracking.streams.held"] * GATEWAY_WORKERS
    watchers_per_customer = ORDERS_PER_CUSTOMER_PER_DAY / ORDERS_PER_DRIVER_PER_DAY * WATCHERS_PER_DRIVER
    by_streams = streams * usable / watchers_per_customer
    customers = math.floor(min(by_cpu, by_streams))
    first = (max(shares, key=shares.get) if by_cpu <= by_streams
             else f"SSE connections ({streams:,.0f} across {GATEWAY_WORKERS} gateway workers)")
    return {"customers": customers, "by_cpu": by_cpu, "by_streams": by_streams, "runs_out_first": first,
            "shares": {part: share * customers for part, share in shares.items()},
            **load(customers)}


def load(customers: float) -> dict:
    """What ``customers`` bring: per day and at the busiest hour."""
    orders_day = customers * ORDERS_PER_CUSTOMER_PER_DAY
    peak = orders_day * PEAK_TO_AVERAGE / 86_400
    drivers = orders_day / ORDERS_PER_DRIVER_PER_DAY
    positions = drivers / POSITION_INTERVAL_S
    reads = peak * (CREATES_PER_ORDER + LIST_READS_PER_ORDER + LIGHT_READS_PER_ORDER)
    events = peak * EVENTS_PER_ORDER
    return {"orders_per_day": orders_day, "peak_orders_per_s": peak, "drivers": drivers,
            "watchers": drivers * WATCHERS_PER_DRIVER, "positions_per_s": positions, "requests_per_s": reads,
            "events_per_s": events,
            "broker_messages_per_s": positions + reads * MESSAGES_PER_READ + events * MESSAGES_PER_EVENT,
            "history_rows": positions * SHIFT_HOURS * 3600 * HISTORY_DAYS}


def scaled(f: dict[str, float], base: dict, factor: int) -> dict:
    """What ``factor`` times one machine's customers need: cores per part (at the measured rates
    and the same headroom), gateway workers for the streams, and the broker and database load."""
    shares = per_customer(f)
    usable = 1 - CPU_HEADROOM
    customers = base["customers"] * factor
    cores = {part: share * customers * 2 / usable for part, share in shares.items()}     # 2 cores a machine
    demand = load(customers)
    return {"factor": factor, "customers": customers, "cores": cores, "machines": math.ceil(sum(cores.values()) / 2),
            "gateway_workers_for_streams": math.ceil(demand["watchers"] / (f["tracking.streams.held"] * usable)),
            "streams_per_worker": f["tracking.streams.held"], "store_rate": f["tracking.stored2.rps"],
            "broker_share": demand["broker_messages_per_s"] / f["tracking.bare.rps"], **demand}


def advice(s: dict) -> list[str]:
    """What to add, part by part, for one scale."""
    cores = s["cores"]
    out = [f"{s['machines']} machine{'s' if s['machines'] != 1 else ''} of 2 cores for the services and gateway, "
           "with the RabbitMQ and PostgreSQL work they cause as measured "
           f"({sum(cores.values()):.1f} cores: " + ", ".join(f"{part} {n:.1f}" for part, n in cores.items()) + ")",
           f"gateway workers: at least {s['gateway_workers_for_streams']} for {s['watchers']:,.0f} live streams "
           f"(GATEWAY_CONNECTIONS {s['streams_per_worker']:,.0f}), behind a load balancer; instances of orders, "
           "identity and notify share their queues, so add them where their cores go"]
    broker = s["broker_share"]
    if broker < 1 - CPU_HEADROOM:
        out.append(f"RabbitMQ: one node ({broker:.0%} of what it moves to a bare consumer here); a 3-node "
                   "quorum cluster for failover, not for speed")
    else:
        out.append(f"RabbitMQ: {broker:.1f}x one node's bare rate: a cluster of dedicated nodes with the "
                   "positions split over several queues (by driver) so each node leads some; quorum queues "
                   "replicate every message, so a node adds failover more than rate")
    writes = s["positions_per_s"] / s["store_rate"]     # of what tracking-ingest stored on this machine
    db = [f"{s['positions_per_s']:,.0f} position writes/s ({writes:.0%} of what 2 ingest workers stored here), "
          f"{s['history_rows'] / 1e6:,.0f} M history rows over {HISTORY_DAYS} days"]
    if s["history_rows"] > 1e8:
        db.append("partition the position history by day, so retention drops a partition instead of deleting "
                  "rows one by one")
    if writes > 1 - CPU_HEADROOM:
        db.append("tracking's database on a server of its own, sized for those writes")
    if s["cores"]["order lists (gateway, orders, PostgreSQL)"] > 2:
        db.append("read replicas for the order lists and searches")
    out.append("PostgreSQL: " + "; ".join(db) + ("" if len(db) > 1 else "; one server, a standby for failover"))
    return out


def report(doc: dict, markdown: bool = False) -> str:
    f, lacking = figures_of(doc)
    head = "## Capacity" if markdown else "Capacity model (bench/capacity.py)"
    if lacking:
        return (f"{head}\ncannot size one machine: the run lacks " +
                "; ".join(f"{k} ({NEEDS[k]})" for k in lacking))
    m = one_machine(f)
    bullet = "- " if markdown else "  "
    intro = ["", "Derived by `bench/capacity.py` from the figures of one `python -m bench` run (`bin/portal bench`; "
             "the whole table is in `bench/results/latest.md`); `python -m bench.capacity "
             "bench/results/latest.json` computes it again, e.g. with other assumptions."] if markdown else []
    lines = [head, *intro, "",
             f"One {doc.get('cpus', 2)}-core machine ({doc.get('profile', '?')} run of {doc.get('started', '?')}) "
             f"holds, with {CPU_HEADROOM:.0%} of its CPU kept free:",
             f"{bullet}{m['customers']:,} customers", f"{bullet}{m['orders_per_day']:,.0f} orders/day "
             f"(busiest hour {m['peak_orders_per_s']:.2f}/s)",
             f"{bullet}{m['drivers']:,.0f} drivers reporting every {POSITION_INTERVAL_S} s "
             f"({m['positions_per_s']:,.0f} positions/s)",
             f"{bullet}{m['watchers']:,.0f} watchers (SSE)",
             "", f"What runs out first: {m['runs_out_first']}. Share of the machine's CPU each part takes then:",
             *(f"{bullet}{part}: {share:.1%}" for part, share in m["shares"].items()),
             "", "Figures it rests on (from the run):",
             *(f"{bullet}{NEEDS[k]}: {v:,.1f}" for k, v in f.items()),
             *(f"{bullet}note: {line}" for line in caveats(doc)),
             "", "Assumptions (named constants in bench/capacity.py):",
             *(f"{bullet}`{name}` = {why}" if markdown else f"{bullet}{name} = {why}"
               for name, why in assumptions().items())]
    for factor in (10, 100):
        s = scaled(f, m, factor)
        lines += ["", f"{factor}x: {s['customers']:,} customers, {s['orders_per_day']:,.0f} orders/day, "
                  f"{s['drivers']:,.0f} drivers, {s['watchers']:,.0f} watchers; add:",
                  *(f"{bullet}{line}" for line in advice(s))]
    return "\n".join(lines)


def assumptions() -> dict[str, str]:
    """NAME -> "value: why", read from the constants above and their comments (one place to
    change an assumption and its reason)."""
    import inspect
    import re

    found: dict[str, str] = {}
    last = None
    for line in inspect.getsource(sys.modules[__name__]).split("# The figures the model rests on")[0].splitlines():
        named = re.match(r"^([A-Z_]+) = (.+?)\s+# (.*)$", line)
        if named:
            last = named[1]
            found[last] = f"{globals()[last]}: {named[3]}"
        elif last and re.match(r"^\s+# ", line):
            found[last] += " " + line.strip()[2:]
        else:
            last = None
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__.splitlines()[0])
    parser.add_argument("results", help="a run's JSON, e.g. bench/results/latest.json")
    parser.add_argument("--markdown", action="store_true", help="as the README's section")
    args = parser.parse_args(argv)
    with open(args.results) as fh:
        print(report(json.load(fh), args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
