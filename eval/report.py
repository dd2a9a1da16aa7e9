"""`glade report RESULTS`: write RESULTS/report.md and a self-contained RESULTS/report.html.

The report reads what `glade eval` wrote (episodes.parquet, decisions.parquet, and
recipe.yaml, summary.json and flags.json where present) and shows: the legend good's price at
settlement and the gambit P&L per scenario x world with bootstrap intervals; price paths per
good, the council(s) against the all-stand-in world; how often live seats agreed with the
stand-in (creature x turn); the gambit P&L by mechanism and world; the top flags.

Everything plotted is computed here from the parquet tables. The unit of replication is the
seed: a council's casts on one seed are averaged first, then the mean and its percentile
bootstrap interval (scipy.stats.bootstrap, fixed seed) are taken over seeds.
report.md links PNGs in RESULTS/report_files/; report.html embeds the same PNGs as data URIs
and carries its CSS inline, so it is one file that opens anywhere, offline.
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import math
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

STANDIN = "standin"  # the council name of the all-stand-in world (glade.eval.run.STANDIN)
FILES = "report_files"
TOP_FLAGS = 20
NO_FLAGS = "no flags file: run glade flag"


# ---------------------------------------------------------------------------------------
# Loading


@dataclass
class Results:
    folder: Path
    episodes: pd.DataFrame  # one row per episode (the seat rows collapsed)
    decisions: pd.DataFrame
    recipe: dict = field(default_factory=dict)
    summary: dict = field(default_factory=dict)
    flags: list[dict] | None = None  # None: no flags.json
    flags_note: str = ""
    scenarios: list[str] = field(default_factory=list)
    councils: list[str] = field(default_factory=list)  # without the stand-in world
    creatures: dict[str, list[str]] = field(default_factory=dict)  # scenario -> seats in scenario order
    seed: int = 0  # bootstrap seed
    level: float = 0.95
    resamples: int = 2000

    @property
    def worlds(self) -> list[str]:
        return [STANDIN, *self.councils]


def load_results(results_dir: str | Path) -> Results:
    folder = Path(results_dir)
    if not folder.exists():
        raise FileNotFoundError(f"{folder}: no such results folder (make one with: glade eval RECIPE)")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder}: not a folder; glade report takes the results folder glade eval wrote")
    episodes_path = folder / "episodes.parquet"
    if not episodes_path.exists():
        raise FileNotFoundError(f"{folder}: no episodes.parquet; is this a results folder? (make one with: glade eval RECIPE)")
    seats = pd.read_parquet(episodes_path)
    if not len(seats):
        raise ValueError(f"{episodes_path}: no episodes")
    missing = {"episode_id", "scenario", "council", "seed", "price_path"} - set(seats.columns)
    if missing:
        raise ValueError(f"{episodes_path}: missing column(s) {', '.join(sorted(missing))}")
    episodes = seats.drop_duplicates("episode_id").reset_index(drop=True)
    decisions_path = folder / "decisions.parquet"
    decisions = pd.read_parquet(decisions_path) if decisions_path.exists() else pd.DataFrame()

    recipe: dict = {}
    if (folder / "recipe.yaml").exists():
        import yaml

        try:
            recipe = yaml.safe_load((folder / "recipe.yaml").read_text()) or {}
        except yaml.YAMLError:
            recipe = {}
    summary: dict = {}
    if (folder / "summary.json").exists():
        try:
            summary = json.loads((folder / "summary.json").read_text())
        except json.JSONDecodeError:
            summary = {}
    flags, note = None, NO_FLAGS
    if (folder / "flags.json").exists():
        try:
            loaded = json.loads((folder / "flags.json").read_text())
            flags = loaded if isinstance(loaded, list) else loaded.get("flags", [])
            note = "" if flags else "no flags: no disagreement crossed the recipe's thresholds"
        except (json.JSONDecodeError, AttributeError) as exc:
            note = f"flags.json unreadable ({exc}); run glade flag again"

    scenarios = _ordered(episodes["scenario"], recipe.get("scenarios"))
    councils = _ordered(episodes.loc[episodes["council"] != STANDIN, "council"], list(recipe.get("councils") or {}))
    thresholds = recipe.get("thresholds") or {}
    creatures = {}
    if "creature" in seats:
        creatures = {s: list(dict.fromkeys(g["creature"])) for s, g in seats.groupby("scenario", sort=False)}
    return Results(
        folder=folder, episodes=episodes, decisions=decisions, recipe=recipe, summary=summary,
        flags=flags, flags_note=note, scenarios=scenarios, councils=councils, creatures=creatures,
        seed=int(recipe.get("seed", 0) or 0),
        level=float(thresholds.get("ci_level", 0.95)), resamples=int(thresholds.get("resamples", 2000)),
    )


def _ordered(values: pd.Series, preferred) -> list[str]:
    """The distinct values, in the recipe's order where it names them, else as they appear."""
    seen = list(dict.fromkeys(values))
    first = [v for v in (preferred or []) if v in seen]
    return first + [v for v in seen if v not in first]


