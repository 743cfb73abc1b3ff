"""Local training of DiffusionTask: the FedProx proximal term and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from gainnet.federated import default_sites, federation_from_dict
from gainnet.federated.task import DiffusionTask

STEPS, LR = 20, 2e-3


@pytest.fixture(scope="module")
def built() -> tuple[DiffusionTask, dict[str, np.ndarray]]:
    """A tiny task and its seeded initial weights (read before any training: the task's
    solver holds whatever weights were last loaded into it)."""
    config = federation_from_dict(
        {
            "sites": default_sites(4, 60),
            "rounds": 1,
            "local_steps": 2,
            "clients_per_round": 2,
            "algorithm": "fedprox",
            "solver_params": {"hidden": 16, "batch_size": 16},
            "eval_instances_per_site": 10,
        }
    )
    task = DiffusionTask(config)
    return task, task.initial_weights()


def trainable(task: DiffusionTask) -> list[str]:
    return [name for name, _ in task.solver.policy.named_parameters()]


def moved(task: DiffusionTask, start: dict, new: dict) -> float:
    """L2 norm of the change of the trainable parameters."""
    return float(
        np.sqrt(sum(np.sum((new[k].astype(np.float64) - start[k]) ** 2) for k in trainable(task)))
    )


def test_a_huge_proximal_term_keeps_the_weights_near_the_start(built):
    task, start = built
    data = task.site_data(0, 1)
    free, free_loss, _ = task.local_train(start, data, STEPS, LR, 0.0, "prox-test")
    held, held_loss, _ = task.local_train(start, data, STEPS, LR, 1e4, "prox-test")
    assert moved(task, start, free) > 0
    assert moved(task, start, held) < 0.1 * moved(task, start, free)
    assert np.isfinite(free_loss) and np.isfinite(held_loss)
    # the normaliser buffers are not trained
    for k in ("obs_mean", "obs_scale"):
        np.testing.assert_array_equal(free[k], start[k])
        np.testing.assert_array_equal(held[k], start[k])


def test_local_training_is_deterministic_per_seed_stream(built):
    task, start = built
    snapshot = {k: v.copy() for k, v in start.items()}
    data = task.site_data(0, 1)
    a, loss_a, _ = task.local_train(start, data, 5, LR, 0.0, "site-train-0-1")
    b, loss_b, _ = task.local_train(start, data, 5, LR, 0.0, "site-train-0-1")
    assert list(a) == list(b) == list(start) and loss_a == loss_b
    for k in a:
        assert a[k].dtype == np.float32
        np.testing.assert_array_equal(a[k], b[k])
    c, _, _ = task.local_train(start, data, 5, LR, 0.0, "site-train-0-2")
    assert any(not np.array_equal(a[k], c[k]) for k in trainable(task))
    # the caller's start weights are left alone
    for k, v in snapshot.items():
        np.testing.assert_array_equal(start[k], v)
