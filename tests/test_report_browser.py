"""report.html in a real browser: headless Chromium (Debian's `chromium`; `make test-slow`
installs it) renders the report of a real evaluation with scripted seats. The page's own DOM
after load has the verdict section first, every plot and every trace link; a screenshot has the
window's size and is not blank; and a probe (a copy of the page with one extra script, never the
shipped file) checks in the browser that the plots decoded, that every in-page link lands on
an element, and that clicking a column header sorts the table."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from glade.cli import main
from glade.eval.recipe import load_eval_recipe
from glade.eval.run import run_recipe

ROOT = Path(__file__).resolve().parent.parent
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
PROBE = """
<script>
window.addEventListener("load", function () {
  var out = {images: [], links: 0, broken: [], sorted: null};
  document.querySelectorAll("img").forEach(function (img) { out.images.push([img.naturalWidth, img.naturalHeight]); });
  document.querySelectorAll('a[href^="#"]').forEach(function (a) {
    out.links += 1;
    if (!document.getElementById(a.getAttribute("href").slice(1))) { out.broken.push(a.getAttribute("href")); }
  });
  var table = document.querySelector("#results table.sortable");
  var col = Array.from(table.tHead.rows[0].cells).findIndex(function (th) { return th.textContent === "gambit P&L"; });
  function column() { return Array.from(table.tBodies[0].rows).map(function (r) { return parseFloat(r.cells[col].textContent); }); }
  var before = column();
  table.tHead.rows[0].cells[col].click();
  var up = column();
  table.tHead.rows[0].cells[col].click();
  out.sorted = {before: before, up: up, down: column(), aria: table.tHead.rows[0].cells[col].getAttribute("aria-sort")};
  var pre = document.createElement("pre");
  pre.id = "probe";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
"""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("no chromium on PATH: `make test-slow` installs it (apt-get install -y chromium)")
    return found


def browse(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [chromium(), *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=10000", *extra, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    recipe = {
        "name": "browser-check",
        "out": str(folder / "results"),
        "policies": {
            "fire": {"kind": "python", "entry_point": "tests.planted:fire_sale"},
            "stubborn": {"kind": "python", "entry_point": "tests.planted:ignores_stores"},
        },
        "councils": {
            "fire": {"focal": {"oona": "fire", "thorn": "fire"}, "rotate": 2},
            "stubborn": {"focal": {"*": "stubborn"}},
        },
        "scenarios": ["gambit_rumour", "gambit_shock", "gambit_override"],
        "levers": [
            {"name": "glut", "from": "gambit_rumour", "to": "gambit_shock"},
            {"name": "override", "from": "gambit_rumour", "to": "gambit_override"},
        ],
        "seeds": {"start": 0, "count": 6},
        "turns": 8,
        "worlds": 64,
        "attribution": True,
    }
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(ROOT))
        run_recipe(load_eval_recipe(folder / "recipe.yaml"))
    results = folder / "results"
    assert main(["flag", str(results)]) == 0 and main(["report", str(results)]) == 0
    return results


@pytest.mark.slow
def test_the_page_as_chromium_renders_it(report, tmp_path):
    html = report / "report.html"
    dom = browse(html, tmp_path / "profile", "--dump-dom").stdout
    sections = re.findall(r'<section id="([^"]+)">', dom)
    assert sections[0] == "verdicts" and {"results", "robustness", "seam", "levers", "attribution", "families"} <= set(
        sections
    )
    lead = dom.split('<section id="verdicts">', 1)[1].split("</section>", 1)[0]
    assert "What this evaluation says" in lead and "Contingent emergence" in lead and "Author the seam" in lead
    assert "stand-in only" in lead and "authored" in lead and "Top flag families" in lead
    assert dom.count('<img src="data:image/png;base64,') == len(list((report / "report_files").glob("*.png"))) == 7
    links = re.findall(r'href="#(family-\d+-example-\d+)"', lead)
    assert links and all(f'id="{link}"' in dom for link in links)  # the trace links land in this page
    assert dom.count('aria-sort="none"') >= 5  # the sorting script ran over every table's headers

    from PIL import Image, ImageStat

    shot = tmp_path / "report.png"
    browse(html, tmp_path / "profile2", f"--screenshot={shot}", "--window-size=1400,3000")
    with Image.open(shot) as image:
        assert image.size == (1400, 3000)
        spread = ImageStat.Stat(image.convert("L")).stddev[0]
    assert spread > 10  # text, tables and plots, not a blank page
    assert len(io.BytesIO(shot.read_bytes()).getvalue()) > 50_000


@pytest.mark.slow
def test_in_the_browser_plots_decode_links_land_and_tables_sort(report, tmp_path):
    probe = tmp_path / "probe.html"
    probe.write_text((report / "report.html").read_text().replace("</body>", PROBE + "</body>"))
    dom = browse(probe, tmp_path / "profile", "--dump-dom").stdout
    found = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S).group(1).replace("&quot;", '"'))
    assert len(found["images"]) == 7 and all(w > 300 and h > 150 for w, h in found["images"])
    assert found["links"] >= 2 and found["broken"] == []
    sorted_ = found["sorted"]
    assert sorted_["up"] == sorted(sorted_["before"]) and sorted_["down"] == sorted(sorted_["before"], reverse=True)
    assert sorted_["before"] != sorted_["up"] and sorted_["aria"] == "descending"
