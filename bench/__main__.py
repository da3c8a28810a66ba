"""Every figure of bench/ in one run, as a table beside its baselines, then the capacity model.

    python -m bench [--quick] [--only gateway,billing] [--base-url URL] [--out bench/results]

Writes OUT/latest.md and OUT/latest.json (and a dated copy of each); prints the markdown table
last, then what one machine holds (bench/capacity.py). Figures are printed, never asserted.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import capacity, suite, table
from bench.run import default_base_url
from services.common.config import env

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run of a few minutes")
    parser.add_argument("--only", help="comma-separated benches: " + ",".join(b.name for b in suite.BENCHES))
    parser.add_argument("--base-url", default=default_base_url(), help="the running stack (loopback only)")
    parser.add_argument("--email", default=env("PORTAL_ADMIN_EMAIL"))
    parser.add_argument("--password", default=env("PORTAL_ADMIN_PASSWORD"))
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the tables are written")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else None
    unknown = (only or set()) - {b.name for b in suite.BENCHES}
    if unknown:
        parser.error(f"no such bench: {', '.join(sorted(unknown))}")

    stack = suite.find_stack(args.base_url, args.email, args.password)
    if stack.down:
        print(f"bench: THE RUNNING STACK IS NOT UP: {stack.down}\n"
              "       the gateway and orders-list benches are skipped (their rows show as missing); "
              "the others run. Start it with bin/portal up.", flush=True)
    rows, meta = suite.run("quick" if args.quick else "full", stack, only)
    doc = table.document(rows, meta)
    state = "up" if not stack.down else "NOT UP"
    text = (f"Benchmarks, {meta['profile']} run of {meta['started']} to {meta['finished']} on {meta['cpus']} CPUs "
            f"(running stack at {meta['base_url']}: {state})\n\n" + table.markdown(rows))
    written = table.write(doc, text, args.out)
    print("\nwritten: " + ", ".join(str(p) for p in written))
    print("\n" + text, flush=True)
    print("\n" + capacity.report(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
