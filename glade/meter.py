"""The cost meter, before a run: what it will do and spend (glade.run_cost says what it spent).

Before a run, `estimate` extrapolates a `Plan` (what the run will do: decisions per seat, world-turns, batched
model calls) from a short calibration (the dry run calls it a trial: no kin of `glade calibrate`): the worlds
of the run's first shard (with one world of any council the shard lacks), each on a calibration seed of its
own, played for `CALIBRATION_TURNS` turns after one unmeasured warm-up turn, so every distinct seat is met at
the batch size the run will use. Each seat's model seconds and tokens per decision are multiplied by its
planned decisions; the time outside the models (the Wood, stand-ins) by the planned world-turns; the seats'
loading time is added once. `check_limits` refuses a plan over a recipe's `max_decisions` (decisions asked of
model seats: every seat but the stand-ins) or `max_tokens` (expected prompt + completion tokens), and, given
the estimate, one with a seat that failed every calibration decision (a server down).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field, replace

from glade.env import standin
from glade.env.scenario import load_scenario
from glade.faults import SeatMeter
from glade.rollout import EpisodeSpec, RolloutStats, run_lockstep
from glade.seats.standin import label as standin_label

CALIBRATION_TURNS = 2  # measured turns, after one warm-up turn
CALIBRATION_SEEDS = 1_000_000  # calibration world i plays seed CALIBRATION_SEEDS + i
SERVER_UP = "check that its server is up"  # a seat that failed every calibration decision


@dataclass(frozen=True)
class Plan:
    """What a run will do, counted from its recipe before anything plays."""

    episodes: int
    world_turns: int  # sum of every episode's turns
    decisions: dict[str, int]  # seat label -> decisions it will make
    free: frozenset[str] = frozenset()  # labels of stand-in seats: no model, no tokens
    model_calls: int | None = None  # batched calls to model seats (known once the seats are loaded)

    @property
    def model_decisions(self) -> int:
        return sum(n for label, n in self.decisions.items() if label not in self.free)


@dataclass(frozen=True)
class Calibration:
    stats: RolloutStats  # the measured turns
    world_turns: int
    worlds: int
    setup_seconds: float = 0.0  # loading the seats (models), paid once by the run too


@dataclass(frozen=True)
class Estimate:
    plan: Plan
    seats: dict[str, dict] = field(default_factory=dict)  # label -> decisions, tokens, model seconds expected
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_seconds: float = 0.0
    outside_seconds: float = 0.0
    setup_seconds: float = 0.0
    how: str = ""

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def seconds(self) -> float:
        return self.setup_seconds + self.model_seconds + self.outside_seconds


def sampled(items: list, first: int, key: Callable) -> list:
    """The first `first` items, then the first item of each `key` they lack: what a calibration
    plays (the run's first shard or batch, and one world of each council it lacks)."""
    out = list(items[:first])
    seen = {key(i) for i in out}
    for i in items[first:]:
        if key(i) not in seen:
            out.append(i)
            seen.add(key(i))
    return out


def calibrate(build: Callable[[], list[EpisodeSpec]]) -> Calibration:
    """Play the worlds `build()` makes (their councils loaded, seat labels set) for one
    unmeasured warm-up turn, then CALIBRATION_TURNS measured turns; nothing is written.

    The warm-up is turn 0 of the same episodes: openings are what worlds share most (the
    engines generate a request several worlds make alike once, glade.seats.base.distinct_rows),
    and each world plays a seed of its own (CALIBRATION_SEEDS + its place), since worlds that
    share a seed play alike until their scenarios or seats part; either would time shared
    answers, not what the run's turns cost. A world of one turn plays it again, measured."""
    started = time.perf_counter()
    specs = build()  # the seats load here (models once per process) ...
    setup = time.perf_counter() - started
    specs = [
        replace(
            e,
            scenario=load_scenario(e.scenario, turns=min(1 + CALIBRATION_TURNS, e.scenario.turns)),
            seed=CALIBRATION_SEEDS + i,
        )
        for i, e in enumerate(specs)
    ]
    stats, warm = RolloutStats(), []

    def after_turn(live: int) -> None:
        if not warm:  # ... and turn 0 fills the role cards' prefix cache
            warm.append((deepcopy(stats), time.perf_counter()))

    run_lockstep(specs, on_turn=after_turn, stats=stats)
    measured = _since(stats, *warm[0], time.perf_counter()) if warm else RolloutStats()
    single = [e for e in specs if e.scenario.turns == 1]
    if single:  # a world of one turn played it as the warm-up: time it once more
        run_lockstep(single, stats=measured)
    turns = sum(max(e.scenario.turns - 1, 1) for e in specs)
    return Calibration(measured, turns, len(specs), setup)


def _since(now: RolloutStats, then: RolloutStats, then_s: float, now_s: float) -> RolloutStats:
    """What `now` counts beyond `then` (taken at `then_s`): the measured turns alone."""
    seats = {}
    for label, m in now.seats.items():
        t = then.seats.get(label) or SeatMeter()
        seats[label] = SeatMeter(
            m.decisions - t.decisions,
            m.faults - t.faults,
            m.prompt_tokens - t.prompt_tokens,
            m.completion_tokens - t.completion_tokens,
            m.model_seconds - t.model_seconds,
            m.shared - t.shared,
        )
    return RolloutStats(
        now.decisions - then.decisions,
        now.model_seconds - then.model_seconds,
        now_s - then_s,
        now.policy_calls - then.policy_calls,
        seats,
    )


def spec_label(spec) -> str:
    """A seat spec as a short label for a plan (before any model is loaded)."""
    if isinstance(spec, str) or spec.get("kind") == "standin":  # named as its seat names itself (StandIn.name)
        ref, seed = (spec, 0) if isinstance(spec, str) else (spec.get("disposition", "balanced"), spec.get("seed") or 0)
        try:
            ref = standin.disposition(ref).name  # a file is labelled by the name inside it
        except (OSError, ValueError):
            pass  # the run names what is wrong with it
        return standin_label(ref, seed)
    kind = spec.get("kind")
    name = {"hf": "model", "checkpoint": "path", "server": "model", "python": "entry_point"}.get(kind, "kind")
    text = str(spec.get(name, "")).rstrip("/").rsplit("/", 1)[-1]
    adapter = str(spec.get("adapter") or "").rstrip("/").rsplit("/", 1)[-1]
    made = spec.get("kwargs") if kind == "python" else None  # one factory, other kwargs: another seat
    given = f"({', '.join(f'{k}={v}' for k, v in sorted(made.items()))})" if isinstance(made, dict) and made else ""
    return f"{kind}:{text}" + (f"+{adapter}" if adapter else "") + given


def estimate_report(expected: Estimate, max_decisions=None, max_tokens=None, max_fault_share=0.0) -> tuple:
    """What `--dry-run` prints: (header, rows) of the per-seat table, then its closing lines."""
    limits = {"max_decisions": max_decisions, "max_tokens": max_tokens}
    return *estimate_table(expected), estimate_lines(expected, limits, max_fault_share)


def estimate_lines(expected: Estimate, limits: dict[str, int | None], max_fault_share=0.0) -> list[str]:
    plan = expected.plan
    calls = f", {plan.model_calls:,} batched model calls" if plan.model_calls is not None else ""
    set_limits = [f"{k} {v:,}" for k, v in limits.items() if v is not None]
    over = [f"{k} {v:,} (this plan: {planned:,})" for k, (v, planned) in over_limits(plan, limits, expected).items()]
    return [
        f"{plan.episodes:,} episodes ({plan.world_turns:,} world-turns), {sum(plan.decisions.values()):,} decisions "
        f"({plan.model_decisions:,} by model seats){calls}, about {expected.tokens:,} tokens "
        f"({expected.prompt_tokens:,} prompt + {expected.completion_tokens:,} completion)",
        f"estimated wall time: {expected.seconds:,.1f} s ({expected.model_seconds:,.1f} s in the models, "
        f"{expected.setup_seconds:,.1f} s loading the seats); {expected.how}"
        + (f"; limits: {', '.join(set_limits)}" if set_limits else ""),
        *fault_lines(expected, max_fault_share),
        *[f"over the recipe's {', '.join(over)}: a run would stop before starting, with nothing written"] * bool(over),
    ]


def plan_fails(expected: Estimate, max_decisions=None, max_tokens=None, max_fault_share=0.0) -> bool:
    """Whether the run a dry run planned would not get far: over a recipe limit, or a seat that
    failed every calibration decision where the recipe does not accept every decision failing
    (max_fault_share 1); its exit status says so to a script that checks first."""
    limits = {"max_decisions": max_decisions, "max_tokens": max_tokens}
    dead = max_fault_share < 1 and any(_all_failed(s) for s in expected.seats.values())
    return dead or bool(over_limits(expected.plan, limits, expected))


def _all_failed(seat: dict) -> bool:
    return bool(seat.get("measured_faults")) and sum(seat["measured_faults"].values()) == seat["measured_decisions"]


def _failed_head(label: str, seat: dict) -> str:
    faults = seat["measured_faults"]
    kinds = ", ".join(f"{k} {v:,}" for k, v in faults.items())
    return f"{label}: {sum(faults.values()):,} of {seat['measured_decisions']:,} trial decisions failed ({kinds})"


def fault_lines(expected: Estimate, max_fault_share=0.0) -> list[str]:
    """A line per seat whose calibration turns faulted: what its figures then stand on."""
    fails = f"the run would fail the same way: {SERVER_UP}"
    plays = f"the run plays on, as max_fault_share 1 accepts every decision failing ({SERVER_UP})"
    unknown = f"its tokens and time are unknown (shown as 0), and {fails if max_fault_share < 1 else plays}"
    answered = "its tokens and time are estimated from the answered ones"
    faulted = {label: s for label, s in expected.seats.items() if sum((s.get("measured_faults") or {}).values())}
    return [f"{_failed_head(label, s)}; {unknown if _all_failed(s) else answered}" for label, s in faulted.items()]


def estimate_table(expected: Estimate) -> tuple[list[str], list[list[str]]]:
    header = ["seat", "decisions", "prompt tokens", "completion tokens", "model s"]
    rows = []
    for label, s in expected.seats.items():
        free = label in expected.plan.free
        rows.append(
            [
                label + (" (stand-in)" if free else ""),
                f"{s['decisions']:,}",
                "-" if free else f"{s['prompt_tokens']:,}",
                "-" if free else f"{s['completion_tokens']:,}",
                "-" if free else f"{s['model_seconds']:.1f}",
            ]
        )
    return header, rows


def estimate(plan: Plan, calibration: Calibration) -> Estimate:
    """Extrapolate the plan from the calibration (see the module's docstring)."""
    measured = calibration.stats.seats
    seats = {}
    for label, planned in sorted(plan.decisions.items()):
        m = measured.get(label) or SeatMeter()
        # measured per answered decision x planned decisions: a faulted turn has no tokens to count
        answered = m.decisions - m.fault_count
        scale = planned / answered if answered else 0.0
        seats[label] = {
            "decisions": planned,
            "prompt_tokens": round(m.prompt_tokens * scale),
            "completion_tokens": round(m.completion_tokens * scale),
            "model_seconds": m.model_seconds * scale,
            "measured_decisions": m.decisions,
            "measured_faults": dict(sorted(m.faults.items())),
        }
    stats = calibration.stats
    outside = max(stats.total_seconds - stats.model_seconds, 0.0)
    outside_per_world_turn = outside / calibration.world_turns if calibration.world_turns else 0.0
    return Estimate(
        plan=plan,
        seats=seats,
        prompt_tokens=sum(s["prompt_tokens"] for s in seats.values()),
        completion_tokens=sum(s["completion_tokens"] for s in seats.values()),
        model_seconds=sum(s["model_seconds"] for s in seats.values()),
        outside_seconds=outside_per_world_turn * plan.world_turns,
        setup_seconds=calibration.setup_seconds,
        how=(
            f"measured on {stats.decisions:,} trial decisions: {calibration.worlds:,} "
            f"world{'' if calibration.worlds == 1 else 's'}, {calibration.world_turns:,} measured world-turns "
            f"(up to {CALIBRATION_TURNS} a world) after a warm-up turn, each on a seed of its own (a run's worlds that share a seed share answers "
            "until they part, which this leaves out: the run can take less); per seat, model seconds and tokens "
            "per decision x its planned decisions, plus the time outside the models per world-turn x the planned "
            "world-turns, plus loading the seats (one process)"
        ),
    )


def over_limits(plan: Plan, limits: dict[str, int | None], expected=None) -> dict[str, tuple[int, int]]:
    """{limit: (allowed, this plan's figure)} for each recipe limit the plan exceeds; max_tokens
    needs `expected` (an Estimate)."""
    planned = {"max_decisions": plan.model_decisions, "max_tokens": None if expected is None else expected.tokens}
    return {
        k: (v, planned[k]) for k, v in limits.items() if v is not None and planned[k] is not None and planned[k] > v
    }


def check_limits(plan: Plan, source: str, max_decisions, max_tokens, expected=None, max_fault_share=0.0) -> None:
    """ValueError, naming the limit and the figure, when the plan exceeds a recipe's limit.
    `expected` (an Estimate) is needed for max_tokens; with it, a seat that failed every calibration decision
    is refused unless max_fault_share is 1: the run would stop on it, and its unknown tokens count 0 here."""
    dead = [_failed_head(label, s) for label, s in (expected.seats if expected else {}).items() if _all_failed(s)]
    if dead and max_fault_share < 1:
        why = f"the run would fail the same way (more than max_fault_share {max_fault_share:g})"
        raise ValueError(f"{source}: {'; '.join(dead)}: {why}: {SERVER_UP}")
    over = over_limits(plan, {"max_decisions": max_decisions, "max_tokens": max_tokens}, expected)
    if "max_decisions" in over:
        raise ValueError(
            f"{source}: max_decisions: this run would ask model seats for {plan.model_decisions:,} decisions, "
            f"more than the {max_decisions:,} allowed; fewer seeds, scenarios or councils, or raise max_decisions"
        )
    if "max_tokens" in over:
        raise ValueError(
            f"{source}: max_tokens: this run would use about {expected.tokens:,} tokens ({expected.how.split(':')[0]}), "
            f"more than the {max_tokens:,} allowed; fewer seeds, shorter answers (max_new_tokens), or raise max_tokens"
        )
