"""Import by email: ``orders-mail-imports``, an SMTP listener (aiosmtpd) for the customers'
import addresses ``import+<token>@IMPORT_MAIL_DOMAIN`` (import_mappings.py makes them). The
domain's MX points here (IMPORT_MAIL_BIND).

What is refused, and how (the sending server bounces the refusal to the sender):
- at RCPT: an address that is not ``import+<token>@IMPORT_MAIL_DOMAIN``, a token no customer has
  (never had, or rotated since), a customer whose uploads are switched off or that is inactive
  (550), a second recipient in one message (452: send one message per address);
- at DATA: a message larger than an upload can be (MAX_UPLOAD_BYTES as base64, 552 from the
  SMTP layer itself); a message without a CSV or XLSX attachment (550); more than
  MAX_ATTACHMENTS of them (552); an attachment over MAX_UPLOAD_BYTES (552); an attachment the
  upload checks refuse: not a spreadsheet, a zip bomb, no address column, over IMPORT_MAX_ROWS
  (554, with the same message the API gives). Any refusal refuses the whole message: nothing
  of it is imported.
Accepted attachments become imports exactly as uploads do (the same ``imports.admit`` checks,
the customer's saved mappings, the default first), drafts made as the customer admin who set the
token. When each import finishes, ``import.finished`` carries the sender (``reply_to``) and
notify emails the result to the sender if it is one of that customer's users (a mail from
anyone else gets no answer: the listener must not send mail to addresses it was merely told)."""
from __future__ import annotations

import asyncio
import email
import logging
import re
from email import policy
from email.utils import parseaddr

from sqlalchemy.orm import sessionmaker

from services.common.blobs import blob_store
from services.common.config import database_url, env, env_int
from services.common.db import make_engine
from services.common.errors import PayloadTooLarge, PortalError
from services.common.worker import PlainWorker, serve
from services.orders import import_mappings, imports
from services.orders.models import CustomerSettings, ImportAddress

log = logging.getLogger("orders.mail_imports")

