"""`glade simulate`: play one episode of the Wood and show what happened, turn by turn.

    glade simulate --scenario default --seed 7 --turns 30
    glade simulate --council oona=panic_seller,bramble=hoarder
    glade simulate --council speculator                  (one disposition for every seat)
    glade simulate --council council.yaml                (creature -> seat spec, "*" for the rest)
    glade simulate --council oona=runs/calibrated.yaml   (a disposition YAML, e.g. from glade calibrate)
    glade simulate --set market.max_step=0.3 --set turns=12

Seats not named by `--council` keep their scenario's stand-in disposition. The episode is
played by `glade.rollout.run_episode` (the one episode loop, with one world), so model
seats that share a base model cost one batched call per turn.

`--out DIR` (default `runs/simulate/<scenario>-seed<seed>`; an earlier episode there is
replaced, a folder holding anything else refused) receives:

- `trace.parquet`, one row per creature-turn: turn, creature, seat (the policy's name),
  action (JSON), notes (JSON: the rules' named rejections and cuts), fills (JSON), pebbles,
  inventory (JSON), wealth, mood (all after the turn), self_buy, sentiment (JSON: the full
  notes toward each other creature and the patron), events (JSON: the turn's public events
  and seam writes), error (a seat's named parse error or fault, null when clean);
- `summary.json`: scenario name and hash, seed, turns, council, final prices, wealth,
  Gini, gambit P&L, patron pebbles, pebbles, trades, volume, seat faults, conservation
  problems ([] when the books balance; the verb exits 1 otherwise), and where it came from
  (glade version, git commit, prompt protocol).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from glade.cli import VerbHelp, epilog
from glade.config import (
    MAX_SEED,
    ConfigError,
    check_out,
    check_scenario_file,
    council_pair_hint,
    parse_override,
    read_yaml,
    shipped_hint,
)
from glade.console import console, show_faults
from glade.console_tables import answer_errors, scoreboard, summary_lines, turn_table
from glade.env import standin
from glade.env.scenario import SCENARIO_DIR, Scenario, load_scenario
from glade.env.standin import DISPOSITION_KEYS
from glade.episode_folder import check_episode_folder, write_episode
from glade.faults import parse_errors, too_many_faults
from glade.files import user_path
from glade.kinds import check_kind
from glade.rollout import run_episode
from glade.seats import (
    Policy,
    SeatSpecError,
    StandIn,
    anchored,
    check_model_names,
    check_spec,
    check_stand_in_names,
    each_creature,
    load,
    load_council,
    standin_council,
)
from glade.seats.server import forget_said, seat_fault_hint


def parse_council(spec: str | None, scenario: Scenario) -> dict[str, Policy]:
    """A --council value -> creature -> Policy, for every creature of the scenario.

    `oona=hoarder,bramble=panic_seller` names stand-in dispositions per creature (a
    disposition is a shipped name or the path of a disposition YAML); a bare disposition
    (`hoarder`, `calibrated.yaml`) seats every creature on it; any other .yaml file maps
    creature -> seat spec (a `*` key seats every creature not named). Unnamed creatures keep
    the scenario's disposition. Mistakes raise ConfigError or SeatSpecError with a one-line
    message.
    """
    council = standin_council(scenario)
    if spec is None:
        return council
    if not spec.strip(" ,"):
        raise ConfigError(f"--council {spec!r} names no seat: leave it out for the scenario's own council")
    spec = spec.strip()
    creatures = list(scenario.creatures)
    if os.path.isfile(spec) or ("=" not in spec and spec.endswith((".yaml", ".yml"))):
        return _council_file(spec, scenario, council)
    if "=" not in spec:
        if spec.lower() in creatures:  # a creature, not a disposition for every seat
            raise ConfigError(f"--council {spec}: {spec.lower()} is a creature: seat it as {spec.lower()}=DISPOSITION")
        try:
            return dict.fromkeys(creatures, _standin(spec, f"--council {spec}"))
        except SeatSpecError as exc:  # `oona:hoarder`, as a council file writes it
            raise SeatSpecError(f"{exc}{council_pair_hint(spec, creatures)}") from None
    named: dict[str, str] = {}
    for part in spec.split(","):
        if not part.strip():
            raise ConfigError(f"--council {spec!r}: an empty creature=disposition pair (two commas, or one at an end)")
        creature, sep, disposition = (x.strip() for x in part.partition("="))
        creature = creature.lower() if creature.lower() in creatures else creature  # Oona, as the table prints it
        if not sep or not creature or not disposition:
            raise ConfigError(f"--council {part.strip()!r}: expected creature=disposition")
        if creature in named:
            raise ConfigError(
                f"--council: {creature} is named twice ({named[creature]}, {disposition}); name each once"
            )
        named[creature] = disposition
    seated = each_creature(named, creatures, "--council")
    _check_names("--council ", seated, scenario)
    shared = {p.disposition.name: p for p in council.values() if isinstance(p, StandIn)}  # reuse
    for creature, disposition in seated.items():
        if disposition is None:
            continue
        if disposition not in shared:
            shared[disposition] = _standin(disposition, f"--council {creature}={disposition}")
        council[creature] = shared[disposition]
    return council


def _council_file(spec: str, scenario: Scenario, council: dict[str, Policy]) -> dict[str, Policy]:
    """--council FILE: a disposition file (every seat on it), or creature -> seat spec."""
    creatures = list(scenario.creatures)
    check_kind(spec, "disposition", "--council")  # not a recipe of glade's own folders
    try:
        data = read_yaml(shipped_hint(spec))
    except ConfigError as exc:  # MissingInput too: said of the option that named it
        raise type(exc)(f"--council {exc}") from None
    if not data:
        raise ConfigError(f"--council {spec}: the file names no seat (creature: seat spec, or '*' for the rest)")
    keys = set(data)
    if keys & DISPOSITION_KEYS and not keys & {*creatures, "*"}:
        # a disposition file (every seat on it); its own loader names a mistyped key
        return dict.fromkeys(creatures, _standin(spec, f"--council {spec}"))
    seats = anchored(each_creature(data, creatures, f"--council {spec}"), Path(spec).parent)
    for creature, seat in seats.items():
        if seat is not None:
            try:
                check_spec(seat)
            except SeatSpecError as exc:
                raise SeatSpecError(f"--council {spec}: {creature}: {exc}") from None
    _check_names(f"--council {spec}: ", seats, scenario)
    # two models (or two servers of one model name) that would write one policy in the rows
    check_model_names({f"--council {spec}: {c}": s for c, s in seats.items() if s is not None}, servers=True)
    try:
        loaded = load_council({c: s for c, s in seats.items() if s is not None})
    except (SeatSpecError, ConfigError) as exc:  # MissingInput too (a model folder not there)
        raise type(exc)(f"--council {spec}: {exc}") from exc
    return {**council, **loaded}


def _check_names(where: str, seated: dict, scenario: Scenario) -> None:
    """Two disposition files under one name would read as one stand-in in the table and summary.json.
    `seated`: creature -> its seat, None for the scenario's own (named as the scenario's)."""
    check_stand_in_names(
        {
            (f"{where}{c}" if seat is not None else f"the scenario's {c}"): (
                seat if seat is not None else scenario.creatures[c].disposition
            )
            for c, seat in seated.items()
        }
    )


def _standin(name: str, where: str) -> Policy:
    try:
        if standin.is_disposition_path(name):
            shipped_hint(name)  # recipes/dispositions/... run from outside a checkout
        standin.disposition(name)
    except ValueError as exc:
        raise SeatSpecError(f"{where}: {exc}") from None
    return load(name)


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "simulate",
        help=help,
        description="Play one episode of the Wood, print a per-turn table and a scoreboard, "
        "and write trace.parquet and summary.json to --out.",
        epilog=epilog(
            "0 played and written; 1 written, but a seat's server failed on more than --max-fault-share of its "
            "decisions (or the conservation check failed); 2 bad input, or a seat's code failed (a python seat's "
            "act raised or answered out of shape: nothing written).",
            (
                "glade simulate --scenario default --seed 7 --turns 30",
                "glade simulate --council oona=panic_seller,bramble=hoarder",
                "glade simulate --scenario gambit_override --council hoarder --quiet",
            ),
        ),
        formatter_class=VerbHelp,
    )
    shipped = load_scenario(SCENARIO_DIR / "default.yaml")  # its creatures, named in --council's help
    names = ", ".join(sorted(f.stem for f in SCENARIO_DIR.glob("*.yaml")))
    p.add_argument(
        "--scenario",
        default="default",
        type=user_path,
        help=f"a shipped scenario ({names}; ./recipes/scenarios/NAME.yaml takes the name's place where there is "
        "one) or a YAML path (default: default)",
    )
    p.add_argument("--seed", type=int, default=7, help="fixes the whole episode (default: 7)")
    p.add_argument("--turns", type=int, default=None, help="turns to play (default: the scenario's)")
    p.add_argument(
        "--council",
        metavar="SPEC",
        type=user_path,  # a YAML file of seats; a spec never starts with ~
        help="seats: 'oona=hoarder,bramble=panic_seller' (the default Wood's creatures: "
        f"{', '.join(shipped.creatures)}; stand-in dispositions: {', '.join(standin.SHIPPED)}, or a disposition "
        '.yaml), one disposition for all, or a YAML file of creature -> seat spec (README, "Seats and the prompt '
        "protocol\"); unnamed creatures keep the scenario's",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        type=user_path,
        help="output folder (default: runs/simulate/<scenario>-seed<seed>); an earlier episode there is replaced,"
        " a folder holding anything else refused",
    )
    p.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a scenario key, e.g. market.max_step=0.3 (repeatable)",
    )
    p.add_argument(
        "--quiet", action="store_true", help="no per-turn table: the scoreboard, the summary lines and where it wrote"
    )
    p.add_argument(
        "--max-fault-share",
        type=float,
        default=0.2,
        metavar="SHARE",
        help="exit 1 when a seat's server failed on more than this share of its decisions (default: 0.2)",
    )
    p.set_defaults(run=run)
    return p


def load_with_overrides(name: str, turns: int | None, sets: list[str]) -> Scenario:
    check_kind(name, "scenario", "--scenario")
    check_scenario_file(name)
    try:
        overrides = dict(parse_override(s) for s in sets)  # ordered: a key given twice takes the last
    except ConfigError as exc:  # "override 'x': ..." said as the option the user typed
        raise ConfigError(str(exc).replace("override ", "--set ", 1) + " (e.g. --set market.max_step=0.3)") from None
    if turns is not None:
        if "turns" in overrides and overrides["turns"] != turns:  # one would win without a word
            raise ConfigError(f"--turns {turns} and --set turns={overrides['turns']} disagree: give one of them")
        overrides["turns"] = turns
    return load_scenario(name, **overrides)


def run(args: argparse.Namespace) -> int:
    forget_said()  # the fault line tells this run's server refusals, not an earlier run's in this process
    if not 0 <= args.seed <= MAX_SEED:  # the trace row holds it as a 64-bit integer
        raise ValueError(f"--seed: must be from 0 to {MAX_SEED:,} (it seeds the world), got {args.seed}")
    if args.turns is not None and args.turns < 1:
        raise ValueError(f"--turns: must be at least 1, got {args.turns}")
    if not 0 <= args.max_fault_share <= 1:
        raise ValueError(f"--max-fault-share: must be between 0 and 1, got {args.max_fault_share}")
    if args.out is not None:  # an empty --out is no folder: not the default one, which it would replace
        check_out(args.out, None, "--out")
    scenario = load_with_overrides(args.scenario, args.turns, args.sets)
    out_dir = Path(args.out) if args.out is not None else Path("runs") / "simulate" / f"{scenario.name}-seed{args.seed}"
    check_episode_folder(out_dir)  # before seats load and play, not after
    replaced = (out_dir / "summary.json").is_file()
    council = parse_council(args.council, scenario)
    episode = run_episode(scenario, args.seed, None, council, full=False)
    write_episode(episode, out_dir)
    con = console()
    if not args.quiet:
        con.print(turn_table(scenario, args.seed, episode.history))
        con.print()
    con.print(scoreboard(scenario, episode.rows, con.width))
    for line in answer_errors(
        scenario, episode.rows, parse_errors(episode.rows)
    ):  # rejected counts refused orders only
        con.print(line, soft_wrap=True)
    con.print()
    for line in summary_lines(scenario, episode.summary):
        con.print(line)
    again = " (replacing the simulate run that was there)" if replaced else ""
    # --out prints as written: `runs/x[/]` is no markup
    con.print(
        f"wrote {out_dir}/: trace.parquet ({len(episode.rows)} rows), summary.json{again}", soft_wrap=True, markup=False
    )
    over = too_many_faults(episode.summary["faults"], args.max_fault_share)
    hint = seat_fault_hint(over[0], episode.summary["faults"][over[0]]["faults"]) if over else ""
    show_faults(con, episode.summary["faults"], over, args.max_fault_share, hint, resumes=False)
    return 1 if episode.summary["conservation_problems"] or over else 0
