"""Sites (cost centres) on orders (services/orders/sites.py) through the orders entrypoints on
SQLite, no broker: which site an order may name, and that a user limited to some sites books,
lists, counts, reads and changes only its sites' orders; tracking's copy holds them too."""
import uuid

import pytest
from sqlalchemy import select

from services.common.blobs import reset_blob_store
from services.common.caller import CUSTOMER_BOOKER, CUSTOMER_VIEWER, CallerContext
from services.common.errors import Forbidden, NotFound, ValidationFailed
from services.orders import spreadsheet
from services.orders.models import Order
from tests.unit import test_orders, test_tracking
from tests.unit.test_orders import call, customer, delivery, events

factory = test_orders.factory          # a fresh SQLite database of the orders service
SITES = [{"code": "HQ", "name": "Head office"}, {"code": "Lab-2", "name": "Laboratory"}]


def limited(admin: CallerContext, *sites: str, role: str = CUSTOMER_BOOKER) -> CallerContext:
    return CallerContext(role=role, user_id=str(uuid.uuid4()), customer_id=admin.customer_id, sites=sites)


def site_error(excinfo) -> str:
    return " ".join(excinfo.value.details["fields"]["site"])


def test_a_site_is_matched_without_case_and_stored_as_the_customer_spells_it(factory):
    admin = customer(factory, sites=SITES)
    order = call(factory, admin, "create_order", delivery("PO-1", site="lab-2"))
    assert order["site"] == "Lab-2"
    patched = call(factory, admin, "update_order", order["id"], {"site": "hq"})
    assert patched["site"] == "HQ"
    assert call(factory, admin, "create_order", delivery("PO-2"))["site"] is None   # optional for admins


def test_an_unknown_site_is_refused_and_names_the_known_ones(factory):
    admin = customer(factory, sites=SITES)
    with pytest.raises(ValidationFailed) as refused:
        call(factory, admin, "create_order", delivery("PO-1", site="Warehouse"))
    assert "Warehouse" in site_error(refused) and "HQ" in site_error(refused)
    bare = customer(factory)              # an account without sites takes none
    with pytest.raises(ValidationFailed) as refused:
        call(factory, bare, "create_order", delivery("PO-1", site="HQ"))
    assert "no sites" in site_error(refused)
    with factory() as session:
        assert session.scalar(select(Order.id)) is None


def test_a_site_limited_booker_must_name_one_of_its_own_sites(factory):
    admin = customer(factory, sites=SITES)
    booker = limited(admin, "HQ")
    with pytest.raises(ValidationFailed) as refused:
        call(factory, booker, "create_order", delivery("PO-1"))
    assert "Required" in site_error(refused)
    with pytest.raises(ValidationFailed) as refused:
        call(factory, booker, "create_order", delivery("PO-1", site="Lab-2"))
    assert "HQ" in site_error(refused)
    order = call(factory, booker, "create_order", delivery("PO-1", site="hq"))
    assert order["site"] == "HQ"
    with pytest.raises(ValidationFailed):
        call(factory, booker, "update_order", order["id"], {"site": "Lab-2"})
    with pytest.raises(ValidationFailed):
        call(factory, booker, "update_order", order["id"], {"site": None})


def test_a_site_limited_user_lists_counts_and_reads_only_its_sites_orders(factory):
    admin = customer(factory, sites=SITES)
    mine = call(factory, admin, "create_order", delivery("PO-HQ", site="HQ", submit=True))
    other = call(factory, admin, "create_order", delivery("PO-LAB", site="Lab-2", submit=True))
    call(factory, admin, "create_order", delivery("PO-NONE", submit=True))     # the whole customer's
    booker = limited(admin, "HQ")

    page = call(factory, booker, "list_orders", {"status": ["submitted"]})
    assert [o["reference"] for o in page["items"]] == ["PO-HQ"] and page["total"] == 1
    assert page["items"][0]["site"] == "HQ"
    assert call(factory, booker, "list_orders", {"q": "po-"})["total"] == 1
    assert call(factory, admin, "list_orders", {"status": ["submitted"]})["total"] == 3
    assert [o["reference"] for o in call(factory, admin, "list_orders", {"site": "lab-2"})["items"]] == ["PO-LAB"]

    assert call(factory, booker, "get_order", mine["id"])["site"] == "HQ"
    for method, args in (("get_order", ()), ("cancel_order", ()), ("update_order", ({"notes": "x"},)),
                         ("order_messages", ()), ("post_order_message", ({"body": "hi"},)),
                         ("list_documents", ()), ("repeat_order", ({},))):
        with pytest.raises(NotFound):
            call(factory, booker, method, other["id"], *args)
    assert call(factory, admin, "get_order", other["id"])["status"] == "submitted"     # nothing changed


