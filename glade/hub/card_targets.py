"""The model card's targets (model_card.py): the recipe's `eval.targets`, each measured on the
held-out states and held to its 95% interval, and the stand-ins' own rates on the disposition
probe's states."""

from __future__ import annotations

from .card_sections import ci_cell, fmt, table
from .lineage import meta_text


def target_verdict(t: dict) -> str:
    """met / met on the mean only / met (no interval) / not met, on the mean only where the interval
    reaches across the target (train/evaluate.target_reaches); a target recorded before glade kept
    intervals is met or not, as it was then told."""
    from glade.train.evaluate import target_reaches

    reaches = target_reaches(t)
    interval = f"the interval [{t['ci'][0]:.4f}, {t['ci'][1]:.4f}]" if reaches else ""
    if not t["met"]:
        if reaches:
            return f"**not met** on the mean; {interval} reaches the target: too few states to show it either way"
        return "**not met**"
    if reaches:
        return f"met on the mean; {interval} reaches past the target: too few states to show it"
    return "met (no interval)" if reaches is None and "shown" in t else "met"


def targets_section(meta: dict, recipe: dict | None = None) -> list[str]:
    """The recipe's targets, measured; and the stand-ins' own rates on the disposition probe's states."""
    out = []
    targets = meta.get("targets") or {}
    intervals = (meta.get("metrics") or {}).get("intervals") or {}
    if targets:
        rows = []
        for name, t in targets.items():
            n = (intervals.get(name) or {}).get("n")
            ci = t["ci"] if "ci" in t else (intervals.get(name) or {}).get("ci")  # a target recorded before its ci
            ci = ci_cell(ci, n, "-")
            rows.append([name, t["target"], fmt(t["measured"]), ci, f"{n} states" if n else "-", target_verdict(t)])
        recorded = any("shown" in t for t in targets.values())  # targets recorded before glade checked intervals
        head = "Targets (from the recipe's `eval.targets`"
        if why := meta.get("targets_not_measured"):  # no held-out state was answered
            head += f"; none could be measured: {why}):"
        else:
            head += "; met: the measured figure and its whole 95% interval on the target's side):" if recorded else "):"
        out += [head, "", table(["metric", "target", "measured", "95% CI", "n", ""], rows), ""]
        listed = ((recipe or {}).get("eval") or {}).get("targets")
        later = [name for name in targets if isinstance(listed, dict) and name not in listed]
        if later:  # e.g. the shipped base's structured targets, measured after it trained
            why = f": {meta_text(meta['structured_measured'])}" if meta.get("structured_measured") else ""
            out += [
                f"{', '.join(f'`{n}`' for n in later)}: not in this repository's `recipe.yaml` (the recipe it trained "
                f"with); set and measured after training{why}.",
                "",
            ]
    metrics = meta.get("metrics") or {}
    references = metrics.get("fall_talk_sell_rate_standins")
    if references:
        out += [
            f"`fall_talk_sell_rate`: in {metrics.get('fall_talk_states')} held-out states where talk says a good the "
            "creature holds will fall and the panic_seller stand-in sells it, the share where this model sells it. "
            "The stand-ins on the same states: "
            + ", ".join(f"{name} {fmt(rate)}" for name, rate in references.items())
            + ".",
            "",
        ]
    return out
