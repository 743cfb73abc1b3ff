"""``gainnet reproduce edge-incentive --quick`` end to end (slow layer).

At the quick budget (16,000 interactions, 3 seeds) ``gdm-reward`` measured 0.962 (complete) and
0.929 (incomplete information) of the exact equilibrium, worst seeds 0.959 and 0.928 (commit
ccff72b), while PPO had not yet learned a useful price (below 0.1) and random pricing loses
money; the thresholds below sit under those numbers.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from gainnet.cli import app

pytestmark = pytest.mark.slow


@pytest.mark.timeout(1500)  # a hang guard: about 8 minutes on one core (18 training runs)
def test_reproduce_edge_incentive_quick(tmp_path):
    out = tmp_path / "edge"
    args = ["reproduce", "edge-incentive", "--quick", "--out", str(out), "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    results = json.loads(result.stdout)
    for name in ("report.md", "results.json", "curves.csv", "fig4.png", "fig5.png"):
        assert (out / name).is_file(), name
    for setting in ("complete", "incomplete"):
        entry = results["settings"][setting]
        gdm, ppo, random = (entry[k]["final_ratio_mean"] for k in ("gdm-reward", "ppo", "random"))
        assert entry["gdm-reward"]["final_ratio_min"] >= 0.9, setting
        assert gdm > ppo and gdm > random, setting


def test_unknown_case_study_exits_2():
    result = CliRunner().invoke(app, ["reproduce", "nonexistent"])
    assert result.exit_code == 2
