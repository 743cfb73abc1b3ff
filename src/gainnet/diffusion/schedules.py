"""Noise schedules from diffusers, built from keyword arguments (never ``from_pretrained``).

:class:`DDIMCoefficients` turns a diffusers ``DDIMScheduler`` into the two numbers per step of
deterministic (eta = 0) DDIM with ``prediction_type="sample"``::

    x_prev = c_x0[k] * x0_hat + c_xt[k] * x_t

They are read off the scheduler's own ``step`` (which is linear in ``x0_hat`` and ``x_t``), so the
sampler follows diffusers' timestep spacing and final-alpha convention exactly while the loop
itself stays a few tensor operations (the edge-latency knob is ``num_inference_steps``).
"""

from __future__ import annotations

import dataclasses
import os

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def make_ddim_scheduler(num_train_timesteps: int = 100, beta_schedule: str = "squaredcos_cap_v2"):
    """A diffusers ``DDIMScheduler`` predicting the clean sample, with trailing timesteps."""
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        num_train_timesteps=num_train_timesteps,
        beta_schedule=beta_schedule,
        prediction_type="sample",
        clip_sample=False,
        set_alpha_to_one=True,
        timestep_spacing="trailing",
    )


@dataclasses.dataclass(frozen=True)
class DDIMCoefficients:
    """Per-step coefficients of few-step deterministic DDIM.

    Attributes
    ----------
    timesteps : tuple[int, ...]
        Training-timestep index of each sampling step, noisiest first.
    c_x0, c_xt : tuple[float, ...]
        ``x_prev = c_x0 * x0_hat + c_xt * x_t`` at each step.
    alphas_cumprod : torch.Tensor, [num_train_timesteps]
        The schedule's cumulative alphas, for training (``add_noise``).
    """

    timesteps: tuple[int, ...]
    c_x0: tuple[float, ...]
    c_xt: tuple[float, ...]
    alphas_cumprod: torch.Tensor

    @classmethod
    def from_scheduler(cls, scheduler, num_inference_steps: int) -> DDIMCoefficients:
        scheduler.set_timesteps(num_inference_steps)
        one, zero = torch.ones(1, 1), torch.zeros(1, 1)
        c_x0, c_xt = [], []
        for t in scheduler.timesteps:
            c_x0.append(float(scheduler.step(one, t, zero, eta=0.0).prev_sample))
            c_xt.append(float(scheduler.step(zero, t, one, eta=0.0).prev_sample))
        # diffusers steps from t to t - T // k; when round(T / k) > T // k (k = 6, 13, 15, ...
        # of T = 100) the last step lands on t = 0 instead of the final alpha = 1 and keeps
        # 9-43 % of x_t in the output. Deterministic DDIM ends on the clean prediction.
        if scheduler.config.set_alpha_to_one:
            c_x0[-1], c_xt[-1] = 1.0, 0.0
        return cls(
            timesteps=tuple(int(t) for t in scheduler.timesteps),
            c_x0=tuple(c_x0),
            c_xt=tuple(c_xt),
            alphas_cumprod=scheduler.alphas_cumprod.to(torch.float32).clone(),
        )

    def add_noise(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """``x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) noise`` for integer timesteps ``t`` [B]."""
        abar = self.alphas_cumprod[t].unsqueeze(-1)
        return abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise
