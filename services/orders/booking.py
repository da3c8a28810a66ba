"""Creating and editing orders: the webbooker, the API, imports and accepted quotes all come
through ``create``/``replace_content`` so one set of rules holds for every way in."""
from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.caller import CallerContext
from services.common.db import UnitOfWork, utcnow
from services.common.errors import Conflict, Forbidden, ServiceUnavailable, ValidationFailed
from services.orders import approval, counts, pricing, sites, status
from services.common.scoping import get_owned
from services.orders.models import CustomerSettings, Item, Order, Place, StatusChange, Stop, new_id

DIMENSIONS = ("weight_kg", "length_cm", "width_cm", "height_cm")
CONTENT = ("kind", "notes", "pickup_at", "passengers", "vehicle_type", "rental_start", "rental_end")


def customer_settings(session: Session, customer_id: str) -> CustomerSettings:
    settings = session.get(CustomerSettings, customer_id)
    if settings is None:
        # identity's customer.created has not reached us yet (or the id is wrong): a caller
        # with a valid token for this customer can simply retry in a moment.
        raise ServiceUnavailable("This customer account is not ready for orders yet; try again shortly.")
    if not settings.is_active:
        raise Forbidden("This customer account is inactive.")
    return settings


def target_customer(caller: CallerContext, customer_id: str | None) -> str:
    """The customer a write is for: the caller's own, or the one operator staff name."""
    scope = caller.scope(customer_id)
    if scope is None:
        raise ValidationFailed.of({"customer_id": ["Operator staff must say which customer this is for."]})
    return scope


def new_reference() -> str:
    return "ORD-" + secrets.token_hex(4).upper()


def check_rules(data: dict, settings: CustomerSettings, partial_fields: set[str] | None = None) -> None:
    """The rules a schema cannot know alone: per kind, and the customer's dimension setting."""
    errors: dict[str, Any] = {}
    kind = data.get("kind", "delivery")
    stops, items = data.get("stops") or [], data.get("items") or []
    if kind == "delivery":
        if not any(s.get("type", "dropoff") == "dropoff" for s in stops):
            errors["stops"] = ["A delivery needs at least one drop-off stop."]
    elif kind == "booking":
        if not data.get("pickup_at"):
            errors["pickup_at"] = ["A booking needs its pickup time."]
        if not stops:
            errors["stops"] = ["A booking needs at least its pickup stop."]
    elif kind == "rental":
        if not data.get("rental_start"):
            errors["rental_start"] = ["A rental needs its start date."]
        if not items:
            errors["items"] = ["A rental needs the items to rent."]
    if data.get("rental_start") and data.get("rental_end") and data["rental_end"] < data["rental_start"]:
        errors["rental_end"] = ["The rental cannot end before it starts."]
    if settings.require_dimensions:
        if kind == "delivery" and not items:
            errors.setdefault("items", ["This account's deliveries need their items, with weight and dimensions."])
        for index, item in enumerate(items):
            missing = {name: ["Required: this account's orders need weight and dimensions."]
                       for name in DIMENSIONS if item.get(name) is None}
            if missing:
                errors.setdefault("items", {})[index] = missing
    if errors:
        raise ValidationFailed.of(errors)


def resolve_places(session: Session, customer_id: str, stops: list[dict]) -> None:
    """Fill stops that name a saved place (by id, or by name from a spreadsheet) from the
    customer's address book; what the stop itself says wins over the saved values."""
    errors: dict[int, Any] = {}
    for index, stop in enumerate(stops):
        place_id, name = stop.get("place_id"), stop.pop("place", None)
        if not place_id and not name:
            continue
        query = select(Place).where(Place.customer_id == customer_id)
        query = query.where(Place.id == place_id) if place_id else query.where(Place.name == name)
        place = session.scalar(query)
        if place is None:
            errors[index] = {"place_id" if place_id else "place": ["No such saved place."]}
            continue
        stop["place_id"] = place.id
        stop["address"] = {**place.address, **{k: v for k, v in (stop.get("address") or {}).items() if v}}
        stop["contact"] = {**place.contact, **{k: v for k, v in (stop.get("contact") or {}).items() if v}}
        if stop.get("lat") is None and place.lat is not None:
            stop["lat"], stop["lng"] = place.lat, place.lng
        if not stop.get("notes") and place.notes:
            stop["notes"] = place.notes
        if not stop["address"].get("line1") and stop.get("lat") is None:
            errors[index] = {"place": ["That saved place has no address."]}
    if errors:
        raise ValidationFailed.of({"stops": errors})


def _clean(mapping: dict | None) -> dict:
    return {k: v for k, v in (mapping or {}).items() if v not in (None, "")}


