"""The call auction and the reference-price update, against hand-worked books (order validation:
test_orders.py)."""

from __future__ import annotations

import math

import pytest

from glade.env import market
from glade.env.market import Clearing, Order, clear_auction, reprice

RANK = {"a": 0, "b": 1, "c": 2, "d": 3}


def buy(who, qty, price, good="honey"):
    return Order(who, "buy", good, qty, price)


def sell(who, qty, price, good="honey"):
    return Order(who, "sell", good, qty, price)


# --------------------------------------------------------------------------- clear_auction


def test_crossing_book_clears_at_the_volume_maximising_price_nearest_the_reference():
    # buys: a 5@10, b 3@8    sells: c 4@7, d 4@9    reference 8.5
    # p=7: D=8 S=4 -> 4   p=8: D=8 S=4 -> 4   p=8.5: D=5 S=4 -> 4
    # p=9: D=5 S=8 -> 5 (imbalance 3)   p=10: D=5 S=8 -> 5 (imbalance 3)
    # volume 5 at 9 and 10, same imbalance; 9 is nearer 8.5. Left unfilled: b's 3 at 8 (below
    # the reference) and 3 of d's at 9 (above it): neither presses on the reference.
    orders = [buy("a", 5, 10.0), buy("b", 3, 8.0), sell("c", 4, 7.0), sell("d", 4, 9.0)]
    result = clear_auction("honey", orders, 8.5, RANK)
    assert result == Clearing("honey", 9.0, 5, [("a", "c", 4), ("a", "d", 1)], 8, 8, 0, 0)


def test_no_cross_gives_no_price_and_everything_unfilled():
    orders = [buy("a", 2, 5.0), sell("c", 3, 6.0)]
    # all unfilled; what presses on the reference is only what bid at or above it / offered at or below it
    assert clear_auction("honey", orders, 5.5, RANK) == Clearing("honey", None, 0, [], 2, 3, 0, 0)
    assert clear_auction("honey", orders, 5.0, RANK) == Clearing("honey", None, 0, [], 2, 3, 2, 0)
    assert clear_auction("honey", orders, 6.0, RANK) == Clearing("honey", None, 0, [], 2, 3, 0, 3)


@pytest.mark.parametrize(
    "orders, expected",
    [
        ([buy("a", 2, 5.0), buy("b", 4, 9.0)], Clearing("honey", None, 0, [], 6, 0, 6, 0)),
        ([sell("c", 3, 1.0)], Clearing("honey", None, 0, [], 0, 3, 0, 3)),
        ([], Clearing("honey", None, 0, [], 0, 0, 0, 0)),
    ],
    ids=["only-buys", "only-sells", "empty"],
)
def test_one_side_empty(orders, expected):
    assert clear_auction("honey", orders, 4.0, RANK) == expected


def test_partial_fills_walk_both_queues_in_whole_units():
    # buys: a 3@10, b 2@9, c 4@6      sells: d 1@7, e 3@8
    orders = [
        buy("a", 3, 10.0),
        buy("b", 2, 9.0),
        buy("c", 4, 6.0),
        sell("d", 1, 7.0),
        sell("e", 3, 8.0),
    ]
    rank = {"a": 0, "b": 1, "c": 2, "d": 3, "e": 4}
    # p=6: D=9 S=0 -> 0;  p=7: D=5 S=1 -> 1;  p=8: D=5 S=4 -> 4 (imb 1);  p=9: D=5 S=4 -> 4 (imb 1)
    # p=10: D=3 S=4 -> 3;  reference 8.8: D=5 S=4 -> 4 (imb 1, distance 0) -> the reference wins.
    result = clear_auction("honey", orders, 8.8, rank)
    assert result.price == 8.8
    assert result.volume == 4
    # buyers by limit: a (3), then b (1 of 2); sellers by limit: d (1), then e (3)
    assert result.fills == [("a", "d", 1), ("a", "e", 2), ("b", "e", 1)]
    # left unfilled at or above the reference: 1 of b's (c's 4 at 6 bid below it)
    assert (result.demand, result.supply, result.unfilled_demand, result.unfilled_supply) == (9, 4, 1, 0)


