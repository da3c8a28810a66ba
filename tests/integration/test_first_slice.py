"""The first real slice on the real broker and database: identity signs in and creates a
customer; its event reaches the orders service (settings copy) through outbox and inbox."""
import uuid

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from services.common.caller import CUSTOMER_BOOKER, OPERATOR_ADMIN, CallerContext
from services.common.db import UnitOfWork
from services.common.errors import Forbidden, NotFound, Unauthenticated
from services.identity.accounts import ensure_admin
from services.identity.models import Base as IdentityBase
from services.identity.service import Service as Identity
from services.orders.service import Service as Orders
from tests.conftest import wait_for

pytestmark = pytest.mark.integration


@pytest.fixture
def platform(container_factory, service_config):
    email = f"admin-{uuid.uuid4().hex[:6]}@operator.example"
    engine = create_engine(service_config("identity")["DATABASE_URL"])
    uow = UnitOfWork(sessionmaker(engine, expire_on_commit=False), IdentityBase)
    ensure_admin(uow.session, email, "a long enough password")
    uow.commit()
    uow.close()
    engine.dispose()
    for cls in (Identity, Orders):
        container_factory(cls, service_config(cls.name)).start()
    return email


def test_sign_in_me_and_create_customer_through_rpc(platform, rpc):
    session = rpc.call("identity", "login", {"email": platform, "password": "a long enough password"})
    me = CallerContext(role=OPERATOR_ADMIN, user_id=session["user"]["id"])
    assert rpc.call("identity", "get_me", caller=me)["email"] == platform
    customer = rpc.call("identity", "create_customer",
                        {"name": "Slice Freight", "require_dimensions": True}, caller=me)
    # customer.created: identity's outbox -> portal.events -> orders' queue -> its inbox + copy
    copy = wait_for(lambda: _settings(rpc, me, customer["id"]), what="the orders service's copy")
    assert copy == {"customer_id": customer["id"], "client_id": customer["client_id"],
                    "name": "Slice Freight", "is_active": True, "require_dimensions": True,
                    "allow_order_upload": True, "sites": [], "approval_limit": None}
    rpc.call("identity", "update_customer", customer["id"], {"require_dimensions": False}, caller=me)
    wait_for(lambda: _settings(rpc, me, customer["id"])["require_dimensions"] is False,
             what="customer.updated applied")


def test_scoping_holds_across_the_rpc_boundary(platform, rpc):
    with pytest.raises(Unauthenticated):
        rpc.call("identity", "login", {"email": platform, "password": "wrong password"})
    intruder = CallerContext(role=CUSTOMER_BOOKER, user_id="u-x", customer_id="cust-x")
    with pytest.raises(Forbidden):
        rpc.call("identity", "create_customer", {"name": "Nope"}, caller=intruder)
    with pytest.raises(NotFound):       # another customer's settings look like no customer at all
        rpc.call("orders", "customer_settings", "cust-y", caller=intruder)


def _settings(rpc, caller, customer_id):
    try:
        return rpc.call("orders", "customer_settings", customer_id, caller=caller)
    except NotFound:
        return None
