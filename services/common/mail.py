"""The platform's one way to speak SMTP. The notify service renders and queues every email and
sends each attempt through ``send_once``; ``send`` retries within one call. It speaks SMTP
with the standard library to the server named by ``SMTP_URL`` (smtplib over eventlet's patched
sockets inside nameko services, so no asyncio here), or, when that is unset, keeps each message
as an ``.eml`` file under ``VAR_DIR/mail/`` (the embedded sink of DESIGN.md), so a demo needs no
mail server and a developer can open an invitation from its file.

``send`` answers with a status instead of raising, so one bad address never blocks the mails
queued behind it: ``sent`` (or ``stored`` by the sink); ``deferred`` when every one of
``SMTP_RETRIES`` attempts met a temporary failure (no connection, a timeout, a 4xx reply) and
the caller may try again later; ``rejected`` at a permanent one (a 5xx reply such as an unknown
mailbox or refused credentials), which no retry would change. Each attempt is logged without
the body: bodies carry single-use links.
"""
from __future__ import annotations

import logging
import os
import smtplib
import socket
import ssl
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, formataddr, getaddresses, parseaddr
from typing import Callable
from urllib.parse import parse_qs, unquote, urlsplit

from services.common.config import env, env_float, env_int, var_dir

log = logging.getLogger(__name__)

DEFAULT_ADDRESS = "no-reply@portal.example"
# smtplib would look its HELO name up in DNS (getfqdn) on every connection; the host name is
# what it would find on most machines, without the lookup.
HELO_NAME = socket.gethostname() or "localhost"
FIRST_BACKOFF = 0.5   # seconds before the second attempt; doubles after each further one


def sender() -> str:
    """The From header: ``MAIL_FROM``, else the operator's name with the default address."""
    return env("MAIL_FROM") or formataddr((env("PORTAL_OPERATOR_NAME"), DEFAULT_ADDRESS))


def new_message_id() -> str:
    domain = parseaddr(sender())[1].rpartition("@")[2] or DEFAULT_ADDRESS.split("@")[1]
    return f"<{uuid.uuid4().hex}@{domain}>"


@dataclass(frozen=True)
class Email:
    to: str                     # one address, optionally with a display name
    subject: str
    text: str                   # the plain body
    html: str | None = None     # an HTML alternative of the same content
    headers: dict[str, str] = field(default_factory=dict)   # e.g. List-Unsubscribe
    message_id: str = field(default_factory=new_message_id)  # kept across retries

    def __post_init__(self):
        if len(getaddresses([self.to])) != 1 or "@" not in parseaddr(self.to)[1]:
            raise ValueError(f"one recipient address expected, not {self.to!r}")


@dataclass(frozen=True)
class SendResult:
    status: str                 # "sent", "stored", "deferred" or "rejected"
    message_id: str
    code: int | None = None     # the server's reply code that ended the last attempt
    message: str | None = None  # its text, the error without a reply, or the sink's file
    attempts: int = 1


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    implicit_tls: bool
    starttls_required: bool
    user: str | None
    password: str


def parse_url(url: str) -> Server:
    """``smtp://[user:password@]host:port[?starttls=required]`` or ``smtps://...``."""
    parts = urlsplit(url)
    starttls = parse_qs(parts.query).get("starttls", [""])
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname or starttls not in ([""], ["required"]):
        # never echo the URL: it may carry a password
        raise ValueError("SMTP_URL must look like smtp://[user:password@]host:port[?starttls=required] "
                         "or smtps://[user:password@]host:port")
    tls = parts.scheme == "smtps"
    return Server(host=parts.hostname, port=parts.port or (465 if tls else 25), implicit_tls=tls,
                  starttls_required=starttls == ["required"],
                  user=unquote(parts.username) if parts.username else None,
                  password=unquote(parts.password or ""))


def build(email: Email) -> EmailMessage:
    """The RFC 5322 message: a text part, and the HTML alternative when there is one."""
    msg = EmailMessage()
    msg["From"] = sender()
    msg["To"] = email.to
    msg["Subject"] = email.subject      # the policy refuses CR/LF: no header injection
    msg["Date"] = format_datetime(datetime.now(timezone.utc))
    msg["Message-ID"] = email.message_id
    for name, value in email.headers.items():
        msg[name] = value
    msg.set_content(email.text)
    if email.html is not None:
        msg.add_alternative(email.html, subtype="html")
    return msg


