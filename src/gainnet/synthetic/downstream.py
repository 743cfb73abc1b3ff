"""The downstream tasks of train-on-synthetic, test-on-real: each trains on a set of channels
(real, synthetic or both) and is scored on held-out real channels.

- :func:`csi_feedback_nmse_db`: CSI feedback compression (the ``csinet`` codec of
  :mod:`gainnet.csi.learned`, a fixed number of gradient steps whatever the training set's
  size) at one compression ratio; metric NMSE (dB, lower is better) on the real test reports.
- :func:`beam_selection_accuracy`: position-aided beam selection, a small classifier that maps
  what the base station knows about a user (its condition row) to the best of the array's DFT
  beams (the strongest over the band); metric top-1 accuracy on the real test channels (higher
  is better), with the share of the best beam's power the chosen beams keep.

Both take ``H [n, 1, num_bs_antennas, num_subcarriers]`` as the datasets hold it.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import torch
from torch import nn

from gainnet.core.seeding import int_seed_for
from gainnet.csi.learned import CodecConfig, LearnedCodec
from gainnet.csi.metrics import nmse_db
from gainnet.csi.preprocess import feedback_reports
from gainnet.csi.transform_coding import TransformCoder
from gainnet.errors import InvalidStateError

#: bits per latent value of the CSI codec (CsiNet's 4-bit convention)
CSI_BITS_PER_VALUE = 4
#: the tasks' metrics (CSI feedback reports both codecs: CsiNet and transform coding)
TASKS = {
    "csi_feedback": {"metric": "nmse_db", "higher_is_better": False},
    "csi_feedback_transform_coding": {
        "metric": "transform_coding_nmse_db",
        "higher_is_better": False,
    },
    "beam_selection": {"metric": "top1_accuracy", "higher_is_better": True},
}


def csi_feedback_nmse_db(
    train_h: np.ndarray,
    test_h: np.ndarray,
    num_taps: int,
    ratio: str,
    steps: int,
    batch_size: int,
    seed: int,
) -> dict:
    """Train a ``csinet`` codec of ``ratio`` (of the ``2 num_taps num_bs_antennas`` real values,
    4 bits each) for about ``steps`` gradient steps on ``train_h``'s reports; score it on
    ``test_h``'s. ``{"nmse_db", "bits", "epochs", "train_reports", "transform_coding_nmse_db",
    "transform_coding_bits", "transform_coding_own_step_bits"}`` (transform coding fitted to
    the same reports, its step matched to the budget on the test reports)."""
    _, x_train = feedback_reports(_single(train_h), num_taps)
    _, x_test = feedback_reports(_single(test_h), num_taps)
    order = np.random.default_rng(int_seed_for(seed, "csi-task-order")).permutation(len(x_train))
    x_train = x_train[order]
    values = int(2 * x_train.shape[1] * x_train.shape[2] * Fraction(ratio))
    if values < 1:
        raise InvalidStateError(f"compression ratio {ratio} leaves no value to send")
    config = CodecConfig(codec="csinet", taps=x_train.shape[1], antennas=x_train.shape[2],
                         latent=values, bits_per_value=CSI_BITS_PER_VALUE,
                         batch_size=min(batch_size, len(x_train)))  # fmt: skip
    epochs = max(1, round(steps * config.batch_size / len(x_train)))
    codec = LearnedCodec(config, seed=seed)
    codec.fit(x_train, epochs)
    x_hat = codec.decode(codec.encode(x_test))
    klt = TransformCoder.fit(x_train, config.bits)
    own_bits = float(klt.encode(x_test)[1].mean())
    klt.match_rate(x_test, config.bits)
    index, bits = klt.encode(x_test)
    return {
        "nmse_db": nmse_db(x_test, x_hat),
        "bits": config.bits,
        "epochs": epochs,
        "train_reports": len(x_train),
        "transform_coding_nmse_db": nmse_db(x_test, klt.decode(index, x_test.shape[1:])),
        "transform_coding_bits": float(bits.mean()),
        "transform_coding_own_step_bits": own_bits,
    }


def best_beams(h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(best [n], power [n, num_bs_antennas])``: each channel's power in every DFT beam
    (unitary DFT over the base-station antennas, summed over subcarriers) and the strongest."""
    h = _single(h)[:, 0]  # [n, N, K]
    power = np.sum(np.abs(np.fft.fft(h.astype(np.complex128), axis=1, norm="ortho")) ** 2, axis=2)
    return np.argmax(power, axis=1), power


def beam_selection_accuracy(
    train_conditions: np.ndarray,
    train_h: np.ndarray,
    test_conditions: np.ndarray,
    test_h: np.ndarray,
    steps: int,
    seed: int,
    hidden: int = 128,
    batch_size: int = 256,
) -> dict:
    """Train a classifier condition -> best beam on (``train_conditions``, ``train_h``) for
    ``steps`` Adam steps; ``{"top1_accuracy", "top3_accuracy", "power_kept"}`` on the test set
    (``power_kept``: the mean over test users of the chosen beam's power over the best's)."""
    labels, _ = best_beams(train_h)
    test_best, test_power = best_beams(test_h)
    beams = test_power.shape[1]
    x = torch.from_numpy(np.asarray(train_conditions, dtype=np.float32))
    mean, spread = x.mean(0), x.std(0)
    scale = torch.where(spread > 1e-6, 1 / spread, torch.ones_like(spread))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int_seed_for(seed, "beam-classifier") % 2**31)
        net = nn.Sequential(nn.Linear(x.shape[1], hidden), nn.SiLU(), nn.Linear(hidden, hidden),
                            nn.SiLU(), nn.Linear(hidden, beams))  # fmt: skip
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    decay = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))
    )
    generator = torch.Generator().manual_seed(int_seed_for(seed, "beam-batches") % 2**31)
    y = torch.from_numpy(labels)
    xs = (x - mean) * scale
    for _ in range(steps):
        rows = torch.randint(0, len(xs), (min(batch_size, len(xs)),), generator=generator)
        loss = nn.functional.cross_entropy(net(xs[rows]), y[rows])
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        decay.step()
    with torch.inference_mode():
        test_x = torch.from_numpy(np.asarray(test_conditions, dtype=np.float32))
        scores = net((test_x - mean) * scale).numpy()
    ranked = np.argsort(-scores, axis=1)
    chosen = ranked[:, 0]
    rows = np.arange(len(chosen))
    return {
        "top1_accuracy": float(np.mean(chosen == test_best)),
        "top3_accuracy": float(np.mean((ranked[:, :3] == test_best[:, None]).any(axis=1))),
        "power_kept": float(np.mean(test_power[rows, chosen] / test_power[rows, test_best])),
    }


def _single(h: np.ndarray) -> np.ndarray:
    h = np.asarray(h)
    if h.ndim != 4 or h.shape[1] != 1 or not np.iscomplexobj(h) or not len(h):
        raise InvalidStateError(f"H must be complex [n, 1, bs, subcarriers], got {h.shape}")
    return h
