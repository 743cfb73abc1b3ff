"""A site whose conditions drift: new data from its drift round, a fresh age in its report,
and the server's test set drawn from the final conditions."""

from __future__ import annotations

import numpy as np
import pytest

from gainnet.errors import InvalidConfigError
from gainnet.federated import default_sites, federation_from_dict
from gainnet.federated.site import INITIAL_MEMORY, Site
from gainnet.federated.task import DiffusionTask


def drifting(**changes):
    sites = default_sites(3, 40, seed=1)
    sites[1] = {**sites[1], "drift_round": 3, "drift_params": {"gain_low": 2.0, "gain_high": 3.0}}
    values = {
        "sites": sites,
        "rounds": 4,
        "local_steps": 2,
        "clients_per_round": 2,
        "solver_params": {"hidden": 8, "batch_size": 8},
        "eval_instances_per_site": 10,
    }
    return federation_from_dict({**values, **changes})


def test_a_drifted_site_holds_new_data_of_its_new_conditions():
    task = DiffusionTask(drifting())
    before, after = task.site_data(1, 2), task.site_data(1, 3)
    assert before.state.gains.max() <= 2.0  # the "reversed" profile: gains in [0, 2]
    assert after.state.gains.min() >= 2.0 and after.state.gains.max() <= 3.0
    assert task.site_data(1, 4) is after  # the same data after the drift
    assert task.site_data(0, 4) is task.site_data(0, 1)  # other sites keep theirs


def test_a_drifted_site_reports_fresh_data():
    task = DiffusionTask(drifting())
    site, other = Site(task, 1), Site(task, 0)
    ages = [site.query(r, dict(INITIAL_MEMORY))[0]["data_age_rounds"] for r in (2, 3, 4)]
    assert ages == [2.0, 0.0, 1.0]
    assert other.query(4, dict(INITIAL_MEMORY))[0]["data_age_rounds"] == 4.0


def test_the_test_set_uses_every_sites_final_conditions():
    task = DiffusionTask(drifting())
    state, expert_utility = task.test_set()
    drifted = state.gains[10:20]  # site 1's block
    assert drifted.min() >= 2.0
    assert np.all(expert_utility > 0)


def test_drift_settings_are_checked():
    with pytest.raises(InvalidConfigError, match="after the last round"):
        drifting(rounds=2)