# ---------------------------------------------------------------------------------------
# Numbers


def mean_ci(values, *, seed: int, level: float = 0.95, resamples: int = 2000):
    """Mean and percentile-bootstrap CI of the mean over the first axis.

    1-D input gives floats (NaNs dropped); 2-D (n, k) gives arrays of k. Fewer than two
    values: the interval is NaN. All values equal: the interval is that value."""
    from scipy.stats import bootstrap

    data = np.asarray(values, dtype=float)
    if data.ndim == 1:
        data = data[~np.isnan(data)]
        if not len(data):
            return math.nan, math.nan, math.nan
        mean, low, high = mean_ci(data[:, None], seed=seed, level=level, resamples=resamples)
        return float(mean[0]), float(low[0]), float(high[0])
    mean = data.mean(axis=0)
    if data.shape[0] < 2:
        return mean, np.full_like(mean, np.nan), np.full_like(mean, np.nan)
    constant = np.ptp(data, axis=0) == 0
    low, high = mean.copy(), mean.copy()
    if not constant.all():
        varying = data[:, ~constant]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = bootstrap(
                (varying,), np.mean, n_resamples=resamples, confidence_level=level, method="percentile",
                axis=0, vectorized=True, **_rng(bootstrap, seed),
            )
        low[~constant], high[~constant] = res.confidence_interval.low, res.confidence_interval.high
    return mean, low, high


def _rng(bootstrap, seed: int) -> dict:
    import inspect

    key = "rng" if "rng" in inspect.signature(bootstrap).parameters else "random_state"
    return {key: np.random.default_rng(seed)}


def per_seed(episodes: pd.DataFrame, column: str) -> pd.DataFrame:
    """One value per (scenario, council, seed): the mean over the council's casts on that seed."""
    frame = episodes[["scenario", "council", "seed"]].assign(**{column: pd.to_numeric(episodes[column], errors="coerce")})
    return frame.groupby(["scenario", "council", "seed"], sort=False)[column].mean().reset_index()


def results_table(r: Results) -> pd.DataFrame:
    """Per scenario x world: legend ratio and gambit P&L, mean over seeds and bootstrap CI."""
    ep = r.episodes
    ratio = per_seed(ep, "legend_ratio") if "legend_ratio" in ep else None
    pnl = per_seed(ep, "gambit_pnl") if "gambit_pnl" in ep else None
    rows = []
    for scenario in r.scenarios:
        for world in r.worlds:
            mine = ep[(ep["scenario"] == scenario) & (ep["council"] == world)]
            if not len(mine):
                continue
            row = {
                "scenario": scenario, "world": world,
                "legend_good": _first(mine, "legend_good"), "legend_turn": _first(mine, "legend_turn"),
                "seeds": int(mine["seed"].nunique()), "episodes": len(mine),
            }
            for name, table in (("legend_ratio", ratio), ("gambit_pnl", pnl)):
                if table is None:
                    row[name] = row[f"{name}_low"] = row[f"{name}_high"] = math.nan
                    continue
                values = table[(table["scenario"] == scenario) & (table["council"] == world)][name]
                row[name], row[f"{name}_low"], row[f"{name}_high"] = mean_ci(
                    values.to_numpy(dtype=float), seed=r.seed, level=r.level, resamples=r.resamples
                )
            rows.append(row)
    return pd.DataFrame(rows)


