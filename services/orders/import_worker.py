"""The import worker: a process of its own (``python -m services.common.run orders-imports``)
that turns queued spreadsheets into orders, batch by batch.

Why not a nameko entrypoint: reading and validating 100,000 rows is minutes of CPU work, which
would block the service's eventlet hub and with it the AMQP heartbeats (PITFALLS 10), and a
message unacked that long gets its channel closed. Here the state lives in the database: a job
is claimed with a lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several workers share the
queue), each batch of orders commits together with ``processed_rows``, and a job whose lease
ran out (its worker died) is picked up again and resumes after the last committed batch. The
events of each batch go out through the same outbox relay the service uses."""
from __future__ import annotations

import logging
import time

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import sessionmaker

from services.common import metrics
from services.common.blobs import blob_store
from services.common.config import database_url, env_float, env_int
from services.common.db import UnitOfWork, make_engine, utcnow
from services.common.errors import PortalError
from services.common.worker import PlainWorker, serve
from services.common.caller import SERVICE, CallerContext
from services.orders import approval, imports, spreadsheet
from services.orders.models import Base, Import

log = logging.getLogger("orders.imports")

BATCH_ROWS = 500
LEASE_SECONDS = 120
MAX_ATTEMPTS = 3
PREVIEW_SWEEP_SECONDS = 600


