"""DDIM coefficients read off diffusers' DDIMScheduler: same chain, exact final step."""

from __future__ import annotations

import pytest
import torch

# diffusers takes ~2 s to import: pay that once at collection, not inside a timed test
from diffusers import DDIMScheduler  # noqa: F401

from gainnet.diffusion.schedules import DDIMCoefficients, make_ddim_scheduler


def _model_output(x: torch.Tensor, t: int) -> torch.Tensor:
    """An arbitrary deterministic clean-sample predictor, nonlinear in x and t."""
    return torch.tanh(0.8 * x + 0.01 * t) - 0.3 * torch.sin(x * (1 + t / 50.0))


def _start(shape=(5, 7)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    ("num_train_timesteps", "beta_schedule", "steps"),
    [
        (100, "squaredcos_cap_v2", 1),
        (100, "squaredcos_cap_v2", 3),
        (100, "squaredcos_cap_v2", 7),
        (100, "squaredcos_cap_v2", 10),
        (100, "linear", 4),
        (1000, "scaled_linear", 5),
        (50, "squaredcos_cap_v2", 4),
    ],
)
def test_precomputed_loop_equals_scheduler_step_loop(num_train_timesteps, beta_schedule, steps):
    """Step counts whose last diffusers step already ends at alpha = 1 (see the next test)."""
    scheduler = make_ddim_scheduler(num_train_timesteps, beta_schedule)
    c = DDIMCoefficients.from_scheduler(scheduler, steps)

    x = _start()
    for t, c_x0, c_xt in zip(c.timesteps, c.c_x0, c.c_xt, strict=True):
        x = c_x0 * _model_output(x, t) + c_xt * x

    reference = _start()
    scheduler.set_timesteps(steps)
    assert [int(t) for t in scheduler.timesteps] == list(c.timesteps)
    for t in scheduler.timesteps:
        output = _model_output(reference, int(t))
        reference = scheduler.step(output, t, reference, eta=0.0).prev_sample

    # float32 arithmetic over <= 10 steps of O(1) values: 1e-6 is a few ulps per step
    torch.testing.assert_close(x, reference, rtol=1e-6, atol=1e-6)


def test_the_last_step_returns_the_clean_prediction_exactly():
    """With alpha = 1 after the final step, DDIM's output *is* ``x0_hat``: no noise is left.

    Checked for every step count from 1 to 20 at the default 100 training timesteps, and at
    50. (diffusers' trailing spacing steps from t to t - T // k, which for some k, e.g. 6 of
    100, lands on t = 0 rather than past the end, so the coefficients must not copy it there.)
    """
    wrong = {}
    for num_train_timesteps in (100, 50):
        for steps in range(1, 21):
            scheduler = make_ddim_scheduler(num_train_timesteps)
            c = DDIMCoefficients.from_scheduler(scheduler, steps)
            if not (c.c_x0[-1] == 1.0 and c.c_xt[-1] == 0.0):
                wrong[(num_train_timesteps, steps)] = (c.timesteps[-1], c.c_x0[-1], c.c_xt[-1])
    assert not wrong, f"(T, steps) -> (last t, c_x0, c_xt) keeping part of x_t: {wrong}"


def test_the_last_step_of_the_default_chain_is_exact():
    c = DDIMCoefficients.from_scheduler(make_ddim_scheduler(100), 3)
    x_t = _start()
    x0_hat = _model_output(x_t, c.timesteps[-1])
    assert torch.equal(c.c_x0[-1] * x0_hat + c.c_xt[-1] * x_t, x0_hat)


@pytest.mark.parametrize("steps", [1, 3, 10])
def test_timesteps_start_at_the_noisiest_and_decrease(steps):
    c = DDIMCoefficients.from_scheduler(make_ddim_scheduler(100), steps)
    assert len(c.timesteps) == len(c.c_x0) == len(c.c_xt) == steps
    assert c.timesteps[0] == 99  # trailing spacing: the chain starts from pure noise
    assert all(a > b >= 0 for a, b in zip(c.timesteps, c.timesteps[1:], strict=False))


def test_add_noise_matches_diffusers():
    scheduler = make_ddim_scheduler(100)
    c = DDIMCoefficients.from_scheduler(scheduler, 3)
    generator = torch.Generator().manual_seed(1)
    x0 = torch.randn(64, 4, generator=generator)
    noise = torch.randn(64, 4, generator=generator)
    t = torch.randint(0, 100, (64,), generator=generator)
    torch.testing.assert_close(
        c.add_noise(x0, noise, t), scheduler.add_noise(x0, noise, t), rtol=1e-6, atol=1e-6
    )
    # the ends of the chain: almost clean at t = 0, almost pure noise at t = T - 1
    assert c.alphas_cumprod[0] > 0.999 and c.alphas_cumprod[-1] < 1e-3


def test_alphas_cumprod_is_a_decreasing_float32_copy():
    scheduler = make_ddim_scheduler(100)
    c = DDIMCoefficients.from_scheduler(scheduler, 3)
    a = c.alphas_cumprod
    assert a.dtype == torch.float32 and a.shape == (100,)
    assert torch.all(a[1:] < a[:-1]) and torch.all((a > 0) & (a <= 1))
    scheduler.alphas_cumprod.mul_(0.5)  # the coefficients do not alias the scheduler
    assert torch.all(c.alphas_cumprod == a) and c.alphas_cumprod[0] > 0.999


def test_scheduler_predicts_the_clean_sample_without_clipping():
    config = make_ddim_scheduler(100).config
    assert config.prediction_type == "sample" and not config.clip_sample
    assert config.set_alpha_to_one and config.timestep_spacing == "trailing"