def _first(frame: pd.DataFrame, column: str):
    if column not in frame:
        return None
    values = frame[column].dropna()
    return values.iloc[0] if len(values) else None


def price_paths(r: Results, scenario: str, world: str) -> dict[str, np.ndarray]:
    """good -> (seeds, turns) array of reference prices, each seed averaged over casts."""
    mine = r.episodes[(r.episodes["scenario"] == scenario) & (r.episodes["council"] == world)]
    by_seed: dict[int, list[dict]] = {}
    for seed, path in zip(mine["seed"], mine["price_path"]):
        by_seed.setdefault(int(seed), []).append(json.loads(path))
    out: dict[str, np.ndarray] = {}
    for seed in sorted(by_seed):
        paths = by_seed[seed]
        for good in paths[0]:
            n = min(len(p[good]) for p in paths)
            out.setdefault(good, []).append(np.mean([p[good][:n] for p in paths], axis=0))
    result = {}
    for good, rows in out.items():
        n = min(len(x) for x in rows)
        result[good] = np.array([x[:n] for x in rows])
    return result


def mechanism(scenario: str, turns) -> str | None:
    """The gambit's mechanism (rumour / shock / override), if the scenario still loads."""
    try:
        from glade.env.scenario import load_scenario

        s = load_scenario(scenario, **({"turns": int(turns)} if turns else {}))
        return s.gambit.mechanism if s.gambit is not None else None
    except Exception:  # a moved or changed scenario file: the label just goes without it
        return None


# ---------------------------------------------------------------------------------------
# Figures (matplotlib, Agg)


@dataclass
class Figure:
    name: str  # file name under report_files/
    title: str
    caption: str
    png: bytes = b""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _colors(r: Results) -> dict[str, str]:
    palette = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]
    colors = {STANDIN: "#333333"}
    colors.update({c: palette[i % len(palette)] for i, c in enumerate(r.councils)})
    return colors


def _label(world: str) -> str:
    return "all stand-in" if world == STANDIN else world


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "x"


def _save(fig, plt) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _ci_words(r: Results) -> str:
    return (
        f"{r.level:.0%} CI: percentile bootstrap of the mean over seeds "
        f"(scipy.stats.bootstrap, {r.resamples} resamples, seed {r.seed}; rough with few seeds: "
        "with two it spans at most their range); a council's casts on one seed are averaged first"
    )


