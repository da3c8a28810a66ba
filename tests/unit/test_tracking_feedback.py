"""Recipient feedback and the tracking-link access log, on a real SQLite database, no broker:
who may rate and when, one feedback per order, what the operator and the customer read; what an
opening of a link keeps (a coarse origin only), one per visit, scoped, and for how long."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from services.common.caller import CallerContext
from services.common.db import UnitOfWork, utcnow
from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.common.schemas import load
from services.tracking import feedback, link_access, links, retention
from services.tracking.models import Base, LinkAccess, OrderFeedback
from services.tracking.schemas import FeedbackIn
from tests.unit import test_tracking
from tests.unit.test_tracking import ACME, DRIVER, OPERATOR, OTHER, apply, customer, outbox, put_on_route

factory = test_tracking.factory          # the same SQLite database fixture

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.5 Mobile/15E148 Safari/604.1")


def delivered_order(factory, order_id="o1", cid=ACME, status="delivered"):
    put_on_route(factory, order_id, cid, 0, [("dropoff", 51.6, -0.2, None)])
    if status != "in_transit":
        apply(factory, "order.status_changed", {"order_id": order_id, "status": status,
                                                "previous_status": "in_transit"}, cid)


def make_link(factory, order_id="o1", cid=ACME, label=None):
    with factory() as session, session.begin():
        return links.create(session, customer(cid), order_id, {"label": label})


def give(factory, token, rating, comment=None):
    uow = UnitOfWork(factory, Base)
    try:
        given = feedback.give(uow, token, {"rating": rating, "comment": comment})
        uow.commit()
        return given
    finally:
        uow.close()


def open_link(factory, token, address, agent):
    with factory() as session, session.begin():
        links.resolve(session, token, link_access.visitor_of(address, agent))


# --- the coarse origin ---------------------------------------------------------------------------------
@pytest.mark.parametrize("address, network", [
    ("203.0.113.77", "203.0.113.0/24"),
    ("2001:db8:abcd:12:1:2:3:4", "2001:db8:abcd::/48"),
    ("::ffff:198.51.100.9", "198.51.100.0/24"),          # IPv4 in IPv6 clothes
    ("10.1.0.0/16", "10.1.0.0/16"),                      # a wider network stays as wide
    ("not an address", None), ("", None), (None, None),
])
def test_an_opening_keeps_at_most_a_24_or_48_network(address, network):
    assert link_access.coarse_network(address) == network


@pytest.mark.parametrize("agent, family", [
    (FIREFOX, "Firefox"), (IPHONE, "Safari"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
     "Chrome"),
    ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36 Edg/131.0",
     "Edge"),
    ("WhatsApp/2.23.20.0 A", "Link preview or bot"), ("curl/8.5.0", "Script"), (None, "Unknown"), ("Lynx", "Other"),
])
def test_an_opening_keeps_the_browser_family_only(agent, family):
    assert link_access.browser_family(agent) == family


# --- the access log ----------------------------------------------------------------------------------
def test_each_visit_counts_once_and_its_polls_and_stream_renewals_do_not(factory):
    delivered_order(factory, status="in_transit")
    made = make_link(factory)
    open_link(factory, made["token"], "203.0.113.77", FIREFOX)       # the page's first call
    open_link(factory, made["token"], "203.0.113.78", FIREFOX)       # its stream, its polls: same visit
    with factory() as session, session.begin():
        links.resolve(session, made["token"])                        # a stream renewing its watch
    open_link(factory, made["token"], "2001:db8:abcd:12::1", IPHONE)  # someone else
    with factory() as session:
        seen = link_access.listing(session, links.get_link(session, customer(ACME), made["id"]))
        stored = session.scalars(select(LinkAccess.network)).all()
    assert seen["total"] == 2
    assert [(a["network"], a["browser"]) for a in seen["items"]] == [
        ("2001:db8:abcd::/48", "Safari"), ("203.0.113.0/24", "Firefox")]
    assert "203.0.113.77" not in stored and "203.0.113.78" not in stored
    # The same visitor after a pause is a new opening.
    with factory() as session, session.begin():
        for access in session.scalars(select(LinkAccess)):
            access.opened_at = access.last_seen_at = access.last_seen_at - link_access.SAME_VISIT - timedelta(seconds=1)
    open_link(factory, made["token"], "203.0.113.77", FIREFOX)
    with factory() as session:
        listed = links.listing(session, customer(ACME), "o1")
    assert listed[0]["opened_count"] == 3 and listed[0]["last_opened_at"]


def test_a_customer_sees_only_its_own_links_openings(factory):
    delivered_order(factory, status="in_transit")
    made = make_link(factory)
    open_link(factory, made["token"], "203.0.113.77", FIREFOX)
    with factory() as session:
        with pytest.raises(NotFound):
            links.get_link(session, customer(OTHER), made["id"])
        assert link_access.listing(session, links.get_link(session, OPERATOR, made["id"]))["total"] == 1


def test_openings_are_kept_as_long_as_the_position_history(factory):
    delivered_order(factory, status="in_transit")
    made = make_link(factory)
    open_link(factory, made["token"], "203.0.113.77", FIREFOX)
    open_link(factory, made["token"], "198.51.100.1", IPHONE)
    with factory() as session, session.begin():
        old = session.scalars(select(LinkAccess).where(LinkAccess.browser == "Firefox")).one()
        old.opened_at = old.last_seen_at = utcnow() - timedelta(days=31)
    retention.purge(UnitOfWork(factory, Base))
    with factory() as session:
        assert session.scalars(select(LinkAccess.browser)).all() == ["Safari"]


# --- feedback -------------------------------------------------------------------------------------------
def test_feedback_is_refused_before_delivery_and_stored_with_order_customer_driver_and_link(factory):
    delivered_order(factory, status="in_transit")
    made = make_link(factory, label="reception")
    with factory() as session:
        assert feedback.public_state(session, made["token"]) == {"state": "not_delivered", "feedback": None}
    with pytest.raises(Conflict) as refused:
        give(factory, made["token"], 5)
    assert refused.value.details == {"reason": "not_delivered"}
    apply(factory, "order.status_changed", {"order_id": "o1", "status": "delivered", "previous_status": "in_transit"},
          ACME)
    state, created = give(factory, made["token"], 4, "  Friendly driver,\x07 left it at the desk.\r\n ")
    assert created and state["state"] == "editable" and state["feedback"]["rating"] == 4
    with factory() as session:
        stored = session.scalars(select(OrderFeedback)).one()
        assert (stored.order_id, stored.customer_id, stored.driver_id, stored.link_id) == ("o1", ACME, DRIVER, made["id"])
        assert stored.comment == "Friendly driver, left it at the desk."
        # The customer reads it on its order; another customer's order is not found.
        mine = feedback.of_order(session, customer(ACME), "o1")["feedback"]
        assert (mine["rating"], mine["link_label"]) == (4, "reception")
        with pytest.raises(NotFound):
            feedback.of_order(session, customer(OTHER), "o1")
    # Announced on the bus, for partners (notify tells no one).
    assert outbox(factory, "feedback.received") == [{"feedback_id": stored.id, "order_id": "o1", "reference": "O1",
                                                     "driver_id": DRIVER, "rating": 4,
                                                     "comment": "Friendly driver, left it at the desk."}]


@pytest.mark.parametrize("status", ["failed", "cancelled"])
def test_no_feedback_on_an_order_that_was_not_delivered(factory, status):
    delivered_order(factory, status=status)
    made = make_link(factory)
    with pytest.raises(Conflict):
        give(factory, made["token"], 1)


def test_one_feedback_per_order_changeable_briefly_by_the_link_that_gave_it(factory):
    delivered_order(factory)
    first, second = make_link(factory), make_link(factory)
    give(factory, first["token"], 2)
    state, created = give(factory, first["token"], 5, "Sorry, misclicked")       # within the window: a change
    assert not created and state["feedback"]["rating"] == 5
    with pytest.raises(Conflict) as other:
        give(factory, second["token"], 1)                                           # another link: given
    assert other.value.details == {"reason": "given"}
    with factory() as session:
        assert feedback.public_state(session, second["token"]) == {"state": "given", "feedback": None}
    with factory() as session, session.begin():
        session.scalars(select(OrderFeedback)).one().created_at -= feedback.EDIT_WINDOW
    with pytest.raises(Conflict):
        give(factory, first["token"], 1)                                            # the window closed
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(OrderFeedback)) == 1
        assert feedback.public_state(session, first["token"])["state"] == "given"


def test_a_revoked_link_takes_no_feedback(factory):
    delivered_order(factory)
    made = make_link(factory)
    with factory() as session, session.begin():
        links.revoke(session, customer(ACME), made["id"])
    with pytest.raises(NotFound):
        give(factory, made["token"], 5)


@pytest.mark.parametrize("body", [{}, {"rating": 0}, {"rating": 6}, {"rating": "5"}, {"rating": 4.5},
                                  {"rating": 3, "comment": "x" * 1001}, {"rating": 3, "customer_id": OTHER}])
def test_a_rating_is_a_whole_number_from_1_to_5_and_the_comment_is_bounded(body):
    with pytest.raises(ValidationFailed):
        load(FeedbackIn, body)


def test_the_operator_filters_feedback_and_reads_averages_per_customer_and_driver(factory):
    for order_id, cid, rating in (("a1", ACME, 5), ("a2", ACME, 3), ("b1", OTHER, 2)):
        delivered_order(factory, order_id, cid)
        give(factory, make_link(factory, order_id, cid)["token"], rating)
    with factory() as session:
        everything = feedback.listing(session, OPERATOR, {"page": 1, "per_page": 50})
        assert everything["total"] == 3 and {f["order_reference"] for f in everything["items"]} == {"A1", "A2", "B1"}
        acme = feedback.listing(session, OPERATOR, {"customer_id": ACME, "page": 1, "per_page": 1})
        assert acme["total"] == 2 and len(acme["items"]) == 1 and acme["items"][0]["customer_id"] == ACME
        assert feedback.listing(session, OPERATOR, {"rating": [2], "page": 1, "per_page": 50})["total"] == 1
        averages = feedback.averages(session, OPERATOR, {})
        assert averages["overall"] == {"count": 3, "average": 3.33}
        assert averages["by_customer"] == [{"id": ACME, "count": 2, "average": 4.0},
                                           {"id": OTHER, "count": 1, "average": 2.0}]
        assert averages["by_driver"] == [{"id": DRIVER, "count": 3, "average": 3.33}]
        assert feedback.averages(session, OPERATOR, {"customer_id": "nobody"})["overall"] == {"count": 0, "average": None}
        for who in (customer(ACME), CallerContext(role="customer_admin", user_id="u", customer_id=ACME)):
            with pytest.raises(Forbidden):
                feedback.listing(session, who, {"page": 1, "per_page": 50})
