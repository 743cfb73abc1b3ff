"""Channel datasets on disk: generated in shards, resumable, hashed, refused when altered.

A dataset is a directory::

    dataset.json            format, version, generator config, seed, sizes, Sionna's version
    shard-00000.safetensors h, position_m, los, indoor, delay_spread_s, path_gain_db
    ...
    SHA256SUMS              the SHA-256 of every file above (``sha256sum -c`` checks it)

Shard ``i`` is drawn from the seed stream ``(seed, i)``, so a generation that is interrupted and
resumed writes the same bytes as one that is not, and a rerun with the same config and seed
reproduces the dataset (its :attr:`ChannelDataset.digest`, the SHA-256 of ``SHA256SUMS``, is the
same). The manifest is rewritten after every shard: resuming checks the shards already written
and continues after them. Loading checks every digest, the JSON's fields and every shard's
header (names, dtypes, shapes) before any array is read; safetensors only, never pickle.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from gainnet.channels.config import ChannelConfig
from gainnet.core.integrity import MANIFEST_NAME, sha256_hex, verify_manifest, write_manifest
from gainnet.core.validation import MAX_ARRAY_BYTES
from gainnet.errors import CheckpointError, GainnetError, InvalidConfigError

FORMAT, VERSION = "gainnet-channels", 1
META_FILE = "dataset.json"
MAX_META_BYTES = 1 << 20
MAX_SHARDS = 100_000
#: per-sample fields besides ``h``: (safetensors dtype, NumPy dtype); the shape of one sample is
#: :attr:`ChannelConfig.metadata_shapes`
FIELDS = {
    "position_m": ("F32", np.float32),
    "los": ("U8", np.uint8),
    "indoor": ("U8", np.uint8),
    "delay_spread_s": ("F32", np.float32),
    "path_gain_db": ("F32", np.float32),
}


@dataclasses.dataclass(frozen=True)
class ChannelDataset:
    """A loaded dataset. ``h``: ``[n, num_ut_antennas, num_bs_antennas, num_subcarriers]``
    complex64; ``metadata``: the per-sample arrays of :data:`FIELDS`, each ``[n, ...]``;
    ``digest``: SHA-256 of the manifest, the dataset's content hash; ``generator``: what made
    the channels (Sionna's version, or the synthetic generator that did)."""

    config: ChannelConfig
    seed: int
    h: np.ndarray
    metadata: dict[str, np.ndarray]
    digest: str
    #: what made the channels (``{"sionna-no-rt": version}``, or a synthetic generator's record)
    generator: dict = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.h)

    @property
    def is_gaussian(self) -> bool:
        """True for a circular Gaussian source: an NLoS TDL (A-C) at one fixed delay spread
        (with several, a scale mixture of Gaussians, or with a LoS tap, it is not)."""
        low, high = self.config.delay_spread_s_range
        return self.config.model in ("tdl-a", "tdl-b", "tdl-c") and low == high


def shard_name(index: int) -> str:
    return f"shard-{index:05d}.safetensors"


