"""e5-small's preference for the question's own language, removed as a direction instead of a bonus.

An English question sits closer to English sentences than to their French translations
(README, "The other language"), and today a constant bonus for a passage in the other
language makes up for it. Multilingual encoders are known to carry their language along
one direction of their space, so this projects that direction out of the question's vector:
a sentence then gains or loses by how French or English it reads, not by a constant.

The direction comes from translated pairs that have nothing to do with the questions: the
French message catalogues (gettext ``.mo`` files) that Debian installs with its packages,
each English message beside its French translation. It is the mean of (French − English)
over their passage vectors, normalised; its stability is printed as the cosine between the
directions of the two halves of the pairs.

    python benchmarks/language_direction.py [--pairs 2000] [--alpha 0,0.5,1] [--bonus 0,0.02,0.045]

Prints hit@1, hit@3, highlight@1 and the share answered on the three seeds sets together,
and the off-topic questions declined, for each strength of the projection (``alpha``: 0 is
today, 1 removes the direction) and each cross-language bonus.
"""

from __future__ import annotations

import argparse
import gettext
import random
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from config import load_settings
from retrieval.embedding.factory import create_embedder
from retrieval.evaluation import evaluate, load_questions
from retrieval.service import Retriever

DATA = HERE / "data"
CATALOGUES = Path("/usr/share/locale/fr/LC_MESSAGES")


def translated_pairs(limit: int) -> list[tuple[str, str]]:
    """English messages of five to forty words and their French translations, no format strings."""
    pairs: dict[str, str] = {}
    for path in sorted(CATALOGUES.glob("*.mo")):
        try:
            with path.open("rb") as handle:
                catalogue = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
        except (OSError, ValueError, UnicodeDecodeError):  # a broken catalogue is skipped
            continue
        for english, french in catalogue.items():
            if not isinstance(english, str) or not isinstance(french, str) or not english or not french:
                continue
            if any(mark in english for mark in ("%", "{", "\x00", "--")) or "\n" in english.strip():
                continue
            if 5 <= len(re.findall(r"[A-Za-z]+", english)) <= 40 and english.strip() != french.strip():
                pairs[english.strip()] = french.strip()
    items = sorted(pairs.items())
    random.Random(0).shuffle(items)
    return items[:limit]


class Projected:
    """The default embedder, with ``alpha`` times the language direction taken out of each query."""

    def __init__(self, inner, direction: np.ndarray) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.direction = direction.astype(np.float32)
        self.alpha = 0.0

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.inner.embed_queries(texts)
        if not self.alpha:
            return vectors
        vectors = vectors - self.alpha * np.outer(vectors @ self.direction, self.direction)
        return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=2000, help="translated pairs to take (default 2000)")
    parser.add_argument("--alpha", default="0,0.5,1", help="strengths of the projection")
    parser.add_argument("--bonus", default="0,0.02,0.045", help="cross-language bonuses")
    args = parser.parse_args()

    pairs = translated_pairs(args.pairs)
    if len(pairs) < 100:
        print(f"only {len(pairs)} translated pairs under {CATALOGUES}; French catalogues are needed")
        return 1
    settings = load_settings(articles_dir=ROOT / "seeds")
    model = create_embedder(settings)
    english = model.embed_passages([e for e, _ in pairs])
    french = model.embed_passages([f for _, f in pairs])
    half = len(pairs) // 2
    first, second = (french[:half] - english[:half]).mean(0), (french[half:] - english[half:]).mean(0)
    direction = (french - english).mean(0)
    print(
        f"{len(pairs)} pairs; direction norm {np.linalg.norm(direction):.3f}; halves agree at cosine "
        f"{first @ second / np.linalg.norm(first) / np.linalg.norm(second):.3f}"
    )
    embedder = Projected(model, direction / np.linalg.norm(direction))
    questions = [
        q
        for name in ("seeds_dev", "seeds_check", "seeds_users")
        for q in load_questions(DATA / f"{name}.jsonl")
    ]
    offtopic = load_questions(DATA / "offtopic.jsonl")
    print("| alpha | bonus | hit@1 | hit@3 | highlight@1 | answered | off-topic declined |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as data:
        for bonus in (float(b) for b in args.bonus.split(",")):
            settings = load_settings(
                articles_dir=ROOT / "seeds", data_dir=Path(data), cross_language_bonus=bonus
            )
            retriever = Retriever(settings, embedder=embedder)  # type: ignore[arg-type]
            retriever.index()
            for alpha in (float(a) for a in args.alpha.split(",")):
                embedder.alpha = alpha
                retriever._query_cache.clear()  # vectors of the previous alpha
                result = evaluate(lambda q, r=retriever: r.search(q, k=5), questions, offtopic)
                row = result.groups["all"].as_dict()
                print(
                    f"| {alpha:g} | {bonus:g} | {row['hit@1']:.3f} | {row['hit@3']:.3f} "
                    f"| {row['highlight@1']:.3f} "
                    f"| {row['answered']:.3f} | {result.offtopic_declined}/{result.offtopic_n} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
