"""Regular expressions as this runtime means them.

Both backends read Rust `regex` syntax, where `\\d`, `\\w` and `\\s` are
Unicode classes: `\\d` would let a model write Arabic-Indic digits into a
phone number. Regex mode makes all three ASCII (as Python's re.ASCII does);
JSON Schema patterns make `\\d` and `\\w` ASCII (as ECMA-262 does).
"""

from __future__ import annotations

from typing import Literal


def ascii_classes(pattern: str, classes: Literal["dws", "dw"] = "dws") -> str:
    """`pattern` with the named classes spelled out as ASCII sets; `/` comes
    back escaped (`\\/`), which means `/` in Rust regex as well."""
    from llguidance import regex_to_lark

    return regex_to_lark(pattern, classes)
