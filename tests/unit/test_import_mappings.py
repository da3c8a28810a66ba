"""Imports with the customer's own columns (issue 11): saved mappings (validated, one default,
chosen by the file's headers or by id), the preview (the first rows with each cell's problem,
the whole file's counts, nothing created until confirmed) and the import-by-email address."""
import uuid

import pytest
from sqlalchemy import select

from services.common.caller import CUSTOMER_BOOKER, OPERATOR_ADMIN, CallerContext
from services.common.errors import Conflict, Forbidden, NotFound, ValidationFailed
from services.orders import import_mappings
from services.orders.models import Import, Order
from tests.unit import test_imports, test_orders
from tests.unit.test_imports import run_all, upload
from tests.unit.test_orders import call, customer

factory = test_orders.factory
blobs = test_imports.blobs
worker = test_imports.worker

OWN = {"Kunde": "recipient_name", "Lieferadresse": "address_line1", "Ort": "city", "Auftrag": "id",
       "Stück": "package_count", "Intern": ""}
OWN_HEADER = "Auftrag;Lieferadresse;Ort;Kunde;Stück;Intern\n"
OWN_ROWS = ("K-1;1 Hauptstr;Bonn;Ann;2;x\n"
            "K-2;;Bonn;Bob;zwei;y\n"
            "K-1;3 Hauptstr;Bonn;Cid;1;z\n")


def mapping(factory, caller, name="ERP export", columns=OWN, **extra):
    return call(factory, caller, "create_import_mapping", {"name": name, "columns": columns, **extra})


def test_mappings_are_checked_scoped_and_one_is_the_default(factory):
    alice, bob = customer(factory), customer(factory)
    first = mapping(factory, alice)
    assert first["is_default"] and first["columns"] == OWN
    second = mapping(factory, alice, "Warehouse", {"Addr": "address_line1"}, is_default=True)
    listed = call(factory, alice, "list_import_mappings")
    assert [m["name"] for m in listed] == ["Warehouse", "ERP export"] and not listed[1]["is_default"]
    with pytest.raises(Conflict):
        mapping(factory, alice, "Warehouse", {"A": "city"})
    with pytest.raises(ValidationFailed) as bad:
        mapping(factory, alice, "Bad", {"A": "city", "B": "city", "C": "shoe_size"})
    assert len(bad.value.details["fields"]["columns"]) == 2
    # another customer sees none of them, and cannot reach one by id
    assert call(factory, bob, "list_import_mappings") == []
    with pytest.raises(NotFound):
        call(factory, bob, "update_import_mapping", second["id"], {"name": "mine"})
    with pytest.raises(NotFound):
        call(factory, bob, "delete_import_mapping", second["id"])
    with pytest.raises(Forbidden):
        call(factory, CallerContext(role=OPERATOR_ADMIN, user_id="op"), "list_import_mappings")
    renamed = call(factory, alice, "update_import_mapping", first["id"], {"name": "ERP", "is_default": True})
    assert renamed["name"] == "ERP" and renamed["is_default"]
    call(factory, alice, "delete_import_mapping", second["id"])
    assert [m["name"] for m in call(factory, alice, "list_import_mappings")] == ["ERP"]


def test_an_upload_is_read_with_the_mapping_its_headers_fit(factory, worker):
    alice = customer(factory)
    with pytest.raises(ValidationFailed):     # no mapping: the template cannot read these headers
        call(factory, alice, "start_import", upload(OWN_HEADER + OWN_ROWS))
    saved = mapping(factory, alice)
    job = call(factory, alice, "start_import", upload(OWN_HEADER + OWN_ROWS))
    assert job["mapping_name"] == "ERP export" and job["source"] == "upload"
    run_all(worker)
    done = call(factory, alice, "get_import", job["id"])
    assert done["created"] == 1 and {(e["row"], e["column"]) for e in done["errors"]} >= {
        (3, "address_line1"), (3, "package_count"), (4, "id")}
    with factory() as session:
        [order] = session.scalars(select(Order).where(Order.customer_id == alice.customer_id)).all()
    assert order.reference == "K-1"
    # editing the mapping later does not change an import already made
    call(factory, alice, "update_import_mapping", saved["id"], {"columns": {"Lieferadresse": "address_line1"}})
    with factory() as session:
        assert session.get(Import, job["id"]).mapping == OWN
    # the standard template still works without any mapping
    plain = call(factory, alice, "start_import", upload("Order ID,Address Line 1,City\nT-1,1 Way,York\n"))
    assert plain["mapping_name"] is None
    # a chosen mapping the header does not fit is a clear error
    other = mapping(factory, alice, "Other", {"Adresse": "address_line1"})
    with pytest.raises(ValidationFailed) as refused:
        call(factory, alice, "start_import", upload(OWN_HEADER + OWN_ROWS), {"mapping_id": other["id"]})
    assert "Adresse" in refused.value.details["fields"]["mapping_id"][0]


