"""The interface every embedding backend implements."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Turns passages and queries into L2-normalised vectors.

    Attributes:
        identity: names the model and its version; stored with the collection so
            that vectors of two models are never mixed.
        dim: vector size.
        max_tokens: the longest input the model reads, in its tokens.
    """

    identity: str
    dim: int
    max_tokens: int

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Embed passages for storage; returns ``(len(texts), dim)`` float32."""
        ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Embed questions; returns ``(len(texts), dim)`` float32."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model spends on ``text`` (without special tokens or prompts)."""
        ...
