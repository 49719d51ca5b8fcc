"""Which legacy codec reads a file's header as the columns its mapping knows.

charset-normalizer guesses a legacy codec from the byte statistics of a
sample, and a short or repetitive file has too few to go by: three GBK rows
pass for Latin-1 (``ÐÕÃû`` for 姓名), fifty alike ones for Korean. The header
settles it: a codec that reads more of the header's cells as column names
the mapping knows than the guessed one does is the file's codec, as long as
it also decodes the rest of the sample (but for a few stray bytes, which are
bad rows, as in a UTF-8 file). A tie keeps the guess.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
from collections.abc import Callable, Iterable, Sequence

__all__ = ["HEAD_BYTES", "HEAD_LINES", "mostly_decodes", "reads_header_best"]

HEAD_BYTES = 8 * 1024
HEAD_LINES = 4
"""How much of a file's start holds its header (after a ``sep=`` line or blank lines)."""
_DELIMITERS = (",", ";", "\t")


def mostly_decodes(sample: bytes, codec: str) -> bool:
    """Whether ``sample`` is text in ``codec``, but for a few stray bytes (bad rows, on reading)."""
    text = codecs.getincrementaldecoder(codec)("surrogateescape").decode(sample, final=False)
    stray = sum(1 for ch in text if "\udc80" <= ch <= "\udcff")
    if not stray:
        return True
    wide = sum(1 for ch in text if "\u0080" <= ch < "\udc80" or ch > "\udcff")
    return wide >= 4 * stray


def reads_header_best(
    sample: bytes,
    guess: str,
    candidates: Iterable[str],
    recognised: Callable[[Sequence[str]], int],
    delimiter: str = "auto",
) -> str:
    """The codec among ``guess`` and ``candidates`` whose header ``recognised`` scores highest.

    ``sample`` is the start of the file, cut at a line end; ``recognised`` counts the cells
    of a header row the mapping knows. Ties go to ``guess``, then to the earlier candidate.
    """
    head = _head(sample)
    if head.isascii():
        return guess  # every candidate reads an ASCII header alike
    delimiters = _DELIMITERS if delimiter == "auto" else (delimiter,)
    best, top = guess, _score(head, guess, delimiters, recognised)
    for codec in candidates:
        if codec == guess:
            continue
        score = _score(head, codec, delimiters, recognised)
        if score > top and mostly_decodes(sample, codec):
            best, top = codec, score
    return best


def _head(sample: bytes) -> bytes:
    end = -1
    for _ in range(HEAD_LINES):
        end = sample.find(b"\n", end + 1, HEAD_BYTES)
        if end < 0:
            return sample[:HEAD_BYTES]
    return sample[: end + 1]


def _score(
    head: bytes, codec: str, delimiters: Sequence[str], recognised: Callable[[Sequence[str]], int]
) -> int:
    text = codecs.getincrementaldecoder(codec)("replace").decode(head, final=False)
    text = text.removeprefix("\ufeff")
    if text.startswith("sep=") and "\n" in text:
        text = text[text.index("\n") + 1 :]
    return max(recognised(_header(text, delimiter)) for delimiter in delimiters)


def _header(text: str, delimiter: str) -> list[str]:
    """The first row of ``text`` with a cell that is not blank (as the reader takes it)."""
    rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        for cells in itertools.islice(rows, HEAD_LINES):
            if any(cell.strip() for cell in cells):
                return cells
    except csv.Error:
        pass
    return []
