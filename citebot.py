"""The ``citebot`` command line: index, ask, sources, eval, feeds, info and run (the Discord bot).

It sits above both halves of the project: it parses arguments, calls the retrieval
service (:mod:`retrieval`) or starts the bot (:mod:`bot`), and prints. Scripts depend
on the JSON shapes and exit codes: 0 success, 1 a failure the message explains, 2 a
usage or settings error (a bad option, an empty or over-long question, a bad
``CITEBOT_*`` value).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from config import MAX_TOP_K, Settings, SettingsError, load_settings, unknown_variables
from retrieval.errors import CitebotError, QuestionError, StoreUnavailableError
from retrieval.models import Answer, IndexReport, Passage

if TYPE_CHECKING:
    from retrieval.service import Retriever

log = logging.getLogger("citebot")
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
#: ``citebot ask`` shows about this many characters of a passage, its highlighted sentence and
#: the text around it (``--full``: all of it); one at most a fifth longer is shown whole.
EXCERPT_CHARS = 500
ELLIPSIS = "…"
#: Where a sentence ends: ``.!?…`` and any closing quotes before a space, or a line break.
_SENTENCE_END = re.compile(r"[.!?…][\"'»”’)\]]*(?=\s)|(?=\n)")


def _version() -> str:
    try:
        return metadata.version("citebot")
    except metadata.PackageNotFoundError:  # run from a checkout without installing
        return "unknown"


def counted(n: int, word: str) -> str:
    """``1 passage``, ``3 passages``: a count and its word (an English word that takes an s)."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _library_name(name: str) -> str:
    from config.settings import library_problem

    problem = library_problem(name)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return name


