"""Document numbers without gaps, per kind and year: ``INV-2026-000042``.

The sequence row is read with ``FOR UPDATE`` in the transaction that issues the document: a
second issuer waits for the first to commit or roll back, and a rolled-back document leaves its
number to the next one. (A database sequence would be faster but skips numbers on rollback,
which tax rules for invoice numbering do not allow.)"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.db import upsert_insert
from services.billing.models import NumberSequence

PREFIXES = {"invoice": "INV", "credit_note": "CN", "quote": "Q"}


def next_number(session: Session, kind: str, when: datetime) -> str:
    year = when.year
    # Create the year's row if it is the first document of the year (two issuers may race).
    session.execute(upsert_insert(session)(NumberSequence).values(kind=kind, year=year, last=0)
                    .on_conflict_do_nothing())
    row = session.scalar(select(NumberSequence).where(NumberSequence.kind == kind,
                                                      NumberSequence.year == year).with_for_update())
    row.last += 1
    return f"{PREFIXES[kind]}-{year}-{row.last:06d}"
