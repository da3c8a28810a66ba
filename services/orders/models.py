"""The orders service's tables: orders with their stops, items and status history; imports;
the address book; documents; conversations; dispatch (depots, routes, the drivers' copy); rental
contracts and call-offs; reschedule requests; and the copy of each customer's settings that the
order rules need (fed by identity's events, so this service never reads identity's tables)."""
from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from services.common.db import BigId, service_base, utcnow
from services.common.esign import SignatureColumns, StoredPdfColumns

Base = service_base()


def new_id() -> str:
    return str(uuid.uuid4())


class CustomerSettings(Base):
    __tablename__ = "customer_settings"

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    client_id: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool]
    require_dimensions: Mapped[bool]
    allow_order_upload: Mapped[bool]
    default_depot_id: Mapped[str | None] = mapped_column(String(36))
    sites: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)     # [{code, name}]
    approval_limit: Mapped[dict[str, Any] | None] = mapped_column(JSON)      # {amount, currency}
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Driver(Base):
    """Dispatch's copy of identity's drivers (``driver.*`` events)."""

    __tablename__ = "drivers"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(40))
    depot_id: Mapped[str | None] = mapped_column(String(36))
    is_active: Mapped[bool]


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("customer_id", "reference"),
        # The list screens: newest first per customer, optionally per status.
        Index("ix_orders_customer_created", "customer_id", "created_at", "id"),
        Index("ix_orders_customer_status_created", "customer_id", "status", "created_at", "id"),
        # Dispatch's unassigned list: submitted orders with no route.
        Index("ix_orders_status_route", "status", "route_id", "created_at"),
        Index("ix_orders_customer_window", "customer_id", "window_start"),
        # An import's page lists the drafts it made.
        Index("ix_orders_import", "import_id"),
        # CO2e per month of a customer (services.orders.emissions.monthly).
        Index("ix_orders_customer_emissions_on", "customer_id", "emissions_on"),
        # A user limited to some sites lists only their orders (services.orders.listing).
        Index("ix_orders_customer_site", "customer_id", "site"),
        # Text search: on PostgreSQL a trigram index answers LIKE '%text%' without reading
        # every row (the migration creates the pg_trgm extension); elsewhere a plain index.
        # Its pending list is 32 MB (4 MB by default): an import appends to it instead of
        # merging hundreds of trigrams per row into the index as it goes (1,280 -> 1,680 rows/s
        # here); autovacuum merges it afterwards, and searches read it until then.
        Index("ix_orders_search_trgm", "search_text", postgresql_using="gin",
              postgresql_ops={"search_text": "gin_trgm_ops"},
              postgresql_with={"gin_pending_list_limit": 32768}),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(36))
    reference: Mapped[str] = mapped_column(String(64))
    site: Mapped[str | None] = mapped_column(String(32))      # the customer's site / cost centre code
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    notes: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default="api")   # api | import | quote
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None]
    # Passenger and charter bookings.
    pickup_at: Mapped[datetime | None]
    passengers: Mapped[int | None]
    vehicle_type: Mapped[str | None] = mapped_column(String(64))
    # Rentals.
    rental_start: Mapped[date | None]
    rental_end: Mapped[date | None]
    # Dispatch.
    depot_id: Mapped[str | None] = mapped_column(String(36))
    route_id: Mapped[str | None] = mapped_column(ForeignKey("routes.id"))
    route_position: Mapped[int | None]
    # Where it came from: the import that made it (and the row's digest, so importing the same
    # file again changes nothing), or the accepted quote (one booking per quote).
    import_id: Mapped[str | None] = mapped_column(String(36))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    quote_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    # The price billing announced (``order.priced``: net, tax, total, lines) or the accepted
    # quote's total, as of ``priced_at`` (the event's time: an older event never overwrites it).
    price: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    priced_at: Mapped[datetime | None]
    # Denormalised for the list: one row read per line of the screen, and the text search
    # (reference, addresses, recipients) over a single lower-cased column with a trigram index.
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    window_start: Mapped[datetime | None]      # the last drop-off's, for sorting by due time
    search_text: Mapped[str] = mapped_column(Text, default="")
    # CO2e (services.orders.emissions): the figure, its inputs, and the day it counts in.
    co2e_kg: Mapped[Decimal | None] = mapped_column(Numeric(14, 3))
    emissions: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    emissions_on: Mapped[date | None]

    stops: Mapped[list["Stop"]] = relationship(order_by="Stop.position", cascade="all, delete-orphan",
                                               back_populates="order")
    items: Mapped[list["Item"]] = relationship(order_by="Item.position", cascade="all, delete-orphan")


