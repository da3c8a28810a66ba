"""Spreadsheet imports: every good row becomes a draft order, every bad row one error entry
``{row, column, message}``; importing the same file again changes nothing.

``start`` (an RPC) checks the file at once (format, size, header, zip bomb) so a wrong file is a
clear 422 on upload, then queues the import. ``admit`` is that check for every way in (uploads,
``preview`` whose import waits in status ``preview`` until ``confirm``, files mailed to
``mail_intake``); the file is read with the customer's saved mappings (``import_mappings``). The rows are read by the import worker
(``import_worker``), a process of its own, because parsing 100,000 rows is CPU work that would
starve the service's eventlet hub (PITFALLS 10). It commits a batch of orders together with the
import's progress, so a crash resumes after the last committed batch, never twice."""
from __future__ import annotations

import io
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, Iterator

from sqlalchemy import select
from sqlalchemy.orm import Session

from services.common.blobs import blob_store
from services.common.caller import CUSTOMER_PEOPLE, CUSTOMER_ROLES, OPERATOR_ROLES, SERVICE, CallerContext
from services.common.config import env_int
from services.common.db import UnitOfWork, utcnow
from services.common.errors import Conflict, Forbidden, PortalError, ValidationFailed
from services.common.offload import off_the_hub
from services.common.schemas import dump, load
from services.orders import booking, import_mappings, import_preview, sites, spreadsheet, spreadsheet_template
from services.common.scoping import get_owned, owned, paged
from services.orders.models import CustomerSettings, Import, ImportError_, Order
from services.orders.schemas import ImportOut, ImportPreviewOut, OrderIn

MAX_STORED_ERRORS = 10_000   # error_count keeps counting past it; the report says so


def _customer_for(session: Session, caller: CallerContext, customer_id: str | None) -> str | None:
    """A customer imports for itself, if its account allows uploads. Operator staff name the
    customer, or leave it to the file's ``client_id`` column (None here)."""
    if caller.is_customer:
        settings = booking.customer_settings(session, caller.customer_id)
        if not settings.allow_order_upload:
            raise Forbidden("Spreadsheet uploads are switched off for this account; ask your operator.")
        return caller.customer_id
    caller.require_operator()
    if customer_id:
        booking.customer_settings(session, caller.scope(customer_id))
    return customer_id


def check_upload(caller: CallerContext, upload) -> None:
    """Before the blob is touched: a caller that is refused must not get the blob it names
    opened or deleted (anyone on the bus can name one, PITFALLS 9), and an upload without a
    blob is bad input, not a KeyError (both found by tests/attack/test_authorization_matrix.py)."""
    caller.require(*(OPERATOR_ROLES | CUSTOMER_ROLES))
    if not isinstance(upload, dict) or not upload.get("key") or "size" not in upload:
        raise ValidationFailed.of({"file": ["No uploaded file."]})


def _inspect(key: str, filename: str, mappings: list[dict], chosen: bool, preview_rows: int = 0,
             row_check=None) -> dict:
    """Open the file far enough to know it is a spreadsheet we can read (runs in a thread), and
    with ``preview_rows`` check the rows a preview shows (``import_preview``)."""
    with blob_store().local_path(key) as path:
        with spreadsheet.open_spreadsheet(path, filename, max_bytes=env_int("MAX_UPLOAD_BYTES"),
                                          mappings=mappings, strict_mapping=chosen,
                                          lenient_header=bool(preview_rows)) as sheet:
            found = {"format": sheet.format, "columns": list(sheet.columns),
                     "unknown_headers": list(sheet.unknown_headers), "estimated_rows": sheet.estimated_rows,
                     "mapping": sheet.mapping, "headers": sheet.header_cells, "warnings": sheet.warnings,
                     "column_headers": dict(sheet.headers), "problem": sheet.header_problem}
            if preview_rows and not sheet.header_problem:
                found["preview"] = import_preview.sample(sheet, preview_rows, env_int("IMPORT_PREVIEW_COUNT_ROWS"),
                                                         row_check)
            return found


def admit(session: Session, upload: dict, customer_id: str | None, mapping_id: str | None = None,
          preview_rows: int = 0, run=off_the_hub, row_check=None) -> dict:
    """The upload checks every way in shares (the API, mailed files): readable, an address
    column, within IMPORT_MAX_ROWS; read with the customer's mapping. A refused file's blob is
    deleted."""
    try:
        mappings = import_mappings.candidates(session, customer_id, mapping_id)
        found = run(_inspect, upload["key"], upload.get("filename") or "upload", mappings, bool(mapping_id),
                    preview_rows, row_check)
        if found["problem"]:      # a preview of headers to map: nothing more to check
            return found
        if customer_id is None and "client_id" not in found["columns"]:
            raise ValidationFailed.of({"customer_id": [
                "Name the customer, or give the file a client_id column."]})
        limit = env_int("IMPORT_MAX_ROWS")
        if found["estimated_rows"] and found["estimated_rows"] > limit + 1:
            raise ValidationFailed.of({"file": [
                f"The file has about {found['estimated_rows']:,} rows; an import takes at most {limit:,}. "
                "Split it into several files."]})
    except Exception:
        blob_store().delete(upload["key"])
        raise
    return found


