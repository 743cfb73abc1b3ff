"""Federated training of gainnet's generative solvers across edge sites.

``run_federation(config, engine=...)`` trains one model over the sites of a
:class:`~gainnet.federated.config.FederationConfig` with the in-process engine (the default),
Flower's Simulation Engine or Flower's Deployment Engine; ``run_centralised`` is the pooled
yardstick. See ``docs/federated.md``.
"""

from gainnet.federated.config import (
    FederationConfig,
    SiteSpec,
    default_sites,
    federation_from_dict,
    load_federation_config,
)
from gainnet.federated.engines import ENGINES, run_federation

__all__ = [
    "ENGINES",
    "FederationConfig",
    "SiteSpec",
    "default_sites",
    "federation_from_dict",
    "load_federation_config",
    "run_federation",
]
