"""The few-step sampler: differentiable in torch, exported to NumPy, deterministic per row."""

from __future__ import annotations

import numpy as np
import torch

import gainnet
from gainnet.diffusion.policy import DiffusionPolicy


def test_numpy_export_matches_torch_sampler():
    policy = DiffusionPolicy(
        10, 10, hidden=32, layers=3, num_train_timesteps=100, num_inference_steps=3
    )
    policy.set_normaliser(torch.rand(100, 10) * 3)
    observation = torch.rand(64, 10)
    noise = torch.randn(64, 10, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = policy.sample(observation, noise).numpy()
    ours = policy.export_numpy().sample(observation.numpy(), noise.numpy())
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-5)


def test_sampler_is_differentiable_end_to_end():
    """Pitfall 5: no in-place clamp may cut the gradient through the chain."""
    policy = DiffusionPolicy(
        4, 4, hidden=16, layers=2, num_train_timesteps=50, num_inference_steps=3
    )
    out = policy.sample(
        torch.rand(8, 4), torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    )
    (out * 10.0).sum().backward()  # far outside any clamp range
    grads = [p.grad for p in policy.denoiser.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


def test_decisions_are_deterministic_per_row(gdmopt):
    solver = gainnet.make_solver("gdm", gdmopt, hidden=16)
    solver.fit(gainnet.Budget(steps=5))
    state = gdmopt.sample(5, gainnet.rng_for(0, "eval"))
    full = solver.decide(state)
    np.testing.assert_array_equal(full[:2], solver.decide(state.take(slice(0, 2))))
    np.testing.assert_array_equal(full, solver.decide(state))


def test_small_and_large_batches_agree(gdmopt):
    """Batches above NUMPY_MAX_BATCH run on torch, smaller ones on NumPy: same chain."""
    from gainnet.solvers.diffusion_solver import NUMPY_MAX_BATCH

    solver = gainnet.make_solver("gdm", gdmopt, hidden=16)
    solver.fit(gainnet.Budget(steps=5))
    state = gdmopt.sample(NUMPY_MAX_BATCH + 8, gainnet.rng_for(0, "eval"))
    large = solver.decide(state)
    small = solver.decide(state.take(slice(0, 4)))
    np.testing.assert_allclose(large[:4], small, rtol=1e-5, atol=1e-6)