def new_job(session: Session, customer_id: str | None, upload: dict, found: dict, *, by: str | None,
            role: str, submit: bool = False, status: str = "queued", source: str = "upload",
            reply_to: str | None = None, sites: tuple[str, ...] | None = None) -> Import:
    job = Import(customer_id=customer_id, filename=(upload.get("filename") or "upload")[:255],
                 blob_key=upload["key"], size=upload["size"], format=found["format"],
                 submit=submit, total_rows=found["estimated_rows"], status=status,
                 unknown_headers=found["unknown_headers"], created_by=by, created_by_role=role,
                 created_by_sites=list(sites) if sites is not None else None, mapping=found["mapping"], mapping_name=import_mappings.name_of(session, customer_id, found["mapping"]),
                 source=source, reply_to=reply_to)
    session.add(job)
    session.flush()
    return job


def site_check(session: Session, caller: CallerContext, customer_id: str | None):
    """The preview's check of each row's site (sites.check_site, as the worker will apply it),
    on a plain copy of the customer's sites: the preview reads rows in a thread, off the session."""
    if customer_id is None:
        return None
    settings = SimpleNamespace(sites=list(booking.customer_settings(session, customer_id).sites or []))

    def check(data: dict) -> str | None:
        try:
            sites.check_site(settings, caller, data.get("site"))
        except ValidationFailed as exc:
            return exc.details["fields"]["site"][0]
        return None

    return check


def start(uow: UnitOfWork, caller: CallerContext, upload: dict, form: dict) -> dict:
    session = uow.session
    check_upload(caller, upload)
    try:
        customer_id = _customer_for(session, caller, form.get("customer_id"))
    except Exception:
        blob_store().delete(upload["key"])
        raise
    found = admit(session, upload, customer_id, form.get("mapping_id"))
    job = new_job(session, customer_id, upload, found, by=caller.user_id, role=caller.role,
                  submit=bool(form.get("submit")), sites=caller.sites)
    return view(session, job)


def preview(uow: UnitOfWork, caller: CallerContext, upload: dict, form: dict) -> dict:
    """The upload checked and its first rows shown with their problems; nothing is created
    until ``confirm`` (the import waits in status ``preview``)."""
    session = uow.session
    check_upload(caller, upload)
    try:
        customer_id = import_mappings.importing_customer(session, caller)
    except Exception:
        blob_store().delete(upload["key"])
        raise
    found = admit(session, upload, customer_id, form.get("mapping_id"), preview_rows=form.get("rows", 20),
                  row_check=site_check(session, caller, customer_id))
    body = dump(ImportPreviewOut, {
        "headers": found["headers"], "columns": found["column_headers"], "problem": found["problem"],
        "suggested_mapping": import_mappings.suggest(found["headers"]), "warnings": found["warnings"],
        **(found.get("preview") or {"rows": [], "good_rows": 0, "bad_rows": 0, "checked_rows": 0, "whole_file": False})})
    if found["problem"]:
        # The headers cannot be read as they are: show them to be mapped; nothing is kept.
        blob_store().delete(upload["key"])
        return {"import": None, **body}
    job = new_job(session, customer_id, upload, found, by=caller.user_id, role=caller.role, status="preview",
                  sites=caller.sites)
    return {"import": view(session, job), **body}


PREVIEW_KEEP = timedelta(hours=24)


def expired_previews(session: Session, limit: int = 200) -> list[str]:
    """Drop previews nobody confirmed within PREVIEW_KEEP; their blob keys, to delete once
    this is committed."""
    old = session.scalars(select(Import).where(Import.status == "preview",
                                               Import.created_at < utcnow() - PREVIEW_KEEP).limit(limit)).all()
    for job in old:
        session.delete(job)
    return [job.blob_key for job in old]


def confirm(uow: UnitOfWork, caller: CallerContext, import_id: str, form: dict) -> dict:
    """Run a previewed import, as an upload runs (the worker takes it from here)."""
    import_mappings.importing_customer(uow.session, caller)   # uploads may have been switched off since
    job = get_owned(uow.session, caller, Import, import_id, "import", lock=True)
    if job.status != "preview":
        raise Conflict(f"This import is {job.status}; only a preview waits for confirmation.")
    job.status, job.submit = "queued", bool(form.get("submit"))
    uow.session.flush()
    return view(uow.session, job)


def _job(session: Session, caller: CallerContext, import_id: str) -> Import:
    return get_owned(session, caller, Import, import_id, "import")


def view(session: Session, job: Import, errors_page: int = 1, errors_per_page: int = 200) -> dict:
    errors = session.scalars(select(ImportError_).where(ImportError_.import_id == job.id)
                             .order_by(ImportError_.id).limit(errors_per_page)
                             .offset((errors_page - 1) * errors_per_page)).all() if errors_per_page else []
    body = {c.key: getattr(job, c.key) for c in Import.__table__.columns}
    body["errors"] = errors
    return dump(ImportOut, body)


def get(session: Session, caller: CallerContext, import_id: str, args: dict) -> dict:
    return view(session, _job(session, caller, import_id), args.get("errors_page", 1),
                args.get("errors_per_page", 200))


def error_report(session: Session, caller: CallerContext, import_id: str) -> str:
    """Every stored error as CSV, safe to open in a spreadsheet (no formula injection)."""
    job = _job(session, caller, import_id)
    out = io.StringIO()
    rows = session.execute(select(ImportError_.row, ImportError_.column, ImportError_.message)
                           .where(ImportError_.import_id == job.id).order_by(ImportError_.id))
    spreadsheet_template.write_csv(({"row": r, "column": c or "", "message": m} for r, c, m in rows),
                          ["row", "column", "message"], out)
    return out.getvalue()


def listing(session: Session, caller: CallerContext, args: dict) -> dict:
    return paged(session, owned(caller, Import, args.get("customer_id")).order_by(Import.created_at.desc()),
                 args, ImportOut,
                 transform=lambda job: view(session, job, 1, 0))