MAX_ATTACHMENTS = 10
SPREADSHEET_TYPES = {"text/csv", "application/csv", "text/comma-separated-values",
                     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
_ADDRESS = re.compile(r"import\+([0-9a-f]{1,40})@(.+)", re.IGNORECASE)


class Refused(Exception):
    """An SMTP reply refusing the message."""

    def __init__(self, reply: str):
        super().__init__(reply)
        self.reply = reply


def token_of(address: str) -> str | None:
    found = _ADDRESS.fullmatch((address or "").strip().strip("<>"))
    if not found or found.group(2).lower() != import_mappings.mail_domain().lower():
        return None
    return found.group(1).lower()


def attachments(message: email.message.EmailMessage) -> list[tuple[str, bytes]]:
    """The CSV and XLSX attachments (by name or type); their content is judged by the upload checks."""
    found = []
    for part in message.walk():
        if part.is_multipart():
            continue
        name = part.get_filename() or ""
        kind = part.get_content_type()
        if name.lower().endswith((".csv", ".xlsx")) or (kind in SPREADSHEET_TYPES and part.get_content_disposition()):
            found.append((name or ("orders.xlsx" if "sheet" in kind else "orders.csv"),
                          part.get_payload(decode=True) or b""))
    return found


class Intake:
    """The database side (plain, synchronous): who a token is, and turning a message into imports."""

    def __init__(self, url: str | None = None):
        self.engine = make_engine(url or database_url("orders"))
        self.factory = sessionmaker(self.engine, expire_on_commit=False)

    def address(self, session, token: str | None) -> ImportAddress:
        found = import_mappings.by_token(session, token) if token else None
        if found is None:
            raise Refused("550 5.1.1 No such import address")
        settings = session.get(CustomerSettings, found.customer_id)
        if settings is None or not settings.is_active or not settings.allow_order_upload:
            raise Refused("550 5.7.1 Imports are switched off for this account")
        return found

    def check_recipient(self, address: str) -> None:
        with self.factory() as session:
            self.address(session, token_of(address))

    def accept(self, recipient: str, mail_from: str, content: bytes) -> list[str]:
        """Every attachment checked (nothing kept unless all pass), then one import each."""
        message = email.message_from_bytes(content, policy=policy.default)
        sender = parseaddr(str(message.get("From") or ""))[1] or mail_from
        found = attachments(message)
        if not found:
            raise Refused("550 5.7.0 No CSV or XLSX attachment found; attach the orders as .csv or .xlsx")
        if len(found) > MAX_ATTACHMENTS:
            raise Refused(f"552 5.3.4 At most {MAX_ATTACHMENTS} attachments per message")
        limit = env_int("MAX_UPLOAD_BYTES")
        for name, data in found:
            if len(data) > limit:
                raise Refused(f"552 5.3.4 {name} is larger than the upload limit ({limit // (1 << 20)} MB)")
        with self.factory() as session:
            address = self.address(session, token_of(recipient))
            stored, admitted = [], []
            try:
                for name, data in found:
                    blob = blob_store().put_bytes(data, prefix="imports")
                    upload = {"key": blob.key, "size": blob.size, "sha256": blob.sha256, "filename": name[:255]}
                    stored.append(upload)
                    try:
                        admitted.append(imports.admit(session, upload, address.customer_id, run=_direct))
                    except PortalError as exc:
                        stored.pop()   # admit deleted its blob
                        code = "552 5.3.4" if isinstance(exc, PayloadTooLarge) else "554 5.6.0"
                        raise Refused(f"{code} {name}: {_said(exc)}") from None
                ids = [imports.new_job(session, address.customer_id, upload, checked, by=address.owner_id,
                                       role=address.owner_role, source="email", reply_to=sender[:254]).id
                       for upload, checked in zip(stored, admitted)]
                session.commit()
            except BaseException:
                session.rollback()
                for upload in stored:
                    blob_store().delete(upload["key"])
                raise
        log.info("mailed imports accepted", extra={"customer_id": address.customer_id, "imports": ids})
        return ids


def _direct(fn, *args):
    return fn(*args)


def _said(exc: PortalError) -> str:
    """The refusal's own words (a ValidationFailed's field messages), on one line."""
    fields = exc.details.get("fields") if isinstance(exc.details, dict) else None
    text = " ".join(m for _, m in imports.flatten(fields)) if fields else exc.message
    return re.sub(r"\s+", " ", text)[:400]


class Handler:
    """aiosmtpd's handler: the database work runs in a thread, off the listener's loop."""

    def __init__(self, intake: Intake):
        self.intake = intake

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if envelope.rcpt_tos:
            return "452 4.5.3 One import address per message"
        try:
            await asyncio.get_running_loop().run_in_executor(None, self.intake.check_recipient, address)
        except Refused as refused:
            return refused.reply
        except Exception:
            log.exception("the import address could not be checked")
            return "451 4.3.0 The address cannot be checked now; try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        try:
            ids = await asyncio.get_running_loop().run_in_executor(
                None, self.intake.accept, envelope.rcpt_tos[0], envelope.mail_from or "", envelope.content)
        except Refused as refused:
            return refused.reply
        except Exception:
            log.exception("a mailed import failed")
            return "451 4.3.0 The import could not be taken now; try again later"
        return f"250 OK: {len(ids)} import(s) queued"


class Worker(PlainWorker):
    def __init__(self, url: str | None = None, bind: str | None = None):
        super().__init__()
        self.intake = Intake(url)
        host, _, port = (bind or env("IMPORT_MAIL_BIND") or "127.0.0.1:2525").rpartition(":")
        self.host, self.port = host.strip("[]") or "0.0.0.0", int(port)

    async def serve(self) -> None:
        from aiosmtpd.smtp import SMTP

        handler = Handler(self.intake)
        # base64 makes an upload 4/3 larger; a message above that cannot hold an acceptable file.
        limit = env_int("MAX_UPLOAD_BYTES") * 4 // 3 + (1 << 20)
        server = await asyncio.get_running_loop().create_server(
            lambda: SMTP(handler, data_size_limit=limit, hostname=import_mappings.mail_domain(), timeout=60),
            self.host, self.port, reuse_port=True)   # several instances share the port
        log.info("import mail listening on %s:%s", self.host, self.port)
        try:
            while not self.stopping:
                self.beat()
                await asyncio.sleep(1)
        finally:
            server.close()
            await server.wait_closed()

    def run_forever(self) -> None:
        asyncio.run(self.serve())
        self.intake.engine.dispose()


def main() -> None:
    serve("orders-mail-imports", Worker)


if __name__ == "__main__":
    main()
