"""Exact arithmetic helpers: ints, Fractions and Decimals stay exact, floats stay floats.

Shares and poverty measures are reported to NDAs and compared with hand-worked examples,
so they are computed as Fractions whenever the inputs allow it (1/3 + 1/3 + 1/3 == 1).
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction
from typing import Iterable, Union

Number = Union[int, Fraction, Decimal, float]
Exact = Union[int, Fraction, float]   # what `exact` returns: Decimals become Fractions


def exact(value: Number) -> Exact:
    """The value ready for arithmetic: a Decimal becomes a Fraction (Decimal + Fraction is a TypeError)."""
    if isinstance(value, bool) or not isinstance(value, (int, Fraction, Decimal, float)):
        raise TypeError(f"expected a number, got {value!r}")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite number: {value!r}")
        return Fraction(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"not a finite number: {value!r}")
    return value


def ratio(numerator: Number, denominator: Number) -> Exact:
    """numerator / denominator, a Fraction when both are exact (int / int would give a float)."""
    a, b = exact(numerator), exact(denominator)
    if isinstance(a, int) and isinstance(b, int):
        return Fraction(a, b)
    return a / b


def total(values: Iterable[Number]) -> Exact:
    """Sum that keeps Fractions exact (starts from int 0, so an empty sum is 0)."""
    result: Exact = 0
    for value in values:
        result += exact(value)
    return result


def sqrt_exact(value: Fraction | int) -> Fraction | float:
    """Square root: a Fraction when the value is a perfect rational square, else a float."""
    q = Fraction(value)
    if q < 0:
        raise ValueError("square root of a negative number")
    num, den = math.isqrt(q.numerator), math.isqrt(q.denominator)
    if num * num == q.numerator and den * den == q.denominator:
        return Fraction(num, den)
    return math.sqrt(q)


def average_ranks(values: list) -> list[Fraction]:
    """Rank 1..n in ascending order, tied values sharing the average of their positions (exact halves)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks: list[Fraction] = [Fraction(0)] * len(values)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        shared = Fraction(start + end + 2, 2)   # positions start+1 .. end+1
        for k in range(start, end + 1):
            ranks[order[k]] = shared
        start = end + 1
    return ranks


def tie_sizes(values: list) -> list[int]:
    """Sizes of the groups of equal values (1 for a value that is not tied)."""
    counts: dict = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return list(counts.values())
