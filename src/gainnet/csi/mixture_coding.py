"""Mixture transform coding: several KLT coders, each report coded by the one that suits it.

One KLT (:mod:`gainnet.csi.transform_coding`) is the best linear code of a Gaussian source; the CSI
of drops is not Gaussian: a user's paths arrive from a few directions that change from drop to
drop, so the energy of each report sits in a few angular bins of the truncated angular-delay CSI
while the covariance of all reports spreads it over every bin. A mixture coder learns ``C`` coders,
the KLT of all reports and one per kind of report (a Gaussian mixture with a KLT per component),
and each report is sent by the coder with the least rate-distortion cost ``error + lambda bits`` at
one common step ``delta`` (``lambda = delta^2 ln 2 / 6``, the slope of an entropy-coded uniform
quantiser), plus the bits of the coder's index (an arithmetic code of how often each coder is
chosen: near 0 when one coder takes almost every report). It is learned as a vector quantiser is:
the reports are first grouped by k-means on their log angular-power profile into ``C - 1`` groups,
then (Lloyd iterations) each group's KLT coder is refitted and every report moved to the coder that
now codes it cheapest. The pooled KLT stays one of the coders, so a report that fits no group well
(and a Gaussian source, which has no groups) is coded as transform coding codes it, for the index
bits. It is non-linear (the choice of coder depends on the report), so on drops it can pass the
Gaussian rate-distortion curve of the pooled covariance, which no linear coder can; on a Gaussian
source it cannot do better than one KLT.

The fit uses at most ``fit_reports`` (default :data:`MAX_FIT_REPORTS`) training reports (the
eigendecompositions and projections cost ``C D^3`` and ``C n D^2``) plus up to
:data:`STEP_SEARCH_REPORTS` held-out ones, on which ``delta`` is set by bisection so that they
average the target bits.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np

from gainnet.core.seeding import rng_for
from gainnet.csi.transform_coding import TransformCoder, flat_reports
from gainnet.errors import CheckpointError, InvalidStateError

#: the most training reports the coders and the grouping are fitted on (by default)
MAX_FIT_REPORTS = 4000
#: held-out training reports the common step is searched on (at most a quarter of them)
STEP_SEARCH_REPORTS = 1000
#: a group with fewer reports than this is dropped (its reports go to the other coders)
MIN_GROUP_REPORTS = 24
#: Lloyd iterations after the k-means start
LLOYD_ITERATIONS = 2
KMEANS_ITERATIONS = 25
BISECTION_STEPS = 30


def angular_profile(x: np.ndarray) -> np.ndarray:
    """``[n, antennas]``: ``log`` of each report's power per angular bin (summed over the delay
    taps) for ``x [n, taps, antennas]``; of each entry's power for flat reports."""
    power = np.abs(np.asarray(x)) ** 2
    profile = power.sum(axis=1) if power.ndim == 3 else power.reshape(len(power), -1)
    return np.log(profile + 1e-6 * profile.sum(axis=1, keepdims=True).clip(1e-30))


