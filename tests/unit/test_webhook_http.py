"""The webhook transport against real local HTTP(S) receivers: SSRF checks, pinning, limits,
Standard Webhooks signatures, the retry schedule and sealed secrets."""
import base64
import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import standardwebhooks
from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from services.notify import webhook_http as wh

LOOPBACK = [ipaddress.ip_network("127.0.0.0/8")]
BIG = 5 << 20


class Receiver(BaseHTTPRequestHandler):
    got: list   # set per server: (path, headers, body) of every request

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        self.got.append((self.path, self.headers, body))     # headers: case-insensitive
        try:
            if self.path == "/slow":
                time.sleep(2)
                self._answer(200, b"late")
            elif self.path == "/trickle":
                self.send_response(200)
                self.send_header("Content-Length", "40")
                self.end_headers()
                for _ in range(40):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
            elif self.path == "/big":
                self._answer(200, b"y" * BIG)
            elif self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", "/second")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._answer(200, b"thanks")
        except (BrokenPipeError, ConnectionResetError):
            pass    # the client stopped reading: what the limits are for

    def _answer(self, status, data):
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve(tls_context=None):
    got = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (Receiver,), {"got": got}))
    server.daemon_threads = True
    if tls_context:
        server.socket = tls_context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, got


@pytest.fixture(autouse=True)
def _settings(monkeypatch):
    monkeypatch.delenv("WEBHOOK_ALLOWED_NETWORKS", raising=False)
    monkeypatch.delenv("WEBHOOK_ALLOW_HTTP", raising=False)


@pytest.fixture
def receiver(monkeypatch):
    monkeypatch.setenv("WEBHOOK_ALLOW_HTTP", "1")
    server, got = serve()
    yield server.server_address[1], got
    server.shutdown()
    server.server_close()


def resolver(table):
    """A getaddrinfo that knows only ``table`` (name -> address)."""
    def resolve(host, port, *args, **kwargs):
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        family = socket.AF_INET6 if ":" in table[host] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (table[host], port))]
    return resolve


def signed(secret, payload):
    body = json.dumps(payload)
    return body, wh.sign(secret, "msg_1", dt.datetime.now(dt.timezone.utc), body)


# --- delivery ----------------------------------------------------------------------------------
def test_delivery_arrives_signed_and_the_receiver_verifies_it(receiver):
    port, got = receiver
    secret = wh.new_secret()
    body, headers = signed(secret, {"type": "order.delivered", "data": {"id": 7}})
    answer = wh.post(f"http://127.0.0.1:{port}/hook", body, headers, networks=LOOPBACK)
    assert (answer.status_code, answer.body, answer.error, answer.ok) == (200, "thanks", None, True)
    assert answer.duration_ms >= 0
    path, received, raw = got[0]
    assert path == "/hook" and raw == body
    assert received["Content-Type"] == "application/json" and received["User-Agent"] == "portal-webhooks/1"
    assert received["Host"] == f"127.0.0.1:{port}"
    assert received["webhook-id"] == "msg_1" and received["webhook-signature"].startswith("v1,")
    received = dict(received)
    assert standardwebhooks.Webhook(secret).verify(raw, received) == json.loads(body)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(secret).verify(raw.replace("7", "8"), received)
    with pytest.raises(standardwebhooks.webhooks.WebhookVerificationError):
        standardwebhooks.Webhook(wh.new_secret()).verify(raw, received)


def test_loopback_is_refused_without_the_allowance(receiver):
    port, got = receiver
    for networks in (None, []):     # None: WEBHOOK_ALLOWED_NETWORKS, unset here
        answer = wh.post(f"http://127.0.0.1:{port}/hook", "{}", {}, networks=networks)
        assert answer.status_code is None and not answer.ok
        assert "127.0.0.1, not a public address" in answer.error
    assert got == []


def test_allowance_from_the_environment(receiver, monkeypatch):
    port, got = receiver
    monkeypatch.setenv("WEBHOOK_ALLOWED_NETWORKS", " 10.0.0.0/8, 127.0.0.1/8 ")
    assert wh.allowed_networks() == [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("127.0.0.0/8")]
    assert wh.post(f"http://127.0.0.1:{port}/hook", "{}", {}).ok and len(got) == 1
    monkeypatch.setenv("WEBHOOK_ALLOWED_NETWORKS", "127.0.0.0/8,intranet")
    with pytest.raises(ValueError, match="WEBHOOK_ALLOWED_NETWORKS: 'intranet'"):
        wh.allowed_networks()


