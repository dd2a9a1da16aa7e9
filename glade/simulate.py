"""`glade simulate`: play one episode of the Wood and show what happened, turn by turn.

    glade simulate --scenario default --seed 7 --turns 30
    glade simulate --council oona=panic_seller,bramble=hoarder
    glade simulate --council speculator                  (one disposition for every seat)
    glade simulate --council council.yaml                (creature -> seat spec, "*" for the rest)
    glade simulate --set market.max_step=0.3 --set turns=12

Seats not named by `--council` keep their scenario's stand-in disposition. Each turn the
observations are grouped by the policy object seated on them and every policy is called
once with its group (`run_episode`), so model seats that share a base model cost one
batched call per turn.

`--out DIR` (default `runs/simulate/<scenario>-seed<seed>`) receives:

- `trace.parquet`, one row per creature-turn: turn, creature, seat (the policy's name),
  action (JSON), notes (JSON: the rules' named rejections and cuts), fills (JSON), pebbles,
  inventory (JSON), wealth, mood (all after the turn), self_buy, sentiment (JSON: the full
  notes toward each other creature and the patron), events (JSON: the turn's public events
  and seam writes), error (a seat's named parse error or fault, null when clean);
- `summary.json`: scenario name and hash, seed, turns, council, final prices, wealth,
  Gini, gambit P&L, patron pebbles, conservation problems (always []), glade version.
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import glade
from glade.config import ConfigError, parse_override, read_yaml
from glade.env import parallel_env, standin
from glade.env.scenario import Scenario, load_scenario
from glade.env.world import check_conservation
from glade.tables import console, show
from glade.rollout import act_all
from glade.policies import Policy, SeatSpecError, StandIn, load, load_council

TRACE_COLUMNS = (
    "turn", "creature", "seat", "action", "notes", "fills", "pebbles", "inventory",
    "wealth", "mood", "self_buy", "sentiment", "events", "error",
)  # fmt: skip


@dataclass(frozen=True)
class Episode:
    """One played episode: trace rows (one per creature-turn), the world's score history
    (one row per turn) and the summary written to summary.json."""

    scenario: Scenario
    seed: int
    seats: dict[str, str]  # creature -> seat policy name
    rows: tuple[dict, ...]
    history: tuple[dict, ...]
    summary: dict[str, Any]

    @property
    def turns(self) -> int:
        return self.scenario.turns


# ---------------------------------------------------------------------------- councils


def default_council(scenario: Scenario) -> dict[str, Policy]:
    """Every creature on its scenario's stand-in disposition (one policy per disposition)."""
    by_disposition: dict[str, Policy] = {}
    out = {}
    for cid, creature in scenario.creatures.items():
        d = creature.disposition
        if d not in by_disposition:
            by_disposition[d] = load(d)
        out[cid] = by_disposition[d]
    return out


def parse_council(spec: str | None, scenario: Scenario) -> dict[str, Policy]:
    """A --council value -> creature -> Policy, for every creature of the scenario.

    `oona=hoarder,bramble=panic_seller` names stand-in dispositions per creature; a bare
    name (`hoarder`) seats every creature on it; a .yaml file maps creature -> seat spec
    (a `*` key seats every creature not named). Unnamed creatures keep the scenario's
    disposition. Mistakes raise ConfigError or SeatSpecError with a one-line message.
    """
    council = default_council(scenario)
    if spec is None or not spec.strip():
        return council
    spec = spec.strip()
    creatures = list(scenario.creatures)
    if spec.endswith((".yaml", ".yml")) or os.path.isfile(spec):
        data = read_yaml(spec)
        _check_creatures(data, creatures, f"--council {spec}")
        seats = {c: data.get(c, data.get("*")) for c in creatures}
        loaded = load_council({c: s for c, s in seats.items() if s is not None})
        return {**council, **loaded}
    if "=" not in spec:
        return dict.fromkeys(creatures, _standin(spec, f"--council {spec}"))
    named: dict[str, str] = {}
    for part in spec.split(","):
        if not part.strip():
            continue
        creature, sep, disposition = (x.strip() for x in part.partition("="))
        if not sep or not creature or not disposition:
            raise ConfigError(f"--council {part.strip()!r}: expected creature=disposition")
        named[creature] = disposition
    _check_creatures(named, creatures, "--council")
    shared = {p.disposition.name: p for p in council.values() if isinstance(p, StandIn)}  # reuse
    for creature, disposition in named.items():
        if disposition not in shared:
            shared[disposition] = _standin(disposition, f"--council {creature}={disposition}")
        council[creature] = shared[disposition]
    return council


def _standin(name: str, where: str) -> Policy:
    try:
        standin.disposition(name)
    except ValueError as exc:
        raise SeatSpecError(f"{where}: {exc}") from None
    return load(name)


def _check_creatures(named: dict, creatures: list[str], where: str) -> None:
    unknown = [c for c in named if c not in creatures and c != "*"]
    if unknown:
        raise ConfigError(f"{where}: unknown creature {unknown[0]!r} (creatures: {', '.join(creatures)})")


# ---------------------------------------------------------------------------- episodes


