"""What a transformer must offer to be split between an edge device and an edge server.

A split point ``k`` in ``0..L`` means: the device runs the input stage (token or patch
embedding) and transformer layers ``0..k-1``; the server runs layers ``k..L-1`` and the output
head. ``RAW_SPLIT`` (-1) means the device sends its raw input and the server runs everything.
Running ``stage_input``, then ``run_layers(0, k)`` and ``run_layers(k, L)``, then ``head`` is
bitwise the same as running all layers at once: each layer is a separate call either way.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch

from gainnet.errors import GainnetError

RAW_SPLIT = -1


def split_label(split: int) -> str:
    """``"raw"`` for :data:`RAW_SPLIT`, else the split point as text."""
    return "raw" if split == RAW_SPLIT else str(split)


def parse_split_label(label: str) -> int:
    """Inverse of :func:`split_label`; raises ``ValueError`` on anything else."""
    return RAW_SPLIT if label == "raw" else int(label)


@dataclass
class Activation:
    """What crosses the link after the device's part.

    hidden : float32 tensor ``[n, tokens, width]`` (or the raw input for ``RAW_SPLIT``)
    mask : uint8 tensor ``[n, tokens]`` (1 = real token) or ``None`` when every token is real
    """

    hidden: torch.Tensor
    mask: torch.Tensor | None = None


class SplitEncoder(ABC):
    """A transformer encoder that can run any contiguous range of its layers."""

    name: str
    num_layers: int
    width: int
    #: names of the arrays :meth:`raw_input` returns (what a raw-split request carries)
    raw_names: tuple[str, ...]
    #: whether activations travel with an attention mask ``[n, tokens]``
    uses_mask: bool = False
    #: the token count of every activation, where the architecture fixes it
    fixed_tokens: int | None = None

    @abstractmethod
    def raw_input(self, inputs) -> dict[str, np.ndarray]:
        """The raw input as named arrays (what a device without the model would send)."""

    @abstractmethod
    def stage_input(self, raw: dict[str, np.ndarray]) -> Activation:
        """Input stage (embedding) on raw arrays: ``Activation`` before layer 0."""

    @abstractmethod
    def run_layers(self, act: Activation, start: int, stop: int) -> Activation:
        """Transformer layers ``start..stop-1`` (``0 <= start <= stop <= num_layers``)."""

    @abstractmethod
    def head(self, act: Activation) -> torch.Tensor:
        """Output head after the last layer: float32 embedding ``[n, dim]``."""

    @abstractmethod
    def fingerprint(self) -> str:
        """A hex digest identifying the weights, so device and server can check they agree."""

    # ------------------------------------------------------------------ whole pipelines
    def check_split(self, split: int) -> int:
        if isinstance(split, bool) or not isinstance(split, int | np.integer):
            raise GainnetError(f"split point must be an integer, got {split!r}")
        split = int(split)
        if split != RAW_SPLIT and not 0 <= split <= self.num_layers:
            raise GainnetError(
                f"split point must be -1 (raw) or in 0..{self.num_layers} for {self.name}, "
                f"got {split}"
            )
        return split

    @torch.inference_mode()
    def device_part(self, raw: dict[str, np.ndarray], split: int) -> Activation | None:
        """What the device computes for ``split``; ``None`` for ``RAW_SPLIT``."""
        if self.check_split(split) == RAW_SPLIT:
            return None
        return self.run_layers(self.stage_input(raw), 0, split)

    @torch.inference_mode()
    def server_part(self, act: Activation, split: int) -> torch.Tensor:
        """The server's part from the received activation: embedding ``[n, dim]``."""
        start = max(self.check_split(split), 0)
        return self.head(self.run_layers(act, start, self.num_layers))

    @torch.inference_mode()
    def embed(self, inputs) -> torch.Tensor:
        """The unsplit model on one machine: embedding ``[n, dim]``."""
        act = self.stage_input(self.raw_input(inputs))
        return self.head(self.run_layers(act, 0, self.num_layers))


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over the names and raw bytes of ``tensors`` in sorted order."""
    digest = hashlib.sha256()
    for key in sorted(tensors):
        digest.update(key.encode())
        digest.update(tensors[key].detach().contiguous().numpy().tobytes())
    return digest.hexdigest()
