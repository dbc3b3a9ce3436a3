"""What the DTD and XSD grammars share: XML text, attribute values, indentation.

Text and attribute values never contain `<`, `>`, `&` (but the five
predefined entity references) or the control characters XML forbids, so
what the grammar writes is always well-formed.
"""

from __future__ import annotations

from .rules import Pattern, Repeat

# Characters XML allows, less the markup ones (and `"` in attribute values).
_FORBIDDEN = r"<>&\x00-\x08\x0B\x0C\x0E-\x1F\x{FFFE}\x{FFFF}"
_TEXT_CHAR = "[^" + _FORBIDDEN + "]"
_ATTRIBUTE_CHAR = '[^"' + _FORBIDDEN + "]"
_ENTITY_REF = r"&(?:amp|lt|gt|quot|apos);"
# Between the children of element-only content: a line break and indentation.
WHITESPACE = Repeat(Pattern(r"\r?\n[ \t]{0,16}|[ \t]{1,16}"), "?")


def bounded(unit: str, at_least: int, at_most: int | None) -> str:
    """`unit` repeated at_least..at_most times (no upper bound for None)."""
    return f"(?:{unit}){{{at_least},{'' if at_most is None else at_most}}}"


def text(at_least: int, at_most: int | None) -> Pattern:
    """A run of character data."""
    return Pattern(bounded(f"{_TEXT_CHAR}|{_ENTITY_REF}", at_least, at_most))


def attribute_text(at_most: int | None) -> Pattern:
    """An attribute value, between double quotes."""
    return Pattern(bounded(f"{_ATTRIBUTE_CHAR}|{_ENTITY_REF}", 0, at_most))


def escape_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_attribute(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
