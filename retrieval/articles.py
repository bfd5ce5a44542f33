"""Reading the articles folder: text, Markdown and HTML files in, clean articles out.

A file that cannot be used (binary, empty, undecodable, oversized, broken) is
skipped with a reason; the rest of the folder is still read. Text is read as UTF-8,
UTF-16 with a byte order mark, or Windows-1252 (with a warning).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import os
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from retrieval.errors import ArticlesDirError
from retrieval.metadata import ArticleMetadata, html_metadata, metadata_from_mapping
from retrieval.models import Article

log = logging.getLogger(__name__)
# The HTML reader's complaints about a page ("discarding data: None", "parsed tree length: 1,
# wrong data type or not valid HTML") would only repeat, less clearly, the skip reason given.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

ARTICLE_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".html", ".htm"})
SIDECAR_SUFFIX = ".meta.json"
TITLE_MAX_CHARS = 150
LEDE_TITLE_CHARS = 80


#: Fewer words than this in a page's main text: no article in it.
MIN_PAGE_WORDS = 3


class ArticleSkipped(Exception):
    """The file is not a usable article; the message says why."""


@dataclass(frozen=True)
class ArticleFile:
    """A candidate article on disk and the hash of what it holds.

    ``stamp`` names the file's state (size, modification and change times, inode,
    and the same for its sidecar): while it is unchanged the hash is not computed again.
    """

    path: Path
    source_id: str
    sha256: str
    stamp: str = ""


def scan_folder(
    folder: Path, max_bytes: int, known: Mapping[str, tuple[str, str]] | None = None
) -> tuple[list[ArticleFile], dict[str, str]]:
    """List the article files of ``folder`` with their content hashes.

    Args:
        folder: the articles folder.
        max_bytes: larger files are skipped.
        known: ``{file name: (stamp, sha256)}`` from the last run; a file whose stamp
            is the same keeps its hash without being read.

    Returns:
        The article files, sorted by source id, and ``{file name: reason}`` for the
        files skipped before reading (unsupported type, oversized, unreadable).

    Raises:
        ArticlesDirError: the folder does not exist or is not a folder.
    """
    if not folder.exists():
        raise ArticlesDirError(f"articles folder not found: {folder}")
    if not folder.is_dir():
        raise ArticlesDirError(f"articles folder is not a folder: {folder}")
    known = known or {}
    files: list[ArticleFile] = []
    skipped: dict[str, str] = {}
    with os.scandir(folder) as listing:
        entries = sorted(listing, key=lambda e: e.name)
    names = {entry.name: entry for entry in entries}
    for entry in entries:
        name = entry.name
        if name.startswith(".") or name.endswith(SIDECAR_SUFFIX):
            continue
        path = Path(entry.path)
        try:
            if entry.is_dir():
                # Moved into a subfolder (an archive/2026/ of older stories), an article would
                # leave the index without a word: say that folders are not read.
                if _holds_articles(path):
                    skipped[name] = "a folder: the articles in subfolders are not indexed"
                continue
            if not entry.is_file():
                continue
        except OSError:
            continue
        if path.suffix.lower() not in ARTICLE_SUFFIXES:
            skipped[name] = f"unsupported file type {path.suffix or '(none)'}"
            continue
        try:
            info = entry.stat()
            if info.st_size > max_bytes:
                skipped[name] = f"too large ({info.st_size:,} bytes, limit {max_bytes:,})"
                continue
            sidecar = names.get(name + SIDECAR_SUFFIX)
            stamp = _stamp(info)
            if sidecar is not None:
                stamp += "+" + _stamp(sidecar.stat())
            previous = known.get(name)
            if previous is not None and previous[0] == stamp and previous[1]:
                files.append(ArticleFile(path=path, source_id=name, sha256=previous[1], stamp=stamp))
                continue
            digest = hashlib.sha256(path.read_bytes())
            if sidecar is not None:
                digest.update(b"\0sidecar\0" + Path(sidecar.path).read_bytes())
        except OSError as error:
            skipped[name] = f"cannot be read ({error.strerror or error})"
            continue
        files.append(ArticleFile(path=path, source_id=name, sha256=digest.hexdigest(), stamp=stamp))
    return files, skipped


def _holds_articles(folder: Path, most: int = 10_000) -> bool:
    """Whether ``folder`` or a folder in it holds an article file (links to folders are not
    followed; after ``most`` names, the answer is no)."""
    seen = 0
    for parent, folders, names in os.walk(folder):
        folders[:] = [f for f in folders if not f.startswith(".")]
        if any(not n.startswith(".") and Path(n).suffix.lower() in ARTICLE_SUFFIXES for n in names):
            return True
        seen += len(names) + len(folders)
        if seen > most:
            return False
    return False


def _stamp(info: os.stat_result) -> str:
    # ctime cannot be set back by tools that preserve mtime (cp -p, rsync -t, touch -d),
    # and a replaced file (editors write a new one) has another inode.
    return f"{info.st_size}:{info.st_mtime_ns}:{info.st_ctime_ns}:{info.st_ino}"


def read_article(file: ArticleFile, max_bytes: int) -> Article:
    """Read one article file into an :class:`Article`.

    Raises:
        ArticleSkipped: the file is binary, empty, undecodable, oversized or broken.
    """
    try:
        raw = file.path.read_bytes()
    except OSError as error:
        raise ArticleSkipped(f"cannot be read ({error.strerror or error})") from None
    if len(raw) > max_bytes:
        raise ArticleSkipped(f"too large ({len(raw):,} bytes, limit {max_bytes:,})")
    content = _decode(raw, file.source_id)
    if _looks_binary(content):
        raise ArticleSkipped("binary file (mostly control characters)")

    found = ArticleMetadata()
    suffix = file.path.suffix.lower()
    if suffix in {".html", ".htm"}:
        text, found = html_to_text(content)
    elif suffix in {".md", ".markdown"}:
        text, front = _split_front_matter(content, file.source_id)
        found = metadata_from_mapping(front, f"{file.source_id} front matter")
        text = markdown_to_text(text)
    else:
        text = content
    sidecar = _read_sidecar(file.path)
    if sidecar:
        found = found.overridden_by(metadata_from_mapping(sidecar, file.source_id + SIDECAR_SUFFIX))
    text = normalise_text(text)
    if not text:
        raise ArticleSkipped("empty (no text after extraction)")

    title = _clean_title(found.title) or _headline(text) or _lede_title(text)
    return Article(
        source_id=file.source_id,
        title=title,
        text=text,
        language=found.language or detect_language(text),
        sha256=file.sha256,
        url=found.url,
        published=found.published,
        author=found.author,
        site=found.site,
    )


def iter_articles(folder: Path, max_bytes: int) -> Iterator[Article | tuple[str, str]]:
    """Yield every readable article of ``folder``, or ``(name, reason)`` for a skipped file."""
    files, skipped = scan_folder(folder, max_bytes)
    yield from skipped.items()
    for file in files:
        try:
            yield read_article(file, max_bytes)
        except ArticleSkipped as why:
            yield (file.source_id, str(why))


def normalise_text(text: str) -> str:
    """Unify line ends and spaces; keep paragraphs apart with one blank line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    text = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", "", text)
    lines = [re.sub(r"[ \t\u200b]+", " ", line).strip() for line in text.split("\n")]
    paragraphs: list[str] = []
    block: list[str] = []
    for line in [*lines, ""]:
        if line:
            block.append(line)
        elif block:
            paragraphs.extend(_unwrap(block))
            block = []
    return "\n\n".join(paragraphs)


