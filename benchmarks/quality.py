"""Retrieval quality on the development sets: hit@1/3/5 and MRR@5 per configuration.

    python benchmarks/quality.py                                   # the default model
    python benchmarks/quality.py --backend sentence-transformers --model all-MiniLM-L6-v2
    python benchmarks/quality.py --set chunk_tokens=120,160,240 --set lexical_weight=0,0.3

Each ``--set name=v1,v2`` sweeps a setting; every combination is scored. Indexes
are kept under ``--data-dir`` (one per dataset and configuration) and updated
incrementally, so a second run only pays for the questions.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import time
from pathlib import Path

from config import load_settings
from retrieval.evaluation import evaluate, load_questions
from retrieval.service import Retriever

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DATASETS = {
    "seeds_dev": (ROOT / "seeds", HERE / "data" / "seeds_dev.jsonl"),
    "squad_dev": (HERE / "data" / "squad_dev" / "articles", HERE / "data" / "squad_dev" / "questions.jsonl"),
}
INDEX_SETTINGS = {
    "embedding_backend",
    "embedding_model",
    "chunk_tokens",
    "chunk_overlap_tokens",
    "sentence_context",
}


def _parse_sets(items: list[str]) -> list[dict[str, str]]:
    axes = []
    for item in items:
        name, _, values = item.partition("=")
        axes.append([(name.strip(), v.strip()) for v in values.split(",")])
    return [dict(combo) for combo in itertools.product(*axes)] or [{}]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", default=None, help="embedding backend (default: the settings')")
    parser.add_argument("--model", default=None, help="embedding model name or path")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=V1,V2", help="sweep a setting")
    parser.add_argument("--datasets", default="seeds_dev,squad_dev")
    parser.add_argument("--offtopic", type=Path, default=HERE / "data" / "offtopic.jsonl")
    parser.add_argument("--data-dir", type=Path, default=HERE / ".cache" / "quality")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    base: dict[str, object] = {}
    if args.backend:
        base["embedding_backend"] = args.backend
    if args.model:
        base["embedding_model"] = args.model
    embedders: dict[tuple[str, str], object] = {}
    rows = []
    for combo in _parse_sets(args.set):
        overrides = {**base, **combo}
        for name in args.datasets.split(","):
            articles, questions_file = DATASETS[name]
            index_key = {k: str(v) for k, v in overrides.items() if k in INDEX_SETTINGS}
            digest = hashlib.sha256(json.dumps(index_key, sort_keys=True).encode()).hexdigest()[:10]
            settings = load_settings(
                articles_dir=articles, data_dir=args.data_dir / f"{name}-{digest}", **overrides
            )
            key = (settings.embedding_backend, settings.embedding_model)
            retriever = Retriever(settings, embedder=embedders.get(key))  # type: ignore[arg-type]
            started = time.perf_counter()
            retriever.index()
            index_seconds = time.perf_counter() - started
            embedders[key] = retriever.embedder
            offtopic = load_questions(args.offtopic) if name == "seeds_dev" and args.offtopic.exists() else []
            started = time.perf_counter()
            result = evaluate(
                lambda q, r=retriever: r.search(q, k=5), load_questions(questions_file), offtopic
            )
            seconds = time.perf_counter() - started
            row = {"dataset": name, **{k: str(v) for k, v in combo.items()}, **result.groups["all"].as_dict()}
            row["model"] = retriever.model_identity
            if result.offtopic_n:
                row["offtopic_declined"] = result.offtopic_declined / result.offtopic_n
            row["index_s"] = round(index_seconds, 2)
            row["s_per_q"] = round(seconds / max(result.groups["all"].n + result.offtopic_n, 1), 4)
            rows.append(row)
            if not args.json:
                fields = " ".join(
                    f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()
                )
                print(fields, flush=True)
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
