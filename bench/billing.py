"""Billing benchmark: a year's statement of an account with 10,000 invoices.

    python -m bench.billing [--invoices 10000] [--quick] [--runs 5] [--server URL]

Domain level: the billing functions are called in this process the way a billing worker calls
them (a unit of work on the service's own engine, an operator's caller context); the gateway and
the RPC add only the transfer of the answer, whose JSON size is printed. Needs PostgreSQL
(``--server``, else ``TEST_DATABASE_URL`` or ``DATABASE_URL``, else the local server as
``postgres``): a database ``bench_billing_<pid>`` is made, migrated and dropped at the end.

Seeding goes through the real domain path, a few hundred invoices per transaction: one account
(``accounts.apply_customer_event``), N invoices of 2-4 lines (``invoices.issue``), ~70% of them
paid by the operator (``payments.record_offline``, some in two parts, received 2-45 days after
the invoice), a few partly paid, ~1.5% credited (``invoices.credit``). The invoices and credit
notes are then backdated over the past year with one bulk UPDATE (their ledger rows with them),
so the year's statement holds every row.

Measured, a warm-up and then ``--runs`` times each (median, min, max), in one run:
  (a) statements.statement   the year's statement, the JSON view (entries, queries, JSON size)
  (b) statements.as_csv      the CSV of that view
  (c) render_statement       the PDF of that view (pages, bytes); at most 3 runs
  (d) statements.summary     the account summary
  (e) invoices.listing       page 1 of the invoices filtered by status ``open``
  (f) bare fetch             the statement's ledger rows with psycopg2, nothing else: the floor
The ratio a/f is what building the view costs over fetching its rows. Figures, never asserted."""
from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import date, datetime, timedelta, timezone

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from services.billing import accounts, branding, invoices, payments, statements
from services.billing.models import Base
from services.billing.statement_pdf import render_statement
from services.billing.schemas import DateRangeArgs, InvoiceListArgs
from services.common.caller import OPERATOR_ADMIN, CallerContext
from services.common.db import UnitOfWork, make_engine, utcnow
from services.common.migrations import drop_database, ensure_database, upgrade
from services.common.money import from_minor
from services.common.schemas import load

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
OPERATOR = CallerContext(role=OPERATOR_ADMIN, user_id=str(uuid.uuid4()))
BATCH = 250                    # invoices per seeding transaction
PDF_RUNS = 3                   # the PDF takes seconds: fewer runs of it
# Shares of the invoices (each drawn per invoice, from a seeded generator).
PAID, TWO_PARTS, PART_PAID, CREDITED = 0.72, 0.12, 0.04, 0.015
CITIES = ("Rotterdam", "Amsterdam", "Utrecht", "Antwerp", "Eindhoven", "Breda", "Ghent", "Tilburg")
SURCHARGES = (("fuel", "Fuel surcharge", "1", "4.80"), ("tail_lift", "Tail lift", "1", "15.00"),
              ("waiting", "Waiting time", "0.5", "38.00"), ("weekend", "Weekend delivery", "1", "22.50"))
EXTRA_LINES = (("per_kg", "Weight", "kg", 1), ("per_package", "Packages", "pkg", 0))


# --- the account and its year -----------------------------------------------------------------
def make_account(factory) -> str:
    customer_id = str(uuid.uuid4())
    data = {"customer_id": customer_id, "name": "Bench Freight B.V.", "client_id": "BENCH01",
            "is_active": True, "billing_address": {"line1": "Waalhaven Oostzijde 1", "city": "Rotterdam",
                                                   "postal_code": "3087 BM", "country": "NL"}}
    with factory() as session, session.begin():
        accounts.apply_customer_event(session, {"id": str(uuid.uuid4()), "type": "customer.created",
                                                "customer_id": customer_id, "data": data,
                                                "occurred_at": utcnow().isoformat()})
    return customer_id


