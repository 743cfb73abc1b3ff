"""A trained CSI codec: its settings, training, the encoder and decoder apart, and checkpoints.

:class:`LearnedCodec` wraps the networks of a codec (``csinet``: :mod:`gainnet.csi.csinet`).
``encode`` runs on the user equipment and returns integer levels ``[n, M]``; ``decode`` runs at
the base station; each half is saved in its own safetensors file, so a device can load the
encoder alone. A checkpoint directory holds ``codec.json`` (settings), ``encoder.safetensors``,
``decoder.safetensors`` and ``SHA256SUMS``; loading checks the digests and every tensor's name,
dtype and shape before reading a weight (``torch.load`` is never used).

Inputs are unit-norm truncated angular-delay CSI, ``[n, taps, antennas]`` complex
(:mod:`gainnet.csi.preprocess`); the norm is the channel quality, reported apart (as CQI is
beside the precoder report in 3GPP), so the codeword carries the direction only.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from gainnet.core.seeding import int_seed_for, rng_for
from gainnet.core.validation import Validated, setting
from gainnet.csi.csinet import CsiNetDecoder, CsiNetEncoder, quantise
from gainnet.errors import CheckpointError, InvalidStateError

CODECS = ("csinet",)
CONFIG_FILE, ENCODER_FILE, DECODER_FILE = "codec.json", "encoder.safetensors", "decoder.safetensors"
MAX_CONFIG_BYTES = 1 << 16


@dataclasses.dataclass(frozen=True)
class CodecConfig(Validated):
    """Settings of a learned codec. A report is ``latent * bits_per_value`` bits."""

    codec: str = setting("csinet", choices=CODECS)
    taps: int = setting(32, low=1, high=256)
    antennas: int = setting(32, low=1, high=256)
    latent: int = setting(128, low=1, high=8192)
    bits_per_value: int = setting(4, low=1, high=16)
    learning_rate: float = setting(1e-3, gt=0, high=1.0)
    batch_size: int = setting(200, low=1, high=65_536)

    @property
    def bits(self) -> int:
        """Bits per report."""
        return self.latent * self.bits_per_value


def to_real(x: np.ndarray) -> torch.Tensor:
    """``[n, taps, antennas]`` complex -> ``[n, 2, taps, antennas]`` float32."""
    return torch.from_numpy(np.stack([x.real, x.imag], axis=1).astype(np.float32))


def to_complex(t: torch.Tensor) -> np.ndarray:
    a = t.detach().numpy()
    return (a[:, 0] + 1j * a[:, 1]).astype(np.complex64)


class LearnedCodec:
    """A codec's encoder and decoder (see the module doc)."""

    def __init__(self, config: CodecConfig, seed: int = 0) -> None:
        self.config, self.seed = config, seed
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int_seed_for(seed, "codec-init") % (2**31))
            self.encoder = CsiNetEncoder(config.taps, config.antennas, config.latent)
            self.decoder = CsiNetDecoder(config.taps, config.antennas, config.latent)
        self.encoder.eval()
        self.decoder.eval()

    @property
    def _scale(self) -> float:
        """Unit-norm CSI is scaled to unit power per real entry inside the networks (the
        entries of a 2 x 32 x 32 unit-norm report are about 0.02, far below the codeword's
        quantisation step)."""
        return float(np.sqrt(2 * self.config.taps * self.config.antennas))

    def _check(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        shape = (self.config.taps, self.config.antennas)
        if x.ndim != 3 or x.shape[1:] != shape or not np.iscomplexobj(x):
            raise InvalidStateError(
                f"CSI must be complex [n, {shape[0]}, {shape[1]}], got {x.shape}"
            )
        if not np.isfinite(x).all():
            raise InvalidStateError("the CSI holds NaN or infinite values")
        return x

    def fit(
        self,
        x_train: np.ndarray,
        epochs: int,
        progress: Callable[[int, float], None] | None = None,
    ) -> list[float]:
        """Train for ``epochs`` passes over ``x_train``; returns the mean loss of each epoch
        (the training NMSE, linear). ``progress(epoch, loss)`` after every epoch."""
        data = to_real(self._check(x_train)) * self._scale
        cfg = self.config
        parameters = [*self.encoder.parameters(), *self.decoder.parameters()]
        optimiser = torch.optim.Adam(parameters, lr=cfg.learning_rate)
        rng = rng_for(self.seed, "codec-batches")
        self.encoder.train()
        self.decoder.train()
        history = []
        for epoch in range(epochs):
            order = torch.from_numpy(rng.permutation(len(data)))
            total = 0.0
            for start in range(0, len(data), cfg.batch_size):
                batch = data[order[start : start + cfg.batch_size]]
                code = quantise(self.encoder(batch), cfg.bits_per_value)
                loss = ((self.decoder(code) - batch) ** 2).sum(dim=(1, 2, 3)).mean()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
            history.append(total / len(data) / self._scale**2)
            if progress is not None:
                progress(epoch + 1, history[-1])
        self.encoder.eval()
        self.decoder.eval()
        return history

    def encode(self, x: np.ndarray) -> np.ndarray:
        """User side: the levels ``[n, latent]`` (int64 in ``0..2^b - 1``) of CSI ``x``."""
        levels = 2**self.config.bits_per_value
        with torch.inference_mode():
            latent = self.encoder(to_real(self._check(x)) * self._scale)
        return torch.clamp(torch.floor((latent + 1) / 2 * levels), 0, levels - 1).long().numpy()

    def decode(self, levels: np.ndarray) -> np.ndarray:
        """Base-station side: the CSI ``[n, taps, antennas]`` complex64 from levels."""
        levels = np.asarray(levels)
        top = 2**self.config.bits_per_value - 1
        if levels.ndim != 2 or levels.shape[1] != self.config.latent:
            raise InvalidStateError(f"levels must be [n, {self.config.latent}], got {levels.shape}")
        if not np.issubdtype(levels.dtype, np.integer) or levels.min() < 0 or levels.max() > top:
            raise InvalidStateError(f"levels must be integers in 0..{top}")
        code = (torch.from_numpy(levels.astype(np.float32)) + 0.5) / (top + 1) * 2 - 1
        with torch.inference_mode():
            return to_complex(self.decoder(code) / self._scale)

    # ------------------------------------------------------------------ checkpoints
    def save(self, directory: str | Path) -> Path:
        from safetensors.torch import save_file

        from gainnet.core.integrity import check_writable, write_manifest

        root = check_writable(directory, "codec folder")
        meta = {"format": "gainnet-csi-codec", "version": 1, "seed": self.seed}
        meta["config"] = dataclasses.asdict(self.config)
        (root / CONFIG_FILE).write_text(json.dumps(meta, indent=1) + "\n")
        for name, net in ((ENCODER_FILE, self.encoder), (DECODER_FILE, self.decoder)):
            tensors = {k: v.contiguous() for k, v in net.state_dict().items()}
            save_file(tensors, str(root / name))
        write_manifest(root, [CONFIG_FILE, ENCODER_FILE, DECODER_FILE])
        return root

    @classmethod
    def load(cls, directory: str | Path, part: str = "both") -> LearnedCodec:
        """A saved codec; ``part="encoder"`` (the device) or ``"decoder"`` checks and loads
        that half only."""
        from safetensors.torch import load as load_tensors

        from gainnet.checkpoint import safetensors_header
        from gainnet.core.integrity import read_manifest, verify_digest

        if part not in ("both", "encoder", "decoder"):
            raise InvalidStateError(f"part must be both, encoder or decoder, got {part!r}")
        root = Path(directory)
        names = {"encoder": [ENCODER_FILE], "decoder": [DECODER_FILE]}
        wanted = names.get(part, [ENCODER_FILE, DECODER_FILE])
        fix = "train the codec again"
        listed = read_manifest(root, fix)
        for name in (CONFIG_FILE, *wanted):  # only the half asked for: a device has no decoder
            if name not in listed or not (root / name).is_file():
                raise CheckpointError(f"{root} has no intact {name}; {fix}")
            verify_digest((root / name).read_bytes(), listed[name], str(root / name), fix)
        raw = (root / CONFIG_FILE).read_bytes()
        try:
            meta = json.loads(raw[:MAX_CONFIG_BYTES])
            if meta.get("format") != "gainnet-csi-codec" or meta.get("version") != 1:
                raise CheckpointError(f"{root / CONFIG_FILE} is not a gainnet CSI codec")
            codec = cls(CodecConfig(**meta["config"]), seed=int(meta["seed"]))
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{root / CONFIG_FILE} is corrupt: {exc}") from None
        for name in wanted:
            net = codec.encoder if name == ENCODER_FILE else codec.decoder
            data = (root / name).read_bytes()
            expected = {
                k: (str(v.dtype).replace("torch.float32", "F32").replace("torch.int64", "I64"),
                    tuple(v.shape))
                for k, v in net.state_dict().items()
            }  # fmt: skip
            if safetensors_header(data, str(root / name)) != expected:
                raise CheckpointError(f"{root / name} does not hold this codec's tensors")
            net.load_state_dict(load_tensors(data), strict=True)
            net.eval()
        return codec
