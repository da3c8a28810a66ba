"""The transport of partner webhooks: which URLs a delivery may reach, the HTTP POST itself, the
Standard Webhooks signature, the retry schedule and the endpoint secrets.

A webhook URL is chosen by a customer, so every delivery is a request our network makes on a
stranger's behalf (SSRF). A URL is checked when it is registered and again at every delivery:
the host is resolved at send time, every address must be public (or inside
``WEBHOOK_ALLOWED_NETWORKS``), and the connection goes to that checked address itself, so a
name that changes its answer in between (DNS rebinding) cannot lead us inside. TLS still
verifies the real name. Answers are bounded in time and size; redirects are never followed.

Signing uses the ``standardwebhooks`` package, the reference implementation partners verify
with (``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64>``).
"""
from __future__ import annotations

import base64
import http.client
import ipaddress
import math
import random
import secrets
import socket
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote, unquote, urlsplit

import certifi
import standardwebhooks
from urllib3 import HTTPConnectionPool, HTTPHeaderDict, HTTPSConnectionPool, Timeout
from urllib3.exceptions import (ConnectTimeoutError, HTTPError, NewConnectionError, ProtocolError,
                                ReadTimeoutError, SSLError)
from urllib3.util import make_headers

from services.common.config import env, env_float, env_int
from services.common import keys

# Delay before each attempt, counted from the attempt before it (Standard Webhooks / Svix):
# immediately, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h - about 27.6 h from first to last.
SCHEDULE: tuple[float, ...] = (0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0)
USER_AGENT = "portal-webhooks/1"
MAX_URL = 2000
BODY_CHARS = 1024
CA_CERTS = certifi.where()   # the bundle requests uses too: slim images may lack a system store
_METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_GLOBAL_UNICAST_V6 = ipaddress.ip_network("2000::/3")
_DEFAULT_PORT = {"http": 80, "https": 443}


def next_delay(attempts_made: int, rng=random.random) -> float | None:
    """Seconds to wait before the next attempt after ``attempts_made`` failed ones; None once the
    schedule is used up. +/-10 % jitter, so that retries of many deliveries spread out."""
    if attempts_made < 0:
        raise ValueError("attempts_made cannot be negative")
    if attempts_made >= len(SCHEDULE):
        return None
    delay = SCHEDULE[attempts_made]
    return delay * (0.9 + 0.2 * rng()) if delay >= 5 else delay


# --- secrets -----------------------------------------------------------------------------------
def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def seal(secret: str) -> str:
    """Encrypted for the database: a copy of the database alone does not let anyone sign deliveries."""
    return keys.seal("webhook-secret", secret)


def reseal(session) -> int:
    """After a key rotation: every endpoint's secret sealed with the current key (prepare runs
    this), so SECRET_KEY_PREVIOUS can be dropped without breaking a signature."""
    from sqlalchemy import select

    from services.notify.models import WebhookEndpoint

    changed = 0
    for endpoint in session.scalars(select(WebhookEndpoint)):
        fresh = keys.reseal("webhook-secret", endpoint.secret_sealed)
        if fresh:
            endpoint.secret_sealed, changed = fresh, changed + 1
    return changed


def unseal(sealed: str) -> str:
    return keys.unseal("webhook-secret", sealed)


def sign(secret: str, msg_id: str, timestamp: datetime, body: str) -> dict[str, str]:
    # The library reads a datetime as UTC whatever its zone says: hand it UTC.
    at = (timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)
    return {"webhook-id": msg_id, "webhook-timestamp": str(math.floor(at.timestamp())),
            "webhook-signature": standardwebhooks.Webhook(secret).sign(msg_id, at, body)}


# --- which addresses a webhook may reach --------------------------------------------------------
class Refused(Exception):
    """A URL or address webhooks may not reach; str() is a sentence for the customer."""


def allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    networks = []
    for entry in (env("WEBHOOK_ALLOWED_NETWORKS") or "").split(","):
        if entry.strip():
            try:
                networks.append(ipaddress.ip_network(entry.strip(), strict=False))
            except ValueError as exc:
                raise ValueError(f"WEBHOOK_ALLOWED_NETWORKS: {entry.strip()!r} is not a network ({exc})") from None
    return networks