def test_a_preview_marks_each_problem_and_creates_nothing_until_confirmed(factory, worker):
    alice, bob = customer(factory), customer(factory)
    # headers the template cannot read: shown to be mapped, nothing kept
    unread = call(factory, alice, "preview_import", upload(OWN_HEADER + OWN_ROWS))
    assert unread["import"] is None and "no address column" in unread["problem"]
    assert unread["headers"] == ["Auftrag", "Lieferadresse", "Ort", "Kunde", "Stück", "Intern"] and unread["rows"] == []
    with factory() as session:
        assert session.scalars(select(Import)).all() == []
    mapping(factory, alice)
    shown = call(factory, alice, "preview_import", upload(OWN_HEADER + OWN_ROWS), {"rows": 2})
    assert shown["import"]["status"] == "preview" and shown["headers"][:2] == ["Auftrag", "Lieferadresse"]
    assert shown["columns"]["address_line1"] == "Lieferadresse" and "Intern" not in shown["columns"].values()
    assert [r["row"] for r in shown["rows"]] == [2, 3]
    assert shown["rows"][0]["errors"] == [] and shown["rows"][0]["values"]["recipient_name"] == "Ann"
    assert {e["column"] for e in shown["rows"][1]["errors"]} == {"address_line1", "package_count"}
    assert shown["whole_file"] and (shown["good_rows"], shown["bad_rows"]) == (1, 2)   # K-1 twice
    assert shown["suggested_mapping"]["Ort"] == "city"      # a German synonym the template knows
    run_all(worker)
    with factory() as session:
        assert session.scalars(select(Order)).all() == []
    with pytest.raises(NotFound):
        call(factory, bob, "confirm_import", shown["import"]["id"])
    queued = call(factory, alice, "confirm_import", shown["import"]["id"], {"submit": False})
    assert queued["status"] == "queued"
    with pytest.raises(Conflict):
        call(factory, alice, "confirm_import", shown["import"]["id"])
    run_all(worker)
    assert call(factory, alice, "get_import", queued["id"])["created"] == 1


def test_a_preview_of_a_large_file_shows_its_rows_without_counting_it_all(factory, monkeypatch):
    monkeypatch.setenv("IMPORT_PREVIEW_COUNT_ROWS", "10")
    alice = customer(factory)
    rows = "".join(f"L-{n},{n} Way,York\n" for n in range(30))
    shown = call(factory, alice, "preview_import", upload("Order ID,Address Line 1,City\n" + rows), {"rows": 5})
    assert len(shown["rows"]) == 5 and not shown["whole_file"] and shown["checked_rows"] == 5


def test_the_import_address_is_made_and_rotated_by_a_customer_admin_only(factory):
    alice = customer(factory)
    assert call(factory, alice, "get_import_address")["address"] is None
    user = CallerContext(role=CUSTOMER_BOOKER, user_id=str(uuid.uuid4()), customer_id=alice.customer_id)
    with pytest.raises(Forbidden):
        call(factory, user, "rotate_import_address")
    made = call(factory, alice, "rotate_import_address")["address"]
    assert made.startswith("import+") and made.endswith("@imports.portal.example")
    assert call(factory, user, "get_import_address")["address"] == made
    token = made.split("+", 1)[1].split("@")[0]
    again = call(factory, alice, "rotate_import_address")["address"]
    assert again != made
    with factory() as session:
        assert import_mappings.by_token(session, token) is None
        assert import_mappings.by_token(session, again.split("+", 1)[1].split("@")[0]).customer_id == alice.customer_id
        assert import_mappings.by_token(session, "' OR 1=1 --") is None


# --- import by email (services/orders/mail_intake.py) ----------------------------------------------
def mail(to: str, *files: tuple[str, bytes], sender="ann@acme.example") -> bytes:
    from email.message import EmailMessage

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, "orders"
    message.set_content("Today's orders.")
    for name, data in files:
        message.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    return message.as_bytes()


@pytest.fixture
def intake(factory):
    from services.orders.mail_intake import Intake

    made = Intake(str(factory.kw["bind"].url))
    yield made
    made.engine.dispose()


