"""Names of the split-capable encoders and how to build them."""

from __future__ import annotations

from gainnet.errors import UnknownNameError
from gainnet.split.encoder import SplitEncoder

ENCODERS = ("minilm", "vit")


#: the most inputs one sampled batch holds (a ViT image is 0.6 MB)
MAX_BATCH = 4096


def make_encoder(name: str, *, vit_seed: int = 0, max_tokens: int = 256) -> SplitEncoder:
    """``minilm`` (real pretrained all-MiniLM-L6-v2, truncating texts at ``max_tokens``) or
    ``vit`` (CLIP ViT-B/32 shape, seeded)."""
    if name == "minilm":
        from gainnet.split.minilm import MiniLMEncoder

        return MiniLMEncoder(max_tokens=max_tokens)
    if name == "vit":
        from gainnet.split.vit import ViTEncoder

        return ViTEncoder(seed=vit_seed)
    raise UnknownNameError("split model", name, ENCODERS)


def sample_inputs(encoder: SplitEncoder, batch: int, seed: int = 0):
    """A batch for ``encoder``: ``(inputs, targets, labels)``.

    minilm: ``batch`` texts drawn (seeded) from the shipped topic set, their target indices
    ``[batch]`` and the label names; vit: random images ``[batch, 3, 224, 224]``, None, None.
    """
    import numpy as np

    from gainnet.errors import GainnetError

    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_BATCH:
        raise GainnetError(f"batch must be an integer in 1..{MAX_BATCH}, got {batch!r}")
    if encoder.name == "minilm":
        from gainnet.split.knowledge import load_topics

        topics = load_topics()
        rng = np.random.default_rng(seed)
        pick = rng.choice(len(topics.texts), size=min(batch, len(topics.texts)), replace=False)
        return [topics.texts[i] for i in pick], topics.targets[pick], topics.labels
    return encoder.random_images(batch, seed=seed), None, None