def _embedded(ip):
    """The IPv4 address an IPv6 address stands for, where the network would carry it there."""
    if ip.version == 6:
        if ip.ipv4_mapped:
            return ip.ipv4_mapped
        if ip.sixtofour:
            return ip.sixtofour
        if ip in _NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def _refusal(ip, networks) -> str | None:
    """Why a delivery may not go to ``ip``, or None."""
    real = _embedded(ip)
    for net in networks:
        if any(a.version == net.version and a in net for a in (ip, real)):
            # A broad allowance (say 169.254.0.0/16) must not open the cloud's credential store.
            if real not in _METADATA or net.num_addresses == 1:
                return None
    if real in _METADATA:
        return "a cloud metadata address"
    public = real.is_global and not real.is_multicast and not real.is_reserved
    if real.version == 6:   # older Pythons call some reserved or local-use ranges global
        public = public and real in _GLOBAL_UNICAST_V6
    return None if public else "not a public address"


@dataclass(frozen=True)
class _Target:
    url: str            # normalised
    scheme: str
    host: str           # lower-case ASCII name, or the canonical IP
    port: int
    target: str         # path and query
    userinfo: str
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None   # when the URL names an address

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == _DEFAULT_PORT[self.scheme] else f"{name}:{self.port}"


def _literal(host: str):
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:    # 2130706433, 0x7f.1, 127.1: the resolver reads these as IPv4, so must we
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _parse(url: str) -> _Target:
    if len(url) > MAX_URL:
        raise Refused(f"The URL is longer than {MAX_URL} characters.")
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise Refused("The URL contains spaces or control characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise Refused("This is not a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORT:
        raise Refused("A webhook URL must start with https://.")
    if scheme == "http" and env("WEBHOOK_ALLOW_HTTP") != "1":
        raise Refused("A webhook URL must use https; plain http is not allowed.")
    if "#" in url:
        raise Refused("A webhook URL cannot have a fragment (#...).")
    host = parts.hostname
    if not host:
        raise Refused("The URL has no host name.")
    ip = _literal(host)
    try:
        host = str(ip) if ip else host.encode("idna").decode("ascii")
    except UnicodeError:
        raise Refused(f"{host} is not a valid host name.") from None
    port = port or _DEFAULT_PORT[scheme]
    userinfo = parts.netloc.rpartition("@")[0]
    target = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        target += "?" + quote(parts.query, safe="/?%:@!$&'()*+,;=-._~")
    made = _Target("", scheme, host, port, target, userinfo, ip)
    netloc = (userinfo + "@" if userinfo else "") + made.host_header
    return _Target(f"{scheme}://{netloc}{target}", scheme, host, port, target, userinfo, ip)


def _addresses(target: _Target, networks, resolve) -> list:
    """Every address the target stands for, each checked; Refused when any one is not allowed."""
    if target.ip is not None:
        found = [target.ip]
    else:
        try:
            infos = resolve(target.host, target.port, type=socket.SOCK_STREAM)
            found = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        except (OSError, UnicodeError, ValueError):
            found = []
        if not found:
            raise Refused(f"The name {target.host} does not resolve.")
    for ip in found:
        reason = _refusal(ip, networks)
        if reason:
            named = "" if target.ip is not None else f"{target.host} resolves to "
            raise Refused(f"{named}{ip}, {reason}: webhooks may reach public internet addresses only.")
    return found


def check_url(url: str, networks=None, resolve=True) -> str:
    """Check a webhook URL when it is registered; the normalised URL, or Refused. ``resolve``:
    True (the system resolver), False (check literal addresses only) or a getaddrinfo-like callable."""
    networks = allowed_networks() if networks is None else networks
    target = _parse(url)
    if resolve or target.ip is not None:
        _addresses(target, networks, resolve if callable(resolve) else socket.getaddrinfo)
    return target.url


# --- delivery ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    status_code: int | None     # None when no HTTP answer came
    body: str                   # the start of the answer
    error: str | None           # a short sentence, for the partner's delivery log
    duration_ms: float

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _describe(exc: Exception, timeout: float) -> str:
    if isinstance(exc, NewConnectionError):    # before ConnectTimeoutError: it is a subclass
        cause = exc.__cause__
        return "connection refused" if isinstance(cause, ConnectionRefusedError) else f"could not connect: {cause or exc}"
    if isinstance(exc, ConnectTimeoutError):
        return f"timed out connecting ({timeout:g} s)"
    if isinstance(exc, ReadTimeoutError):
        return f"timed out waiting for the answer ({timeout:g} s)"
    if isinstance(exc, SSLError):
        return f"TLS failed: {exc.__cause__ or exc}"[:300]
    if isinstance(exc, ProtocolError):
        return f"the connection broke: {exc.args[-1] if exc.args else exc}"[:300]
    return f"{type(exc).__name__}: {exc}"[:300]


def _green_timeout(seconds: float):
    """Under eventlet (the services) a Timeout ends the call at the deadline however slowly the
    receiver trickles; elsewhere the socket timeouts and the checks between reads bound it."""
    if "eventlet" in sys.modules:
        from eventlet import Timeout as GreenTimeout, patcher
        if patcher.is_monkey_patched("socket"):
            return GreenTimeout(seconds)
    return None


def _exchange(target: _Target, ips, body: bytes, headers, timeout, max_bytes, deadline, got: dict) -> str | None:
    for n, ip in enumerate(ips):
        remaining = max(deadline - time.monotonic(), 0.001)
        options = dict(port=target.port, timeout=Timeout(connect=timeout, read=timeout, total=remaining),
                       retries=False, maxsize=1, block=False)
        # Connect to the address we checked; TLS verifies the name the partner registered.
        pool = (HTTPConnectionPool(str(ip), **options) if target.scheme == "http" else
                HTTPSConnectionPool(str(ip), server_hostname=target.host, assert_hostname=target.host,
                                    cert_reqs="CERT_REQUIRED", ca_certs=CA_CERTS, **options))
        try:
            try:
                response = pool.urlopen("POST", target.target, body=body, headers=headers, redirect=False,
                                        retries=False, preload_content=False, assert_same_host=False)
            except (NewConnectionError, ConnectTimeoutError):
                if n + 1 < len(ips):     # say an IPv6 address on a host without an IPv6 route
                    continue
                raise
            try:
                got["status"] = response.status
                while len(got["raw"]) <= max_bytes:
                    if time.monotonic() > deadline:
                        return f"timed out: no complete answer within {timeout:g} s"
                    # read1: what has come so far (a trickle still shows); raw bytes: a
                    # compressed answer cannot grow past the cap when decoded.
                    chunk = response.read1(min(65536, max_bytes + 1 - len(got["raw"])), decode_content=False)
                    if not chunk:
                        return None
                    got["raw"].extend(chunk)
                return f"answer larger than {max_bytes} bytes, cut"
            finally:
                response.close()    # never back to a pool: a partner cannot hold our sockets
        finally:
            pool.close()
    return None


def post(url: str, body: str, headers: dict[str, str], *, timeout=None, max_bytes=None, networks=None,
         resolve=socket.getaddrinfo) -> Answer:
    """POST one delivery. Never raises for what the network or the receiver does: the outcome,
    failures included, is the Answer. A 3xx is an answer like any other non-2xx."""
    timeout = env_float("WEBHOOK_TIMEOUT") if timeout is None else float(timeout)
    max_bytes = env_int("WEBHOOK_MAX_RESPONSE_BYTES") if max_bytes is None else max_bytes
    networks = allowed_networks() if networks is None else networks
    started = time.monotonic()
    got = {"status": None, "raw": bytearray()}
    timer = _green_timeout(timeout)
    try:
        target = _parse(url)
        ips = _addresses(target, networks, resolve)   # again: the name may point elsewhere now
        send = HTTPHeaderDict({"Content-Type": "application/json", "User-Agent": USER_AGENT})
        if target.userinfo:
            user, _, password = target.userinfo.partition(":")
            send.update(make_headers(basic_auth=f"{unquote(user)}:{unquote(password)}"))
        send.update(headers)
        send["Host"] = target.host_header
        error = _exchange(target, ips, body.encode(), send, timeout, max_bytes, started + timeout, got)
    except Refused as exc:
        error = str(exc)
    except (HTTPError, http.client.HTTPException, OSError, ValueError) as exc:
        error = _describe(exc, timeout)
    except BaseException as exc:
        if timer is None or exc is not timer:
            raise
        error = f"timed out: no complete answer within {timeout:g} s"
    finally:
        if timer is not None:
            timer.cancel()
    text = got["raw"][:max_bytes].decode("utf-8", "replace")[:BODY_CHARS]
    return Answer(got["status"], text, error, round((time.monotonic() - started) * 1000, 1))
