"""Noise schedules, denoisers and the few-step sampler shared by the diffusion solvers."""
