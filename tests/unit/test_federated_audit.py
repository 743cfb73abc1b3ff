"""The label audit: spot checks against the exact expert, alone and through a federation."""

from __future__ import annotations

import numpy as np
import pytest

from gainnet.federated import default_sites, federation_from_dict
from gainnet.federated.audit import MAX_INDEX, audit_indices, audit_site
from gainnet.federated.inprocess import run_inprocess

SAMPLES = 6


@pytest.fixture
def sample(gdmopt):
    """``(scenario, template, states, expert decisions)`` of the gdmopt power allocation."""
    rng = np.random.default_rng(0)
    state = gdmopt.sample(SAMPLES, rng)
    return gdmopt, gdmopt.sample(1, rng), state, gdmopt.default_expert().solve(state)


def reply(state, decision) -> dict[str, np.ndarray]:
    return {"state.gains": np.asarray(state.gains), "decision": np.asarray(decision)}


def audit(sample, arrays, samples=SAMPLES, tolerance=1e-3):
    scenario, template, _, _ = sample
    return audit_site(3, arrays, scenario, template, samples, tolerance)


def test_honest_labels_pass_to_the_last_digit(sample):
    _, _, state, expert = sample
    result = audit(sample, reply(state, expert))
    assert result.passed and result.site == 3 and result.reason == ""
    assert result.worst_ratio == pytest.approx(1.0, abs=1e-12)
    assert audit(sample, reply(state, expert), tolerance=0.0).passed


def test_equal_power_fails(sample):
    scenario, _, state, _ = sample
    equal = np.full((SAMPLES, 10), 0.3)
    assert scenario.is_feasible(state, equal).all()  # feasible, just not the expert's
    result = audit(sample, reply(state, equal))
    assert not result.passed and 0 < result.worst_ratio < 1 - 1e-3
    assert "of expert" in result.reason
    # the worst ratio is the smallest per-instance utility ratio
    ratio = scenario.utility(state, equal) / scenario.utility(state, sample[3])
    assert result.worst_ratio == pytest.approx(ratio.min(), rel=1e-12)


def test_near_expert_labels_pass_within_the_tolerance(sample):
    _, _, state, expert = sample
    blend = 0.99 * expert + 0.01 * np.full((SAMPLES, 10), 0.3)  # still spends the budget
    loose = audit(sample, reply(state, blend), tolerance=0.05)
    assert loose.passed and 0.95 < loose.worst_ratio < 1.0
    strict = audit(sample, reply(state, blend), tolerance=0.0)
    assert not strict.passed and strict.worst_ratio == loose.worst_ratio


def test_infeasible_labels_fail(sample):
    _, _, state, expert = sample
    for decision in (np.full((SAMPLES, 10), 1.0), -expert, 2 * expert):
        result = audit(sample, reply(state, decision))
        assert not result.passed and result.worst_ratio == 0.0
        assert "infeasible" in result.reason
    one_bad = expert.copy()
    one_bad[2] *= 2  # one instance over the power budget is enough
    assert "infeasible" in audit(sample, reply(state, one_bad)).reason


def test_malformed_replies_fail_with_a_reason(sample):
    _, _, state, expert = sample
    nan_state = state.gains.copy()
    nan_state[1, 4] = np.nan
    nan_decision = expert.copy()
    nan_decision[0, 0] = np.nan
    cases = {
        "no decision": {"state.gains": state.gains},
        "no state": {"decision": expert},
        "nothing": {},
        "fewer rows": reply(state, expert)
        | {"state.gains": state.gains[:-1], "decision": expert[:-1]},
        "fewer decisions": reply(state, expert) | {"decision": expert[:-1]},
        "NaN state": {"state.gains": nan_state, "decision": expert},
        "NaN decision": {"state.gains": state.gains, "decision": nan_decision},
        "negative gains": {"state.gains": -state.gains, "decision": expert},
        "wrong width": {"state.gains": state.gains[:, :5], "decision": expert[:, :5]},
        "strings": {"state.gains": state.gains, "decision": np.full(expert.shape, "x")},
    }
    for what, arrays in cases.items():
        result = audit(sample, arrays)
        assert not result.passed, what
        assert result.reason.startswith("malformed audit reply"), what
    # the count is what the server asked for
    assert not audit(sample, reply(state, expert), samples=SAMPLES + 1).passed


def test_audit_indices_are_seeded_per_site():
    first = audit_indices(0, 1, 8)
    assert first == audit_indices(0, 1, 8) and len(first) == 8
    assert all(isinstance(i, int) and 0 <= i < MAX_INDEX for i in first)
    assert audit_indices(0, 2, 8) != first and audit_indices(1, 1, 8) != first


# --------------------------------------------------------------------- through a federation
def tiny_federation(attack: str):
    return federation_from_dict(
        {
            "sites": default_sites(4, 60),
            "rounds": 1,
            "local_steps": 2,
            "clients_per_round": 2,
            "audit": True,
            "malicious_fraction": 0.5,
            "attack": attack,
            "solver_params": {"hidden": 16, "batch_size": 16},
            "eval_instances_per_site": 10,
        }
    )


@pytest.mark.parametrize("attack", ["wrong-labels", "made-up-states"])
def test_federation_excludes_exactly_the_label_forgers(attack):
    result = run_inprocess(tiny_federation(attack))
    assert len(result["malicious_sites"]) == 2
    assert result["excluded_sites"] == result["malicious_sites"]
    assert result["honest_excluded"] == 0
    audits = {a["site"]: a for a in result["audits"]}
    assert sorted(audits) == [0, 1, 2, 3]
    for site, a in audits.items():
        assert a["passed"] == (site not in result["malicious_sites"]), a
        if a["passed"]:
            assert a["worst_ratio"] == pytest.approx(1.0, abs=1e-12)
    # excluded sites never train
    for r in result["rounds"]:
        assert not set(r["selected"]) & set(result["excluded_sites"])


def test_audit_cannot_see_a_poisoned_update():
    result = run_inprocess(tiny_federation("sign-flip"))
    assert len(result["malicious_sites"]) == 2
    assert result["excluded_sites"] == [] and result["honest_excluded"] == 0
    assert all(a["passed"] for a in result["audits"])