def _unwrap(lines: list[str]) -> list[str]:
    """Join hard-wrapped lines of one block; keep lines that are paragraphs apart."""
    if len(lines) < 3:
        return lines
    wrapped = sum(1 for line in lines[:-1] if not re.search(r"[.!?:»\"”)]$", line))
    widths = [len(line) for line in lines[:-1]]
    if wrapped >= 0.6 * (len(lines) - 1) and min(widths) >= 30 and max(widths) <= 100:
        return [" ".join(lines)]
    return lines


#: The languages told apart; a short text otherwise comes out as a rare language
#: ("Who was the Norse leader?" was Nigerian Pidgin).
LANGUAGES = (
    "en",
    "fr",
    "de",
    "es",
    "it",
    "pt",
    "nl",
    "sv",
    "da",
    "no",
    "fi",
    "pl",
    "cs",
    "ro",
    "hu",
    "el",
    "tr",
    "ru",
    "uk",
    "ar",
    "he",
    "fa",
    "hi",
    "zh",
    "ja",
    "ko",
    "vi",
    "id",
)


@lru_cache(maxsize=1)
def _identifier():  # type: ignore[no-untyped-def]
    from py3langid import langid

    langid.set_languages(list(LANGUAGES))
    return langid


def detect_language(text: str) -> str:
    """ISO 639-1 code of the text's language, ``und`` when it cannot be told."""
    sample = text[:5000]
    if len(re.findall(r"\w+", sample)) < 3:
        return "und"
    code, _ = _identifier().classify(sample)
    return str(code)