def run_episode(
    scenario: str | Path | Scenario,
    seed: int,
    turns: int | None = None,
    council: dict[str, Policy] | None = None,
) -> Episode:
    """Play one episode. `turns` overrides the scenario's; `council` maps creature -> Policy
    (creatures left out sit on their scenario's stand-in disposition)."""
    if turns is not None and (not isinstance(scenario, Scenario) or scenario.turns != turns):
        scenario = load_scenario(scenario, turns=turns)
    else:
        scenario = load_scenario(scenario)
    seated = {**default_council(scenario), **(council or {})}
    env = parallel_env(scenario)
    observations, _ = env.reset(seed=seed)
    rows: list[dict] = []
    seats: dict[str, str] = {}
    while env.agents:
        agents = list(env.agents)
        decisions = dict(zip(agents, act_all([(seated[c], observations[c]) for c in agents])))
        observations, _, _, _, infos = env.step({c: decisions[c].action for c in agents})
        turn_row, world = env.last_row, env.world
        events = _json(list(turn_row["events"]) + [f"seam: {s}" for s in turn_row["seam"]])
        for c in agents:
            d, info = decisions[c], infos[c]
            seat = d.policy or seated[c].name
            seats.setdefault(c, seat)
            rows.append(
                {
                    "turn": int(turn_row["turn"]),
                    "creature": c,
                    "seat": seat,
                    "action": _json(d.action),
                    "notes": _json(info["notes"]),
                    "fills": _json(info["fills"]),
                    "pebbles": float(world.pebbles[c]),
                    "inventory": _json(world.inventory[c]),
                    "wealth": float(info["wealth"]),
                    "mood": float(world.mood[c]),
                    "self_buy": int(info["self_buy"]),
                    "sentiment": _json(info["sentiment"]),
                    "events": events,
                    "error": d.error,
                }
            )
    world = env.world
    history = tuple(world.history)
    last = history[-1]
    summary = {
        "scenario": scenario.name,
        "scenario_hash": scenario.hash(),
        "seed": int(seed),
        "turns": scenario.turns,
        "council": seats,
        "final_prices": {g: round(p, 6) for g, p in world.price.items()},
        "wealth": {c: round(w, 6) for c, w in last["wealth"].items()},
        "pebbles": {c: round(world.pebbles[c], 6) for c in world.creatures},
        "gini": round(last["gini"], 6),
        "trades": sum(r["trades"] for r in history),
        "volume": sum(sum(r["volume"].values()) for r in history),
        "gambit_pnl": round(world.patron.gambit_pnl, 6) if scenario.gambit is not None else None,
        "patron_pebbles": round(world.patron.pebbles, 6),
        "conservation_problems": check_conservation(world),
        "glade_version": glade.__version__,
    }
    return Episode(scenario, int(seed), seats, tuple(rows), history, summary)


def _json(value: Any) -> str:
    return json.dumps(value, default=_plain, ensure_ascii=False)


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return value.tolist()
    return str(value)


def write(episode: Episode, out: str | Path) -> Path:
    """trace.parquet and summary.json into `out` (created)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    schema = pa.schema(
        [
            ("turn", pa.int32()), ("creature", pa.string()), ("seat", pa.string()),
            ("action", pa.string()), ("notes", pa.string()), ("fills", pa.string()),
            ("pebbles", pa.float64()), ("inventory", pa.string()), ("wealth", pa.float64()),
            ("mood", pa.float64()), ("self_buy", pa.int32()), ("sentiment", pa.string()),
            ("events", pa.string()), ("error", pa.string()),
        ]
    )  # fmt: skip
    table = pa.Table.from_pylist(list(episode.rows), schema=schema)
    pq.write_table(table, out / "trace.parquet")
    (out / "summary.json").write_text(json.dumps(episode.summary, indent=2) + "\n")
    return out


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "simulate",
        help="play one episode of the Wood and show it, turn by turn",
        description="Play one episode of the Wood, print a per-turn table and a scoreboard,\n"
        "and write trace.parquet and summary.json to --out.",
        epilog="examples:\n"
        "  glade simulate --scenario default --seed 7 --turns 30\n"
        "  glade simulate --council oona=panic_seller,bramble=hoarder\n"
        "  glade simulate --scenario gambit_override --council hoarder --quiet",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--scenario", default="default", help="a name under recipes/scenarios/ or a YAML path (default: default)")
    p.add_argument("--seed", type=int, default=7, help="fixes the whole episode (default: 7)")
    p.add_argument("--turns", type=int, default=None, help="turns to play (default: the scenario's)")
    p.add_argument(
        "--council",
        metavar="SPEC",
        help="seats: 'oona=hoarder,bramble=panic_seller' (stand-in dispositions), one disposition "
        "for all, or a YAML file of creature -> seat spec; unnamed creatures keep the scenario's",
    )
    p.add_argument("--out", metavar="DIR", help="output folder (default: runs/simulate/<scenario>-seed<seed>)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help="override a scenario key, e.g. market.max_step=0.3 (repeatable)")
    p.add_argument("--quiet", action="store_true", help="no per-turn table: just the scoreboard and where it wrote")
    p.set_defaults(run=run)


def load_with_overrides(name: str, turns: int | None, sets: list[str]) -> Scenario:
    overrides = dict(parse_override(s) for s in sets)
    if turns is not None:
        overrides["turns"] = turns
    return load_scenario(name, **overrides)


def run(args: argparse.Namespace) -> int:
    scenario = load_with_overrides(args.scenario, args.turns, args.sets)
    council = parse_council(args.council, scenario)
    episode = run_episode(scenario, args.seed, None, council)
    out_dir = Path(args.out) if args.out else Path("runs") / "simulate" / f"{scenario.name}-seed{args.seed}"
    write(episode, out_dir)
    con = console()
    show(episode, con, turns_table=not args.quiet)
    con.print(f"wrote {out_dir}/: trace.parquet ({len(episode.rows)} rows), summary.json", soft_wrap=True)
    return 1 if episode.summary["conservation_problems"] else 0
