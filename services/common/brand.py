"""The operator's branding as every service sees it: the environment's values
(``PORTAL_OPERATOR_NAME``, ``PORTAL_BRAND_COLOR``) until the operator sets something in the
console; then identity's ``branding.updated`` events, of which notify and billing keep a local
copy (one row, the newest version wins: events may come twice or out of order).

The rules for what may be set (hex colours, contrast, the logo's checks) live in
``services.identity.branding``; this module only merges and keeps what identity announced.
"""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import JSON, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from services.common.config import env

FALLBACK_COLOR = "#1f4e79"
HEX_COLOR = re.compile(r"^#[0-9a-f]{6}$")
COPY_KEY = "operator"


def _color(value: Any) -> str:
    value = str(value or "").lower()
    return value if HEX_COLOR.match(value) else FALLBACK_COLOR


def luminance(color: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""
    def channel(part: str) -> float:
        c = int(part, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(color[i:i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def text_on(color: str) -> str:
    """White or black, whichever reads better on ``color``."""
    return "#ffffff" if contrast(color, "#ffffff") >= contrast(color, "#000000") else "#000000"


def effective(stored: dict | None = None) -> dict:
    """What the operator set (``stored``: identity's settings or a service's copy of them) over
    the environment's defaults: ``{name, primary_color, accent_color, primary_text, accent_text,
    email_footer, logo, version}``; ``logo`` is ``{key, content_type, sha256}`` or None."""
    stored = stored or {}
    primary = _color(stored.get("primary_color") or env("PORTAL_BRAND_COLOR"))
    accent = _color(stored.get("accent_color") or primary)
    return {"name": stored.get("display_name") or env("PORTAL_OPERATOR_NAME"),
            "primary_color": primary, "accent_color": accent,
            "primary_text": text_on(primary), "accent_text": text_on(accent),
            "email_footer": stored.get("email_footer") or None,
            "logo": stored.get("logo") or None,
            "version": int(stored.get("version") or 0)}


LOGO_PATH = "/api/v1/branding/logo"


def logo_url(brand: dict, base: str = "") -> str | None:
    """Where the gateway serves the logo, versioned by its digest (cacheable for good), or None."""
    logo = brand.get("logo")
    return f"{base}{LOGO_PATH}?v={logo['sha256'][:16]}" if logo else None


# --- a service's local copy -----------------------------------------------------------------------
class BrandCopyColumns:
    """Mixed into a service's model (``class BrandCopy(BrandCopyColumns, Base)``): one row, keyed
    ``operator``, holding the newest ``branding.updated`` data."""

    __tablename__ = "brand_copy"

    key: Mapped[str] = mapped_column(String(16), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[Any] = mapped_column(JSON)


def create_copy_table(op) -> None:
    """The copy's table, for the migration of each service that keeps one (Alembic ``op``)."""
    import sqlalchemy as sa

    op.create_table("brand_copy",
                    sa.Column("key", sa.String(length=16), nullable=False),
                    sa.Column("version", sa.Integer(), nullable=False),
                    sa.Column("data", sa.JSON(), nullable=False),
                    sa.PrimaryKeyConstraint("key", name=op.f("pk_brand_copy")))


def apply_event(session, model, event: dict) -> None:
    """Keep ``event``'s branding unless the copy already holds a newer version."""
    data = event["data"]
    row = session.get(model, COPY_KEY, with_for_update=True)
    if row is not None and row.version >= data["version"]:
        return
    if row is None:
        row = model(key=COPY_KEY)
        session.add(row)
    row.version, row.data = data["version"], dict(data)


def current(session, model) -> dict:
    """The branding a service uses now: its copy over the environment's defaults."""
    row = session.get(model, COPY_KEY) if session is not None else None
    return effective(row.data if row is not None else None)
