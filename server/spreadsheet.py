"""The one rule that keeps text from running as a spreadsheet formula (CSV/XLSX exports, list downloads, the
API's analysis CSVs): a cell that starts with =, +, -, @, a tab or a carriage return and is not a number gets a
leading single quote. Numbers such as -12.5 or "3, -4" stay as they are."""

from __future__ import annotations

import re
from typing import Any

DANGER = frozenset("=+-@\t\r")   # the first characters that make a spreadsheet read a formula
_NUMBERS = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?([ ;,]+[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)*")


def neutralise(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading single quote; anything else is kept."""
    if type(value) is str and value and value[0] in DANGER and not _NUMBERS.fullmatch(value):
        return "'" + value
    return value
