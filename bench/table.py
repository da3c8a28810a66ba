"""The results table: one row per figure, beside its baseline, with the ratio and the goal.

A row's baseline is what the figure is compared to in the same run (the naive gateway, the bare
broker rate, the bare SQL fetch) or, where the issue names only a number, that goal itself. A
figure that was not measured stays None and shows as "missing" with the reason, never as 0: a 0
would read as a measured (and terrible) result.
"""
from __future__ import annotations

import json
import operator
from dataclasses import asdict, dataclass, field
from pathlib import Path

OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}
MISSING = "missing"


@dataclass(frozen=True)
class Goal:
    """What the issue asks of a row: ``value`` (the figure) or ``ratio`` (figure / baseline)
    compared with ``target``."""
    op: str
    target: float
    on: str = "value"

    def met(self, value: float | None, ratio: float | None) -> bool | None:
        measured = value if self.on == "value" else ratio
        return None if measured is None else OPS[self.op](measured, self.target)

    def text(self, unit: str) -> str:
        return f"ratio {self.op} {self.target:g}" if self.on == "ratio" else f"{self.op} {self.target:g} {unit}"


@dataclass
class Row:
    key: str                    # stable name the capacity model reads, e.g. "gateway.me.rps"
    name: str                   # what a reader sees
    value: float | None
    unit: str
    where: str = "running stack"            # or "own platform", "PostgreSQL only"
    baseline: str = ""                      # what the value is compared to
    baseline_value: float | None = None
    goals: list[Goal] = field(default_factory=list)
    flaw: str = ""              # e.g. "non-2xx 7": the figure is not the route's; no goal is met
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline_value:
            return None
        return self.value / self.baseline_value

    @property
    def met(self) -> bool | None:
        """True/False where a goal exists and the figure was measured; None otherwise."""
        if not self.goals or self.value is None:
            return None
        return not self.flaw and all(goal.met(self.value, self.ratio) for goal in self.goals)

    def verdict(self) -> str:
        if not self.goals:
            return ""
        if self.value is None:
            return MISSING
        return "MET" if self.met else "NOT MET"

    def as_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio, "met": self.met, "verdict": self.verdict()}

    @classmethod
    def from_dict(cls, data: dict) -> "Row":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["goals"] = [Goal(**g) for g in known.get("goals", [])]
        return cls(**known)


def missing(key: str, name: str, unit: str, why: str, **kw) -> Row:
    """A row for a figure the run could not measure, saying why."""
    return Row(key, name, None, unit, note=why, **kw)


def number(value: float | None) -> str:
    """Figures to three significant digits or so, with thousands separators; None as missing."""
    if value is None:
        return MISSING
    if value == int(value) and abs(value) < 1e15:      # counts (lost, streams) as whole numbers
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def markdown(rows: list[Row]) -> str:
    lines = ["| figure | value | unit | baseline | baseline value | ratio | goal | verdict | where | note |",
             "|---|---:|---|---|---:|---:|---|---|---|---|"]
    for r in rows:
        goal = " and ".join(g.text(r.unit) for g in r.goals)
        note = "; ".join(part for part in (r.flaw and f"FLAWED: {r.flaw}", r.note) if part)
        ratio = "" if not r.baseline else (f"{r.ratio:.2f}x" if r.ratio is not None else MISSING)
        base_value = number(r.baseline_value) if r.baseline else ""
        lines.append(f"| {r.name} | {number(r.value)} | {r.unit} | {r.baseline} | {base_value} | {ratio} | "
                     f"{goal} | {r.verdict()} | {r.where} | {note} |")
    return "\n".join(lines)


def document(rows: list[Row], meta: dict) -> dict:
    """What the JSON file holds: the run's facts and every row (the capacity model's input)."""
    return {**meta, "rows": [r.as_dict() for r in rows]}


def rows_of(doc: dict) -> list[Row]:
    return [Row.from_dict(r) for r in doc["rows"]]


def values(doc: dict) -> dict[str, float | None]:
    """key -> value of every row of a run's JSON."""
    return {r["key"]: r["value"] for r in doc["rows"]}


def write(doc: dict, text: str, folder: Path) -> list[Path]:
    """latest.md / latest.json, and a dated copy of each so earlier runs stay comparable."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = doc["started"].replace(":", "").replace("-", "")[:15]        # 20261204T192500
    written = []
    for name in ("latest", f"run-{stamp}"):
        (folder / f"{name}.md").write_text(text + "\n")
        (folder / f"{name}.json").write_text(json.dumps(doc, indent=2, default=str) + "\n")
        written += [folder / f"{name}.md", folder / f"{name}.json"]
    return written
