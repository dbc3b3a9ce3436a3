"""Regular expressions as this runtime means them.

Both backends read Rust `regex` syntax, where `\\d`, `\\w` and `\\s` are
Unicode classes: `\\d` would let a model write Arabic-Indic digits into a
phone number. Regex mode makes all three ASCII (as Python's re.ASCII does);
JSON Schema patterns make `\\d` and `\\w` ASCII (as ECMA-262 does).

The backends' parsers refuse malformed patterns, but llguidance's
`regex_to_lark` (which spells the classes out) silently drops a trailing
lone backslash: `abc\\` would compile as `abc`. `check_pattern` refuses that
before any backend sees the pattern.
"""

from __future__ import annotations

import re
from typing import Literal

from .errors import GrammarError

_TRAILING_BACKSLASHES = re.compile(r"\\+\Z")


def check_pattern(pattern: str) -> None:
    """GrammarError when `pattern` ends in an unfinished escape (an odd run of
    backslashes), which the translation below would drop without a word."""
    trailing = _TRAILING_BACKSLASHES.search(pattern)
    if trailing and len(trailing.group()) % 2:
        raise GrammarError(f"the pattern {pattern!r} ends in a lone backslash (an unfinished "
                           "escape); write `\\\\` for a literal backslash")


def ascii_classes(pattern: str, classes: Literal["dws", "dw"] = "dws") -> str:
    """`pattern` with the named classes spelled out as ASCII sets; `/` comes
    back escaped (`\\/`), which means `/` in Rust regex as well."""
    from llguidance import regex_to_lark

    check_pattern(pattern)
    return regex_to_lark(pattern, classes)
