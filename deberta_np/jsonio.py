"""JSON parsing for every file and line deberta_np reads, with each way `json` can fail made one error.

`json.loads` fails in three ways, only one of which is a `JSONDecodeError`: nesting deeper than the recursion
limit raises `RecursionError` (a 200 kB file of "[" does it), and an integer of more than 4300 digits raises a
plain `ValueError` (`sys.get_int_max_str_digits`). Callers pass `fail`, which turns a reason into their own
typed error naming the file and what it is. Such an integer is not a parse error here: it becomes a
`LongInteger`, which no field accepts as an int, so that the caller's validation names the field it is in.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["LongInteger", "loads"]


class LongInteger(str):
    """The digits of a JSON integer too long for `int()` (a str, so not an int to any field's check)."""

    def __repr__(self) -> str:
        return f"<an integer of {len(self.lstrip('-'))} digits>"


def _parse_int(digits: str) -> int | LongInteger:
    limit = sys.get_int_max_str_digits()
    return int(digits) if not limit or len(digits) <= limit else LongInteger(digits)


def loads(
    text: str | bytes,
    fail: Callable[[str], Exception],
    at_line: Callable[[int, str], Exception] | None = None,
    **options: Any,
) -> Any:
    """`json.loads(text, **options)`; any failure raises `fail(reason)` (reason: "invalid JSON (...)"), or
    for a syntax error `at_line(line, reason)` where given (for "file:line: ..." messages)."""
    try:
        return json.loads(text, **{"parse_int": _parse_int, **options})
    except json.JSONDecodeError as error:
        if at_line is not None:
            raise at_line(error.lineno, f"invalid JSON ({error.msg}, column {error.colno})") from None
        raise fail(f"invalid JSON ({error.msg} at line {error.lineno}, column {error.colno})") from None
    except RecursionError:
        raise fail("invalid JSON (arrays or objects nested too deeply)") from None
    except ValueError as error:  # an over-long integer, or an object_pairs_hook's own check
        raise fail(f"invalid JSON ({error})") from None
