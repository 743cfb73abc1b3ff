"""Views of gainnet scenarios for other libraries."""

from gainnet.adapters.gymnasium_env import ScenarioEnv

__all__ = ["ScenarioEnv"]
