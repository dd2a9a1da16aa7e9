"""After training: answer held-out states by generation, through the checkpoint's own seat.

The checkpoint is loaded exactly as a council would seat it (`{kind: checkpoint}`), greedy,
so these figures describe what an evaluation will meet:
- valid_json_rate, valid_action_rate (the parser refused or dropped nothing and named no
  error; an order whose quantity it cut to what is held or affordable still counts, and
  `valid_action_cut` says how many valid answers had one), self_buy_rate, standin_agreement (per-good direction vs the scenario's own stand-in in
  that state; glade.eval.scoring);
- direction_agreement: per-good direction (buy / sell / none) vs the stand-in it learned
  from, i.e. the answer its training data gives in that state;
- the hold baseline of both agreements (`*_hold_baseline`): an answer the parser rejects is
  executed as a hold (no order), as the Wood executes it, so it agrees on every good where
  the reference places none; what an empty answer scores on the same states, and the model's
  gain over it paired by state (`intervals`: `*_over_hold`), are what the agreements read against;
- fall_talk_sell_rate: in held-out states where talk says a good the creature holds will
  fall and the panic_seller stand-in sells that good, the share where the model sells it
  too (a disposition probe; the stand-ins' own rates on the same states sit beside it);
- cut_off_rate: answers the token budget ended (`eval.max_new_tokens` too small), which
  count against valid actions but are no fault of the model's format;
- the same figures with structured decoding (`structured: true`, keys prefixed
  `structured_`): an unconstrained model's format failures are a divergence of their own,
  and the second pass shows what the constraint leaves of the decisions.

Held-out states come from `eval.traces` (traces of seeds no training run used, with the
recipe's own data filters applied), or else from the run's held-out episodes; a state whose
prompt is in the training split (turn-0 prompts repeat across seeds) is dropped before the
sample is drawn, and counted (`trained_on`). `check_targets`
compares the figures with the recipe's `eval.targets`. Each figure's 95% interval over its n
states is in `intervals` (glade.eval.stats.interval; none where n is too small).
"""

from __future__ import annotations

import dataclasses
import json
import operator
from pathlib import Path

from glade.checkpoint import prompt_pair
from glade.env import standin
from glade.env.legends import FALL
from glade.env.protocol import parse
from glade.eval.scoring import direction_agreement, score
from glade.eval.stats import interval
from glade.seats import load
from glade.seats.base import CUT_OFF, Decision

PROBE = "panic_seller"  # the stand-in whose selling defines the fall-talk probe's states
REFERENCES = ("panic_seller", "balanced", "hoarder", "speculator")  # stand-ins measured on the probe's states
TARGET_OPS = {">=": operator.ge, "<=": operator.le}
UNCONSTRAINED = (
    "valid_json_rate",
    "valid_action_rate",
    "self_buy_rate",
    "standin_agreement",
    "direction_agreement",
    "fall_talk_sell_rate",
)
# 0/1 per state (an exact interval); the agreements are shares of goods per state (a t interval)
RATES = {"valid_json_rate", "valid_action_rate", "self_buy_rate", "fall_talk_sell_rate", "cut_off_rate"}
HOLD = ("direction_agreement", "standin_agreement")  # the figures an empty answer (a hold) scores on too
METRICS = UNCONSTRAINED + tuple(f"structured_{m}" for m in UNCONSTRAINED)  # what eval.targets may name


def heldout_rows(data_cfg, spec):
    """(rows to answer, the traces' seeds): conversations of `spec.traces` under the recipe's
    data filters (all of them held out), or None when the recipe names no held-out traces."""
    from .data import prepare

    if not spec.traces:
        return None, []
    rows, _, _ = prepare(dataclasses.replace(data_cfg, traces=tuple(spec.traces), eval_share=0.0, max_rows=None))
    return rows, trace_seeds(spec.traces)


def trace_seeds(folders) -> list[int]:
    from glade.traces import load_traces

    return sorted({int(s) for s in load_traces(list(folders), ("seed",), "glade train")["seed"]})