def test_dns_rebinding_is_caught_at_send_time_and_the_checked_address_is_used(receiver):
    port, got = receiver
    inside = resolver({"partner.example": "127.0.0.1"})
    answer = wh.post(f"http://partner.example:{port}/hook", "{}", {}, networks=[], resolve=inside)
    assert answer.status_code is None
    assert answer.error.startswith("partner.example resolves to 127.0.0.1, not a public address")
    assert got == []
    # Allowed, the request goes to the address resolved here while naming the host.
    answer = wh.post(f"http://partner.example:{port}/hook", "{}", {}, networks=LOOPBACK, resolve=inside)
    assert answer.ok and got[0][1]["Host"] == f"partner.example:{port}"


def test_userinfo_becomes_basic_authentication(receiver):
    port, got = receiver
    assert wh.post(f"http://hooks:s%3Acret@127.0.0.1:{port}/h", "{}", {}, networks=LOOPBACK).ok
    assert got[0][1]["Authorization"] == "Basic " + base64.b64encode(b"hooks:s:cret").decode()


def test_a_receiver_slower_than_the_timeout(receiver):
    port, got = receiver
    answer = wh.post(f"http://127.0.0.1:{port}/slow", "{}", {}, timeout=0.3, networks=LOOPBACK)
    assert answer.status_code is None and "timed out" in answer.error and not answer.ok


def test_a_trickling_answer_is_ended_by_the_overall_deadline(receiver):
    port, got = receiver     # each byte comes well within the read timeout, the whole does not
    answer = wh.post(f"http://127.0.0.1:{port}/trickle", "{}", {}, timeout=0.5, networks=LOOPBACK)
    assert answer.status_code == 200 and "timed out" in answer.error
    assert 0 < len(answer.body) < 40


def test_a_large_answer_is_cut_and_keeps_its_status(receiver):
    port, got = receiver
    answer = wh.post(f"http://127.0.0.1:{port}/big", "{}", {}, max_bytes=10_000, networks=LOOPBACK)
    assert answer.status_code == 200 and answer.ok
    assert answer.error == "answer larger than 10000 bytes, cut"
    assert answer.body == "y" * 1024


def test_a_redirect_is_not_followed(receiver):
    port, got = receiver
    answer = wh.post(f"http://127.0.0.1:{port}/redirect", "{}", {}, networks=LOOPBACK)
    assert (answer.status_code, answer.ok, answer.error) == (302, False, None)
    assert [path for path, _, _ in got] == ["/redirect"]


def test_connection_refused_is_an_answer_not_an_exception(monkeypatch):
    monkeypatch.setenv("WEBHOOK_ALLOW_HTTP", "1")
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    answer = wh.post(f"http://127.0.0.1:{port}/hook", "{}", {}, networks=LOOPBACK)
    assert answer.status_code is None and answer.error == "connection refused"


