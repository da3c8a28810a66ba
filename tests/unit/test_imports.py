"""Spreadsheet imports end to end inside the orders service, no broker: the upload checks
(``start_import``), then the real import worker on SQLite: drafts for good rows, one error per bad
row and column, no duplicates on a second import, resuming after a crash mid-file."""
import uuid

import pytest
from sqlalchemy import func, select

from services.common.blobs import blob_store, reset_blob_store
from services.common.caller import OPERATOR_ADMIN, CallerContext
from services.common.errors import Forbidden, ValidationFailed
from services.orders import import_worker
from services.orders.import_worker import Worker
from services.orders.models import Import, Order
from tests.unit import test_orders
from tests.unit.test_orders import call, customer

factory = test_orders.factory          # the orders database fixture, shared

OPERATOR = CallerContext(role=OPERATOR_ADMIN, user_id="op-1")
HEADER = "Order ID,Street,Town,Postcode,Recipient,Email,Packages,Weight (kg),Lat,Lng,Notes\n"


@pytest.fixture(autouse=True)
def blobs(tmp_path, monkeypatch):
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))
    reset_blob_store()
    yield
    reset_blob_store()


@pytest.fixture
def worker(factory, tmp_path, monkeypatch):
    url = str(factory.kw["bind"].url)
    made = Worker(url, checkers=0)        # the check process is used by the real worker (e2e, bench)
    yield made
    made.engine.dispose()


def upload(text: str | bytes, name="orders.csv") -> dict:
    data = text.encode() if isinstance(text, str) else text
    stored = blob_store().put_bytes(data, prefix="imports")
    return {"key": stored.key, "size": stored.size, "sha256": stored.sha256, "filename": name}


def run_all(worker):
    while worker.run_once():
        pass


def orders_of(factory, customer_id):
    with factory() as session:
        return session.scalars(select(Order).where(Order.customer_id == customer_id)
                               .order_by(Order.reference)).all()


def test_good_rows_become_drafts_and_bad_rows_are_reported(factory, worker):
    alice = customer(factory)
    rows = ("A-1,1 High St,York,YO1 1AA,Ann,ann@example.com,2,3.5,,,\n"
            "A-2,,York,YO1 1AB,Bob,not-an-email,1,,,,\n"
            "A-3,3 High St,York,YO1 1AC,=cmd|' /C calc'!A0,,1,,95,0,\n"
            "\n"
            "A-4,4 High St,York,YO1 1AD,Dee,,two,,,,@SUM(1)\n")
    job = call(factory, alice, "start_import", upload(HEADER + rows))
    assert job["status"] == "queued" and job["total_rows"] == 5
    run_all(worker)
    done = call(factory, alice, "get_import", job["id"])
    assert done["status"] == "done" and done["processed_rows"] == 4 and done["created"] == 1
    errors = {(e["row"], e["column"]) for e in done["errors"]}
    assert {(3, "address_line1"), (3, "recipient_email"), (4, "latitude"), (6, "package_count")} <= errors
    assert done["error_count"] == len(done["errors"])
    [order] = orders_of(factory, alice.customer_id)
    assert order.reference == "A-1" and order.status == "draft" and order.source == "import"
    # the import's page lists its drafts (and nothing of another import)
    made = call(factory, alice, "list_orders", {"import_id": job["id"]})
    assert [o["reference"] for o in made["items"]] == ["A-1"] and made["items"][0]["import_id"] == job["id"]
    assert call(factory, alice, "list_orders", {"import_id": str(uuid.uuid4())})["items"] == []
    report = call(factory, alice, "import_error_report", job["id"])
    assert "row,column,message" in report.splitlines()[0]


def test_importing_the_same_file_again_creates_no_duplicates(factory, worker):
    alice = customer(factory)
    text = HEADER + "".join(f"R-{n},{n} Low Rd,Hull,HU1 1AA,P {n},,1,,,,\n" for n in range(30))
    text += "".join(f",{n} No Id Rd,Hull,HU1 1AB,Q {n},,1,,,,\n" for n in range(5))   # no id: keyed by content
    call(factory, alice, "start_import", upload(text))
    run_all(worker)
    second = call(factory, alice, "start_import", upload(text))
    run_all(worker)
    again = call(factory, alice, "get_import", second["id"])
    assert again["created"] == 0 and again["unchanged"] == 35 and again["error_count"] == 0
    assert len(orders_of(factory, alice.customer_id)) == 35
    changed = text.replace("R-3,3 Low Rd", "R-3,33 Low Rd")
    third = call(factory, alice, "start_import", upload(changed))
    run_all(worker)
    result = call(factory, alice, "get_import", third["id"])
    assert result["updated"] == 1 and result["unchanged"] == 34
    assert [o.summary["dropoff"] for o in orders_of(factory, alice.customer_id) if o.reference == "R-3"] == \
        ["33 Low Rd, HU1 1AA, Hull"]


