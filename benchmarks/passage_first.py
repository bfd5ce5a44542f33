"""What searching one vector per passage, instead of one per sentence, would save and cost.

Embedded, the HNSW of the sentence vectors is most of citebot's memory at scale: a
fresh process's first search loads it (about 1.2 KB per passage at 10k for the
sentences collection alone, against 0.3 KB for everything else Python holds). A
passage-first layout would search one vector per passage (the normalised mean of
its sentences' vectors), read the candidates' sentence vectors with them (float16,
in the passage's metadata) and score those sentences exactly. This measures that
layout without changing citebot:

- ``--size N``: on ``benchmarks/speed.py``'s cached index of N passages, a copy in
  the passage-first layout (built once under ``.cache/passage-first/``). Each layout
  is searched in a fresh process with speed.py's first 60 questions (vectors
  computed once): the memory the process gains by opening Chroma and searching
  (VmRSS), the search's p50/p95 over three rounds (today's 120 nearest sentences,
  ids and distances; passage-first: the K nearest passages with their sentence
  vectors, decoded and scored), and how often passage-first finds a sentence as
  close as the exact search's best (within 0.002, float16's rounding). speed.py's
  corpora repeat their sentences, so this agreement is easy there.
- ``--dev``: on ``benchmarks/rerank.py``'s cached indexes (the seeds with the
  distractor articles, and squad_dev), for every question: whether the passage of
  the exact search's best sentence, and the passages of its five best, are among the
  K nearest passage means. The vector side only; BM25's candidates are left out.

    python benchmarks/passage_first.py --size 100000 [--candidates 10,30,60] [--dev]
"""

from __future__ import annotations

import argparse
import base64
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

CACHE = HERE / ".cache" / "passage-first"
SPEED = HERE / ".cache" / "speed"
RERANK = HERE / ".cache" / "rerank"
COLLECTION = "passage-first"
EXACT_RESULTS = 120  # what a search asks for today: 40 candidates × 3 sentences
SAME = 0.002


def rss_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB."""
    with open("/proc/self/status") as status:
        fields = {
            line.split(":")[0]: int(line.split()[1]) / 1024
            for line in status
            if line.startswith(("VmRSS", "VmHWM"))
        }
    return fields["VmRSS"], fields["VmHWM"]


def sentences_by_passage(chroma: Path) -> dict[str, np.ndarray]:
    """``{passage id: its sentence vectors in order}`` from an index's sentences collection."""
    import chromadb

    client = chromadb.PersistentClient(path=str(chroma))
    name = next(c.name for c in client.list_collections() if c.name.endswith("-sentences"))
    collection = client.get_collection(name)
    rows: dict[str, list[tuple[int, np.ndarray]]] = {}
    total = collection.count()
    for offset in range(0, total, 5000):
        page = collection.get(offset=offset, limit=5000, include=["embeddings"])
        for sentence_id, vector in zip(page["ids"], np.asarray(page["embeddings"], np.float32)):
            passage, number = sentence_id.rsplit(".", 1)
            rows.setdefault(passage, []).append((int(number), vector))
    return {p: np.vstack([v for _, v in sorted(r, key=lambda x: x[0])]) for p, r in rows.items()}


