"""What a driver app sends (API.md, "Driver apps"), read and checked: a message is either a
``Location`` or a ``StopReport``, or it raises ``Rejected`` with a reason that is counted.

Positions are checked by hand rather than with a marshmallow schema: they are thousands a
second, and a schema load costs ~10x the checks below (measured here); stop reports are rare
and go through ``StopReportIn``. Both refuse the same things a schema would: wrong types,
missing fields, out-of-range values, and timestamps from the future or the far past."""
from __future__ import annotations

import base64
import binascii
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from marshmallow import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from services.common.config import env_int
from services.common.schemas import instance
from services.tracking.models import LatestPosition, PositionRecord, Rejection
from services.tracking.schemas import StopReportIn

MAX_ID = 36
MAX_PHOTO_BYTES = 5 << 20


class Rejected(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason, detail)
        self.reason, self.detail = reason, detail


@dataclass(frozen=True)
class Location:
    driver_id: str
    lat: float
    lng: float
    speed_mps: float | None
    heading: float | None
    accuracy_m: float | None
    recorded_at: datetime


@dataclass(frozen=True)
class StopReport:
    driver_id: str
    order_id: str
    stop_id: str
    status: str                      # arrived | completed | failed
    at: datetime
    reason: str | None
    recipient_name: str | None
    comments: str | None
    photos: tuple[tuple[str, bytes], ...]      # (content type, bytes)
    signature: tuple[str, bytes] | None


def driver_of(routing_key: str) -> tuple[str, str]:
    parts = routing_key.split(".")
    if len(parts) != 3 or parts[0] != "driver" or not 0 < len(parts[1]) <= MAX_ID or parts[2] not in ("location", "stop"):
        raise Rejected("bad_routing_key", routing_key[:100])
    return parts[1], parts[2]


def credential_of(headers: dict | None) -> str:
    credential = (headers or {}).get("credential")
    if isinstance(credential, bytes):
        credential = credential.decode("utf-8", "replace")
    if not isinstance(credential, str) or not credential:
        raise Rejected("missing_credential")
    return credential


def _body(raw: bytes) -> dict:
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Rejected("bad_json", str(exc)[:200]) from None
    if not isinstance(body, dict):
        raise Rejected("bad_json", "the body is not a JSON object")
    return body


def _number(body: dict, name: str, low: float, high: float, required: bool = False) -> float | None:
    value = body.get(name)
    if value is None:
        if required:
            raise Rejected("invalid", f"{name} is missing")
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise Rejected("invalid", f"{name} is not a number")
    if not low <= value <= high:
        raise Rejected("out_of_range", f"{name}={value} is outside [{low}, {high}]")
    return float(value)


def time_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The oldest and the newest timestamp a report may carry (reports buffered offline; clock
    skew), read once per batch."""
    return (now - timedelta(hours=env_int("TRACKING_MAX_AGE_HOURS")),
            now + timedelta(seconds=env_int("TRACKING_MAX_SKEW_SECONDS")))


def _moment(value: Any, name: str, bounds: tuple[datetime, datetime]) -> datetime:
    if not isinstance(value, str):
        raise Rejected("invalid", f"{name} is missing or not a string")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise Rejected("invalid", f"{name} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise Rejected("invalid", f"{name} has no UTC offset")
    when = when.astimezone(timezone.utc)
    if when > bounds[1]:
        raise Rejected("future_timestamp", f"{name}={value}")
    if when < bounds[0]:
        raise Rejected("stale_timestamp", f"{name}={value}")
    return when


def read_location(driver_id: str, raw: bytes, bounds: tuple[datetime, datetime]) -> Location:
    body = _body(raw)
    return Location(driver_id=driver_id,
                    lat=_number(body, "lat", -90, 90, required=True),
                    lng=_number(body, "lng", -180, 180, required=True),
                    speed_mps=_number(body, "speed_mps", 0, 150),
                    heading=_number(body, "heading", 0, 360),
                    accuracy_m=_number(body, "accuracy_m", 0, 100_000),
                    recorded_at=_moment(body.get("recorded_at"), "recorded_at", bounds))


def _image(part: dict | None, what: str) -> tuple[str, bytes] | None:
    if part is None:
        return None
    try:
        data = base64.b64decode(part["data"], validate=True)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise Rejected("bad_pod", f"{what} is not base64: {exc}") from None
    if len(data) > MAX_PHOTO_BYTES:
        raise Rejected("bad_pod", f"{what} is larger than {MAX_PHOTO_BYTES} bytes")
    return part["content_type"], data


def read_stop(driver_id: str, raw: bytes, bounds: tuple[datetime, datetime]) -> StopReport:
    body = _body(raw)
    try:
        data = instance(StopReportIn).load(body)
    except ValidationError as exc:
        raise Rejected("invalid", json.dumps(exc.messages)[:300]) from None
    at = _moment(body["at"], "at", bounds) if body.get("at") else datetime.now(timezone.utc)
    pod = data.get("pod") or {}
    return StopReport(driver_id=driver_id, order_id=data["order_id"], stop_id=data["stop_id"],
                      status=data["status"], at=at, reason=data.get("reason"),
                      recipient_name=pod.get("recipient_name"), comments=pod.get("comments"),
                      photos=tuple(_image(p, f"photo {i + 1}") for i, p in enumerate(pod.get("photos") or [])),
                      signature=_image(pod.get("signature"), "signature"))


# --- what the operator sees ----------------------------------------------------------------------
def stats(session: Session) -> dict:
    rejected = session.scalars(select(Rejection).order_by(Rejection.reason)).all()
    return {"rejected": {r.reason: {"count": r.count, "last_at": r.last_at.isoformat(),
                                    "last_detail": r.last_detail} for r in rejected},
            "rejected_total": sum(r.count for r in rejected),
            "drivers_reporting": session.scalar(select(func.count()).select_from(LatestPosition)),
            "oldest_position": (lambda v: v.isoformat() if v else None)(
                session.scalar(select(func.min(PositionRecord.recorded_at))))}


def latest_positions(session: Session) -> list[dict]:
    rows = session.scalars(select(LatestPosition).order_by(LatestPosition.driver_id)).all()
    return [{"driver_id": p.driver_id, "lat": p.lat, "lng": p.lng, "speed_mps": p.speed_mps,
             "heading": p.heading, "accuracy_m": p.accuracy_m, "recorded_at": p.recorded_at.isoformat(),
             "learned_speed_mps": p.learned_mps} for p in rows]
