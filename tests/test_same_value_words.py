"""Where every cluster has the same value there is no interval, and that is said as such: not as
"too few" at n >= MIN_N (the card's and lm-eval's over-episodes cells), and carried as a flag
(Interval.same), not read back from its words, except from a stored interval's words."""

import numpy as np

from glade.eval.floor_rule import stored_interval
from glade.eval.harness import score_text
from glade.eval.outcome_check import _figure_verdict
from glade.eval.stats import interval
from glade.hub.card_sections import episodes_cell


def test_the_same_value_in_every_episode_is_not_too_few_episodes():
    seven, three = (interval(np.ones(n), unit="episodes", bounds=(0, 1)).as_dict() for n in (7, 3))
    assert episodes_cell(seven) == "1.0000, same value in all 7 episodes"
    assert episodes_cell(three) == "1.0000, too few episodes for an interval"
    result = {"scores": {"t": {"acc": 1.0}}, "intervals": {"t": {"acc": seven}}}
    assert score_text(result, "t") == "acc 1.0000 (over episodes 1.0000, same value in all 7 episodes)"
    result["intervals"]["t"]["acc"] = three
    assert score_text(result, "t").endswith("too few for an interval)")


def test_the_same_value_is_a_flag_and_a_stored_interval_keeps_it():
    same = interval(np.full(5, 0.25))
    assert same.same and same.excludes_zero() and not interval(np.array([0.1, 0.2, 0.3, 0.4])).same
    assert stored_interval(same.as_dict()).same and stored_interval(same.as_dict()).excludes_zero()
    zero = interval(np.zeros(5))
    assert _figure_verdict(zero) == "no difference" and _figure_verdict(interval(np.zeros(3))) == "too few seeds"
    # a note that merely begins alike is no flag: only `interval` sets it
    assert _figure_verdict(zero.__class__(0.0, None, None, 5, "same value in all 5 seeds")) == "too few seeds"