def test_a_repeated_id_in_one_file_is_an_error_not_a_second_order(factory, worker):
    alice = customer(factory)
    job = call(factory, alice, "start_import", upload(HEADER + "D-1,1 A St,Ely,,X,,1,,,,\nD-1,2 B St,Ely,,Y,,1,,,,\n"))
    run_all(worker)
    done = call(factory, alice, "get_import", job["id"])
    assert done["created"] == 1 and done["errors"][0]["row"] == 3 and done["errors"][0]["column"] == "id"


def test_an_import_resumes_after_its_worker_dies(factory, worker, monkeypatch):
    alice = customer(factory)
    monkeypatch.setattr(import_worker, "BATCH_ROWS", 10)
    text = HEADER + "".join(f"C-{n:03d},{n} Crash Rd,Bath,,Z,,1,,,,\n" for n in range(35))
    job = call(factory, alice, "start_import", upload(text))
    real = worker.commit_batch
    calls = {"n": 0}

    def dies_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(worker, "commit_batch", dies_on_third)
    worker.run_once()
    with factory() as session:
        half = session.get(Import, job["id"])
        assert half.status == "running" and half.processed_rows == 20
        half.lease_until = half.started_at              # the lease runs out
        session.commit()
    monkeypatch.setattr(worker, "commit_batch", real)
    run_all(worker)
    done = call(factory, alice, "get_import", job["id"])
    assert done["status"] == "done" and done["created"] == 35 and done["processed_rows"] == 35
    assert len(orders_of(factory, alice.customer_id)) == 35


def test_wrong_files_and_switched_off_uploads_are_refused_at_once(factory):
    alice = customer(factory)
    with pytest.raises(ValidationFailed) as pdf:
        call(factory, alice, "start_import", upload(b"%PDF-1.7\n%%EOF\n", "orders.xlsx"))
    assert "PDF" in str(pdf.value.details["fields"]["file"])
    with pytest.raises(ValidationFailed):
        call(factory, alice, "start_import", upload("Name,Phone\nA,1\n"))      # no address column
    closed = customer(factory, allow_order_upload=False)
    with pytest.raises(Forbidden):
        call(factory, closed, "start_import", upload(HEADER))
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Import)) == 0
    assert [p for p in blob_store().root.rglob("*") if p.is_file()] == []   # refused uploads are deleted


def test_operator_imports_rows_for_each_customer_by_client_id(factory, worker):
    alice, bob = customer(factory), customer(factory)
    with factory() as session:
        from services.orders.models import CustomerSettings
        a_client = session.get(CustomerSettings, alice.customer_id).client_id
        b_client = session.get(CustomerSettings, bob.customer_id).client_id
    text = ("client_id,ID,Address,City\n"
            f"{a_client},OP-1,1 Op St,Ely\n{b_client.lower()},OP-2,2 Op St,Ely\nNOPE123,OP-3,3 Op St,Ely\n")
    with pytest.raises(ValidationFailed):
        call(factory, OPERATOR, "start_import", upload("ID,Address\nX,1 St\n"))   # whose orders?
    job = call(factory, OPERATOR, "start_import", upload(text))
    run_all(worker)
    done = call(factory, OPERATOR, "get_import", job["id"])
    assert done["created"] == 2 and done["errors"][0]["column"] == "client_id"
    assert [o.reference for o in orders_of(factory, alice.customer_id)] == ["OP-1"]
    assert [o.reference for o in orders_of(factory, bob.customer_id)] == ["OP-2"]
    assert uuid.UUID(done["id"])


def test_pitfall_09_a_refused_caller_never_touches_the_blob_it_names(factory, blobs):
    """Anyone on the bus can name a blob key: a caller that is refused gets 401 and the blob
    stays; an upload without a blob is a 422, not a KeyError (found by the authorization
    matrix, tests/attack/test_authorization_matrix.py)."""
    from services.common.errors import Unauthenticated

    victim = upload(HEADER + "V-1,1 High St,York,YO1 1AA,Vi,,1,,,,\n")
    for method, args in (("start_import", (victim,)), ("add_document", (str(uuid.uuid4()), victim))):
        with pytest.raises(Unauthenticated):
            call(factory, None, method, *args)
    with blob_store().open(victim["key"]) as stream:
        assert stream.read(3) == HEADER.encode()[:3]
    with pytest.raises(ValidationFailed):
        call(factory, customer(factory), "start_import", {})
