"""Each customer's address book: pickup sites and frequent recipients with their contacts,
which the webbooker and imports refer to (``place_id``, or the ``place`` column by name)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.caller import CallerContext
from services.common.errors import ValidationFailed
from services.common.schemas import dump
from services.orders.booking import target_customer
from services.common.scoping import paged
from services.orders.models import Place
from services.common.scoping import get_owned
from services.orders.schemas import PlaceOut

MAX_PLACES = 5000


def _get(session: Session, caller: CallerContext, place_id: str) -> Place:
    return get_owned(session, caller, Place, place_id, "saved place")


def _name_free(session: Session, customer_id: str, name: str, but: str | None = None) -> None:
    query = select(Place.id).where(Place.customer_id == customer_id, Place.name == name)
    if but:
        query = query.where(Place.id != but)
    if session.scalar(query):
        raise ValidationFailed.of({"name": ["Another saved place has this name."]})


def _check(data: dict) -> None:
    if not (data.get("address") or {}).get("line1") and data.get("lat") is None:
        raise ValidationFailed.of({"address": {"line1": ["An address (or coordinates) is required."]}})
    if (data.get("lat") is None) != (data.get("lng") is None):
        raise ValidationFailed.of({"lng": ["Give both latitude and longitude."]})


def create(session: Session, caller: CallerContext, data: dict) -> dict:
    customer_id = target_customer(caller, None)
    _check(data)
    _name_free(session, customer_id, data["name"])
    if session.scalar(select(Place.id).where(Place.customer_id == customer_id).offset(MAX_PLACES - 1).limit(1)):
        raise ValidationFailed.of({"name": [f"An address book keeps at most {MAX_PLACES} places."]})
    place = Place(customer_id=customer_id, **data)
    session.add(place)
    session.flush()
    return dump(PlaceOut, place)


def update(session: Session, caller: CallerContext, place_id: str, data: dict) -> dict:
    place = _get(session, caller, place_id)
    merged = {"address": place.address, "lat": place.lat, "lng": place.lng, **data}
    _check(merged)
    if "name" in data:
        _name_free(session, place.customer_id, data["name"], but=place.id)
    for name, value in data.items():
        setattr(place, name, value)
    session.flush()
    return dump(PlaceOut, place)


def delete(session: Session, caller: CallerContext, place_id: str) -> None:
    session.delete(_get(session, caller, place_id))


def get(session: Session, caller: CallerContext, place_id: str) -> dict:
    return dump(PlaceOut, _get(session, caller, place_id))


def listing(session: Session, caller: CallerContext, args: dict) -> dict:
    query = select(Place).where(Place.customer_id == target_customer(caller, None))
    if args.get("kind"):
        query = query.where(Place.kind == args["kind"])
    if args.get("q"):
        query = query.where(Place.name.ilike(f"%{args['q']}%"))
    return paged(session, query.order_by(Place.name), args, PlaceOut)
