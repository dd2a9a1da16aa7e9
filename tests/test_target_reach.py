"""One recorded fact for each target: whether its 95% interval reaches across it (too few states
to show it either way), met or missed; the card and the console both read it from the record
(train/evaluate.target_reaches), working it out only for a meta.json written before glade kept it."""

import pytest

from glade.cli.train import target_text
from glade.hub.card_targets import target_verdict
from glade.train import evaluate


def test_every_target_records_whether_its_interval_reaches_across_it():
    # guards `reaches` for met and missed targets alike, at the bound too (a figure at the target meets it)
    intervals = {
        "valid_action_rate": {"ci": [0.857, 0.995]},  # met on the mean, the low end past the target
        "direction_agreement": {"ci": [0.86, 0.94]},  # met, the whole interval on the target's side
        "self_buy_rate": {"ci": [0.0005, 0.1107]},  # missed on the mean, the low end meets it
        "standin_agreement": {"ci": [0.4, 0.6]},  # missed, the whole interval short of it
        "valid_json_rate": {"ci": [0.7, 0.9]},  # missed, the high end exactly at the target
    }
    metrics = {"valid_action_rate": 0.958, "direction_agreement": 0.9, "self_buy_rate": 0.0208}
    metrics.update(standin_agreement=0.5, valid_json_rate=0.8, intervals=intervals)
    targets = {
        "valid_action_rate": ">= 0.95",
        "direction_agreement": ">= 0.85",
        "self_buy_rate": "<= 0.01",
        "standin_agreement": ">= 0.9",
        "valid_json_rate": ">= 0.9",
    }
    out = evaluate.check_targets(metrics, targets)
    assert {name: (t["met"], t["shown"], t["reaches"]) for name, t in out.items()} == {
        "valid_action_rate": (True, False, True),
        "direction_agreement": (True, True, False),
        "self_buy_rate": (False, None, True),
        "standin_agreement": (False, None, False),
        "valid_json_rate": (False, None, True),
    }
    no_interval = evaluate.check_targets({"self_buy_rate": 0.0}, {"self_buy_rate": "<= 0.01"})["self_buy_rate"]
    assert (no_interval["met"], no_interval["shown"], no_interval["reaches"]) == (True, None, None)


def test_the_card_and_the_console_say_what_the_record_says():
    # guards that both read `reaches` rather than working it out again: a record saying so is told so
    said = {"target": ">= 0.9", "measured": 0.95, "met": True, "ci": [0.91, 0.99], "shown": True, "reaches": True}
    assert target_verdict(said).startswith("met on the mean; the interval [0.9100, 0.9900] reaches past the target")
    assert target_text(said).startswith("met on the mean (0.950; its 95% CI [0.910, 0.990] reaches past the target")
    missed = {"target": "<= 0.01", "measured": 0.02, "met": False, "ci": [0.015, 0.03], "shown": None, "reaches": True}
    assert target_verdict(missed) == (
        "**not met** on the mean; the interval [0.0150, 0.0300] reaches the target: too few states to show it "
        "either way"
    )
    assert target_text(missed) == (
        "NOT met on the mean (0.020; its 95% CI [0.015, 0.030] reaches the target: too few states to show it "
        "either way)"
    )
    clear = {**missed, "reaches": False}
    assert (target_verdict(clear), target_text(clear)) == ("**not met**", "NOT met (0.020, 95% CI [0.015, 0.030])")


@pytest.mark.parametrize(
    "target, measured, ci",
    [
        (">= 0.95", 0.958, [0.857, 0.995]),
        (">= 0.85", 0.9, [0.86, 0.94]),
        ("<= 0.01", 0.0208, [0.0005, 0.1107]),
        ("<= 0.01", 0.0, [0.0, 0.074]),
        (">= 0.9", 0.5, [0.4, 0.6]),
        (">= 0.9", 0.8, [0.7, 0.9]),
        (">= 0.9", 0.8, None),
    ],
)
def test_a_record_written_before_reaches_reads_as_one_written_now(target, measured, ci):
    # guards the fallback for an older meta.json (no `reaches`): the same words as the record written now
    metrics = {"valid_action_rate": measured, "intervals": {"valid_action_rate": {"ci": ci}} if ci else {}}
    now = evaluate.check_targets(metrics, {"valid_action_rate": target})["valid_action_rate"]
    before = {key: value for key, value in now.items() if key != "reaches"}
    assert evaluate.target_reaches(before) == now["reaches"]
    assert target_verdict(before) == target_verdict(now)
    assert target_text(before) == target_text(now)
    oldest = {key: now[key] for key in ("target", "measured", "met")}  # before glade kept intervals
    assert evaluate.target_reaches(oldest) is None
    assert target_verdict(oldest) == ("met" if now["met"] else "**not met**")
