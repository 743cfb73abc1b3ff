"""Sensing, communication and computing orchestration for generative-AI services (seed 001)."""
