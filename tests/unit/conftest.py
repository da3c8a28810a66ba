"""Fixtures of the unit suite: the identity service on a real SQLite database, no broker."""
import pytest
from nameko.testing.services import worker_factory
from sqlalchemy import create_engine, select
from sqlalchemy.orm import sessionmaker

from services.common.caller import OPERATOR_ADMIN, CallerContext
from services.common.db import UnitOfWork
from services.identity.accounts import ensure_admin
from services.identity.models import Base, User
from services.identity.service import Service

ADMIN_EMAIL, ADMIN_PASSWORD = "boss@operator.example", "correct horse battery"


@pytest.fixture(scope="module")
def factory(tmp_path_factory):
    engine = create_engine(f"sqlite:///{tmp_path_factory.mktemp('identity')}/identity.db")
    Base.metadata.create_all(engine)
    make = sessionmaker(engine, expire_on_commit=False)
    with make() as session, session.begin():
        ensure_admin(session, ADMIN_EMAIL, ADMIN_PASSWORD)
    yield make
    engine.dispose()


@pytest.fixture
def admin(factory):
    with factory() as session:
        return CallerContext(role=OPERATOR_ADMIN, user_id=session.scalar(
            select(User.id).where(User.email == ADMIN_EMAIL)))


def run_entrypoint(service_class, base, factory, caller, method, *args, deps=None, **kwargs):
    """One worker of any service: its own unit of work, committed when the entrypoint returns
    (as ours do), rolled back when it raises. ``deps`` replaces more dependencies (nameko's
    worker_factory makes mocks of the rest)."""
    uow = UnitOfWork(factory, base)
    service = worker_factory(service_class, db=uow, caller=caller or CallerContext(role="anonymous"),
                             **(deps or {}))
    try:
        result = getattr(service, method)(*args, **kwargs)
        uow.commit()
        return result
    except Exception:
        uow.rollback()
        raise
    finally:
        uow.close()


def call(factory, caller, method, *args, **kwargs):
    """An identity entrypoint, as one worker."""
    return run_entrypoint(Service, Base, factory, caller, method, *args, **kwargs)


