"""Customer roles (issue 11): admin, booker and viewer inside a customer, users limited to some
of its sites, and the read-only rule the services enforce themselves behind the gateway."""
import json
import time
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from services.common import tokens
from services.common.caller import (CONTEXT_KEY, CUSTOMER_ADMIN, CUSTOMER_BOOKER, CUSTOMER_VIEWER,
                                    OPERATOR_ADMIN, CallerContext, sign, validate, verify)
from services.common.database import Database
from services.common.db import UnitOfWork
from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.identity.models import Base, Customer, User
from services.identity.service import Service
from tests.unit.conftest import call

SITES = [{"code": "north", "name": "North depot"}, {"code": "South-2", "name": "South yard"}]


def _people(factory, admin, name="Role Freight"):
    """A customer with an admin and a booker (rows written directly: invitations have their own tests)."""
    customer = call(factory, admin, "create_customer", {"name": name})
    with factory() as session, session.begin():
        rows = [User(email=f"{role}.{time.time_ns()}@roles.example", name=role, role=role, customer_id=customer["id"])
                for role in (CUSTOMER_ADMIN, CUSTOMER_BOOKER)]
        session.add_all(rows)
        session.flush()
        ids = [row.id for row in rows]
    boss, booker = (CallerContext(role=r, user_id=i, customer_id=customer["id"])
                    for r, i in zip((CUSTOMER_ADMIN, CUSTOMER_BOOKER), ids))
    return customer, boss, booker


def _last_event(factory, event_type):
    with factory() as session:
        rows = session.scalars(select(Base.OutboxMessage).order_by(Base.OutboxMessage.seq.desc())).all()
    return next(json.loads(r.body) for r in rows if json.loads(r.body)["type"] == event_type)


def test_the_customer_admin_sets_sites_and_an_approval_limit_that_travel_to_other_services(factory, admin):
    customer, boss, booker = _people(factory, admin)
    answer = call(factory, boss, "update_own_customer",
                  {"sites": SITES, "approval_limit": {"amount": "750.00", "currency": "EUR"}})
    assert answer["sites"] == SITES and answer["approval_limit"] == {"amount": "750.00", "currency": "EUR"}
    event = _last_event(factory, "customer.updated")
    assert event["data"]["sites"] == SITES and event["data"]["approval_limit"]["amount"] == "750.00"
    with pytest.raises(Forbidden):
        call(factory, booker, "update_own_customer", {"approval_limit": None})
    for bad in ({"sites": [{"code": "a b", "name": "x"}]}, {"sites": [SITES[0], {**SITES[0], "name": "again"}]},
                {"approval_limit": {"amount": "-1", "currency": "EUR"}},
                {"approval_limit": {"amount": 12.5, "currency": "EUR"}}):
        with pytest.raises(ValidationFailed):
            call(factory, boss, "update_own_customer", bad)


def test_an_admin_changes_a_colleagues_role_and_sites_and_its_sessions_end(factory, admin):
    customer, boss, booker = _people(factory, admin, "Role Change")
    call(factory, boss, "update_own_customer", {"sites": SITES})
    answer = call(factory, boss, "update_user", booker.user_id, {"role": CUSTOMER_VIEWER, "sites": ["NORTH"]})
    assert answer["role"] == CUSTOMER_VIEWER and answer["sites"] == ["north"]     # as the customer spells it
    with factory() as session:
        assert session.get(User, booker.user_id).tokens_valid_after is not None
    assert _last_event(factory, "user.updated")["data"]["role"] == CUSTOMER_VIEWER
    with pytest.raises(ValidationFailed) as unknown:
        call(factory, boss, "update_user", booker.user_id, {"sites": ["west"]})
    assert "No such site: west" in unknown.value.details["fields"]["sites"][0]
    with pytest.raises(ValidationFailed):
        call(factory, boss, "update_user", booker.user_id, {"role": "operator_admin"})
    with pytest.raises(Conflict, match="limited to a site"):
        call(factory, boss, "update_own_customer", {"sites": SITES[1:]})
    assert call(factory, boss, "update_user", booker.user_id, {"sites": None})["sites"] is None
    with pytest.raises(Forbidden):
        call(factory, booker, "update_user", boss.user_id, {"role": CUSTOMER_VIEWER})


