"""The report's figures (matplotlib, Agg): price paths with CI bands, agreement heatmaps,
gambit P&L by mechanism and world, the legend turn's move split into traded and written at the
seam; and a figure as report.md and report.html show it."""

from __future__ import annotations

import base64
import hashlib
import html
import math
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from glade.eval.metrics import per_seed
from glade.eval.recipe import STANDIN
from glade.eval.verdict_text import turn_text
from glade.words import level_percent

from .data import FILES, WORLD, Results, first_value, mean_ci, ordered, price_paths
from .markup import md_text

# ---------------------------------------------------------------------------------------
# Charts: the report's figures (matplotlib, Agg)


@dataclass
class Chart:
    name: str  # file name under report_files/
    title: str
    caption: str
    png: bytes = b""


def figure_md(f: Chart) -> list[str]:
    """A figure in report.md: the PNG under report_files/ and its caption."""
    return [f"![{md_text(f.title, inside=True)}]({FILES}/{f.name})", "", f"*{md_text(f.caption, inside=True)}*", ""]


def figure_html(f: Chart) -> str:
    """A figure in report.html: the PNG as a data URI, so the page stays one file."""
    data = base64.b64encode(f.png).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(f.title)}">'
        f"<figcaption>{html.escape(f.caption)}</figcaption></figure>"
    )


# The x axis of the per-turn figures: the tables' 0-based turn, and what the prompt calls it.
TURN_AXIS = "turn (from 0; the prompt says Turn t+1)"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


# Every plotted world its own look: tab10's colours (less grey, the stand-in's), then tab20's light
# ones; past those the colours come round again with a dash pattern (lines) and a hatch (bars) of
# their own, so no two worlds share a look however many councils there are.
PALETTE = [f"tab:{c}" for c in ("blue", "orange", "green", "red", "purple", "brown", "pink", "olive", "cyan")] + [
    "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5"
]  # fmt: skip
HATCHES = ("//", "\\\\", "xx", "..", "oo", "++", "--", "||", "**")


@dataclass(frozen=True)
class Look:
    color: str
    linestyle: object = "-"  # a name or matplotlib's (offset, (on, off)) dash pattern
    hatch: str = ""