def fall_talk_states(folders, limit: int) -> list[tuple[dict, str]]:
    """(observation, good) for held-out states where talk says `good` will fall, the creature
    holds some, and the panic_seller stand-in sells it; at most `limit`, in a fixed order."""
    from glade.traces import load_traces

    if limit <= 0:
        return []
    rows = load_traces(list(folders), ("observation",), "glade train")
    rows = rows.filter(lambda r: FALL in json.loads(r["observation"])["talk"].values())
    panic = standin.disposition(PROBE)
    found = []
    for text in rows.shuffle(seed=0)["observation"]:
        obs = json.loads(text)
        sold = sold_goods(standin.act(obs, panic))
        for good, said in obs["talk"].items():
            if said == FALL and obs["inventory"][good] > 0 and good in sold:
                found.append((obs, good))
        if len(found) >= limit:
            break
    return found[:limit]


def sold_goods(action: dict) -> set[str]:
    return {o["good"] for o in action["orders"] if o["side"] == "sell"}


def evaluate_checkpoint(folder: Path, rows, spec, data_cfg=None, progress=None, trained=None) -> dict:
    """Held-out figures of the checkpoint in `folder` (see the module docstring). `progress` (a
    glade.console.Bar) gets a bar under it for each pass over the states, advanced per batch.
    `trained`: the (system, user) prompts it was trained on (glade.checkpoint.trained_prompts);
    held-out states with one of them are dropped and counted under `heldout_trained_on`."""
    heldout, seeds = heldout_rows(data_cfg, spec) if data_cfg is not None else (None, [])
    sample = rows if heldout is None else heldout
    if len(sample) == 0:  # the data filters kept none of eval.traces' rows: no figure could be measured
        raise ValueError(
            f"eval.traces ({', '.join(spec.traces)}): no held-out state is left under the recipe's data filters; "
            "generate held-out traces of the policies and creatures the recipe trains on, or set eval.states=0"
        )
    sample, dropped = drop_trained(sample, trained or set())
    if len(sample) == 0:
        raise ValueError(
            f"every one of the {dropped['of']:,} held-out states has a prompt of the training split, so none is "
            "held out; generate held-out traces of other seeds or scenarios"
        )
    sample = sample.shuffle(seed=0).select(range(min(spec.states, len(sample))))
    observations = [json.loads(o) for o in sample["observation"]]
    targets = [json.loads(m[-1]["content"]) for m in sample["messages"]]
    probes = fall_talk_states(spec.traces, spec.probe_states) if spec.traces else []
    out: dict = {"heldout_states": len(observations), "heldout_trained_on": dropped}
    intervals: dict[str, dict] = {}
    hold = hold_values(observations, targets, sample["standin_action"])
    for prefix, structured in (("", False), ("structured_", True)):
        seat = {"kind": "checkpoint", "path": str(folder), "max_new_tokens": spec.max_new_tokens}
        policy = load({**seat, "batch_size": spec.batch_size, "structured": structured})
        states = observations + [obs for obs, _ in probes]
        label = ("held-out and probe states" if probes else "held-out states") + (", structured" * structured)
        bar = None if progress is None else progress.stage(label, "states")  # the probes ride in the same batches
        if bar is not None:
            bar.total(len(states))
        decisions = []
        for start in range(0, len(states), spec.batch_size):  # the batches policy.act makes itself: same answers
            decisions += policy.act(states[start : start + spec.batch_size])
            if bar is not None:
                bar.advance(len(decisions) - start)
        answered, probed = decisions[: len(observations)], decisions[len(observations) :]
        values = per_state(answered, observations, targets, sample["standin_action"])
        if probes:
            values["fall_talk_sell_rate"] = [
                float(good in sold_goods(d.action)) for d, (_, good) in zip(probed, probes, strict=True)
            ]
        for name, column in values.items():
            out[prefix + name] = sum(column) / len(column)
            intervals[prefix + name] = interval(column, unit="states", rate=name in RATES, bounds=(0, 1)).as_dict()
        out[prefix + "valid_action_cut"] = cut_share(answered, observations)
        for name in HOLD:  # paired by state: the model's gain over answering nothing usable
            gain = [a - h for a, h in zip(values[name], hold[name], strict=True)]
            intervals[f"{prefix}{name}_over_hold"] = interval(gain, unit="states", bounds=(-1, 1)).as_dict()
    for name in HOLD:
        out[f"{name}_hold_baseline"] = sum(hold[name]) / len(hold[name])
        intervals[f"{name}_hold_baseline"] = interval(hold[name], unit="states", bounds=(0, 1)).as_dict()
    out["intervals"] = intervals  # 95%, per figure: n states, and no interval where n is too small
    if seeds:
        out["heldout_seeds"] = seeds
    if probes:
        out["fall_talk_states"] = len(probes)
        out["fall_talk_sell_rate_standins"] = {
            name: sum(good in sold_goods(standin.act(obs, standin.disposition(name))) for obs, good in probes)
            / len(probes)
            for name in REFERENCES
        }
    return out