def build_parser() -> argparse.ArgumentParser:
    # Global options are accepted before or after the command (`citebot -v run`, `citebot run -v`):
    # each subparser shares them, with SUPPRESS so an absent flag there keeps the value given before.
    shared = argparse.ArgumentParser(add_help=False)
    shared.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log what happens"
    )
    parser = argparse.ArgumentParser(
        prog="citebot",
        description="Answer questions about a folder of news articles with cited passages.",
        epilog="Settings come from CITEBOT_* environment variables and .env (see the README); "
        "`citebot info` shows the effective ones.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    parser.add_argument("--version", action="version", version=f"citebot {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    # A library is searched with the base one (the operator's articles folder), never with another.
    in_library = argparse.ArgumentParser(add_help=False)
    in_library.add_argument(
        "--library",
        metavar="NAME",
        type=_library_name,
        help="a library besides the base one (CITEBOT_LIBRARY)",
    )

    def command(name: str, help: str, library: bool = False) -> argparse.ArgumentParser:
        parents = [shared, in_library] if library else [shared]
        return commands.add_parser(
            name, help=help, description=help[:1].upper() + help[1:] + ".", parents=parents
        )

    index = command("index", "index new, changed and removed articles", library=True)
    index.add_argument(
        "--articles",
        type=_folder,
        metavar="DIR",
        help="articles folder (CITEBOT_ARTICLES_DIR for the base library)",
    )
    index.add_argument("--rebuild", action="store_true", help="drop the index and embed everything again")
    index.add_argument(
        "--prune",
        action="store_true",
        help="allow removing most or all of the indexed articles (an empty or missing folder)",
    )
    index.add_argument("--json", action="store_true", help="print the report as JSON")

    ask = command("ask", "answer a question with cited passages", library=True)
    ask.add_argument(
        "question", nargs="?", help="the question (quote it); none, in a terminal: ask one after another"
    )
    ask.add_argument(
        "--previous",
        action="append",
        default=[],
        metavar="EARLIER",
        help="an earlier question of the conversation (repeat, oldest first): QUESTION is a follow-up",
    )
    ask.add_argument(
        "--batch",
        metavar="FILE",
        help='one question a line (text or {"q": ..., "previous": [...]}); - for stdin',
    )
    ask.add_argument(
        "--k", type=int, metavar="N", help=f"passages per answer, 1 to {MAX_TOP_K} (CITEBOT_TOP_K)"
    )
    ask.add_argument(
        "--since",
        metavar="DATE",
        help="only articles published from DATE (2020-02-12, or 7d, 2w, 3m, 1y ago); undated ones are out",
    )
    ask.add_argument("--until", metavar="DATE", help="only articles published until DATE (to its end)")
    ask.add_argument(
        "--full",
        action="store_true",
        help=f"show each passage whole (by default about {EXCERPT_CHARS} characters around its "
        "highlighted sentence, cut on a sentence or word boundary, … marking a cut)",
    )
    ask.add_argument("--json", action="store_true", help="print JSON (always each passage's whole text)")
    ask.epilog = (
        "Each passage's highlighted sentence, the one it was found by, is marked **like this** "
        "(in bold too in a terminal)."
    )

    sources = command("sources", "list the indexed articles", library=True)
    sources.add_argument("--json", action="store_true", help="print JSON")

    evaluate = command("eval", "score retrieval on a question set", library=True)
    evaluate.add_argument(
        "questions", type=Path, help="JSONL file of {id, q, docs, answer} (and previous, for follow-ups)"
    )
    evaluate.add_argument("--articles", type=_folder, metavar="DIR", help="articles the questions are about")
    evaluate.add_argument(
        "--offtopic", type=Path, metavar="FILE", help="questions the articles cannot answer"
    )
    evaluate.add_argument("--json", action="store_true", help="print JSON")

    feedback = command("feedback", "export the votes on the bot's answers")
    feedback.add_argument("--json", action="store_true", help="one JSON object a line")
    feedback.add_argument(
        "--since",
        type=_date,
        metavar="DATE",
        help="only votes cast from DATE (2026-11-01, a time, or 7d, 2w, 3m, 1y ago)",
    )
    feedback.add_argument(
        "--as-eval",
        type=Path,
        metavar="FILE",
        help="write the confirmed answers to FILE as a `citebot eval` question set",
    )

    feeds = command("feeds", "subscribe to news feeds and poll them (the writer only)")
    actions = feeds.add_subparsers(dest="action", required=True, metavar="ACTION")

    def feed_action(name: str, help: str) -> argparse.ArgumentParser:
        return actions.add_parser(
            name, help=help, description=help[:1].upper() + help[1:] + ".", parents=[shared, in_library]
        )

    feed_add = feed_action(
        "add", "subscribe to the RSS or Atom feed at URL (read once; kept only if it is one)"
    )
    feed_add.add_argument("url", metavar="URL")
    feed_add.add_argument("--json", action="store_true", help="print JSON")
    feed_list = feed_action("list", "list the feeds subscribed to")
    feed_list.add_argument("--json", action="store_true", help="print JSON")
    feed_remove = feed_action("remove", "unsubscribe from a feed (the articles it brought stay)")
    feed_remove.add_argument("url", metavar="URL")
    feed_poll = feed_action("poll", "fetch the feeds that are due, save their new items and index them")
    feed_poll.add_argument("--force", action="store_true", help="poll every feed now, due or not")
    feed_poll.add_argument("--json", action="store_true", help="print JSON")

    libraries = command("libraries", "list the libraries, or remove one (the writer only)")
    library_actions = libraries.add_subparsers(dest="action", required=True, metavar="ACTION")
    libraries_list = library_actions.add_parser(
        "list", help="the libraries with their articles, passages and feeds", parents=[shared]
    )
    libraries_list.add_argument("--json", action="store_true", help="print JSON")
    libraries_remove = library_actions.add_parser(
        "remove",
        help="delete a library: its passages, feeds and saved articles (not the base one)",
        parents=[shared],
    )
    libraries_remove.add_argument(
        "name", metavar="NAME", help="the library, as `citebot libraries list` names it"
    )
    libraries_remove.add_argument("--yes", action="store_true", help="remove it without asking")

    info = command("info", "show the effective articles folder, data folder, store and model")
    info.add_argument("--json", action="store_true", help="print JSON")

    command("run", "start the Discord bot (token in CITEBOT_DISCORD_TOKEN)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _setup_logging(args.verbose)
    for name, suggestion in unknown_variables():
        hint = f"; did you mean {suggestion}?" if suggestion else ""
        print(f"citebot: warning: {name} is not a citebot setting and is ignored{hint}", file=sys.stderr)
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"citebot: {error}", file=sys.stderr)
        return EXIT_USAGE
    handlers = {
        "index": _index,
        "ask": _ask,
        "sources": _sources,
        "eval": _eval,
        "feedback": _feedback,
        "feeds": _feeds,
        "info": _info,
        "libraries": _libraries,
        "run": _run,
    }
    try:
        if getattr(args, "library", None):  # a valid name: the parser checked it
            settings = settings.model_copy(update={"library": args.library})
        return handlers[args.command](settings, args)
    except QuestionError as error:
        print(f"citebot: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except CitebotError as error:
        print(f"citebot: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("citebot: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # piped into `head`: the reader has what it wanted
        sys.stderr.close()
        return EXIT_OK


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="citebot: %(levelname)s: %(message)s",
        stream=sys.stderr,
    )
    for noisy in ("chromadb", "httpx", "sentence_transformers", "bm25s"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


def _retriever(settings: Settings) -> Retriever:
    from retrieval.service import Retriever

    return Retriever(settings)


def _with_progress(work, quiet: bool):  # type: ignore[no-untyped-def]
    """``work(progress)`` with a progress bar on the terminal's stderr (none when ``quiet``
    or not a terminal)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    if quiet or not console.is_terminal:
        return work(None)
    with Progress(
        TextColumn("embedding passages"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task("embed", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return work(progress)


def _index(settings: Settings, args: argparse.Namespace) -> int:
    retriever = _retriever(settings)
    library = settings.library
    folder = args.articles.expanduser() if args.articles else retriever.articles_folder(library or "base")
    report: IndexReport = _with_progress(
        lambda progress: retriever.index(
            folder, rebuild=args.rebuild, progress=progress, library=library, prune=args.prune
        ),
        quiet=args.json,
    )
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
        return EXIT_OK
    print(
        f"Indexed {folder}"
        + (f" into {library}" if library else "")
        + f": {len(report.added)} added, {len(report.changed)} changed, "
        f"{len(report.removed)} removed, {len(report.unchanged)} unchanged"
        + (f", {len(report.skipped)} skipped" if report.skipped else "")
        + f" — {counted(report.chunks_embedded, 'passage')} embedded in {report.seconds:.2f} s"
        + (" (full rebuild)" if report.rebuilt else "")
    )
    return EXIT_OK


def _ask(settings: Settings, args: argparse.Namespace) -> int:
    interactive = args.question is None and args.batch is None and sys.stdin.isatty() and not args.json
    if (args.question is None) == (args.batch is None) and not interactive:
        print(
            "citebot: error: give either a QUESTION or --batch FILE (or, in a terminal, neither: "
            "questions one after another)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.k is not None and not 1 <= args.k <= MAX_TOP_K:
        print(f"citebot: error: --k must be between 1 and {MAX_TOP_K}", file=sys.stderr)
        return EXIT_USAGE
    retriever = _retriever(settings)
    if args.batch and args.previous:
        print(
            'citebot: error: --previous goes with one QUESTION; in a batch, give "previous" per line',
            file=sys.stderr,
        )
        return EXIT_USAGE
    from retrieval.dates import parse_range

    parse_range(args.since, args.until)  # a bad date is refused before anything happens
    from retrieval.service import clean_question

    # Checked before anything else happens, so a bad question changes nothing.
    for text in (
        *(p for p in args.previous if p.strip()),
        *([args.question] if args.question is not None else []),
    ):
        clean_question(text, settings.max_question_chars)
    _library_exists(settings, retriever)
    if retriever.needs_index():
        if retriever.has_legacy_index():
            print(f"citebot: moving the index in {settings.data_dir} into the store first", file=sys.stderr)
        else:
            print(f"citebot: no index yet; indexing {settings.articles_dir} first", file=sys.stderr)
        _with_progress(lambda progress: retriever.ensure_index(progress), quiet=False)
    dates = {"since": args.since, "until": args.until}
    if args.batch:
        return _ask_batch(retriever, args.batch, args.k, dates)
    if interactive:
        return _ask_in_turn(retriever, args, dates, empty=_nothing_indexed(settings, retriever))
    answer = retriever.search(args.question, k=args.k, previous=args.previous, **dates)
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False))
    else:
        empty = "" if answer.passages else _nothing_indexed(settings, retriever)
        _print_answer(answer, full=args.full, dated=bool(args.since or args.until), empty=empty)
    return EXIT_OK


def _ask_in_turn(
    retriever: Retriever, args: argparse.Namespace, dates: dict[str, str | None], empty: str
) -> int:
    """Questions typed one after another, each a follow-up of the ones before (as in a
    Discord thread: an earlier question is used only when the new one cannot stand alone),
    with the model and the index loaded once."""
    print(
        "Ask a question, then the next: each one follows up the ones before. "
        "An empty line starts a new conversation; Ctrl-D quits.",
        file=sys.stderr,
    )
    from retrieval.followup import MAX_TURNS

    earlier = [p for p in args.previous if p.strip()]
    while True:
        try:
            question = input("? ").strip()
        except EOFError:
            print(file=sys.stderr)
            return EXIT_OK
        if not question:
            if earlier:
                earlier = []
                print("(a new conversation)", file=sys.stderr)
            continue
        try:
            answer = retriever.search(question, k=args.k, previous=earlier[-MAX_TURNS:], **dates)
        except QuestionError as error:
            print(f"citebot: {error}", file=sys.stderr)
            continue
        _print_answer(answer, full=args.full, dated=bool(args.since or args.until), empty=empty)
        print()
        earlier.append(question)


def _batch_questions(lines: Iterable[str]) -> Iterator[tuple[str, list[str], str | None]]:
    """Each line's question, its earlier questions and why it cannot be asked (None when it
    can): ``{"q": ..., "previous": [...]}``, or the question as text."""
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line:
            continue
        if not line.startswith("{"):
            yield line, [], None
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as error:
            yield (
                line,
                [],
                f"line {number} is not JSON ({error.msg}); a question as text does not start with {{",
            )
            continue
        if not isinstance(data, dict) or not isinstance(data.get("q"), str):
            yield line, [], f'line {number} has no "q" text'
            continue
        previous = data.get("previous") or []
        if isinstance(previous, str):
            previous = [previous]
        yield data["q"], [str(p) for p in previous] if isinstance(previous, list) else [], None


def _lines(handle: Any) -> Iterator[str]:
    """A file's lines as text: UTF-8, or, line by line, with what is not read as Windows-1252."""
    from retrieval.articles import short_text

    binary = getattr(handle, "buffer", handle)
    for line in binary:
        yield line if isinstance(line, str) else short_text(line)


def _ask_batch(retriever: Retriever, source: str, k: int | None, dates: dict[str, str | None]) -> int:
    if source == "-":
        handle: Any = sys.stdin
    else:
        try:
            handle = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as error:
            print(f"citebot: error: cannot read {source}: {error.strerror}", file=sys.stderr)
            return EXIT_FAILURE
    try:
        for question, previous, problem in _batch_questions(_lines(handle)):
            try:
                if problem is not None:
                    raise QuestionError(problem)
                data = retriever.search(question, k=k, previous=previous, **dates).to_json()
            except QuestionError as error:
                data = {"question": question, "answered": False, "passages": [], "error": str(error)}
            print(json.dumps(data, ensure_ascii=False), flush=True)
    finally:
        if handle is not sys.stdin:
            handle.close()
    return EXIT_OK


def _excerpt(text: str, highlight: str, chars: int | None = EXCERPT_CHARS) -> tuple[str, str, str]:
    """``text`` as (before, highlighted sentence, after), cut to about ``chars`` characters
    around the sentence, on a sentence or word boundary, "…" marking each cut.

    Whole when ``chars`` is None, when the text is at most a fifth longer than ``chars``,
    and when the highlight is not in it (then as ``(text, "", "")``). A sentence longer
    than ``chars`` is kept whole, with nothing around it.
    """
    highlight = highlight.strip()
    at = text.find(highlight) if highlight else -1
    if at < 0:
        return text, "", ""
    before, after = text[:at], text[at + len(highlight) :]
    if chars is None or len(text) <= chars * 6 // 5:
        return before, highlight, after
    room = max(0, chars - len(highlight))
    # Half the room on each side; a side that needs less leaves the rest to the other.
    after_room = min(len(after), max(room // 2, room - len(before)))
    before_room = min(len(before), room - after_room)
    return _text_before(before, before_room), highlight, _text_after(after, after_room)


def _text_before(text: str, room: int) -> str:
    """The end of ``text`` in at most ``room`` characters (and "… "), starting on a sentence
    when one starts in the first half of that room, else on a word when one does."""
    if len(text) <= room:
        return text
    if not text.strip():
        return ""  # blank lines only: nothing to show
    start = len(text) - room
    sentences = [m.end() for m in _SENTENCE_END.finditer(text) if start <= m.end() <= start + room // 2]
    words = [m.start() for m in re.finditer(r"\s", text[start - 1 : start + room // 2 + 1])]
    if sentences:
        start = min(sentences)
    elif words:
        start += min(words) - 1
    return f"{ELLIPSIS} {text[start:].lstrip()}"


def _text_after(text: str, room: int) -> str:
    """The start of ``text`` in at most ``room`` characters (and " …"), ending a sentence
    when one ends in the second half of that room, else a word when one does."""
    if len(text) <= room:
        return text
    if not text.strip():
        return ""
    end = room
    sentences = [m.end() for m in _SENTENCE_END.finditer(text[: room + 1]) if room // 2 <= m.end() <= room]
    words = [m.start() for m in re.finditer(r"\s", text[: room + 1]) if m.start() >= room // 2]
    if sentences:
        end = max(sentences)
    elif words:
        end = max(words)
    kept = text[:end].rstrip()
    return f"{kept} {ELLIPSIS}" if kept else f" {ELLIPSIS}"


def _library_exists(settings: Settings, retriever: Retriever) -> None:
    """A library to read (``--library``, ``CITEBOT_LIBRARY``) must be in the store: a typo
    would otherwise read the base library alone, and say nothing.

    Raises:
        LibraryError: there is no such library.
    """
    name = settings.library
    if name and name != "base" and retriever.registry.record(name) is None:
        from retrieval.errors import LibraryError

        raise LibraryError(f"the store holds no library called {name} (`citebot libraries list` names them)")


def _nothing_indexed(settings: Settings, retriever: Retriever | None = None) -> str:
    """What to say of an index with no article: a replica cannot index, the writer does; a
    run may be under way, or may have stopped before its end (the store's record says)."""
    if retriever is not None:
        try:
            record, lease = retriever.registry.record("base"), retriever.registry.lease()
        except CitebotError:
            record = lease = None
        if lease is not None and lease.expires_at > time.time():
            return f"No articles indexed yet: {lease.describe()} is indexing them; ask again when it is done."
        if record is not None and record.dirty and not settings.read_only:
            return (
                "No articles indexed yet: an index run stopped before its end; run `citebot index` "
                "to finish it (what it embedded is kept)."
            )
    if settings.read_only:
        return "No articles indexed yet: the writer has not indexed any (this citebot is read-only)."
    return "No articles indexed yet: run `citebot index`."


def _print_answer(answer: Answer, *, full: bool, dated: bool, empty: str) -> None:
    """The answer for a reader: each passage cited, its highlighted sentence marked ``**…**``
    (and bold in a terminal; the markers stay when piped), and, unless ``full``, cut to
    about :data:`EXCERPT_CHARS` characters around that sentence (not marked when the
    question is left unanswered: the closest sentence is no answer).

    No passage at all means an empty index (``empty`` says so), or none in the dates asked
    for (``dated``): the search always returns the closest passages otherwise."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(highlight=False, emoji=False)  # article text as written: no :codes: as emoji
    console.soft_wrap = not console.is_terminal  # piped output keeps passages on their own lines
    console.print(f"[bold]Q:[/bold] {escape(answer.question)}")
    if not answer.passages:
        if dated:
            console.print("No article published in those dates matches (undated articles are left out).")
        else:
            console.print(empty)
        return
    if not answer.answered:
        console.print("[yellow]The sources do not seem to answer this. Closest passages:[/yellow]")
    console.print()
    for p in answer.passages:
        console.print(
            f"[bold cyan][{p.rank}][/bold cyan] [bold]{escape(p.title)}[/bold] — {escape(_cited(p))}, "
            f"{escape(p.location)}  [dim](score {p.score:.3f}, {p.language})[/dim]" + _link(p)
        )
        before, best, after = _excerpt(p.text, p.highlight, None if full else EXCERPT_CHARS)
        # The closest sentence of a question left unanswered is no answer: not marked as one.
        marked = (
            f"[bold yellow]**{escape(best)}**[/bold yellow]" if best and answer.answered else escape(best)
        )
        console.print(escape(before) + marked + escape(after))
        console.print()


def _cited(passage: Passage) -> str:
    """Who published the passage's article and when: ``Le Monde · 12 Feb 2020 · by Jane
    Doe``; the source (file name or URL) when its metadata names no outlet."""
    from retrieval.dates import short_date

    parts = [passage.site or passage.source, short_date(passage.published)]
    if passage.author:
        parts.append(f"by {passage.author}")
    return " · ".join(part for part in parts if part)


def _link(passage: Passage) -> str:
    """The article's address on a line of its own, when the citation does not show it already."""
    from rich.markup import escape

    return f"\n{escape(passage.url)}" if passage.url and passage.site else ""


def _sources(settings: Settings, args: argparse.Namespace) -> int:
    retriever = _retriever(settings)
    _library_exists(settings, retriever)
    sources = retriever.sources()
    if args.json:
        print(json.dumps([s.to_json() for s in sources], ensure_ascii=False))
        return EXIT_OK
    if not sources:
        print(_nothing_indexed(settings, retriever))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    console = Console()
    # Newest first (the undated last): a news archive is read by date.
    if not console.is_terminal:  # piped: one tab-separated row per article, never wrapped
        print("source\ttitle\tpublished\tsite\tlanguage\tchunks\tindexed_at\tlibrary")
        for s in sources:
            print(
                f"{s.source_id}\t{s.title}\t{s.published or ''}\t{s.site or ''}\t{s.language}\t"
                f"{s.chunks}\t{s.indexed_at}\t{s.library}"
            )
        return EXIT_OK
    from retrieval.dates import short_date

    table = Table("source", "title", "published", "site", "language", "passages", "indexed at", "library")
    for s in sources:
        table.add_row(
            s.source_id,
            s.title,
            short_date(s.published),
            s.site or "",
            s.language,
            str(s.chunks),
            s.indexed_at,
            s.library,
        )
    console.print(table)
    return EXIT_OK


def _eval(settings: Settings, args: argparse.Namespace) -> int:
    from retrieval.evaluation import NOISE_BAND, evaluate_retriever, load_questions

    try:
        questions = load_questions(args.questions, scored=True)
        offtopic = load_questions(args.offtopic) if args.offtopic else []
    except (OSError, ValueError) as error:
        print(f"citebot: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    retriever = _retriever(settings)
    if args.articles:  # an index of that folder's own, brought up to date with it
        retriever = retriever.for_articles(args.articles)
        _with_progress(lambda progress: retriever.index(progress=progress), quiet=args.json)
    elif retriever.needs_index():  # the index as it is; the articles folder only on a new install
        if not args.json:
            print(f"citebot: no index yet; indexing {settings.articles_dir} first", file=sys.stderr)
        _with_progress(lambda progress: retriever.ensure_index(progress), quiet=args.json)
    if not args.articles:
        _library_exists(settings, retriever)
    started = time.perf_counter()
    report = evaluate_retriever(retriever, questions, offtopic)
    elapsed = time.perf_counter() - started
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    columns = ("hit@1", "hit@3", "hit@5", "MRR@5", "highlight@1", "answered")
    table = Table("questions", "n", *columns, title=str(args.questions))
    for name, scores in report.groups.items():
        row = scores.as_dict()
        values = (f"{row[c.lower()]:.3f}" for c in columns)
        table.add_row(name, str(row["n"]), *values)
    console = Console()
    console.print(table)
    if report.offtopic_n:
        console.print(
            f"off-topic: {report.offtopic_declined}/{report.offtopic_n} declined "
            f"({report.offtopic_declined / report.offtopic_n:.1%})"
        )
    sides = []
    for label, inside, answered in (
        ("in-domain answered", True, True),
        ("in-domain declined", True, False),
        ("off-topic declined", False, False),
        ("off-topic answered", False, True),
    ):
        nearest = report.nearest(inside, answered)
        if nearest is not None:
            sides.append(f"{label} {nearest[1]:+.4f} ({nearest[0]})")
    console.print(
        "answer rule, nearest to the threshold: "
        + ", ".join(sides)
        + f"; {report.within(NOISE_BAND)} within ±{NOISE_BAND:g}"
    )
    total = sum(s.n for n, s in report.groups.items() if n == "all") + report.offtopic_n
    console.print(f"[dim]{counted(total, 'question')} in {elapsed:.1f} s[/dim]")
    return EXIT_OK


def _folder(text: str) -> Path:
    """A folder argument: an empty one would be read as the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty: name a folder (. for the current one)")
    return Path(text)


def _date(text: str) -> datetime:
    """A ``--since`` date as ``ask`` reads one: 2026-11-01, a time, or 7d, 2w, 3m, 1y ago."""
    from retrieval.dates import parse_range

    try:
        since = parse_range(text, None).since
    except QuestionError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("since: ")) from None
    if since is None:
        raise argparse.ArgumentTypeError("empty: give a date")
    return datetime.fromtimestamp(since, UTC)


def _feedback(settings: Settings, args: argparse.Namespace) -> int:
    from retrieval.feedback import FeedbackStore, as_eval
    from retrieval.layout import DataFolder

    votes = FeedbackStore(DataFolder(settings.data_dir).feedback).votes(since=args.since)
    if args.as_eval:
        lines = as_eval(votes)
        try:
            args.as_eval.write_text(
                "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8"
            )
        except OSError as error:
            print(f"citebot: error: cannot write {args.as_eval}: {error.strerror}", file=sys.stderr)
            return EXIT_FAILURE
        then = (
            f"check them, then: citebot eval {args.as_eval}"
            if lines
            else "no vote confirmed a passage yet (a 👍, or a 👎 that names the passage that answered)"
        )
        print(
            f"Wrote {counted(len(lines), 'confirmed question')} from {counted(len(votes), 'vote')} "
            f"to {args.as_eval}; {then}",
            file=sys.stderr,
        )
        return EXIT_OK
    if args.json:
        for vote in votes:
            print(json.dumps(vote.to_json(), ensure_ascii=False))
        return EXIT_OK
    if not votes:
        print(
            f"No votes since {args.since.isoformat(timespec='seconds')}." if args.since else "No votes yet."
        )
        return EXIT_OK
    print("time\tvote\tquestion\tconfirmed passage")
    for vote in votes:
        confirmed = vote.confirmed
        where = f"[{confirmed.rank}] {confirmed.source_id}, {confirmed.location}" if confirmed else "-"
        mark = "up" if vote.vote > 0 else "down"
        print(
            f"{vote.voted_at}\t{mark}\t{' / '.join([*vote.answer.previous, vote.answer.question])}\t{where}"
        )
    return EXIT_OK


def _feeds(settings: Settings, args: argparse.Namespace) -> int:
    import asyncio

    from retrieval.layout import BASE_LIBRARY
    from retrieval.subscriptions import LibraryFeeds

    retriever = _retriever(settings)
    feeds = LibraryFeeds(retriever)
    library = settings.library or BASE_LIBRARY
    if args.action == "add":
        added = asyncio.run(feeds.add(args.url, library))
        if args.json:
            print(json.dumps({**added.to_json(), "library": library}, ensure_ascii=False))
        else:
            print(
                f"Subscribed {library} to {added.title} ({added.url}): {counted(added.items, 'item')} now; "
                "`citebot feeds poll` fetches them."
            )
        return EXIT_OK
    if args.action == "remove":
        removed = feeds.remove(args.url, library)
        print(f"Unsubscribed {library} from {removed.title} ({removed.url}); the articles it brought stay.")
        return EXIT_OK
    if args.action == "list":
        subscriptions = feeds.list(library)
        if args.json:
            rows = [{**feed.to_json(), "library": library} for feed in subscriptions]
            print(json.dumps(rows, ensure_ascii=False))
        elif not subscriptions:
            hint = (
                "the writer subscribes to them"
                if settings.read_only
                else "`citebot feeds add URL` subscribes to one"
            )
            print(f"No feeds in {library}: {hint}.")
        else:
            print("title\turl\tlast polled\tnext poll\terrors\tlast error")
            for feed in subscriptions:
                print(
                    f"{feed.title}\t{feed.url}\t{feed.last_polled or '-'}\t{feed.next_poll or 'now'}\t"
                    f"{feed.errors}\t{feed.last_error or '-'}"
                )
        return EXIT_OK
    report = asyncio.run(feeds.poll(library, force=args.force))
    # Indexes whatever this poll, or an earlier one cut short, saved (a no-op when nothing is
    # new); a library whose feeds have brought nothing yet has no folder to index.
    folder = retriever.articles_folder(library)
    indexed = IndexReport()
    if report.added or report.revised or (folder.is_dir() and any(folder.iterdir())):
        indexed = _with_progress(
            lambda progress: retriever.index(
                folder, progress=progress, library=None if library == BASE_LIBRARY else library
            ),
            quiet=args.json,
        )
    report.errors.extend(
        f"{name}: not indexed: {indexed.skipped[name]}" for name in report.added if name in indexed.skipped
    )
    # A feed that failed fails the command (for cron and scripts), once everything the
    # others brought is saved and indexed.
    code = EXIT_FAILURE if any(result.error for result in report.feeds) else EXIT_OK
    if args.json:
        print(json.dumps(report.to_json(), ensure_ascii=False))
        return code
    if not report.feeds:
        print(f"No feed of {library} is due (`--force` polls them all now).")
    for result in report.feeds:
        print(
            f"{result.title} ({result.url}): "
            + (f"failed: {result.error}" if result.error else f"{result.new} new")
        )
    if report.revised:
        print(f"Saved again, as their feed changed them: {', '.join(report.revised)}")
    for problem in report.errors:
        if not any(problem == f"{r.url}: {r.error}" for r in report.feeds):
            print(f"citebot: warning: {problem}", file=sys.stderr)
    if indexed.modified:
        print(
            f"Indexed {counted(len(indexed.added) + len(indexed.changed), 'new or changed article')} "
            f"into {library} ({counted(indexed.chunks_embedded, 'passage')} embedded "
            f"in {indexed.seconds:.2f} s)"
        )
    elif report.feeds:
        print("Nothing new to index.")
    return code


def _info(settings: Settings, args: argparse.Namespace) -> int:
    retriever = _retriever(settings)
    facts: dict[str, object] = {
        "version": _version(),
        # A read-only replica reads no folder: the writer's is wherever the writer runs.
        "articles_dir": None if settings.read_only else str(settings.articles_dir),
        "data_dir": str(settings.data_dir),
        "store": (
            f"Chroma server {settings.chroma_host}:{settings.chroma_port}"
            if settings.chroma_host
            else f"embedded Chroma in {retriever.folder.chroma}"
        ),
        "collection": settings.collection,
        "model": retriever.model_identity,
        "role": "read-only" if settings.read_only else "writer",
        "library": settings.library or "base",
    }
    # What is read from the store comes last: when the store cannot be read, the settings
    # above are what the user needs to see, so they are shown with the reason.
    try:
        libraries = retriever.libraries()
        facts["libraries"] = {
            name: {"articles": r.articles, "passages": r.passages, "generation": r.generation}
            for name, r in sorted(libraries.items())
        }
        sources = retriever.sources()
        facts["articles"] = len(sources)
        facts["passages"] = sum(s.chunks for s in sources)
        problem = None
    except StoreUnavailableError as error:
        problem = str(error)
        facts.update(libraries=None, articles=None, passages=None, error=problem)
    if args.json:
        print(json.dumps(facts, ensure_ascii=False))
    else:
        _print_facts(facts)
    if problem is not None:
        print(f"citebot: error: {problem}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _print_facts(facts: dict[str, object]) -> None:
    shown = {name: value for name, value in facts.items() if name != "error"}
    width = max(map(len, shown))
    for name, value in shown.items():
        if "error" in facts and name in ("libraries", "articles", "passages"):
            value = "unknown: the store cannot be read"
        elif name == "libraries":
            parts = [f"{n} ({counted(v['articles'], 'article')})" for n, v in value.items()]
            value = ", ".join(parts) or "none yet"
        elif value is None:
            value = "none (read-only: the writer reads its own)"
        print(f"{name.replace('_', ' '):<{width}}  {value}")


def _libraries(settings: Settings, args: argparse.Namespace) -> int:
    from retrieval.service import check_library
    from retrieval.subscriptions import LibraryFeeds

    retriever = _retriever(settings)
    if args.action == "list":
        feeds = LibraryFeeds(retriever)
        rows = [
            {
                "name": name,
                "articles": record.articles,
                "passages": record.passages,
                "feeds": len(feeds.list(name)),
                "indexed_at": datetime.fromtimestamp(record.updated_at, UTC).isoformat(timespec="seconds"),
            }
            for name, record in sorted(retriever.libraries().items())
        ]
        if args.json:
            print(json.dumps(rows, ensure_ascii=False))
            return EXIT_OK
        if not rows:
            print(_nothing_indexed(settings))
        for row in rows:
            counts = [counted(row[key], key[:-1]) for key in ("articles", "passages", "feeds")]
            print("\t".join([row["name"], *counts, f"indexed {row['indexed_at']}"]))
        return EXIT_OK
    from retrieval.layout import BASE_LIBRARY

    # What cannot be removed is refused before anyone is asked.
    refused = settings.read_only or args.name == BASE_LIBRARY
    record = None if refused else retriever.registry.record(check_library(args.name))
    what = args.name
    if record is not None:
        what += f" ({counted(record.articles, 'article')}, {counted(record.passages, 'passage')})"
        if not args.yes and not _consent(f"Remove the library {what}, its feeds and its saved articles?"):
            print(
                f"citebot: error: nothing was removed; removing {what} needs consent "
                "(answer y in a terminal, or pass --yes)",
                file=sys.stderr,
            )
            return EXIT_FAILURE
    removed = retriever.remove_library(args.name)
    left = "" if removed is not None else " (what an interrupted removal had left)"
    print(f"Removed the library {what}{left}: its passages, feeds and saved articles.")
    return EXIT_OK


def _consent(question: str) -> bool:
    """Whether the user answers yes to ``question`` in a terminal (never without one)."""
    if not sys.stdin.isatty():
        return False
    try:
        return input(f"{question} [y/N] ").strip().lower() in ("y", "yes", "o", "oui")
    except EOFError:
        return False


def _run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        from bot.main import run_bot
    except ImportError as error:
        print(f"citebot: error: the Discord bot cannot start ({error})", file=sys.stderr)
        return EXIT_FAILURE
    return run_bot(settings)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
