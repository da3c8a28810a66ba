"""The orders list: filters, text search, sort and pages that stay fast on an account with
100,000 orders, and each user's choice of columns.

The list reads one table: the columns a screen shows are kept on the order row (``summary``,
``search_text``, ``window_start``), so a page is one indexed query plus its count, run in
autocommit (``UnitOfWork.read``). On PostgreSQL the text search uses a trigram index."""
from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select, true
from sqlalchemy.orm import Session

from services.common.caller import CallerContext
from services.common.db import UnitOfWork
from services.common.schemas import dump
from services.orders import counts, sites
from services.orders.models import CustomerSettings, ListView, Order
from services.orders.schemas import LIST_COLUMNS, OrderSummaryOut

DEFAULT_COLUMNS = ["reference", "status", "created_at", "dropoff", "recipient", "window_start", "packages"]
SORT_COLUMNS = {"created_at": Order.created_at, "updated_at": Order.updated_at,
                "reference": Order.reference, "status": Order.status, "window_start": Order.window_start}
LIST_FIELDS = (Order.id, Order.customer_id, Order.reference, Order.kind, Order.status, Order.site,
               Order.created_at, Order.updated_at, Order.route_id, Order.import_id, Order.summary)


def summary_row(row: Any) -> dict:
    """An order (ORM object or row mapping) in the list's shape, dumped."""
    return dump(OrderSummaryOut, summary_body(row))


def summary_body(row: Any) -> dict:
    """An order (ORM object or row mapping) in the list's shape, before dumping."""
    get = (lambda name: row[name]) if hasattr(row, "keys") else (lambda name: getattr(row, name))
    summary = get("summary") or {}
    body = {name: get(name) for name in ("id", "customer_id", "reference", "kind", "status", "site",
                                          "created_at", "updated_at", "route_id", "import_id")}
    body.update({k: summary.get(k) for k in ("pickup", "dropoff", "recipient", "city", "window_start",
                                             "window_end", "weight_kg", "price_total", "eta")})
    body["late"] = bool(summary.get("late"))
    body["stop_count"] = summary.get("stop_count", 0)
    body["packages"] = summary.get("packages", 0)
    return body


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def filters(caller: CallerContext, args: dict) -> list:
    scope = caller.scope(args.get("customer_id"))
    where = []
    if scope is not None:
        where.append(Order.customer_id == scope)
    limited = sites.visible(caller)
    if limited is not None:
        where.append(limited)
    if args.get("site"):
        where.append(func.lower(Order.site) == args["site"].lower())
    if args.get("status"):
        where.append(Order.status.in_(args["status"]))
    if args.get("kind"):
        where.append(Order.kind == args["kind"])
    if args.get("q"):
        where.append(Order.search_text.like(_like(args["q"]), escape="\\"))
    if args.get("created_from"):
        where.append(Order.created_at >= args["created_from"])
    if args.get("created_to"):
        where.append(Order.created_at <= args["created_to"])
    if args.get("unassigned"):
        where += [Order.status == "submitted", Order.route_id.is_(None)]
    if args.get("route_id"):
        where.append(Order.route_id == args["route_id"])
    if args.get("import_id"):
        where.append(Order.import_id == args["import_id"])
    return where


def order_by(sort: str | None) -> list:
    sort = sort or "-created_at"
    column = SORT_COLUMNS[sort.lstrip("-")]
    direction = column.desc() if sort.startswith("-") else column.asc()
    tie = Order.id.desc() if sort.startswith("-") else Order.id.asc()   # stable pages
    return [direction.nulls_last() if sort.lstrip("-") == "window_start" else direction, tie]


def list_orders(uow: UnitOfWork, caller: CallerContext, args: dict) -> dict:
    where = and_(true(), *filters(caller, args))
    page, per_page = args.get("page", 1), args.get("per_page", 50)
    columns = LIST_FIELDS
    query = select(*columns)
    if caller.is_operator:
        query = select(*columns, CustomerSettings.name.label("customer_name")).outerjoin(
            CustomerSettings, CustomerSettings.customer_id == Order.customer_id)
    rows = uow.read(query.where(where).order_by(*order_by(args.get("sort")))
                    .limit(per_page).offset((page - 1) * per_page))
    total, exact = count(uow, caller, args, where)
    items = dump(OrderSummaryOut, [summary_body(row) for row in rows], many=True)
    if caller.is_operator:
        for item, row in zip(items, rows):
            item["customer_name"] = row["customer_name"]
    return {"items": items, "page": page, "per_page": per_page, "total": total, "total_exact": exact}


COUNT_CAP = 10_000
COUNTED = {"status", "customer_id", "page", "per_page", "sort"}   # what order_counts answers


def count(uow: UnitOfWork, caller: CallerContext, args: dict, where) -> tuple[int, bool]:
    """The list's ``total``: from the kept counts when the filters are the customer and status
    (one row read per status), else counted, up to COUNT_CAP (then ``total_exact`` is false:
    "more than 10,000 matches" is all a screen needs, and counting all is what costs)."""
    # The kept counts are customer-wide: a user limited to sites has its orders counted.
    if caller.sites is None and set(k for k, v in args.items() if v not in (None, [], False)) <= COUNTED:
        return counts.total(uow, caller.scope(args.get("customer_id")), args.get("status")), True
    capped = select(Order.id).where(where).limit(COUNT_CAP + 1).subquery()
    found = uow.read(select(func.count().label("n")).select_from(capped))[0]["n"]
    return min(found, COUNT_CAP), found <= COUNT_CAP


# --- the user's columns -----------------------------------------------------------------------
def _view_key(caller: CallerContext) -> tuple[str, str]:
    caller.require()
    return caller.customer_id or "operator", caller.user_id or caller.role


def get_view(session: Session, caller: CallerContext) -> dict:
    row = session.get(ListView, _view_key(caller))
    return {"columns": row.columns if row else DEFAULT_COLUMNS, "sort": row.sort if row else None,
            "per_page": row.per_page if row else None, "available_columns": list(LIST_COLUMNS)}


def save_view(session: Session, caller: CallerContext, data: dict) -> dict:
    customer_id, user_id = _view_key(caller)
    row = session.get(ListView, (customer_id, user_id))
    if row is None:
        row = ListView(customer_id=customer_id, user_id=user_id)
        session.add(row)
    row.columns = list(dict.fromkeys(data["columns"]))
    row.sort, row.per_page = data.get("sort"), data.get("per_page")
    session.flush()
    return get_view(session, caller)