def invoice_lines(rng: random.Random, n: int) -> list[dict]:
    """2-4 lines as the operator would type them: the trip, by km, then weight, packages or a
    surcharge."""
    origin, destination = rng.sample(CITIES, 2)
    lines = [{"code": "base_fee", "description": f"Delivery {origin} - {destination} (order B-{n:07d})",
              "quantity": "1", "unit": None, "unit_price": "25.00", "tax_rate": "21"},
             {"code": "per_km", "description": "Distance", "quantity": str(rng.randint(8, 240)),
              "unit": "km", "unit_price": "1.10", "tax_rate": "21"}]
    for _ in range(rng.randint(0, 2)):
        if rng.random() < 0.5:
            code, text, unit, decimals = rng.choice(EXTRA_LINES)
            quantity = round(rng.uniform(1, 900), decimals) if decimals else rng.randint(1, 12)
            price = "0.05" if code == "per_kg" else "2.50"
        else:
            code, text, quantity, price = rng.choice(SURCHARGES)
            unit = None
        lines.append({"code": code, "description": text, "quantity": str(quantity), "unit": unit,
                      "unit_price": price, "tax_rate": "21"})
    return lines


def pay(uow: UnitOfWork, rng: random.Random, invoice_id: str, amount_minor: int, currency: str,
        when: datetime, n: int) -> None:
    method = rng.choices(("bank_transfer", "cheque", "cash"), (0.8, 0.12, 0.08))[0]
    reference = {"bank_transfer": f"NL91BENCH{n:07d}", "cheque": f"CHQ {rng.randint(100000, 999999)}",
                 "cash": None}[method]
    payments.record_offline(uow, OPERATOR, invoice_id, {
        "amount": from_minor(amount_minor, currency), "method": method, "reference": reference,
        "received_at": when})


