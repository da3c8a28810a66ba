"""A customer's own spreadsheet columns: named mappings from its file's headers to the import's
columns (saved once, reused on every upload; one may be the default), and its import-by-email
address ``import+<token>@IMPORT_MAIL_DOMAIN`` (services/orders/mail_intake.py reads the mail).

Who: the customer's people who may import (``allow_order_upload``); the address's token is set
and rotated by a customer admin only, and files mailed there are imported as that admin."""
from __future__ import annotations

import secrets
from typing import Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from services.common.caller import CUSTOMER_ADMIN, CUSTOMER_ROLES, CallerContext
from services.common.config import env
from services.common.db import utcnow
from services.common.errors import Conflict, Forbidden, ValidationFailed
from services.common.schemas import dump, load
from services.common.scoping import get_owned
from services.orders import booking
from services.orders.models import ImportAddress, ImportMapping
from services.orders.schemas import ImportAddressOut, ImportMappingIn, ImportMappingOut, ImportMappingPatch
from services.orders.spreadsheet import GLOSSARY, match_header

FIELDS = frozenset(c.name for c in GLOSSARY)
MAX_MAPPINGS = 50


def importing_customer(session: Session, caller: CallerContext) -> str:
    """The caller's customer, if the caller is a customer that may upload spreadsheets."""
    caller.require(*CUSTOMER_ROLES)
    if not booking.customer_settings(session, caller.customer_id).allow_order_upload:
        raise Forbidden("Spreadsheet uploads are switched off for this account; ask your operator.")
    return caller.customer_id


def check_columns(columns: dict[str, str]) -> None:
    """Each header to a known column ("" ignores it), no column given by two headers."""
    problems, taken = [], {}
    for header, field in columns.items():
        if field and field not in FIELDS:
            problems.append(f"{header!r}: {field!r} is not an import column (see GET /imports/glossary).")
        elif field and field in taken:
            problems.append(f"{header!r} and {taken[field]!r} both give {field!r}.")
        elif field:
            taken[field] = header
    if not taken:
        problems.append("Map at least one header to an import column.")
    if problems:
        raise ValidationFailed.of({"columns": problems})


def _view(mapping: ImportMapping) -> dict:
    return dump(ImportMappingOut, mapping)


def listing(session: Session, caller: CallerContext) -> list[dict]:
    customer_id = importing_customer(session, caller)
    return [_view(m) for m in ordered(session, customer_id)]


def ordered(session: Session, customer_id: str) -> Sequence[ImportMapping]:
    """The customer's mappings, the default first: the order an upload tries them in."""
    return session.scalars(select(ImportMapping).where(ImportMapping.customer_id == customer_id)
                           .order_by(ImportMapping.is_default.desc(), ImportMapping.name)).all()


def _get(session: Session, caller: CallerContext, mapping_id: str) -> ImportMapping:
    importing_customer(session, caller)
    return get_owned(session, caller, ImportMapping, mapping_id, "mapping")


def get(session: Session, caller: CallerContext, mapping_id: str) -> dict:
    return _view(_get(session, caller, mapping_id))


def _make_default(session: Session, mapping: ImportMapping) -> None:
    session.execute(update(ImportMapping).where(ImportMapping.customer_id == mapping.customer_id,
                                                ImportMapping.id != mapping.id).values(is_default=False))
    mapping.is_default = True


def _name_free(session: Session, customer_id: str, name: str, but: str | None = None) -> None:
    clash = session.scalar(select(ImportMapping.id).where(
        ImportMapping.customer_id == customer_id, ImportMapping.name == name))
    if clash and clash != but:
        raise Conflict(f"A mapping named {name!r} exists already.")


