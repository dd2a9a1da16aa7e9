"""The policy calls of a turn (glade.rollout's episode loop, and eval --ray's seat servers): one
`act_batch` call per batch key for every seated observation, and each decision's model seconds,
an equal share of its call's wall time unless the policy measured its own."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from glade.seats import Decision, Policy

if TYPE_CHECKING:
    from glade.rollout import RolloutStats


def act_timed(
    seated: list[tuple[Policy, dict]], stats: RolloutStats | None = None
) -> tuple[list[Decision], list[float]]:
    """One Decision per (policy, observation), in order, with one `act_batch` call per batch key,
    and each decision's model seconds: an equal share of its batched call's wall
    time (0 for stand-ins, which `model_seconds` leaves out too), or, where the policy measured
    them in another process, each decision's own `model_s`."""
    groups: dict[object, list[int]] = {}
    for i, (policy, _) in enumerate(seated):
        groups.setdefault(policy.batch_key(), []).append(i)
    out: list[Decision | None] = [None] * len(seated)
    seconds = [0.0] * len(seated)
    for members in groups.values():
        leader = seated[members[0]][0]
        t0 = time.perf_counter()
        answers = leader.act_batch([seated[i] for i in members])
        if len(answers) != len(members):
            raise RuntimeError(f"policy {leader.name!r} returned {len(answers)} decisions for {len(members)} seats")
        shares = model_shares(leader, answers, time.perf_counter() - t0)
        if stats is not None:
            stats.model_seconds += sum(shares)
            stats.policy_calls += 1
        for i, decision, share in zip(members, answers, shares):
            out[i] = decision
            seconds[i] = share
    return out, seconds  # type: ignore[return-value]


def model_shares(leader: Policy, answers: list[Decision], spent: float) -> list[float]:
    """One call's model seconds per decision: each decision's `model_s` where the policy set it
    (on every decision of the call, or on none: a call half timed would count the rest at a
    share of a wall time that was not theirs), else an equal share of `spent`."""
    measured = [d.model_s for d in answers if d.model_s is not None]
    if not measured:
        return [spent / len(answers)] * len(answers)
    if len(measured) != len(answers):
        raise RuntimeError(
            f"policy {leader.name!r} set model_s on {len(measured)} of its {len(answers)} decisions;"
            " set it on every decision of a call or on none"
        )
    wrong = [
        s for s in measured if isinstance(s, bool) or not isinstance(s, (int, float)) or not math.isfinite(s) or s < 0
    ]
    if wrong:
        raise RuntimeError(
            f"policy {leader.name!r} returned a decision whose model_s is {wrong[0]!r}; expected seconds, 0 or more"
        )
    return [float(s) for s in measured]
