"""The access log of tracking links: every opening of a link, with when and a coarse origin, for
the customer who made the link to see beside it.

- **Coarse origin only**: the network, cut to a /24 (IPv4) or a /48 (IPv6), and the browser's
  family ("Firefox", "Safari" ...), never the address or the full user agent. The gateway cuts
  them before the RPC, and ``record`` cuts again whatever it is given.
- **One opening per visit**: the page asks for the view once, then follows the live stream (or
  polls). An opening of the same link from the same network and browser family within
  ``SAME_VISIT`` of the last one seen extends that visit (``last_seen_at``) instead of counting
  again; stream renewals record nothing (the gateway sends no visitor with them).
- Kept as long as the position history (``TRACKING_RETENTION_DAYS``, ``retention.purge``).
"""
from __future__ import annotations

import ipaddress
import re
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from services.common.db import utcnow
from services.tracking.models import LinkAccess, TrackingLink

SAME_VISIT = timedelta(minutes=5)
SHOWN = 20                      # the latest openings listed beside a link
IPV4_PREFIX, IPV6_PREFIX = 24, 48

# (family, pattern), first match wins: the order matters (Edge and Opera say "Chrome" too, Chrome
# says "Safari", and link previewers and scripts say anything).
FAMILIES = (
    ("Link preview or bot", re.compile(r"bot|crawl|spider|slurp|preview|facebookexternalhit|whatsapp", re.I)),
    ("Script", re.compile(r"curl|wget|python|go-http|okhttp|java/|libwww|httpclient|node-fetch|axios", re.I)),
    ("Edge", re.compile(r"Edg(e|A|iOS)?/")),
    ("Opera", re.compile(r"OPR/|Opera")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/")),
    ("Firefox", re.compile(r"Firefox/|FxiOS/")),
    ("Chrome", re.compile(r"Chrome/|CriOS/|Chromium/")),
    ("Safari", re.compile(r"Safari/|AppleWebKit/")),
)
KNOWN = frozenset(name for name, _ in FAMILIES) | {"Other", "Unknown"}


def coarse_network(address: str | None) -> str | None:
    """``203.0.113.77`` -> ``203.0.113.0/24``; an IPv6 address -> its /48; an IPv4 address in
    IPv6 clothes (``::ffff:203.0.113.77``) as IPv4. A network keeps at most that prefix. None
    when it is not an address."""
    if not isinstance(address, str) or not address or len(address) > 64:
        return None
    try:
        network = ipaddress.ip_network(address.strip(), strict=False)
    except ValueError:
        return None
    if isinstance(network, ipaddress.IPv6Network) and network.network_address.ipv4_mapped:
        network = ipaddress.ip_network(str(network.network_address.ipv4_mapped))
    prefix = IPV4_PREFIX if network.version == 4 else IPV6_PREFIX
    return str(network.supernet(new_prefix=min(prefix, network.prefixlen)))


def browser_family(user_agent: str | None) -> str:
    """The browser's family from a User-Agent header: the only part of it kept."""
    if not user_agent:
        return "Unknown"
    for name, pattern in FAMILIES:
        if pattern.search(user_agent[:512]):
            return name
    return "Other"


def visitor_of(address: str | None, user_agent: str | None) -> dict:
    """What the gateway sends about whoever opened a link."""
    return {"network": coarse_network(address), "browser": browser_family(user_agent)}


def record(session: Session, link: TrackingLink, visitor: dict, now: datetime | None = None) -> bool:
    """Log an opening of ``link`` (locked by the caller, so two requests of one page load cannot
    both count); True when it counted as a new opening, False when it extended a visit."""
    now = now or utcnow()
    network = coarse_network(visitor.get("network"))
    browser = visitor.get("browser") if visitor.get("browser") in KNOWN else "Other"
    same = LinkAccess.network.is_(None) if network is None else LinkAccess.network == network
    recent = session.scalar(select(LinkAccess).where(
        LinkAccess.link_id == link.id, same, LinkAccess.browser == browser,
        LinkAccess.last_seen_at >= now - SAME_VISIT).order_by(LinkAccess.last_seen_at.desc()).limit(1))
    if recent is not None:
        recent.last_seen_at = max(recent.last_seen_at, now)
        return False
    session.add(LinkAccess(link_id=link.id, customer_id=link.customer_id, opened_at=now, last_seen_at=now,
                           network=network, browser=browser))
    link.last_opened_at = now
    return True


def counts(session: Session, link_ids: list[str]) -> dict[str, int]:
    """How many times each link was opened (within the retention period)."""
    if not link_ids:
        return {}
    return dict(session.execute(select(LinkAccess.link_id, func.count()).where(LinkAccess.link_id.in_(link_ids))
                                .group_by(LinkAccess.link_id)).all())


def _public(access: LinkAccess) -> dict:
    return {"opened_at": access.opened_at.isoformat(), "last_seen_at": access.last_seen_at.isoformat(),
            "network": access.network, "browser": access.browser}


def listing(session: Session, link: TrackingLink) -> dict:
    """A link's openings, newest first (the latest ``SHOWN``), and how many there were."""
    latest = session.scalars(select(LinkAccess).where(LinkAccess.link_id == link.id)
                             .order_by(LinkAccess.opened_at.desc()).limit(SHOWN))
    return {"link_id": link.id, "total": counts(session, [link.id]).get(link.id, 0),
            "items": [_public(a) for a in latest]}


def forget_before(session: Session, cutoff: datetime) -> int:
    """Delete openings last seen before ``cutoff`` (the retention period)."""
    return session.execute(delete(LinkAccess).where(LinkAccess.last_seen_at < cutoff)).rowcount or 0