def test_volume_tie_is_broken_by_imbalance_before_closeness_and_price():
    # buys a 4@10, b 5@8     sells c 4@8, d 1@10     reference 8
    # p=8:  D=9 S=4 -> volume 4, imbalance 5 (and it is the reference, and the lower price)
    # p=10: D=4 S=5 -> volume 4, imbalance 1  -> wins on imbalance
    orders = [buy("a", 4, 10.0), buy("b", 5, 8.0), sell("c", 4, 8.0), sell("d", 1, 10.0)]
    result = clear_auction("honey", orders, 8.0, RANK)
    # b's 5 at 8 bid at the reference and went unfilled; d's 1 at 10 offered above it
    assert result == Clearing("honey", 10.0, 4, [("a", "c", 4)], 9, 5, 5, 0)


def test_volume_and_imbalance_tie_is_broken_by_closeness_to_the_reference():
    # buy a 5@10, sell c 5@6, reference 12 (no volume at 12 itself).
    # p=6 and p=10 both: volume 5, imbalance 0; 10 is 2 away from 12, 6 is 6 away -> 10,
    # though 6 is the lower price.
    orders = [buy("a", 5, 10.0), sell("c", 5, 6.0)]
    assert clear_auction("honey", orders, 12.0, RANK) == Clearing("honey", 10.0, 5, [("a", "c", 5)], 5, 5, 0, 0)
    # and from below: reference 1 -> 6
    assert clear_auction("honey", orders, 1.0, RANK).price == 6.0


def test_last_tie_break_is_the_lower_price():
    # With a finite reference two equally good candidates equidistant from it always have
    # the reference itself between them as an at-least-as-good candidate, so the last rule
    # can only be seen with a reference every candidate is equally far from.
    orders = [buy("a", 5, 10.0), sell("c", 5, 6.0)]
    result = clear_auction("honey", orders, math.inf, RANK)
    assert result.price == 6.0 and result.volume == 5


def test_reference_price_is_chosen_when_it_is_among_the_best():
    orders = [buy("a", 5, 10.0), sell("c", 5, 6.0)]
    assert clear_auction("honey", orders, 9.0, RANK) == Clearing("honey", 9.0, 5, [("a", "c", 5)], 5, 5, 0, 0)


def test_reference_not_among_the_best_is_not_chosen():
    # reference 9: D(9)=2 S(9)=4 -> 2;  p=8: D=5 S=4 -> 4 (imb 1);  p=7: D=5 S=2 -> 2
    orders = [buy("a", 2, 10.0), buy("b", 3, 8.0), sell("c", 2, 7.0), sell("d", 2, 8.0)]
    result = clear_auction("honey", orders, 9.0, RANK)
    assert result.price == 8.0 and result.volume == 4
    assert result.fills == [("a", "c", 2), ("b", "d", 2)]


@pytest.mark.parametrize(
    "rank, fills",
    [
        ({"a": 0, "b": 1, "c": 2}, [("a", "c", 3), ("b", "c", 1)]),
        ({"a": 1, "b": 0, "c": 2}, [("b", "c", 3), ("a", "c", 1)]),
    ],
)
def test_equal_buy_limits_fill_in_rank_order(rank, fills):
    # buys a 3@10, b 3@10; sell c 4@9; reference 9.5 -> volume 4 at 9.5, one buyer is short 2
    orders = [buy("a", 3, 10.0), buy("b", 3, 10.0), sell("c", 4, 9.0)]
    result = clear_auction("honey", orders, 9.5, rank)
    assert result.price == 9.5
    assert result.fills == fills


