"""Seat faults: turns a live seat's server failed to answer (refused, timed out, an HTTP
error), named by a Decision error that starts with FAULT_PREFIX. A fault is a held turn,
not the model's behaviour; runs count them per seat (SeatMeter, tally_faults) and exit 1
when a seat faults too often (too_many_faults). Parse errors are behaviour, not faults."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from glade.seats import Decision

GRACE_S = 60.0  # seconds every decision of a seat may fail before the turn watch stops a run mid-shard
FAULT_PREFIX = "server_"  # a Decision whose error starts with this is a fault: the seat failed to answer


def is_fault(error: str | None) -> bool:
    """Whether a decision's error is a seat fault (refused, timeout, HTTP error ...), not a parse error."""
    return isinstance(error, str) and error.startswith(FAULT_PREFIX)  # a table's missing error may read NaN


def parse_errors(rows: list[dict]) -> dict[str, Counter]:
    """Per creature, its decisions' named errors that are not faults (the parser's, or a python
    seat's own): behaviour, where a fault is a held turn."""
    out: dict[str, Counter] = {}
    for r in rows:
        error = r["error"]
        if isinstance(error, str) and error and not is_fault(error):  # a table's missing error may read NaN
            out.setdefault(r["creature"], Counter())[error] += 1
    return out


@dataclass
class SeatMeter:
    """One seat label's tally over a run: its decisions, its faults by kind, its tokens and
    the model seconds spent on it (its share of each batched call it was answered in). Shared
    decisions copied the answer of an identical request in their call (glade.seats.base
    distinct_rows); their tokens count as if generated, as they are in the rows."""

    decisions: int = 0
    faults: Counter = field(default_factory=Counter)  # fault (server_refused, server_timeout ...) -> count
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_seconds: float = 0.0
    shared: int = 0

    @property
    def fault_count(self) -> int:
        return sum(self.faults.values())

    @property
    def fault_share(self) -> float:
        return self.fault_count / self.decisions if self.decisions else 0.0

    def add(self, decision: Decision, seconds: float = 0.0) -> None:
        self.count(decision.error)
        self.shared += decision.shared
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
            "shared": self.shared,
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
    return tally_of(meters)


def tally_of(meters: dict[str, SeatMeter]) -> dict[str, dict]:
    """seat -> {"decisions", "faults", "fault_share"}: the fault tally of a run's seat meters."""
    return {
        seat: {k: v for k, v in m.as_dict().items() if k in ("decisions", "faults", "fault_share")}
        for seat, m in sorted(meters.items())
    }


# What to check for each kind of fault, for the line that fails a run: a 401 or a 404 is a
# seat's configuration, not a server that is down.
HINTS = {
    "server_refused": "is its server up, at its base_url?",
    "server_timeout": "is its server overloaded? raise the seat's timeout or lower its concurrency",
    "server_http_400": "the server refused the request: is model the name it serves? does it take response_format"
    " (structured: true)?",
    "server_http_401": "the server wants an API key: set the variable the seat's api_key_env names",
    "server_http_403": "the server refused the API key in the seat's api_key_env",
    "server_http_404": "is base_url the API root (such as http://HOST:8000/v1) and model a name the server serves?",
    "server_http_422": "the server refused the request: is model the name it serves? does it take max_tokens,"
    " temperature, seed?",
    "server_http_429": "the server is rate-limiting: lower the seat's concurrency or raise its backoff",
    "server_bad_response": "is base_url an OpenAI-compatible chat server?",
    "server_tls": "https failed: http or https in base_url? is the server's certificate trusted (SSL_CERT_FILE)?",
}


def fault_hint(faults: dict[str, int]) -> str:
    """What to check for a seat whose faults are `faults` (kind -> count): the hint of its most
    frequent kind (a 5xx: the server's own log)."""
    if not faults:
        return ""
    worst = max(sorted(faults), key=lambda kind: faults[kind])
    if worst in HINTS:
        return HINTS[worst]
    if worst.startswith(FAULT_PREFIX + "http_5"):
        return "the server failed to answer: see its log"
    if worst.startswith(FAULT_PREFIX + "http_"):
        return (
            f"the server answered HTTP {worst.removeprefix(FAULT_PREFIX + 'http_')}: check base_url, model and its log"
        )
    return HINTS["server_refused"]


def too_many_faults(tally: dict[str, dict], max_share: float) -> list[str]:
    """The seats whose faults are more than `max_share` of their decisions, worst first: a run with
    any exits 1 (its rows are kept, and the faults are held turns, not behaviour)."""
    over = [seat for seat, t in tally.items() if t["faults"] and t["fault_share"] > max_share]
    return sorted(over, key=lambda seat: -tally[seat]["fault_share"])


