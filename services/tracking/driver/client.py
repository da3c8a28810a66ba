"""The driver SDK: what a driver app calls to report where it is and what happened at a stop.

``DriverClient`` checks its input and shapes the fixed wire format of ``tracking.driver``
(API.md, "Driver apps"); ``DriverLink`` (link.py) carries the messages of any number of drivers
over one confirmed connection. The tracking service trusts nothing in a message but the
credential header: a driver reports only for itself, only on stops of its own route.
"""
from __future__ import annotations

import base64
import math
from datetime import datetime, timezone
from typing import Iterable, Protocol

from services.tracking.driver.link import DriverLink, DriverLinkError

__all__ = ["DriverClient", "DriverLink", "DriverLinkError", "Publisher", "location_key", "stop_key"]

JPEG, PNG = "image/jpeg", "image/png"
_MAGIC = {JPEG: b"\xff\xd8\xff", PNG: b"\x89PNG\r\n\x1a\n"}
# The tracking service's limits (services/tracking/reports.py, schemas.py), checked here too so a
# driver app hears of a bad report at once instead of it being dropped and counted far away.
MAX_ID = 36
MAX_SPEED_MPS = 150.0
MAX_PHOTOS = 5
MAX_IMAGE_BYTES = 5 << 20


class Publisher(Protocol):
    """What a client needs from its link (a fake in unit tests)."""

    def publish(self, routing_key: str, payload: dict, *, credential: str) -> str: ...


def location_key(driver_id: str) -> str:
    return f"driver.{driver_id}.location"


def stop_key(driver_id: str) -> str:
    return f"driver.{driver_id}.stop"


class DriverClient:
    """One driver's reports; ``DriverClient(link, driver_id, credential)``."""

    def __init__(self, link: Publisher, driver_id: str, credential: str, *, owns_link: bool = False):
        # The id becomes one word of a topic routing key: dots or wildcards would misroute it.
        if not isinstance(driver_id, str) or not 0 < len(driver_id) <= MAX_ID or any(c in driver_id for c in ".*# "):
            raise ValueError(f"not a driver id: {driver_id!r}")
        if not isinstance(credential, str) or not credential.startswith("drv_"):
            raise ValueError("a driver credential reads drv_...")
        self.link, self.driver_id, self.credential = link, driver_id, credential
        self._owns_link = owns_link

    @classmethod
    def connect(cls, driver_id: str, credential: str, amqp_uri: str, **link_options) -> "DriverClient":
        """A client with a link of its own (one driver app, one connection); ``close()`` it."""
        link = DriverLink(amqp_uri, **link_options)
        try:
            return cls(link, driver_id, credential, owns_link=True)
        except ValueError:
            link.close(timeout=0)
            raise

    def close(self, timeout: float = 5.0) -> None:
        if self._owns_link:
            self.link.close(timeout)

    def __enter__(self) -> "DriverClient":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    # --- reports -----------------------------------------------------------------------------------
    def position(self, lat: float, lng: float, *, speed_mps: float | None = None,
                 heading: float | None = None, accuracy_m: float | None = None,
                 recorded_at: datetime | None = None) -> str:
        """Where the driver is; returns the message id."""
        heading_value = _number("heading", heading, 0, 360, optional=True)
        payload = {
            "lat": _number("lat", lat, -90, 90), "lng": _number("lng", lng, -180, 180),
            "speed_mps": _number("speed_mps", speed_mps, 0, MAX_SPEED_MPS, optional=True),
            "heading": None if heading_value is None else heading_value % 360,
            "accuracy_m": _number("accuracy_m", accuracy_m, 0, 100_000, optional=True),
            "recorded_at": _iso(recorded_at, "recorded_at"),
        }
        return self.link.publish(location_key(self.driver_id), payload, credential=self.credential)

    def arrived(self, order_id: str, stop_id: str, at: datetime | None = None) -> str:
        return self._stop(order_id, stop_id, "arrived", at)

    def completed(self, order_id: str, stop_id: str, *, recipient_name: str | None = None,
                  comments: str | None = None, photos: Iterable[bytes] = (),
                  signature: bytes | None = None, at: datetime | None = None) -> str:
        """The stop is done, with its proof of delivery: photos and a signature, each JPEG or PNG
        (told by their first bytes), at most 5 MB each, at most 5 photos."""
        photos = list(photos)
        if len(photos) > MAX_PHOTOS:
            raise ValueError(f"at most {MAX_PHOTOS} photos, not {len(photos)}")
        pod = None
        if recipient_name or comments or photos or signature is not None:
            pod = {"recipient_name": _text("recipient_name", recipient_name, 200),
                   "comments": _text("comments", comments, 2000),
                   "photos": [_image(f"photos[{i}]", p) for i, p in enumerate(photos)],
                   "signature": None if signature is None else _image("signature", signature)}
        return self._stop(order_id, stop_id, "completed", at, pod=pod)

    def failed(self, order_id: str, stop_id: str, reason: str, at: datetime | None = None) -> str:
        reason = _text("reason", reason, 500)
        if not reason:
            raise ValueError("a failed stop needs a reason")
        return self._stop(order_id, stop_id, "failed", at, reason=reason)

    def _stop(self, order_id: str, stop_id: str, status: str, at: datetime | None, *,
              reason: str | None = None, pod: dict | None = None) -> str:
        for name, value in (("order_id", order_id), ("stop_id", stop_id)):
            if not isinstance(value, str) or not value.strip() or len(value) > MAX_ID:
                raise ValueError(f"{name} must be a non-empty id")
        payload = {"order_id": order_id, "stop_id": stop_id, "status": status, "at": _iso(at, "at"),
                   "reason": reason, "pod": pod}
        return self.link.publish(stop_key(self.driver_id), payload, credential=self.credential)


# --- checks ----------------------------------------------------------------------------------------
def _number(name: str, value, low: float, high: float, *, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    # bool is an int to Python, never a coordinate.
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be within [{low}, {high}], not {value!r}")
    return float(value)


def _iso(when: datetime | None, name: str) -> str:
    if when is None:
        return datetime.now(timezone.utc).isoformat()
    if not isinstance(when, datetime) or when.tzinfo is None or when.utcoffset() is None:
        # A naive time is ambiguous (the phone's zone? UTC?); the bus carries UTC only.
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return when.astimezone(timezone.utc).isoformat()


def _text(name: str, value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be text")
    value = value.strip()
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    return value or None


def sniff(data: bytes) -> str | None:
    """The image type its first bytes say, or None."""
    return next((kind for kind, magic in _MAGIC.items() if bytes(data[:len(magic)]) == magic), None)


def _image(name: str, data: bytes) -> dict:
    if not isinstance(data, (bytes, bytearray)):
        raise ValueError(f"{name} must be bytes")
    found = sniff(data)
    if found is None:
        raise ValueError(f"{name} is neither JPEG nor PNG")
    if len(data) > MAX_IMAGE_BYTES:
        raise ValueError(f"{name} takes {len(data)} bytes; at most {MAX_IMAGE_BYTES}")
    return {"content_type": found, "data": base64.b64encode(data).decode("ascii")}