def drop_trained(sample, trained: set[tuple[str, str]]):
    """(the rows whose prompt is not in `trained`, {"rows": dropped, "of": all, "episodes": theirs}):
    a state the model was trained on, even from another seed's episode, is not held out."""
    flags = [prompt_pair(m) in trained for m in sample["messages"]]
    if not any(flags):
        return sample, {"rows": 0, "of": len(flags), "episodes": []}
    episodes = sorted({e for e, f in zip(sample["episode_id"], flags, strict=True) if f})
    kept = sample.select([i for i, f in enumerate(flags) if not f])
    return kept, {"rows": sum(flags), "of": len(flags), "episodes": episodes}


def cut_share(answered, observations) -> dict:
    """Of the valid answers (no named error), those whose quantity the parser cut to what the
    creature holds or can afford (repair `qty_cut`): valid, yet not the order the model wrote.
    A share of valid answers with its exact interval ("k of n valid answers")."""
    flags = [
        float(d.text is not None and "qty_cut" in parse(d.text, obs).repairs)
        for d, obs in zip(answered, observations, strict=True)
        if d.error is None
    ]
    return interval(flags, unit="valid answers", rate=True).as_dict()


def per_state(answered, observations, targets, standin_actions) -> dict[str, list[float]]:
    """The per-state values of one pass over the held-out states (their means are the figures):
    0/1 for the rates (RATES), a share of goods for the two agreements."""
    scores = [
        score(d.action, d.error, obs, json.loads(reference))
        for obs, d, reference in zip(observations, answered, standin_actions, strict=True)
    ]
    return {
        "valid_json_rate": [s["valid_json"] for s in scores],
        "valid_action_rate": [s["valid_action"] for s in scores],
        "standin_agreement": [s["standin_agreement"] for s in scores],
        "direction_agreement": [
            direction_agreement(d.action, t, list(o["inventory"]))
            for d, t, o in zip(answered, targets, observations, strict=True)
        ],
        "self_buy_rate": [s["self_buy"] for s in scores],
        # the token budget ended the answer (seats.base.CUT_OFF): raise eval.max_new_tokens, not a format fault
        "cut_off_rate": [float(d.error == CUT_OFF) for d in answered],
    }


def hold_values(observations, targets, standin_actions) -> dict[str, list[float]]:
    """The per-state agreements (HOLD) of an empty answer on these states, scored as the model's
    answers are (per_state): the parser rejects it and the Wood executes it as a hold, as it does
    any answer it cannot use. `glade lm-eval`'s empty-answer baseline (eval/lm_docs.py) parses ""
    the same way."""
    empty = []
    for obs in observations:
        parsed = parse("", obs)
        empty.append(Decision(action=parsed.action, text="", error=parsed.error))
    values = per_state(empty, observations, targets, standin_actions)
    return {name: values[name] for name in HOLD}


def hold_text(metrics: dict) -> str | None:
    """One line on the hold baseline (meta.json metrics; None for a checkpoint written before
    glade kept it): what an empty answer scores, and the model's gain over it with its interval."""
    from glade.eval.stats import ci_text

    intervals = metrics.get("intervals") or {}
    if not all(f"{name}_hold_baseline" in metrics for name in HOLD):
        return None
    labels = {"direction_agreement": "direction", "standin_agreement": "stand-in"}
    scores = ", ".join(f"{labels[n]} {ci_text(intervals.get(f'{n}_hold_baseline'), '.3f')}" for n in HOLD)
    gains = "; ".join(
        f"{labels[n]} "
        + ", ".join(
            f"{ci_text(intervals[key], '+.3f')} {label}"
            for prefix, label in (("", "unconstrained"), ("structured_", "structured"))
            if (key := f"{prefix}{n}_over_hold") in intervals
        )
        for n in HOLD
    )
    return (
        "hold baseline (an answer the parser rejects, empty or not, is executed as a hold, no order, so it "
        f"agrees wherever the reference places none): an empty answer on the same {metrics.get('heldout_states')} "
        f"states scores {scores}; the model's gain over it, paired by state: {gains}"
    )


