"""The table of circulating decimals in the default text corpus: every proper fraction ``m/n``
in lowest terms with ``n`` from 2 to 100, written out to 96 decimal places, one per line.

Why it is there: a linguistic ICL prompt is one unbroken run of 25 (1 shot) to 2,200 (128 shots)
digits drawn from three symbols. English prose has no such runs (the Factbook's longest is 6
digits), so a text model trained on prose alone learns that a run of digits soon ends, and
answers a linguistic prompt with punctuation or words. Decimal expansions are runs of 96 digits,
and a repeating period (``1/7 = 0.142857142857...``) is continued by copying what came before,
as the genomic model continues a repeat. Generated here, not copied: arithmetic has no author.

>>> decimal_expansion(1, 7, 12)
'0.142857142857'
>>> circulating_decimals_table(max_denominator=4, places=6).splitlines()[5:]
['1/2 = 0.500000', '1/3 = 0.333333', '2/3 = 0.666666', '1/4 = 0.250000', '3/4 = 0.750000']
"""

from __future__ import annotations

from math import gcd

MAX_DENOMINATOR = 100
PLACES = 96
TITLE = "A TABLE OF CIRCULATING DECIMALS"


def decimal_expansion(m: int, n: int, places: int = PLACES) -> str:
    """``m / n`` (``0 <= m``, ``0 < n``) to ``places`` decimal places, truncated, by long
    division (exact: no floating point)."""
    whole, rest = divmod(m, n)
    digits = []
    for _ in range(places):
        digit, rest = divmod(rest * 10, n)
        digits.append(str(digit))
    return f"{whole}." + "".join(digits)


def circulating_decimals_table(max_denominator: int = MAX_DENOMINATOR, places: int = PLACES) -> str:
    """The table's text: a title, two lines saying what follows, then ``m/n = expansion`` for
    every ``n`` from 2 to ``max_denominator`` and every ``m < n`` coprime with ``n``."""
    lines = [
        TITLE,
        "",
        f"Every proper fraction in lowest terms with a denominator from 2 to {max_denominator},",
        f"written out to {places} decimal places.",
        "",
    ]
    for n in range(2, max_denominator + 1):
        for m in range(1, n):
            if gcd(m, n) == 1:
                lines.append(f"{m}/{n} = {decimal_expansion(m, n, places)}")
    return "\n".join(lines) + "\n"
