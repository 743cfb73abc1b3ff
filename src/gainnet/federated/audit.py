"""The label audit only gainnet can do: spot-check a site's claimed labels with the exact expert.

The first round a site answers, the server names ``audit_samples`` of its training instances
(indices from the seeded stream ``audit-<site>``) and the site returns those states and the
decisions it claims the expert made. The server solves the states itself: a claimed decision
whose utility falls more than ``audit_tolerance`` (relative) below the expert's, an infeasible
one, or a malformed reply fails the audit, and the site is excluded from every later round.
An honest site's labels are the expert's own, so it passes to the last digit.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gainnet.core.scenario import Scenario, StateBatch
from gainnet.core.seeding import rng_for
from gainnet.errors import GainnetError

#: the largest index a server may name (sites map it modulo their data size)
MAX_INDEX = 2**31 - 1


def audit_indices(seed: int, site_index: int, samples: int) -> list[int]:
    """The instance indices the server asks site ``site_index`` for."""
    rng = rng_for(seed, f"audit-{site_index}")
    return [int(i) for i in rng.integers(0, MAX_INDEX, samples)]


@dataclasses.dataclass(frozen=True)
class AuditResult:
    site: int
    passed: bool
    worst_ratio: float
    reason: str


def audit_site(
    site_index: int,
    arrays: dict[str, np.ndarray],
    scenario: Scenario,
    template: StateBatch,
    samples: int,
    tolerance: float,
) -> AuditResult:
    """Check the claimed ``state.<field>`` rows and ``decision`` rows in ``arrays`` against
    ``scenario``'s exact expert (``template``: any state batch of the scenario, for its type)."""
    try:
        fields = {
            f.name: np.asarray(arrays[f"state.{f.name}"]) for f in dataclasses.fields(template)
        }
        state = type(template)(**fields)
        decision = np.asarray(arrays["decision"], dtype=float)
        if len(state) != samples or len(decision) != samples:
            raise GainnetError(
                f"expected {samples} audited instances, got {len(state)} states and "
                f"{len(decision)} decisions"
            )
        scenario.validate_state(state)
        claimed = scenario.utility(state, decision)
        feasible = scenario.is_feasible(state, decision)
    except (KeyError, TypeError, ValueError, GainnetError) as exc:
        return AuditResult(site_index, False, 0.0, f"malformed audit reply: {exc}")
    best = scenario.utility(state, scenario.default_expert().solve(state))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(best > 0, claimed / best, 1.0)
    worst = float(np.min(np.where(feasible, ratio, 0.0)))
    if not feasible.all():
        return AuditResult(site_index, False, worst, "an infeasible claimed label")
    if worst < 1.0 - tolerance:
        return AuditResult(site_index, False, worst, f"a claimed label at {worst:.3f} of expert")
    return AuditResult(site_index, True, worst, "")
