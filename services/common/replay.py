"""Dead-lettered messages, listed and sent back to where they failed.

    python -m services.common.replay                          # each dead-letter queue and its count
    python -m services.common.replay evt--notify.on_order_status [--limit 10]
    python -m services.common.replay --all                    # every dead-letter queue
    python -m services.common.replay tracking.driver.dead --dry-run   # show, move nothing

An event handler's message lands in ``<queue>.dlq`` after EVENT_DELIVERY_LIMIT failed
deliveries (PITFALLS 2); a driver message the ingest worker kept failing on lands in
``tracking.driver.dead``. Once the cause is fixed (a deploy, a row repaired), replay puts each
message back on its OWN queue only, through the default exchange: the other services that
handled the event the first time do not get it again. The message keeps its id and headers, so
a handler that did apply it after all skips it (the inbox, PITFALLS 1 and 5); the broker's
``x-death`` history is dropped and ``x-replayed`` counts the replays. ``expire`` deletes what
has waited longer than a retention allows (the tracking service does so for rejected driver
messages, which hold positions).

Each message is published with a confirm and acknowledged on the dead-letter queue only after
the broker took it: a crash in between leaves it in both places, which the inbox absorbs, and
never in neither.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import datetime, timezone

from amqp.exceptions import ChannelError
from kombu import Connection

from services.common.config import SERVICES, env
from services.common.topology import INGEST_DEAD_QUEUE, INGEST_QUEUE, handler_queues

DEAD_SUFFIX = ".dlq"


def dead_letter_queues() -> list[str]:
    """The platform's dead-letter queues."""
    found = [f"{spec.name}{DEAD_SUFFIX}" for service in SERVICES for spec in handler_queues(service)]
    return sorted(found) + [INGEST_DEAD_QUEUE]


def target_of(dead_letter_queue: str) -> str:
    """The queue a dead-letter queue's messages failed on (topology.py names them so)."""
    if dead_letter_queue == INGEST_DEAD_QUEUE:
        return INGEST_QUEUE
    if dead_letter_queue.startswith("evt--") and dead_letter_queue.endswith(DEAD_SUFFIX):
        return dead_letter_queue[:-len(DEAD_SUFFIX)]
    raise ValueError(f"{dead_letter_queue} is not a dead-letter queue; they are "
                     f"evt--<service>.<handler>{DEAD_SUFFIX} and {INGEST_DEAD_QUEUE}")


@dataclass
class Replayed:
    dead_letter_queue: str
    target: str
    moved: int
    remaining: int
    samples: list[dict]


def _depth(channel, queue: str) -> int:
    return channel.queue_declare(queue=queue, passive=True).message_count


def _describe(message) -> dict:
    headers = message.headers or {}
    deaths = headers.get("x-death") or [{}]
    try:
        body = json.loads(message.body)
    except ValueError:
        body = {}
    return {"id": message.properties.get("message_id") or (body.get("id") if isinstance(body, dict) else None),
            "type": body.get("type") if isinstance(body, dict) else None,
            "reason": deaths[0].get("reason"), "replays": headers.get("x-replayed", 0)}


