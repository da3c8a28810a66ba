"""The mail sender against a real SMTP server (aiosmtpd on 127.0.0.1), and its embedded sink.

aiosmtpd's Controller runs its asyncio loop in a thread; under the eventlet patching of
conftest.py that thread is a greenthread whose selector is green, so it serves while the test's
own (green) smtplib socket waits for it. All those greenthreads share one OS thread, and asyncio
allows one running loop per OS thread: so one Controller at a time (a second one fails to start
with "Cannot run the event loop while another loop is running").
"""
import datetime
import ipaddress
import socket
import ssl
from email import message_from_bytes
from email.parser import BytesParser
from email.policy import default as default_policy

import eventlet
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from services.common import mail
from services.common.mail import Email, send
from tests.conftest import free_port

LINK = "https://portal.example/accept-invite#token=single-use-secret"



class Recorder:
    """An aiosmtpd handler that keeps what it receives; ``defer`` answers 450 to that many DATA
    commands, ``refuse`` answers 550 to those recipients."""

    def __init__(self):
        self.mail_from: list[str] = []          # one entry per MAIL command: an attempt
        self.data: list = []                    # every DATA received, parsed, deferred or not
        self.delivered: list = []               # envelopes accepted with 250
        self.tls: list[bool] = []
        self.defer = 0
        self.refuse: set[str] = set()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        self.mail_from.append(address)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return f"550 5.1.1 <{address}>: mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.data.append(BytesParser(policy=default_policy).parsebytes(envelope.content))
        self.tls.append(session.ssl is not None)
        if self.defer:
            self.defer -= 1
            return "450 4.3.2 try again later"
        self.delivered.append(envelope)
        return "250 OK"


@pytest.fixture(autouse=True)
def mail_env(monkeypatch, tmp_path):
    for name in ("SMTP_URL", "MAIL_FROM", "SMTP_RETRIES", "SMTP_TIMEOUT", "PORTAL_OPERATOR_NAME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VAR_DIR", str(tmp_path))


@pytest.fixture
def smtp_server(monkeypatch):
    """``smtp_server(**aiosmtpd_options)`` starts a server in place of the one before (see the
    module's docstring), points SMTP_URL at it (``scheme``, ``userinfo`` and ``query`` go around
    its ``host:port``) and returns its Recorder."""
    running = []

    def start(scheme="smtp", userinfo="", query="", **options):
        while running:
            running.pop().stop()
        handler = Recorder()
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), ready_timeout=10,
                                **options)
        controller.start()
        running.append(controller)
        monkeypatch.setenv("SMTP_URL", f"{scheme}://{userinfo}127.0.0.1:{controller.port}{query}")
        return handler

    yield start
    while running:
        running.pop().stop()


class Sleeps(list):
    """The injected sleep: records the backoff instead of waiting."""

    def sleep(self, seconds):
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


def content(part) -> str:
    """A part's decoded text with the wire's CRLF line ends made LF."""
    return part.get_content().replace("\r\n", "\n")


def invite(to="ada@customer.example", **kw) -> Email:
    return Email(to=to, subject="Demo Logistics invites you", text=f"Accept here:\n{LINK}\n", **kw)


def test_one_message_arrives_with_its_headers_and_body(smtp_server, monkeypatch, sleeps):
    monkeypatch.setenv("PORTAL_OPERATOR_NAME", "Acme Freight")
    server = smtp_server()
    email = invite(headers={"List-Unsubscribe": "<https://portal.example/unsubscribe>"})
    result = send(email, sleep=sleeps.sleep)
    assert (result.status, result.message_id, result.attempts) == ("sent", email.message_id, 1)
    assert len(server.delivered) == 1 and server.delivered[0].rcpt_tos == ["ada@customer.example"]
    assert server.delivered[0].mail_from == "no-reply@portal.example"
    msg = server.data[0]
    assert msg["From"] == "Acme Freight <no-reply@portal.example>"
    assert (msg["To"], msg["Subject"]) == ("ada@customer.example", "Demo Logistics invites you")
    assert msg["Message-ID"] == email.message_id and email.message_id.endswith("@portal.example>")
    assert msg["List-Unsubscribe"] == "<https://portal.example/unsubscribe>"
    assert msg.get_content_type() == "text/plain" and content(msg) == f"Accept here:\n{LINK}\n"
    assert msg["Date"] is not None and sleeps == []


def test_html_arrives_as_an_alternative_to_the_text(smtp_server):
    server = smtp_server()
    send(invite(html=f'<p>Accept <a href="{LINK}">here</a></p>'))
    msg = server.data[0]
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert content(msg.get_body(("html",))).strip() == f'<p>Accept <a href="{LINK}">here</a></p>'
    assert content(msg.get_body(("plain",))) == f"Accept here:\n{LINK}\n"


def test_temporary_refusals_are_retried_with_doubling_backoff_under_one_message_id(
        smtp_server, sleeps, caplog):
    server = smtp_server()
    server.defer = 2
    email = invite()
    with caplog.at_level("INFO", logger="services.common.mail"):
        result = send(email, sleep=sleeps.sleep)
    assert (result.status, result.attempts) == ("sent", 3)
    assert sleeps == [0.5, 1.0]
    assert len(server.delivered) == 1
    assert [m["Message-ID"] for m in server.data] == [email.message_id] * 3
    records = [r for r in caplog.records if r.name == "services.common.mail"]
    assert [(r.mail["status"], r.mail["code"], r.mail["attempt"]) for r in records] == [
        ("deferred", 450, 1), ("deferred", 450, 2), ("sent", None, 3)]
    assert all(r.mail["to"] == email.to and r.mail["subject"] == email.subject for r in records)
    assert not any("single-use-secret" in r.getMessage() for r in caplog.records), "body logged"