def create(session: Session, caller: CallerContext, payload: dict) -> dict:
    customer_id = importing_customer(session, caller)   # who asks comes before what is asked
    data = load(ImportMappingIn, payload)
    check_columns(data["columns"])
    _name_free(session, customer_id, data["name"])
    existing = ordered(session, customer_id)
    if len(existing) >= MAX_MAPPINGS:
        raise Conflict(f"A customer keeps at most {MAX_MAPPINGS} mappings; delete one first.")
    mapping = ImportMapping(customer_id=customer_id, name=data["name"], columns=data["columns"],
                            created_by=caller.user_id)
    session.add(mapping)
    session.flush()
    if data.get("is_default") or not existing:
        _make_default(session, mapping)
    session.flush()
    return _view(mapping)


def update_mapping(session: Session, caller: CallerContext, mapping_id: str, payload: dict) -> dict:
    mapping = _get(session, caller, mapping_id)
    data = load(ImportMappingPatch, payload)
    if "columns" in data:
        check_columns(data["columns"])
        mapping.columns = data["columns"]
    if "name" in data:
        _name_free(session, mapping.customer_id, data["name"], but=mapping.id)
        mapping.name = data["name"]
    if data.get("is_default"):
        _make_default(session, mapping)
    session.flush()
    return _view(mapping)


def delete(session: Session, caller: CallerContext, mapping_id: str) -> None:
    mapping = _get(session, caller, mapping_id)
    session.delete(mapping)
    session.flush()


def candidates(session: Session, customer_id: str | None, mapping_id: str | None = None) -> list[dict[str, str]]:
    """The mappings an upload may be read with: the one chosen, else all (the default first)."""
    if not customer_id:
        return []
    if mapping_id:
        chosen = session.scalar(select(ImportMapping).where(ImportMapping.id == mapping_id,
                                                            ImportMapping.customer_id == customer_id))
        if chosen is None:
            raise ValidationFailed.of({"mapping_id": ["No such mapping."]})
        return [chosen.columns]
    return [m.columns for m in ordered(session, customer_id)]


def name_of(session: Session, customer_id: str | None, columns: dict | None) -> str | None:
    if not columns or not customer_id:
        return None
    return next((m.name for m in ordered(session, customer_id) if m.columns == columns), None)


def suggest(headers: list[str]) -> dict[str, str]:
    """What the template already understands of a file's headers: a start for a mapping."""
    return {h: match_header(h) or "" for h in headers if h}


# --- the import-by-email address ------------------------------------------------------------------
def mail_domain() -> str:
    return env("IMPORT_MAIL_DOMAIN") or "imports.portal.example"


def address_of(token: str) -> str:
    return f"import+{token}@{mail_domain()}"


def _address_view(found: ImportAddress | None) -> dict:
    return dump(ImportAddressOut, {"address": address_of(found.token) if found else None,
                                   "rotated_at": found.rotated_at if found else None})


def get_address(session: Session, caller: CallerContext) -> dict:
    customer_id = importing_customer(session, caller)
    return _address_view(session.get(ImportAddress, customer_id))


def rotate_address(session: Session, caller: CallerContext) -> dict:
    """A new token (the old address stops working at once); the first call makes the address.
    Files mailed there are imported as the admin who rotated it."""
    customer_id = importing_customer(session, caller)
    caller.require(CUSTOMER_ADMIN)
    if caller.sites is not None:     # mailed files are booked for the whole customer, every site
        raise Forbidden("An admin limited to some sites cannot own the import address.")
    found = session.get(ImportAddress, customer_id, with_for_update=True)
    if found is None:
        found = ImportAddress(customer_id=customer_id, token="", owner_role=CUSTOMER_ADMIN)
        session.add(found)
    found.token, found.owner_id, found.owner_role = secrets.token_hex(12), caller.user_id, caller.role
    found.rotated_at = utcnow()
    session.flush()
    return _address_view(found)


def by_token(session: Session, token: str) -> ImportAddress | None:
    """The address of a token (the mail intake's RCPT check): exact, lower-case hex only."""
    if not (0 < len(token) <= 40) or not all(c in "0123456789abcdef" for c in token):
        return None
    return session.scalar(select(ImportAddress).where(ImportAddress.token == token))
