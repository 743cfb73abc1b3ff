"""What the two diffusion solvers share: building the policy, deciding, saving."""

from __future__ import annotations

import numpy as np
import torch

from gainnet.core.scenario import StateBatch
from gainnet.core.seeding import int_seed_for
from gainnet.core.solver import Solver
from gainnet.diffusion.policy import DiffusionPolicy
from gainnet.errors import GainnetError


class DiffusionSolver(Solver):
    """Base of ``gdm`` and ``gdm-reward``. Its ``Config`` must have ``hidden``, ``layers``,
    ``num_train_timesteps`` and ``num_inference_steps``.
    """

    def __init__(self, scenario, seed: int = 0, **params) -> None:
        super().__init__(scenario, seed=seed, **params)
        cfg = self.config
        for name in ("hidden", "layers", "num_train_timesteps", "num_inference_steps"):
            if int(getattr(cfg, name)) < 1:
                raise GainnetError(f"{self.name} config {name} must be >= 1")
        generator = torch.Generator().manual_seed(int_seed_for(seed, "init"))
        with torch.random.fork_rng(devices=[]):  # seeded init, global RNG left untouched
            torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
            self.policy = DiffusionPolicy(
                scenario.observation_dim,
                scenario.action_dim,
                cfg.hidden,
                cfg.layers,
                cfg.num_train_timesteps,
                cfg.num_inference_steps,
            )
        self.policy.eval()

    def _noise(self, n: int) -> torch.Tensor:
        """Initial noise, from a stream re-seeded every call: same state -> same decision."""
        generator = torch.Generator().manual_seed(int_seed_for(self.seed, "solver"))
        return torch.randn((n, self.scenario.action_dim), generator=generator)

    @torch.inference_mode()
    def act(self, observation: np.ndarray) -> np.ndarray:
        """Raw actions ``[n, action_dim]`` for observations ``[n, observation_dim]``."""
        obs = torch.from_numpy(np.ascontiguousarray(observation, dtype=np.float32))
        return self.policy.sample(obs, self._noise(obs.shape[0])).numpy()

    def decide(self, state: StateBatch) -> np.ndarray:
        observation = self.scenario.observe(state)
        return self.scenario.decode(state, self.act(observation))

    def weights(self) -> dict[str, torch.Tensor]:
        return dict(self.policy.state_dict())

    def load_weights(self, tensors: dict[str, torch.Tensor]) -> None:
        self.policy.load_state_dict(tensors, strict=True)
        self.policy.invalidate_cache()
        self.policy.eval()
        self.fitted = True
