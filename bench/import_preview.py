"""Import preview time (issue 11): how long `POST /imports/preview` works on a 10,000-row file.

    python -m bench.import_preview [--rows 10000] [--formats csv,xlsx] [--repeat 3]

The file (bench/orders.py's generator, its headers renamed to a customer's own and read through a
saved mapping) goes through the preview's own code, ``imports._inspect``: the upload checks
(format, zip and XML scans for XLSX, the header with the mapping, the row estimate), the first
20 rows checked and shown, and the good and bad rows of the whole file counted (the file is within
IMPORT_PREVIEW_COUNT_ROWS), all the CPU work of the RPC; the RPC adds one row's insert and the
upload's copy to the blob store. Also printed: the same without the whole-file count (a file above
IMPORT_PREVIEW_COUNT_ROWS shows its first rows only). Best of ``--repeat`` runs; no broker or
database needed. Printed, never asserted."""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

OWN = {"Beleg": "ID", "Lieferadresse": "Address Line 1", "Ort": "City", "PLZ": "Zip"}   # the customer's headers


def _write(fmt: str, path: Path, rows: int) -> None:
    from bench.orders import write_csv, write_xlsx

    (write_csv if fmt == "csv" else write_xlsx)(path, rows)
    if fmt == "csv":   # the customer's own headers, read through a mapping
        text = path.read_text(encoding="utf-8").split("\n", 1)
        header = text[0]
        for own, standard in OWN.items():
            header = header.replace(standard, own, 1)
        path.write_text(header + "\n" + text[1], encoding="utf-8")


def _mapping(fmt: str) -> list[dict]:
    from services.orders.spreadsheet import match_header

    return [{own: match_header(standard) for own, standard in OWN.items()}] if fmt == "csv" else []


def measure(fmt: str, rows: int, repeat: int, count_limit: int) -> tuple[float, dict]:
    os.environ["IMPORT_PREVIEW_COUNT_ROWS"] = str(count_limit)
    from services.common.blobs import blob_store
    from services.orders import imports

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, f"orders.{fmt}")
        _write(fmt, path, rows)
        stored = blob_store().put_bytes(path.read_bytes(), prefix="bench")
        best, found = float("inf"), {}
        for _ in range(repeat):
            start = time.perf_counter()
            found = imports._inspect(stored.key, path.name, _mapping(fmt), False, 20)
            best = min(best, time.perf_counter() - start)
        blob_store().delete(stored.key)
    return best, found["preview"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--formats", default="csv,xlsx")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("VAR_DIR", tempfile.mkdtemp(prefix="bench-preview-"))
    for fmt in args.formats.split(","):
        whole, shown = measure(fmt, args.rows, args.repeat, count_limit=args.rows)
        first, _ = measure(fmt, args.rows, args.repeat, count_limit=0)
        assert shown["whole_file"], "the whole file should have been counted"
        print(f"import preview  {fmt:4}  {args.rows:,} rows: {whole:.3f} s with the whole file counted "
              f"({shown['good_rows']:,} good, {shown['bad_rows']:,} bad), {first:.3f} s for the first "
              f"{len(shown['rows'])} rows only", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