def passage_means(by_passage: dict[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    ids = sorted(by_passage)
    means = np.vstack([by_passage[p].mean(axis=0) for p in ids])
    return ids, means / np.linalg.norm(means, axis=1, keepdims=True)


def build(size: int) -> Path:
    """The passage-first copy of speed.py's index of ``size`` passages (built once)."""
    source = SPEED / f"index-{size}-derived" / "chroma"
    if not source.exists():
        raise SystemExit(f"no cached index at {source}: run benchmarks/speed.py --sizes {size} first")
    target = CACHE / f"index-{size}"
    if (target / "done").exists():
        return target
    import chromadb

    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    by_passage = sentences_by_passage(source)
    ids, means = passage_means(by_passage)
    collection = chromadb.PersistentClient(path=str(target)).create_collection(
        COLLECTION, metadata={"hnsw:space": "cosine"}
    )
    for start in range(0, len(ids), 1000):
        batch = ids[start : start + 1000]
        blobs = [base64.b64encode(by_passage[p].astype(np.float16).tobytes()).decode() for p in batch]
        collection.add(
            ids=batch,
            embeddings=means[start : start + 1000],
            metadatas=[{"sentences": b, "count": len(by_passage[p])} for b, p in zip(blobs, batch)],
        )
    (target / "done").write_text("")
    print(
        f"built the passage-first copy of {size:,} passages in {time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return target


def child(mode: str, path: Path, k: int, queries: Path, out: Path) -> None:
    """One layout searched in this fresh process; the figures written to ``out``."""
    import chromadb

    vectors = np.load(queries)
    before = rss_mb()[0]
    client = chromadb.PersistentClient(path=str(path))
    if mode == "sentences":
        name = next(c.name for c in client.list_collections() if c.name.endswith("-sentences"))
        collection = client.get_collection(name)

        def search(query: np.ndarray) -> float:
            found = collection.query(query_embeddings=[query], n_results=EXACT_RESULTS, include=["distances"])
            return 1.0 - float(found["distances"][0][0])

    else:
        collection = client.get_collection(COLLECTION)

        def search(query: np.ndarray) -> float:
            found = collection.query(query_embeddings=[query], n_results=k, include=["metadatas"])
            best = -1.0
            for metadata in found["metadatas"][0]:
                raw = np.frombuffer(base64.b64decode(metadata["sentences"]), np.float16)
                best = max(best, float((raw.reshape(-1, len(query)).astype(np.float32) @ query).max()))
            return best

    tops = [search(vectors[0])]
    grown = rss_mb()[0] - before
    times = []
    for _ in range(3):
        for query in vectors:
            started = time.perf_counter()
            search(query)
            times.append((time.perf_counter() - started) * 1000)
    tops = [search(query) for query in vectors]
    times.sort()
    result = {
        "rss_grown_mb": grown,
        "peak_mb": rss_mb()[1],
        "p50_ms": statistics.median(times),
        "p95_ms": times[min(len(times) - 1, int(len(times) * 0.95))],
        "tops": tops,
    }
    out.write_text(json.dumps(result))


def run_child(mode: str, path: Path, k: int, queries: Path) -> dict:  # type: ignore[type-arg]
    out = CACHE / f"child-{mode}-{k}.json"
    command = [sys.executable, __file__, "--child", mode, str(path), str(k), str(queries), str(out)]
    subprocess.run(command, check=True, capture_output=True)
    return json.loads(out.read_text())


def measure_size(size: int, ks: list[int]) -> None:
    from speed import questions

    from config import load_settings
    from retrieval.embedding import create_embedder

    target = build(size)
    queries = CACHE / "queries.npy"
    np.save(queries, create_embedder(load_settings()).embed_queries(questions()[:60]))
    exact = run_child("sentences", SPEED / f"index-{size}-derived" / "chroma", EXACT_RESULTS, queries)
    print(
        f"\n{size:,} passages; 60 questions × 3 rounds; memory = VmRSS gained by opening Chroma and searching"
    )
    print("| layout | memory MB | search p50 / p95 ms | best sentence found |")
    print("| --- | ---: | ---: | ---: |")
    cells = f"{exact['rss_grown_mb']:.0f} | {exact['p50_ms']:.2f} / {exact['p95_ms']:.2f}"
    print(f"| sentences (today), 120 nearest | {cells} | — |")
    for k in ks:
        first = run_child("passages", target, k, queries)
        same = sum(e - p < SAME for e, p in zip(exact["tops"], first["tops"]))
        print(
            f"| passage-first, {k} nearest passages | {first['rss_grown_mb']:.0f} | "
            f"{first['p50_ms']:.2f} / {first['p95_ms']:.2f} | {same} of {len(first['tops'])} |"
        )


def measure_dev(ks: list[int]) -> None:
    from config import load_settings
    from retrieval.evaluation import load_questions
    from retrieval.service import Retriever, clean_question

    data = HERE / "data"
    sets = {
        "seeds + distractors": (
            RERANK / "index+distractors",
            [
                q
                for name in ("seeds_dev", "seeds_check", "seeds_users")
                for q in load_questions(data / f"{name}.jsonl")
            ],
        ),
        "squad_dev": (RERANK / "index-squad", load_questions(data / "squad_dev" / "questions.jsonl")),
    }
    embedder = None
    print("\nrecall of the exact search's best passages among the K nearest passage means (vector side only)")
    print("| set | passages | questions | " + " | ".join(f"K={k}: top-1 / top-5" for k in ks) + " |")
    print("| --- | ---: | ---: | " + " | ".join("---:" for _ in ks) + " |")
    for name, (index, questions) in sets.items():
        if not (index / "chroma").exists():
            raise SystemExit(f"no cached index at {index}: run benchmarks/rerank.py first")
        by_passage = sentences_by_passage(index / "chroma")
        ids, means = passage_means(by_passage)
        owner = np.concatenate([np.full(len(by_passage[p]), n) for n, p in enumerate(ids)])
        vectors = np.vstack([by_passage[p] for p in ids])
        if embedder is None:
            embedder = Retriever(load_settings(data_dir=index)).embedder
        texts = [clean_question(q.q, 1000) for q in questions]
        queries = embedder.embed_queries(texts)
        hits = {k: np.zeros(2) for k in ks}
        for query in queries:
            best = np.full(len(ids), -2.0)
            np.maximum.at(best, owner, vectors @ query)
            exact = np.argsort(-best)[:5]
            order = np.argsort(-(means @ query))
            for k in ks:
                near = set(order[:k].tolist())
                hits[k] += [exact[0] in near, all(p in near for p in exact)]
        cells = " | ".join(f"{hits[k][0] / len(queries):.3f} / {hits[k][1] / len(queries):.3f}" for k in ks)
        print(f"| {name} | {len(ids)} | {len(queries)} | {cells} |")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        mode, path, k, queries, out = sys.argv[2:7]
        child(mode, Path(path), int(k), Path(queries), Path(out))
        return 0
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, help="speed.py's cached index of this many passages")
    parser.add_argument(
        "--candidates", default="10,30,60", help="passages read per search (default 10,30,60)"
    )
    parser.add_argument("--dev", action="store_true", help="candidate recall on the dev sets")
    args = parser.parse_args()
    if not args.size and not args.dev:
        parser.error("give --size N, --dev or both")
    ks = [int(k) for k in args.candidates.split(",")]
    CACHE.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(HERE))
    if args.size:
        measure_size(args.size, ks)
    if args.dev:
        measure_dev(ks)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
