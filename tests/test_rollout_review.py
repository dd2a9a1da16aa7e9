"""A python seat that raises or answers with junk, and a model seat whose folder is missing, as
a user meets them on `glade simulate --council FILE`: one `error:` line naming the seat, exit 2."""

from __future__ import annotations

import pytest

from glade.cli import main
from glade.rollout import run_episode
from glade.seats import Decision, PythonSeat, SeatAnswerError

FACTORIES = """
from glade.seats import Decision


class Seat:
    def __init__(self, name, answer):
        self.name, self.answer = name, answer

    def act(self, observations):
        if self.answer == "raise":
            raise RuntimeError("boom in my policy")
        return [self.answer for _ in observations]


def raises():
    return Seat("raises", "raise")


def text():
    return Seat("text", "hold")


def no_action():
    return Seat("no_action", Decision("hold"))


def orders_of_text():
    return Seat("orders_of_text", Decision({"orders": "lots"}))


def order_without_price():
    return Seat("order_without_price", Decision({"orders": [{"side": "sell", "good": "honey", "qty": 1}]}))
"""


class Answers:
    name = "answers"

    def __init__(self, answer):
        self.answer = answer

    def act(self, observations):
        return [self.answer for _ in observations]


@pytest.mark.parametrize(
    "factory, message",
    [
        (
            "raises",
            "python seat raises: act raised RuntimeError: boom in my policy on turn 0 (set GLADE_DEBUG=1 for its traceback)",
        ),
        ("text", "python seat text: act returned a str; expected a Decision or an action dict"),
        ("no_action", "python seat no_action: act returned a Decision whose action is not an action: 'hold'"),
        ("orders_of_text", "python seat orders_of_text: act returned a Decision whose action is not an action"),
        ("order_without_price", "python seat order_without_price: act returned a Decision whose action is not"),
    ],
)
def test_a_python_seat_that_raises_or_answers_junk_is_one_error_line(tmp_path, monkeypatch, capsys, factory, message):
    (tmp_path / "glade_review_seats.py").write_text(FACTORIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    council = tmp_path / "council.yaml"
    council.write_text(f'oona: {{kind: python, entry_point: "glade_review_seats:{factory}"}}\n')
    out = tmp_path / "sim"
    assert main(["simulate", "--council", str(council), "--turns", "2", "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"error: {message}" in " ".join(err.split()) and "Traceback" not in err  # was a traceback, exit 1
    assert not out.exists()


def test_a_python_seats_own_exception_stays_its_cause():
    class Raises:
        name = "raises"

        def act(self, observations):
            raise KeyError("price")

    with pytest.raises(SeatAnswerError, match=r"python seat raises: act raised KeyError: 'price'") as caught:
        run_episode("default", 1, 2, {"oona": PythonSeat(Raises())})
    assert isinstance(caught.value.__cause__, KeyError)  # GLADE_DEBUG=1 shows the user's own traceback
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, ValueError)


def test_a_decision_in_the_actions_form_is_still_taken_as_it_is():
    wild = {"orders": [{"side": "sell", "good": "honey", "qty": 10**9, "price": 1e9}]}  # the rules reject it
    played = run_episode("default", 1, 2, {"oona": PythonSeat(Answers(Decision(wild, error="mine")))})
    oona = [r for r in played.rows if r["creature"] == "oona"]
    assert [r["error"] for r in oona] == ["mine", "mine"] and '"qty": 1000000000' in oona[0]["action"]


def test_a_missing_model_folder_in_a_council_file_names_the_creature(tmp_path, capsys):
    council = tmp_path / "council.yaml"
    council.write_text(f"thorn: {{kind: hf, model: {tmp_path / 'no-model'}}}\n")
    assert main(["simulate", "--council", str(council), "--turns", "2", "--out", str(tmp_path / "sim")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"error: --council {council}: thorn: seat spec hf model: '{tmp_path / 'no-model'}': no such folder" in err