@pytest.mark.parametrize(
    "rank, fills",
    [
        ({"a": 0, "c": 1, "d": 2}, [("a", "c", 2), ("a", "d", 2)]),
        ({"a": 0, "c": 2, "d": 1}, [("a", "d", 3), ("a", "c", 1)]),
    ],
)
def test_equal_sell_limits_fill_in_rank_order(rank, fills):
    # sells c 2@5, d 3@5; buy a 4@6; reference 5.5: volume 4 everywhere, imbalance 1 -> 5.5
    orders = [sell("c", 2, 5.0), sell("d", 3, 5.0), buy("a", 4, 6.0)]
    result = clear_auction("honey", orders, 5.5, rank)
    assert result.price == 5.5 and result.volume == 4
    assert result.fills == fills
    assert result.unfilled_supply == 1 and result.unfilled_demand == 0


def test_better_limit_beats_rank():
    # b ranks first but a bids higher: a fills first.
    orders = [buy("a", 2, 11.0), buy("b", 2, 10.0), sell("c", 3, 9.0)]
    result = clear_auction("honey", orders, 10.0, {"a": 2, "b": 0, "c": 1})
    assert result.price == 10.0
    assert result.fills == [("a", "c", 2), ("b", "c", 1)]


def test_every_fill_respects_both_limits():
    orders = [buy("a", 3, 10.0), buy("b", 2, 9.0), sell("c", 2, 8.5), sell("d", 4, 9.5)]
    result = clear_auction("honey", orders, 9.0, RANK)
    limits = {(o.creature, o.side): o.price for o in orders}
    for buyer, seller, _qty in result.fills:
        assert limits[(buyer, "buy")] >= result.price >= limits[(seller, "sell")]
    assert sum(q for _, _, q in result.fills) == result.volume


def test_the_env_rotates_rank_each_turn():
    # Oona and Hazel bid the same limit for Thorn's one unit of firewood; rank is
    # (index - turn) mod 5, so the unit goes to whoever ranks first that turn.
    from glade.env import parallel_env

    winners = []
    for turn in range(5):
        env = parallel_env(turns=6)
        env.reset(seed=0)
        for _ in range(turn):
            env.step({})
        bid = {"orders": [{"side": "buy", "good": "firewood", "qty": 1, "price": 4.0}]}
        _, _, _, _, infos = env.step(
            {
                "thorn": {"orders": [{"side": "sell", "good": "firewood", "qty": 1, "price": 4.0}]},
                "oona": bid,
                "hazel": bid,
            }
        )
        winners.append([c for c in ("oona", "hazel") if infos[c]["fills"]])
    assert winners == [["oona"], ["hazel"], ["hazel"], ["oona"], ["oona"]]


# --------------------------------------------------------------------------- reprice


def clearing(price, volume, unfilled_demand, unfilled_supply):
    return Clearing(
        "honey", price, volume, [], volume + unfilled_demand, volume + unfilled_supply, unfilled_demand, unfilled_supply
    )


W, K, S, FLOOR, DEPTH = 0.5, 0.1, 0.15, 0.25, 10


