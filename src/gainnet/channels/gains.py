"""Per-resource-block power gains from a channel dataset, for the scenarios that draw from one.

With maximum-ratio transmission from the base station's antennas the power gain of subcarrier
``k`` is ``||h_k||^2`` (summed over the base-station and user antennas); a resource block's gain
is the mean over its subcarriers (``num_subcarriers`` split into ``num_blocks`` contiguous blocks
as evenly as possible). :func:`dataset_block_gains` loads a dataset once per process (checked,
see :mod:`gainnet.channels.dataset`) and keeps the table by its content hash.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from gainnet.errors import InvalidConfigError


def block_gains(h: np.ndarray, num_blocks: int) -> np.ndarray:
    """``[n, num_blocks]`` linear power gains of ``H [n, ut, bs, num_subcarriers]``."""
    h = np.asarray(h)
    if h.ndim != 4 or not 1 <= num_blocks <= h.shape[3]:
        raise InvalidConfigError(
            f"need H [n, ut, bs, subcarriers] with at least {num_blocks} subcarriers, got {h.shape}"
        )
    per_subcarrier = np.sum(np.abs(h.astype(np.complex128)) ** 2, axis=(1, 2))  # [n, K]
    blocks = np.array_split(per_subcarrier, num_blocks, axis=1)
    return np.stack([b.mean(axis=1) for b in blocks], axis=1)


def dataset_block_gains(directory: str, num_blocks: int) -> np.ndarray:
    """The block gains ``[n, num_blocks]`` of every channel of the dataset in ``directory``."""
    from gainnet.core.integrity import MANIFEST_NAME, sha256_hex

    manifest = Path(directory) / MANIFEST_NAME
    if not manifest.is_file():
        raise InvalidConfigError(f"channel_dataset {directory} is not a channel dataset folder")
    digest = sha256_hex(manifest.read_bytes())
    return _table(str(Path(directory).resolve()), digest, num_blocks)


@functools.lru_cache(maxsize=8)
def _table(directory: str, digest: str, num_blocks: int) -> np.ndarray:
    from gainnet.channels.dataset import load_dataset

    dataset = load_dataset(directory)
    if dataset.digest != digest:
        raise InvalidConfigError(f"channel_dataset {directory} changed while it was read")
    table = block_gains(dataset.h, num_blocks)
    table.setflags(write=False)
    return table