def test_a_refused_recipient_is_rejected_once_and_does_not_raise(smtp_server, sleeps):
    server = smtp_server()
    server.refuse.add("bounce@customer.example")
    result = send(invite("Bounce <bounce@customer.example>"), sleep=sleeps.sleep)
    assert (result.status, result.code, result.attempts) == ("rejected", 550, 1)
    assert "mailbox unavailable" in result.message
    assert len(server.mail_from) == 1 and server.delivered == [] and sleeps == []


def test_an_unreachable_server_is_deferred_after_smtp_retries_attempts(monkeypatch, sleeps):
    monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{free_port()}")   # nobody listens
    monkeypatch.setenv("SMTP_RETRIES", "4")
    result = send(invite(), sleep=sleeps.sleep)
    assert (result.status, result.code, result.attempts) == ("deferred", None, 4)
    assert sleeps == [0.5, 1.0, 2.0]


def test_a_silent_server_times_out_after_smtp_timeout(monkeypatch, sleeps):
    with socket.socket() as listener:       # accepts connections (backlog), never greets
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        monkeypatch.setenv("SMTP_URL", f"smtp://127.0.0.1:{listener.getsockname()[1]}")
        monkeypatch.setenv("SMTP_TIMEOUT", "0.2")
        monkeypatch.setenv("SMTP_RETRIES", "2")
        with eventlet.Timeout(5, AssertionError("SMTP_TIMEOUT was not applied")):
            result = send(invite(), sleep=sleeps.sleep)
    assert (result.status, result.attempts) == ("deferred", 2) and "timed out" in result.message


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_auth_with_the_url_credentials(smtp_server, monkeypatch):
    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            b"portal@operator.example", b"p@ss:w/rd")
        return AuthResult(success=ok, handled=False)    # handled=False: aiosmtpd answers 535

    monkeypatch.setenv("MAIL_FROM", "Ops <ops@operator.example>")
    options = dict(auth_require_tls=False, auth_required=True, authenticator=authenticator)
    wrong = smtp_server(userinfo="portal%40operator.example:guess@", **options)
    result = send(invite())
    assert (result.status, result.code, result.attempts) == ("rejected", 535, 1)
    assert wrong.mail_from == []

    right = smtp_server(userinfo="portal%40operator.example:p%40ss%3Aw%2Frd@", **options)
    assert send(invite()).status == "sent"
    assert right.mail_from == ["ops@operator.example"]
    assert right.data[0]["From"] == "Ops <ops@operator.example>"


@pytest.fixture(scope="module")
def tls_context(tmp_path_factory):
    """A server context with a self-signed certificate for 127.0.0.1, and the file a client
    needs to trust it (through SSL_CERT_FILE, which ssl.create_default_context reads)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context, str(folder / "cert.pem")


def test_starttls_is_used_when_offered_and_smtps_speaks_tls_from_the_start(smtp_server, tls_context,
                                                                           monkeypatch):
    context, cafile = tls_context
    monkeypatch.setenv("SSL_CERT_FILE", cafile)
    starttls = smtp_server(tls_context=context)
    assert send(invite()).status == "sent" and starttls.tls == [True]

    implicit = smtp_server(scheme="smtps", ssl_context=context)
    assert send(invite()).status == "sent" and len(implicit.delivered) == 1


def test_required_starttls_never_sends_in_clear_text(smtp_server):
    server = smtp_server(query="?starttls=required")     # this server offers no STARTTLS
    result = send(invite())
    assert (result.status, result.attempts) == ("rejected", 1) and "STARTTLS" in result.message
    assert server.mail_from == []


def test_the_sink_keeps_parseable_eml_files_in_time_order(tmp_path):
    emails = [invite(f"user{i}@customer.example") for i in range(5)]
    results = [send(e) for e in emails]
    assert {r.status for r in results} == {"stored"}
    files = sorted((tmp_path / "mail").iterdir())
    assert [f.suffix for f in files] == [".eml"] * 5
    parsed = [BytesParser(policy=default_policy).parsebytes(f.read_bytes()) for f in files]
    assert [m["To"] for m in parsed] == [e.to for e in emails]
    assert [m["Message-ID"] for m in parsed] == [e.message_id for e in emails]
    assert parsed[0]["From"] == "Demo Logistics <no-reply@portal.example>"
    assert content(parsed[0]) == f"Accept here:\n{LINK}\n"
    assert message_from_bytes(files[0].read_bytes())["Subject"] == "Demo Logistics invites you"


def test_each_email_gets_its_own_message_id_and_one_recipient():
    assert invite().message_id != invite().message_id
    for bad in ("a@customer.example, b@customer.example", "not an address"):
        with pytest.raises(ValueError):
            Email(to=bad, subject="s", text="t")


def test_headers_cannot_be_injected_through_the_subject(smtp_server):
    server = smtp_server()
    with pytest.raises(ValueError):
        send(Email(to="ada@customer.example", subject="Hi\r\nBcc: all@customer.example", text="t"))
    assert server.mail_from == []


def test_smtp_url_is_checked_without_echoing_its_password():
    with pytest.raises(ValueError) as err:
        mail.parse_url("http://user:hunter2@mail.example:25")
    assert "hunter2" not in str(err.value)
    server = mail.parse_url("smtps://u%40x:p%2F@mail.example")
    assert (server.port, server.implicit_tls, server.user, server.password) == (465, True, "u@x", "p/")
