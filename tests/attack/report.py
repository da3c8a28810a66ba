"""What an attack suite prints: a line per case while it runs and one summary line with its
figures, which the package's conftest prints again after pytest's own last line (so a suite run
alone ends with its figure, and the whole run ends with every suite's)."""
from __future__ import annotations

from typing import Callable

REPORTS: list["Report"] = []


class Report:
    def __init__(self, title: str, summary: Callable[[], str]):
        self.title, self.summary = title, summary
        self.lines: list[str] = []
        REPORTS.append(self)

    def line(self, text: str) -> None:
        self.lines.append(text)
        print(text)

    @property
    def ran(self) -> bool:
        return bool(self.lines)
