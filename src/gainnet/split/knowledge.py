"""The zero-shot task: a labelled topic text set and a text knowledge base of label descriptions.

As in seed 002, the server classifies by cosine similarity between an input's embedding and
the embeddings of label descriptions. The text set (8 topics x 40 sentences) was written for
gainnet and ships with it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

import numpy as np
import torch

from gainnet.split.encoder import SplitEncoder


@dataclass(frozen=True)
class TopicSet:
    """labels: names ``[C]``; descriptions ``[C]``; texts ``[n]``; targets int ``[n]``."""

    labels: tuple[str, ...]
    descriptions: tuple[str, ...]
    texts: tuple[str, ...]
    targets: np.ndarray


def load_topics() -> TopicSet:
    data = json.loads(resources.files("gainnet.split").joinpath("data/topics.json").read_text())
    labels = tuple(item["name"] for item in data["labels"])
    index = {name: i for i, name in enumerate(labels)}
    texts = tuple(item["text"] for item in data["examples"])
    targets = np.array([index[item["label"]] for item in data["examples"]], dtype=np.int64)
    return TopicSet(labels, tuple(item["description"] for item in data["labels"]), texts, targets)


class KnowledgeBase:
    """Label-description embeddings ``[C, dim]`` computed once by the (unsplit) encoder."""

    def __init__(self, encoder: SplitEncoder, labels, descriptions) -> None:
        self.labels = tuple(labels)
        self.embeddings = encoder.embed(list(descriptions))

    def scores(self, embedding: torch.Tensor) -> torch.Tensor:
        """Cosine similarities ``[n, C]`` of unit embeddings ``[n, dim]`` to every label."""
        return embedding @ self.embeddings.T

    def predict(self, embedding: torch.Tensor) -> list[str]:
        return [self.labels[i] for i in self.scores(embedding).argmax(-1).tolist()]
