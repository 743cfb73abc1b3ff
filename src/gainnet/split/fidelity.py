"""What each codec costs in fidelity: cosine to the unsplit embedding and zero-shot accuracy.

Every batch goes through a real server (the device part here, the rest there); the reference is
the unsplit model run in this process.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gainnet.split.device import ServerConnection, SplitDevice
from gainnet.split.encoder import SplitEncoder, split_label
from gainnet.split.knowledge import KnowledgeBase, TopicSet


def codec_fidelity(
    address: tuple[str, int],
    encoder: SplitEncoder,
    topics: TopicSet,
    splits: list[int],
    codec_names: list[str],
    batch: int = 32,
    progress: Callable[[], None] | None = None,
) -> list[dict]:
    """One row per (split, codec): bitwise_equal, min/mean cosine, accuracy, payload bytes.

    Accuracy is the share of the topic set's texts whose label predicted by the server (cosine
    to the label descriptions) is right; ``unsplit_accuracy`` classifies the unsplit embeddings
    with the same knowledge base built here, so the two differ only by the split and codec.
    """
    texts, targets, labels = list(topics.texts), topics.targets, topics.labels
    kb = KnowledgeBase(encoder, topics.labels, topics.descriptions)
    batches = [texts[i : i + batch] for i in range(0, len(texts), batch)]
    reference = [encoder.embed(b) for b in batches]
    unsplit_predicted = np.concatenate([kb.scores(ref).argmax(-1).numpy() for ref in reference])
    reference = [ref.numpy() for ref in reference]
    index = {name: i for i, name in enumerate(labels)}
    rows = []
    with ServerConnection(address) as conn:
        device = SplitDevice(encoder, conn)
        for codec in codec_names:
            for split in splits:
                results = [device.infer(b, split, codec) for b in batches]
                predicted = np.array([index[p] for r in results for p in r.predicted])
                cosines = np.concatenate(
                    [(r.embedding * ref).sum(1) for r, ref in zip(results, reference, strict=True)]
                )
                rows.append(
                    {
                        "split": split_label(split),
                        "codec": codec,
                        "bitwise_equal": all(
                            np.array_equal(r.embedding, ref)
                            for r, ref in zip(results, reference, strict=True)
                        ),
                        "min_cosine": float(cosines.min()),
                        "mean_cosine": float(cosines.mean()),
                        "accuracy": float(np.mean(predicted == targets)),
                        "unsplit_accuracy": float(np.mean(unsplit_predicted == targets)),
                        "uplink_bytes_per_batch": int(np.mean([r.uplink_bytes for r in results])),
                    }
                )
                if progress:
                    progress()
    return rows