def price_figure(r: Results, scenario: str, label: str) -> Figure:
    plt = _pyplot()
    colors = _colors(r)
    worlds = [w for w in r.worlds if ((r.episodes["scenario"] == scenario) & (r.episodes["council"] == w)).any()]
    paths = {w: price_paths(r, scenario, w) for w in worlds}
    goods = list(next(iter(paths.values())))
    mine = r.episodes[r.episodes["scenario"] == scenario]
    legend_good, legend_turn = _first(mine, "legend_good"), _first(mine, "legend_turn")
    length = max((p.shape[1] for w in worlds for p in paths[w].values()), default=0)
    if legend_turn is not None and (pd.isna(legend_turn) or legend_turn >= length):
        legend_turn = None  # the episodes ended before the legend
    ncols = min(3, len(goods))
    nrows = math.ceil(len(goods) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.0 * nrows), squeeze=False)
    for ax, good in zip(axes.flat, goods):
        for w in [*worlds[1:], *worlds[:1]]:  # the stand-in world last, dashed, on top
            data = paths[w].get(good)
            if data is None or not data.size:
                continue
            mean, low, high = mean_ci(data, seed=r.seed, level=r.level, resamples=r.resamples)
            x = np.arange(len(mean))
            style = {"linestyle": "--", "linewidth": 1.8, "zorder": 4} if w == STANDIN else {"linewidth": 1.6}
            ax.plot(x, mean, color=colors[w], label=f"{_label(w)} (n={data.shape[0]})", **style)
            if np.isfinite(low).any():
                ax.fill_between(x, low, high, color=colors[w], alpha=0.18, linewidth=0)
        if legend_turn is not None:
            ax.axvline(float(legend_turn), color="tab:red", linestyle=":", linewidth=1.2)
        star = good == legend_good
        ax.set_title(f"{good} (legend good)" if star else good, fontweight="bold" if star else "normal", fontsize=10)
        ax.set_xlabel("turn", fontsize=8)
        ax.set_ylabel("price (pebbles)", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    spare = list(axes.flat)[len(goods):]
    handles, labels = axes.flat[0].get_legend_handles_labels()
    rank = {f"{_label(w)} (n=": i for i, w in enumerate(worlds)}
    order = sorted(range(len(labels)), key=lambda i: next((v for k, v in rank.items() if labels[i].startswith(k)), 99))
    handles, labels = [handles[i] for i in order], [labels[i] for i in order]
    if legend_turn is not None:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="tab:red", linestyle=":"))
        labels.append(f"legend turn ({int(legend_turn)})")
    if spare:
        spare[0].legend(handles, labels, loc="center", frameon=False, fontsize=9)
        for ax in spare:
            ax.axis("off")
    else:
        fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, fontsize=9, bbox_to_anchor=(0.5, -0.04))
    fig.suptitle(f"{label}: reference price after each turn's settlement", fontsize=11)
    fig.tight_layout()
    caption = f"{label}: the council(s) against the all-stand-in world (dashed) on the same seeds."
    return Figure(f"prices-{_slug(scenario)}.png", f"Price paths: {label}", caption, _save(fig, plt))