#: A character of two, three or four bytes in UTF-8.
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


def _stray_bytes(error: UnicodeError) -> tuple[str, int]:
    """A byte that is not UTF-8 in UTF-8 text, read as Windows-1252 (0x92 is "’")."""
    if not isinstance(error, UnicodeDecodeError):
        raise error
    return error.object[error.start : error.end].decode("cp1252", errors="replace"), error.end


_STRAY_BYTES = "citebot-stray-bytes"
codecs.register_error(_STRAY_BYTES, _stray_bytes)


def short_text(raw: bytes) -> str:
    """A line a person typed (a question): UTF-8, with any byte that is not read as
    Windows-1252, the Latin-1 of older French and English terminals and files."""
    return raw.decode("utf-8-sig", errors=_STRAY_BYTES)


def _decode(raw: bytes, name: str) -> str:
    """A file's text: UTF-8 (with or without a byte order mark), UTF-16 with its byte order
    mark (Windows' "Unicode"), or else Windows-1252, the Latin-1 of older French and English
    files, when the bytes read as such text. UTF-8 with a few bytes that are not (fewer than
    its characters of several bytes) has those read as Windows-1252. A warning says which.

    Raises:
        ArticleSkipped: binary, or text in none of these encodings.
    """
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = raw.decode("utf-16")
        except UnicodeDecodeError as error:
            raise ArticleSkipped(f"not valid UTF-16 text (byte {error.start})") from None
        sample = text[:4096]
        odd = sum(1 for ch in sample if unicodedata.category(ch) in {"Cn", "Co"})
        if odd > len(sample) / 100:  # any two bytes decode: binary is unassigned and private characters
            raise ArticleSkipped("binary file (not UTF-16 text despite its byte order mark)")
        return text
    if b"\x00" in raw[:8192]:
        raise ArticleSkipped("binary file (contains NUL bytes)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        reason = f"not valid UTF-8 text (byte {error.start})"
    bad = raw.decode("utf-8-sig", errors="replace").count("\ufffd")
    if len(_UTF8_SEQUENCE.findall(raw)) >= bad:  # UTF-8 with a few stray bytes (a pasted quote)
        count = "1 byte is" if bad == 1 else f"{bad} bytes are"
        log.warning("%s: %s not UTF-8: read as Windows-1252", name, count)
        return raw.decode("utf-8-sig", errors=_STRAY_BYTES)
    try:
        text = raw.decode("cp1252")
    except UnicodeDecodeError:
        raise ArticleSkipped(reason) from None
    if not _reads_as_latin_text(text):
        raise ArticleSkipped(reason)
    log.warning("%s is not UTF-8: read as Windows-1252 (Latin-1)", name)
    return text


def _reads_as_latin_text(text: str) -> bool:
    """Whether Windows-1252 text reads as a Latin-script language: letters mostly ASCII.

    Another encoding read as Windows-1252 (Shift-JIS, GBK, KOI8-R…) is mostly accented
    letters and symbols; French has at most a few accented letters in ten."""
    letters = [ch for ch in text[:20000] if ch.isalpha()]
    if not letters:
        return False
    foreign = sum(1 for ch in letters if not ch.isascii())
    return foreign / len(letters) <= 0.2


def _looks_binary(content: str) -> bool:
    sample = content[:4096]
    if not sample:
        return False
    control = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\n\r\t\f")
    return control / len(sample) > 0.05


def _sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + SIDECAR_SUFFIX)


def _read_sidecar(path: Path) -> dict[str, object]:
    sidecar = _sidecar_path(path)
    if not sidecar.is_file():
        return {}
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        log.warning("%s: sidecar metadata ignored (%s)", sidecar.name, error)
        return {}
    return data if isinstance(data, dict) else {}


#: A Markdown file's front matter: a YAML block between two ``---`` lines (or ``...``) at its top.
_FRONT_MATTER = re.compile(
    r"\A---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL | re.MULTILINE
)


#: Front matter opens with a key (after blank or comment lines): ``title: …``.
_FIRST_KEY = re.compile(r"(?:[ \t]*(?:#[^\n]*)?\r?\n)*[ \t]*[\w\"'-][^:\n]*:(?:[ \t]|\r?\n|$)")