def test_other_sites_conversations_and_schedules_are_out_of_sight(factory):
    admin = customer(factory, sites=SITES)
    other = call(factory, admin, "create_order", delivery("PO-LAB", site="Lab-2"))
    call(factory, admin, "post_order_message", other["id"], {"body": "About the lab order"})
    support = call(factory, admin, "open_conversation", {"subject": "Invoices", "body": "Question"})
    schedule = call(factory, admin, "create_recurring", {"order_id": other["id"], "frequency": "weekdays",
                                                         "starts_on": "2030-01-01"})
    booker = limited(admin, "HQ")
    threads = call(factory, booker, "list_conversations", {})
    assert [t["id"] for t in threads["items"]] == [support["id"]]      # the support thread is everyone's
    lab_thread = call(factory, admin, "list_conversations", {"about": "order"})["items"][0]
    with pytest.raises(NotFound):
        call(factory, booker, "get_conversation", lab_thread["id"])
    assert call(factory, booker, "list_recurring", {})["total"] == 0
    with pytest.raises(NotFound):
        call(factory, booker, "get_recurring", schedule["id"])


def test_book_again_keeps_the_site_and_events_carry_it(factory):
    admin = customer(factory, sites=SITES)
    first = call(factory, admin, "create_order", delivery("PO-1", site="Lab-2", submit=True))
    again = call(factory, admin, "repeat_order", first["id"], {"on": "2030-01-07"})
    assert again["site"] == "Lab-2"
    assert {e["data"]["site"] for e in events(factory, "order.created")} == {"Lab-2"}
    assert events(factory, "order.submitted")[-1]["data"]["site"] == "Lab-2"
    call(factory, admin, "cancel_order", first["id"])
    assert events(factory, "order.status_changed")[-1]["data"]["site"] == "Lab-2"


def test_a_viewer_limited_to_a_site_reads_it_only(factory):
    admin = customer(factory, sites=SITES)
    call(factory, admin, "create_order", delivery("PO-HQ", site="HQ"))
    call(factory, admin, "create_order", delivery("PO-LAB", site="Lab-2"))
    viewer = limited(admin, "Lab-2", role=CUSTOMER_VIEWER)
    assert [o["reference"] for o in call(factory, viewer, "list_orders", {})["items"]] == ["PO-LAB"]


def test_a_site_limited_user_imports_for_its_sites_only_and_the_preview_says_so(factory, tmp_path, monkeypatch):
    from tests.unit.test_imports import orders_of, run_all, upload
    from services.orders.import_worker import Worker

    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    reset_blob_store()
    admin = customer(factory, sites=SITES)
    booker = limited(admin, "HQ")
    text = ("Order ID,Street,Town,Site\nL-1,1 High St,York,HQ\nL-2,2 High St,York,Lab-2\n"
            "L-3,3 High St,York,\nL-4,4 High St,York,Attic\n")
    worker = Worker(str(factory.kw["bind"].url), checkers=0)
    try:
        shown = call(factory, booker, "preview_import", upload(text), {})
        problems = {row["row"]: [e["message"] for e in row["errors"]] for row in shown["rows"]}
        assert problems[2] == [] and shown["good_rows"] == 1 and shown["bad_rows"] == 3
        assert "these sites only" in problems[3][0] and "Required" in problems[4][0] and "No such site" in problems[5][0]
        job = call(factory, booker, "start_import", upload(text))
        run_all(worker)
        done = call(factory, booker, "get_import", job["id"])
        assert done["created"] == 1 and sorted(e["row"] for e in done["errors"]) == [3, 4, 5]
        assert {o.reference: o.site for o in orders_of(factory, admin.customer_id)} == {"L-1": "HQ"}
        with pytest.raises(Forbidden):            # mailed files would book for every site
            call(factory, booker, "rotate_import_address")
    finally:
        worker.engine.dispose()
        reset_blob_store()


def test_spreadsheets_name_the_site_under_its_usual_headers():
    for header in ("Site", "cost centre", "Cost Center", "COST-CENTRE"):
        assert spreadsheet.match_header(header) == "site"
    order, columns = spreadsheet.row_to_order(spreadsheet.Row(2, {"address_line1": "1 Main St", "site": "hq"}))
    assert order["site"] == "hq" and columns["site"] == "site"


