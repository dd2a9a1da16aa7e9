"""The report's building blocks: a section, Markdown and HTML tables, the page's inline CSS and
its one inline script (tables sort by column when a header is clicked; the page stays one
self-contained file). A table never widens the page: it scrolls sideways in its own box, and a
long numeric cell wraps (short numbers stay whole)."""

from __future__ import annotations

import html
import json
import math
import re
from dataclasses import dataclass, field

from glade.words import md_text  # one home: the cards write names with it too

MISSING = "—"  # a missing value, in every table (some builders write "-")
NOWRAP_CHARS = 28  # a numeric cell up to this long stays on one line ("+0.62 [+0.41, +0.83]")


def slug(text: str) -> str:
    """An id: lower-case letters, digits and hyphens ("figure-gambit-p&l" -> "figure-gambit-p-l")."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


@dataclass(frozen=True)
class Section:
    """One `## title` of report.md and one `<section id=anchor>` of report.html."""

    anchor: str
    title: str
    markdown: list[str] = field(default_factory=list)  # lines under the heading
    html: list[str] = field(default_factory=list)  # elements under the heading


def cell_text(text) -> str:
    """A cell as shown: a lone hyphen is a missing value, shown as MISSING."""
    text = str(text)
    return MISSING if text.strip() == "-" else text


def md_cell(text: str) -> str:
    return md_text(cell_text(text))


def definition_list(items: list[tuple[str, str]]) -> tuple[list[str], str]:
    """(name, words) pairs as report.md's bullets (`- **name**: words`) and report.html's one
    `<dl class="meta">`; a lone hyphen is a missing value in both."""
    md = [f"- **{md_text(name, inside=True)}**: {md_cell(words)}" for name, words in items]
    dl = "".join(f"<dt>{html.escape(name)}</dt><dd>{html.escape(cell_text(words))}</dd>" for name, words in items)
    return md, f'<dl class="meta">{dl}</dl>'


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(map(md_cell, header)) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(map(md_cell, row)) + " |" for row in rows]
    return lines


def html_table(
    header: list[str], rows: list[list[str]], numeric: set[int], row_class=None, extra=None, under=None
) -> str:
    """A sortable table in a box that scrolls sideways: `numeric` columns align right (a short
    number on one line, a long cell wraps); `extra(i)` adds a last cell of raw HTML, kept readable
    (at least 16em wide); `under(i)` adds a row of raw HTML under row i, as wide as the table, that
    moves with it when the table is sorted (long text that a last cell would crush)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_class(i)}"' if row_class and row_class(i) else ""
        cells = "".join(_td(cell_text(c), j in numeric) for j, c in enumerate(row))
        if extra is not None:
            cells += f'<td class="extra">{extra(i)}</td>'
        body.append(f"<tr{cls}>{cells}</tr>")
        if under is not None:
            body.append(f'<tr class="under"><td colspan="{len(header)}">{under(i)}</td></tr>')
    return (
        f'<div class="scroll"><table class="sortable">\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(body)
        + "\n</tbody>\n</table></div>"
    )


def _td(text: str, numeric: bool) -> str:
    if not numeric:
        return f"<td>{html.escape(text)}</td>"
    return f'<td class="{"num" if len(text) > NOWRAP_CHARS else "num nowrap"}">{html.escape(text)}</td>'


CSS = """
body { font: 15px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1d1d1f;
       max-width: 1180px; margin: 2em auto; padding: 0 1.2em; }
h1 { font-size: 1.6em; margin-bottom: .3em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
h3 { font-size: 1.05em; margin: 1.2em 0 .4em; } h4 { font-size: .95em; margin: .8em 0 .3em; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15em 1.2em; font-size: .92em; }
dl.meta dt { font-weight: 600; color: #555; } dl.meta dd { margin: 0; word-break: break-word; }
section#terms dl.meta { grid-template-columns: minmax(8em, 16em) 1fr; } section#terms dl.meta dt { overflow-wrap: anywhere; }
nav.contents ol { columns: 2; font-size: .92em; } nav.contents h2 { border: none; }
div.scroll { max-width: 100%; overflow-x: auto; margin: .6em 0; }
table { border-collapse: collapse; font-size: .88em; margin: 0; }
th, td { border: 1px solid #d6d6d6; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } tr:nth-child(even) td { background: #fafafa; }
table.sortable th { cursor: pointer; user-select: none; } table.sortable th[aria-sort]::after { content: " \\2195"; color: #888; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } td.nowrap { white-space: nowrap; }
td.extra { min-width: 16em; overflow-wrap: anywhere; }
td.extra ul { margin: 0; padding-left: 1.1em; min-width: 26em; } td.extra li { margin: 0 0 .3em; }
tr.under td { background: #fff; border-top: none; padding: .1em .6em .6em; } tr.under summary { cursor: pointer; }
tr.under details { margin: .2em 0; } tr.under pre { max-width: 100%; }
tr.standin td { color: #444; font-style: italic; }
figure { margin: 1.2em 0 2em; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, p.caption { font-size: .88em; color: #555; max-width: 60em; }
p.note { color: #8a5a00; background: #fff7e6; border: 1px solid #f0d9a8; padding: .5em .8em; display: inline-block; }
details pre { white-space: pre-wrap; font-size: .85em; background: #f6f6f6; padding: .5em; max-height: 24em; overflow: auto; }
section#verdicts { background: #f5f9ff; border: 1px solid #cfe0f5; border-radius: 6px; padding: .2em 1.2em 1em; }
section#verdicts h2 { margin-top: .8em; } section#verdicts li { margin: .25em 0; }
.verdict { font-weight: 600; }
div.family { border-left: 3px solid #cfe0f5; padding-left: 1em; margin: 1.5em 0; }
div.example { margin: .6em 0 1.2em; }
div.side { display: grid; grid-template-columns: 1fr 1fr 1fr; gap: .8em; }
div.side pre { white-space: pre-wrap; font-size: .8em; background: #f6f6f6; padding: .5em; max-height: 22em; overflow: auto; margin: .2em 0; }
"""