def _split_front_matter(content: str, name: str) -> tuple[str, dict[str, object]]:
    """A Markdown file's text without its front matter, and the front matter's keys. The
    block is never part of the text, even when its YAML cannot be read; dates stay text,
    so one impossible date is dropped on its own (see :func:`metadata_from_mapping`)."""
    found = _FRONT_MATTER.match(content)
    if found is not None and not _FIRST_KEY.match(found.group(1)):
        return content, {}  # a rule above the text, not front matter: "---\n# Headline…\n---"
    if found is None:
        if content.startswith("---") and re.match(r"---[ \t]*\r?\n\w+:", content):
            log.warning("%s: front matter never closed by a --- line: read as text", name)
        return content, {}
    import yaml

    class TextDates(yaml.SafeLoader):
        """YAML's safe loader with dates left as text."""

    TextDates.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    body = content[found.end() :]
    try:
        data = yaml.load(found.group(1), Loader=TextDates)
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 2}" if where is not None else ""
        log.warning("%s: front matter ignored (not YAML%s)", name, line)
        return body, {}
    if not isinstance(data, dict):
        log.warning("%s: front matter ignored (not a list of keys and values)", name)
        return body, {}
    return body, {str(key): value for key, value in data.items()}


_MARKDOWN = (
    (re.compile(r"^[ \t]*(?:```|~~~).*$", re.MULTILINE), ""),  # code fences (their lines stay)
    (re.compile(r"^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$", re.MULTILINE), ""),  # horizontal rules
    (re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE), r"\1"),  # headings
    (re.compile(r"^[ \t]{0,3}>[ \t]?", re.MULTILINE), ""),  # quotations
    (re.compile(r"!\[([^\]]*)\]\([^)\s]*(?:\s+\"[^\"]*\")?\)"), r"\1"),  # images: their text
    (re.compile(r"\[([^\]]+)\]\([^)\s]*(?:\s+\"[^\"]*\")?\)"), r"\1"),  # links: their text
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),  # strong
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"), r"\1"),  # emphasis
    (re.compile(r"`([^`\n]+)`"), r"\1"),  # code
)


def markdown_to_text(text: str) -> str:
    """Markdown as the words a reader sees: headings, quotations, emphasis, links and
    images without their marks (a passage quoted in Discord or a terminal would show them)."""
    for pattern, replacement in _MARKDOWN:
        text = pattern.sub(replacement, text)
    return text


def html_to_text(content: str, url: str | None = None) -> tuple[str, ArticleMetadata]:
    """The main text of an HTML page, without its furniture, and the page's metadata.

    This is how the indexer reads an HTML article; whoever saves pages for it (the feed
    poller) calls it to know in advance what will be indexed.

    Args:
        content: the page's HTML.
        url: where the page came from, to resolve a relative canonical link.

    Raises:
        ArticleSkipped: the markup cannot be parsed or holds no main text.
    """
    import trafilatura

    try:
        document = trafilatura.bare_extraction(
            content,
            with_metadata=True,
            include_comments=False,
            favor_recall=True,
            # The date is read by html_metadata; this keeps htmldate from a search of the text.
            date_extraction_params={"extensive_search": False, "original_date": True},
        )
    except Exception as error:  # noqa: BLE001 - lxml raises several types on broken markup
        raise ArticleSkipped(f"HTML could not be parsed ({error})") from None
    if document is None or not (document.text or "").strip():
        raise ArticleSkipped("HTML holds no main text")
    text = "\n\n".join(line for line in document.text.split("\n") if line.strip())
    if document.title and text.startswith(document.title):
        text = text[len(document.title) :].lstrip()
    words = len(re.findall(r"\w+", text))
    if words < MIN_PAGE_WORDS:  # a menu, a cookie banner: what is left of a page with no article
        raise ArticleSkipped(f"HTML holds no article text (only {words} {'word' if words == 1 else 'words'})")
    meta = html_metadata(content, url=url, extracted=document)
    return text, meta


def _clean_title(value: object) -> str:
    if not isinstance(value, str) or not value:
        return ""
    title = re.sub(r"\s+", " ", str(value)).strip()
    return title[:TITLE_MAX_CHARS]


def _headline(text: str) -> str:
    """The first paragraph, when it reads like a headline: one short line, no final stop."""
    first = text.split("\n\n", 1)[0]
    one_short_line = (
        len(first) <= TITLE_MAX_CHARS and "\n" not in first and not re.search(r"[.!?:;,]$", first)
    )
    if one_short_line and len(re.findall(r"\w+", first)) >= 2 and "\n\n" in text:
        return first
    return ""


def _lede_title(text: str) -> str:
    first = text.split("\n\n", 1)[0]
    if len(first) <= LEDE_TITLE_CHARS:
        return first
    cut = first[:LEDE_TITLE_CHARS].rsplit(" ", 1)[0]
    return cut.rstrip(",;:") + "…"
