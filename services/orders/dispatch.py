"""The minimum of dispatch a portal needs (not a route optimiser): depots, the drivers' copy,
routes with an ordered list of orders, scheduling, starting a route, and stops completed by
drivers (``stop.completed`` from tracking) with their proof of delivery."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.caller import SERVICE, CallerContext
from services.common.db import UnitOfWork, utcnow
from services.common.errors import Conflict, NotFound, ValidationFailed
from services.common.events import typed_data
from services.common.schemas import dump
from services.orders import documents, emissions, etas, rentals, status
from services.common.scoping import paged
from services.orders.listing import summary_body
from services.orders.models import Depot, Driver, EmissionFactor, Order, Route, Stop
from services.orders.schemas import DepotOut, RouteOut

SYSTEM = CallerContext(role=SERVICE)


# --- depots and drivers -----------------------------------------------------------------------
def create_depot(session: Session, caller: CallerContext, data: dict) -> dict:
    caller.require_operator()
    if session.scalar(select(Depot.id).where(Depot.name == data["name"])):
        raise ValidationFailed.of({"name": ["A depot of that name exists."]})
    depot = Depot(**data)
    session.add(depot)
    session.flush()
    return dump(DepotOut, depot)


def list_depots(session: Session, caller: CallerContext) -> list[dict]:
    caller.require_operator()
    return dump(DepotOut, session.scalars(select(Depot).order_by(Depot.name)).all(), many=True)


def apply_driver_event(session: Session, event: dict) -> None:
    data = event["data"]
    driver = session.get(Driver, data["driver_id"]) or Driver(id=data["driver_id"])
    driver.name, driver.phone = data["name"], data.get("phone")
    driver.depot_id, driver.is_active = data.get("depot_id"), data["is_active"]
    session.add(driver)


# --- routes -----------------------------------------------------------------------------------
def _route(session: Session, route_id: str, lock: bool = False) -> Route:
    route = session.get(Route, route_id, with_for_update=lock) if len(route_id) <= 36 else None
    if route is None:
        raise NotFound("No such route.")
    return route


def _check_refs(session: Session, data: dict) -> None:
    errors = {}
    # "is not None", not truthiness: an empty id skipped the check and then broke the foreign
    # key on insert, a 500 (found by Schemathesis, tests/attack/test_schemathesis.py).
    if data.get("depot_id") is not None and session.get(Depot, data["depot_id"]) is None:
        errors["depot_id"] = ["No such depot."]
    if data.get("driver_id") is not None:
        driver = session.get(Driver, data["driver_id"])
        if driver is None or not driver.is_active:
            errors["driver_id"] = ["No such active driver."]
    if data.get("vehicle_type") is not None and session.get(EmissionFactor, data["vehicle_type"]) is None:
        errors["vehicle_type"] = ["No emission factor has that vehicle type."]
    if errors:
        raise ValidationFailed.of(errors)


def route_view(session: Session, route: Route) -> dict:
    orders = session.scalars(select(Order).where(Order.route_id == route.id)
                             .order_by(Order.route_position)).all()
    driver = session.get(Driver, route.driver_id) if route.driver_id else None
    body = {c.key: getattr(route, c.key) for c in Route.__table__.columns}
    body.update(orders=[summary_body(o) for o in orders], order_count=len(orders),
                driver_name=driver.name if driver else None)
    return dump(RouteOut, body)


def create_route(session: Session, caller: CallerContext, data: dict) -> dict:
    caller.require_operator()
    _check_refs(session, data)
    route = Route(**data)
    session.add(route)
    session.flush()
    return route_view(session, route)


def get_route(session: Session, caller: CallerContext, route_id: str) -> dict:
    caller.require_operator()
    return route_view(session, _route(session, route_id))


def list_routes(session: Session, caller: CallerContext, args: dict) -> dict:
    caller.require_operator()
    query = select(Route)
    for name in ("day", "status", "driver_id"):
        if args.get(name):
            query = query.where(getattr(Route, name) == args[name])
    return paged(session, query.order_by(Route.day.desc(), Route.name), args, RouteOut,
                 transform=lambda r: route_view(session, r))


def update_route(uow: UnitOfWork, caller: CallerContext, route_id: str, data: dict) -> dict:
    caller.require_operator()
    route = _route(uow.session, route_id, lock=True)
    if "driver_id" in data and route.status != "planned":
        raise Conflict("The route has started: its driver cannot change.", {"status": route.status})
    _check_refs(uow.session, data)
    for name, value in data.items():
        setattr(route, name, value)
    if "driver_id" in data:   # tracking must learn who now serves these orders
        for order in uow.session.scalars(select(Order).where(Order.route_id == route.id)):
            announce(uow, order, route)
    if "vehicle_type" in data:
        emissions.refresh_route(uow.session, route)
    return route_view(uow.session, route)


def _on_route(order: Order, route: Route) -> dict:
    """What ``order.scheduled`` tells tracking: the driver, the route and the stops."""
    iso = lambda when: when.isoformat() if when else None  # noqa: E731
    return {"route_id": route.id, "driver_id": route.driver_id, "route_position": order.route_position,
            "stops": [{"stop_id": s.id, "type": s.type, "position": s.position, "lat": s.lat, "lng": s.lng,
                       "window_start": iso(s.window_start), "window_end": iso(s.window_end)}
                      for s in order.stops]}


def announce(uow: UnitOfWork, order: Order, route: Route) -> None:
    """Tell tracking again who serves the order and its stops (a new driver, new windows)."""
    uow.emit("order.scheduled", status.event_data(order, **_on_route(order, route)),
             customer_id=order.customer_id)


def schedule(uow: UnitOfWork, caller: CallerContext, route_id: str, order_ids: list[str]) -> dict:
    """Put submitted orders on a route, after the ones already there, in the order given.
    All or nothing: one order that cannot go answers 409 naming each problem."""
    caller.require_operator()
    session = uow.session
    route = _route(session, route_id, lock=True)
    if route.status == "finished":
        raise Conflict("The route is finished.", {"status": route.status})
    orders, problems = [], []
    for order_id in dict.fromkeys(order_ids):
        order = session.get(Order, order_id, with_for_update=True) if len(order_id) <= 36 else None
        if order is None:
            problems.append({"id": order_id, "message": "No such order."})
        elif not status.can_move(order, status.SCHEDULED):
            problems.append({"id": order_id, "status": order.status,
                             "message": f"The order is {order.status}, not submitted."})
        else:
            orders.append(order)
    if problems:
        raise Conflict("Some orders cannot be scheduled; nothing was changed.", {"orders": problems})
    position = session.scalar(select(func.coalesce(func.max(Order.route_position), -1))
                              .where(Order.route_id == route.id))
    for order in orders:
        position += 1
        order.route_id, order.route_position = route.id, position
        order.depot_id = order.depot_id or route.depot_id
        status.move(uow, order, status.SCHEDULED, caller, action="scheduled",
                    event_extra=_on_route(order, route))
        if route.status == "started":
            status.move(uow, order, status.IN_TRANSIT, caller, note=f"route {route.name} is under way")
    return route_view(session, route)


def unschedule(uow: UnitOfWork, caller: CallerContext, route_id: str, order_id: str) -> dict:
    caller.require_operator()
    route = _route(uow.session, route_id, lock=True)
    order = uow.session.get(Order, order_id, with_for_update=True) if len(order_id) <= 36 else None
    if order is None or order.route_id != route.id:
        raise NotFound("That order is not on this route.")
    status.move(uow, order, status.SUBMITTED, caller, action="taken off its route",
                note=f"taken off route {route.name}")
    order.route_id = order.route_position = None
    emissions.refresh(uow.session, order)      # no longer the route's vehicle
    return route_view(uow.session, route)


def start(uow: UnitOfWork, caller: CallerContext, route_id: str) -> dict:
    caller.require_operator()
    route = _route(uow.session, route_id, lock=True)
    if route.status != "planned":
        raise Conflict(f"The route is already {route.status}.", {"status": route.status})
    if not route.driver_id:
        raise Conflict("Give the route a driver before starting it.", {"status": route.status})
    # One driver drives one route at a time: with two started, "the stop the driver serves now"
    # (whose customer may see the location) would be a guess across both.
    busy = uow.session.execute(select(Route.id, Route.name).join(Order, Order.route_id == Route.id).where(
        Route.driver_id == route.driver_id, Route.status == "started", Route.id != route.id,
        Order.status == status.IN_TRANSIT).limit(1)).first()
    if busy is not None:
        raise Conflict(f"The driver is still driving route {busy.name}: finish it before starting another.",
                       {"status": route.status, "busy_route_id": busy.id})
    orders = uow.session.scalars(select(Order).where(Order.route_id == route.id, Order.status == status.SCHEDULED)
                                 .order_by(Order.route_position)).all()
    if not orders:
        raise Conflict("The route has no orders to start.", {"status": route.status})
    route.status, route.started_at = "started", utcnow()
    for order in orders:
        status.move(uow, order, status.IN_TRANSIT, caller, note=f"route {route.name} started")
    return route_view(uow.session, route)


# --- stops completed by drivers (events from tracking) ------------------------------------------
def apply_stop_event(uow: UnitOfWork, event: dict) -> None:
    """A driver completed or failed a stop. Tracking has checked the driver's credential and
    route; this checks again against dispatch's own records (defence in depth) and ignores
    what does not fit, logging it, rather than poisoning the queue."""
    data, session = typed_data(event), uow.session
    stop = session.get(Stop, data["stop_id"])
    if stop is None or stop.order_id != data["order_id"]:
        raise ValidationFailed(f"stop {data['stop_id']} is not a stop of order {data['order_id']}")
    order = session.get(Order, stop.order_id, with_for_update=True)
    route = session.get(Route, order.route_id) if order.route_id else None
    if route is None or route.driver_id != data["driver_id"]:
        raise ValidationFailed(f"driver {data['driver_id']} does not serve order {order.id}")
    if order.status != status.IN_TRANSIT or stop.status != "pending":
        return   # a late duplicate (another event id) of a stop already settled
    stop.status = data["status"]
    stop.completed_at = data["completed_at"]
    stop.failure_reason = data.get("reason")
    pod = data.get("pod") or {}
    stop.pod = {k: pod.get(k) for k in ("recipient_name", "comments") if pod.get(k)} or None
    for index, photo in enumerate(pod.get("photos") or []):
        documents.attach_blob(uow, order, stop, "pod_photo", photo, f"proof-{stop.position + 1}-{index + 1}")
    if pod.get("signature"):
        documents.attach_blob(uow, order, stop, "pod_signature", pod["signature"], f"signature-{stop.position + 1}")
    etas.refresh_summary(order)           # the list's ETA moves on to the next stop
    _settle(uow, order, route)


def _settle(uow: UnitOfWork, order: Order, route: Route) -> None:
    if any(s.status == "pending" for s in order.stops):
        return
    failed = [s for s in order.stops if s.status == "failed"]
    outcome = status.FAILED if failed else status.DELIVERED
    status.move(uow, order, outcome, SYSTEM, note=failed[0].failure_reason if failed else None)
    if outcome == status.DELIVERED and order.kind == "rental":
        rentals.open_from_order(uow, order)
    open_orders = uow.session.scalar(select(func.count()).select_from(Order).where(
        Order.route_id == route.id, Order.status.in_([status.SCHEDULED, status.IN_TRANSIT])))
    if not open_orders:
        route.status, route.finished_at = "finished", utcnow()

