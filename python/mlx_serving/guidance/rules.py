"""A small grammar of named rules, rendered for either backend.

The DTD converter builds one of these; llguidance gets it as a Lark grammar
(rules may refer to each other, recursion included) and outlines-core as one
regular expression (every rule inlined, so recursion cannot be expressed).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal as Kind

from .errors import GrammarError


@dataclass(frozen=True)
class Text:
    """This exact text."""

    value: str


@dataclass(frozen=True)
class Pattern:
    """Text matching a regular expression (Rust `regex` syntax)."""

    regex: str


@dataclass(frozen=True)
class Ref:
    """Whatever the named rule matches."""

    rule: str


@dataclass(frozen=True)
class Seq:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Alt:
    options: tuple[Expr, ...]


@dataclass(frozen=True)
class Repeat:
    item: Expr
    times: Kind["?", "*", "+"]


Expr = Text | Pattern | Ref | Seq | Alt | Repeat


@dataclass(frozen=True)
class Rules:
    start: str
    rules: dict[str, Expr]
    labels: dict[str, str] = field(default_factory=dict)  # rule -> name for messages


def check_way_out(grammar: Rules) -> None:
    """GrammarError when the start rule cannot finish: every way through it
    needs a rule that always needs itself again (`<!ELEMENT a (a)>`), so a
    model could only write until its token limit."""
    finite: set[str] = set()  # rules that can finish
    grew = True
    while grew:
        grew = False
        for name, expr in grammar.rules.items():
            if name not in finite and _can_finish(expr, finite):
                finite.add(name)
                grew = True
    if grammar.start not in finite:
        stuck = sorted(grammar.labels.get(name, name) for name in grammar.rules
                       if name not in finite)
        raise GrammarError(f"the grammar has no way out: {', '.join(stuck)} can never end "
                           "(each must contain itself again), so no output is ever complete")


def _can_finish(expr: Expr, finite: set[str]) -> bool:
    if isinstance(expr, (Text, Pattern)):
        return True
    if isinstance(expr, Ref):
        return expr.rule in finite
    if isinstance(expr, Seq):
        return all(_can_finish(item, finite) for item in expr.items)
    if isinstance(expr, Alt):
        return any(_can_finish(option, finite) for option in expr.options)
    return expr.times != "+" or _can_finish(expr.item, finite)


# Characters with a meaning in Rust regex syntax; `<` and `>` are left alone
# since `\<` and `\>` are word boundaries there.
_REGEX_META = set("\\.+*?()|[]{}^$#&-~")


def escape_regex(text: str) -> str:
    return "".join("\\" + char if char in _REGEX_META else char for char in text)


def to_lark(grammar: Rules) -> str:
    lines = [f"start: {grammar.start}"]
    lines += [f"{name}: {_lark(expr)}" for name, expr in grammar.rules.items()]
    return "\n".join(lines) + "\n"


def _lark(expr: Expr) -> str:
    if isinstance(expr, Text):
        return json.dumps(expr.value, ensure_ascii=False)
    if isinstance(expr, Pattern):
        return "/" + _slashes_escaped(expr.regex) + "/"
    if isinstance(expr, Ref):
        return expr.rule
    if isinstance(expr, Seq):
        return " ".join(_lark(item) for item in expr.items)
    if isinstance(expr, Alt):
        return "(" + " | ".join(_lark(option) for option in expr.options) + ")"
    return f"({_lark(expr.item)}){expr.times}"


def _slashes_escaped(regex: str) -> str:
    """`regex` with every `/` escaped (`\\/` means `/` in Rust regex too), for Lark's /.../."""
    out, escaped = [], False
    for char in regex:
        out.append("\\/" if char == "/" and not escaped else char)
        escaped = char == "\\" and not escaped
    return "".join(out)


# Characters of the one regular expression. Every rule is written out again
# wherever it is referred to, so a few nested references or occurrence bounds
# (DTD or XSD) multiply into gigabytes, built on the reader thread.
_MOST_REGEX = 1_000_000


def to_regex(grammar: Rules) -> str:
    """One regular expression for the whole grammar; GrammarError when a rule
    contains itself (a regular expression cannot nest without bound) or when
    it would be longer than _MOST_REGEX characters."""
    return _regex(Ref(grammar.start), grammar, (), {})


def _regex(expr: Expr, grammar: Rules, open_rules: tuple[str, ...],
           written: dict[str, str]) -> str:
    if isinstance(expr, Text):
        return escape_regex(expr.value)
    if isinstance(expr, Pattern):
        return f"(?:{expr.regex})"
    if isinstance(expr, Ref):
        if expr.rule in open_rules:
            loop = (*open_rules[open_rules.index(expr.rule):], expr.rule)
            cycle = " > ".join(grammar.labels.get(rule, rule) for rule in loop)
            raise GrammarError(f"the grammar is recursive ({cycle}), which a regular "
                               "expression cannot express")
        if expr.rule not in written:  # a rule reads the same wherever it is referred to
            written[expr.rule] = _regex(grammar.rules[expr.rule], grammar,
                                        (*open_rules, expr.rule), written)
        return written[expr.rule]
    if isinstance(expr, Seq):
        return _joined((_regex(item, grammar, open_rules, written) for item in expr.items), "")
    if isinstance(expr, Alt):
        options = (_regex(option, grammar, open_rules, written) for option in expr.options)
        return "(?:" + _joined(options, "|") + ")"
    return f"(?:{_regex(expr.item, grammar, open_rules, written)}){expr.times}"


def _joined(parts: Iterator[str], separator: str) -> str:
    """The parts joined, refused as soon as they add up past _MOST_REGEX (before
    the copy is made)."""
    kept: list[str] = []
    length = 0
    for part in parts:
        length += len(part) + len(separator)
        if length > _MOST_REGEX:
            raise GrammarError(f"the grammar is too large for one regular expression (over "
                               f"{_MOST_REGEX} characters, with every element written out "
                               "wherever it may appear)")
        kept.append(part)
    return separator.join(kept)
