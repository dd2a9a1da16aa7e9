"""The dataset card of a traces folder (OUT/README.md): its columns, provenance, the cost of
the last run that played into it, and the recipe; `glade generate` writes it (glade.traces)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from glade.config import as_plain
from glade.console import fault_kinds
from glade.faults import too_many_faults
from glade.files import atomic
from glade.meter import closing_line, cost_table
from glade.provenance import now, stamp

COLUMNS = {
    "episode_id": "scenario.council.sSEED",
    "scenario / scenario_hash / seed": "the rules that ran (hash of the resolved scenario) and the world seed",
    "turn / creature": "when and who",
    "seat / policy": "the seat label and the identity of the policy that decided",
    "protocol_version": "version of the prompt protocol (changes whenever the prompt wording does)",
    "messages": "the rendered chat prompt (system role card, user turn)",
    "observation": "the observation the prompt was rendered from (JSON)",
    "completion": "the raw completion (for stand-in seats, the action as canonical JSON)",
    "action": "the parsed, valid action as canonical JSON",
    "error / repaired": "the parser's named error (or null) and whether it repaired the text",
    "self_buy": "how many buy orders named goods the creature makes (self-buys)",
    "standin_action / standin_disposition": "what the creature's scenario stand-in (that disposition) would have done in the same state",
    "latency_s / prompt_tokens / completion_tokens": "cost of the decision",
    "rejected / fills": 'the parser\'s ("by": "parser") and the market\'s named rejections and cuts, and the fills (JSON)',
    "pebbles / wealth_before / wealth_after / wealth_change / mood": "outcome figures of the creature-turn",
}


def write_card(
    recipe, out: Path, scenarios: dict, done: dict, cost: dict | None = None, faults: dict | None = None
) -> None:
    """The dataset card (README.md) and recipe.yaml; `faults` (glade.faults.tally_faults of the
    rows) puts the held turns near the top, as the exported card has them."""
    front = {
        "configs": [{"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}],
        "tags": ["glade", "agent-traces", "multi-agent", "market-simulation"],
        "license": "apache-2.0",
    }
    provenance = {
        **stamp(("datasets", "numpy")),
        "scenario_hashes": {name: s.hash() for name, s in scenarios.items()},
        "episodes": len(done),
        "written": now(),
    }
    schema = "\n".join(f"| `{k}` | {v} |" for k, v in COLUMNS.items())
    text = (
        "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n\n"
        f"# glade traces: {out.name}\n\n"
        "Decisions of creatures in the Wood, one row per creature per turn, written by "
        f'`glade generate`. Load with `datasets.load_dataset({json.dumps(str(out))}, split="train")` (this folder; its '
        f"`configs` name the shards) or `glade.traces.load_traces({json.dumps(str(out))})`, which refuses an unfinished one.\n\n"
        + (faults_section(faults, recipe.max_fault_share) if faults else "")
        + "## Schema\n\n| column | meaning |\n| --- | --- |\n"
        + schema
        + "\n\n"
        "## Provenance\n\n```json\n"
        + json.dumps(provenance, indent=2)
        + "\n```\n\n"
        + (cost_section(cost) if cost else "")
        + recipe_section(as_plain(recipe))
    )
    # the card marks the folder finished (glade.traces.interrupted_generate): it goes last, and whole
    with atomic(out / "recipe.yaml") as tmp:
        tmp.write_text(yaml.safe_dump(as_plain(recipe), sort_keys=False))
    with atomic(out / "README.md") as tmp:
        tmp.write_text(text)


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
        f"| `{seat}` | {sum(t['faults'].values())} of {t['decisions']} | {t['fault_share']:.0%} | "
        + fault_kinds(t["faults"])
        + " |"
        for seat, t in faulted.items()
    )
    beyond = (
        f" For {', '.join(f'`{s}`' for s in over)} that is more than the recipe's max_fault_share "
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
    return RECIPE_HEADING + "\n```yaml\n" + yaml.safe_dump(recipe, sort_keys=False) + "```\n"


def cost_section(cost: dict) -> str:
    """The card's record of what the last run into this folder cost (glade.meter)."""
    header, rows = cost_table(cost)
    table = "\n".join("| " + " | ".join(r) + " |" for r in [header, ["---"] * len(header), *rows])
    return f"## Cost of the last run\n\n{closing_line(cost)}.\n\n{table}\n\n"