# --- the worker's side ------------------------------------------------------------------------
def flatten(fields: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """marshmallow's nested error dict as (path, message) pairs: ``stops.0.lat``."""
    if isinstance(fields, dict):
        for key, value in fields.items():
            yield from flatten(value, f"{prefix}{key}." if key != "_schema" else prefix)
    elif isinstance(fields, list) and all(isinstance(v, str) for v in fields):
        for message in fields:
            yield prefix.rstrip("."), message
    elif isinstance(fields, list):
        for index, value in enumerate(fields):
            yield from flatten(value, f"{prefix}{index}.")
    else:
        yield prefix.rstrip("."), str(fields)


def _column(path: str, columns: dict[str, str]) -> str | None:
    while path:
        if path in columns:
            return columns[path]
        path = path.rpartition(".")[0]
    return None


Checked = tuple[dict | None, list[tuple[str | None, str]], str | None, dict[str, str]]


def check_rows(rows: list[spreadsheet.Row]) -> list[Checked]:
    """Each row as the API's order payload, validated by the API's own schema: ``(data, errors,
    digest, columns)``. Plain CPU work on plain data, so it can run in another process."""
    out: list[Checked] = []
    for row in rows:
        payload, columns = spreadsheet.row_to_order(row)
        try:
            data = load(OrderIn, payload)
        except ValidationFailed as exc:
            out.append((None, [(_column(path, columns), message)
                               for path, message in flatten(exc.details.get("fields", {}))], None, columns))
            continue
        digest = booking.content_hash(payload)
        data.setdefault("reference", f"IMP-{digest[:12].upper()}")
        out.append((data, [], digest, columns))
    return out


class Batch:
    """One transaction's worth of rows: orders created or updated, errors, and counts."""

    def __init__(self, uow: UnitOfWork, job: Import, caller: CallerContext, pricer=None):
        self.uow, self.job, self.caller = uow, job, caller
        self.pricer = pricer        # prices submitted rows for the approval limit (approval.py)
        self.errors: list[tuple[int, str | None, str]] = []
        self.created = self.updated = self.unchanged = 0
        self._settings: dict[str, CustomerSettings] = {}
        self.new: list[booking.NewOrder] = []

    def error(self, row: int, column: str | None, message: str) -> None:
        self.errors.append((row, column, message))

    def settings(self, values: dict) -> CustomerSettings | None:
        if self.job.customer_id:
            key = self.job.customer_id
            found = self._settings.get(key) or self.uow.session.get(CustomerSettings, key)
        else:
            key = values.get("client_id", "").strip().upper()
            found = self._settings.get(key) or (self.uow.session.scalar(
                select(CustomerSettings).where(CustomerSettings.client_id == key)) if key else None)
        if found is not None:
            self._settings[key] = found
        return found

    def run(self, rows: list[spreadsheet.Row], checked: list[Checked] | None = None) -> None:
        """Create or update the orders of valid rows; references are looked up in one query per
        customer for the whole batch. ``checked`` is ``check_rows(rows)`` when it was done
        elsewhere (the worker runs it in another process, overlapping the database work)."""
        prepared: list[tuple[spreadsheet.Row, CustomerSettings, dict, str, dict[str, str]]] = []
        for row, (data, errors, digest, columns) in zip(rows, checked or check_rows(rows)):
            settings = self.settings(row.values)
            if settings is None:
                self.error(row.number, "client_id", "No customer has this client_id."
                           if not self.job.customer_id else "The customer account is not known.")
                continue
            if errors:
                for column, message in errors:
                    self.error(row.number, column, message)
                continue
            prepared.append((row, settings, data, digest, columns))
        existing = self._existing(prepared)
        seen: set[tuple[str, str]] = set()
        for row, settings, data, digest, columns in prepared:
            key = (settings.customer_id, data["reference"])
            if key in seen:
                self.error(row.number, columns.get("reference"),
                           f"The id {data['reference']!r} appears more than once in this file.")
                continue
            seen.add(key)
            try:
                self._apply(row.number, columns.get("reference"), settings, data, digest, existing.get(key))
            except PortalError as exc:
                fields = exc.details.get("fields") if isinstance(exc, ValidationFailed) else None
                if fields:
                    for path, message in flatten(fields):
                        self.error(row.number, _column(path, columns), message)
                else:
                    self.error(row.number, None, exc.message)
        booking.insert_new(self.uow, self.caller, self.new, self.job.submit, self.pricer)

    def _existing(self, prepared) -> dict[tuple[str, str], Order]:
        by_customer: dict[str, list[str]] = {}
        for _row, settings, data, _digest, _columns in prepared:
            by_customer.setdefault(settings.customer_id, []).append(data["reference"])
        found = {}
        for customer_id, references in by_customer.items():
            for order in self.uow.session.scalars(select(Order).where(
                    Order.customer_id == customer_id, Order.reference.in_(references))):
                found[(customer_id, order.reference)] = order
        return found

    def _apply(self, number: int, reference_column: str | None, settings: CustomerSettings, data: dict,
               digest: str, order: Order | None) -> None:
        """Every check that can refuse a row runs before the row touches the session, so a bad
        row needs no savepoint and the batch flushes once (PITFALLS 10: short transactions)."""
        session = self.uow.session
        if order is None:
            self.new.append(booking.prepare(session, settings, self.caller, data, source="import",
                                            import_id=self.job.id, content_hash=digest))
            self.created += 1
        elif order.content_hash == digest:
            self.unchanged += 1
        elif order.import_id == self.job.id:
            self.error(number, reference_column,
                       f"The id {data['reference']!r} appears more than once in this file.")
        elif order.status != "draft":
            self.error(number, reference_column,
                       f"Order {order.reference} is already {order.status}; it was not changed.")
        else:
            booking.replace_content(self.uow, self.caller, order, data, digest=digest, settings=settings)
            order.import_id = self.job.id
            self.updated += 1

    def record(self, processed: int) -> None:
        job = self.job
        room = max(0, MAX_STORED_ERRORS - job.error_count)
        self.uow.session.add_all(ImportError_(import_id=job.id, row=r, column=c, message=m[:1000])
                                 for r, c, m in self.errors[:room])
        job.error_count += len(self.errors)
        job.created += self.created
        job.updated += self.updated
        job.unchanged += self.unchanged
        job.processed_rows = processed


def acting_as(job: Import) -> CallerContext:
    """Orders made by an import are made by whoever uploaded it."""
    if job.created_by_role in ("customer_admin", "customer_booker", "api_key"):
        sites = job.created_by_sites if job.created_by_role in CUSTOMER_PEOPLE else None
        return CallerContext(role=job.created_by_role, user_id=job.created_by, customer_id=job.customer_id,
                             sites=sites)
    if job.created_by_role in ("operator_admin", "dispatcher"):
        return CallerContext(role=job.created_by_role, user_id=job.created_by)
    return CallerContext(role=SERVICE)


def finish(uow: UnitOfWork, job: Import, failure: str | None = None) -> None:
    job.status = "failed" if failure else "done"
    job.failure = failure
    job.finished_at = utcnow()
    job.lease_until = None
    if job.total_rows is None or not failure:
        job.total_rows = job.processed_rows
    # A mailed file's result goes to its sender (if one of the customer's users, notify decides).
    uow.emit("import.finished", {"import_id": job.id, "created": job.created, "updated": job.updated,
                                 "unchanged": job.unchanged, "errors": job.error_count,
                                 "status": job.status, "filename": job.filename,
                                 "requested_by": job.created_by if job.source != "email" else None,
                                 "reply_to": job.reply_to},
             customer_id=job.customer_id)


def lease(job: Import, seconds: int) -> None:
    job.lease_until = utcnow() + timedelta(seconds=seconds)

