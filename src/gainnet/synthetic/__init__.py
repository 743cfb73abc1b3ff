"""Synthetic wireless channels: generative channel models validated downstream (seed 004).

- :mod:`~gainnet.synthetic.conditions`: what a base station knows about a user (position, LoS,
  indoor, scenario) as a generator's condition, and the region split of a cell;
- :mod:`~gainnet.synthetic.representation`: a dataset's channels as the real vectors a generator
  models (unit-norm truncated angular-delay CSI and the path gain) and back;
- :mod:`~gainnet.synthetic.fidelity`: what a channel modeller checks (power-delay profile, delay
  and angular spread, spatial covariance, MMD, memorisation);
- :mod:`~gainnet.synthetic.diffusion_generator`, :mod:`~gainnet.synthetic.gan_generator`: the
  conditional generators.
"""
