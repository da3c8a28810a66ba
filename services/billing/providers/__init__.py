"""Payment providers: the seam between billing and a card processor.

``get_provider()`` returns the one configured for this process (``BILLING_PAYMENT_PROVIDER``,
default ``test``), built once per name and then shared: an adapter holds a connection pool and
the test provider its table set-up, neither worth repeating per payment.

Environment (read here, through ``os.environ``):
- ``BILLING_PAYMENT_PROVIDER``: ``test`` (default) or ``stripe``.
- ``STRIPE_API_KEY``, ``STRIPE_WEBHOOK_SECRET``: required for ``stripe``.
- ``STRIPE_API_URL`` (default ``https://api.stripe.com``), ``STRIPE_TIMEOUT`` (seconds, default 10).
"""
from __future__ import annotations

import os
import threading
from typing import Callable

from sqlalchemy.engine import Engine

from services.billing.providers.base import (IgnoredEvent, Intent, InvalidSignature, PaymentProvider,
                                             ProviderError, ProviderTimeout, ProviderUnavailable,
                                             RefundResult)

__all__ = ["get_provider", "PROVIDERS", "Intent", "RefundResult", "PaymentProvider", "ProviderError",
           "ProviderTimeout", "ProviderUnavailable", "InvalidSignature", "IgnoredEvent"]


def _test(engine: Engine | str | None) -> PaymentProvider:
    from services.billing.providers.test_provider import TestProvider
    from services.common.config import database_url

    # Its testpay_* tables live beside billing's unless it is handed another database.
    return TestProvider(engine if engine is not None else database_url("billing"))


def _stripe(engine: Engine | str | None) -> PaymentProvider:
    from services.billing.providers.stripe_provider import StripeProvider

    missing = [n for n in ("STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET") if not os.environ.get(n)]
    if missing:
        raise RuntimeError(f"BILLING_PAYMENT_PROVIDER=stripe needs {' and '.join(missing)}")
    return StripeProvider(os.environ["STRIPE_API_KEY"], os.environ["STRIPE_WEBHOOK_SECRET"],
                          base_url=os.environ.get("STRIPE_API_URL") or "https://api.stripe.com",
                          timeout=float(os.environ.get("STRIPE_TIMEOUT") or 10))


PROVIDERS: dict[str, Callable[[Engine | str | None], PaymentProvider]] = {"test": _test, "stripe": _stripe}
_instances: dict[str, PaymentProvider] = {}
_lock = threading.Lock()


def get_provider(name: str | None = None, *, engine: Engine | str | None = None) -> PaymentProvider:
    """The provider called ``name`` (default: ``BILLING_PAYMENT_PROVIDER``, else ``test``), one
    instance per name per process. ``engine`` is the database of the test provider when that
    instance is first built; asking again with a different one is refused rather than ignored."""
    name = name or os.environ.get("BILLING_PAYMENT_PROVIDER") or "test"
    if name not in PROVIDERS:
        raise ValueError(f"unknown payment provider {name!r}; known: {', '.join(sorted(PROVIDERS))}")
    with _lock:   # two threads asking at once must not build two
        if name not in _instances:
            _instances[name] = PROVIDERS[name](engine)
        elif engine is not None and not _same_database(_instances[name], engine):
            raise ValueError(f"the {name} payment provider already uses another database")
        return _instances[name]


def _same_database(provider: PaymentProvider, engine: Engine | str) -> bool:
    own = getattr(provider, "engine", None)
    if own is None or own is engine:
        return own is engine
    return isinstance(engine, str) and own.url.render_as_string(hide_password=False) == engine


def clear_cache() -> None:
    """Forget the built instances (tests, and a process that changed its configuration)."""
    with _lock:
        _instances.clear()
