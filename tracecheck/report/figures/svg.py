"""What both figures share: escaping, numbers that print the same everywhere, the verdicts' colours."""

from __future__ import annotations

import unicodedata
from html import escape

# The page's colours (templates/report.html.j2 :root), so a marker and its badge agree.
VERDICT_COLOUR = {
    "violation": "#b3261e",
    "indeterminate": "#9a6700",
    "compliant": "#1a7f37",
    "not_assessed": "#57606a",
}
VERDICT_ORDER = ("violation", "indeterminate", "compliant", "not_assessed")
_INVISIBLE = {"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"}
"""Shown as ``<U+202E>``, as the page shows them (formats/html.py ``visible``): no bidi tricks in a label."""
MAX_LABEL = 60
"""Capture content is bounded before it is drawn: a 10 000-character SNI is not a figure."""


def text(value: object, limit: int = MAX_LABEL) -> str:
    """Escaped for SVG text and attributes, invisible characters shown, cut to ``limit`` characters."""
    value = str(value)
    if not value.isprintable():  # printable text has none of them: no walk through every character
        value = "".join(f"<U+{ord(ch):04X}>" if unicodedata.category(ch) in _INVISIBLE else ch for ch in value)
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return escape(value, quote=True)


def num(value: float) -> str:
    """One decimal, no ``-0.0``: the same bytes for the same figure on every machine.

    ``.1f`` rounds the value's exact binary value correctly, as ``round(value, 1)`` does, so it
    needs no ``round`` first (a test holds it to that); only a zero's sign is left to drop."""
    return f"{float(value):.1f}".replace("-0.0", "0.0").removesuffix(".0")


def worst(verdicts: list[str]) -> str:
    return min(verdicts, key=VERDICT_ORDER.index)
