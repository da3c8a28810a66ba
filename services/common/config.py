"""Configuration from environment variables only.

Every variable the platform reads is declared here, once, with its default and a sentence for
the README table (``python -m services.common.config`` prints that table). Nothing else in the
code reads ``os.environ`` for settings.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SERVICES = ("identity", "orders", "billing", "tracking", "notify")
# Processes that are not nameko services, run and supervised the same way: name -> module with main().
WORKERS = {"orders-imports": "services.orders.import_worker", "orders-mail-imports": "services.orders.mail_intake",
           "tracking-ingest": "services.tracking.ingest"}


@dataclass(frozen=True)
class Var:
    name: str
    default: str | None
    help: str


VARIABLES: tuple[Var, ...] = (
    Var("AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ; always real, never embedded."),
    Var("DATABASE_URL", None,
        "PostgreSQL server URL, e.g. `postgresql://127.0.0.1/portal`; each service gets its own "
        "database `<name>_<service>`. Unset: SQLite files under `VAR_DIR`."),
    Var("IDENTITY_DATABASE_URL", None, "Overrides the database of one service (likewise "
        "`ORDERS_`, `BILLING_`, `TRACKING_`, `NOTIFY_DATABASE_URL`)."),
    Var("VAR_DIR", str(ROOT / "var"), "Where embedded data lives: SQLite files, mail, blobs, logs."),
    Var("SECRET_KEY", "dev-only-secret-change-me",
        "Root secret; per-purpose keys (access tokens, caller context) are derived from it. "
        "Must be the same for the gateway and every service."),
    Var("SECRET_KEY_PREVIOUS", None,
        "Earlier SECRET_KEYs (comma-separated) still accepted while a new one rolls out: tokens, signed calls, "
        "links and sealed secrets made with them keep working; only SECRET_KEY signs (deploy/RUNBOOK.md)."),
    Var("PORTAL_ADMIN_EMAIL", "admin@example.com", "The operator admin bootstrapped on first start."),
    Var("PORTAL_ADMIN_PASSWORD", "admin-password", "Its password (set only when the user is created)."),
    Var("PORTAL_OPERATOR_NAME", "Demo Logistics", "The operator's name shown in the portal and emails."),
    Var("PORTAL_URL", "http://127.0.0.1:8000", "Where people reach the portal: the base of links in emails."),
    Var("PORTAL_TIMEZONE", "UTC", "IANA time zone in which emails and PDFs show times."),
    Var("SMTP_URL", None, "`smtp://[user:password@]host:port` (STARTTLS when offered; "
        "`?starttls=required` insists) or `smtps://...`. Unset: mail is kept as `.eml` files "
        "under `VAR_DIR/mail/`."),
    Var("SMTP_TIMEOUT", "10", "Timeout of each SMTP connection and command, seconds."),
    Var("SMTP_RETRIES", "3", "Attempts of `mail.send` through temporary SMTP failures (no connection, "
        "4xx), 0.5 s apart, doubling."),
    Var("MAIL_FROM", None, "Sender of every email. Unset: `PORTAL_OPERATOR_NAME <no-reply@portal.example>`."),
    Var("WEBHOOK_ALLOWED_NETWORKS", None, "Comma-separated CIDR networks webhooks may reach although they are "
        "not public (loopback, private, link-local), for a test set-up, e.g. `127.0.0.0/8`. Unset: public addresses only."),
    Var("WEBHOOK_ALLOW_HTTP", "0", "`1` lets webhook URLs use plain http (test set-ups); otherwise https only."),
    Var("WEBHOOK_TIMEOUT", "10", "Seconds a webhook delivery may take to connect, and for the whole answer."),
    Var("WEBHOOK_MAX_RESPONSE_BYTES", "65536", "Read at most this much of a webhook receiver's answer."),
    Var("NOTIFY_PUMP_SECONDS", "2", "How often notify looks for emails and webhook deliveries that are due "
        "(new ones leave at once; this paces retries and other instances' work)."),
    Var("NOTIFY_SEND_CONCURRENCY", "20", "Emails one notify process sends at the same time."),
    Var("ACCESS_TOKEN_TTL", "900", "Lifetime of an access token, seconds."),
    Var("LOGIN_THROTTLE_SECONDS", "900", "Window in which failed sign-ins are counted (5 per account, 20 per "
        "address), and the longest a block they cause lasts, seconds."),
    Var("SSO_PROVIDERS", None, 'OpenID Connect providers, JSON: `{"google": {"issuer": "https://accounts.google.com", '
        '"client_id": "...", "client_secret": "..."}}`. Unset: no SSO.'),
    Var("BROWSER_SESSION_MAX_SECONDS", "43200", "A browser session (the portal's cookie) is renewed while a tab is open, up to this long after signing in."),
    Var("MAP_TILE_URL", "", "Map tiles for the portal's maps ({z}/{x}/{y} template, e.g. an operator's own tile server); empty: markers and routes on a plain background."),
    Var("MAP_TILE_ATTRIBUTION", "", "The attribution the tile server's licence asks for."),
    Var("SESSION_RECHECK_SECONDS", "60", "How often the gateway asks identity whether a signed-in session still stands."),
    Var("RPC_TIMEOUT", "5", "Deadline of one RPC call from the gateway, seconds; sent with the call."),
    Var("SERVICE_MAX_WORKERS", "32", "Concurrent workers (greenthreads) per service process."),
    Var("DB_POOL_SIZE", "10", "SQLAlchemy pool size per service process (PostgreSQL)."),
    Var("DB_STATEMENT_TIMEOUT_MS", "15000", "PostgreSQL statement_timeout for service queries."),
    Var("OUTBOX_POLL_SECONDS", "1.0", "How often the outbox relay looks for rows it was not woken for."),
    Var("OUTBOX_KEEP_DAYS", "7", "Days a published event stays in its service's outbox table (to trace it), then deleted."),
    Var("INBOX_KEEP_DAYS", "30", "Days a consumer remembers an event it applied (redeliveries come within minutes)."),
    Var("IDEMPOTENCY_KEEP_HOURS", "72", "Hours the first answer to an `Idempotency-Key` is kept; the key then counts as new."),
    Var("EVENT_DELIVERY_LIMIT", "5", "Deliveries of an event before it is parked in its dead-letter queue."),
    Var("GATEWAY_BIND", "127.0.0.1:8000", "Where the gateway listens."),
    Var("GATEWAY_WORKERS", "3", "gunicorn worker processes of the gateway."),
    Var("GATEWAY_CONNECTIONS", "1000", "Connections each gateway worker (gevent) serves at once, live streams included."),
    Var("MAX_JSON_BYTES", str(1 << 20), "Largest JSON body accepted (413 above)."),
    Var("MAX_UPLOAD_BYTES", str(25 << 20), "Largest upload accepted (413 above)."),
    Var("BLOB_DIR", None, "Where documents and uploads are kept when no S3 bucket is set. Unset: `VAR_DIR/blobs`."),
    Var("BLOB_S3_BUCKET", None, "Keep documents and uploads in this S3 bucket instead (credentials: the usual `AWS_*` variables)."),
    Var("BLOB_S3_URL", None, "The endpoint of an S3-compatible store that is not AWS (MinIO, Ceph ...)."),
    Var("BLOB_S3_REGION", None, "The bucket's region."),
    Var("BLOB_S3_ADDRESSING", "auto", "`auto`, `path` or `virtual` bucket addressing."),
    Var("BLOB_S3_CONNECT_TIMEOUT", "5", "Timeout of connecting to the S3 endpoint, seconds."),
    Var("BLOB_S3_READ_TIMEOUT", "30", "Timeout of each S3 read, seconds."),
    Var("IMPORT_MAX_ROWS", "200000", "Most data rows one spreadsheet import takes (a larger file is refused with a clear error)."),
    Var("IMPORT_CHECK_PROCESSES", "1", "Processes that check import rows beside the import worker (0: in the worker itself)."),
    Var("IMPORT_POLL_SECONDS", "0.5", "How often an idle import worker looks for queued imports."),
    Var("IMPORT_PREVIEW_COUNT_ROWS", "10000", "An import preview counts the good and bad rows of the whole file up to this many rows (larger files: the rows shown only)."),
    Var("IMPORT_MAIL_DOMAIN", "imports.portal.example", "Domain of the customers' import-by-email addresses `import+<token>@<domain>` (its MX points at `orders-mail-imports`)."),
    Var("IMPORT_MAIL_BIND", "127.0.0.1:2525", "Where the import-by-email SMTP listener (`orders-mail-imports`) listens."),
    Var("ORDERS_RECURRING_SECONDS", "300", "How often the orders service books the days of recurring orders that are due."),
    Var("ORDERS_RECURRING_LEAD_HOURS", "24", "How far ahead of its start a recurring order's day is booked (as a draft or submitted)."),
    Var("TRACKING_RETENTION_DAYS", "30", "Days of position history kept; older positions are deleted."),
    Var("TRACKING_LINK_HOURS", "72", "Hours a tracking link keeps working after its order was delivered, failed or cancelled."),
    Var("TRACKING_ETA_THRESHOLD_SECONDS", "120", "An ETA that moves more than this (or a stop turning late) is announced with `stop.eta_changed`."),
    Var("TRACKING_ETA_MIN_INTERVAL_SECONDS", "60", "At most one `stop.eta_changed` per stop in this time (a stop turning late is announced at once)."),
    Var("TRACKING_SERVICE_MINUTES", "5", "Minutes a driver is expected to spend at each stop (ETAs)."),
    Var("TRACKING_DEFAULT_SPEED_KMH", "40", "A driver's speed for ETAs until its own speed is learned."),
    Var("TRACKING_ROAD_FACTOR", "1.3", "Road distance over great-circle distance (ETAs without a routing engine)."),
    Var("TRACKING_ROUTING", None, "`osrm:http://host:5000` to take travel times from an OSRM server; unset: great-circle with the road factor."),
    Var("TRACKING_MAX_SKEW_SECONDS", "120", "How far in the future a driver's timestamp may be (clock skew) before the message is refused."),
    Var("TRACKING_MAX_AGE_HOURS", "24", "How old a driver's timestamp may be (reports buffered offline) before the message is refused."),
    Var("TRACKING_CREDENTIAL_CACHE_SECONDS", "60", "How long the ingest worker trusts a driver credential identity confirmed (or refused)."),
    Var("TRACKING_INGEST_BATCH", "1000", "Most driver messages stored in one transaction."),
    Var("TRACKING_INGEST_WAIT_MS", "20", "How long a batch waits to fill before it is stored anyway (latency against transactions per second)."),
    Var("TRACKING_WATCH_SECONDS", "60", "How long an SSE stream's interest in an order lasts without renewal."),
    Var("BILLING_CURRENCY", "EUR", "Currency of customers' accounts, invoices and statements (ISO 4217)."),
    Var("BILLING_PAYMENT_TERMS_DAYS", "30", "Days from an invoice's date to its due date."),
    Var("BILLING_QUOTE_VALID_DAYS", "14", "Days a sent quote can be accepted, unless the operator sets another expiry."),
    Var("BILLING_AUTO_INVOICE", "delivered", "`delivered`: an order is invoiced at its price when it is delivered; `off`: the operator issues invoices."),
    Var("BILLING_PAYMENT_PROVIDER", "test", "Card processor adapter: `test` (test cards, no money moves) or `stripe`."),
    Var("STRIPE_API_KEY", None, "Secret key of the Stripe account (provider `stripe`)."),
    Var("STRIPE_WEBHOOK_SECRET", None, "Signing secret (`whsec_...`) of the Stripe webhook endpoint `/api/v1/payments/provider-events/stripe`."),
    Var("STRIPE_API_URL", "https://api.stripe.com", "Base URL of the Stripe API (provider `stripe`)."),
    Var("STRIPE_TIMEOUT", "10", "Timeout of each Stripe request, seconds (a timeout leaves the payment `processing` until reconciled)."),
    Var("BILLING_ACTION_TIMEOUT_SECONDS", "1800", "A card payment waiting for 3-D Secure this long is cancelled at the provider, so its amount is free to pay again."),
    Var("BILLING_RECONCILE_SECONDS", "30", "How often card payments whose answer was lost (timeouts) are checked with the provider."),
    Var("BILLING_DAILY_JOBS_SECONDS", "900", "How often overdue invoices are announced and expired quotes marked (each happens once)."),
    Var("BILLING_ISSUER_DETAILS", None, "The operator's address on invoices and statements, lines separated by `|`."),
    Var("BILLING_EMAIL", None, "The billing contact printed on invoices."),
    Var("BILLING_VAT_ID", None, "The operator's VAT / tax number printed on invoices."),
    Var("PORTAL_BRAND_COLOR", "#1f4e79", "The operator's colour on invoices and statements."),
    Var("STREAM_KEEPALIVE_SECONDS", "15", "Seconds between keep-alive comments on an idle SSE stream."),
    Var("ACCESS_LOG", "1", "`1`: the gateway logs every request (method, path, status, ms, request id)."),
    Var("METRICS_PORT", "0", "Port on which each process serves its Prometheus metrics (`/metrics`); 0: not served. "
        "One process per container or pod: the gateway's gunicorn master serves all its workers' figures."),
    Var("METRICS_BIND", "0.0.0.0", "Address the metrics port listens on."),
    Var("LOG_LEVEL", "INFO", "Log level of every process."),
    Var("LOG_FORMAT", "json", "`json` (one object a line, with correlation id) or `text`."),
)
_BY_NAME = {v.name: v for v in VARIABLES}


def env(name: str) -> str | None:
    """The value of a declared variable (its default when unset or empty)."""
    if name not in _BY_NAME and not name.endswith("_DATABASE_URL"):
        raise KeyError(f"{name} is not a declared setting; add it to VARIABLES")
    value = os.environ.get(name)
    if value:
        return value
    var = _BY_NAME.get(name)
    return var.default if var else None


def env_int(name: str) -> int:
    return int(env(name))


def env_float(name: str) -> float:
    return float(env(name))


def var_dir() -> Path:
    path = Path(env("VAR_DIR"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url(service: str) -> str:
    """The database of one service: its own override, else the shared server with a per-service
    database name, else an SQLite file under VAR_DIR."""
    own = os.environ.get(f"{service.upper()}_DATABASE_URL")
    if own:
        return own
    shared = env("DATABASE_URL")
    if shared:
        from sqlalchemy.engine import make_url

        url = make_url(shared)
        return url.set(database=f"{url.database or 'portal'}_{service}").render_as_string(
            hide_password=False)
    return f"sqlite:///{var_dir() / (service + '.db')}"


def readme_table() -> str:
    rows = ["| variable | default | what |", "|---|---|---|"]
    for v in VARIABLES:
        default = f"`{v.default}`" if v.default is not None else "unset"
        if v.name == "VAR_DIR":
            default = "`./var`"
        rows.append(f"| `{v.name}` | {default} | {v.help} |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(readme_table() + "\n")
