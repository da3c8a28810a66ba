"""Everything that must exist before the services start: every service's database and its
migrations, the RabbitMQ topology, and the operator admin. Safe to run again at any time.

    python -m services.common.prepare
"""
from __future__ import annotations

import logging

from services.common.config import env
from services.common.logs import configure_logging

log = logging.getLogger("prepare")


def bootstrap_admin() -> bool:
    from sqlalchemy.orm import Session

    from services.common.config import database_url
    from services.common.db import make_engine
    from services.identity.accounts import ensure_admin

    engine = make_engine(database_url("identity"))
    with Session(engine) as session, session.begin():
        created = ensure_admin(session, env("PORTAL_ADMIN_EMAIL"), env("PORTAL_ADMIN_PASSWORD"))
    engine.dispose()
    return created


def main() -> None:
    from services.common.migrations import upgrade_all
    from services.common.topology import declare_all

    configure_logging("prepare")
    upgrade_all()
    log.info("databases migrated")
    queues = declare_all()
    log.info("topology declared: %d queues", len(queues))
    if bootstrap_admin():
        log.info("operator admin %s created", env("PORTAL_ADMIN_EMAIL"))


if __name__ == "__main__":
    main()