# Tables sort by a column when its header is clicked (again: the other way). A column sorts as
# numbers when each of its cells is one: in a column the table declares numeric (td.num), or one
# that starts with a number, or a missing value; any other column (a verdict that names a number
# in its words) sorts as text. Numbers: thousands separators dropped ("1,152" is 1152) and the
# unicode minus read as "-", the first signed decimal anywhere in the cell that is not part of a
# word, so "+0.62 [+0.41, +0.83]" sorts by +0.62, "[+10.00, +12.00]" (an interval) by its lower bound, "n 7 of 8 seeds" by 7, "15.0%" by 15 (and "c1" in
# a name is no number). Cells with no number sort after those with one, by text, as does a missing
# value with its reason ("— (2 seeds)": its number is no value). A row under another (tr.under) moves with it. The script and
# sort_key / numeric_column (Python, for the tests) read the same patterns.
THOUSANDS = r"(\d),(?=\d{3}\b)"
NUMBER = r"(?<![A-Za-z_\d.])[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"
LEADING = r"^\[?[-+\u2212]?\.?\d"  # a cell that starts with a number, or an interval "[low, high]"
NONE_CELLS = ("", "-", MISSING)


def numeric_column(cells: list[str], declared: bool = False) -> bool:
    """Whether the script sorts a column of these cells (as shown) as numbers."""
    return declared or all(c.strip() in NONE_CELLS or re.match(LEADING, c.strip()) for c in cells)


def sort_key(text: str, numeric: bool = True) -> tuple[int, float, str]:
    """What the script sorts a cell by: (0, the number, text), or (1, 0, text) with no number; in a
    text column (0, 0, text), or (1, 0, text) for a missing value (last, as in a numeric column)."""
    text = str(text).strip()
    if not numeric:
        return (int(text in NONE_CELLS), 0.0, text)
    if text.startswith(MISSING):  # a missing value, perhaps with its reason: no number to sort by
        return (1, 0.0, text)
    plain = re.sub(THOUSANDS, r"\1", text.replace("\u2212", "-"), flags=re.A)
    m = re.search(NUMBER, plain, flags=re.A | re.I)
    value = float(m.group()) if m else math.nan
    return (0, value, text) if m and math.isfinite(value) else (1, 0.0, text)


SORT_SCRIPT = """
var THOUSANDS = new RegExp(@THOUSANDS, "g"), NUMBER = new RegExp(@NUMBER, "i"), LEADING = new RegExp(@LEADING);
var NONE_CELLS = @NONE_CELLS;
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.setAttribute("aria-sort", "none");
    th.addEventListener("click", function () {
      var body = table.tBodies[0], groups = [];
      Array.from(body.rows).forEach(function (row) {  // a tr.under row travels with the row above it
        if (row.classList.contains("under") && groups.length) { groups[groups.length - 1].push(row); }
        else { groups.push([row]); }
      });
      var rows = groups.map(function (g) { return g[0]; });
      var up = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (h) { h.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      function text(row) { return (row.cells[col] ? row.cells[col].textContent : "").trim(); }
      var numeric = rows.every(function (row) {
        var cell = row.cells[col], t = text(row);
        return (cell && cell.classList.contains("num")) || NONE_CELLS.indexOf(t) >= 0 || LEADING.test(t);
      });
      function key(row) {
        var t = text(row);
        if (!numeric) { return [NONE_CELLS.indexOf(t) >= 0 ? 1 : 0, 0, t]; }
        if (t.indexOf(@MISSING) === 0) { return [1, 0, t]; }
        var m = t.replace(/\\u2212/g, "-").replace(THOUSANDS, "$1").match(NUMBER);
        var value = m ? parseFloat(m[0]) : NaN;
        return isFinite(value) ? [0, value, t] : [1, 0, t];
      }
      groups.sort(function (a, b) {
        var x = key(a[0]), y = key(b[0]), c = x[0] - y[0] || x[1] - y[1] || x[2].localeCompare(y[2]);
        return up ? c : -c;
      });
      groups.forEach(function (g) { g.forEach(function (row) { body.appendChild(row); }); });
    });
  });
});
""".replace("@THOUSANDS", json.dumps(THOUSANDS)).replace("@NUMBER", json.dumps(NUMBER))
SORT_SCRIPT = SORT_SCRIPT.replace("@LEADING", json.dumps(LEADING)).replace("@NONE_CELLS", json.dumps(list(NONE_CELLS)))
SORT_SCRIPT = SORT_SCRIPT.replace("@MISSING", json.dumps(MISSING))