def kmeans(features: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Labels ``[n]`` in ``0..k-1`` of plain k-means (Lloyd, random distinct starts; an emptied
    cluster restarts at the point farthest from its centre)."""
    centres = features[rng.choice(len(features), size=k, replace=False)].copy()
    for _ in range(KMEANS_ITERATIONS):
        distance = ((features[:, None, :] - centres[None]) ** 2).sum(axis=2)
        labels = distance.argmin(axis=1)
        for c in range(k):
            members = features[labels == c]
            centres[c] = (
                members.mean(axis=0) if len(members) else features[distance.min(1).argmax()]
            )
    return labels


@dataclasses.dataclass
class MixtureCoder:
    """``coders``: one fitted :class:`TransformCoder` per group (their own steps unused);
    ``step``: the common quantiser step; ``usage [C]``: how often each coder is chosen, the
    model of the arithmetic code that sends the coder's index (``None``: all equally)."""

    coders: list[TransformCoder]
    step: float
    usage: np.ndarray | None = None

    @property
    def index_bits(self) -> np.ndarray:
        """``[C]``: the bits of each coder's index, ``-log2 usage``."""
        if self.usage is None:
            return np.full(len(self.coders), np.log2(len(self.coders)))
        return -np.log2(self.usage)

    @classmethod
    def fit(
        cls,
        x_train: np.ndarray,
        bits: float,
        groups: int = 8,
        seed: int = 0,
        fit_reports: int = MAX_FIT_REPORTS,
    ) -> MixtureCoder:
        """Learn ``groups`` coders on ``x_train [n, ...]`` complex for ``bits`` per report, from
        at most ``fit_reports`` of them (each group's KLT is estimated from its share: on UMa
        drops of 32 x 32, 8,000 instead of 4,000 gained 0.4 dB at 1/16)."""
        flat = flat_reports(x_train)
        if isinstance(fit_reports, bool) or not isinstance(fit_reports, int) or fit_reports < 1:
            raise InvalidStateError(f"fit_reports must be an integer >= 1, got {fit_reports!r}")
        if not isinstance(groups, int) or not 1 <= groups <= 64:
            raise InvalidStateError(f"groups must be an integer in 1..64, got {groups!r}")
        if not np.isfinite(bits) or bits <= np.log2(groups):
            raise InvalidStateError(f"bits must exceed the {np.log2(groups):g} of the index")
        held = min(STEP_SEARCH_REPORTS, len(flat) // 4)
        if min(len(flat) - held, fit_reports) < 2 * groups * MIN_GROUP_REPORTS:
            raise InvalidStateError(
                f"{groups} groups need at least {4 * groups * MIN_GROUP_REPORTS} training reports"
                f" (and fit_reports >= {2 * groups * MIN_GROUP_REPORTS})"
            )
        search = flat[-held:]
        fit = flat[: len(flat) - held][:fit_reports]
        profile = angular_profile(np.asarray(x_train)[: len(fit)])
        labels = np.zeros(len(fit), dtype=int)  # coder 0: the KLT of all reports
        if groups > 1:
            labels = 1 + kmeans(profile, groups - 1, rng_for(seed, "csi-mixture"))
        pooled = TransformCoder.fit(fit, bits)
        mixture = cls([pooled], 1.0)
        for iteration in range(LLOYD_ITERATIONS + 1):
            kept = [0] + [c for c in range(1, labels.max() + 1)
                          if np.count_nonzero(labels == c) >= MIN_GROUP_REPORTS]  # fmt: skip
            labels = np.where(np.isin(labels, kept), labels, 0)  # a dropped group's reports
            counts = np.array([np.count_nonzero(labels == c) for c in kept])
            coders = [pooled] + [TransformCoder.fit(fit[labels == c], bits) for c in kept[1:]]
            mixture = cls(coders, 1.0, (counts + 1) / (counts.sum() + len(kept)))
            mixture.step = mixture._search_step(search, bits)
            if iteration < LLOYD_ITERATIONS:
                labels, _, _ = mixture._choose(fit)
        return mixture

    def _project(self, flat: np.ndarray) -> list[np.ndarray]:
        return [flat @ np.conj(coder.basis) for coder in self.coders]

    def _choose(self, flat: np.ndarray, projected: list | None = None):
        """``(group [n], error [n], bits [n])``: each report's cheapest coder at ``self.step``
        (its index's bits counted)."""
        projected = self._project(flat) if projected is None else projected
        scores = [
            _score(c, coder, self.step) for c, coder in zip(projected, self.coders, strict=True)
        ]
        error = np.stack([s[0] for s in scores])
        bits = np.stack([s[1] for s in scores]) + self.index_bits[:, None]
        group = np.argmin(error + self.step**2 * np.log(2) / 6 * bits, axis=0)
        rows = np.arange(flat.shape[0])
        return group, error[group, rows], bits[group, rows]

    def _search_step(self, search: np.ndarray, bits: float) -> float:
        projected = self._project(search)
        sigma = max(float(coder.sigma.max()) for coder in self.coders)
        low, high = np.log(sigma) - 40.0, np.log(sigma) + 10.0
        for _ in range(BISECTION_STEPS):  # bits fall as the step grows
            self.step = float(np.exp(0.5 * (low + high)))
            spent = self._choose(search, projected)[2].mean()
            low, high = (np.log(self.step), high) if spent > bits else (low, np.log(self.step))
        return float(np.exp(high))  # the side that spends at most the target

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(group [n], index [n, D, 2] int64, bits [n])``: each report's coder, its quantised
        coefficients and its bits (the coder's index included)."""
        flat = flat_reports(x)
        if flat.shape[1] != len(self.coders[0].sigma):
            raise InvalidStateError(f"expected {len(self.coders[0].sigma)} values per report")
        group, _, bits = self._choose(flat)
        index = np.empty((len(flat), flat.shape[1], 2), dtype=np.int64)
        for c, coder in enumerate(self.coders):
            rows = group == c
            coder.step = self.step
            index[rows] = coder._quantise(flat[rows] @ np.conj(coder.basis))
        return group, index, bits

    def decode(self, group: np.ndarray, index: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
        """The reconstruction ``[n, *shape]`` complex64."""
        group = np.asarray(group)
        if group.shape != index.shape[:1] or group.min() < 0 or group.max() >= len(self.coders):
            raise InvalidStateError(f"group must be [n] integers in 0..{len(self.coders) - 1}")
        x_hat = np.empty((len(index), *shape), dtype=np.complex64)
        for c, coder in enumerate(self.coders):
            rows = group == c
            coder.step = self.step
            x_hat[rows] = coder.decode(index[rows], shape)
        return x_hat


def _score(coefficients: np.ndarray, coder: TransformCoder, step: float):
    """``(error [n], bits [n])`` of coding ``coefficients [n, D]`` with ``coder`` at ``step``."""
    coder.step = step
    index = coder._quantise(coefficients)
    parts = np.stack([coefficients.real, coefficients.imag], axis=-1)
    error = np.sum((parts - coder.values(index)) ** 2, axis=(1, 2))
    return error, coder._bits(index)


# ---------------------------------------------------------------------- checkpoints
#: the files of a saved mixture coder (both sides load the same coders: the user equipment
#: projects on every basis to choose one and quantise, the base station rebuilds with it)
MIXTURE_CONFIG, MIXTURE_CODERS = "codec.json", "coders.safetensors"
MIXTURE_FORMAT = "gainnet-csi-mixture"
MAX_CONFIG_BYTES = 1 << 16
#: the largest report a saved mixture coder may describe (complex values)
MAX_DIMENSION = 1 << 14


def save_mixture(coder: MixtureCoder, directory, meta: dict):
    """Write ``codec.json`` (``meta``: JSON values, e.g. the report shape and what it was
    trained on), ``coders.safetensors`` (bases [C, D, D, 2], spreads [C, D] and usage [C],
    float32) and ``SHA256SUMS`` into ``directory``."""
    from safetensors.numpy import save_file

    from gainnet.core.integrity import check_writable, write_manifest

    root = check_writable(directory, "codec folder")
    basis = np.stack([c.basis for c in coder.coders])
    tensors = {
        "basis": np.ascontiguousarray(np.stack([basis.real, basis.imag], -1), dtype=np.float32),
        "sigma": np.stack([c.sigma for c in coder.coders]).astype(np.float32),
        "usage": np.asarray(coder.usage if coder.usage is not None else
                            np.full(len(coder.coders), 1 / len(coder.coders)), dtype=np.float32),
    }  # fmt: skip
    description = {"format": MIXTURE_FORMAT, "version": 1, "step": coder.step, **meta}
    (root / MIXTURE_CONFIG).write_text(json.dumps(description, indent=1) + "\n")
    save_file(tensors, str(root / MIXTURE_CODERS))
    write_manifest(root, [MIXTURE_CONFIG, MIXTURE_CODERS])
    return root


def load_mixture(directory) -> tuple[MixtureCoder, dict]:
    """``(coder, meta)`` of a saved mixture coder, after checking every digest, the
    description and the tensors' names, dtypes and shapes (a :class:`CheckpointError` names
    what is wrong otherwise)."""
    from safetensors.numpy import load

    from gainnet.checkpoint import safetensors_header
    from gainnet.core.integrity import verify_manifest

    root = Path(directory)
    fix = "train the codec again"
    verify_manifest(root, [MIXTURE_CONFIG, MIXTURE_CODERS], fix=fix)
    try:
        meta = json.loads((root / MIXTURE_CONFIG).read_bytes()[:MAX_CONFIG_BYTES])
        step = float(meta["step"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError,
            AttributeError) as exc:  # fmt: skip
        raise CheckpointError(f"{root / MIXTURE_CONFIG} is corrupt: {exc}") from None
    if meta.get("format") != MIXTURE_FORMAT or meta.get("version") != 1:
        raise CheckpointError(f"{root / MIXTURE_CONFIG} is not a gainnet mixture coder")
    data = (root / MIXTURE_CODERS).read_bytes()
    header = safetensors_header(data, str(root / MIXTURE_CODERS))
    sigma_shape = header.get("sigma", ("", ()))[1]
    groups, dimension = sigma_shape if len(sigma_shape) == 2 else (0, 0)
    expected = {
        "basis": ("F32", (groups, dimension, dimension, 2)),
        "sigma": ("F32", (groups, dimension)),
        "usage": ("F32", (groups,)),
    }
    if header != expected or not 1 <= groups <= 64 or not 1 <= dimension <= MAX_DIMENSION:
        raise CheckpointError(f"{root / MIXTURE_CODERS} does not hold a mixture coder's tensors")
    tensors = load(data)
    basis = tensors["basis"][..., 0].astype(np.float64) + 1j * tensors["basis"][..., 1]
    sigma, usage = tensors["sigma"].astype(np.float64), tensors["usage"].astype(np.float64)
    finite = np.isfinite(basis).all() and np.isfinite(sigma).all() and np.isfinite(usage).all()
    if not finite or (sigma <= 0).any() or (usage <= 0).any() or abs(usage.sum() - 1) > 1e-4:
        raise CheckpointError(f"{root / MIXTURE_CODERS} holds non-finite or non-positive values")
    if not np.isfinite(step) or step <= 0:
        raise CheckpointError(f"{root / MIXTURE_CONFIG} has a bad step {step!r}")
    coders = [TransformCoder(basis[c], sigma[c], step) for c in range(groups)]
    return MixtureCoder(coders, step, usage / usage.sum()), meta