class OrderCount(Base):
    """Orders per customer and status (services.orders.counts keeps it)."""

    __tablename__ = "order_counts"

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(default=0)


class Stop(Base):
    __tablename__ = "stops"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    type: Mapped[str] = mapped_column(String(16))              # pickup | dropoff
    address: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    lat: Mapped[float | None]
    lng: Mapped[float | None]
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]
    contact: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notes: Mapped[str | None] = mapped_column(Text)
    place_id: Mapped[str | None] = mapped_column(String(36))
    status: Mapped[str] = mapped_column(String(16), default="pending")   # pending|completed|failed
    completed_at: Mapped[datetime | None]
    failure_reason: Mapped[str | None] = mapped_column(Text)
    pod: Mapped[dict[str, Any] | None] = mapped_column(JSON)    # recipient name, comments
    # tracking's latest ETA (stop.eta_changed) and when tracking decided it (etas.py)
    eta: Mapped[datetime | None]
    eta_late: Mapped[bool | None]
    eta_at: Mapped[datetime | None]

    order: Mapped[Order] = relationship(back_populates="stops")


class Item(Base):
    __tablename__ = "items"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[int]
    weight_kg: Mapped[Decimal | None] = mapped_column(Numeric(12, 3))
    length_cm: Mapped[Decimal | None] = mapped_column(Numeric(10, 1))
    width_cm: Mapped[Decimal | None] = mapped_column(Numeric(10, 1))
    height_cm: Mapped[Decimal | None] = mapped_column(Numeric(10, 1))


class StatusChange(Base):
    __tablename__ = "status_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    by_user_id: Mapped[str | None] = mapped_column(String(36))
    by_role: Mapped[str] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(Text)


