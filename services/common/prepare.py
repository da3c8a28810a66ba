"""Everything that must exist before the services start: every service's database and its
migrations, the RabbitMQ topology, and the operator admin. Safe to run again at any time.

    python -m services.common.prepare
"""
from __future__ import annotations

import logging

from services.common.config import env
from services.common.logs import configure_logging

log = logging.getLogger("prepare")


DEMO_CUSTOMERS = (
    {"name": "Acme Freight", "email": "ops@acme-freight.example", "phone": "+44 20 7946 0000",
     "postal_code": "EC1A 1BB", "require_dimensions": True, "location_sharing": "exact",
     "billing_address": {"line1": "1 Carter Lane", "city": "London", "postal_code": "EC1A 1BB",
                         "country": "GB"}},
    {"name": "Northwind Rentals", "email": "desk@northwind.example", "phone": "+31 20 555 0101",
     "postal_code": "1012 AB", "location_sharing": "approximate",
     "billing_address": {"line1": "Damrak 1", "city": "Amsterdam", "postal_code": "1012 AB",
                         "country": "NL"}},
)


def seed(demo: bool) -> None:
    """The operator admin always; with ``demo`` also the demo customers (once each). Their
    ``customer.created`` events wait in identity's outbox until the service relays them."""
    from sqlalchemy import select
    from sqlalchemy.orm import sessionmaker

    from services.common.caller import OPERATOR_ADMIN, CallerContext
    from services.common.config import database_url
    from services.common.db import UnitOfWork, make_engine
    from services.identity import customers, users
    from services.identity.accounts import ensure_admin, normalise_email
    from services.identity.models import Base, Customer, User

    engine = make_engine(database_url("identity"))
    uow = UnitOfWork(sessionmaker(engine, expire_on_commit=False), Base)
    created = ensure_admin(uow.session, env("PORTAL_ADMIN_EMAIL"), env("PORTAL_ADMIN_PASSWORD"))
    admin = uow.session.scalar(select(User).where(User.email == normalise_email(env("PORTAL_ADMIN_EMAIL"))))
    if created:
        users.announce(uow, "user.activated", admin)    # notify learns where to reach the admin
        log.info("operator admin %s created", env("PORTAL_ADMIN_EMAIL"))
    if demo:
        admin_id = admin.id
        operator = CallerContext(role=OPERATOR_ADMIN, user_id=admin_id)
        for fields in DEMO_CUSTOMERS:
            if uow.session.scalar(select(Customer.id).where(Customer.name == fields["name"])) is None:
                created = customers.create(uow, operator, customers.validate_fields(fields))
                log.info("demo customer %s (client_id %s) created", created["name"], created["client_id"])
    uow.commit()
    uow.close()
    engine.dispose()


def reseal() -> None:
    """Stored secrets sealed with a previous SECRET_KEY, sealed again with the current one
    (keys.py; after a rotation, deploy/RUNBOOK.md). Nothing to do otherwise."""
    from sqlalchemy.orm import Session

    from services.common.config import database_url
    from services.common.db import make_engine
    from services.identity import two_factor
    from services.notify import webhook_http

    if not env("SECRET_KEY_PREVIOUS"):
        return
    for service, step in (("identity", two_factor.reseal), ("notify", webhook_http.reseal)):
        engine = make_engine(database_url(service))
        with Session(engine) as session, session.begin():
            changed = step(session)
        engine.dispose()
        log.info("%s: %d stored secrets sealed with the new SECRET_KEY", service, changed)


def main(argv: list[str] | None = None) -> None:
    import argparse

    from services.common.migrations import upgrade_all
    from services.common.topology import declare_all

    parser = argparse.ArgumentParser(description="Prepare the platform to start.")
    parser.add_argument("--demo", action="store_true", help="also create the demo customers")
    args = parser.parse_args(argv)
    configure_logging("prepare")
    upgrade_all()
    log.info("databases migrated")
    queues = declare_all()
    log.info("topology declared: %d queues", len(queues))
    seed(args.demo)
    reseal()


if __name__ == "__main__":
    main()
