"""The authorization table (tests/attack/authorization_matrix.csv): reading it, comparing it with
what the code offers, and writing a recorded version for review.

CSV because it is one line per route or method (a new route is a one-line diff), opens in any
spreadsheet, and needs no parser beyond the standard library. Lines starting with ``#`` are the
table's own documentation (what each answer means) and are kept when it is rewritten.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from tests.attack.authz_callers import ROLES

TABLE = Path(__file__).with_name("authorization_matrix.csv")
COLUMNS = ("kind", "target", *ROLES, "note")
ANSWERS = {"route": {"allow", "401", "403"}, "rpc": {"allow", "422", "401", "403"}}


def read(path: Path = TABLE) -> tuple[list[str], dict[tuple[str, str], dict]]:
    """(the documentation lines, {(kind, target): row})"""
    text = path.read_text()
    doc = [line for line in text.splitlines() if line.startswith("#")]
    rows = {}
    for row in csv.DictReader(line for line in text.splitlines() if line and not line.startswith("#")):
        key = (row["kind"], row["target"])
        assert key not in rows, f"the table names {key} twice"
        rows[key] = row
    return doc, rows


def invalid_cells(rows: dict) -> list[str]:
    return [f"{key[1]} {role}: {row[role]!r}" for key, row in sorted(rows.items()) for role in ROLES
            if row[role] not in ANSWERS[key[0]]]


def write(doc: list[str], rows: dict[tuple[str, str], dict], path: Path = TABLE) -> None:
    out = io.StringIO()
    out.write("\n".join(doc) + "\n")
    writer = csv.DictWriter(out, COLUMNS, lineterminator="\n")
    writer.writeheader()
    for key in sorted(rows):
        writer.writerow({c: rows[key].get(c, "") for c in COLUMNS})
    path.write_text(out.getvalue())


def drift(rows: dict, keys_in_code: set[tuple[str, str]]) -> tuple[list, list]:
    """(in the code but not in the table, in the table but gone from the code)"""
    return sorted(keys_in_code - set(rows)), sorted(set(rows) - keys_in_code)