def replay(connection: Connection, dead_letter_queue: str, limit: int | None = None,
           dry_run: bool = False) -> Replayed:
    """Move up to ``limit`` messages (all there were when it started, by default) from a
    dead-letter queue back to its queue."""
    target = target_of(dead_letter_queue)
    channel = connection.channel()
    try:
        _depth(channel, target)         # the queue is there (else the broker closes the channel)
        waiting = _depth(channel, dead_letter_queue)
        todo = waiting if limit is None else min(limit, waiting)
        moved, samples = 0, []
        # Taken one by one and not acknowledged until re-published; in a dry run, all are
        # returned to the queue when the channel closes.
        while moved < todo:
            message = channel.basic_get(dead_letter_queue, no_ack=False)
            if message is None:
                break
            samples.append(_describe(message))
            if not dry_run:
                old = message.properties
                headers = {k: v for k, v in (message.headers or {}).items() if not k.startswith("x-")}
                headers["x-replayed"] = int((message.headers or {}).get("x-replayed", 0)) + 1
                kept = {k: old[k] for k in ("message_id", "correlation_id", "timestamp", "type", "app_id") if k in old}
                msg = channel.prepare_message(message.body, content_type=old.get("content_type"),
                                              content_encoding=old.get("content_encoding"),
                                              headers=headers, properties={**kept, "delivery_mode": 2})
                # Returns once the broker confirmed it (and raises if it refused it).
                channel.basic_publish_confirm(msg, exchange="", routing_key=target, mandatory=True)
                channel.basic_ack(message.delivery_tag)
            moved += 1
        # The depth counts ready messages only: those of a dry run, taken and not acknowledged,
        # go back when the channel closes.
        remaining = _depth(channel, dead_letter_queue) + (moved if dry_run else 0)
        return Replayed(dead_letter_queue, target, 0 if dry_run else moved, remaining, samples)
    finally:
        channel.close()


def died_at(message) -> datetime | None:
    """When the broker dead-lettered the message (its newest x-death entry), in UTC."""
    deaths = (message.headers or {}).get("x-death") or []
    when = deaths[0].get("time") if deaths else None
    if isinstance(when, datetime):
        return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return None


def expire(connection: Connection, dead_letter_queue: str, before: datetime) -> int:
    """Delete the messages dead-lettered before ``before`` (a retention: a parked message holds
    what its event held, a rejected driver message a position). A dead-letter queue is in the
    order the messages died, so this stops at the first younger one; that one and the rest stay."""
    channel = connection.channel()
    dropped = 0
    try:
        while (message := channel.basic_get(dead_letter_queue, no_ack=False)) is not None:
            when = died_at(message)
            if when is None or when >= before:
                # Back where it was, now: a close would return it too, but only later.
                channel.basic_reject(message.delivery_tag, requeue=True)
                break
            channel.basic_ack(message.delivery_tag)
            dropped += 1
    finally:
        channel.close()
    return dropped


def summary(connection: Connection) -> dict[str, int | None]:
    """Each dead-letter queue's count; None for one not declared (run prepare)."""
    counts = {}
    for name in dead_letter_queues():
        channel = connection.channel()      # a passive declare of a missing queue closes it
        try:
            counts[name] = _depth(channel, name)
        except ChannelError:
            counts[name] = None
        finally:
            if channel.is_open:
                channel.close()
    return counts


def main(argv: list[str] | None = None) -> int:
    import warnings

    # Reading the handlers' queue names imports nameko, and eventlet announces its maintenance mode.
    warnings.filterwarnings("ignore", message=r"(?s).*Eventlet is deprecated")
    parser = argparse.ArgumentParser(description="List dead-lettered messages or send them back.")
    parser.add_argument("queue", nargs="?", help="a dead-letter queue (see the list without arguments)")
    parser.add_argument("--all", action="store_true", help="every dead-letter queue holding messages")
    parser.add_argument("--limit", type=int, help="at most this many messages per queue")
    parser.add_argument("--dry-run", action="store_true", help="show what would be replayed, move nothing")
    args = parser.parse_args(argv)
    if args.queue:
        try:
            target_of(args.queue)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 2
    with Connection(env("AMQP_URI"), connect_timeout=10) as connection:
        if not args.queue:
            counts = summary(connection)
            if not args.all:
                for name, count in counts.items():
                    print(f"{'missing' if count is None else count:>8}  {name}")
                return 0
        for name in [args.queue] if args.queue else [n for n, c in counts.items() if c]:
            done = replay(connection, name, args.limit, args.dry_run)
            for sample in done.samples:
                print(json.dumps({"queue": name, **sample}))
            verb = "would replay" if args.dry_run else "replayed"
            print(f"{name}: {verb} {len(done.samples)} to {done.target}, {done.remaining} left", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
