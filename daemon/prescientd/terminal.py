"""Text for a terminal: cell widths, safe outside text, shortening that keeps rows apart,
sparklines and colour. Pure functions; nothing here knows about prescientd's data.

Widths are terminal cells, not characters: East Asian wide characters take two, combining marks
none. Outside text (market questions) is cleaned of control characters first, so a question can
neither break a line nor smuggle an escape sequence into the operator's terminal.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Sequence

ELLIPSIS = "…"
SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
_SGR = {
    "bold": "1",
    "dim": "2",
    "gain": "32",
    "loss": "31",
    "warning": "33",
    "critical": "1;31",
}


def clean(text: str) -> str:
    """One line of printable text: control characters dropped, whitespace runs made one space."""
    kept = [
        " " if ch.isspace() else ch
        for ch in text
        if ch.isspace() or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    ]
    return " ".join("".join(kept).split())


def char_cells(ch: str) -> int:
    """Terminal cells of one character: 0 for combining marks, 2 for wide ones, else 1."""
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def cells(text: str) -> int:
    """Terminal cells of text (assumed clean)."""
    return sum(char_cells(ch) for ch in text)


def head(text: str, width: int) -> str:
    """The longest start of text within width cells."""
    used = 0
    for i, ch in enumerate(text):
        used += char_cells(ch)
        if used > width:
            return text[:i]
    return text


def tail(text: str, width: int) -> str:
    """The longest end of text within width cells."""
    used = 0
    for i in range(len(text) - 1, -1, -1):
        used += char_cells(text[i])
        if used > width:
            return text[i + 1 :]
    return text


def fit(text: str, width: int) -> str:
    """text cut to width cells, an ellipsis marking the cut."""
    if cells(text) <= width:
        return text
    return head(text, width - 1) + ELLIPSIS if width > 0 else ""


def fit_left(text: str, width: int) -> str:
    """text cut to width cells from the left (for paths: the file name stays)."""
    if cells(text) <= width:
        return text
    return ELLIPSIS + tail(text, width - 1) if width > 0 else ""


def pad(text: str, width: int, *, right: bool = False) -> str:
    """text fitted and padded to exactly width cells (aligned right when right=True)."""
    fitted = fit(text, width)
    gap = " " * (width - cells(fitted))
    return gap + fitted if right else fitted + gap


# ------------------------------------------------------------------------------------------------
# shortening that keeps rows distinguishable
def _head_words(text: str, width: int) -> str:
    """A start of text within width cells, cut at a word boundary when that keeps most of it."""
    hard = head(text, width)
    if len(hard) == len(text) or text[len(hard)] == " ":
        return hard.rstrip()
    cut = hard.rfind(" ")
    return hard[:cut].rstrip() if cut >= len(hard) // 2 else hard


def _tail_words(text: str, width: int, must_start_by: int) -> str:
    """An end of text within width cells starting at a word, and at or before must_start_by."""
    hard = tail(text, width)
    start = len(text) - len(hard)
    if start == 0 or text[start - 1] == " ":
        return hard.lstrip()
    cut = hard.find(" ")
    if cut != -1 and start + cut + 1 <= must_start_by:
        return hard[cut + 1 :]
    return hard


def _word_start(text: str, index: int) -> int:
    return text.rfind(" ", 0, index) + 1


def shorten(text: str, width: int, differs_at: int = 0) -> str:
    """text within width cells, keeping the character at differs_at (where it first differs
    from a similar row) and the words after it.

    Forms, in order of preference: the text itself; its start cut at the end ("Will X win…")
    when the difference is within it; start…end ("Will X win the…race in Ohio?") when the end
    from the differing word fits beside a third of the width of start; start…middle…
    ("Will the…$120k on Dec 31…") when even that does not fit.
    """
    text = clean(text)
    if cells(text) <= width:
        return text
    if width < 3:
        return head(text, width)
    at = min(max(differs_at, 0), len(text) - 1)
    plain = _head_words(text, width - 1)
    if at < len(plain):
        return plain + ELLIPSIS
    start = _word_start(text, at)
    rest = text[start:]
    before = text[:start].rstrip()  # a lead never runs into the differing words
    min_head = width // 3
    if cells(rest) <= width - 1 - min_head:
        # the end keeps at least 2/5 of the width, for context around the differing words
        end = _tail_words(text, max(cells(rest), (width - 1) * 2 // 5), start)
        lead = _head_words(before, width - 1 - cells(end))
        return lead + ELLIPSIS + end
    middle = _head_words(rest, width - 2 - min_head)
    lead = _head_words(before, width - 2 - cells(middle))
    return lead + ELLIPSIS + middle + ELLIPSIS


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def differing_positions(texts: Sequence[str]) -> dict[str, int]:
    """For each distinct text, where it first differs from the most similar other text."""
    ordered = sorted(set(texts))
    at: dict[str, int] = {}
    for i, text in enumerate(ordered):
        before = _common_prefix(text, ordered[i - 1]) if i > 0 else 0
        after = _common_prefix(text, ordered[i + 1]) if i + 1 < len(ordered) else 0
        at[text] = max(before, after)
    return at


def _alternatives(text: str, width: int) -> Iterator[str]:
    """Other cuts of text within width cells, for rows the preferred cut merged: start…end
    splits (most balanced first), then start…middle… windows (from the start onwards)."""
    budget = width - 1
    for lead_w in sorted(range(1, budget), key=lambda w: (abs(2 * w - budget), w)):
        lead = head(text, lead_w)
        yield lead + ELLIPSIS + tail(text, budget - cells(lead))
    lead = head(text, width // 3)
    for start in range(len(lead), len(text)):
        yield lead + ELLIPSIS + head(text[start:], width - 2 - cells(lead)) + ELLIPSIS


def shorten_distinct(texts: Sequence[str], width: int) -> list[str]:
    """Each text within width cells, rows that differ kept apart.

    Each text keeps the words from where it first differs from its most similar neighbour
    (`shorten`); a text whose cut still reads like another row's takes the first other cut
    (`_alternatives`) that no row uses. Equal texts stay equal.
    """
    cleaned = [clean(t) for t in texts]
    at = differing_positions(cleaned)
    short = {t: shorten(t, width, at[t]) for t in sorted(at)}
    owner: dict[str, str] = {}
    merged = []
    for text, result in short.items():
        if owner.setdefault(result, text) != text:
            merged.append(text)
    for text in merged:
        for candidate in _alternatives(text, width):
            if candidate not in owner:
                short[text] = candidate
                owner[candidate] = text
                break
    return [short[t] for t in cleaned]


# ------------------------------------------------------------------------------------------------
def sparkline(values: Sequence[float], width: int) -> str:
    """The last `width` values as block characters, lowest ▁ to highest █ (flat: all ▄)."""
    shown = list(values)[-width:] if width > 0 else []
    if not shown:
        return ""
    low, high = min(shown), max(shown)
    if high == low:
        return SPARK_BLOCKS[3] * len(shown)
    top = len(SPARK_BLOCKS) - 1
    return "".join(SPARK_BLOCKS[round((v - low) / (high - low) * top)] for v in shown)


def paint(text: str, style: str | None, *, color: bool) -> str:
    """text in a colour/weight ('gain', 'loss', 'warning', 'critical', 'bold', 'dim') when
    color is on; unchanged otherwise (piped output carries no escape codes)."""
    if not color or not style or not text:
        return text
    return f"\x1b[{_SGR[style]}m{text}\x1b[0m"


def strip_ansi(text: str) -> str:
    """text without the SGR sequences paint() adds (for measuring coloured lines)."""
    out = []
    i = 0
    while i < len(text):
        if text.startswith("\x1b[", i):
            end = text.find("m", i)
            i = end + 1 if end != -1 else len(text)
            continue
        out.append(text[i])
        i += 1
    return "".join(out)
