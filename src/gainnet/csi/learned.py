"""A trained CSI codec: its settings, training, the encoder and decoder apart, and checkpoints.

:class:`LearnedCodec` wraps the networks (:mod:`gainnet.csi.csinet`) and the latent code
(:mod:`gainnet.csi.latent_codes`) of a codec: ``csinet`` (uniform levels, fixed length), ``vae``
(a quantised Gaussian latent, fixed length) or ``entropy`` (a factorised-prior entropy model,
variable length). ``encode`` runs on the user equipment and returns integer symbols ``[n, M]``;
``report_bits`` counts their bits; ``decode`` runs at the base station. Each half is saved in
its own safetensors file (the code's parameters, needed by both, in each), so a device can load
the encoder alone. A checkpoint directory holds ``codec.json`` (settings), ``encoder.safetensors``,
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
from gainnet.csi.csinet import CsiNetDecoder, CsiNetEncoder
from gainnet.csi.latent_codes import CODES
from gainnet.errors import CheckpointError, InvalidStateError

CODECS = tuple(CODES)
#: the step of the rate controller: ``log lambda`` moves by this times the relative rate error
#: after every batch (``vae`` and ``entropy``, whose loss is ``error + lambda * bits``)
RATE_STEP = 0.02
#: the entropy model's few parameters (a location and a scale per latent value) learn this much
#: faster than the networks: at the networks' rate an unused value's density narrows too slowly
#: and its bits crowd out the used ones
CODE_LR_FACTOR = 10.0
#: the training reports the PCA start is computed from
PCA_START_REPORTS = 4000
#: bisection steps that set a variable-length code's PCA start to its target rate
START_RATE_STEPS = 20
#: held-out reports that pick the epoch kept: a tenth of the training reports, at most this many
MAX_VALIDATION_REPORTS = 1000
#: fewer training reports than this train on all of them and keep the last epoch
MIN_VALIDATION_SPLIT = 200
#: a variable-length codec is kept only at a held-out rate within this fraction of its target
RATE_TOLERANCE = 0.02
CONFIG_FILE, ENCODER_FILE, DECODER_FILE = "codec.json", "encoder.safetensors", "decoder.safetensors"
MAX_CONFIG_BYTES = 1 << 16


@dataclasses.dataclass(frozen=True)
class CodecConfig(Validated):
    """Settings of a learned codec. A report is ``latent * bits_per_value`` bits (``entropy``:
    on average, the target of training; each report's bits are counted)."""

    codec: str = setting("csinet", choices=CODECS)
    taps: int = setting(32, low=1, high=256)
    antennas: int = setting(32, low=1, high=256)
    latent: int = setting(128, low=1, high=8192)
    bits_per_value: int = setting(4, low=1, high=16)
    learning_rate: float = setting(1e-3, gt=0, high=1.0)
    batch_size: int = setting(200, low=1, high=65_536)

    @property
    def bits(self) -> int:
        """Bits per report (``entropy``: the mean that training aims at)."""
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
            self.code = CODES[config.codec](config.latent, config.bits_per_value)
            outputs = self.code.encoder_outputs()
            self.encoder = CsiNetEncoder(config.taps, config.antennas, outputs)
            self.decoder = CsiNetDecoder(config.taps, config.antennas, config.latent)
        self.rate_weight = 1.0  # lambda, bits -> squared error, set by the rate controller
        self.training: dict = {}  # what it was trained on (saved in codec.json, JSON values)
        self.started = False  # whether the PCA start was made (by the first fit)
        self._eval()

    def _eval(self) -> None:
        for net in (self.encoder, self.decoder, self.code):
            net.eval()

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
        """Train for ``epochs`` passes over ``x_train`` (Adam; the first fit starts from a PCA);
        returns the mean squared error of each epoch (the training NMSE, linear).
        ``progress(epoch, nmse)`` after every epoch. ``vae`` and ``entropy`` minimise
        ``error + lambda * bits``, with ``lambda`` steered so that the mean rate stays at
        :attr:`CodecConfig.bits`.

        With at least :data:`MIN_VALIDATION_SPLIT` reports, the last tenth (at most
        :data:`MAX_VALIDATION_REPORTS`) is held out and the codec kept is the one, after any
        epoch or at the start, with the lowest held-out NMSE among those whose held-out rate is
        within :data:`RATE_TOLERANCE` of the target (fixed-length codes always are): training
        never leaves the codec worse than its PCA start on reports it has not seen."""
        data = to_real(self._check(x_train)) * self._scale
        cfg = self.config
        held = (
            min(MAX_VALIDATION_REPORTS, len(data) // 10) if len(data) >= MIN_VALIDATION_SPLIT else 0
        )
        data, validation = (data[:-held], data[-held:]) if held else (data, data[:0])
        if not self.started:
            self._pca_start(data, validation if held else data)
        networks = [*self.encoder.parameters(), *self.decoder.parameters()]
        optimiser = torch.optim.Adam(
            [{"params": networks, "lr": cfg.learning_rate},
             {"params": list(self.code.parameters()), "lr": CODE_LR_FACTOR * cfg.learning_rate}]
        )  # fmt: skip
        rng = rng_for(self.seed, "codec-batches")
        generator = torch.Generator().manual_seed(int_seed_for(self.seed, "codec-noise") % 2**62)
        log_weight = float(np.log(self.rate_weight))
        best = self._held_out_score(validation, None)
        history = []
        for epoch in range(epochs):
            for net in (self.encoder, self.decoder, self.code):
                net.train()
            order = torch.from_numpy(rng.permutation(len(data)))
            total = 0.0
            for start in range(0, len(data), cfg.batch_size):
                batch = data[order[start : start + cfg.batch_size]]
                latent, rate_bits, spent = self.code.train_code(self.encoder(batch), generator)
                error = ((self.decoder(latent) - batch) ** 2).sum(dim=(1, 2, 3)).mean()
                loss = error
                if rate_bits is not None:
                    loss = error + float(np.exp(log_weight)) * rate_bits.mean()
                    log_weight += RATE_STEP * (spent / cfg.bits - 1.0)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += error.item() * len(batch)
            history.append(total / len(data) / self._scale**2)
            self.rate_weight = float(np.exp(log_weight))
            self._eval()
            best = self._held_out_score(validation, best)
            if progress is not None:
                progress(epoch + 1, history[-1])
        if best is not None:
            self._restore(best["state"])
            self.training["held_out"] = {k: v for k, v in best.items() if k != "state"}
        self._eval()
        return history

    def _held_out_score(self, validation: torch.Tensor, best: dict | None) -> dict | None:
        """The better of ``best`` and the codec as it is now, on the held-out reports
        (``None`` without any)."""
        if not len(validation):
            return None
        with torch.inference_mode():
            symbols = self.code.symbols(self.encoder(validation))
            error = ((self.decoder(self.code.values(symbols)) - validation) ** 2).sum(dim=(1, 2, 3))
            nmse = float(error.mean()) / self._scale**2
            bits = float(self.code.bits(symbols).double().mean())
        within = bits <= (1 + RATE_TOLERANCE) * self.config.bits
        if best is not None and (best["within_rate"], -best["nmse"]) >= (within, -nmse):
            return best
        state: dict = {
            name: {k: v.detach().clone() for k, v in self._state(name).items()}
            for name in (ENCODER_FILE, DECODER_FILE)
        }
        state["rate_weight"] = self.rate_weight
        return {"nmse": nmse, "bits": bits, "within_rate": within, "state": state}

    def _restore(self, state: dict) -> None:
        for name in (ENCODER_FILE, DECODER_FILE):
            self._load_half(name, state[name])
        self.rate_weight = state["rate_weight"]

    def _pca_start(self, data: torch.Tensor, rate_data: torch.Tensor) -> None:
        """Set the dense layers to a PCA of (up to :data:`PCA_START_REPORTS` of) the training
        reports, the code's way (:meth:`UniformCode.pca_start` and its kin): training starts
        from the linear baseline instead of random weights. A variable-length code's start is
        set (by bisection on the rate it is designed for) to spend the target on ``rate_data``
        (held-out reports: on the ones the PCA is computed from, its weak directions look
        weaker than they are, and new reports cost more)."""
        start = data[:PCA_START_REPORTS]
        flat = start.flatten(1).double()
        variance, vectors = torch.linalg.eigh(flat.T @ flat / len(flat))
        k = min(self.config.latent, flat.shape[1])
        basis = vectors[:, -k:].flip(1)
        sigma = torch.sqrt(torch.clamp(variance[-k:].flip(0), min=1e-12))
        target = float(self.config.bits)
        if not self.code.fixed_length:
            low, high = 0.25 * target, 2.0 * target
            for _ in range(START_RATE_STEPS):
                self._set_start(basis, sigma, 0.5 * (low + high))
                with torch.inference_mode():
                    symbols = self.code.symbols(self.encoder(rate_data[:PCA_START_REPORTS]))
                    spent = float(self.code.bits(symbols).mean())
                low, high = (
                    (low, 0.5 * (low + high)) if spent > target else (0.5 * (low + high), high)
                )
            target = low
        self._set_start(basis, sigma, target)
        self.started = True

    def _set_start(self, basis: torch.Tensor, sigma: torch.Tensor, bits: float) -> None:
        encoder_w, decoder_w = self.code.pca_start(basis, sigma, bits)
        with torch.no_grad():
            self.encoder.dense.weight.copy_(encoder_w)
            self.encoder.dense.bias.zero_()
            if hasattr(self.code, "log_variance_start"):
                self.encoder.dense.bias[self.config.latent :] = self.code.log_variance_start()
            self.decoder.dense.weight.copy_(decoder_w)
            self.decoder.dense.bias.zero_()

    def encode(self, x: np.ndarray) -> np.ndarray:
        """User side: the symbols ``[n, latent]`` (int64) of CSI ``x``."""
        with torch.inference_mode():
            return self.code.symbols(self.encoder(to_real(self._check(x)) * self._scale)).numpy()

    def _symbols(self, symbols: np.ndarray) -> torch.Tensor:
        symbols = np.asarray(symbols)
        if symbols.ndim != 2 or symbols.shape[1] != self.config.latent or not len(symbols):
            raise InvalidStateError(
                f"symbols must be [n, {self.config.latent}], got {symbols.shape}"
            )
        self.code.check(symbols)
        return torch.from_numpy(symbols.astype(np.int64))

    def report_bits(self, symbols: np.ndarray) -> np.ndarray:
        """``[n]``: the bits of each report (fixed for ``csinet`` and ``vae``; ``entropy``:
        ``-log2 P`` under its density, what an arithmetic coder emits within a few bits)."""
        with torch.inference_mode():
            return self.code.bits(self._symbols(symbols)).double().numpy()

    def decode(self, symbols: np.ndarray) -> np.ndarray:
        """Base-station side: the CSI ``[n, taps, antennas]`` complex64 from symbols."""
        with torch.inference_mode():
            latent = self.code.values(self._symbols(symbols))
            return to_complex(self.decoder(latent) / self._scale)

    # ------------------------------------------------------------------ checkpoints
    def save(self, directory: str | Path) -> Path:
        from safetensors.torch import save_file

        from gainnet.core.integrity import check_writable, write_manifest

        root = check_writable(directory, "codec folder")
        meta = {"format": "gainnet-csi-codec", "version": 1, "seed": self.seed}
        meta["config"] = dataclasses.asdict(self.config)
        meta["rate_weight"] = self.rate_weight
        meta["training"] = self.training
        meta["started"] = self.started
        (root / CONFIG_FILE).write_text(json.dumps(meta, indent=1) + "\n")
        for name in (ENCODER_FILE, DECODER_FILE):
            tensors = {k: v.contiguous() for k, v in self._state(name).items()}
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
            codec.rate_weight = float(meta.get("rate_weight", 1.0))
            codec.training = dict(meta.get("training", {}))
            codec.started = bool(meta.get("started", True))
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"{root / CONFIG_FILE} is corrupt: {exc}") from None
        for name in wanted:
            data = (root / name).read_bytes()
            expected = {
                k: (str(v.dtype).replace("torch.float32", "F32").replace("torch.int64", "I64"),
                    tuple(v.shape))
                for k, v in codec._state(name).items()
            }  # fmt: skip
            if safetensors_header(data, str(root / name)) != expected:
                raise CheckpointError(f"{root / name} does not hold this codec's tensors")
            codec._load_half(name, load_tensors(data))
        codec._eval()
        return codec

    def _load_half(self, name: str, tensors: dict[str, torch.Tensor]) -> None:
        """Load the tensors of one file (:meth:`_state`'s layout) into that half and the code."""
        net = self.encoder if name == ENCODER_FILE else self.decoder
        net.load_state_dict({k: v for k, v in tensors.items() if not k.startswith("code.")})
        code = {k[5:]: v for k, v in tensors.items() if k.startswith("code.")}
        self.code.load_state_dict(code, strict=True)

    def _state(self, name: str) -> dict[str, torch.Tensor]:
        """The tensors of one file: that half's network and the code's parameters."""
        net = self.encoder if name == ENCODER_FILE else self.decoder
        return {**net.state_dict(), **{f"code.{k}": v for k, v in self.code.state_dict().items()}}
