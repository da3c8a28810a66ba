"""Drivers, and the credentials their apps sign bus messages with.

A credential reads ``drv_<prefix>_<secret>``: shown once when issued (or rotated), stored as a
SHA-256 only. The tracking service asks ``authenticate`` for the driver a credential stands for;
rotating or deactivating a driver makes the old credential worthless."""
from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.caller import DRIVER, OPERATOR_ADMIN, CallerContext
from services.common.db import UnitOfWork, utcnow
from services.common.errors import NotFound, Unauthenticated, ValidationFailed
from services.identity import audit, one_time
from services.identity.models import Driver

MARK = "drv_"


def public(driver: Driver) -> dict:
    return {"id": driver.id, "name": driver.name, "phone": driver.phone, "depot_id": driver.depot_id,
            "is_active": driver.is_active, "credential_prefix": driver.credential_prefix,
            "credential_issued_at": driver.credential_issued_at.isoformat(),
            "created_at": driver.created_at.isoformat()}


def event_data(driver: Driver) -> dict:
    return {"driver_id": driver.id, "name": driver.name, "phone": driver.phone,
            "depot_id": driver.depot_id, "is_active": driver.is_active}


def _issue(driver: Driver) -> str:
    prefix = secrets.token_hex(4)
    credential = f"{MARK}{prefix}_{secrets.token_urlsafe(32)}"
    driver.credential_prefix, driver.credential_hash = prefix, one_time.digest(credential)
    driver.credential_issued_at = utcnow()
    return credential


def create(uow: UnitOfWork, caller: CallerContext, fields: dict) -> dict:
    caller.require_operator(OPERATOR_ADMIN)
    driver = Driver(**fields)
    credential = _issue(driver)
    uow.session.add(driver)
    uow.session.flush()
    audit.record(uow.session, caller, "driver.created", target_id=driver.id,
                 details={"prefix": driver.credential_prefix})
    uow.emit("driver.created", event_data(driver))
    return {**public(driver), "credential": credential}


def _get(session: Session, driver_id: str) -> Driver:
    driver = session.get(Driver, driver_id)
    if driver is None:
        raise NotFound("No such driver.")
    return driver


def rotate(uow: UnitOfWork, caller: CallerContext, driver_id: str) -> dict:
    caller.require_operator(OPERATOR_ADMIN)
    driver = _get(uow.session, driver_id)
    credential = _issue(driver)
    audit.record(uow.session, caller, "driver.credential_rotated", target_id=driver.id,
                 details={"prefix": driver.credential_prefix})
    return {**public(driver), "credential": credential}


def update(uow: UnitOfWork, caller: CallerContext, driver_id: str, fields: dict) -> dict:
    caller.require_operator(OPERATOR_ADMIN)
    driver = _get(uow.session, driver_id)
    for name, value in fields.items():
        setattr(driver, name, value)
    audit.record(uow.session, caller, "driver.updated", target_id=driver.id, details=fields)
    uow.emit("driver.updated", event_data(driver))
    return public(driver)


def listing(session: Session, caller: CallerContext) -> list[dict]:
    caller.require_operator()
    return [public(d) for d in session.scalars(select(Driver).order_by(Driver.name))]


MAX_CREDENTIALS_PER_CALL = 1000


def authenticate_many(session: Session, credentials: list) -> dict:
    """``{credential: driver id or None}`` for many credentials in one query: the tracking
    ingest worker asks for every driver of a batch it does not know yet at once."""
    if not isinstance(credentials, list) or len(credentials) > MAX_CREDENTIALS_PER_CALL \
            or not all(isinstance(c, str) and len(c) <= 200 for c in credentials):
        raise ValidationFailed(f"Send a list of at most {MAX_CREDENTIALS_PER_CALL} credentials.")
    by_hash = {one_time.digest(c): c for c in credentials}
    found = {c: None for c in credentials}
    if by_hash:
        for driver_id, digest in session.execute(select(Driver.id, Driver.credential_hash).where(
                Driver.credential_hash.in_(by_hash), Driver.is_active.is_(True))):
            found[by_hash[digest]] = driver_id
    return found


def authenticate(session: Session, credential: str) -> dict:
    driver = session.scalar(select(Driver).where(Driver.credential_hash == one_time.digest(credential)))
    if driver is None or not driver.is_active:
        raise Unauthenticated("This driver credential is not valid.")
    return {"role": DRIVER, "user_id": driver.id, "customer_id": None}