def test_tracking_refuses_another_sites_order_and_its_links(tmp_path):
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from services.tracking import links
    from services.tracking.models import Base as TrackingBase

    engine = create_engine(f"sqlite:///{tmp_path}/tracking.db")
    TrackingBase.metadata.create_all(engine)
    make = sessionmaker(engine, expire_on_commit=False)
    acme = test_tracking.ACME
    test_tracking.apply(make, "order.created", {"order_id": "o-hq", "reference": "PO-HQ", "status": "draft",
                                                "site": "HQ"}, acme)
    test_tracking.apply(make, "order.created", {"order_id": "o-lab", "reference": "PO-LAB", "status": "draft",
                                                "site": "Lab-2"}, acme)
    admin = test_tracking.customer(acme)
    booker = CallerContext(role=CUSTOMER_BOOKER, user_id="b", customer_id=acme, sites=("HQ",))
    assert test_tracking.view(make, booker, "o-hq")["order_id"] == "o-hq"
    with pytest.raises(NotFound):
        test_tracking.view(make, booker, "o-lab")
    with make() as session, session.begin():
        link = links.create(session, admin, "o-lab", {"label": "lab"})
    with make() as session:
        with pytest.raises(NotFound):
            links.get_link(session, booker, link["id"])
        with pytest.raises(NotFound):
            links.listing(session, booker, "o-lab")
        assert links.get_link(session, admin, link["id"]).id == link["id"]
    engine.dispose()


def test_an_import_books_each_row_for_the_site_its_column_names(factory, tmp_path, monkeypatch):
    from tests.unit.test_imports import orders_of, run_all, upload
    from services.orders.import_worker import Worker

    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    reset_blob_store()
    admin = customer(factory, sites=SITES)
    worker = Worker(str(factory.kw["bind"].url), checkers=0)
    try:
        text = "Order ID,Street,Town,Cost centre\nI-1,1 High St,York,lab-2\nI-2,2 High St,York,Attic\nI-3,3 High St,York,\n"
        job = call(factory, admin, "start_import", upload(text))
        run_all(worker)
        done = call(factory, admin, "get_import", job["id"])
        assert done["created"] == 2 and [(e["row"], e["column"]) for e in done["errors"]] == [(3, "site")]
        assert {o.reference: o.site for o in orders_of(factory, admin.customer_id)} == {"I-1": "Lab-2", "I-3": None}
    finally:
        worker.engine.dispose()
        reset_blob_store()


def test_a_quote_asked_for_a_site_is_booked_for_it_and_a_site_gone_since_is_left_off(factory):
    from tests.unit.test_orders import quote_accepted

    admin = customer(factory, sites=SITES)
    booker = limited(admin, "Lab-2")
    service = CallerContext(role="service")
    for quote_id, site in (("q-lab", "lab-2"), ("q-gone", "Attic")):
        call(factory, service, "book_accepted_quote", quote_accepted(
            admin.customer_id, quote_id, order={**delivery(f"PO-{quote_id}"), "site": site},
            total={"amount": "80.00", "currency": "EUR"}))
    seen = {o["reference"]: o["site"] for o in call(factory, booker, "list_orders", {})["items"]}
    assert seen == {"PO-q-lab": "Lab-2"}          # the booker sees the booking its quote became
    every = {o["reference"]: o["site"] for o in call(factory, admin, "list_orders", {})["items"]}
    assert every == {"PO-q-lab": "Lab-2", "PO-q-gone": None}    # booked all the same, unsited


def test_a_site_limited_user_asks_quotes_for_its_sites_only():
    from services.billing.quotes import own_site

    booker = CallerContext(role=CUSTOMER_BOOKER, user_id="b", customer_id="c", sites=("HQ", "Lab-2"))
    assert own_site(booker, {"site": "lab-2", "stops": []})["site"] == "Lab-2"
    for wrong in ({"stops": []}, {"site": "Attic"}):
        with pytest.raises(ValidationFailed) as refused:
            own_site(booker, wrong)
        assert "HQ, Lab-2" in refused.value.details["fields"]["order"]["site"][0]
    everyone = CallerContext(role=CUSTOMER_BOOKER, user_id="b", customer_id="c")
    assert own_site(everyone, {"site": "anything"}) == {"site": "anything"}     # orders checks it at booking
