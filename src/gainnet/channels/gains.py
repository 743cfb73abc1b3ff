"""Per-resource-block power gains from a channel dataset, for the scenarios that draw from one.

With maximum-ratio transmission from the base station's antennas the power gain of subcarrier
``k`` is ``||h_k||^2`` (summed over the base-station and user antennas); a resource block's gain
is the mean over its subcarriers (``num_subcarriers`` split into ``num_blocks`` contiguous blocks
as evenly as possible). :func:`dataset_block_gains` loads a dataset once per process (checked,
see :mod:`gainnet.channels.dataset`) and keeps the table by its content hash;
:func:`dataset_link_gains` does the same for the user-to-site gains of network drops.
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


def link_gains(h: np.ndarray) -> np.ndarray:
    """``[n, K, K]`` linear power gains of network drops ``H [n, users, sites, subcarriers]``:
    ``gains[i, k, j]``, the mean over subcarriers of ``|H[i, k, j]|^2`` (user ``k`` from site
    ``j``; single antennas)."""
    h = np.asarray(h)
    if h.ndim != 4 or h.shape[1] != h.shape[2]:
        raise InvalidConfigError(
            f"need network drops H [n, users, sites, subcarriers], got {h.shape}"
        )
    return np.mean(np.abs(h.astype(np.complex128)) ** 2, axis=3)


def dataset_block_gains(directory: str, num_blocks: int) -> np.ndarray:
    """The block gains ``[n, num_blocks]`` of every channel of the dataset in ``directory``."""
    return _table(*_key(directory), "blocks", num_blocks)


def dataset_link_gains(directory: str, num_cells: int) -> np.ndarray:
    """The link gains ``[n, num_cells, num_cells]`` of every sample of the network-drop dataset
    in ``directory`` (generated with ``num_cells`` sites)."""
    return _table(*_key(directory), "links", num_cells)


def scenario_gains(kind: str, directory: str, size: int, offset_db: float) -> np.ndarray:
    """A scenario's table of dataset gains (``kind`` ``"blocks"`` or ``"links"``) times
    ``10^(offset_db / 10)``; any dataset error becomes an :class:`InvalidConfigError` naming
    ``channel_dataset``."""
    from gainnet.errors import GainnetError

    load = dataset_link_gains if kind == "links" else dataset_block_gains
    try:
        table = load(directory, size)
    except InvalidConfigError:
        raise
    except GainnetError as exc:
        raise InvalidConfigError(f"channel_dataset: {exc}") from None
    return table * 10.0 ** (offset_db / 10)


def _key(directory: str) -> tuple[str, str]:
    from gainnet.core.integrity import MANIFEST_NAME, sha256_hex

    manifest = Path(directory) / MANIFEST_NAME
    if not manifest.is_file():
        raise InvalidConfigError(f"channel_dataset {directory} is not a channel dataset folder")
    return str(Path(directory).resolve()), sha256_hex(manifest.read_bytes())


@functools.lru_cache(maxsize=8)
def _table(directory: str, digest: str, kind: str, size: int) -> np.ndarray:
    from gainnet.channels.dataset import load_dataset

    dataset = load_dataset(directory)
    if dataset.digest != digest:
        raise InvalidConfigError(f"channel_dataset {directory} changed while it was read")
    cells = dataset.config.num_cells
    if kind == "links" and cells != size:
        raise InvalidConfigError(
            f"channel_dataset {directory} holds {cells}-site drops, not {size}: generate it "
            f"with --model umi (or uma) --set num_cells={size} --set num_bs_antennas=1"
        )
    if kind == "blocks" and cells > 1:
        raise InvalidConfigError(f"channel_dataset {directory} holds network drops, not links")
    table = link_gains(dataset.h) if kind == "links" else block_gains(dataset.h, size)
    table.setflags(write=False)
    return table
