"""citebot's retrieval service: articles in, ranked passages with citations out.

Plain, typed, synchronous Python with no Discord import. The entry point is
:class:`retrieval.service.Retriever`::

    from config import load_settings
    from retrieval import Retriever

    retriever = Retriever(load_settings())
    retriever.index()
    answer = retriever.search("What did No Music for ICE demand?")
"""

from retrieval.errors import CitebotError, IndexBusyError, QuestionError, StoreUnavailableError
from retrieval.models import Answer, Article, IndexReport, Passage, SourceInfo
from retrieval.service import Retriever

__all__ = [
    "Answer",
    "Article",
    "CitebotError",
    "IndexBusyError",
    "IndexReport",
    "Passage",
    "QuestionError",
    "Retriever",
    "SourceInfo",
    "StoreUnavailableError",
]
