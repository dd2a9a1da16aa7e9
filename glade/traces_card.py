"""The dataset card of a traces folder (OUT/README.md): its columns, provenance, the cost of
the last run that played into it, and the recipe; `glade generate` writes it (glade.traces)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from glade.config import as_plain
from glade.console import fault_kinds
from glade.env import standin
from glade.faults import too_many_faults
from glade.files import atomic
from glade.provenance import now, other_writers, stamp
from glade.resume import part_writers
from glade.run_cost import closing_line, cost_table
from glade.seats.standin import PREFIX as STANDIN_PREFIX
from glade.words import counted, md_block, md_code, md_row, md_text, portable, seed_spans, term

COLUMNS = {
    "episode_id": "scenario.council.sSEED",
    "scenario / scenario_hash / seed": "the rules that ran (see Terms; hash of the resolved scenario) and the world seed",
    "turn / creature": "the turn, counted from 0 (the prompt says Turn t+1), and the creature deciding",
    "seat / policy": "the seat label and the identity of the policy that decided this row: who acted",
    "protocol_version": "version of the prompt protocol (changes whenever the prompt wording does)",
    "messages": "the rendered chat prompt (system role card, user turn)",
    "observation": "the observation the prompt was rendered from (JSON), as the turn began",
    "completion": "the raw completion (for stand-in seats, the action as canonical JSON; empty for a seat fault, "
    "where no answer came)",
    "action": "the parsed, valid action as canonical JSON (prices in pebbles per unit)",
    "error / repaired": "the parser's named error (or null) and whether it repaired the text",
    "self_buy": "how many buy orders named goods the creature makes (self-buys)",
    "standin_action / standin_disposition": "what the scenario's stand-in for this creature would have done in the "
    "same state, and its disposition: the creature's disposition in the scenario, not the acting seat's, so it "
    "can differ from `action` wherever another policy held the seat (compare `seat` / `policy` to see who acted)",
    "latency_s / prompt_tokens / completion_tokens": "cost of the decision: seconds (a server seat's round trip, a "
    "model seat's share of its batched call; 0 for a stand-in) and tokens (0 for a stand-in)",
    "rejected / fills": 'the parser\'s ("by": "parser") and the market\'s named rejections and cuts, and the fills '
    "(JSON; qty in units, price in pebbles per unit)",
    "pebbles": "the creature's pebbles (the Wood's money) once the turn is over: after its trades and the "
    "settlement (what its next observation shows)",
    "wealth_before / wealth_after / wealth_change": "wealth in pebbles, its pebbles plus its goods at the reference "
    "prices: as the turn began (the observation's holdings and prices), once it is over (the next turn's "
    "wealth_before: the goods made at its start included), and after minus before",
    "mood": "the creature's mood once the turn is over (after its meals and the fuel it burns, firewood in the default "
    "Wood), from 0 (miserable) to 1 "
    "(content), as its prompt says; never below the scenario's mood floor",
}

# the Hub's size_categories buckets, each with the row count it stays under (huggingface_hub DatasetCardData)
SIZES = [(10**3, "n<1K"), (10**4, "1K<n<10K"), (10**5, "10K<n<100K"), (10**6, "100K<n<1M"), (10**7, "1M<n<10M")]
SIZES += [(10**8, "10M<n<100M"), (10**9, "100M<n<1B"), (10**10, "1B<n<10B"), (10**11, "10B<n<100B")]
SIZES += [(10**12, "100B<n<1T")]
FACT_COLUMNS = ["episode_id", "scenario", "seed", "creature", "seat", "policy", "prompt_tokens", "completion_tokens"]
FACT_COLUMNS += ["action", "standin_action"]
BATCH_ROWS = 8_192  # rows row_facts holds at once: a few MB of action JSON


def size_category(rows: int) -> str:
    """The Hub's size_categories bucket of a dataset of `rows` rows."""
    return next((name for below, name in SIZES if rows < below), "n>1T")


