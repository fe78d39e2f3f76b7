"""What every scenario shares: the bench database, the demo data it uses, timing, and the
rows of the report (a figure, and its ratio to baselines measured in the same run)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from django.test import Client

SERVER_DSN = "postgresql://postgres@127.0.0.1:5432"
BENCH_DATABASE = os.environ.get("HASHFED_BENCH_DATABASE", "hashfed_bench")
BENCH_DSN = f"{SERVER_DSN}/{BENCH_DATABASE}"
HUB_ORIGIN = "hub.bench"
# The demo bank and label every generated submission and signal uses. TVEC names no
# contributors in its feed, so its log entries need no lookup of who supports a signal.
BANK = "TVEC"
LABEL = "tvec-glorification"
# The format entry_material gives `at` and members give `created_at`.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

T = TypeVar("T")


class BenchError(RuntimeError):
    """The hub answered something other than what the scenario expects: the figure would be
    meaningless, so the run stops."""


@dataclass
class Row:
    """One line of the report. `name` is how other rows refer to it as their baseline."""

    scenario: str
    name: str
    n: int
    seconds: float
    unit: str
    baseline: bool = False
    p50_seconds: float | None = None
    # Baseline name → this row's rate divided by the baseline's (above 1: faster).
    ratios: dict[str, float] = field(default_factory=dict)
    note: str = ""

    @property
    def rate(self) -> float:
        return self.n / self.seconds if self.seconds else float("inf")

    def compared_with(self, *baselines: Row) -> Row:
        for baseline in baselines:
            self.ratios[baseline.name] = self.rate / baseline.rate
        return self

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rate": self.rate}


def timed(call: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def rotated(steps: list[T], turn: int) -> list[T]:
    """The steps in a rotating order. Scenarios and their baselines are measured in turn,
    one slice each, so that a burst of load elsewhere on the machine slows them alike and no
    step always runs just after the same neighbour."""
    turn %= len(steps)
    return steps[turn:] + steps[:turn]


def api_client(api_key: str) -> Client:
    """The full Django request stack (middleware, routing, API key authentication, parsing,
    the view, rendering) in this process: no socket, no WSGI server in front."""
    from django.test import Client

    return Client(HTTP_HOST=HUB_ORIGIN, headers={"authorization": f"Bearer {api_key}"})


def format_table(rows: list[Row]) -> str:
    header = ("scenario", "N", "seconds", "rate", "p50/batch", "ratio vs baseline")
    lines = [header]
    for row in rows:
        ratio = "(baseline)" if row.baseline else ""
        if row.ratios:
            ratio = "; ".join(f"{value:.2f}× {name}" for name, value in row.ratios.items())
        lines.append(
            (
                row.scenario,
                f"{row.n:,}",
                f"{row.seconds:.2f}",
                f"{row.rate:,.0f} {row.unit}",
                "" if row.p50_seconds is None else f"{row.p50_seconds:.3f} s",
                ratio,
            )
        )
    widths = [max(len(line[column]) for line in lines) for column in range(len(header) - 1)]
    table = [
        "  ".join(
            [
                line[0].ljust(widths[0]),
                *(cell.rjust(width) for cell, width in zip(line[1:-1], widths[1:], strict=True)),
                line[-1],
            ]
        ).rstrip()
        for line in lines
    ]
    notes = [f"- {row.scenario}: {row.note}" for row in rows if row.note]
    return "\n".join(table + (["", *notes] if notes else []))
