"""Seat faults: turns a live seat's server failed to answer (refused, timed out, an HTTP
error), named by a Decision error that starts with FAULT_PREFIX. A fault is a held turn,
not the model's behaviour; runs count them per seat (SeatMeter, tally_faults) and exit 1
when a seat faults too often (too_many_faults). Parse errors are behaviour, not faults."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from glade.seats import Decision

FAULT_PREFIX = "server_"  # a Decision whose error starts with this is a fault: the seat failed to answer


def is_fault(error: str | None) -> bool:
    """Whether a decision's error is a seat fault (refused, timeout, HTTP error ...), not a parse error."""
    return isinstance(error, str) and error.startswith(FAULT_PREFIX)  # a table's missing error may read NaN


@dataclass
class SeatMeter:
    """One seat label's tally over a run: its decisions, its faults by kind, its tokens and
    the model seconds spent on it (its share of each batched call it was answered in)."""

    decisions: int = 0
    faults: Counter = field(default_factory=Counter)  # fault (server_refused, server_timeout ...) -> count
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_seconds: float = 0.0

    @property
    def fault_count(self) -> int:
        return sum(self.faults.values())

    @property
    def fault_share(self) -> float:
        return self.fault_count / self.decisions if self.decisions else 0.0

    def add(self, decision: Decision, seconds: float = 0.0) -> None:
        self.count(decision.error)
        self.prompt_tokens += int(decision.prompt_tokens)
        self.completion_tokens += int(decision.completion_tokens)
        self.model_seconds += seconds

    def count(self, error: str | None) -> None:
        """One more decision, and its fault if `error` is one."""
        self.decisions += 1
        if is_fault(error):
            self.faults[error] += 1

    def as_dict(self) -> dict:
        return {
            "decisions": self.decisions,
            "faults": dict(sorted(self.faults.items())),
            "fault_share": round(self.fault_share, 6),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "model_seconds": round(self.model_seconds, 6),
        }


def tally_faults(pairs) -> dict[str, dict]:
    """seat -> {"decisions", "faults": {fault: n}, "fault_share"} from (seat, error) pairs, e.g.
    the `seat` and `error` columns of every row a run wrote."""
    meters: dict[str, SeatMeter] = {}
    for seat, error in pairs:
        seat = str(seat)
        if seat not in meters:
            meters[seat] = SeatMeter()
        meters[seat].count(error)
    return {
        seat: {k: v for k, v in m.as_dict().items() if k in ("decisions", "faults", "fault_share")}
        for seat, m in sorted(meters.items())
    }


def too_many_faults(tally: dict[str, dict], max_share: float) -> list[str]:
    """The seats whose faults are more than `max_share` of their decisions, worst first: a run with
    any exits 1 (its rows are kept, and the faults are held turns, not behaviour)."""
    over = [seat for seat, t in tally.items() if t["faults"] and t["fault_share"] > max_share]
    return sorted(over, key=lambda seat: -tally[seat]["fault_share"])