def write_card(
    recipe, out: Path, scenarios: dict, done: dict, cost: dict | None = None, faults: dict | None = None
) -> list[dict] | None:
    """The dataset card (README.md) and recipe.yaml; `faults` (glade.faults.tally_faults of the
    rows) puts the held turns near the top, as the exported card has them. What the card says of
    the rows (how many, who answered them, the councils) it reads from the folder's shards.
    Returns the card's `written_by` (glade.provenance.other_writers), for the command to say so."""
    plain = as_plain(recipe)
    facts = row_facts(out, scenarios, list(plain.get("councils") or []), tuple(plain.get("scenarios") or ()))
    front = {
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}],
        "tags": ["glade", "agent-traces", "multi-agent", "market-simulation"],
        "license": "apache-2.0",
        "language": ["en"],
        # chat prompts (`messages`) answered by JSON actions: generated text, the Hub's text-generation task
        "task_categories": ["text-generation"],
        **({"size_categories": [size_category(facts["rows"])]} if facts else {}),
    }
    made = stamp(("datasets", "numpy"))
    # a folder resumed under another glade, or kept whole from another's run: each glade that wrote its episodes
    others = other_writers(part_writers(out, set(done)), made)
    provenance = {
        **made,
        "scenario_hashes": {portable(name): s.hash() for name, s in scenarios.items()},
        "episodes": len(done),
        "written": now(),
        **({"written_by": others} if others else {}),
    }
    load = f'datasets.load_dataset({json.dumps(str(out))}, split="train")'
    schema = "\n".join(f"| `{k}` | {v} |" for k, v in COLUMNS.items())
    text = (
        "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n\n"
        f"# glade traces: {md_text(out.name)}\n\n"
        "Decisions of creatures in the Wood, one row per creature per turn, written by "
        f"`glade generate`. Load with {md_code(load)} (this folder; its `configs` name the shards) or "
        f"{md_code(f'glade.traces.load_traces({json.dumps(str(out))})')}, which refuses an unfinished one.\n\n"
        + (facts_text(facts) if facts else "")
        + (MADE_BY if others is None else MADE_BY_SEVERAL)
        + (faults_section(faults, recipe.max_fault_share) if faults else "")
        + "## Schema\n\n| column | meaning |\n| --- | --- |\n"
        + schema
        + "\n\n"
        + terms_section(scenarios, facts, plain.get("councils") or {})
        + "## Provenance\n\n```json\n"
        + json.dumps(provenance, indent=2)
        + "\n```\n\n"
        + (cost_section(cost) if cost else "")
        + recipe_section(plain)
    )
    # the card marks the folder finished (glade.traces_ledger.interrupted_generate): it goes last, and whole
    with atomic(out / "recipe.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(plain, sort_keys=False), encoding="utf-8")
    with atomic(out / "README.md") as tmp:
        tmp.write_text(text, encoding="utf-8")
    return others


MADE_BY = (
    "Made by `glade generate recipe.yaml`, the resolved recipe this folder holds (under Recipe below): "
    "`glade generate recipe.yaml out=NEW_FOLDER` plays the same episodes again; Provenance names the glade "
    "version and commit that wrote these.\n\n"
)
MADE_BY_SEVERAL = MADE_BY.replace(
    "the glade version and commit that wrote these",
    "the glade version and commit that wrote this card, and `written_by` each one that wrote episodes here, with "
    "how many (a run resumed under another glade)",
)


def row_facts(out: Path, scenarios: dict, councils: list[str], entries: tuple[str, ...] = ()) -> dict | None:
    """What the card says of the rows, read from the folder's shards (data/*.parquet, what its `configs`
    load), given scenarios (name -> Scenario), councils in the recipe's order and the recipe's scenario
    `entries` (the ids of a folder begun before ids held names): None where there are none or they lack
    a column (the card then says nothing of them). Read a batch at a time and counted in Arrow, so memory
    grows with a batch (BATCH_ROWS) and the distinct ids, seats and policies, not with the rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    shards = sorted((Path(out) / "data").glob("*.parquet"))
    # each episode id the recipe plays, to its council: glade.traces.episode_plan's NAME.council.sSEED; a folder
    # begun before ids named the scenario by its `name:` holds ids of the recipe's `entries` (a path, for one
    # named by path), and a rerun adds new ones beside them
    heads = {f"{name}.{council}": council for name in [*scenarios, *entries] for council in councils}
    tally = {"rows": 0, "episodes": set(), "scenarios": set(), "seeds": set(), "seats": {}, "policies": {}}
    tally |= {"prompt": 0, "completion": 0, "differs": 0}
    try:  # one shard open at a time: a folder of thousands of shards stays under the open-file limit
        for shard in shards:
            with pq.ParquetFile(shard, pre_buffer=False, buffer_size=1 << 20) as f:
                if set(FACT_COLUMNS) - set(f.schema_arrow.names):
                    return None
                for batch in f.iter_batches(batch_size=BATCH_ROWS, columns=FACT_COLUMNS):
                    add_batch(tally, batch)
    except (OSError, ValueError, pa.ArrowException):  # unreadable
        return None
    if not tally["rows"]:
        return None
    seats: dict[str, dict[str, set]] = {}
    for episode_id, seed, creature, seat in tally["seats"]:  # as the rows first name them: scenario order
        end = f".s{seed}"
        council = heads.get(episode_id.removesuffix(end)) if episode_id.endswith(end) else None
        if council is not None:  # an episode the recipe does not play (a folder's older rows) names none
            seats.setdefault(council, {}).setdefault(creature, set()).add(seat)
    named = [scenarios[s].name for s in scenarios]  # the rows' scenario column holds each one's name
    return {
        "rows": tally["rows"],
        "episodes": len(tally["episodes"]),
        "scenarios": in_order({str(x) for x in tally["scenarios"]}, named),
        "seeds": sorted(tally["seeds"]),
        "councils": {c: seats[c] for c in in_order(set(seats), councils)},
        "policies": dict(sorted(tally["policies"].items(), key=lambda kv: (-kv[1], kv[0]))),
        "tokens": (tally["prompt"], tally["completion"]),
        "standin_differs": tally["differs"],
    }


def add_batch(tally: dict, batch) -> None:
    """Add one record batch of the fact columns to `tally` (row_facts'), vectorised in Arrow."""
    import pyarrow as pa
    import pyarrow.compute as pc

    t = pa.Table.from_batches([batch])
    tally["rows"] += t.num_rows
    for r in pc.value_counts(t["policy"]).to_pylist():
        tally["policies"][str(r["values"])] = tally["policies"].get(str(r["values"]), 0) + int(r["counts"])
    tally["episodes"].update(pc.unique(t["episode_id"]).to_pylist())
    tally["scenarios"].update(pc.unique(t["scenario"]).to_pylist())
    tally["seeds"].update(int(x) for x in pc.unique(t["seed"]).to_pylist())
    keys = ["episode_id", "seed", "creature", "seat"]
    seats = t.group_by(keys, use_threads=False).aggregate([]).select(keys).to_pylist()  # in the rows' order
    tally["seats"].update(dict.fromkeys(tuple(r.values()) for r in seats))
    tally["prompt"] += int(pc.sum(t["prompt_tokens"]).as_py() or 0)
    tally["completion"] += int(pc.sum(t["completion_tokens"]).as_py() or 0)
    differs = pc.sum(pc.cast(pc.not_equal(t["action"], t["standin_action"]), pa.int64())).as_py()
    tally["differs"] += int(differs or 0)


def in_order(names: set[str], order: list[str]) -> list[str]:
    """`names` in `order` (the recipe's), any it does not list after them, sorted."""
    return [n for n in order if n in names] + sorted(names - set(order))


def facts_text(f: dict) -> str:
    """The card's opening lines on the rows: how many, from what, who answered them."""
    prompt, completion = f["tokens"]
    counts = ", ".join(f"{md_code(p)} {n:,} rows" for p, n in f["policies"].items())
    if all(p.startswith(STANDIN_PREFIX) for p in f["policies"]) and not prompt + completion:
        who = f"Every row was answered by rule-based stand-ins (no model: 0 tokens): {counts}."
    else:
        who = f"The rows were answered by {counted(len(f['policies']), 'policy', 'policies')} ({prompt:,} prompt + {completion:,} completion tokens in all): {counts}."
    return (
        f"{counted(f['rows'], 'row')} from {counted(f['episodes'], 'episode')}: "
        f"{counted(len(f['scenarios']), 'scenario')} ({md_text(', '.join(f['scenarios']))}) x "
        f"{counted(len(f['councils']), 'council')} ({md_text(', '.join(f['councils']))}) x "
        f"{counted(len(f['seeds']), 'seed')} ({seed_spans(f['seeds'])}). {who} `standin_action` differs from `action` in {f['standin_differs']:,} of "
        f"{f['rows']:,} rows: it is the scenario's stand-in for the creature, not the seat that acted.\n\n"
    )


def council_text(name: str, seats: dict[str, set], named: dict | None) -> str:
    if named == {}:
        return f"{md_code(name)}: names no seat, so each creature sits on its scenario stand-in"
    labels = {label for s in seats.values() for label in s}
    if len(labels) == 1:
        who = f"every creature {md_code(next(iter(labels)))}"
    else:
        who = ", ".join(f"{md_text(c)} " + " or ".join(map(md_code, sorted(seats[c]))) for c in seats)
    return f"{md_code(name)}: {who}"


def terms_section(scenarios: dict, facts: dict | None, councils: dict) -> str:
    """The words the card uses, once each: the ones the model card and the eval report use too in
    glade.words' wording, with what this card adds (its columns, this recipe's dispositions and councils)."""
    dispositions = {  # a scenario given by path is named by its file (portable), as in Provenance
        md_text(portable(name)): md_text(
            ", ".join(f"{c} {disposition_name(x.disposition)}" for c, x in s.creatures.items())
        )
        for name, s in scenarios.items()
    }
    same = len(set(dispositions.values())) == 1
    each = (
        f": {next(iter(dispositions.values()))}"
        if same and dispositions
        else "".join(f"; {n}: {d}" for n, d in dispositions.items())
    )
    seated = "".join(
        f"; {council_text(n, seats, councils.get(n))}" for n, seats in (facts or {}).get("councils", {}).items()
    )
    terms = [
        term("turn"),
        ("pebbles", "the Wood's money: purses, wealth and prices (per unit of a good) are in pebbles"),
        term("seat", "; `seat` labels it, `policy` names what answered"),
        term("stand-in", "; `standin_action` is its answer in the row's state, what each decision is compared with"),
        term("disposition", "; each creature has one in each scenario" + each),
        term("council", "; the episode id's middle part names it" + seated),
    ]
    for name, s in scenarios.items():
        about = md_text(s.description.strip()) or "no description"  # the user's words: no heading, tag or table
        terms.append((f"scenario {md_code(portable(name))}", f"{s.turns} turns, {len(s.creatures)} creatures: {about}"))
    if any(s.gambit is not None for s in scenarios.values()):
        terms.append(
            (
                "gambit, patron, legend",
                "the gambit is the patron's scripted plan: short a good, tip a creature, spring a legend, cover; the "
                "patron is a financier outside the market, and a legend a scripted market event, sprung by a "
                "rumour, a shock or an override",
            )
        )
    return "## Terms\n\n" + "".join(f"- **{t}**: {w}\n" for t, w in terms) + "\n"


def disposition_name(disposition) -> str:
    """A scenario's disposition as the rows name it (a file by the name inside it)."""
    try:
        return standin.disposition(disposition).name
    except (OSError, ValueError):
        return str(disposition)


RECIPE_HEADING = "## Recipe\n"
FAULTS_HEADING = "## Held turns: seat faults\n"


def faults_section(tally: dict[str, dict], max_share: float) -> str:
    """The card's note on the rows whose seat's server failed to answer (glade.faults.tally_faults
    of the rows; "" when there are none): they are held turns, not the model's behaviour."""
    faulted = {seat: t for seat, t in tally.items() if t["faults"]}
    if not faulted:
        return ""
    over = too_many_faults(tally, max_share)
    rows = "\n".join(
        md_row(
            [
                md_code(seat),
                f"{sum(t['faults'].values())} of {t['decisions']}",
                f"{t['fault_share']:.0%}",
                fault_kinds(t["faults"]),
            ]
        )
        for seat, t in faulted.items()
    )
    beyond = (
        f" For {', '.join(map(md_code, over))} that is more than the recipe's max_fault_share "
        f"({max_share:g}): `glade generate` failed the run on it."
        if over
        else ""
    )
    return (
        FAULTS_HEADING + "\nSome rows are **held turns, not the model's behaviour**: the seat's server failed to "
        "answer (refused, timed out, an HTTP error) and the creature held. Their `error` starts with `server_`; "
        f"`glade train` leaves them out, and any other use should too.{beyond}\n\n"
        "| seat | fault rows | share of its rows | faults |\n| --- | --- | --- | --- |\n" + rows + "\n\n"
    )


def recipe_section(recipe: dict) -> str:
    """The card's last section (glade export-traces rewrites it with local paths shortened)."""
    return RECIPE_HEADING + "\n" + md_block(yaml.safe_dump(recipe, sort_keys=False), "yaml")


def cost_section(cost: dict) -> str:
    """The card's record of what the last run into this folder cost (glade.meter)."""
    header, rows = cost_table(cost)
    table = "\n".join(md_row(r) for r in [header, ["---"] * len(header), *[map(md_text, r) for r in rows]])
    return f"## Cost of the last run\n\n{closing_line(cost)}.\n\n{table}\n\n"
