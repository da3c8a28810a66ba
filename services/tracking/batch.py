"""What one batch of driver messages does: the rules of ingestion, as plain Python over a
session (the ingest worker, ``ingest.py``, is the transport around it).

In one transaction per batch:
- each message is read and checked (``reports``); its credential must stand for the driver of
  its routing key, and a stop report must name an open stop of that driver's started route;
  anything else is rejected with a reason (and counted in ``rejections``);
- positions go to the history in one INSERT (a redelivered one is ignored by its key), and each
  driver's newest moves ``latest_positions`` only if it is newer than what is there, so a late
  or out-of-order report never moves a driver back in time;
- each driver's ETAs are recomputed from its newest position; a move beyond
  ``TRACKING_ETA_THRESHOLD_SECONDS`` (at most once per ``TRACKING_ETA_MIN_INTERVAL_SECONDS``),
  or a stop becoming late, is written and announced with ``stop.eta_changed``; smaller moves live only in memory, for the live views;
- stop reports update the stop; a completion stores the proof of delivery in the blob store
  and announces ``stop.completed`` (once: a repeat finds the stop already closed).
Afterwards the worker publishes a live view of every watched order the batch touched."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from services.common.blobs import blob_store
from services.common.config import env, env_float
from services.common.db import UnitOfWork, upsert_insert
from services.tracking import assignments, eta, views
from services.tracking.driver_auth import CredentialCache
from services.tracking.models import (IN_TRANSIT, OPEN_STOP, CustomerSharing, DriverPlan, LatestPosition,
                                      PositionRecord, Rejection, TrackedOrder, TrackedStop)
from services.tracking.reports import (Location, Rejected, StopReport, credential_of, driver_of, read_location,
                                      read_stop, time_bounds)

log = logging.getLogger("tracking.ingest")


@dataclass(frozen=True)
class Incoming:
    tag: int
    routing_key: str
    headers: dict | None
    body: bytes


@dataclass
class Outcome:
    rejected: list[tuple[int, str, str]] = field(default_factory=list)   # (tag, reason, detail)
    stored: int = 0
    live: list[tuple[str, views.Seen]] = field(default_factory=list)     # watched orders to publish


@dataclass
class PlanStop:
    stop_id: str
    order_id: str
    customer_id: str
    planned: eta.PlannedStop
    eta: datetime | None
    late: bool
    announced: datetime | None
    announced_at: datetime | None


@dataclass
class Plan:
    version: int
    stops: list[PlanStop]

    @property
    def serving_customer_id(self) -> str | None:
        return self.stops[0].customer_id if self.stops else None


class Batcher:
    """Holds what outlives a batch: the credential cache, each driver's remaining stops (reloaded
    when its plan version moves), the travel model and the set of watched orders."""

    def __init__(self, credentials: CredentialCache, model: eta.TravelModel | None = None):
        self.credentials = credentials
        self.model = model or eta.travel_model(env("TRACKING_ROUTING"), road_factor=env_float("TRACKING_ROAD_FACTOR"))
        self.plans: dict[str, Plan] = {}
        self.threshold = env_float("TRACKING_ETA_THRESHOLD_SECONDS")
        self.interval = env_float("TRACKING_ETA_MIN_INTERVAL_SECONDS")
        self.service_s = env_float("TRACKING_SERVICE_MINUTES") * 60
        self.default_mps = env_float("TRACKING_DEFAULT_SPEED_KMH") / 3.6

    # --- reading and checking ----------------------------------------------------------------
    def _read(self, batch: list[Incoming], now: datetime, out: Outcome) -> list[tuple[int, Location | StopReport]]:
        parsed, bounds = [], time_bounds(now)
        for message in batch:
            try:
                driver_id, kind = driver_of(message.routing_key)
                credential = credential_of(message.headers)
                item = (read_location if kind == "location" else read_stop)(driver_id, message.body, bounds)
                parsed.append((message.tag, credential, item))
            except Rejected as exc:
                out.rejected.append((message.tag, exc.reason, exc.detail))
        drivers = self.credentials.drivers({credential for _, credential, _ in parsed}) if parsed else {}
        good = []
        for tag, credential, item in parsed:
            driver_id = drivers.get(credential)
            if driver_id is None:
                out.rejected.append((tag, "bad_credential", f"driver {item.driver_id}"))
            elif driver_id != item.driver_id:
                out.rejected.append((tag, "wrong_driver", f"credential of {driver_id} used for {item.driver_id}"))
            else:
                good.append((tag, item))
        return good

    # --- plans ---------------------------------------------------------------------------------
    def _refresh_plans(self, session: Session, driver_ids: set[str]) -> None:
        versions = dict(session.execute(select(DriverPlan.driver_id, DriverPlan.version)
                                        .where(DriverPlan.driver_id.in_(driver_ids))).all())
        stale = [d for d in driver_ids if d not in self.plans or self.plans[d].version != versions.get(d, 0)]
        if not stale:
            return
        for driver_id in stale:
            self.plans[driver_id] = Plan(versions.get(driver_id, 0), [])
        rows = session.execute(
            select(TrackedStop, TrackedOrder.driver_id.label("serving_driver"))
            .join(TrackedOrder, TrackedOrder.order_id == TrackedStop.order_id)
            .where(TrackedOrder.driver_id.in_(stale), TrackedOrder.status == IN_TRANSIT,
                   TrackedStop.status.in_(OPEN_STOP))
            .order_by(TrackedOrder.driver_id, TrackedStop.route_position, TrackedStop.position)).all()
        for stop, driver_id in rows:
            self.plans[driver_id].stops.append(PlanStop(
                stop.stop_id, stop.order_id, stop.customer_id,
                eta.PlannedStop(stop.stop_id, stop.lat, stop.lng, stop.window_start, stop.window_end,
                                self.service_s, stop.arrived_at if stop.status == "arrived" else None),
                stop.eta, stop.late, stop.eta_announced, stop.eta_announced_at))

    # --- the batch -----------------------------------------------------------------------------
    def process(self, uow: UnitOfWork, batch: list[Incoming], now: datetime, watched: set[str]) -> Outcome:
        out = Outcome()
        items = self._read(batch, now, out)
        session = uow.session
        locations = [(tag, i) for tag, i in items if isinstance(i, Location)]
        stop_reports = [(tag, i) for tag, i in items if isinstance(i, StopReport)]
        touched = {i.driver_id for _, i in items}
        if touched:
            self._refresh_plans(session, touched)
        changed_stops = self._apply_stops(uow, stop_reports, out)
        moved = self._store_positions(session, [i for _, i in locations], now)
        out.stored = len(locations)
        for driver_id in changed_stops:
            self._refresh_plans(session, {driver_id})
        recompute = set(moved) | set(changed_stops)
        latest = {p.driver_id: p for p in session.scalars(
            select(LatestPosition).where(LatestPosition.driver_id.in_(set(changed_stops) - set(moved))))} \
            if changed_stops else {}
        latest.update(moved)
        events = []
        for driver_id, position in latest.items():
            events += self._estimate(session, driver_id, position, now)
        self._keep_latest(session, list(latest.values()))
        uow.emit_many(events)
        self._count_rejections(session, out.rejected, now)
        out.live = self._live(session, recompute, watched, latest)
        return out

    def _apply_stops(self, uow: UnitOfWork, reports: list[tuple[int, StopReport]], out: Outcome) -> set[str]:
        session, changed = uow.session, set()
        for tag, report in reports:
            stop = session.get(TrackedStop, report.stop_id, with_for_update=True)
            order = session.get(TrackedOrder, report.order_id) if stop is not None else None
            if stop is None or order is None or stop.order_id != order.order_id \
                    or order.driver_id != report.driver_id or stop.driver_id != report.driver_id:
                out.rejected.append((tag, "not_on_route", f"stop {report.stop_id} of order {report.order_id}"))
                continue
            if order.status != IN_TRANSIT:
                out.rejected.append((tag, "not_in_transit", f"order {order.order_id} is {order.status}"))
                continue
            if stop.status not in OPEN_STOP or (report.status == "arrived" and stop.status == "arrived"):
                continue      # a repeat of a report already applied
            if report.status == "arrived":
                stop.status, stop.arrived_at = "arrived", report.at
            else:
                stop.status, stop.completed_at = report.status, report.at
                stop.arrived_at = stop.arrived_at or report.at
                uow.emit("stop.completed", {
                    "order_id": order.order_id, "stop_id": stop.stop_id, "driver_id": report.driver_id,
                    "status": report.status, "completed_at": report.at.isoformat(), "eta": None,
                    "reason": report.reason, "pod": self._store_pod(report)}, customer_id=order.customer_id)
            order.version = assignments.next_version(order.version)
            assignments.bump_plans(session, report.driver_id)
            changed.add(report.driver_id)
        session.flush()
        return changed

    @staticmethod
    def _store_pod(report: StopReport) -> dict | None:
        if report.status != "completed":
            return None
        store = blob_store()

        def keep(part: tuple[str, bytes], prefix: str) -> dict:
            blob = store.put_bytes(part[1], prefix=prefix)
            return {"key": blob.key, "content_type": part[0], "size": blob.size, "sha256": blob.sha256}

        return {"recipient_name": report.recipient_name, "comments": report.comments,
                "photos": [keep(p, "pod/photos") for p in report.photos],
                "signature": keep(report.signature, "pod/signatures") if report.signature else None}

    def _store_positions(self, session: Session, locations: list[Location], now: datetime) -> dict[str, LatestPosition]:
        """History rows, and the newest position of each driver (only if newer than stored)."""
        if not locations:
            return {}
        insert = upsert_insert(session)
        rows = [{"driver_id": p.driver_id, "recorded_at": p.recorded_at, "lat": p.lat, "lng": p.lng,
                 "speed_mps": p.speed_mps, "heading": p.heading, "accuracy_m": p.accuracy_m} for p in locations]
        # RETURNING makes SQLAlchemy send one multi-row INSERT per 1,000 rows ("insertmanyvalues");
        # without it an ON CONFLICT insert goes through psycopg2's executemany, a round trip a row.
        table = PositionRecord.__table__
        session.execute(insert(table).on_conflict_do_nothing().returning(table.c.driver_id), rows)
        by_driver: dict[str, list[Location]] = {}
        for p in locations:
            by_driver.setdefault(p.driver_id, []).append(p)
        previous = {p.driver_id: p for p in session.scalars(
            select(LatestPosition).where(LatestPosition.driver_id.in_(by_driver)))}
        moved: dict[str, LatestPosition] = {}
        for driver_id, reports in by_driver.items():
            before = previous.get(driver_id)
            newer = sorted((p for p in reports if before is None or p.recorded_at > before.recorded_at),
                           key=lambda p: p.recorded_at)
            if not newer:
                continue          # all older than what we have: history only
            learned = before.learned_mps if before else None
            last = eta.Point(before.lat, before.lng, before.recorded_at) if before else None
            for p in newer:
                point = eta.Point(p.lat, p.lng, p.recorded_at)
                learned = eta.SpeedLearner.update(learned, eta.SpeedLearner.observed(last, point, p.speed_mps),
                                                  default_mps=self.default_mps)
                last = point
            top = newer[-1]
            moved[driver_id] = LatestPosition(
                driver_id=driver_id, lat=top.lat, lng=top.lng, speed_mps=top.speed_mps, heading=top.heading,
                accuracy_m=top.accuracy_m, recorded_at=top.recorded_at, received_at=now, learned_mps=learned)
        return moved

    @staticmethod
    def _keep_latest(session: Session, positions: list[LatestPosition]) -> None:
        if not positions:
            return
        columns = ("lat", "lng", "speed_mps", "heading", "accuracy_m", "recorded_at", "received_at",
                   "learned_mps", "etas")
        rows = [{"driver_id": p.driver_id, **{c: getattr(p, c) for c in columns}} for p in positions]
        table = LatestPosition.__table__
        stmt = upsert_insert(session)(table)
        # Two workers may race on one driver: the newest report wins, whichever commits last
        # (an equal one rewrites the same position with the ETAs of a stop report).
        session.execute(stmt.on_conflict_do_update(
            index_elements=["driver_id"], set_={c: stmt.excluded[c] for c in columns},
            where=stmt.excluded.recorded_at >= table.c.recorded_at).returning(table.c.driver_id), rows)

    def _estimate(self, session: Session, driver_id: str, position: LatestPosition, now: datetime) -> list:
        plan = self.plans.get(driver_id)
        if not plan or not plan.stops:
            return []
        estimates = eta.estimate(eta.Point(position.lat, position.lng, position.recorded_at),
                                 [s.planned for s in plan.stops], position.learned_mps or self.default_mps,
                                 self.model, now)
        position.etas = {e.stop_id: [e.eta.isoformat() if e.eta else None, e.late] for e in estimates}
        events, changed = [], []
        for stop, estimate in zip(plan.stops, estimates):
            stop.eta = estimate.eta
            # A new ETA is news when it moved past the threshold, at most once per interval per
            # stop (a driver's learned speed settling would otherwise announce every batch);
            # a stop turning late (or back) is news at once.
            due = stop.announced_at is None or (now - stop.announced_at).total_seconds() >= self.interval
            if estimate.late == stop.late and not (due and eta.eta_moved(stop.announced, estimate.eta, self.threshold)):
                continue
            stop.late, stop.announced, stop.announced_at = estimate.late, estimate.eta, now
            changed.append({"b_stop_id": stop.stop_id, "b_eta": estimate.eta, "b_late": estimate.late, "b_at": now})
            events.append(("stop.eta_changed", {
                "order_id": stop.order_id, "stop_id": stop.stop_id,
                "eta": estimate.eta.isoformat() if estimate.eta else None, "late": estimate.late}, stop.customer_id))
        if changed:
            table = TrackedStop.__table__
            session.execute(update(table).where(table.c.stop_id == bindparam("b_stop_id")).values(
                eta=bindparam("b_eta"), late=bindparam("b_late"), eta_announced=bindparam("b_eta"),
                eta_announced_at=bindparam("b_at")), changed)
        return events

    def _count_rejections(self, session: Session, rejected: list[tuple[int, str, str]], now: datetime) -> None:
        if not rejected:
            return
        counts: dict[str, tuple[int, str]] = {}
        for _, reason, detail in rejected:
            counts[reason] = (counts.get(reason, (0, ""))[0] + 1, detail)
            log.warning("driver message rejected (%s): %s", reason, detail)
        insert = upsert_insert(session)
        for reason, (n, detail) in counts.items():
            stmt = insert(Rejection).values(reason=reason, count=n, last_at=now, last_detail=detail[:500])
            session.execute(stmt.on_conflict_do_update(index_elements=["reason"], set_={
                "count": Rejection.count + n, "last_at": now, "last_detail": detail[:500]}))

    def _live(self, session: Session, drivers: set[str], watched: set[str],
              latest: dict[str, LatestPosition]) -> list[tuple[str, views.Seen]]:
        """Views of the watched orders whose driver this batch moved."""
        if not watched or not drivers:
            return []
        orders = session.scalars(select(TrackedOrder).where(
            TrackedOrder.order_id.in_(watched), TrackedOrder.driver_id.in_(drivers))).all()
        if not orders:
            return []
        stops = views.stops_of(session, [o.order_id for o in orders])
        sharing = dict(session.execute(select(CustomerSharing.customer_id, CustomerSharing.location_sharing)
                                       .where(CustomerSharing.customer_id.in_({o.customer_id for o in orders}))).all())
        found = []
        for order in orders:
            plan = self.plans.get(order.driver_id)
            found.append((order.order_id, views.Seen(
                order=order, stops=stops.get(order.order_id, []), sharing=sharing.get(order.customer_id, "none"),
                position=latest.get(order.driver_id),
                serving_customer_id=plan.serving_customer_id if plan else None)))
        return found