def seed(factory, customer_id: str, count: int, rng: random.Random) -> dict:
    """``count`` invoices with their payments and credit notes, through the domain functions;
    the dates to backdate them to (invoices and credit notes are issued "now")."""
    now = utcnow().replace(microsecond=0)
    year_ago = now - timedelta(days=365)
    step = timedelta(days=364) / count
    invoice_dates: dict[str, datetime] = {}
    note_dates: dict[str, datetime] = {}
    done = {"invoices": 0, "payments": 0, "credit_notes": 0}
    started = time.perf_counter()
    for first in range(0, count, BATCH):
        uow = UnitOfWork(factory, Base)
        try:
            for n in range(first, min(first + BATCH, count)):
                issued = year_ago + step * n + timedelta(seconds=rng.randint(0, int(step.total_seconds())))
                invoice = invoices.issue(uow, OPERATOR, customer_id, invoice_lines(rng, n),
                                         order_reference=f"B-{n:07d}")
                invoice_dates[invoice.id] = issued
                done["invoices"] += 1
                total, cur = invoice.total_minor, invoice.currency
                paid_on = issued + timedelta(days=rng.uniform(2, 45))
                draw = rng.random()
                if draw < PAID and paid_on < now:
                    if rng.random() < TWO_PARTS:
                        part = total * rng.randint(30, 70) // 100
                        earlier = issued + (paid_on - issued) / 2
                        pay(uow, rng, invoice.id, part, cur, earlier, n)
                        pay(uow, rng, invoice.id, total - part, cur, paid_on, n)
                        done["payments"] += 2
                    else:
                        pay(uow, rng, invoice.id, total, cur, paid_on, n)
                        done["payments"] += 1
                    continue
                if draw < PAID + PART_PAID and paid_on < now:
                    pay(uow, rng, invoice.id, total * rng.randint(20, 60) // 100, cur, paid_on, n)
                    done["payments"] += 1
                if rng.random() < CREDITED / (1 - PAID):      # among the invoices not fully paid
                    left = invoice.outstanding_minor
                    amount = left if rng.random() < 0.5 else max(1, left * rng.randint(10, 30) // 100)
                    invoices.credit(uow, OPERATOR, invoice.id, from_minor(amount, cur),
                                    "Damaged goods: agreed reduction" if amount < left else "Order cancelled")
                    note_dates[invoice.id] = min(issued + timedelta(days=rng.uniform(1, 20)), now)
                    done["credit_notes"] += 1
            uow.commit()
        finally:
            uow.close()
        if (first // BATCH) % 8 == 7 or first + BATCH >= count:
            seconds = time.perf_counter() - started
            print(f"  seeded {done['invoices']:,}/{count:,} invoices ({done['invoices'] / seconds:,.0f}/s)",
                  flush=True)
    return {**done, "seconds": time.perf_counter() - started, "invoice_dates": invoice_dates,
            "note_dates": note_dates}


def backdate(dsn: str, invoice_dates: dict[str, datetime], note_dates: dict[str, datetime],
             terms_days: int) -> float:
    """Spread the invoices and credit notes over the year in one transaction (their ledger rows
    too), give the invoices their due date from the new date, and let the stored status say
    overdue where the daily job would have; payments keep the dates they were received."""
    import psycopg2

    started = time.perf_counter()
    conn = psycopg2.connect(dsn)
    try:
        with conn, conn.cursor() as cur:      # one transaction
            _backdate(cur, invoice_dates, note_dates, terms_days)
        conn.autocommit = True                # fresh statistics, as autovacuum would have by now
        conn.cursor().execute("VACUUM ANALYZE")
    finally:
        conn.close()
    return time.perf_counter() - started


def _backdate(cur, invoice_dates: dict[str, datetime], note_dates: dict[str, datetime],
              terms_days: int) -> None:
    from psycopg2.extras import execute_values

    cur.execute("CREATE TEMP TABLE bench_invoice_dates (id varchar(36) PRIMARY KEY, at timestamptz) "
                "ON COMMIT DROP")
    execute_values(cur, "INSERT INTO bench_invoice_dates VALUES %s", list(invoice_dates.items()),
                   page_size=2000)
    cur.execute("UPDATE invoices i SET issued_at = d.at, due_date = (d.at AT TIME ZONE 'UTC')::date + %s "
                "FROM bench_invoice_dates d WHERE i.id = d.id", (terms_days,))
    cur.execute("UPDATE ledger l SET occurred_at = d.at FROM bench_invoice_dates d "
                "WHERE l.kind = 'invoice' AND l.source_id = d.id")
    cur.execute("CREATE TEMP TABLE bench_note_dates (invoice_id varchar(36) PRIMARY KEY, at timestamptz) "
                "ON COMMIT DROP")
    if note_dates:
        execute_values(cur, "INSERT INTO bench_note_dates VALUES %s", list(note_dates.items()))
    cur.execute("UPDATE credit_notes c SET issued_at = d.at FROM bench_note_dates d "
                "WHERE c.invoice_id = d.invoice_id")
    cur.execute("UPDATE ledger l SET occurred_at = d.at FROM bench_note_dates d "
                "WHERE l.kind = 'credit_note' AND l.invoice_id = d.invoice_id")
    cur.execute("UPDATE payments SET created_at = received_at, updated_at = received_at")
    cur.execute("UPDATE invoices SET status = 'overdue', overdue_notified_at = now() "
                "WHERE outstanding_minor > 0 AND due_date < current_date")


# --- measuring --------------------------------------------------------------------------------
class QueryCounter:
    """Statements the engine sends (an executemany counts once): an N+1 shows as a count that
    grows with the rows."""

    def __init__(self, engine):
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._one)

    def _one(self, *_args) -> None:
        self.count += 1


def timed(label: str, runs: int, work, counter: QueryCounter | None = None) -> dict:
    """A warm-up, then ``runs`` timed calls of ``work()``; the last result is kept."""
    result = work()
    times, queries = [], None
    for _ in range(runs):
        before = counter.count if counter else 0
        started = time.perf_counter()
        result = work()
        times.append((time.perf_counter() - started) * 1000)
        queries = counter.count - before if counter else None
    figures = {"label": label, "median_ms": statistics.median(times), "min_ms": min(times),
               "max_ms": max(times), "runs": runs, "queries": queries, "result": result}
    print(f"{label:34} median {figures['median_ms']:9.1f} ms  (min {figures['min_ms']:.1f}, max "
          f"{figures['max_ms']:.1f}, {runs} runs" + (f", {queries} queries" if queries is not None else "")
          + ")", flush=True)
    return figures


def in_worker(factory, call):
    """``call(session)`` in a unit of work committed at the end, as a billing entrypoint runs."""
    def work():
        uow = UnitOfWork(factory, Base)
        try:
            result = call(uow.session)
            uow.commit()
            return result
        finally:
            uow.close()
    return work


def bare_fetch(conn, customer_id: str, start: date, end: date):
    """The statement's rows and nothing more: the floor of the JSON view."""
    def work():
        with conn.cursor() as cur:
            cur.execute("SELECT occurred_at, kind, reference, description, amount_minor, invoice_id "
                        "FROM ledger WHERE customer_id = %s AND occurred_at >= %s AND occurred_at < %s "
                        "ORDER BY occurred_at, seq",
                        (customer_id, datetime(start.year, start.month, start.day, tzinfo=timezone.utc),
                         datetime(end.year, end.month, end.day, tzinfo=timezone.utc) + timedelta(days=1)))
            return cur.fetchall()
    return work


def measure(factory, counter: QueryCounter, dsn: str, customer_id: str, runs: int) -> list[dict]:
    import psycopg2
    from pypdf import PdfReader

    end = invoices.today()
    start = end - timedelta(days=365)
    range_args = load(DateRangeArgs, {"from": start.isoformat(), "to": end.isoformat(),
                                      "customer_id": customer_id})
    list_args = load(InvoiceListArgs, {"customer_id": customer_id, "status": ["open"], "page": 1})
    print(f"\nmeasuring, the statement {start} to {end} (a warm-up, then the runs):", flush=True)
    out = []
    statement = timed("(a) statement, JSON view", runs,
                      in_worker(factory, lambda s: statements.statement(s, OPERATOR, range_args)), counter)
    view = statement["result"]
    started = time.perf_counter()
    body = json.dumps(view).encode()
    statement["detail"] = (f"{len(view['entries']):,} entries, JSON {len(body) / 2**20:.1f} MB "
                           f"(json.dumps {(time.perf_counter() - started) * 1000:.0f} ms)")
    out.append(statement)
    csv_run = timed("(b) statements.as_csv", runs, lambda: statements.as_csv(view))
    csv_run["detail"] = f"{len(csv_run['result'].encode()) / 2**20:.1f} MB"
    out.append(csv_run)
    brand = branding.current()
    pdf = timed("(c) render_statement, PDF", min(runs, PDF_RUNS), lambda: render_statement(view, brand))
    pdf["detail"] = f"{len(PdfReader(io.BytesIO(pdf['result'])).pages):,} pages, {len(pdf['result']) / 2**20:.1f} MB"
    out.append(pdf)
    summary = timed("(d) statements.summary", runs,
                    in_worker(factory, lambda s: statements.summary(s, OPERATOR, customer_id)), counter)
    found = summary["result"]
    summary["detail"] = (f"{found['open_invoices']:,} open, {found['overdue_invoices']:,} overdue, "
                         f"balance {found['current_balance']['amount']}")
    out.append(summary)
    listing = timed("(e) invoices.listing, open, page 1", runs,
                    in_worker(factory, lambda s: invoices.listing(s, OPERATOR, list_args)), counter)
    listing["detail"] = f"{len(listing['result']['items'])} of {listing['result']['total']:,} invoices"
    out.append(listing)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        floor = timed("(f) bare ledger fetch, psycopg2", runs, bare_fetch(conn, customer_id, start, end))
    finally:
        conn.close()
    floor["detail"], floor["queries"] = f"{len(floor['result']):,} rows", 1
    out.append(floor)
    ratio = statement["median_ms"] / floor["median_ms"]
    print(f"ratio a/f (statement view / bare fetch of its rows): {ratio:.1f}x", flush=True)
    return out


def report(invoice_count: int, seeded: dict, runs: list[dict]) -> None:
    at = {r["label"][:3]: r for r in runs}
    print(f"\nBilling, one account with {invoice_count:,} invoices over a year (domain level, no RPC): "
          f"{seeded['invoices']:,} invoices, {seeded['payments']:,} payments, "
          f"{seeded['credit_notes']:,} credit notes")
    print(f"{'measure':34} {'median ms':>10} {'min ms':>9} {'max ms':>9} {'runs':>4} {'queries':>7}  detail")
    for r in runs:
        queries = "-" if r["queries"] is None else r["queries"]
        print(f"{r['label']:34} {r['median_ms']:>10.1f} {r['min_ms']:>9.1f} {r['max_ms']:>9.1f} "
              f"{r['runs']:>4} {queries:>7}  {r.get('detail', '')}")
    a, b, c, f = (at[k]["median_ms"] for k in ("(a)", "(b)", "(c)", "(f)"))
    print(f"statement as JSON (a) {a:,.0f} ms, as CSV (a+b) {a + b:,.0f} ms, as PDF (a+c) {a + c:,.0f} ms; "
          f"a/f = {a / f:.1f}x the bare fetch of its rows")


# --- the run ----------------------------------------------------------------------------------
def server_url(given: str | None) -> str:
    url = given or os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL") or DEFAULT_SERVER
    if not url.startswith("postgresql"):
        raise SystemExit(f"bench.billing needs PostgreSQL, not {make_url(url).drivername}: "
                         f"give --server (e.g. {DEFAULT_SERVER})")
    return url


def billing_figures(invoices_count: int = 10_000, runs: int = 5, server: str | None = None) -> dict:
    """Seeds the account in a scratch database, measures (a)-(f), prints them and returns
    {"invoices", "payments", "credit_notes", "seed_seconds", "measures": {"(a)": {...}, ...}}
    (each measure's median/min/max ms, runs, queries and detail; not the results themselves)."""
    url = str(make_url(server_url(server)).set(database=f"bench_billing_{os.getpid()}")
              .render_as_string(hide_password=False))
    dsn = str(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    print(f"bench.billing: {invoices_count:,} invoices, {runs} runs each; database "
          f"{make_url(url).database} on {make_url(url).host}:{make_url(url).port or 5432}\n"
          "Domain level: the billing functions called in this process as a billing worker calls them; "
          "the gateway and RPC path adds only the transfer of the answer (its JSON size is shown).",
          flush=True)
    ensure_database(url)
    engine = None
    try:
        upgrade("billing", url)
        engine = make_engine(url)
        factory = sessionmaker(engine, expire_on_commit=False)
        customer_id = make_account(factory)
        print(f"seeding {invoices_count:,} invoices in transactions of {BATCH}:", flush=True)
        seeded = seed(factory, customer_id, invoices_count, random.Random(20261203))
        rows = seeded["invoices"] + seeded["payments"] + seeded["credit_notes"]
        print(f"seeded {seeded['invoices']:,} invoices, {seeded['payments']:,} payments, "
              f"{seeded['credit_notes']:,} credit notes in {seeded['seconds']:.1f} s: "
              f"{seeded['invoices'] / seeded['seconds']:,.0f} invoices/s, {rows / seeded['seconds']:,.0f} "
              f"ledger rows/s through the domain functions", flush=True)
        seconds = backdate(dsn, seeded["invoice_dates"], seeded["note_dates"],
                           accounts.terms_days(None))
        print(f"backdated over the year and analysed in {seconds:.1f} s", flush=True)
        counter = QueryCounter(engine)
        measured = measure(factory, counter, dsn, customer_id, runs)
        report(invoices_count, seeded, measured)
    finally:
        if engine is not None:
            engine.dispose()
        drop_database(url)
    return {"invoices": seeded["invoices"], "payments": seeded["payments"],
            "credit_notes": seeded["credit_notes"], "seed_seconds": seeded["seconds"],
            "measures": {r["label"][:3]: {k: v for k, v in r.items() if k != "result"} for r in measured}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.billing", description=__doc__.splitlines()[0])
    parser.add_argument("--invoices", type=int, default=10_000, help="invoices of the account")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1,000 invoices, 3 runs each")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each measure (after a warm-up)")
    parser.add_argument("--server", help=f"PostgreSQL server URL (default: {DEFAULT_SERVER})")
    args = parser.parse_args(argv)
    if args.quick:
        args.invoices, args.runs = 1_000, min(args.runs, 3)
    if args.invoices < 1 or args.runs < 1:
        parser.error("--invoices and --runs must be at least 1")
    billing_figures(args.invoices, args.runs, args.server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
