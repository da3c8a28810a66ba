"""The operator's identity on invoices and statements: name, colour and logo as the operator set
them in the console (billing's copy of ``branding.updated``, services.common.brand; the
environment's values until then), with the issuer's details from the environment."""
from __future__ import annotations

from services.billing.models import BrandCopy
from services.common import brand
from services.common.config import env


def keep(session, event: dict) -> None:
    brand.apply_event(session, BrandCopy, event)


def current(session=None) -> dict:
    own = brand.current(session, BrandCopy)
    details = env("BILLING_ISSUER_DETAILS") or ""
    return {"name": own["name"],
            "address_lines": [line.strip() for line in details.split("|") if line.strip()],
            "email": env("BILLING_EMAIL"), "vat_id": env("BILLING_VAT_ID"),
            "color": own["primary_color"], "logo": own["logo"], "footer": own["email_footer"]}