def _one_line(address: dict) -> str:
    parts = [address.get("unit"), address.get("line1"), address.get("postal_code"), address.get("city")]
    return ", ".join(p for p in parts if p)


def stop_rows(order_id: str, stops: list[dict]) -> list[dict]:
    return [{"id": new_id(), "order_id": order_id, "position": i, "type": s.get("type", "dropoff"),
             "address": _clean(s.get("address")), "lat": s.get("lat"), "lng": s.get("lng"),
             "window_start": s.get("window_start"), "window_end": s.get("window_end"),
             "contact": _clean(s.get("contact")), "notes": s.get("notes"), "place_id": s.get("place_id"),
             "status": "pending"} for i, s in enumerate(stops)]


def item_rows(order_id: str, items: list[dict]) -> list[dict]:
    return [{"id": new_id(), "order_id": order_id, "position": i, "description": it["description"],
             "quantity": it.get("quantity", 1), **{name: it.get(name) for name in DIMENSIONS}}
            for i, it in enumerate(items)]


def summary_of(reference: str, stops: list[dict], items: list[dict]) -> dict:
    """The list's columns and the search text, kept on the order row itself:
    ``{summary, search_text, window_start}``."""
    pickups = [s for s in stops if s["type"] == "pickup"]
    dropoffs = [s for s in stops if s["type"] == "dropoff"]
    last = (dropoffs or stops or [None])[-1]
    weight = sum((i["weight_kg"] * i["quantity"] for i in items if i.get("weight_kg") is not None), start=0)
    when = (lambda name: last[name].isoformat() if last and last.get(name) else None)  # noqa: E731
    words = [reference]
    for stop in stops:
        words += [str(v) for v in (stop["address"] or {}).values() if v]
        words += [str(stop["contact"][k]) for k in ("name", "email", "phone") if (stop["contact"] or {}).get(k)]
    return {"summary": {"pickup": _one_line(pickups[0]["address"]) if pickups else None,
                        "dropoff": _one_line(last["address"]) if last else None,
                        "recipient": (last["contact"] or {}).get("name") if last else None,
                        "city": (last["address"] or {}).get("city") if last else None,
                        "window_start": when("window_start"), "window_end": when("window_end"),
                        "stop_count": len(stops), "packages": sum(i["quantity"] for i in items),
                        "weight_kg": str(weight) if weight else None},
            "search_text": " ".join(words).lower(),
            "window_start": last.get("window_start") if last else None}


def _columns_of(obj) -> dict:
    return {c.key: getattr(obj, c.key) for c in obj.__table__.columns}


def summarise(order: Order) -> None:
    values = summary_of(order.reference, [_columns_of(s) for s in order.stops],
                        [_columns_of(i) for i in order.items])
    values["summary"]["price_total"] = pricing.price_total(order.price)
    for name, value in values.items():
        setattr(order, name, value)


def content_hash(data: dict) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def fill(order: Order, data: dict) -> None:
    """Edit an order's content from validated data; stops and items given replace the lists."""
    for name in CONTENT:
        if name in data:
            setattr(order, name, data[name])
    if "stops" in data:
        order.stops = [Stop(**row) for row in stop_rows(order.id, data["stops"])]
    if "items" in data:
        order.items = [Item(**row) for row in item_rows(order.id, data["items"])]
    summarise(order)


def reference_taken(session: Session, customer_id: str, reference: str, but: str | None = None) -> bool:
    query = select(Order.id).where(Order.customer_id == customer_id, Order.reference == reference)
    if but:
        query = query.where(Order.id != but)
    return session.scalar(query) is not None


@dataclass
class NewOrder:
    """A new order as table rows: imports insert hundreds at once without an ORM object each."""
    order: dict
    stops: list[dict]
    items: list[dict]


ORDER_DEFAULTS = {name: None for name in CONTENT} | {"import_id": None, "content_hash": None, "quote_id": None,
                                                     "route_id": None, "route_position": None,
                                                     "submitted_at": None}


def prepare(session: Session, settings: CustomerSettings, caller: CallerContext, data: dict, *,
            source: str = "api", **origin) -> NewOrder:
    """A new draft from validated data (``OrderIn``), the checks every way in shares. The
    caller makes sure the reference is free (one query per batch for imports)."""
    data = dict(data)
    resolve_places(session, settings.customer_id, data.get("stops") or [])
    check_rules(data, settings)
    order_id, now = new_id(), utcnow()
    reference = data.get("reference") or new_reference()
    stops, items = stop_rows(order_id, data.get("stops") or []), item_rows(order_id, data.get("items") or [])
    order = {**ORDER_DEFAULTS, **{name: data.get(name) for name in CONTENT}, "kind": data.get("kind", "delivery"),
             "id": order_id, "customer_id": settings.customer_id, "reference": reference,
             "status": status.DRAFT, "source": source, "created_by": caller.user_id,
             "created_at": now, "updated_at": now, "depot_id": settings.default_depot_id,
             "site": sites.check_site(settings, caller, data.get("site")), **origin, **summary_of(reference, stops, items)}
    return NewOrder(order, stops, items)


