"""API keys for a customer's partner systems.

A key reads ``pk_<prefix>_<secret>``: the prefix (public, unique) names it in lists and logs;
the whole key is shown once at creation and only its SHA-256 is stored (256 random bits need
no slow hash). The gateway asks ``authenticate`` once a minute per key at most."""
from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.caller import API_KEY, CUSTOMER_ADMIN, CallerContext
from services.common.db import UnitOfWork, utcnow
from services.common.errors import NotFound, Unauthenticated
from services.identity import audit, one_time
from services.identity.models import ApiKey, Customer

MARK = "pk_"


def public(key: ApiKey) -> dict:
    return {"id": key.id, "name": key.name, "prefix": key.prefix, "created_at": key.created_at.isoformat(),
            "last_used_at": key.last_used_at.isoformat() if key.last_used_at else None,
            "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None}


def create(uow: UnitOfWork, caller: CallerContext, name: str) -> dict:
    caller.require(CUSTOMER_ADMIN)
    prefix = secrets.token_hex(4)
    secret = f"{MARK}{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(customer_id=caller.customer_id, name=name.strip(), prefix=prefix,
                 secret_hash=one_time.digest(secret), created_by=caller.user_id)
    uow.session.add(key)
    uow.session.flush()
    audit.record(uow.session, caller, "api_key.created", customer_id=caller.customer_id,
                 target_id=key.id, details={"prefix": prefix, "name": key.name})
    return {**public(key), "secret": secret}


def listing(session: Session, caller: CallerContext) -> list[dict]:
    caller.require(CUSTOMER_ADMIN)
    rows = session.scalars(select(ApiKey).where(ApiKey.customer_id == caller.customer_id)
                           .order_by(ApiKey.created_at.desc()))
    return [public(k) for k in rows]


def revoke(uow: UnitOfWork, caller: CallerContext, key_id: str) -> dict:
    caller.require(CUSTOMER_ADMIN)
    key = uow.session.get(ApiKey, key_id)
    if key is None or key.customer_id != caller.customer_id:
        raise NotFound("No such API key.")
    key.revoked_at = key.revoked_at or utcnow()
    audit.record(uow.session, caller, "api_key.revoked", customer_id=key.customer_id, target_id=key.id)
    return public(key)


def authenticate(session: Session, secret: str) -> dict:
    """The caller a key stands for; Unauthenticated for an unknown, revoked or switched-off one."""
    key = session.scalar(select(ApiKey).where(ApiKey.secret_hash == one_time.digest(secret)))
    customer = session.get(Customer, key.customer_id) if key else None
    if key is None or key.revoked_at or customer is None or not customer.is_active \
            or not customer.has_portal_access:
        raise Unauthenticated("This API key is not valid.")
    key.last_used_at = utcnow()
    return {"role": API_KEY, "user_id": key.id, "customer_id": key.customer_id}