class Worker(PlainWorker):
    def __init__(self, url: str | None = None, checkers: int | None = None):
        super().__init__()
        self.engine = make_engine(url or database_url("orders"))
        self.factory = sessionmaker(self.engine, expire_on_commit=False)
        # Row checks (mapping + marshmallow) run in a process of their own while this one
        # writes the previous batch: on two cores that overlaps a third of the work.
        self.checkers = env_int("IMPORT_CHECK_PROCESSES") if checkers is None else checkers
        self.pool = None
        self.rpc = None

    def pricer(self, customer_id: str, order: dict) -> dict | None:
        """Billing's price of a row submitted by a booker or an API key, for the customer's
        approval limit (approval.py). This process is no nameko service, so it asks with the
        standalone client the gateway uses, as the platform itself (role ``service``); made on
        first use, as only customers with a limit need it."""
        from gateway.rpc import RpcClient

        if self.rpc is None:
            self.rpc = RpcClient()
        return approval.billing_pricer(lambda method, payload: self.rpc.call(
            "billing", method, payload, caller=CallerContext(role=SERVICE),
            timeout=approval.PRICE_TIMEOUT))(customer_id, order)

    def unit(self) -> UnitOfWork:
        # No relay here: the events of each batch wait in the outbox for the orders service's
        # relay (within OUTBOX_POLL_SECONDS), which runs in its own process, in parallel with
        # the next batch, instead of holding this one up (~0.2 ms an event).
        return UnitOfWork(self.factory, Base)

    # --- claiming ----------------------------------------------------------------------------
    def claim(self) -> tuple[str, int] | None:
        """The oldest queued job, or a running one whose worker stopped renewing its lease."""
        unit = self.unit()
        try:
            query = (select(Import).where(or_(Import.status == "queued", and_(
                Import.status == "running", Import.lease_until < utcnow())))
                .order_by(Import.created_at).limit(1))
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            job = unit.session.scalar(query)
            if job is None:
                unit.rollback()
                return None
            job.attempts += 1
            if job.attempts > MAX_ATTEMPTS:
                imports.finish(unit, job, f"The import stopped {MAX_ATTEMPTS} times at row "
                                          f"{job.processed_rows}; it was given up.")
                unit.commit()
                return None
            job.status, job.started_at = "running", job.started_at or utcnow()
            imports.lease(job, LEASE_SECONDS)
            unit.commit()
            return job.id, job.attempts
        finally:
            unit.close()

    # --- running -----------------------------------------------------------------------------
    def _pool(self):
        if self.checkers and self.pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(self.checkers, mp_context=multiprocessing.get_context("fork"))
        return self.pool

    def run_job(self, job_id: str, attempt: int) -> None:
        unit = self.unit()
        job = unit.session.get(Import, job_id)
        skip, filename, key = job.processed_rows, job.filename, job.blob_key
        mappings = [job.mapping] if job.mapping else []
        unit.close()
        limit = env_int("IMPORT_MAX_ROWS")
        pool = self._pool()
        pending = None      # (rows, their checks, rows read so far): written once the next is sent

        def write(last: bool = False) -> bool:
            rows, checked, read_so_far = pending
            checks = checked.result() if pool else checked
            return self.commit_batch(job_id, attempt, rows, read_so_far, last=last, checked=checks)

        def advance(batch: list, read_so_far: int) -> bool:
            """Send ``batch`` to be checked, then write the one before it meanwhile."""
            nonlocal pending
            checked = pool.submit(imports.check_rows, batch) if pool else imports.check_rows(batch)
            if pending and not write():
                return False
            pending = (batch, checked, read_so_far)
            return True

        try:
            with blob_store().local_path(key) as path, spreadsheet.open_spreadsheet(
                    path, filename, mappings=mappings) as sheet:
                read, batch = 0, []
                for row in sheet:
                    read += 1
                    if read <= skip:
                        continue
                    if read > limit:
                        if pending and not write():
                            return
                        return self.fail(job_id, f"The file has more than {limit:,} rows; the first "
                                                 f"{limit:,} were imported. Split the rest into another file.")
                    batch.append(row)
                    if len(batch) == BATCH_ROWS:
                        if not advance(batch, read):
                            return
                        batch = []
                        if self.stopping:
                            return self.release(job_id) if write() else None
                if (batch or not pending) and not advance(batch, read):
                    return
                write(last=True)
        except PortalError as exc:
            if approval.prices_unavailable(exc):
                # Billing away is passing, not the file's fault: the batch was rolled back and the
                # job is tried again when its lease runs out (MAX_ATTEMPTS), not failed at once.
                log.warning("import %s: prices cannot be checked (%s); it will be retried", job_id, exc.message)
                raise
            self.fail(job_id, exc.message)
        except Exception:
            log.exception("import %s failed on attempt %s; it will be retried", job_id, attempt)
            raise

    def commit_batch(self, job_id: str, attempt: int, rows: list, read: int, last: bool = False,
                     checked: list | None = None) -> bool:
        """Apply one batch and record the progress in the same transaction. False when the job
        is no longer ours (its lease ran out and another worker took it over)."""
        unit = self.unit()
        try:
            job = unit.session.get(Import, job_id, with_for_update=True)
            if job.status != "running" or job.attempts != attempt:
                log.warning("import %s was taken over by another worker; stopping", job_id)
                unit.rollback()
                return False
            batch = imports.Batch(unit, job, imports.acting_as(job), self.pricer)
            batch.run(rows, checked)
            batch.record(read)
            imports.lease(job, LEASE_SECONDS)
            if last:
                imports.finish(unit, job)
            unit.commit()
            metrics.IMPORT_ROWS.labels("order").inc(batch.created + batch.updated + batch.unchanged)
            metrics.IMPORT_ROWS.labels("error").inc(len({row for row, _, _ in batch.errors}))
            self.beat()
            return True
        except Exception:
            unit.rollback()
            raise
        finally:
            unit.close()

    def release(self, job_id: str) -> None:
        """Shutting down mid-file: put the job back so the next worker resumes it at once."""
        unit = self.unit()
        try:
            job = unit.session.get(Import, job_id, with_for_update=True)
            if job.status == "running":
                job.status, job.lease_until, job.attempts = "queued", None, job.attempts - 1
            unit.commit()
        finally:
            unit.close()

    def fail(self, job_id: str, message: str) -> None:
        unit = self.unit()
        try:
            job = unit.session.get(Import, job_id, with_for_update=True)
            imports.finish(unit, job, message)
            unit.commit()
        finally:
            unit.close()

    def run_once(self) -> bool:
        claimed = self.claim()
        if claimed is None:
            return False
        try:
            self.run_job(*claimed)
        except Exception:
            pass   # logged; the lease runs out and the job is tried again (MAX_ATTEMPTS)
        return True

    def expire_previews(self) -> int:
        """Previews never confirmed: their rows and files go after a day (imports.PREVIEW_KEEP)."""
        unit = self.unit()
        try:
            keys = imports.expired_previews(unit.session)
            unit.commit()
        finally:
            unit.close()
        for key in keys:
            blob_store().delete(key)
        return len(keys)

    def run_forever(self) -> None:
        poll = env_float("IMPORT_POLL_SECONDS")
        tidied = 0.0
        while not self.stopping:
            self.beat()
            try:
                if time.monotonic() - tidied > PREVIEW_SWEEP_SECONDS:
                    tidied = time.monotonic()
                    self.expire_previews()
                if not self.run_once():
                    time.sleep(poll)
            except Exception:
                log.exception("import worker loop failed; retrying")
                time.sleep(poll * 4)
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
        if self.rpc is not None:
            self.rpc.close()
        self.engine.dispose()


def main() -> None:
    serve("orders-imports", Worker)

if __name__ == "__main__":
    main()