@pytest.mark.parametrize(
    "ref, c, expected",
    [
        # trade anchor: 10 + 0.5 * (11 - 10) = 10.5, no residual -> 10.5
        (10.0, clearing(11.0, 4, 0, 0), 10.5),
        (10.0, clearing(9.0, 4, 0, 0), 9.5),
        # a trade at the reference with no residual leaves it alone
        (10.0, clearing(10.0, 3, 0, 0), 10.0),
        # no trade, 4 units of unfilled demand: tilt 4 / max(4, depth 10) = 0.4 -> 10 * 1.04
        (10.0, clearing(None, 0, 4, 0), 10.4),
        # no trade, a glut of 6: tilt -6 / 10 -> 10 * 0.94
        (10.0, clearing(None, 0, 0, 6), 9.4),
        # a glut deeper than depth pushes fully: tilt -25 / 25 = -1 -> 10 * 0.9
        (10.0, clearing(None, 0, 0, 25), 9.0),
        # demand beyond depth: tilt 12 / 12 = 1 -> 11
        (10.0, clearing(None, 0, 12, 0), 11.0),
        # a trade at 10 (V 2) with residual 3 demand / 1 supply: tilt (3 - 1) / max(6, 10) = 0.2
        (10.0, clearing(10.0, 2, 3, 1), 10.2),
        # trade at 10.4 (V 4) and a glut of 4: anchor 10.2, tilt -4 / max(8, 10) = -0.4 -> 10.2 * 0.96
        (10.0, clearing(10.4, 4, 0, 4), 10.2 * 0.96),
        # big book: trade at 10 (V 20), residual 10 demand: tilt 10 / 30 -> 10 * (1 + 0.1 / 3)
        (10.0, clearing(10.0, 20, 10, 0), 10.0 * (1 + 0.1 / 3)),
        # max_step up: anchor 15 (trade at 20) is bounded to 10 * 1.15
        (10.0, clearing(20.0, 1, 0, 0), 11.5),
        # max_step down: anchor 6 (trade at 2) is bounded to 10 * 0.85
        (10.0, clearing(2.0, 1, 0, 0), 8.5),
        # nothing at all: unchanged
        (10.0, clearing(None, 0, 0, 0), 10.0),
        # floor: 0.26 * (1 - 0.1 * 0.5) = 0.247 -> 0.25
        (0.26, clearing(None, 0, 0, 5), 0.25),
        # the floor wins over the step bound too
        (0.2, clearing(None, 0, 0, 0), 0.25),
    ],
    ids=[
        "anchor-up",
        "anchor-down",
        "anchor-at-ref",
        "thin-demand-lifts",
        "thin-glut-lowers",
        "deep-glut",
        "deep-demand",
        "partial-tilt",
        "trade-and-glut",
        "big-book",
        "max-step-up",
        "max-step-down",
        "nothing",
        "floor",
        "floor-over-bound",
    ],
)
def test_reprice_by_hand(ref, c, expected):
    assert reprice(ref, c, W, K, S, FLOOR, DEPTH) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "c, expected",
    [
        (clearing(None, 0, 4, 0), 11.0),  # tilt 4 / 4 = 1
        (clearing(None, 0, 0, 1), 9.0),  # one unsold unit is a full glut without depth
        (clearing(10.0, 2, 3, 1), 10.0 * (1 + 0.1 / 3)),  # tilt 2 / 6
        (clearing(10.4, 4, 0, 4), 10.2 * 0.95),  # tilt -4 / 8
    ],
)
def test_reprice_depth_one_is_the_plain_share_of_the_book(c, expected):
    assert reprice(10.0, c, W, K, S, FLOOR, 1) == pytest.approx(expected, rel=1e-12)


def test_reprice_default_depth_is_the_scenario_default():
    from glade.env.scenario import Market

    c = clearing(None, 0, 0, 3)
    assert Market().depth == DEPTH
    assert reprice(10.0, c, W, K, S, FLOOR) == reprice(10.0, c, W, K, S, FLOOR, DEPTH) == pytest.approx(9.7)


def test_reprice_max_step_binds_demand_pressure_too():
    # pressure 0.5, a residual of 7 on one side: target 10 * (1 +- 0.5 * 0.7), bounded to +-15%
    assert reprice(10.0, clearing(None, 0, 7, 0), W, 0.5, S, FLOOR, DEPTH) == pytest.approx(11.5)
    assert reprice(10.0, clearing(None, 0, 0, 7), W, 0.5, S, FLOOR, DEPTH) == pytest.approx(8.5)
    # a wider max_step lets it through
    assert reprice(10.0, clearing(None, 0, 7, 0), W, 0.5, 0.6, FLOOR, DEPTH) == pytest.approx(13.5)
    assert reprice(10.0, clearing(None, 0, 7, 0), W, 0.5, 0.6, FLOOR, 1) == pytest.approx(15.0)


def test_reprice_trade_weight_one_jumps_to_the_trade_price():
    assert reprice(10.0, clearing(10.8, 5, 0, 0), 1.0, K, S, FLOOR, DEPTH) == pytest.approx(10.8)
    assert reprice(10.0, clearing(10.8, 5, 0, 0), 0.0, K, S, FLOOR, DEPTH) == pytest.approx(10.0)


def test_sides_constant():
    assert market.SIDES == ("buy", "sell")
