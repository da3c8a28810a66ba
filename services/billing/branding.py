"""The operator's identity on invoices and statements (issue 11 moves it into the operator
console; until then it comes from the environment)."""
from __future__ import annotations

from services.common.config import env


def current() -> dict:
    details = env("BILLING_ISSUER_DETAILS") or ""
    return {"name": env("PORTAL_OPERATOR_NAME"),
            "address_lines": [line.strip() for line in details.split("|") if line.strip()],
            "email": env("BILLING_EMAIL"), "vat_id": env("BILLING_VAT_ID"),
            "color": env("PORTAL_BRAND_COLOR")}
