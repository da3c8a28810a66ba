"""Which driver a credential stands for, asked of identity (the owner of credentials) and
remembered for ``TRACKING_CREDENTIAL_CACHE_SECONDS``: a stream of positions costs one RPC per
driver per period, not one per message. Refusals are remembered too (for the same time, at
most ``MAX_ENTRIES``), so a flood of forged messages does not turn into a flood of RPCs.

Only the credential's SHA-256 is held in memory. A rotated or deactivated credential keeps
working here until its entry lapses (at most the cache period)."""
from __future__ import annotations

import hashlib
import logging
import random
import time
from collections import OrderedDict
from typing import Callable

from services.common.config import env, env_int

log = logging.getLogger(__name__)

MAX_ENTRIES = 100_000
CHUNK = 1000            # identity's most credentials per call
REFUSED = ""


def identity_lookup(amqp_uri: str | None = None, timeout: float = 5.0) -> Callable[[list[str]], dict[str, str | None]]:
    """Ask identity by RPC (nameko's own standalone proxy), one call for all the credentials a
    batch does not know yet, in chunks of identity's limit."""
    from nameko.standalone.rpc import ClusterRpcProxy

    config = {"AMQP_URI": amqp_uri or env("AMQP_URI"), "serializer": "json"}

    def lookup(credentials: list[str]) -> dict[str, str | None]:
        found: dict[str, str | None] = {}
        with ClusterRpcProxy(config, timeout=timeout) as cluster:
            for start in range(0, len(credentials), CHUNK):
                found.update(cluster.identity.authenticate_drivers(credentials[start:start + CHUNK]))
        return found

    return lookup


class CredentialCache:
    def __init__(self, lookup: Callable[[list[str]], dict[str, str | None]], ttl: float | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.lookup, self.clock = lookup, clock
        self.ttl = ttl if ttl is not None else env_int("TRACKING_CREDENTIAL_CACHE_SECONDS")
        self._entries: OrderedDict[str, tuple[str, float]] = OrderedDict()

    @staticmethod
    def _key(credential: str) -> str:
        return hashlib.sha256(credential.encode()).hexdigest()

    def drivers(self, credentials: set[str]) -> dict[str, str | None]:
        """credential -> driver id (None: refused). One lookup for all the misses."""
        now, answer, missing = self.clock(), {}, []
        for credential in credentials:
            entry = self._entries.get(self._key(credential))
            if entry is not None and entry[1] > now:
                answer[credential] = entry[0] or None
            else:
                missing.append(credential)
        if missing:
            for credential, driver_id in self.lookup(missing).items():
                answer[credential] = driver_id
                key = self._key(credential)
                # Spread the expiries, so a fleet met in one batch is not asked again all at once.
                self._entries[key] = (driver_id or REFUSED, now + self.ttl * random.uniform(0.75, 1.0))
                self._entries.move_to_end(key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)
        return answer