# --- TLS: the connection is pinned to the checked address, the certificate checked for the name --
def _certificates(directory):
    def name(text):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])
    now = dt.datetime.now(dt.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("Test CA")).issuer_name(name("Test CA"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now - dt.timedelta(hours=1))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    leaf = (x509.CertificateBuilder().subject_name(name("partner.example")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(2).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("partner.example")]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "leaf.pem").write_bytes(leaf.public_bytes(pem) + key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return str(directory / "ca.pem"), str(directory / "leaf.pem")


def test_https_connects_to_the_checked_address_and_verifies_the_name(tmp_path, monkeypatch):
    ca, leaf = _certificates(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(leaf)
    server, got = serve(context)
    port = server.server_address[1]
    names = resolver({"partner.example": "127.0.0.1", "other.example": "127.0.0.1"})
    try:
        answer = wh.post(f"https://partner.example:{port}/hook", "{}", {}, networks=LOOPBACK, resolve=names)
        assert "TLS failed" in answer.error and answer.status_code is None   # our CA is not in certifi
        monkeypatch.setattr(wh, "CA_CERTS", ca)
        answer = wh.post(f"https://partner.example:{port}/hook", "{}", {}, networks=LOOPBACK, resolve=names)
        assert (answer.status_code, answer.error) == (200, None)
        assert got[-1][1]["Host"] == f"partner.example:{port}"
        answer = wh.post(f"https://other.example:{port}/hook", "{}", {}, networks=LOOPBACK, resolve=names)
        assert answer.status_code is None and "TLS failed" in answer.error      # the name is checked
        assert len(got) == 1
    finally:
        server.shutdown()
        server.server_close()


# --- registration checks -------------------------------------------------------------------------
@pytest.mark.parametrize("url, reason", [
    ("ftp://example.com/hook", "must start with https://"),
    ("http://example.com/hook", "plain http is not allowed"),
    ("https://example.com/hook#part", "fragment"),
    ("https:///hook", "no host"),
    ("https://example.com/" + "a" * 2000, "longer than 2000"),
    ("https://10.0.0.1/hook", "not a public address"),
    ("https://192.168.1.1/hook", "not a public address"),
    ("https://172.16.0.1/hook", "not a public address"),
    ("https://100.64.0.1/hook", "not a public address"),
    ("https://169.254.169.254/latest/meta-data/", "metadata"),
    ("https://[fd00:ec2::254]/", "metadata"),
    ("https://[::1]/hook", "::1, not a public address"),
    ("https://[::ffff:127.0.0.1]/hook", "not a public address"),
    ("https://[64:ff9b::a00:1]/hook", "not a public address"),
    ("https://[2002:a00:1::]/hook", "not a public address"),
    ("https://0.0.0.0/hook", "not a public address"),
    ("https://2130706433/hook", "127.0.0.1, not a public address"),
    ("https://224.0.0.1/hook", "not a public address"),
    ("https://nothing.invalid/hook", "The name nothing.invalid does not resolve."),
])
def test_check_url_refuses(url, reason):
    with pytest.raises(wh.Refused, match=reason.replace("(", r"\(")):
        wh.check_url(url, resolve=resolver({}))


def test_localhost_is_refused_by_its_address(monkeypatch):
    monkeypatch.setenv("WEBHOOK_ALLOW_HTTP", "1")
    with pytest.raises(wh.Refused, match="localhost resolves to .*not a public address"):
        wh.check_url("http://localhost:8080/hook")          # /etc/hosts: no internet needed


def test_check_url_accepts_and_normalises():
    assert wh.check_url("https://example.com/hook", resolve=False) == "https://example.com/hook"
    assert wh.check_url("HTTPS://Example.COM:443/h?a=1&b=ü", resolve=False) == "https://example.com/h?a=1&b=%C3%BC"
    assert wh.check_url("https://u:p@example.com:8443", resolve=False) == "https://u:p@example.com:8443/"
    assert wh.check_url("https://[2606:4700::1111]/h") == "https://[2606:4700::1111]/h"
    assert wh.check_url("https://partner.example/h", resolve=resolver({"partner.example": "93.184.215.14"}))
    with pytest.raises(wh.Refused, match="resolves to 10.1.2.3"):
        wh.check_url("https://partner.example/h", resolve=resolver({"partner.example": "10.1.2.3"}))


def test_metadata_needs_an_allowance_of_its_own():
    link_local = [ipaddress.ip_network("169.254.0.0/16")]
    assert wh.check_url("https://169.254.1.1/", networks=link_local)
    with pytest.raises(wh.Refused, match="metadata"):
        wh.check_url("https://169.254.169.254/", networks=link_local)
    assert wh.check_url("https://169.254.169.254/", networks=[ipaddress.ip_network("169.254.169.254/32")])


# --- schedule, signatures, secrets --------------------------------------------------------------
def test_next_delay_follows_the_schedule():
    middle = [wh.next_delay(n, rng=lambda: 0.5) for n in range(1, 8)]
    assert middle == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert 26 * 3600 < sum(middle) < 29 * 3600
    assert wh.next_delay(0) == 0 and wh.next_delay(8) is None and wh.next_delay(20) is None
    assert wh.next_delay(1, rng=lambda: 0.0) == pytest.approx(4.5)
    assert wh.next_delay(7, rng=lambda: 0.999999) == pytest.approx(39600, rel=1e-5)
    for n in range(1, 8):
        for _ in range(50):
            assert 0.9 * wh.SCHEDULE[n] <= wh.next_delay(n) <= 1.1 * wh.SCHEDULE[n]


def test_sign_matches_standard_webhooks_in_any_time_zone():
    secret = wh.new_secret()
    at = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    headers = wh.sign(secret, "msg_9", at, '{"a":1}')
    assert headers["webhook-timestamp"] == str(int(at.timestamp()))
    assert headers == wh.sign(secret, "msg_9", at.astimezone(dt.timezone(dt.timedelta(hours=5))), '{"a":1}')
    assert headers["webhook-signature"] == standardwebhooks.Webhook(secret).sign("msg_9", at, '{"a":1}')


def test_new_secret_is_a_standard_webhooks_secret():
    secret = wh.new_secret()
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 24
    assert secret != wh.new_secret()
    body, headers = signed(secret, {"ok": True})
    assert standardwebhooks.Webhook(secret).verify(body, headers) == {"ok": True}


def test_seal_round_trip_and_tampering():
    secret = wh.new_secret()
    sealed = wh.seal(secret)
    assert secret not in sealed and sealed != wh.seal(secret)
    assert wh.unseal(sealed) == secret
    raw = bytearray(base64.urlsafe_b64decode(sealed))
    raw[-1] ^= 1
    with pytest.raises(InvalidTag):
        wh.unseal(base64.urlsafe_b64encode(bytes(raw)).decode())