def test_mailed_files_are_imported_for_known_tokens_only_and_refusals_say_why(factory, intake, worker, monkeypatch):
    from services.orders.mail_intake import Refused

    alice = customer(factory)
    mapping(factory, alice)
    address = call(factory, alice, "rotate_import_address")["address"]
    for wrong in ("import+0123456789abcdef01234567@imports.portal.example",    # nobody's token
                  address.replace("imports.portal.example", "elsewhere.example"), "orders@imports.portal.example"):
        with pytest.raises(Refused, match="^550 5.1.1"):
            intake.check_recipient(wrong)
    intake.check_recipient(address.upper().replace("IMPORT+", "import+"))   # the domain's case is free
    with pytest.raises(Refused, match="^550 5.7.0 No CSV or XLSX"):
        intake.accept(address, "ann@acme.example", mail(address))
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "200")
    with pytest.raises(Refused, match="^552 5.3.4 big.csv is larger"):
        intake.accept(address, "", mail(address, ("big.csv", OWN_HEADER.encode() + OWN_ROWS.encode() * 20)))
    monkeypatch.delenv("MAX_UPLOAD_BYTES")
    # one bad attachment refuses the whole message: nothing of it is imported
    with pytest.raises(Refused, match="^554 5.6.0 orders.xlsx: Not a spreadsheet"):
        intake.accept(address, "", mail(address, ("good.csv", (OWN_HEADER + OWN_ROWS).encode()),
                                        ("orders.xlsx", b"%PDF-1.7\n%%EOF\n")))
    with factory() as session:
        assert session.scalars(select(Import)).all() == []
    [made] = intake.accept(address, "bounce@acme.example", mail(address, ("good.csv", (OWN_HEADER + OWN_ROWS).encode())))
    with factory() as session:
        job = session.get(Import, made)
        assert (job.customer_id, job.source, job.reply_to, job.status) == (alice.customer_id, "email",
                                                                           "ann@acme.example", "queued")
        assert job.mapping == OWN and job.created_by == alice.user_id and job.created_by_role == "customer_admin"
    run_all(worker)     # the result is for the sender (notify tells it if it is one of the customer's users)
    finished = test_orders.events(factory, "import.finished")[-1]["data"]
    assert finished["reply_to"] == "ann@acme.example" and finished["requested_by"] is None
    assert finished["created"] == 1
    # a rotated token stops working at once; switched-off uploads refuse at RCPT too
    call(factory, alice, "rotate_import_address")
    with pytest.raises(Refused, match="^550 5.1.1"):
        intake.check_recipient(address)


def test_the_new_ways_in_refuse_hostile_files_as_uploads_do(factory, intake, monkeypatch):
    """Preview and mail share the upload's checks (imports.admit): a zip bomb, entity expansion,
    a file over IMPORT_MAX_ROWS are refused, and their blobs are gone."""
    from services.orders.mail_intake import Refused
    from tests.attack.test_hostile_uploads import BILLION_LAUGHS, bomb_xlsx, sheet_xml, stored_blobs, xlsx

    alice = customer(factory)
    address = call(factory, alice, "rotate_import_address")["address"]
    monkeypatch.setenv("IMPORT_MAX_ROWS", "5")
    hostile = {"bomb.xlsx": (bomb_xlsx(declared=None, copies=1024), "expands to more than"),
               "laughs.xlsx": (xlsx(sheet_xml("", prolog=BILLION_LAUGHS)), "DTD or entities"),
               "long.csv": (("Address Line 1\n" + "1 Way\n" * 50).encode(), "at most 5")}
    for name, (data, said) in hostile.items():
        with pytest.raises(ValidationFailed) as refused:
            call(factory, alice, "preview_import", upload(data, name))
        assert said in str(refused.value.details)
        with pytest.raises(Refused, match=f"^554 5.6.0 {name}: .*{said}"):
            intake.accept(address, "", mail(address, (name, data)))
    assert stored_blobs() == []
    unread = call(factory, alice, "preview_import", upload(OWN_HEADER + OWN_ROWS))   # header only: no blob kept
    assert unread["import"] is None and stored_blobs() == []


def test_notify_tells_a_mailed_imports_sender_only_if_one_of_the_customers_users(tmp_path, monkeypatch):
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from services.notify.models import Base as NotifyBase
    from services.notify.models import EmailMessage
    from tests.unit import test_notify

    engine = create_engine(f"sqlite:///{tmp_path}/notify.db")
    NotifyBase.metadata.create_all(engine)
    notify = sessionmaker(engine, expire_on_commit=False)
    try:
        acme, other = test_notify.customer(notify, "Acme"), test_notify.customer(notify, "Other")
        test_notify.user(notify, acme, "Ann@Acme.example")
        test_notify.user(notify, acme, "bob@acme.example")
        test_notify.user(notify, other, "eve@other.example")
        for sender in ("ann@acme.example", "eve@other.example", "stranger@spam.example"):
            test_notify.hear(notify, "import.finished", acme, {
                "import_id": str(uuid.uuid4()), "created": 1, "updated": 0, "unchanged": 0, "errors": 0,
                "status": "done", "filename": "o.csv", "requested_by": None, "reply_to": sender})
        assert [e.to_address for e in test_notify.rows(notify, EmailMessage)] == ["Ann@Acme.example"]
    finally:
        engine.dispose()


def test_previews_never_confirmed_go_after_a_day_with_their_file(factory, worker):
    from datetime import timedelta

    from services.common.blobs import blob_store
    from services.common.db import utcnow

    alice = customer(factory)
    old = call(factory, alice, "preview_import", upload("Address Line 1\n1 Way\n"))["import"]
    new = call(factory, alice, "preview_import", upload("Address Line 1\n2 Way\n"))["import"]
    with factory() as session:
        job = session.get(Import, old["id"])
        job.created_at, key = utcnow() - timedelta(hours=25), job.blob_key
        session.commit()
    assert worker.expire_previews() == 1
    with factory() as session:
        assert session.get(Import, old["id"]) is None and session.get(Import, new["id"]) is not None
    assert not blob_store().exists(key)