class Import(Base):
    """One uploaded spreadsheet and its progress. The worker keeps its place here
    (``processed_rows``) and holds a lease, so a crashed import resumes where it stopped."""

    __tablename__ = "imports"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    # None: an operator's import whose rows name their customers (the client_id column).
    customer_id: Mapped[str | None] = mapped_column(String(36), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")   # queued|running|done|failed
    filename: Mapped[str] = mapped_column(String(255))
    blob_key: Mapped[str] = mapped_column(String(255))
    size: Mapped[int]
    format: Mapped[str | None] = mapped_column(String(8))
    submit: Mapped[bool] = mapped_column(default=False)
    total_rows: Mapped[int | None]
    processed_rows: Mapped[int] = mapped_column(default=0)
    created: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    unchanged: Mapped[int] = mapped_column(default=0)
    error_count: Mapped[int] = mapped_column(default=0)
    failure: Mapped[str | None] = mapped_column(Text)
    unknown_headers: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_by_role: Mapped[str] = mapped_column(String(32))
    # The uploader's sites when it is limited to some: the worker books the rows as it would.
    created_by_sites: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    lease_until: Mapped[datetime | None] = mapped_column(index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    # The customer's column mapping it was read with (a copy: editing the mapping later does not
    # change a file already uploaded), where it came from (upload | email), and for a file sent
    # by email the sender, told the result (notify, import.finished).
    mapping: Mapped[dict[str, str] | None] = mapped_column(JSON)
    mapping_name: Mapped[str | None] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(8), default="upload", server_default="upload")
    reply_to: Mapped[str | None] = mapped_column(String(254))


class ImportMapping(Base):
    """A customer's named mapping of its own spreadsheet headers to the import's columns
    (``columns``: header as the file spells it -> canonical column name). One may be the
    default: the one e-mailed files are read with, and the first tried on an upload."""

    __tablename__ = "import_mappings"
    __table_args__ = (UniqueConstraint("customer_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    name: Mapped[str] = mapped_column(String(80))
    columns: Mapped[dict[str, str]] = mapped_column(JSON)
    is_default: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ImportAddress(Base):
    """A customer's import-by-email address ``import+<token>@IMPORT_MAIL_DOMAIN``; files sent
    there are imported as the user who last set the token (a customer admin)."""

    __tablename__ = "import_addresses"

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    owner_id: Mapped[str | None] = mapped_column(String(36))
    owner_role: Mapped[str] = mapped_column(String(32))
    rotated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ImportError_(Base):
    __tablename__ = "import_errors"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    import_id: Mapped[str] = mapped_column(ForeignKey("imports.id", ondelete="CASCADE"), index=True)
    row: Mapped[int]
    column: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)


class Place(Base):
    """A saved place of a customer's address book: a pickup site or a frequent recipient."""

    __tablename__ = "places"
    __table_args__ = (UniqueConstraint("customer_id", "name"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16), default="recipient")   # pickup | recipient
    address: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    lat: Mapped[float | None]
    lng: Mapped[float | None]
    contact: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(36))
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    stop_id: Mapped[str | None] = mapped_column(String(36))
    # document | bill_of_lading | label | photo | pod_photo | pod_signature
    kind: Mapped[str] = mapped_column(String(24))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int]
    sha256: Mapped[str | None] = mapped_column(String(64))
    blob_key: Mapped[str] = mapped_column(String(255))
    thumbnail_key: Mapped[str | None] = mapped_column(String(255))
    uploaded_by: Mapped[str | None] = mapped_column(String(36))
    uploaded_by_role: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Conversation(Base):
    """A thread between a customer's users and the operator's team: about one order
    (``order_id`` set, one per order) or a general support question (``subject``)."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    order_id: Mapped[str | None] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    subject: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(8), default="open")    # open | closed
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    message_count: Mapped[int] = mapped_column(default=0)


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"),
                                                 index=True)
    customer_id: Mapped[str] = mapped_column(String(36))
    author_id: Mapped[str | None] = mapped_column(String(36))
    author_role: Mapped[str] = mapped_column(String(32))
    author_side: Mapped[str] = mapped_column(String(8))      # customer | operator
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Depot(Base):
    __tablename__ = "depots"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    address: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    lat: Mapped[float | None]
    lng: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Route(Base):
    """A driver's run: the orders on it in order (``Order.route_position``)."""

    __tablename__ = "routes"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(120))
    day: Mapped[date]
    depot_id: Mapped[str | None] = mapped_column(ForeignKey("depots.id"))
    driver_id: Mapped[str | None] = mapped_column(ForeignKey("drivers.id"))
    vehicle_type: Mapped[str | None] = mapped_column(String(64))     # an EmissionFactor's key
    status: Mapped[str] = mapped_column(String(16), default="planned")   # planned|started|finished
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class EmissionFactor(Base):
    """The operator's emission intensity per vehicle type (services.orders.emissions): g CO2e
    well-to-wheel per tonne-km (``unit`` tkm) or per passenger-km (pkm), and the load assumed
    when an order's items have no weight. Seeded with GLEC defaults by migration 0010."""

    __tablename__ = "emission_factors"

    vehicle_type: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str] = mapped_column(String(120))
    intensity: Mapped[Decimal] = mapped_column(Numeric(10, 3))
    unit: Mapped[str] = mapped_column(String(8), default="tkm")
    default_load_kg: Mapped[Decimal | None] = mapped_column(Numeric(10, 1))
    source: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(36))


class RescheduleRequest(Base):
    __tablename__ = "reschedule_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    stop_id: Mapped[str | None] = mapped_column(String(36))
    # What is asked (services.orders.exceptions): window (the only kind before 0012) |
    # instructions | address; set with the exception it answers and who asked.
    kind: Mapped[str] = mapped_column(String(16), default="window")
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime | None]
    instructions: Mapped[str | None] = mapped_column(Text)
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    exception_id: Mapped[str | None] = mapped_column(String(36), index=True)
    requested_via: Mapped[str] = mapped_column(String(16), default="portal")   # portal | tracking_link
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="requested")  # requested|accepted|declined
    requested_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(36))
    reason: Mapped[str | None] = mapped_column(Text)


class DeliveryException(Base):
    """A stop that will be late (tracking's ETA past its window) or whose attempt failed: open
    until the stop is done or the operator answers a change asked for it
    (services.orders.exceptions)."""

    __tablename__ = "delivery_exceptions"
    __table_args__ = (Index("ix_delivery_exceptions_customer_status", "customer_id", "status", "created_at"),
                      Index("ix_delivery_exceptions_stop_status", "stop_id", "status"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(36))
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    stop_id: Mapped[str] = mapped_column(String(36))
    kind: Mapped[str] = mapped_column(String(16))                        # late | failed_attempt
    status: Mapped[str] = mapped_column(String(16), default="open")      # open | resolved
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]


