"""The report's building blocks: a section, Markdown and HTML tables, the page's inline CSS and
its one inline script (tables sort by column when a header is clicked; the page stays one
self-contained file)."""

from __future__ import annotations

import html
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Section:
    """One `## title` of report.md and one `<section id=anchor>` of report.html."""

    anchor: str
    title: str
    markdown: list[str] = field(default_factory=list)  # lines under the heading
    html: list[str] = field(default_factory=list)  # elements under the heading


def md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(map(md_cell, header)) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(map(md_cell, row)) + " |" for row in rows]
    return lines


def html_table(header: list[str], rows: list[list[str]], numeric: set[int], row_class=None, extra=None) -> str:
    """A sortable table: `numeric` columns align right; `extra(i)` adds a last cell of raw HTML."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_class(i)}"' if row_class and row_class(i) else ""
        cells = "".join(
            f'<td class="num">{html.escape(c)}</td>' if j in numeric else f"<td>{html.escape(c)}</td>"
            for j, c in enumerate(row)
        )
        if extra is not None:
            cells += f"<td>{extra(i)}</td>"
        body.append(f"<tr{cls}>{cells}</tr>")
    return (
        f'<table class="sortable">\n<thead><tr>{head}</tr></thead>\n<tbody>\n'
        + "\n".join(body)
        + "\n</tbody>\n</table>"
    )


CSS = """
body { font: 15px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1d1d1f;
       max-width: 1180px; margin: 2em auto; padding: 0 1.2em; }
h1 { font-size: 1.6em; margin-bottom: .3em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
h3 { font-size: 1.05em; margin: 1.2em 0 .4em; } h4 { font-size: .95em; margin: .8em 0 .3em; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15em 1.2em; font-size: .92em; }
dl.meta dt { font-weight: 600; color: #555; } dl.meta dd { margin: 0; word-break: break-word; }
table { border-collapse: collapse; font-size: .88em; margin: .6em 0; }
th, td { border: 1px solid #d6d6d6; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } tr:nth-child(even) td { background: #fafafa; }
table.sortable th { cursor: pointer; user-select: none; } table.sortable th[aria-sort]::after { content: " \\2195"; color: #888; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
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

# Tables sort by a column when its header is clicked (again: the other way). Numbers sort as
# numbers: the first signed decimal in the cell, so "+0.62 [+0.41, +0.83]" sorts by +0.62.
SORT_SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, col) {
    th.setAttribute("aria-sort", "none");
    th.addEventListener("click", function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var up = th.getAttribute("aria-sort") !== "ascending";
      table.querySelectorAll("th").forEach(function (h) { h.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", up ? "ascending" : "descending");
      function key(row) {
        var text = (row.cells[col] ? row.cells[col].textContent : "").trim();
        var m = text.replace(/\\u2212/g, "-").match(/^[-+]?\\d*\\.?\\d+(e[-+]?\\d+)?/i);
        return m ? [0, parseFloat(m[0]), text] : [1, 0, text];
      }
      rows.sort(function (a, b) {
        var x = key(a), y = key(b), c = x[0] - y[0] || x[1] - y[1] || x[2].localeCompare(y[2]);
        return up ? c : -c;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""