def test_the_last_admin_stays_and_other_customers_users_are_out_of_reach(factory, admin):
    customer, boss, booker = _people(factory, admin, "Last Admin")
    with pytest.raises(Conflict, match="at least one administrator"):
        call(factory, boss, "update_user", boss.user_id, {"role": CUSTOMER_BOOKER})
    call(factory, boss, "update_user", booker.user_id, {"role": CUSTOMER_ADMIN})
    assert call(factory, boss, "update_user", boss.user_id, {"role": CUSTOMER_BOOKER})["role"] == CUSTOMER_BOOKER
    _other, stranger, _ = _people(factory, admin, "Elsewhere")
    with pytest.raises(NotFound):
        call(factory, stranger, "update_user", booker.user_id, {"role": CUSTOMER_VIEWER})


def test_an_invitation_carries_role_and_sites_into_the_users_token(factory, admin):
    customer, boss, _booker = _people(factory, admin, "Invited Viewer")
    call(factory, boss, "update_own_customer", {"sites": SITES})
    email = f"viewer.{time.time_ns()}@roles.example"
    sent = call(factory, boss, "invite", None, {"emails": [email], "role": CUSTOMER_VIEWER, "sites": ["south-2"]})
    assert sent[0]["role"] == CUSTOMER_VIEWER and sent[0]["sites"] == ["South-2"]
    with pytest.raises(ValidationFailed):
        call(factory, boss, "invite", None, {"emails": ["x@roles.example"], "sites": ["nowhere"]})
    with factory() as session, session.begin():       # accept it as the email's link would
        from services.identity import invites
        from services.identity.models import Invite

        invite = session.scalar(select(Invite).where(Invite.email == email))
        invite.token_hash = invites.one_time.digest("t" * 32)
    call(factory, None, "accept_invite", {"token": "t" * 32, "name": "Vi", "password": "a long enough password 1"})
    login = call(factory, None, "login", {"email": email, "password": "a long enough password 1"})
    ctx, claims = tokens.read(login["access_token"])
    assert ctx.role == CUSTOMER_VIEWER and ctx.sites == ("South-2",) and claims["sites"] == ["South-2"]
    assert ctx.read_only and ctx.sees_site("South-2") and not ctx.sees_site("north") and not ctx.sees_site(None)


def test_a_signed_context_keeps_its_sites_and_only_customer_people_have_them():
    ctx = CallerContext(role=CUSTOMER_BOOKER, user_id="u", customer_id="c", sites=["a", "b"])
    again = verify(sign(ctx, time.time() + 30))
    assert again.sites == ("a", "b") and again == ctx
    assert CallerContext(role=CUSTOMER_ADMIN, user_id="u", customer_id="c").sees_site(None)
    with pytest.raises(ValueError):
        validate(CallerContext(role=OPERATOR_ADMIN, user_id="u", sites=("a",)))
    with pytest.raises(ValueError):
        validate(CallerContext(role="api_key", user_id="k", customer_id="c", sites=("a",)))


def test_a_viewers_unit_of_work_cannot_write(factory):
    unit = UnitOfWork(factory, Base)
    unit.read_only = True
    unit.session.add(Customer(client_id="CREADONL", name="Nope"))
    with pytest.raises(Forbidden, match="only read"):
        unit.session.flush()
    unit.rollback()
    reader = UnitOfWork(factory, Base)
    reader.read_only = True
    assert reader.session.scalar(select(Customer.id).where(Customer.client_id == "CREADONL")) is None
    assert reader.session.scalar(select(Customer.id).limit(1)) is not None      # reading works
    reader.rollback()


def test_the_database_dependency_makes_a_viewer_read_only_except_for_its_own_profile():
    db = Database(Base)
    db.container = SimpleNamespace(service_cls=Service)
    viewer = sign(CallerContext(role=CUSTOMER_VIEWER, user_id="u", customer_id="c"), time.time() + 30)
    booker = sign(CallerContext(role=CUSTOMER_BOOKER, user_id="u", customer_id="c"), time.time() + 30)

    def worker(method, header):
        return SimpleNamespace(entrypoint=SimpleNamespace(method_name=method), data={CONTEXT_KEY: header})

    assert db._read_only(worker("create_api_key", viewer))
    assert db._read_only(worker("update_user", viewer))
    assert not db._read_only(worker("update_me", viewer))          # marked personal
    assert not db._read_only(worker("setup_two_factor", viewer))
    assert not db._read_only(worker("create_api_key", booker))
    assert not db._read_only(worker("create_api_key", None))
