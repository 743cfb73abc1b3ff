"""Shared test set-up: 1 torch thread (2 collapse on a busy 2-core machine), offline hub."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest
import torch
from hypothesis import settings

import gainnet

torch.set_num_threads(1)
settings.register_profile("gainnet", deadline=None, max_examples=100)
settings.load_profile("gainnet")


@pytest.fixture
def gdmopt() -> gainnet.Scenario:
    return gainnet.make_scenario("power-allocation", preset="gdmopt")