def pool_text(meta: dict) -> str | None:
    """What the held-out intervals describe, in words: each is over the n states sampled, and
    states of one seed's (or one episode's) turns are not independent draws, so an interval is
    about this pool of states, not about what new seeds would give. None before any was measured."""
    n = (meta.get("metrics") or {}).get("heldout_states")
    if not isinstance(n, int) or n < 1:
        return None
    seeds = (meta.get("heldout") or {}).get("seeds") or []
    if seeds:
        source, unit = f"{len(seeds)} held-out seed{'s' * (len(seeds) != 1)}", "seed"
    else:
        episodes = (meta.get("data_counts") or {}).get("eval_episodes")
        source = f"{episodes} held-out episode{'s' * (episodes != 1)}" if episodes else "the run's held-out episodes"
        unit = "episode"
    return (
        f"each interval is over {n} states from {source}; states of one {unit} are not independent, so the "
        f"intervals are about these states, not about new {unit}s"
    )


def check_targets(metrics: dict, targets: dict[str, str]) -> dict:
    """{metric: {"target": ">= 0.95", "measured": x, "met": bool, "ci": [low, high] | None,
    "shown": bool | None, "reaches": bool | None}}: met on the measured figure. `reaches`: its 95%
    interval (metrics' `intervals`) holds figures on both sides of the target, met or not: too few
    states to show it either way (None with no interval). `shown`, for a met target only: the
    whole interval lies on the target's side. A figure not measured is reported as not met, with
    measured None."""
    out = {}
    for name, target in targets.items():
        op, value = parse_target(target)
        measured = metrics.get(name)
        met = isinstance(measured, (int, float)) and TARGET_OPS[op](measured, value)
        ci = ((metrics.get("intervals") or {}).get(name) or {}).get("ci")
        shown = all(TARGET_OPS[op](end, value) for end in ci) if met and ci else None
        out[name] = {
            "target": f"{op} {value:g}",
            "measured": measured,
            "met": bool(met),
            "ci": ci,
            "shown": shown,
            "reaches": interval_reaches(op, value, ci),
        }
    return out


def interval_reaches(op: str, value: float, ci) -> bool | None:
    """Whether the interval `ci` holds a figure that meets the target and one that misses it;
    None with no interval."""
    if not ci:
        return None
    return len({bool(TARGET_OPS[op](end, value)) for end in ci}) == 2


def target_reaches(t: dict) -> bool | None:
    """A check_targets record's `reaches`; for a record written before glade kept it, worked out
    from its target and ci (None: no interval, as before glade kept intervals)."""
    if "reaches" in t:
        return t["reaches"]
    op, _, value = str(t.get("target")).partition(" ")
    return interval_reaches(op, float(value), t.get("ci")) if op in TARGET_OPS else None


def parse_target(text: str) -> tuple[str, float]:
    """'>= 0.95' -> ('>=', 0.95); ValueError otherwise (a number outside 0..1 included)."""
    op, _, number = str(text).strip().partition(" ")
    if op not in TARGET_OPS:
        raise ValueError(f"{text!r}: expected '>= NUMBER' or '<= NUMBER'")
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{text!r}: expected '>= NUMBER' or '<= NUMBER'") from None
    if not 0 <= value <= 1:  # every figure is a rate or share: '>= 85' meant 85% and could never be met
        hint = f" (for {value:g}%, write '{op} {value / 100:g}')" if 1 < value <= 100 else ""
        raise ValueError(f"{text!r}: the figures are rates, so the target must be between 0 and 1{hint}")
    return op, value


def unmeasured(key: str, spec) -> str:
    """Why the held-out evaluation (eval: `spec`) left figure `key` out: only the fall-talk probe's may be."""
    if key != "fall_talk_sell_rate":
        return f"the held-out evaluation gives no {key}"
    if not spec.traces:
        return "the fall-talk probe reads eval.traces, and the recipe names none"
    if not spec.probe_states:
        return "eval.probe_states is 0"
    return "no state of eval.traces has talk of a fall in a good the creature holds and the panic_seller stand-in sells"
