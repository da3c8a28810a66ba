"""Where a card number could end up, and a search for one in each place: every table of every
service database of a stack, its log files, messages copied off the bus, emails, webhook
deliveries. The numbers are the test processor's published test cards (the ones the portal's
card form knows, gateway/web/portal/screens/invoices.js), found with or without separators."""
from __future__ import annotations

import os
import re
from pathlib import Path
from unittest import mock

from kombu import Connection, Exchange, Queue
from sqlalchemy import JSON, LargeBinary, String, Text, create_engine, inspect, select, MetaData, Table

from services.common.config import SERVICES, database_url
from services.common.topology import RPC_EXCHANGE, events_exchange

TEST_CARDS = ("4242424242424242", "5555555555554444", "378282246310005", "4000002760003184",
              "4000000000000002", "4000000000009995", "4000000000000069", "4000000000000127")
# Any run of non-digits a person or a program puts between the digit groups (spaces, dashes,
# tabs, dots, slashes), or none.
_SEPARATOR = r"[^0-9A-Za-z]{0,3}"
CARD_NUMBER = re.compile("|".join(_SEPARATOR.join(number) for number in TEST_CARDS))


def card_numbers_in(text: str) -> list[str]:
    return [m.group(0) for m in CARD_NUMBER.finditer(text)]


# --- databases ----------------------------------------------------------------------------------
def service_databases(stack) -> dict[str, str]:
    """The URL of each service's database, as the stack's processes compute it."""
    with mock.patch.dict(os.environ, stack.env, clear=True):
        return {service: database_url(service) for service in SERVICES}


def scan_databases(stack) -> tuple[int, list[str]]:
    """(tables read, hits): every text, JSON and binary column of every table, row by row."""
    tables, hits = 0, []
    for service, url in service_databases(stack).items():
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                for name in inspect(conn).get_table_names():
                    table = Table(name, MetaData(), autoload_with=conn)
                    tables += 1
                    columns = [c for c in table.columns if isinstance(c.type, (String, Text, JSON, LargeBinary))]
                    if not columns:
                        continue
                    for row in conn.execution_options(stream_results=True).execute(select(*columns)):
                        for column, value in zip(columns, row):
                            if value is None:
                                continue
                            text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                            hits += [f"{service}.{name}.{column.name}: {hit!r}" for hit in card_numbers_in(text)]
        finally:
            engine.dispose()
    return tables, hits


# --- logs -----------------------------------------------------------------------------------------
def scan_logs(stack) -> tuple[int, list[str]]:
    files, hits = 0, []
    for path in sorted(Path(stack.logs).rglob("*")):
        if path.is_file():
            files += 1
            hits += [f"{path.name}: {hit!r}" for hit in card_numbers_in(path.read_text(errors="replace"))]
    return files, hits


# --- the bus --------------------------------------------------------------------------------------
class Wiretap:
    """A queue of our own bound to every routing key of the domain events exchange and of the
    RPC exchange (requests and replies): a copy of each message, read at the end. Exclusive, so
    it disappears with its connection (the bus-fault suite checks no queue is left behind)."""

    def __init__(self, amqp_uri: str, name: str):
        self.connection = Connection(amqp_uri)
        channel = self.connection.channel()
        self.queues = [Queue(f"{name}-{kind}", exchange=exchange, routing_key="#", exclusive=True,
                             durable=False, auto_delete=True)(channel)
                       for kind, exchange in (("events", events_exchange()),
                                              ("rpc", Exchange(RPC_EXCHANGE, type="topic", durable=True)))]
        for queue in self.queues:
            queue.declare()

    def drain(self) -> dict[str, list[str]]:
        """Every message copied so far, by kind ("events", "rpc")."""
        found: dict[str, list[str]] = {}
        for queue in self.queues:
            bodies = found.setdefault(queue.name.rsplit("-", 1)[1], [])
            while (message := queue.get(no_ack=True)) is not None:
                body = message.body.decode("utf-8", "replace") if isinstance(message.body, bytes) else str(message.body)
                bodies.append(f"{message.headers} {body}")
        return found

    def close(self) -> None:
        self.connection.release()
