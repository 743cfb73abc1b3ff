"""Federated training of a CSI feedback codec (:mod:`gainnet.csi.learned`: ``csinet``,
``vae`` or ``entropy``).

Each site holds CSI reports of its own channel dataset (``params = {channel_dataset =
"data/umi"}``: a folder written by ``gainnet channels generate``, e.g. UMi at one site and UMa at
another: non-IID by construction). Its training set is ``num_labels`` unit-norm truncated
angular-delay reports (:func:`gainnet.csi.preprocess.feedback_reports`), drawn by the seed; the
server's test set is the next ``eval_instances_per_site`` reports of every site's final dataset.

There are no expert labels (a site holds channels, not decisions), so there is no audit; a
fabricating site (``made-up-states``) trains on random unit-norm reports instead of its
channels. The yardstick is the best-known linear codec with every site's data on one server:
transform coding (KLT, :class:`gainnet.csi.transform_coding.TransformCoder`) fitted on all
sites' training reports pooled and run at the codec's bits per report (a variable-length
codec's: the mean bits it spent on the test reports). The **ratio to the expert** of a codec
is that coder's mean squared error over the codec's (both on the same test reports, unit-norm,
so both are NMSE): 1 means as good as the pooled KLT coder, above 1 better; ``p05_ratio`` is
the 5th percentile of the per-report ratio. Training starts from the codec's own PCA start,
computed from the sites' pooled second moments (reported once, in round 1's query).

Weights travel as ``encoder.<name>``, ``decoder.<name>`` and ``code.<name>`` float32 tensors
(batch-norm counters stay local); ``vae`` and ``entropy`` also send ``rate.log_weight``, their
rate controller's ``log lambda``, averaged like a weight.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gainnet.core.seeding import int_seed_for, rng_for
from gainnet.errors import GainnetError
from gainnet.federated.config import FederationConfig
from gainnet.federated.task import FederatedTask, proximal_term

Weights = dict[str, np.ndarray]
#: what a site's ``params`` may hold
SITE_PARAMS = ("channel_dataset",)
#: the learned codecs a federation trains (``mixture`` is not a network)
FEDERATED_CODECS = ("csinet", "vae", "entropy")
#: the rate controller's state travels as this one-element tensor (``log lambda``)
RATE_KEY = "rate.log_weight"


@dataclasses.dataclass(frozen=True)
class CsiData:
    """A site's reports ``x [n, taps, antennas]`` (complex64, unit norm) and the scaled real
    tensor ``[n, 2, taps, antennas]`` the codec trains on."""

    x: np.ndarray
    tensor: torch.Tensor

    @property
    def num_examples(self) -> int:
        return len(self.x)


class CsiCodecTask(FederatedTask):
    """Federated training of a learned codec over the sites' channel datasets."""

    frozen: tuple[str, ...] = ()

    def __init__(self, config: FederationConfig) -> None:
        from gainnet.csi.learned import CodecConfig, LearnedCodec
        from gainnet.registry import build_params

        self.config = config
        settings = {"codec": "csinet", **config.solver_params}
        self.codec_config = build_params(CodecConfig, settings, "the federated CSI codec")
        if self.codec_config.codec not in FEDERATED_CODECS:
            raise GainnetError(
                f"federated CSI feedback trains the codecs {FEDERATED_CODECS}, "
                f"not {self.codec_config.codec!r}"
            )
        self.codec = LearnedCodec(self.codec_config, seed=config.seed)
        self.batch_size = self.codec_config.batch_size
        for site in config.sites:
            for params in (site.params, site.drift_params):
                unknown = sorted(set(params) - set(SITE_PARAMS))
                if unknown or (params is site.params and "channel_dataset" not in params):
                    raise GainnetError(
                        f"site {site.name!r}: a CSI codec site's params hold channel_dataset "
                        f"only (got {sorted(params)})"
                    )
        self._initial = self._weights()

    # ----------------------------------------------------------------- data
    def site_data(self, site_index: int, round_index: int, behaviour: str = "honest") -> CsiData:
        site = self.config.sites[site_index]
        params, version = self.conditions(site, round_index)
        return self._data(site_index, str(params["channel_dataset"]), version, behaviour)

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one task per federation, a few sites
    def _data(self, site_index: int, folder: str, version: int, behaviour: str) -> CsiData:
        site = self.config.sites[site_index]
        x = self._reports(folder)
        if len(x) < site.num_labels + self.config.eval_instances_per_site:
            raise GainnetError(
                f"{folder} has {len(x)} reports; site {site.name!r} needs num_labels + "
                f"eval_instances_per_site = {site.num_labels + self.config.eval_instances_per_site}"
            )
        rng = rng_for(self.config.seed, f"site-data-{site_index}-{version}")
        x = x[rng.permutation(len(x) - self.config.eval_instances_per_site)[: site.num_labels]]
        if behaviour == "made-up-states":
            noise = rng.standard_normal((*x.shape, 2)) @ np.array([1.0, 1j])
            x = (noise / np.linalg.norm(noise.reshape(len(x), -1), axis=1)[:, None, None]).astype(
                np.complex64
            )
        return CsiData(x, self._tensor(x))

    @functools.lru_cache(maxsize=16)  # noqa: B019
    def _reports(self, folder: str) -> np.ndarray:
        """Every unit-norm report of a dataset, ``[m, taps, antennas]``."""
        from gainnet.channels import load_dataset
        from gainnet.csi.preprocess import feedback_reports

        dataset = load_dataset(folder)
        cfg = self.codec_config
        if dataset.h.shape[2] != cfg.antennas or dataset.h.shape[3] < cfg.taps:
            raise GainnetError(
                f"{folder} has {dataset.h.shape[2]} antennas x {dataset.h.shape[3]} "
                f"subcarriers; the codec needs {cfg.antennas} antennas and >= {cfg.taps}"
            )
        return feedback_reports(dataset.h, cfg.taps)[1]

    def _tensor(self, x: np.ndarray) -> torch.Tensor:
        from gainnet.csi.learned import to_real

        return to_real(x) * self.codec._scale

    def observation_moments(self, data: CsiData) -> dict[str, Any]:
        """``count`` and ``second`` (the sum of ``v v^T`` over the reports, flattened ``D x D``,
        ``D = 2 taps antennas``): what the federated PCA start needs (once, in round 1)."""
        flat = data.tensor.flatten(1).double()
        return {"count": int(flat.shape[0]), "second": (flat.T @ flat).flatten().tolist()}

    def start_from_moments(self, weights: Weights, moments: list[dict[str, Any]]) -> Weights:
        """Round 1's codec: the PCA of the sites' pooled second moments, the codec's own start
        (:meth:`LearnedCodec._pca_start`'s) computed from moments instead of reports."""
        dim = 2 * self.codec_config.taps * self.codec_config.antennas
        count = sum(float(m["count"]) for m in moments)
        second = np.sum([np.asarray(m["second"], np.float64) for m in moments], axis=0)
        if second.shape != (dim * dim,) or not np.all(np.isfinite(second)) or count <= 0:
            raise GainnetError("the sites' second moments are malformed")
        variance, vectors = torch.linalg.eigh(torch.from_numpy(second.reshape(dim, dim) / count))
        k = min(self.codec_config.latent, dim)
        basis = vectors[:, -k:].flip(1)
        sigma = torch.sqrt(torch.clamp(variance[-k:].flip(0), min=1e-12))
        self.load(weights)
        # a variable-length code starts at its target rate (LearnedCodec's bisection on reports
        # is not possible without them; its rate controller takes over from round 1)
        self.codec._set_start(basis, sigma, float(self.codec_config.bits))
        return self._weights()

    def pool(self, parts: list[CsiData]) -> CsiData:
        x = np.concatenate([p.x for p in parts])
        return CsiData(x, self._tensor(x))

    # ----------------------------------------------------------------- weights
    def _nets(self):
        return (
            ("encoder", self.codec.encoder),
            ("decoder", self.codec.decoder),
            ("code", self.codec.code),
        )

    def _weights(self) -> Weights:
        out = {}
        for name, net in self._nets():
            for k, v in net.state_dict().items():
                if not k.endswith("num_batches_tracked") and v.dtype.is_floating_point:
                    out[f"{name}.{k}"] = v.detach().numpy().copy()
        if not self.codec.code.fixed_length or self.codec_config.codec == "vae":
            out[RATE_KEY] = np.array([np.log(self.codec.rate_weight)], dtype=np.float32)
        return out

    def initial_weights(self) -> Weights:
        return {k: v.copy() for k, v in self._initial.items()}

    def load(self, weights: Weights) -> None:
        if set(weights) != set(self._initial):
            raise GainnetError("weights do not match the federation's codec (tensor names)")
        if RATE_KEY in weights:
            log_weight = np.asarray(weights[RATE_KEY], dtype=np.float64)
            if log_weight.shape != (1,) or not np.isfinite(log_weight[0]):
                raise GainnetError(f"weight tensor {RATE_KEY!r} is malformed")
            self.codec.rate_weight = float(np.exp(np.clip(log_weight[0], -50.0, 50.0)))
        for name, net in self._nets():
            state = net.state_dict()
            for k in state:
                key = f"{name}.{k}"
                if key in weights:
                    value = np.asarray(weights[key], dtype=np.float32)
                    if value.shape != tuple(state[k].shape) or not np.all(np.isfinite(value)):
                        raise GainnetError(f"weight tensor {key!r} is malformed")
                    state[k] = torch.from_numpy(value.copy())
            net.load_state_dict(state)
        self.codec._eval()

    def save(self, weights: Weights, directory: str | Path) -> Path:
        """``weights`` as a codec checkpoint (``gainnet csi`` and ``LearnedCodec.load`` read it)."""
        self.load(weights)
        self.codec.training = {"federated": True, "rounds": self.config.rounds}
        return self.codec.save(directory)

    # ----------------------------------------------------------------- training
    def local_train(
        self,
        weights: Weights,
        data: CsiData,
        steps: int,
        learning_rate: float,
        proximal_mu: float,
        seed_stream: str,
    ) -> tuple[Weights, float, float]:
        """``steps`` Adam steps of reconstruction error on ``data`` (FedProx term with
        ``proximal_mu > 0``); ``(weights, mean NMSE over the steps, measured seconds)``."""
        start = time.perf_counter()
        self.load(weights)
        from gainnet.csi.learned import CODE_LR_FACTOR, RATE_STEP

        codec = self.codec
        for _, net in self._nets():
            net.train()
        networks = [*codec.encoder.parameters(), *codec.decoder.parameters()]
        code = list(codec.code.parameters())
        params = networks + code
        anchor = [p.detach().clone() for p in params]
        optimiser = torch.optim.Adam(
            [{"params": networks, "lr": learning_rate},
             {"params": code, "lr": CODE_LR_FACTOR * learning_rate}]
        )  # fmt: skip
        log_weight = float(np.log(codec.rate_weight))
        generator = torch.Generator().manual_seed(int_seed_for(self.config.seed, seed_stream))
        n, batch = data.num_examples, min(self.batch_size, data.num_examples)
        total = 0.0
        for _ in range(steps):
            index = torch.randint(0, n, (batch,), generator=generator)
            x = data.tensor[index]
            latent, rate_bits, spent = codec.code.train_code(codec.encoder(x), generator)
            error = ((codec.decoder(latent) - x) ** 2).sum(dim=(1, 2, 3)).mean()
            total += float(error.detach()) / codec._scale**2
            loss = error
            if rate_bits is not None:  # the codec's own rate controller (LearnedCodec.fit)
                loss = error + float(np.exp(log_weight)) * rate_bits.mean()
                log_weight += RATE_STEP * (spent / self.codec_config.bits - 1.0)
            if proximal_mu > 0:
                loss = loss + 0.5 * proximal_mu * proximal_term(params, anchor)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
        codec.rate_weight = float(np.exp(np.clip(log_weight, -50.0, 50.0)))
        codec._eval()
        if not np.isfinite(total):
            raise GainnetError(f"local training diverged ({seed_stream}): use a smaller lr")
        return self._weights(), total / max(steps, 1), time.perf_counter() - start

    # ----------------------------------------------------------------- evaluation
    def test_set(self) -> tuple[np.ndarray, np.ndarray]:
        """``(x [n, taps, antennas], the expert's squared error per report [n])``: the last
        ``eval_instances_per_site`` reports of every site's final dataset, and transform
        coding's error on each (fitted on every site's training reports pooled)."""
        from gainnet.csi.transform_coding import TransformCoder

        tests, training = [], []
        for i, site in enumerate(self.config.sites):
            params, version = self.conditions(site, self.config.rounds)
            reports = self._reports(str(params["channel_dataset"]))
            tests.append(reports[len(reports) - self.config.eval_instances_per_site :])
            training.append(self._data(i, str(params["channel_dataset"]), version, "honest").x)
        x = np.concatenate(tests)
        self._expert = TransformCoder.fit(np.concatenate(training), float(self.codec_config.bits))
        return x, self._expert_error(x, float(self.codec_config.bits))

    def _expert_error(self, x: np.ndarray, bits: float) -> np.ndarray:
        """Transform coding's squared error per report at ``bits`` per report on ``x``."""
        self._expert.match_rate(x, bits)
        index, _ = self._expert.encode(x)
        return _squared_error(x, self._expert.decode(index, x.shape[1:]))

    def evaluate(self, weights: Weights, x: np.ndarray, expert_error: np.ndarray) -> dict:
        """``ratio`` (the expert's mean error over the codec's), ``p05_ratio``, ``nmse_db``."""
        self.load(weights)
        symbols = self.codec.encode(x)
        error = _squared_error(x, self.codec.decode(symbols))
        bits = float(self.codec.report_bits(symbols).mean())
        if not self.codec.code.fixed_length:  # the yardstick at the bits actually spent
            expert_error = self._expert_error(x, bits)
        with np.errstate(divide="ignore", invalid="ignore"):
            per = np.where(error > 0, expert_error / error, np.inf)
        return {
            "ratio": float(expert_error.mean() / max(error.mean(), 1e-30)),
            "p05_ratio": float(np.percentile(per, 5)),
            "feasible_rate": 1.0,
            "nmse_db": float(10 * np.log10(max(error.mean(), 1e-30))),
            "expert_nmse_db": float(10 * np.log10(max(expert_error.mean(), 1e-30))),
            "bits_per_report": bits,
        }


def _squared_error(x: np.ndarray, x_hat: np.ndarray) -> np.ndarray:
    """Per-report squared error of unit-norm reports (their NMSE), ``[n]``."""
    return np.sum(np.abs(x - x_hat) ** 2, axis=(1, 2)).astype(np.float64)