def _meta(config: ChannelConfig, num_channels: int, shard_size: int, seed: int) -> dict:
    from importlib.metadata import PackageNotFoundError, version

    try:
        sionna_version = version("sionna-no-rt")
    except PackageNotFoundError:
        sionna_version = "unknown"
    return {
        "format": FORMAT,
        "version": VERSION,
        "config": {k: v for k, v in dataclasses.asdict(config).items()},
        "seed": seed,
        "num_channels": num_channels,
        "shard_size": shard_size,
        "num_shards": -(-num_channels // shard_size),
        "generator": {"sionna-no-rt": sionna_version},
    }


def _same_request(found: dict, wanted: dict) -> bool:
    keys = ("format", "version", "seed", "num_channels", "shard_size")
    if any(found.get(k) != wanted[k] for k in keys):
        return False
    try:
        return ChannelConfig(**found.get("config", {})) == ChannelConfig(**wanted["config"])
    except (GainnetError, TypeError):
        return False


def check_size(config: ChannelConfig, num_channels: int, shard_size: int) -> None:
    """Refuse counts that are not positive integers or that would not fit in memory."""
    for name, value in (("num_channels", num_channels), ("shard_size", shard_size)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
            raise InvalidConfigError(f"{name} must be an integer >= 1, got {value!r}")
    per_channel = 8 * int(np.prod(config.shape))
    if num_channels * per_channel > MAX_ARRAY_BYTES:
        raise InvalidConfigError(
            f"{num_channels:,} channels of {config.shape} take "
            f"{num_channels * per_channel / 2**30:.1f} GiB, more than the "
            f"{MAX_ARRAY_BYTES / 2**30:.0f} GiB gainnet loads at once: generate fewer"
        )
    if -(-num_channels // shard_size) > MAX_SHARDS:
        raise InvalidConfigError(f"more than {MAX_SHARDS} shards: use a larger shard_size")


def generate_dataset(
    config: ChannelConfig,
    num_channels: int,
    out_dir: str | Path,
    seed: int = 0,
    shard_size: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> ChannelDataset:
    """Generate (or finish generating) a dataset in ``out_dir`` and load it.

    An ``out_dir`` holding part of the same request (config, seed, sizes) is resumed; one
    holding anything else is refused. ``progress(done, total)`` is called after every shard.
    """
    from gainnet.channels.sionna_backend import generate_shard
    from gainnet.core.integrity import check_writable

    check_size(config, num_channels, shard_size)
    root = check_writable(out_dir, "dataset folder")
    wanted = _meta(config, num_channels, shard_size, int(seed))
    meta_path = root / META_FILE
    done = 0
    if meta_path.exists():
        found = _read_meta(root)
        if not _same_request(found, wanted):
            raise GainnetError(
                f"{root} holds a different dataset ({found.get('config', {}).get('model')}, "
                f"{found.get('num_channels')} channels, seed {found.get('seed')}): choose "
                "another folder or delete it"
            )
        listed = verify_manifest(root, [META_FILE], fix="delete the folder and generate again")
        while shard_name(done) in listed:
            done += 1
    else:
        if any(root.iterdir()):
            raise GainnetError(f"{root} is not empty and holds no dataset: choose another folder")
        meta_path.write_text(json.dumps(wanted, indent=1) + "\n")
        write_manifest(root, [META_FILE])
    total = wanted["num_shards"]
    for index in range(done, total):
        count = min(shard_size, num_channels - index * shard_size)
        arrays = generate_shard(config, count, seed=_shard_seed(int(seed), index))
        _write_shard(root / shard_name(index), arrays)
        write_manifest(root, [META_FILE, *(shard_name(i) for i in range(index + 1))])
        if progress is not None:
            progress(index + 1, total)
    return load_dataset(root)


def write_dataset(
    out_dir: str | Path,
    config: ChannelConfig,
    arrays: dict[str, np.ndarray],
    generator: dict,
    seed: int = 0,
    shard_size: int = 1000,
) -> ChannelDataset:
    """Write channels made elsewhere (``arrays``: ``h`` and every field of :data:`FIELDS`,
    shaped as ``config`` says) as a dataset in an empty ``out_dir``, in the same format as a
    generated one; ``generator`` (JSON values) records what made them. Returns it loaded."""
    from gainnet.core.integrity import check_writable

    num_channels = len(arrays["h"])
    check_size(config, num_channels, shard_size)
    expected = {"h": (num_channels, *config.shape)}
    expected |= {k: (num_channels, *v) for k, v in config.metadata_shapes.items()}
    found = {k: tuple(np.shape(arrays.get(k))) for k in expected}
    if found != expected:
        raise InvalidConfigError(f"the arrays {found} do not match the dataset's shapes {expected}")
    root = check_writable(out_dir, "dataset folder")
    if any(root.iterdir()):
        raise GainnetError(f"{root} is not empty: choose another folder")
    meta = _meta(config, num_channels, shard_size, int(seed)) | {"generator": generator}
    (root / META_FILE).write_text(json.dumps(meta, indent=1) + "\n")
    names = [META_FILE]
    for index in range(meta["num_shards"]):
        rows = slice(index * shard_size, (index + 1) * shard_size)
        dtypes = {"h": np.complex64} | {k: d for k, (_, d) in FIELDS.items()}
        _write_shard(root / shard_name(index),
                     {k: np.asarray(arrays[k][rows], dtype=dtypes[k]) for k in dtypes})  # fmt: skip
        names.append(shard_name(index))
    write_manifest(root, names)
    return load_dataset(root)


def _shard_seed(seed: int, index: int) -> int:
    from gainnet.core.seeding import int_seed_for

    return int_seed_for(seed, f"channel-shard-{index}")


def _write_shard(path: Path, arrays: dict[str, np.ndarray]) -> None:
    from safetensors.numpy import save

    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(save({k: np.ascontiguousarray(v) for k, v in arrays.items()}))
    partial.replace(path)


def _read_meta(root: Path) -> dict:
    path = root / META_FILE
    if not path.is_file():
        raise CheckpointError(f"{root} has no {META_FILE}: it is not a gainnet channel dataset")
    if path.stat().st_size > MAX_META_BYTES:
        raise CheckpointError(f"{path} is too large to be a dataset description")
    try:
        meta = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise CheckpointError(f"{path} is not valid JSON: the dataset is corrupt") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a gainnet channel dataset description")
    if meta.get("version") != VERSION:
        raise CheckpointError(
            f"{path} is format version {meta.get('version')!r}; this gainnet reads {VERSION}"
        )
    return meta


def load_dataset(directory: str | Path, max_channels: int | None = None) -> ChannelDataset:
    """Load a complete dataset (the first ``max_channels`` channels if given) after checking
    every digest, the description and every shard's header; a :class:`CheckpointError` names
    what is wrong otherwise."""
    from safetensors.numpy import load

    from gainnet.checkpoint import safetensors_header

    root = Path(directory)
    if not root.is_dir():
        raise GainnetError(f"{root} is not a dataset folder")
    fix = "delete the folder and generate the dataset again"
    meta = _read_meta(root)
    listed = verify_manifest(root, [META_FILE], fix=fix)
    try:
        config = ChannelConfig(**meta["config"])
        seed, n, shard_size = meta["seed"], meta["num_channels"], meta["shard_size"]
        check_size(config, n, shard_size)
    except (KeyError, TypeError, GainnetError) as exc:
        raise CheckpointError(f"{root / META_FILE} is corrupt: {exc}") from None
    shards = -(-n // shard_size)
    missing = [shard_name(i) for i in range(shards) if shard_name(i) not in listed]
    if missing:
        raise GainnetError(
            f"{root} is incomplete ({shards - len(missing)} of {shards} shards): run the same "
            "generation again to resume it"
        )
    limit = n if max_channels is None else max(1, min(int(max_channels), n))
    parts: dict[str, list[np.ndarray]] = {"h": [], **{k: [] for k in FIELDS}}
    for index in range(-(-limit // shard_size)):
        count = min(shard_size, n - index * shard_size)
        data = (root / shard_name(index)).read_bytes()
        where = str(root / shard_name(index))
        expected = {"h": ("C64", (count, *config.shape))}
        shapes = config.metadata_shapes
        expected |= {k: (d, (count, *shapes[k])) for k, (d, _) in FIELDS.items()}
        if safetensors_header(data, where) != expected:
            raise CheckpointError(f"{where} does not hold the arrays {META_FILE} describes")
        for name, value in load(data).items():
            parts[name].append(value)
    arrays = {k: np.concatenate(v)[:limit] for k, v in parts.items()}
    digest = sha256_hex((root / MANIFEST_NAME).read_bytes())
    generator = meta.get("generator")
    generator = generator if isinstance(generator, dict) else {}
    return ChannelDataset(config, int(seed), arrays.pop("h"), arrays, digest, generator)