def send(email: Email, *, sleep: Callable[[float], None] | None = None) -> SendResult:
    """Deliver ``email`` through ``SMTP_URL``, or store it in the sink when that is unset.
    ``sleep`` waits between attempts (``time.sleep``, green under eventlet, by default).
    Raises only ValueError, for a malformed ``SMTP_URL`` or header: bugs, not deliveries."""
    message = build(email)
    url = env("SMTP_URL")
    if not url:
        return _logged(email, _store(email, message))
    server = parse_url(url)
    attempts = max(1, env_int("SMTP_RETRIES"))
    for attempt in range(1, attempts):
        result = _logged(email, _attempt(server, email, message, attempt))
        if result.status != "deferred":
            return result
        (sleep or time.sleep)(FIRST_BACKOFF * 2 ** (attempt - 1))
    return _logged(email, _attempt(server, email, message, attempts))


def send_once(email: Email, attempt: int = 1) -> SendResult:
    """One attempt at ``email`` (or the sink), for callers that keep their own retry schedule
    across time (notify's queue) instead of waiting in between."""
    message = build(email)
    url = env("SMTP_URL")
    if not url:
        return _logged(email, _store(email, message))
    return _logged(email, _attempt(parse_url(url), email, message, attempt))


def _attempt(server: Server, email: Email, message: EmailMessage, attempt: int) -> SendResult:
    try:
        _deliver(server, message, parseaddr(email.to)[1], env_float("SMTP_TIMEOUT"))
    except OSError as exc:          # smtplib's errors are OSErrors too
        temporary, code, text = _failure(exc)
        return SendResult("deferred" if temporary else "rejected", email.message_id, code, text, attempt)
    return SendResult("sent", email.message_id, attempts=attempt)


def _deliver(server: Server, message: EmailMessage, recipient: str, timeout: float) -> None:
    if server.implicit_tls:
        smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=timeout, local_hostname=HELO_NAME,
                                context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(server.host, server.port, timeout=timeout, local_hostname=HELO_NAME)
    with smtp:
        smtp.ehlo_or_helo_if_needed()
        if not server.implicit_tls and smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo_or_helo_if_needed()
        elif not server.implicit_tls and server.starttls_required:
            raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS, which SMTP_URL requires")
        if server.user:
            smtp.login(server.user, server.password)
        smtp.send_message(message, from_addr=parseaddr(message["From"])[1], to_addrs=[recipient])


def _failure(exc: OSError) -> tuple[bool, int | None, str]:
    """(temporary?, reply code, text) of a failed attempt."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):      # our only recipient was refused
        code, text = next(iter(exc.recipients.values()))
    elif isinstance(exc, smtplib.SMTPResponseException):
        code, text = exc.smtp_code, exc.smtp_error
    else:   # no reply: the network (temporary), or a dialogue smtplib cannot hold (permanent)
        temporary = (not isinstance(exc, smtplib.SMTPException)
                     or isinstance(exc, smtplib.SMTPServerDisconnected))
        return temporary, None, str(exc) or type(exc).__name__
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return code < 500, code, text


def _store(email: Email, message: EmailMessage) -> SendResult:
    """The sink: one ``.eml`` file per message, named by UTC time so they sort by it."""
    folder = var_dir() / "mail"
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    path = folder / f"{stamp}-{uuid.uuid4().hex[:8]}.eml"
    partial = path.with_suffix(".part")     # renamed when complete: readers never see half a mail
    try:
        folder.mkdir(exist_ok=True)
        partial.write_bytes(message.as_bytes(policy=SMTP_POLICY))
        os.replace(partial, path)
    except OSError as exc:
        return SendResult("deferred", email.message_id, message=f"cannot write {path}: {exc}")
    return SendResult("stored", email.message_id, message=str(path))


def _logged(email: Email, result: SendResult) -> SendResult:
    fields = {"to": email.to, "subject": email.subject, "status": result.status, "code": result.code,
              "attempt": result.attempts, "message_id": result.message_id}
    level = logging.INFO if result.status in ("sent", "stored") else logging.WARNING
    log.log(level, "mail %s: to=%s subject=%r code=%s attempt=%d message_id=%s %s",
            result.status, email.to, email.subject, result.code, result.attempts,
            result.message_id, result.message or "", extra={"mail": fields})
    return result
