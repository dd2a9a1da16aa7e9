"""Stop 64's small fixes, each pinned where it shows."""

from __future__ import annotations

from test_pinned_standin_parser import NONE_HELD, hazel, wood  # noqa: F401  (wood is a fixture)

from glade.env.protocol import role_card


def test_a_creature_with_no_diet_is_told_it_eats_nothing_not_from_nothing(wood):  # noqa: F811
    card = role_card(hazel(wood, needs={**NONE_HELD, "firewood": 1}))
    assert "You eat no food. Each turn you burn firewood to stay warm." in card
    assert "from: nothing" not in card
    fed = role_card(hazel(wood))
    assert "different foods (one of each) from: " in fed and "You eat no food" not in fed