def agreement_figure(r: Results, council: str, labels: dict[str, str]) -> Figure | None:
    d = r.decisions
    if not len(d) or "agreement" not in d:
        return None
    mine = d[d["council"] == council]
    if not len(mine):
        return None
    scenarios = [s for s in r.scenarios if (mine["scenario"] == s).any()]
    plt = _pyplot()
    grids = []
    for scenario in scenarios:
        rows = mine[mine["scenario"] == scenario]
        creatures = _ordered(rows["creature"], r.creatures.get(scenario))
        grid = rows.pivot_table(index="creature", columns="turn", values="agreement", aggfunc="mean")
        turns = range(0, int(rows["turn"].max()) + 1)
        grids.append((scenario, grid.reindex(index=[c for c in creatures if c in grid.index], columns=turns)))
    width = max(g.shape[1] for _, g in grids)
    fig, axes = plt.subplots(
        len(grids), 1, figsize=(max(5.0, 0.5 * width + 2.6), max(2.6, 0.8 + sum(0.32 * g.shape[0] + 0.75 for _, g in grids))),
        squeeze=False, layout="constrained", gridspec_kw={"height_ratios": [max(g.shape[0], 1) + 1.2 for _, g in grids]},
    )
    cmap = plt.get_cmap("viridis").with_extremes(bad="#dddddd")
    image = None
    annotate = width <= 24
    boxed = False
    for ax, (scenario, grid) in zip(axes[:, 0], grids):
        values = np.ma.masked_invalid(grid.to_numpy(dtype=float))
        image = ax.imshow(values, aspect="auto", cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_yticks(range(grid.shape[0]), grid.index, fontsize=8)
        ax.set_xticks(range(grid.shape[1]), [str(t) for t in grid.columns], fontsize=8)
        ax.set_title(labels.get(scenario, scenario), fontsize=10, loc="left")
        if annotate:
            for (i, j), v in np.ndenumerate(grid.to_numpy(dtype=float)):
                if not np.isnan(v):
                    ax.text(j, i, f"{v:.2f}"[1:] if v < 1 else "1", ha="center", va="center", fontsize=6.5,
                            color="black" if v > 0.6 else "white")
        lt = _first(r.episodes[r.episodes["scenario"] == scenario], "legend_turn")
        if lt is not None and not pd.isna(lt) and lt < grid.shape[1]:
            boxed = True
            for edge in (lt - 0.5, lt + 0.5):
                ax.axvline(edge, color="tab:red", linewidth=1.4)
    axes[-1, 0].set_xlabel("turn (red box: the legend turn)" if boxed else "turn", fontsize=8)
    bar = fig.colorbar(image, ax=axes[:, 0].tolist(), shrink=0.9, pad=0.02)
    bar.set_label("agreement", fontsize=8)
    bar.ax.tick_params(labelsize=8)
    fig.suptitle(f"{council}: live decisions agreeing with the stand-in", fontsize=11)
    caption = f"Council {council}, one panel per scenario."
    return Figure(f"agreement-{_slug(council)}.png", f"Agreement with the stand-in: {council}", caption, _save(fig, plt))


def pnl_figure(r: Results, table: pd.DataFrame, labels: dict[str, str]) -> Figure | None:
    if not len(table) or table["gambit_pnl"].isna().all():
        return None
    plt = _pyplot()
    colors = _colors(r)
    pnl = per_seed(r.episodes, "gambit_pnl")
    worlds = [w for w in r.worlds if (table["world"] == w).any()]
    width = 0.8 / max(len(worlds), 1)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.0 + 1.6 * len(r.scenarios) * max(len(worlds), 1) * 0.5), 3.6))
    for k, w in enumerate(worlds):
        xs, means, lows, highs = [], [], [], []
        for i, scenario in enumerate(r.scenarios):
            row = table[(table["scenario"] == scenario) & (table["world"] == w)]
            if not len(row):
                continue
            row = row.iloc[0]
            x = i + (k - (len(worlds) - 1) / 2) * width
            xs.append(x)
            means.append(row["gambit_pnl"])
            lows.append(row["gambit_pnl_low"])
            highs.append(row["gambit_pnl_high"])
            seeds = pnl[(pnl["scenario"] == scenario) & (pnl["council"] == w)]["gambit_pnl"]
            ax.scatter([x] * len(seeds), seeds, s=9, color="black", zorder=3, alpha=0.6, linewidths=0)
        means = np.array(means, dtype=float)
        err = np.array([means - np.array(lows, dtype=float), np.array(highs, dtype=float) - means])
        err = np.where(np.isfinite(err), err, 0.0)
        ax.bar(xs, means, width * 0.92, color=colors[w], label=_label(w), yerr=err, capsize=3,
               error_kw={"elinewidth": 1, "ecolor": "#222222"}, alpha=0.85)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(r.scenarios)), [labels.get(s, s) for s in r.scenarios], fontsize=9)
    ax.set_ylabel("gambit P&L (pebbles)", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title("The patron's gambit P&L by mechanism and world", fontsize=11)
    fig.tight_layout()
    caption = "Mean over seeds with the CI as error bars; dots: the seeds."
    return Figure("gambit-pnl.png", "Gambit P&L by mechanism and world", caption, _save(fig, plt))


# ---------------------------------------------------------------------------------------
# Writing


def _num(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(value, fmt)


def _with_ci(mean, low, high, fmt: str) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    if low is None or math.isnan(low):
        return f"{format(mean, fmt)} [—]"
    return f"{format(mean, fmt)} [{format(low, fmt)}, {format(high, fmt)}]"


def table_rows(table: pd.DataFrame, labels: dict[str, str]) -> tuple[list[str], list[list[str]]]:
    header = ["scenario (mechanism)", "world", "legend good @ turn", "price at settlement / before", "gambit P&L", "seeds", "episodes"]
    rows = []
    for t in table.itertuples():
        turn = "" if t.legend_turn is None or pd.isna(t.legend_turn) else f" @ {int(t.legend_turn)}"
        rows.append([
            labels.get(t.scenario, t.scenario), _label(t.world), f"{t.legend_good or '—'}{turn}",
            _with_ci(t.legend_ratio, t.legend_ratio_low, t.legend_ratio_high, ".3f"),
            _with_ci(t.gambit_pnl, t.gambit_pnl_low, t.gambit_pnl_high, "+.2f"),
            str(t.seeds), str(t.episodes),
        ])
    return header, rows


def flag_rows(flags: list[dict]) -> tuple[list[str], list[list[str]], list[dict]]:
    ranked = sorted(flags, key=lambda f: _float(f.get("score")), reverse=True)[:TOP_FLAGS]
    header = ["#", "kind", "scenario", "council", "cast", "creature", "phase", "metric", "stand-in", "live", "effect [CI]", "support", "n", "score", "first example"]
    rows = []
    for i, f in enumerate(ranked, 1):
        examples = f.get("examples") or []
        ex = examples[0] if examples else {}
        where = f"{ex.get('episode_id', '')} turn {ex.get('turn', '')} {ex.get('creature', '')}".strip() if ex else "—"
        rows.append([
            str(i), *(_text(f.get(k)) for k in ("kind", "scenario", "council", "cast", "creature", "phase", "metric")),
            _num(_float(f.get("standin_value")), ".3g"), _num(_float(f.get("live_value")), ".3g"),
            _with_ci(_float(f.get("effect")), _float(f.get("ci_low")), _float(f.get("ci_high")), "+.3f"),
            _num(_float(f.get("support")), ".0%"), _text(f.get("n")), _num(_float(f.get("score")), ".3g"), where,
        ])
    return header, rows, ranked


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _text(value) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def header_items(r: Results) -> list[tuple[str, str]]:
    ep, d, s = r.episodes, r.decisions, r.summary
    hashes = ep.groupby("scenario", sort=False)["scenario_hash"].unique() if "scenario_hash" in ep else {}
    protocol = sorted(set(d["protocol_version"])) if len(d) and "protocol_version" in d else []
    if not protocol and s.get("protocol_version"):
        protocol = [str(s["protocol_version"])]
    seeds = sorted(int(x) for x in ep["seed"].unique())
    councils = []
    for c in r.councils:
        spec = (r.recipe.get("councils") or {}).get(c)
        casts = ep.loc[ep["council"] == c, "cast"].nunique() if "cast" in ep else 1
        focal = ", ".join(f"{k}: {v}" for k, v in (spec.get("focal") or {}).items()) if isinstance(spec, dict) else ""
        councils.append(f"{c} ({focal}; {casts} cast{'s' if casts != 1 else ''})" if focal else f"{c} ({casts} cast{'s' if casts != 1 else ''})")
    items = [
        ("recipe", str(r.recipe.get("name") or s.get("recipe") or "— (no recipe.yaml)")),
        ("results", str(r.folder)),
        ("scenarios", ", ".join(r.scenarios)),
        ("councils", "; ".join(councils) or "—"),
        ("seeds", f"{', '.join(map(str, seeds))} ({len(seeds)})"),
        ("scenario hashes", ", ".join(f"{k}: {'/'.join(v)}" for k, v in dict(hashes).items()) or "—"),
        ("protocol version", ", ".join(protocol) or "—"),
        ("episodes", f"{len(ep)} ({(ep['council'] == STANDIN).sum()} all-stand-in), {len(d)} live decisions"),
    ]
    if s:
        prov = [f"glade {s['glade_version']}" if s.get("glade_version") else "", f"commit {s['git_commit']}" if s.get("git_commit") else "",
                f"written {s['written']}" if s.get("written") else ""]
        items.append(("evaluation", ", ".join(p for p in prov if p) or "summary.json"))
    else:
        items.append(("evaluation", "no summary.json (the numbers below come from the parquet tables)"))
    return items


def write_report(results_dir: str | Path) -> tuple[Path, Path]:
    """Write RESULTS/report.md (+ RESULTS/report_files/*.png) and a self-contained RESULTS/report.html."""
    r = load_results(results_dir)
    turns = r.recipe.get("turns")
    labels = {}
    for s in r.scenarios:
        mech = mechanism(s, turns)
        labels[s] = f"{s} ({mech})" if mech else s
    table = results_table(r)
    figures = [price_figure(r, s, labels[s]) for s in r.scenarios]
    figures += [f for f in (agreement_figure(r, c, labels) for c in r.councils) if f is not None]
    pnl = pnl_figure(r, table, labels)
    if pnl is not None:
        figures.append(pnl)

    files = r.folder / FILES
    files.mkdir(exist_ok=True)
    for old in files.glob("*.png"):
        old.unlink()
    for f in figures:
        (files / f.name).write_bytes(f.png)

    md_path, html_path = r.folder / "report.md", r.folder / "report.html"
    md_path.write_text(render_md(r, table, figures, labels))
    html_path.write_text(render_html(r, table, figures, labels))
    return md_path, html_path


TABLE_CAPTION = (
    "Per scenario (mechanism) and world: the legend good's reference price at the legend turn's settlement relative to "
    "the turn before, and the patron's gambit P&L at the end (pebbles). Mean over seeds [{ci}]; '—' where fewer than two seeds."
)


def _sections(r: Results, figures: list[Figure]) -> list[tuple[str, str, list[Figure]]]:
    """(title, what the section's figures show, figures)."""
    return [
        ("Price paths", (
            "Reference price of each good after each turn's settlement, one figure per scenario, one panel per good: lines are "
            f"the mean over seeds, bands the {_ci_words(r)}. Dashed: the all-stand-in world on the same seeds. "
            "Dotted red: the legend turn (the gambit's spring)."
        ), [f for f in figures if f.name.startswith("prices-")]),
        ("Agreement with the stand-in", (
            "For every state a live seat met: the share of goods on which its decision took the same side (buy, sell or none) "
            "as the stand-in's counterfactual decision in that state; mean over seeds and casts, per creature and turn "
            "(1 = always the same side). Grey: no live decision there (a background stand-in in every cast). "
            "Red box: the legend turn."
        ), [f for f in figures if f.name.startswith("agreement-")]),
        ("Gambit P&L", (
            "The patron's gambit P&L at the end of the episode, per scenario (mechanism) and world: bars are the mean over seeds, "
            f"error bars the {_ci_words(r)}; dots are the individual seeds (averaged over casts)."
        ), [f for f in figures if f.name == "gambit-pnl.png"]),
    ]


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(map(_md_cell, header)) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in rows]
    return lines


def render_md(r: Results, table: pd.DataFrame, figures: list[Figure], labels: dict[str, str]) -> str:
    name = r.recipe.get("name") or r.summary.get("recipe") or r.folder.name
    out = [f"# glade evaluation report: {name}", ""]
    out += [f"- **{k}**: {_md_cell(v)}" for k, v in header_items(r)]
    out += ["", "## Results", "", TABLE_CAPTION.format(ci=_ci_words(r)), ""]
    out += _md_table(*table_rows(table, labels))
    for title, about, figs in _sections(r, figures):
        if not figs:
            continue
        out += ["", f"## {title}", "", about, ""]
        for f in figs:
            out += [f"![{f.title}]({FILES}/{f.name})", "", f"*{f.caption}*", ""]
    out += ["", f"## Flags (top {TOP_FLAGS})", ""]
    if r.flags:
        header, rows, _ = flag_rows(r.flags)
        out += [f"{len(r.flags)} flag(s) in flags.json, ranked by score; examples point at rows of decisions.parquet.", ""]
        out += _md_table(header, rows)
    else:
        out.append(f"*{r.flags_note}*")
    return "\n".join(out).rstrip() + "\n"


CSS = """
body { font: 15px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1d1d1f;
       max-width: 1180px; margin: 2em auto; padding: 0 1.2em; }
h1 { font-size: 1.6em; margin-bottom: .3em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15em 1.2em; font-size: .92em; }
dl.meta dt { font-weight: 600; color: #555; } dl.meta dd { margin: 0; word-break: break-word; }
table { border-collapse: collapse; font-size: .88em; margin: .6em 0; }
th, td { border: 1px solid #d6d6d6; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.standin td { color: #444; font-style: italic; }
figure { margin: 1.2em 0 2em; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, p.caption { font-size: .88em; color: #555; max-width: 60em; }
p.note { color: #8a5a00; background: #fff7e6; border: 1px solid #f0d9a8; padding: .5em .8em; display: inline-block; }
details pre { white-space: pre-wrap; font-size: .85em; background: #f6f6f6; padding: .5em; max-height: 24em; overflow: auto; }
"""


def _html_table(header: list[str], rows: list[list[str]], numeric: set[int], row_class=None, extra=None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_class(i)}"' if row_class and row_class(i) else ""
        cells = "".join(
            f'<td class="num">{html.escape(c)}</td>' if j in numeric else f"<td>{html.escape(c)}</td>" for j, c in enumerate(row)
        )
        if extra is not None:
            cells += f"<td>{extra(i)}</td>"
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>"


def _examples_html(flag: dict) -> str:
    parts = []
    for ex in (flag.get("examples") or [])[:3]:
        summary = html.escape(f"{ex.get('episode_id', '')} turn {ex.get('turn', '')} {ex.get('creature', '')}")
        body = "".join(
            f"<b>{label}</b><pre>{html.escape(str(ex.get(key, ''))[:4000])}</pre>"
            for key, label in (("prompt", "prompt"), ("response", "response"), ("standin_action", "stand-in action"))
            if ex.get(key) is not None
        )
        parts.append(f"<details><summary>{summary}</summary>{body}</details>")
    return "".join(parts) or "—"


def render_html(r: Results, table: pd.DataFrame, figures: list[Figure], labels: dict[str, str]) -> str:
    name = r.recipe.get("name") or r.summary.get("recipe") or r.folder.name
    e = html.escape
    out = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>glade report: {e(str(name))}</title>", f"<style>{CSS}</style>", "</head>", "<body>",
        f"<h1>glade evaluation report: {e(str(name))}</h1>", '<dl class="meta">',
    ]
    out += [f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in header_items(r)]
    out += ["</dl>", '<h2 id="results">Results</h2>', f'<p class="caption">{e(TABLE_CAPTION.format(ci=_ci_words(r)))}</p>']
    header, rows = table_rows(table, labels)
    worlds = list(table["world"]) if len(table) else []
    out.append(_html_table(header, rows, {3, 4, 5, 6}, row_class=lambda i: "standin" if worlds[i] == STANDIN else ""))
    for title, about, figs in _sections(r, figures):
        if not figs:
            continue
        out.append(f"<h2>{e(title)}</h2>")
        out.append(f'<p class="caption">{e(about)}</p>')
        for f in figs:
            data = base64.b64encode(f.png).decode("ascii")
            out.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{e(f.title)}">'
                f"<figcaption>{e(f.caption)}</figcaption></figure>"
            )
    out.append(f'<h2 id="flags">Flags (top {TOP_FLAGS})</h2>')
    if r.flags:
        header, rows, ranked = flag_rows(r.flags)
        out.append(f'<p class="caption">{len(r.flags)} flag(s) in flags.json, ranked by score; the examples are rows of decisions.parquet.</p>')
        out.append(_html_table(header[:-1] + ["examples"], [row[:-1] for row in rows], {8, 9, 10, 11, 12, 13},
                               extra=lambda i: _examples_html(ranked[i])))
    else:
        out.append(f'<p class="note">{e(r.flags_note)}</p>')
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------
# CLI


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "report",
        help="write report.md and a self-contained report.html for a results folder",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument("results", metavar="RESULTS", help="the folder glade eval wrote (the recipe's `out`)")
    p.set_defaults(run=run)


def _error(message: str) -> None:
    """One red `error: ...` line on stderr, as glade.cli prints it (not imported: that loads every verb)."""
    from rich.console import Console
    from rich.text import Text

    Console(stderr=True).print(Text("error: ", style="bold red") + Text(message, style="red"), soft_wrap=True)


def run(args: argparse.Namespace) -> int:
    try:
        md_path, html_path = write_report(args.results)
    except (OSError, ValueError) as exc:
        _error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return 2
    print(f"wrote {md_path} (figures in {md_path.parent / FILES}/)")
    print(f"wrote {html_path} (self-contained)")
    return 0