class SeatsFailing(Exception):
    """A run stopped before its end: a seat failed every decision so far, so the rest would most
    likely be held turns too (a server down, a wrong base_url), each costing the seat's timeout;
    or its faults already decide the end-of-run check. The finished shards are kept; a rerun plays
    what is missing and replays the episodes with faults. The CLI exits 1 on it."""


def planned_decisions(episodes, kept=()) -> Counter:
    """seat label -> the decisions a folder will hold: one per `kept` row (its seat label), and
    those these EpisodeSpecs will make, each creature's turns under the label its rows will
    carry (glade.rollout.seat_label, before a decision names its policy: a model seat with
    creature adapters writes each creature's identity, so its label gets no count, which leaves
    it the every-decision rule of stop_if_failing)."""
    counts = Counter(str(seat) for seat in kept)
    for e in episodes:
        for creature in e.scenario.creatures:
            counts[e.seats.get(creature, e.council[creature].name)] += e.scenario.turns
    return counts


def stop_if_failing(
    meters: dict[str, SeatMeter],
    max_share: float,
    played: int,
    planned: int,
    totals: dict[str, int],
    hint: Callable[[str, dict[str, int]], str] = lambda seat, faults: fault_hint(faults),
) -> None:
    """Raises SeatsFailing, after `played` of `planned` shards (called only while some are left),
    when a seat failed every one of its decisions so far (at least 2: a server down, a wrong
    base_url), or when its faults already pass `max_share` of `totals[seat]`, the decisions the
    end-of-run check will count for it (the rows kept from earlier runs and all this run plans),
    so the run would fail at its end whatever the rest did. Shards differ (an eval's stand-in
    worlds have no live decisions), so the total is counted, not scaled from the shards played:
    the verdict is the same whatever `worlds` cuts them. A seat with no total gets only the first
    rule. `hint(seat, faults)` says what to fix (the callers add what a server said: seats sit
    above this module)."""
    tally = tally_of(meters)
    for seat in too_many_faults(tally, max_share):
        t = tally[seat]
        failed = sum(t["faults"].values())
        every = failed == t["decisions"] >= 2
        total = totals.get(seat)
        if not every and (total is None or failed <= max_share * total):
            continue
        why = " (every decision so far)" if every else f" of the {total:,} it will make in all"
        raise SeatsFailing(_stopped(seat, t, f"the first {played} of {planned} shards", max_share, why, hint))


def failing_watch(
    meters: dict[str, SeatMeter],
    max_share: float,
    hint: Callable[[str, dict[str, int]], str] = lambda seat, faults: fault_hint(faults),
) -> Callable[[bool], None]:
    """A check to call after each lockstep turn of a run whose `meters` fill as it plays, `left`
    saying whether the run has turns left to play: it raises SeatsFailing when a seat over
    `max_share` failed every decision so far, in two of its turns or more, GRACE_S seconds into
    the run or later, and turns are left (with none, the run ends anyway and keeps its rows).
    stop_if_failing checks between shards; inside one, a server that hangs would cost its
    timeout on every turn left in the shard (30 turns x (retries + 1) x timeout at the defaults
    is hours). The grace is for a server still starting: refusals come fast, and the shard's
    end is near when the grace is over."""
    started = time.monotonic()
    before: dict[str, int] = {}  # seat -> its decisions before this turn
    turns: Counter = Counter()  # seat -> the turns it decided in

    def after_turn(left: bool) -> None:
        tally = tally_of(meters)
        turns.update(seat for seat, t in tally.items() if t["decisions"] > before.get(seat, 0))
        before.update((seat, t["decisions"]) for seat, t in tally.items())
        if not left or time.monotonic() - started < GRACE_S:
            return
        for seat in too_many_faults(tally, max_share):
            t = tally[seat]
            if turns[seat] >= 2 and sum(t["faults"].values()) == t["decisions"]:
                so_far = f"its first {turns[seat]} turns"
                raise SeatsFailing(_stopped(seat, t, so_far, max_share, " (every decision so far)", hint))

    return after_turn


def shard_watch(watch: Callable[[bool], None], last: bool) -> Callable[[int], None]:
    """failing_watch's check for one shard's run_lockstep (`after` of world_turn_ticks): turns are
    left while its worlds play or shards follow."""
    return lambda live: watch(live > 0 or not last)


def _stopped(seat: str, t: dict, so_far: str, max_share: float, why: str, hint) -> str:
    """The line a run stopped early by a failing seat ends with."""
    failed = sum(t["faults"].values())
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(t["faults"].items(), key=lambda kv: -kv[1]))
    return (
        f"seat {seat!r}: {failed} of {t['decisions']} decisions ({t['fault_share']:.0%}) failed ({kinds}) in "
        f"{so_far}, more than max_fault_share {max_share:g}{why}: stopped early, keeping the finished shards; "
        f"fix the seat ({hint(seat, t['faults'])}) and rerun: only what is missing plays, and the episodes "
        "with faults play again"
    )
