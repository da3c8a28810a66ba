"""The preview of an import: the first rows of the file read with the customer's mapping, each
cell's problem marked by the very checks the import applies (``imports.check_rows``: the API's
order schema; a reference given twice in the file), and the good and bad rows of the whole file
when it is small enough to check within a request (``IMPORT_PREVIEW_COUNT_ROWS``). Pure CPU work
on an open ``Spreadsheet``: no database (it runs in a thread, off the service's hub)."""
from __future__ import annotations

from services.orders.spreadsheet import Row, Spreadsheet

CHECK_BATCH = 500


def sample(sheet: Spreadsheet, shown: int, count_limit: int, row_check=None) -> dict:
    """``row_check(data)``: a problem the schema cannot see (imports.site_check), or None."""
    from services.orders.imports import check_rows   # imports uses this module

    # Rows to check: the whole file up to count_limit; only the rows shown when the file says it
    # is larger (an XLSX without a row count is checked up to the limit).
    larger = sheet.estimated_rows is not None and sheet.estimated_rows > count_limit
    budget = shown if larger else max(shown, count_limit)
    out = {"rows": [], "good_rows": 0, "bad_rows": 0, "checked_rows": 0}
    seen: set[str] = set()

    def check(batch: list[Row]) -> None:
        for row, (data, errors, _digest, columns) in zip(batch, check_rows(batch)):
            errors = list(errors)
            if data is not None:
                if data["reference"] in seen:
                    errors.append((columns.get("reference"),
                                   f"The id {data['reference']!r} appears more than once in this file."))
                seen.add(data["reference"])
                problem = row_check(data) if row_check else None
                if problem:
                    errors.append((columns.get("site"), problem))
            out["good_rows" if not errors else "bad_rows"] += 1
            out["checked_rows"] += 1
            if len(out["rows"]) < shown:
                out["rows"].append({"row": row.number, "values": row.values,
                                    "errors": [{"row": row.number, "column": c, "message": m}
                                               for c, m in errors]})

    batch: list[Row] = []
    read, more = 0, False
    for row in sheet:
        if read == budget:
            more = True
            break
        read += 1
        batch.append(row)
        if len(batch) == CHECK_BATCH:
            check(batch)
            batch = []
    if batch:
        check(batch)
    out["whole_file"] = not more
    return out
