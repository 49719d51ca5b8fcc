"""How a CSV file is written: its encoding, delimiter and line ending, detected or declared.

The encoding is read from a byte-order mark when there is one (UTF-8,
UTF-16, UTF-32); else a sample that decodes as UTF-8 is UTF-8 (a few stray bytes
among many UTF-8 characters are bad rows, not another encoding); else
charset-normalizer decides on it (GB2312 and GBK are read as their superset
GB18030, which also wins a tie with another CJK codec: a short Chinese sample
often fits Korean's CP949 just as well). charset-normalizer cannot tell the
common single-byte code pages apart on names (Western cp1252, Central
European cp1250, Turkish, Cyrillic, Greek), nor Japanese from Korean: each
reading is scored by how many of its letters beyond ASCII are its languages'
own, in words shaped like words, and the best wins (François Lefèvre, not
François Lefčvre; Łódź, not £ódŸ); a tie goes to the more common code page.
The sample is the first 64 KiB, or,
when those are plain ASCII, 64 KiB from the first line that is not. Given
the mapping's column names, a guess of charset-normalizer's gives way to a
codec that reads more of the header as them (see ``headcodec``). The
delimiter is the one of ``,`` ``;`` and tab that splits the first rows into
the most consistent columns; Excel's ``sep=;`` first line declares it
outright (and is kept when the file is rewritten).
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from connectors.csv.headcodec import mostly_decodes, reads_header_best
from crmbridge.errors import PermanentError

__all__ = ["SAMPLE_BYTES", "Dialect", "detect_dialect", "detect_encoding", "sniff_delimiter"]

SAMPLE_BYTES: Final = 64 * 1024
DELIMITERS: Final = (",", ";", "\t")

_BOMS: Final = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_COMMON: Final = (
    "cp1252",
    "iso8859-15",
    "iso8859-1",
    "cp1250",
    "iso8859-2",
    "cp1251",
    "koi8-r",
    "cp1253",
    "cp1254",
    "cp1257",
    "cp932",
    "euc_jp",
    "cp949",
    "euc_kr",
    "big5",
)
"""Codecs files are commonly written in, by preference where they read a sample alike."""
# letters Western European names use (not the rare ÿ þ ð ý œ š ž a Central European or
# Turkish text read as cp1252 shows in their place)
_WESTERN: Final = frozenset("àáâãäåæçèéêëìíîïñòóôõöøùúûüßÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÑÒÓÔÕÖØÙÚÛÜ")
# (not Romanian's old ţ Ţ, the bytes of Turkish ş Ş in cp1254)
_CENTRAL: Final = frozenset(
    "ąćęłńóśźżčďěňřšťůžáéíýúöüőűăâîșşĺľŕäôĄĆĘŁŃÓŚŹŻČĎĚŇŘŠŤŮŽÁÉÍÝÚÖÜŐŰĂÂÎȘŞĹĽŔÄÔ"
)


def _in(low: int, high: int) -> Callable[[str], bool]:
    return lambda ch: low <= ord(ch) <= high


def _japanese(ch: str) -> bool:
    return 0x3040 <= ord(ch) <= 0x30FF or 0x4E00 <= ord(ch) <= 0x9FFF


_NATIVE: Final[dict[str, Callable[[str], bool]]] = {
    "cp1252": _WESTERN.__contains__,
    "iso8859-15": _WESTERN.__contains__,
    "iso8859-1": _WESTERN.__contains__,
    "cp1250": _CENTRAL.__contains__,
    "iso8859-2": _CENTRAL.__contains__,
    "cp1251": _in(0x0400, 0x04FF),
    "koi8-r": _in(0x0400, 0x04FF),
    "cp1253": _in(0x0370, 0x03FF),
    "cp1254": _WESTERN.union("ğışĞİŞ").__contains__,
    "cp1257": frozenset("ąčęėįšųūžĄČĘĖĮŠŲŪŽāēģīķļņōŗĀĒĢĪĶĻŅŌŖõäöüÕÄÖÜ").__contains__,
    "cp932": _japanese,  # kana and kanji
    "euc_jp": _japanese,
    "cp949": _in(0xAC00, 0xD7A3),  # Hangul syllables
    "euc_kr": _in(0xAC00, 0xD7A3),
    "big5": _in(0x4E00, 0x9FFF),
}
"""Per common codec, whether a letter belongs to the languages written in it."""

_WORDS: Final = re.compile(r"[^\W\d_]+")
_CONTROLS: Final = re.compile("[\x80-\x9f]")
_MULTI_BYTE: Final = frozenset({"cp932", "euc_jp", "cp949", "euc_kr", "big5", "gb18030"})
_LATIN: Final = frozenset(_COMMON) - _MULTI_BYTE
"""What a single-byte file may be in, whichever of them charset-normalizer names."""
_OTHER_SCRIPT: Final = frozenset({"cp1251", "koi8-r", "cp1253"})
_CHINESE: Final = frozenset({"gb2312", "gbk", "gb18030", "hz", "cp936", "euc_cn"})
_SEP_LINE: Final = re.compile(r"sep=(.)\r?\n")
_NON_ASCII: Final = re.compile(rb"[\x80-\xff]")
_UNICODE: Final = frozenset(
    {"utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-32-be"}
)
_LEGACY: Final = ("gb18030", *_COMMON)
"""The codecs a header may tell a legacy file is in, by preference."""


@dataclass(frozen=True, slots=True)
class Dialect:
    """The encoding, delimiter and line ending of one file.

    ``sep_line`` says the file starts with Excel's ``sep=X`` line, which is
    skipped on reading and written back on a rewrite; ``quote_all`` that its
    header quotes every name (as Zoho's exports quote every cell), so rows
    written into it are quoted so too.
    """

    encoding: str
    delimiter: str = ","
    newline: str = "\r\n"
    sep_line: bool = False
    quote_all: bool = False
    ascii_only: bool = False
    """the file holds ASCII alone (read as UTF-8): the first text beyond it gets a BOM, without
    which Excel on a Chinese Windows reads UTF-8 as GBK"""

    def writing(self, values: Iterable[str]) -> str:
        """The codec to write ``values`` into the file with."""
        if self.ascii_only and not all(value.isascii() for value in values):
            return "utf-8-sig"
        return self.encoding

    @property
    def quoting(self) -> Literal[0, 1]:
        """The ``csv`` module's quoting for rows written into the file (all, or minimal)."""
        return csv.QUOTE_ALL if self.quote_all else csv.QUOTE_MINIMAL


def detect_encoding(sample: bytes, path: Path | str = "") -> str:
    """The codec of ``sample`` (the start of a file); :class:`PermanentError` if there is none."""
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    if not sample:
        return "utf-8"
    # UTF-16 puts a zero byte beside every ASCII character; a stray one is a bad cell
    if sample.count(0) >= max(2, len(sample) // 50):
        even, odd = sample[0::2].count(0), sample[1::2].count(0)
        if odd > 3 * even:
            return "utf-16-le"
        if even > 3 * odd:
            return "utf-16-be"
    if mostly_decodes(sample, "utf-8"):
        return "utf-8"
    from charset_normalizer import from_bytes

    whole = _whole_lines(sample)
    matches = list(from_bytes(whole))
    best = matches[0] if matches else None
    if best is None:
        raise PermanentError(
            f"{path}: cannot tell the encoding of this file (is it a CSV file?); "
            "declare it with `encoding:` in the connector's settings"
        )
    # a short sample often fits several CJK codecs equally well: a tie goes to GB18030
    tied = [m for m in matches if m.chaos <= best.chaos]
    chinese = next((m for m in tied if codecs.lookup(m.encoding).name in _CHINESE), None)
    if chinese is not None:
        return "gb18030"
    # the codecs people's files are in tie with each other on most samples (Western cp1252
    # and Central European cp1250, Japanese cp932 and Korean cp949): charset-normalizer
    # cannot tell them apart, but the text can: each reading is scored by how much of what
    # it reads beyond ASCII is its own language's letters. The candidates: the common codecs
    # among the tied ones, any common codec reading the sample as the best does, and for a
    # single-byte file every common single-byte codec (whichever charset-normalizer names);
    # rarer codecs that tie (Mac Icelandic ...) are not taken
    common = [codecs.lookup(m.encoding).name for m in tied]
    latin = not any(name in _MULTI_BYTE for name in common)
    readings = {name: _reads_as(whole, name) for name in _COMMON}  # each decoded once
    candidates = [
        name
        for name, text in readings.items()
        if name in common or (latin and name in _LATIN and text is not None) or text == str(best)
    ]
    if not candidates:
        return codecs.lookup(best.encoding).name
    scored = [(_native_share(readings[name] or "", name), name) for name in candidates]
    top = max(score for score, _ in scored)
    return next(name for score, name in scored if score == top)  # ties: the more common


def _reads_as(data: bytes, name: str) -> str | None:
    try:
        return data.decode(name)
    except UnicodeDecodeError:
        return None


def _native_share(text: str, codec: str) -> float:
    """The share of ``text``'s letters beyond ASCII that read as its languages' own.

    A letter counts in a word that looks like one (capital first or throughout, as
    names are: a Greek name misread as Cyrillic is not); in a Cyrillic or Greek codec only in a
    word of two letters or more and no ASCII (a Latin text misread so shows such
    letters inside Latin words).
    """
    native = _NATIVE.get(codec)
    if native is None:
        return 0.0
    if _CONTROLS.search(text):
        return -1.0  # bytes this codec leaves as control characters: not text in it
    other = codec in _OTHER_SCRIPT
    total = hits = 0
    for word in _WORDS.findall(text):
        wide = [ch for ch in word if ord(ch) > 0x7F]
        if not wide:
            continue
        total += len(wide)
        if other and (len(word) < 2 or any(ch.isascii() for ch in word)):
            continue
        if _looks_like_a_word(word):
            hits += sum(1 for ch in wide if native(ch))
    return hits / total if total else 0.0


def _looks_like_a_word(word: str) -> bool:
    rest = word[1:]
    cased = any(ch.isupper() or ch.islower() for ch in word)
    return not cased or word.islower() or word.isupper() or (word[0].isupper() and rest.islower())


def _whole_lines(sample: bytes) -> bytes:
    """``sample`` up to its last line end.

    A sample cut at a byte count may end inside a character, which rules out the right
    codec; no CJK codec uses the byte of a line feed inside a character, so whole lines
    are safe.
    """
    end = sample.rfind(b"\n")
    return sample[: end + 1] if end > 0 else sample


def _telling_sample(path: Path, head: bytes) -> bytes:
    """Bytes that tell the file's encoding: ``head``, unless it is plain ASCII.

    Plain ASCII decodes as almost anything, so a GBK file whose first rows are
    English would pass as UTF-8 and lose its Chinese rows further down. For
    such a head the file is scanned on to its first non-ASCII bytes, and the
    lines from there are the sample.
    """
    if not head.isascii() or len(head) < SAMPLE_BYTES or b"\x00" in head:
        return head
    try:
        with path.open("rb") as handle:
            handle.seek(len(head))
            offset, tail = len(head), b""
            while chunk := handle.read(1024 * 1024):
                found = _NON_ASCII.search(chunk)
                if found is not None:
                    line = (tail + chunk).rfind(b"\n", 0, len(tail) + found.start()) + 1
                    handle.seek(offset - len(tail) + line)
                    return handle.read(SAMPLE_BYTES)
                offset += len(chunk)
                tail = chunk[-256:]
    except OSError as exc:
        raise PermanentError(f"{path}: cannot read the file: {exc.strerror}") from None
    return head


def sniff_delimiter(text: str) -> str:
    """The delimiter among ``,`` ``;`` and tab that splits ``text`` into the most even columns."""
    cut = max(text.rfind("\n"), text.rfind("\r"), 0)
    sample = text[:cut] if cut else text
    best, best_score = ",", (False, 0.0, 0)
    for delimiter in DELIMITERS:
        try:
            rows = [
                r
                for r in itertools.islice(
                    csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter), 50
                )
                if r
            ]
        except csv.Error:
            continue
        if not rows:
            continue
        width = len(rows[0])
        even = sum(len(r) == width for r in rows) / len(rows)
        score = (width > 1, even, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def detect_dialect(
    path: Path,
    encoding: str = "auto",
    delimiter: str = "auto",
    recognised: Callable[[Sequence[str]], int] | None = None,
) -> Dialect:
    """Read the start of ``path`` and tell its dialect; declared settings win over detection.

    ``recognised`` counts the cells of a header row that name columns the file's mapping
    knows: with it, a file in a legacy codec is read in the one naming the most of them.
    """
    try:
        with path.open("rb") as handle:
            sample = handle.read(SAMPLE_BYTES)
    except OSError as exc:
        raise PermanentError(f"{path}: cannot read the file: {exc.strerror}") from None
    ascii_only = False
    if encoding == "auto":
        telling = _telling_sample(path, sample)
        codec = detect_encoding(telling, path)
        ascii_only = codec == "utf-8" and telling.isascii()
        if recognised is not None and codec not in _UNICODE:
            codec = reads_header_best(_whole_lines(sample), codec, _LEGACY, recognised, delimiter)
    else:
        codec = codecs.lookup(encoding).name
        if codec == "utf-8" and sample.startswith(codecs.BOM_UTF8):
            codec = "utf-8-sig"
    try:
        text = codecs.getincrementaldecoder(codec)(errors="replace").decode(sample, final=False)
    except UnicodeError as exc:  # utf-16 or utf-32 declared for a file with no byte-order mark
        raise PermanentError(
            f"{path}: cannot be read as {encoding}, the encoding the connector's settings "
            f"declare ({exc}); declare the file's own encoding (utf-16-le, utf-16-be, ...) "
            "or `encoding: auto`"
        ) from None
    text = text.removeprefix("\ufeff")
    # control, private-use, unassigned or undecodable characters: binary, or the wrong codec
    odd = sum(1 for ch in text if ch not in "\t\r\n" and unicodedata.category(ch)[0] == "C")
    if odd > max(2, len(text) // 100):  # a few are bad cells (a NUL, a stray byte), not binary
        raise PermanentError(
            f"{path}: does not look like text in {codec} (is it a CSV file?); "
            "declare `encoding:` in the connector's settings if it is"
        )
    sep = _SEP_LINE.match(text)
    if sep:
        text = text[sep.end() :]
    if sep and delimiter == "auto":
        delimiter = sep.group(1)
    elif delimiter == "auto":
        delimiter = sniff_delimiter(text)
    end = text.find("\n")
    if end < 0 and "\r" in text:
        newline = "\r"  # classic Mac line ends ("CSV (Macintosh)" in Excel for Mac)
    else:
        newline = "\r\n" if end > 0 and text[end - 1] == "\r" else "\n" if end >= 0 else "\r\n"
    first = text[: end if end >= 0 else len(text)].rstrip("\r").split("\r")[0]
    quoted = [cell.strip() for cell in first.split(delimiter)] if first else []
    quote_all = bool(quoted) and all(
        len(cell) >= 2 and cell[0] == cell[-1] == '"' for cell in quoted
    )
    return Dialect(
        codec,
        delimiter,
        newline,
        sep_line=sep is not None,
        quote_all=quote_all,
        ascii_only=ascii_only,
    )