class RentalContract(Base):
    __tablename__ = "rental_contracts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)
    order_id: Mapped[str | None] = mapped_column(String(36), unique=True)
    site: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default="active")    # active | closed
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    items: Mapped[list["RentalItem"]] = relationship(order_by="RentalItem.position",
                                                     cascade="all, delete-orphan")


class RentalItem(Base):
    __tablename__ = "rental_items"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    contract_id: Mapped[str] = mapped_column(ForeignKey("rental_contracts.id", ondelete="CASCADE"),
                                             index=True)
    position: Mapped[int]
    item: Mapped[str] = mapped_column(String(64))          # the operator's item or fleet code
    description: Mapped[str] = mapped_column(String(500))
    quantity_out: Mapped[int]
    since: Mapped[date]


class CallOff(Base):
    """A customer's request to take rented items off rent (to be collected)."""

    __tablename__ = "call_offs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("rental_contracts.id", ondelete="CASCADE"),
                                             index=True)
    # [{rental_item_id, quantity}]
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    off_on: Mapped[date]
    contact: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="requested")  # requested|confirmed|declined
    requested_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(36))
    reason: Mapped[str | None] = mapped_column(Text)


class ListView(Base):
    """A user's choice of columns, sort and page size on the orders list."""

    __tablename__ = "list_views"

    customer_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    columns: Mapped[list[str]] = mapped_column(JSON)
    sort: Mapped[str | None] = mapped_column(String(32))
    per_page: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RecurringOrder(Base):
    """A customer's schedule that books an order again and again (services.orders.recurring):
    the order's content, the days it repeats on, and the next day not yet booked."""

    __tablename__ = "recurring_orders"
    __table_args__ = (Index("ix_recurring_orders_due", "paused", "next_on"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    name: Mapped[str] = mapped_column(String(120))
    order_id: Mapped[str | None] = mapped_column(String(36))     # the order it was saved from
    content: Mapped[dict[str, Any]] = mapped_column(JSON)        # an OrderIn payload, as of starts_on
    frequency: Mapped[str] = mapped_column(String(16))           # weekdays | weekly | every_n_days
    weekdays: Mapped[list[int]] = mapped_column(JSON, default=list)   # 0 = Monday (weekly)
    interval_days: Mapped[int | None]
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]
    time_of_day: Mapped[str] = mapped_column(String(5))          # HH:MM in PORTAL_TIMEZONE
    submit: Mapped[bool] = mapped_column(default=False)
    paused: Mapped[bool] = mapped_column(default=False)
    next_on: Mapped[date | None]                                 # None: the schedule has ended
    last_error: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str | None] = mapped_column(String(36))
    # Its orders count as the creator's for the approval limit (approval.py); None: saved before.
    created_by_role: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class RecurringRun(Base):
    """One day of a schedule, booked once: the unique key makes a second run (another instance,
    a retried timer) create nothing."""

    __tablename__ = "recurring_runs"
    __table_args__ = (UniqueConstraint("recurring_id", "on"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    recurring_id: Mapped[str] = mapped_column(ForeignKey("recurring_orders.id", ondelete="CASCADE"))
    on: Mapped[date]
    order_id: Mapped[str | None] = mapped_column(String(36))
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RentalDocument(StoredPdfColumns, Base):
    """The contract PDF the operator attached to a rental contract (the file in the blob store),
    one row per attachment: the newest ``version`` is the one to sign (services/orders/rental_signing.py)."""

    __tablename__ = "rental_documents"
    __table_args__ = (UniqueConstraint("contract_id", "version"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    contract_id: Mapped[str] = mapped_column(ForeignKey("rental_contracts.id", ondelete="CASCADE"))
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
    version: Mapped[int]
    attached_at: Mapped[datetime] = mapped_column(default=utcnow)
    attached_by: Mapped[str | None] = mapped_column(String(36))


class RentalSignature(SignatureColumns, Base):
    """The customer's signature of one attached contract document: the typed name, the drawn
    signature (PNG), who, when, from where (coarse) and the hash of the document signed."""

    __tablename__ = "rental_signatures"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    document_id: Mapped[str] = mapped_column(ForeignKey("rental_documents.id", ondelete="CASCADE"), unique=True)
    contract_id: Mapped[str] = mapped_column(ForeignKey("rental_contracts.id", ondelete="CASCADE"), index=True)
    customer_id: Mapped[str] = mapped_column(String(36), index=True)