def world_looks(worlds: list[str]) -> dict[str, Look]:
    """Each world's colour, line style and bar hatch; the stand-in world dark grey and dashed."""
    looks = {STANDIN: Look("#333333", "--")}
    councils = [w for w in worlds if w != STANDIN]
    for i, c in enumerate(councils):
        turn = i // len(PALETTE)  # how many times the colours came round before this council
        dash = "-" if not turn else (0, (1.0 + turn, 1.5, 1.0, 1.5))  # dash-dot, longer each round: never "--"
        hatch = "" if not turn else HATCHES[(turn - 1) % len(HATCHES)] * (1 + (turn - 1) // len(HATCHES))
        looks[c] = Look(PALETTE[i % len(PALETTE)], dash, hatch)
    return looks


def world_label(world: str) -> str:
    return "all stand-in" if world == STANDIN else world


# Every figure's file name starts with one of these (the names below): `report` removes only
# these PNGs from report_files/, never one of the user's own.
FIGURE_PREFIXES = ("prices-", "agreement-", "gambit-pnl", "seam-split")


SLUG_CHARS = 100  # a file name's part from a name: a long scenario path must not pass the file system's 255 bytes


def _slug(text: str) -> str:
    """`text` as a file name's part; a long one cut to SLUG_CHARS with a short hash of the whole, so two
    long names that share their start still differ (unique_names settles any other clash)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "x"
    if len(slug) <= SLUG_CHARS:
        return slug
    return slug[:SLUG_CHARS] + "-" + hashlib.sha256(str(text).encode("utf-8")).hexdigest()[:8]


def _save(fig, plt) -> bytes:
    import io

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def ci_words(r: Results) -> str:
    return (
        f"{level_percent(r.thresholds.ci_level)} interval of the mean over seeds (Student t, widened on the skewed side by Hall's "
        "correction, at the degrees of freedom the seeds' excess kurtosis leaves; none below 4 seeds, and none where every seed gave the same value); a council's casts "
        "on one seed are averaged first"
    )


def price_figure(r: Results, scenario: str, label: str) -> Chart:
    plt = _pyplot()
    looks = world_looks(r.worlds)
    worlds = [w for w in r.worlds if ((r.episodes["scenario"] == scenario) & (r.episodes["council"] == w)).any()]
    paths = {w: price_paths(r, scenario, w) for w in worlds}
    goods = list(next(iter(paths.values())))
    mine = r.episodes[r.episodes["scenario"] == scenario]
    legend_good, legend_turn = first_value(mine, "legend_good"), first_value(mine, "legend_turn")
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
            mean, low, high = mean_ci(data, r)
            x = np.arange(len(mean))
            look = looks[w]
            style = {"linewidth": 1.8, "zorder": 4} if w == STANDIN else {"linewidth": 1.6}
            ax.plot(
                x,
                mean,
                color=look.color,
                linestyle=look.linestyle,
                label=f"{world_label(w)} (n={data.shape[0]})",
                **style,
            )
            if np.isfinite(low).any():
                ax.fill_between(x, low, high, color=look.color, alpha=0.18, linewidth=0)
        if legend_turn is not None:
            ax.axvline(float(legend_turn), color="tab:red", linestyle=":", linewidth=1.2)
        star = good == legend_good
        ax.set_title(f"{good} (legend good)" if star else good, fontweight="bold" if star else "normal", fontsize=10)
        ax.set_xlabel(TURN_AXIS, fontsize=8)
        ax.set_ylabel("price (pebbles)", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    spare = list(axes.flat)[len(goods) :]
    handles, labels = axes.flat[0].get_legend_handles_labels()
    rank = {f"{world_label(w)} (n=": i for i, w in enumerate(worlds)}
    order = sorted(range(len(labels)), key=lambda i: next((v for k, v in rank.items() if labels[i].startswith(k)), 99))
    handles, labels = [handles[i] for i in order], [labels[i] for i in order]
    if legend_turn is not None:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="tab:red", linestyle=":"))
        labels.append(f"legend {turn_text(legend_turn)}")
    if spare:
        spare[0].legend(handles, labels, loc="center", frameon=False, fontsize=9)
        for ax in spare:
            ax.axis("off")
    else:
        fig.legend(
            handles,
            labels,
            loc="lower center",
            ncol=min(len(labels), 4),  # more in a row would widen the figure and shrink its text
            frameon=False,
            fontsize=9,
            bbox_to_anchor=(0.5, -0.04),
        )
    fig.suptitle(f"{label}: reference price after each turn's settlement", fontsize=11)
    fig.tight_layout()
    caption = f"{label}: the council(s) against the all-stand-in world (dashed) on the same seeds."
    return Chart(f"prices-{_slug(scenario)}.png", f"Price paths: {label}", caption, _save(fig, plt))


def cell_label(v: float) -> str:
    """An agreement cell's label: .45 for 0.45, and 1 for whatever rounds to 1.00 (0.998 is no .00)."""
    text = f"{v:.2f}"
    return "1" if text == "1.00" else text.removeprefix("0")


def agreement_figure(r: Results, council: str, labels: dict[str, str]) -> Chart | None:
    d = r.decisions
    if not len(d) or "agreement" not in d:
        return None
    mine = d[d["council"] == council]
    if not len(mine):
        return None
    scenarios = [s for s in r.scenarios if (mine["scenario"] == s).any()]
    plt = _pyplot()
    grids, sizes = [], []
    for scenario in scenarios:
        rows = mine[mine["scenario"] == scenario]
        creatures = ordered(rows["creature"], r.creatures.get(scenario))
        grid = rows.pivot_table(index="creature", columns="turn", values="agreement", aggfunc="mean")
        sizes += list(rows.groupby(["creature", "turn"]).size())  # decisions per cell: its n
        turns = range(0, int(rows["turn"].max()) + 1)
        grids.append((scenario, grid.reindex(index=[c for c in creatures if c in grid.index], columns=turns)))
    width = max(g.shape[1] for _, g in grids)
    fig, axes = plt.subplots(
        len(grids),
        1,
        figsize=(max(5.0, 0.5 * width + 2.6), max(2.6, 0.8 + sum(0.32 * g.shape[0] + 0.75 for _, g in grids))),
        squeeze=False,
        layout="constrained",
        gridspec_kw={"height_ratios": [max(g.shape[0], 1) + 1.2 for _, g in grids]},
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
                    ax.text(
                        j,
                        i,
                        cell_label(v),
                        ha="center",
                        va="center",
                        fontsize=6.5,
                        color="black" if v > 0.6 else "white",
                    )
        lt = first_value(r.episodes[r.episodes["scenario"] == scenario], "legend_turn")
        if lt is not None and not pd.isna(lt) and lt < grid.shape[1]:
            boxed = True
            for edge in (lt - 0.5, lt + 0.5):
                ax.axvline(edge, color="tab:red", linewidth=1.4)
    axes[-1, 0].set_xlabel(f"{TURN_AXIS}; red box: the legend turn" if boxed else TURN_AXIS, fontsize=8)
    bar = fig.colorbar(image, ax=axes[:, 0].tolist(), shrink=0.9, pad=0.02)
    bar.set_label("agreement", fontsize=8)
    bar.ax.tick_params(labelsize=8)
    fig.suptitle(f"{council}: live decisions agreeing with the stand-in", fontsize=11)
    low, high = min(sizes), max(sizes)
    casts = mine["cast"].nunique() if "cast" in mine else 1  # a frame without casts: one
    seeds = f"{mine['seed'].nunique()} seeds, " if "seed" in mine else ""
    caption = (
        f"Council {council}, one panel per scenario: {seeds}{casts} cast{'s' * (casts > 1)}; each cell the mean of "
        f"its decisions, one per episode (n {low}{'' if low == high else f' to {high}'} a cell)"
        + (", whichever model sat on the creature in each cast" if casts > 1 else "")
        + "."
    )
    return Chart(f"agreement-{_slug(council)}.png", f"Agreement with the stand-in: {council}", caption, _save(fig, plt))


def pnl_figure(r: Results, table: pd.DataFrame, labels: dict[str, str]) -> Chart | None:
    """One row of horizontal bars per scenario, a bar per world: the width stays fixed however many
    councils and scenarios there are (a wider figure is shrunk to the page, and its text with it)."""
    if not len(table) or table["gambit_pnl"].isna().all():
        return None
    plt = _pyplot()
    looks = world_looks(r.worlds)
    pnl = per_seed(r.episodes, ["gambit_pnl"], WORLD)
    worlds = [w for w in r.worlds if (table["world"] == w).any()]
    scenarios = [s for s in r.scenarios if (table["scenario"] == s).any()]
    fig, axes = plt.subplots(
        len(scenarios),
        1,
        figsize=(9.0, sum(0.3 * len(worlds) + 0.9 for _ in scenarios) + 0.6),
        sharex=True,
        squeeze=False,
        layout="constrained",
    )
    for ax, scenario in zip(axes[:, 0], scenarios):
        for k, w in enumerate(worlds):
            row = table[(table["scenario"] == scenario) & (table["world"] == w)]
            if not len(row) or pd.isna(row["gambit_pnl"].iloc[0]):
                continue
            row, y = row.iloc[0], len(worlds) - 1 - k  # the first world on top
            mean, low, high = (float(row[c]) for c in ("gambit_pnl", "gambit_pnl_low", "gambit_pnl_high"))
            err = np.array([[mean - low], [high - mean]])
            look = looks[w]
            ax.barh(
                y,
                mean,
                0.8,
                color=look.color,
                hatch=look.hatch,
                edgecolor="white" if look.hatch else None,
                xerr=np.where(np.isfinite(err), err, 0.0),
                capsize=3,
                error_kw={"elinewidth": 1, "ecolor": "#222222"},
                alpha=0.85,
            )
            seeds = pnl[(pnl["scenario"] == scenario) & (pnl["council"] == w)]["gambit_pnl"]
            ax.scatter(seeds, [y] * len(seeds), s=9, color="black", zorder=3, alpha=0.6, linewidths=0)
        ax.set_yticks(range(len(worlds)), [world_label(w) for w in reversed(worlds)], fontsize=8)
        ax.set_ylim(-0.6, len(worlds) - 0.4)
        ax.axvline(0, color="black", linewidth=0.8)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(axis="x", labelsize=8, labelbottom=True)
        ax.set_title(labels.get(scenario, scenario), fontsize=10, loc="left")
    axes[-1, 0].set_xlabel("gambit P&L (pebbles)", fontsize=9)
    fig.suptitle("The patron's gambit P&L by mechanism and world", fontsize=11)
    caption = "Mean over seeds with the CI as error bars, one panel per mechanism; dots: the seeds."
    return Chart("gambit-pnl.png", "Gambit P&L by mechanism and world", caption, _save(fig, plt))


def seam_figure(seam: list[dict], labels: dict[str, str]) -> Chart | None:
    """Per scenario x world, the legend turn's log price move as two stacked bars: traded and
    written at the seam, in log points (100 x log part, so the parts add; not percent)."""
    rows = [e for e in seam if e["traded"].get("mean") is not None and e["seam"].get("mean") is not None]
    if not rows:
        return None
    plt = _pyplot()
    names = [f"{labels.get(e['scenario'], e['scenario'])}\n{world_label(e['world'])}" for e in rows]
    traded = np.array([100 * e["traded"]["mean"] for e in rows])
    written = np.array([100 * e["seam"]["mean"] for e in rows])
    fig, ax = plt.subplots(figsize=(7.5, max(2.4, 0.42 * len(rows) + 1.0)))
    y = np.arange(len(rows))[::-1]
    ax.barh(y, traded, color="tab:blue", label="traded (clearing and repricing)")
    left = np.where(np.sign(written) == np.sign(traded), traded, 0.0)
    ax.barh(y, written, left=left, color="tab:red", label="written at the seam")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(y, names, fontsize=7)
    ax.set_xlabel("move at the legend turn, log points (100 x ln price after / before)", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.grid(axis="x", alpha=0.3)
    # the key sits between the title and the axes: inside them it covered bars that fill the width
    ax.legend(fontsize=8, frameon=False, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2)
    ax.set_title("The legend turn's move: traded or written at the seam", fontsize=11, pad=22)
    fig.tight_layout()
    caption = (
        "Blue: made by the seats' trading; red: written at the settlement seam; in log points, so the two add up to the "
        "move (-69.3 log points is a halving, -50%)."
    )
    return Chart("seam-split.png", "The legend turn: traded or written at the seam", caption, _save(fig, plt))
