"""The ``citebot`` command line: index, ask, sources, eval and run (the Discord bot).

Scripts depend on the JSON shapes and exit codes: 0 success, 1 a failure the
message explains, 2 a usage or settings error.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TextIO

from config import Settings, SettingsError, load_settings
from retrieval.errors import CitebotError, QuestionError
from retrieval.models import Answer, IndexReport

log = logging.getLogger("citebot")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="citebot",
        description="Answer questions about a folder of news articles with cited passages.",
        epilog="Settings come from CITEBOT_* environment variables and .env (see the README).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    index = commands.add_parser("index", help="index new, changed and removed articles")
    index.add_argument("--articles", type=Path, metavar="DIR", help="articles folder (CITEBOT_ARTICLES_DIR)")
    index.add_argument("--rebuild", action="store_true", help="drop the index and embed everything again")
    index.add_argument("--json", action="store_true", help="print the report as JSON")

    ask = commands.add_parser("ask", help="answer a question with cited passages")
    ask.add_argument("question", nargs="?", help="the question (quote it)")
    ask.add_argument("--batch", metavar="FILE", help="one question a line (text or {\"q\": ...}); - for stdin")
    ask.add_argument("--k", type=int, metavar="N", help="passages per answer (CITEBOT_TOP_K)")
    ask.add_argument("--json", action="store_true", help="print JSON")

    sources = commands.add_parser("sources", help="list the indexed articles")
    sources.add_argument("--json", action="store_true", help="print JSON")

    evaluate = commands.add_parser("eval", help="score retrieval on a question set")
    evaluate.add_argument("questions", type=Path, help="JSONL file of {id, q, docs, answer}")
    evaluate.add_argument("--articles", type=Path, metavar="DIR", help="articles the questions are about")
    evaluate.add_argument("--offtopic", type=Path, metavar="FILE", help="questions the articles cannot answer")
    evaluate.add_argument("--json", action="store_true", help="print JSON")

    commands.add_parser("run", help="start the Discord bot (token in CITEBOT_DISCORD_TOKEN)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"citebot: {error}", file=sys.stderr)
        return 2
    try:
        if args.command == "index":
            return _index(settings, args)
        if args.command == "ask":
            return _ask(settings, args)
        if args.command == "sources":
            return _sources(settings, args)
        if args.command == "eval":
            return _eval(settings, args)
        if args.command == "run":
            return _run(settings)
    except CitebotError as error:
        print(f"citebot: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("citebot: interrupted", file=sys.stderr)
        return 130
    return 2


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="citebot: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("chromadb", "httpx", "sentence_transformers", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _retriever(settings: Settings):  # type: ignore[no-untyped-def]
    from retrieval.service import Retriever

    return Retriever(settings)


def _index_with_progress(retriever, articles: Path | None, rebuild: bool, quiet: bool) -> IndexReport:  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        return retriever.index(articles, rebuild=rebuild)
    with Progress(
        TextColumn("embedding passages"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        console=console, transient=True,
    ) as bar:
        task = bar.add_task("embed", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return retriever.index(articles, rebuild=rebuild, progress=progress)


def _index(settings: Settings, args: argparse.Namespace) -> int:
    if args.articles:
        settings = settings.model_copy(update={"articles_dir": args.articles.expanduser()})
    retriever = _retriever(settings)
    report = _index_with_progress(retriever, settings.articles_dir, args.rebuild, quiet=args.json)
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
        return 0
    print(
        f"Indexed {settings.articles_dir}: {len(report.added)} added, {len(report.changed)} changed, "
        f"{len(report.removed)} removed, {len(report.unchanged)} unchanged"
        + (f", {len(report.skipped)} skipped" if report.skipped else "")
        + f" — {report.chunks_embedded} passages embedded in {report.seconds:.2f} s"
        + (" (full rebuild)" if report.rebuilt else "")
    )
    return 0


def _ask(settings: Settings, args: argparse.Namespace) -> int:
    if bool(args.question) == bool(args.batch):
        print("citebot: error: give either a QUESTION or --batch FILE", file=sys.stderr)
        return 2
    if args.k is not None and not 1 <= args.k <= 50:
        print("citebot: error: --k must be between 1 and 50", file=sys.stderr)
        return 2
    retriever = _retriever(settings)
    if not retriever.has_index():
        print(f"citebot: no index yet; indexing {settings.articles_dir} first", file=sys.stderr)
        _index_with_progress(retriever, None, False, quiet=False)
    if args.batch:
        return _ask_batch(retriever, args.batch, args.k)
    answer = retriever.search(args.question, k=args.k)
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False))
    else:
        _print_answer(answer)
    return 0


def _batch_questions(handle: TextIO) -> Iterator[str]:
    for line in handle:
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                yield line
                continue
            yield str(data.get("q", "")) if isinstance(data, dict) else line
        else:
            yield line


def _ask_batch(retriever, source: str, k: int | None) -> int:  # type: ignore[no-untyped-def]
    if source == "-":
        handle: TextIO = sys.stdin
    else:
        try:
            handle = open(source, encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError as error:
            print(f"citebot: error: cannot read {source}: {error.strerror}", file=sys.stderr)
            return 1
    failures = 0
    try:
        for question in _batch_questions(handle):
            try:
                data = retriever.search(question, k=k).to_json()
            except QuestionError as error:
                failures += 1
                data = {"question": question, "answered": False, "passages": [], "error": str(error)}
            print(json.dumps(data, ensure_ascii=False), flush=True)
    finally:
        if handle is not sys.stdin:
            handle.close()
    return 0


def _print_answer(answer: Answer) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False)
    console.soft_wrap = not console.is_terminal  # piped output keeps passages on their own lines
    console.print(f"[bold]Q:[/bold] {escape(answer.question)}")
    if not answer.passages:
        console.print("Nothing in the sources matches this question.")
        return
    if not answer.answered:
        console.print("[yellow]The sources do not seem to answer this. Closest passages:[/yellow]")
    console.print()
    for p in answer.passages:
        console.print(
            f"[bold cyan][{p.rank}][/bold cyan] [bold]{escape(p.title)}[/bold] — {escape(p.source)}, "
            f"{escape(p.location)}  [dim](score {p.score:.3f}, {p.language})[/dim]"
        )
        text = escape(p.text)
        if p.highlight:
            text = text.replace(escape(p.highlight), f"[bold yellow]{escape(p.highlight)}[/bold yellow]", 1)
        console.print(text)
        console.print()


def _sources(settings: Settings, args: argparse.Namespace) -> int:
    sources = _retriever(settings).sources()
    if args.json:
        print(json.dumps([s.to_json() for s in sources], ensure_ascii=False))
        return 0
    if not sources:
        print("No articles indexed yet: run `citebot index`.")
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # piped: one tab-separated row per article, never wrapped
        print("source\ttitle\tlanguage\tchunks\tindexed_at")
        for s in sources:
            print(f"{s.source_id}\t{s.title}\t{s.language}\t{s.chunks}\t{s.indexed_at}")
        return 0
    table = Table("source", "title", "language", "chunks", "indexed at")
    for s in sources:
        table.add_row(s.source_id, s.title, s.language, str(s.chunks), s.indexed_at)
    console.print(table)
    return 0


def _eval(settings: Settings, args: argparse.Namespace) -> int:
    from retrieval.evaluation import evaluate, load_questions

    try:
        questions = load_questions(args.questions)
        offtopic = load_questions(args.offtopic) if args.offtopic else []
    except (OSError, ValueError) as error:
        print(f"citebot: error: {error}", file=sys.stderr)
        return 1
    if args.articles:
        folder = args.articles.expanduser().resolve()
        key = hashlib.sha256(str(folder).encode()).hexdigest()[:12]
        settings = settings.model_copy(
            update={"articles_dir": folder, "data_dir": settings.data_dir / "eval" / f"{folder.name}-{key}"}
        )
    retriever = _retriever(settings)
    _index_with_progress(retriever, None, False, quiet=args.json)
    k = max(5, settings.top_k)
    started = time.perf_counter()
    report = evaluate(lambda q: retriever.search(q, k=k), questions, offtopic)
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("questions", "n", "hit@1", "hit@3", "hit@5", "MRR@5", "answered", title=str(args.questions))
    for name, scores in report.groups.items():
        row = scores.as_dict()
        table.add_row(name, str(row["n"]), *(f"{row[c]:.3f}" for c in ("hit@1", "hit@3", "hit@5", "mrr@5", "answered")))
    console = Console()
    console.print(table)
    if report.offtopic_n:
        console.print(
            f"off-topic: {report.offtopic_declined}/{report.offtopic_n} declined "
            f"({report.offtopic_declined / report.offtopic_n:.1%})"
        )
    total = sum(s.n for n, s in report.groups.items() if n == "all") + report.offtopic_n
    console.print(f"[dim]{total} questions in {elapsed:.1f} s[/dim]")
    return 0


def _run(settings: Settings) -> int:
    try:
        from bot.main import run_bot
    except ImportError as error:
        print(f"citebot: error: the Discord bot cannot start ({error})", file=sys.stderr)
        return 1
    return run_bot(settings)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
