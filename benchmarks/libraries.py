"""Which Chroma layout for libraries: measured at 100 libraries of 100 articles.

A Discord server's question reads its own library and the base one. Three layouts
can hold many libraries in one Chroma:

- ``filter``: one sentences collection, a ``library`` metadata field on each
  sentence, queries with ``where={"library": {"$in": [mine, "base"]}}``;
- ``collections``: a sentences collection per library, two queries merged;
- ``databases``: a Chroma database per library (same collection name in each), two
  queries merged.

Vectors are random unit vectors of the model's size (384): the layouts are compared
on the same data, so the ratios hold though absolute times would differ with real
sentences. Each layout is built once in ``--dir`` and queried in a fresh process:
the first question to each library (its index loaded), then warm questions.

    python benchmarks/libraries.py [--libraries 100] [--articles 100] [--sentences 25] [--reuse]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DIM = 384
N_RESULTS = 120  # what a search asks for: 40 candidates × 3 sentences


def _vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _client(path: Path, database: str | None = None):  # type: ignore[no-untyped-def]
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if database is None:
        return chromadb.PersistentClient(path=str(path), settings=settings)
    return chromadb.PersistentClient(path=str(path), settings=settings, database=database)


def build(layout: str, path: Path, libraries: list[str], per_library: int) -> float:
    import chromadb
    from chromadb.config import Settings

    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    space = {"hnsw": {"space": "cosine"}}
    if layout == "filter":
        collection = _client(path).create_collection(
            "sentences", embedding_function=None, configuration=space
        )
    if layout == "databases":
        admin = chromadb.AdminClient(
            Settings(anonymized_telemetry=False, is_persistent=True, persist_directory=str(path))
        )
    for name in libraries:
        vectors = _vectors(rng, per_library)
        ids = [f"{name}.{n}" for n in range(per_library)]
        if layout == "collections":
            collection = _client(path).create_collection(
                f"s-{name}", embedding_function=None, configuration=space
            )
        elif layout == "databases":
            admin.create_database(name)
            collection = _client(path, name).create_collection(
                "sentences", embedding_function=None, configuration=space
            )
        for start in range(0, per_library, 5000):
            batch = slice(start, start + 5000)
            metadata = [{"library": name}] * len(ids[batch]) if layout == "filter" else None
            collection.add(ids=ids[batch], embeddings=vectors[batch], metadatas=metadata)
    return time.perf_counter() - started


def query(layout: str, path: Path, libraries: list[str], questions: int) -> dict[str, float]:
    """Run in a fresh process: latencies of (library ∪ base) queries and peak memory."""
    rng = np.random.default_rng(1)
    started = time.perf_counter()
    asks = _vectors(rng, questions)
    clients = {}
    handles = {}  # as the product keeps them (LibraryStore): looked up once per library

    def collection(name: str):  # type: ignore[no-untyped-def]
        if name in handles:
            return handles[name]
        if layout == "databases":
            if name not in clients:
                clients[name] = _client(path, name)
            handles[name] = clients[name].get_collection("sentences", embedding_function=None)
            return handles[name]
        client = clients.setdefault("", _client(path))
        handles[name] = client.get_collection(
            f"s-{name}" if layout == "collections" else "sentences", embedding_function=None
        )
        return handles[name]

    first, warm = [], []
    others = [n for n in libraries if n != "base"]
    for n in range(questions):
        mine = others[n % len(others)]
        t = time.perf_counter()
        if layout == "filter":
            collection("").query(
                query_embeddings=[asks[n]],
                n_results=N_RESULTS,
                include=["distances"],
                where={"library": {"$in": [mine, "base"]}},
            )
        else:
            for name in (mine, "base"):
                collection(name).query(query_embeddings=[asks[n]], n_results=N_RESULTS, include=["distances"])
        (first if n < len(others) else warm).append(time.perf_counter() - t)
        if n == 0:
            first_answer = time.perf_counter() - started
    status = Path("/proc/self/status").read_text()
    peak = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]) / 1024
    return {
        "first_answer_s": first_answer,
        "first_touch_p50_ms": statistics.median(first) * 1e3,
        "warm_p50_ms": statistics.median(warm) * 1e3,
        "warm_p95_ms": float(np.percentile(warm, 95)) * 1e3,
        "peak_mb": peak,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--libraries", type=int, default=100)
    parser.add_argument("--articles", type=int, default=100, help="articles per library (and in the base)")
    parser.add_argument("--sentences", type=int, default=25, help="sentences per article")
    parser.add_argument("--questions", type=int, default=300)
    parser.add_argument("--layouts", default="filter,collections,databases")
    parser.add_argument("--dir", type=Path, default=HERE / ".cache" / "libraries")
    parser.add_argument("--reuse", action="store_true", help="query layouts built by an earlier run")
    parser.add_argument("--query", nargs=2, metavar=("LAYOUT", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    libraries = ["base"] + [f"guild-{n}" for n in range(args.libraries)]
    if args.query:  # the child process
        print(json.dumps(query(args.query[0], Path(args.query[1]), libraries, args.questions)))
        return 0
    per_library = args.articles * args.sentences
    for layout in args.layouts.split(","):
        path = args.dir / layout
        built = float("nan") if args.reuse and path.exists() else build(layout, path, libraries, per_library)
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--libraries",
                str(args.libraries),
                "--questions",
                str(args.questions),
                "--query",
                layout,
                str(path),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        row = {"layout": layout, "sentences": per_library * len(libraries), "build_s": round(built, 1)}
        row.update({k: round(v, 2) for k, v in json.loads(child.stdout.splitlines()[-1]).items()})
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
