"""What holding the sentence vectors as int8 in a local HNSW (usearch) would save and cost.

Embedded, Chroma's float32 HNSW of the sentence vectors is most of citebot's memory at
scale (1.2 GB of the 1.7 GB peak at 100k passages), and Chroma 1.5 keeps no smaller form.
A local index of int8 vectors, derived from the float32 vectors Chroma keeps in the
``-vectors`` records, would hold a quarter of the bytes. This measures that index without
changing citebot (``pip install usearch`` first; it is not a dependency):

- ``--dev``: on ``benchmarks/rerank.py``'s cached indexes (squad_dev; the seeds with the
  distractor articles), every question against the real sentence vectors, each vector and
  the question scaled to int8 by its own largest component: the error of the int8 cosine
  against float32, and how often the nearest sentence and the nearest five stay the same.
- ``--size N`` (602,093, the sentences of speed.py's 100k passages): N vectors made from
  the real ones (speed.py's corpora repeat ~590 sentences, which no real archive does): each
  a random blend of two real sentence vectors plus noise of 0.7 times their spread, so
  neighbours are as crowded as in a large archive, not as in speed.py's. The int8 index is
  built once (timed) and saved under ``.cache/int8/``; a fresh process then loads it and
  searches speed.py's first 60 questions three times: the memory gained (VmRSS), search
  p50 / p95 for 120 neighbours, and their recall against the exact float32 top 120, for
  the graph search at two depths and for an exhaustive int8 scan.

    python benchmarks/int8_sentences.py --dev
    python benchmarks/int8_sentences.py --size 602093
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

CACHE = HERE / ".cache" / "int8"
RERANK = HERE / ".cache" / "rerank"
SPEED = HERE / ".cache" / "speed"
NEIGHBOURS = 120  # what a search asks Chroma for today: 40 candidates × 3 sentences
CONNECTIVITY = 16  # Chroma's hnsw:M
EXPANSION_ADD = 128


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmRSS"))


def to_int8(vectors: np.ndarray) -> np.ndarray:
    """Each row scaled by its own largest component to ±127 (a cosine ignores the scale)."""
    vectors = np.atleast_2d(vectors)
    scale = 127.0 / np.abs(vectors).max(axis=1, keepdims=True)
    return np.clip(np.rint(vectors * scale), -127, 127).astype(np.int8)


def new_index():  # type: ignore[no-untyped-def]
    try:
        from usearch.index import Index
    except ImportError:
        raise SystemExit("this measurement needs usearch: pip install usearch") from None

    return Index(ndim=384, metric="cos", dtype="i8", connectivity=CONNECTIVITY, expansion_add=EXPANSION_ADD)


def sentence_vectors(chroma: Path) -> np.ndarray:
    import chromadb

    client = chromadb.PersistentClient(path=str(chroma))
    name = next(c.name for c in client.list_collections() if c.name.endswith("-sentences"))
    return np.asarray(client.get_collection(name).get(include=["embeddings"])["embeddings"], np.float32)


def embed(questions: list[str]) -> np.ndarray:
    from config import load_settings
    from retrieval.embedding import create_embedder

    return np.asarray(create_embedder(load_settings()).embed_queries(questions), np.float32)


def measure_dev() -> None:
    sets = [
        ("squad_dev", RERANK / "index-squad", HERE / "data" / "squad_dev" / "questions.jsonl"),
        ("seeds sets + distractors", RERANK / "index+distractors", None),
    ]
    print("| set | sentences | questions | int8 cosine error p50 / p95 / max | same nearest | same five |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, index, questions_file in sets:
        if not (index / "chroma").exists():
            raise SystemExit(f"no cached index at {index}: run benchmarks/rerank.py first")
        files = (
            [questions_file]
            if questions_file
            else [HERE / "data" / f"seeds_{s}.jsonl" for s in ("dev", "check", "users")]
        )
        questions = [
            json.loads(line)["q"] for f in files for line in f.read_text().splitlines() if line.strip()
        ]
        vectors = sentence_vectors(index / "chroma")
        queries = embed(questions)
        index8 = new_index()
        index8.add(np.arange(len(vectors), dtype=np.uint64), to_int8(vectors))
        errors, same_one, same_five = [], 0, 0
        for query in queries:
            exact = vectors @ query
            found = index8.search(to_int8(query)[0], NEIGHBOURS, exact=True)
            errors.extend(np.abs((1.0 - found.distances) - exact[found.keys]).tolist())
            order = np.argsort(-exact)
            same_one += int(found.keys[0] == order[0])
            same_five += int(set(found.keys[:5].tolist()) == set(order[:5].tolist()))
        e = np.asarray(errors)
        print(
            f"| {name} | {len(vectors)} | {len(queries)} | {np.median(e):.5f} / {np.percentile(e, 95):.5f} / "
            f"{e.max():.5f} | {same_one} / {len(queries)} | {same_five} / {len(queries)} |"
        )


def blended(size: int) -> Path:
    """``size`` unit vectors blended from the real sentence vectors (made once)."""
    path = CACHE / f"blended-{size}.npy"
    if path.exists():
        return path
    needed = [
        RERANK / "index-squad" / "chroma",
        RERANK / "index+distractors" / "chroma",
        SPEED / "vectors-derived.npz",
    ]
    if missing := [str(p) for p in needed if not p.exists()]:
        raise SystemExit(
            f"missing {', '.join(missing)}: run benchmarks/rerank.py and benchmarks/speed.py first"
        )
    parts = [sentence_vectors(p) for p in needed[:2]]
    parts.append(np.load(SPEED / "vectors-derived.npz")["vectors"])
    real = np.concatenate(parts).astype(np.float32)
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, len(real), (size, 2))
    weight = rng.uniform(0.2, 0.8, (size, 1)).astype(np.float32)
    noise = rng.normal(0.0, 1.0, (size, real.shape[1])).astype(np.float32) * real.std(axis=0) * 0.7
    vectors = weight * real[pairs[:, 0]] + (1 - weight) * real[pairs[:, 1]] + noise
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return path


def child(size: int, out: Path) -> None:
    """Load the saved index in this fresh process, search, write the figures to ``out``."""
    queries = np.load(CACHE / "queries.npy")
    before = rss_mb()
    index8 = new_index()
    started = time.perf_counter()
    index8.load(str(CACHE / f"index-{size}.usearch"))
    loaded = time.perf_counter() - started
    index8.expansion_search = 64
    times = []
    for _ in range(3):
        for query in queries:
            q8 = to_int8(query)[0]
            started = time.perf_counter()
            index8.search(q8, NEIGHBOURS)
            times.append((time.perf_counter() - started) * 1000)
    grown = rss_mb() - before
    vectors = np.load(CACHE / f"blended-{size}.npy", mmap_mode="r")
    recall: dict[str, list[float]] = {"graph, depth 64": [], "graph, depth 400": [], "exhaustive int8": []}
    for query in queries:
        top = set(np.argsort(-(vectors @ query))[:NEIGHBOURS].tolist())
        q8 = to_int8(query)[0]
        for name, depth, exact in (
            ("graph, depth 64", 64, False),
            ("graph, depth 400", 400, False),
            ("exhaustive int8", 64, True),
        ):
            index8.expansion_search = depth
            found = set(index8.search(q8, NEIGHBOURS, exact=exact).keys.tolist())
            recall[name].append(len(found & top) / NEIGHBOURS)
    times.sort()
    out.write_text(
        json.dumps(
            {
                "loaded_s": loaded,
                "grown_mb": grown,
                "p50_ms": statistics.median(times),
                "p95_ms": times[int(len(times) * 0.95)],
                "recall": {k: [float(np.mean(v)), float(min(v))] for k, v in recall.items()},
            }
        )
    )


def measure_size(size: int) -> None:
    from speed import questions

    vectors_path = blended(size)
    saved = CACHE / f"index-{size}.usearch"
    if not saved.exists():
        vectors = np.load(vectors_path)
        index8 = new_index()
        started = time.perf_counter()
        index8.add(np.arange(size, dtype=np.uint64), to_int8(vectors), threads=2, log=True)
        print(
            f"built the int8 index of {size:,} vectors in {time.perf_counter() - started:.0f} s (2 threads)"
        )
        index8.save(str(saved))
        del index8, vectors
    np.save(CACHE / "queries.npy", embed(questions()[:60]))
    out = CACHE / f"child-{size}.json"
    subprocess.run([sys.executable, __file__, "--child", str(size), str(out)], check=True)
    found = json.loads(out.read_text())
    print(
        f"\n{size:,} blended vectors; file {saved.stat().st_size / 2**20:.0f} MB (float32 alone would be "
        f"{size * 384 * 4 / 2**20:.0f} MB); load {found['loaded_s']:.2f} s"
    )
    print(f"VmRSS gained by loading and 180 searches: {found['grown_mb']:.0f} MB")
    print(
        f"search for {NEIGHBOURS} neighbours, depth 64: "
        f"p50 {found['p50_ms']:.2f} / p95 {found['p95_ms']:.2f} ms"
    )
    print("| search | recall of the exact top 120, mean | worst question |")
    print("| --- | ---: | ---: |")
    for name, (mean, worst) in found["recall"].items():
        print(f"| {name} | {mean:.3f} | {worst:.3f} |")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(int(sys.argv[2]), Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dev", action="store_true", help="int8 cosines against float32 on the dev sets")
    parser.add_argument(
        "--size", type=int, help="build and search an int8 index of this many blended vectors"
    )
    args = parser.parse_args()
    if not args.dev and not args.size:
        parser.error("say --dev, --size N or both")
    sys.path.insert(0, str(HERE))
    if args.dev:
        measure_dev()
    if args.size:
        measure_size(args.size)


if __name__ == "__main__":
    main()