def insert_new(uow: UnitOfWork, caller: CallerContext, new: list[NewOrder], submit: bool,
               pricer: approval.Pricer | None = None) -> None:
    """Write new orders with their history and events: one INSERT per table for the lot.
    Submitted ones above the customer's approval limit wait for its admin (``approval``;
    ``pricer`` asks billing: every check, so every RPC, comes before the first write)."""
    if not new:
        return
    session = uow.session
    history, events = [], []
    held = [approval.check(session, caller, m.order, m.stops, m.items, pricer) if submit else None for m in new]
    for made, waits in zip(new, held):
        moves = status.creation(made.order, submit, held=waits is not None)
        counts.change(uow, made.order["customer_id"], made.order["status"], +1)
        history += [{"order_id": made.order["id"], "from_status": before, "to_status": after,
                     "at": made.order["created_at"], "by_user_id": caller.user_id, "by_role": caller.role,
                     "note": "waits for approval: above the approval limit" if after == status.PENDING_APPROVAL
                     else None} for before, after in moves]
        events += status.creation_events(made.order, moves, made.stops, made.items, waits)
    # Core INSERTs of the tables (executemany, batched by psycopg2): the ORM's bulk path costs
    # several times more per row and imports write hundreds of thousands.
    session.execute(Order.__table__.insert(), [m.order for m in new])
    stops = [s for m in new for s in m.stops]
    items = [i for m in new for i in m.items]
    if stops:
        session.execute(Stop.__table__.insert(), stops)
    if items:
        session.execute(Item.__table__.insert(), items)
    session.execute(StatusChange.__table__.insert(), history)
    uow.emit_many(events)


def create(uow: UnitOfWork, caller: CallerContext, customer_id: str, data: dict, *,
           source: str = "api", pricer: approval.Pricer | None = None, **origin) -> Order:
    session = uow.session
    made = prepare(session, customer_settings(session, customer_id), caller, data, source=source, **origin)
    if reference_taken(session, customer_id, made.order["reference"]):
        raise ValidationFailed.of({"reference": [
            f"Another order of this account already uses {made.order['reference']!r}."]})
    insert_new(uow, caller, [made], bool(data.get("submit")), pricer)
    return session.get(Order, made.order["id"])


def replace_content(uow: UnitOfWork, caller: CallerContext, order: Order, data: dict,
                    digest: str | None = None, settings: CustomerSettings | None = None) -> Order:
    """Edit a draft (PATCH, a corrected row imported again, the content of an accepted quote):
    409 once it is submitted. A change of what it is priced from drops its price."""
    if order.status != status.DRAFT:
        raise Conflict(f"The order is {order.status.replace('_', ' ')}: only drafts can be edited.",
                              {"status": order.status, "order_id": order.id})
    session = uow.session
    settings = settings or customer_settings(session, order.customer_id)
    data = dict(data)
    resolve_places(session, order.customer_id, data.get("stops") or [])
    merged = {**current_content(order), **data}
    check_rules(merged, settings)
    if "site" in data:
        order.site = sites.check_site(settings, caller, data["site"])
    if data.get("reference") and data["reference"] != order.reference:
        if reference_taken(session, order.customer_id, data["reference"], but=order.id):
            raise ValidationFailed.of({"reference": ["Another order of this account already uses it."]})
        order.reference = data["reference"]
    priced = pricing.content_of(order, order.stops, order.items)
    fill(order, data)
    if pricing.content_of(order, order.stops, order.items) != priced:
        pricing.clear_price(order)
    if digest:
        order.content_hash = digest
    return order


def current_content(order: Order) -> dict:
    """The order's content in the shape of ``OrderIn`` (for the rules on a partial edit)."""
    return {**{name: getattr(order, name) for name in CONTENT},
            "stops": [{"type": s.type, "address": s.address, "lat": s.lat} for s in order.stops],
            "items": [{name: getattr(i, name) for name in DIMENSIONS} | {"description": i.description}
                      for i in order.items]}


def get_scoped(session: Session, caller: CallerContext, order_id: str, *, lock: bool = False) -> Order:
    """The order, if the caller may see it: another customer's order is NotFound, as if absent."""
    order = get_owned(session, caller, Order, order_id, "order", lock=lock)
    sites.require_visible(caller, order)       # a site-limited user: another site's order is absent
    return order
