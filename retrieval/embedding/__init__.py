"""Embedding backends behind one small interface, picked by :func:`create_embedder`."""

from retrieval.embedding.base import Embedder
from retrieval.embedding.factory import create_embedder

__all__ = ["Embedder", "create_embedder"]
