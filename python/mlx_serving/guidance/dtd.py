"""A DTD, turned into the grammar of the XML documents it accepts.

lxml (libxml2) parses the DTD; this module walks its element and attribute
declarations from the root element down and writes one rule per element:
the start tag with its attributes, then the content model (sequences,
choices, `?` `*` `+`, #PCDATA, EMPTY, ANY), then the end tag. What the
grammar produces is well-formed and valid against the DTD, by construction:

- text and attribute values never contain `<`, `>`, `&` (but the five
  predefined entity references) or the control characters XML forbids
  (xml_text.py);
- attributes come in one fixed order (libxml2's), #REQUIRED ones always,
  #IMPLIED and defaulted ones optionally, #FIXED ones only with their value;
- ID, IDREF(S), ENTITY(IES) and NOTATION attributes are never written, since
  a grammar cannot keep ids unique or references resolved: a DTD that makes
  one #REQUIRED is refused;
- text runs are at most `max_text_length` characters long: mixed content
  is written as text, element, text, ... so runs never touch;
- between the children of element-only content, a line break and up to 16
  spaces or tabs may appear (indentation); no XML declaration, no DOCTYPE.

The DTD is read as the internal subset of a stub document, by a parser that
never loads a DTD, resolves an entity or touches the network, so no declaration can make the runtime
read a file or a URL. Parameter entities and conditional sections are
refused before libxml2 sees the text: character references inside an entity
value can spell out any declaration, and nothing here needs them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal, cast

from .errors import GrammarError
from .rules import Alt, Expr, Pattern, Ref, Repeat, Rules, Seq, Text
from .xml_text import WHITESPACE, attribute_text, bounded, escape_attribute, text

_NAME_CHARS = r"[A-Za-z0-9._:\-]"
_OCCURRENCE: dict[str, Literal["?", "*", "+"] | None] = {
    "once": None, "opt": "?", "mult": "*", "plus": "+"}
_UNWRITABLE_ATTRIBUTES = {"id", "idref", "idrefs", "entity", "entities", "notation"}
_DOCTYPE = re.compile(r"^\s*<!DOCTYPE\s+([^\s\[>]+)\s*\[(.*)\]\s*>\s*$", re.DOTALL)
_EXTERNAL = re.compile(r"<!(?:ENTITY|NOTATION)[^>]*\b(?:SYSTEM|PUBLIC)\b")
# What may hold any character without being markup: comments, processing
# instructions and quoted literals (an unclosed one is left for libxml2 to refuse).
_INERT = re.compile(r"<!--.*?-->|<\?.*?\?>|\"[^\"]*\"|'[^']*'", re.DOTALL)
_STUB_ROOT = "mlx-serving-dtd"


def dtd_rules(dtd: str, root: str | None = None, max_text_length: int | None = None) -> Rules:
    """The grammar of documents valid against `dtd` whose element is `root`
    (default: the first one declared); GrammarError names what is wrong."""
    doctype = _DOCTYPE.match(dtd)
    if doctype:  # <!DOCTYPE root [ ...declarations... ]>
        root = root or doctype.group(1)
        dtd = doctype.group(2)
    return _Converter(_parse(dtd), max_text_length).rules(root)


def _parse(dtd: str) -> Any:
    from lxml import etree

    _check_self_contained(dtd)
    parser = etree.XMLParser(load_dtd=False, resolve_entities=False, no_network=True,
                             dtd_validation=False, attribute_defaults=False, huge_tree=False)
    document = f"<!DOCTYPE {_STUB_ROOT} [\n{dtd}\n]><{_STUB_ROOT}/>"
    try:
        tree = etree.fromstring(document.encode(), parser).getroottree()
    except etree.XMLSyntaxError as exc:
        where = "; ".join(f"line {error.line - 1}, column {error.column}: {error.message}"
                          for error in cast(Iterable[Any], exc.error_log))  # lxml-stubs: no __iter__
        raise GrammarError(f"malformed DTD: {where or exc}") from None
    return tree.docinfo.internalDTD


def _check_self_contained(dtd: str) -> None:
    """Refuse what could make libxml2 build declarations we never saw, or
    reach outside the text: parameter entities, conditional sections (which
    also could close the stub's internal subset), SYSTEM/PUBLIC identifiers."""
    markup = _INERT.sub(" ", dtd)
    if _EXTERNAL.search(markup):
        raise GrammarError("the DTD refers to external entities or notations (SYSTEM or "
                           "PUBLIC identifiers); it must be self-contained")
    if "%" in markup:
        raise GrammarError("the DTD uses parameter entities (<!ENTITY % ...> or %name;), "
                           "which are not supported; write the declarations out")
    if "[" in markup or "]" in markup:
        raise GrammarError("the DTD has a conditional section or a stray `[`/`]` "
                           "(<![INCLUDE[...]]>), which is not supported")


class _Converter:
    def __init__(self, dtd: Any, max_text_length: int | None) -> None:
        self._elements = {_qualified(decl): decl for decl in dtd.iterelements()}
        self._rule_names = {name: f"el{index}" for index, name in enumerate(self._elements)}
        self._text = text(1, max_text_length)
        self._attribute_text = attribute_text(max_text_length)
        self._name_token = bounded(_NAME_CHARS, 1, max_text_length)

    def rules(self, root: str | None) -> Rules:
        if not self._elements:
            raise GrammarError("the DTD declares no element")
        root = root or next(iter(self._elements))
        if root not in self._elements:
            raise GrammarError(f"the root element <{root}> is not declared in the DTD "
                               f"(declared: {', '.join(self._elements)})")
        rules: dict[str, Expr] = {}
        pending = [root]
        while pending:
            name = pending.pop()
            rule = self._rule_names[name]
            if rule not in rules:
                rules[rule] = self._element(name, pending)
        labels = {rule: f"<{name}>" for name, rule in self._rule_names.items()}
        return Rules(start=self._rule_names[root], rules=rules, labels=labels)

    def _element(self, name: str, pending: list[str]) -> Expr:
        decl = self._elements[name]
        start = [Text(f"<{name}"), *self._attributes(name, decl)]
        if decl.type == "empty":
            return Seq((*start, Text("/>")))
        if decl.type == "any":
            pending.extend(self._elements)
            content: Expr = self._mixed([Ref(self._rule_names[child]) for child in self._elements])
        elif decl.type == "mixed":  # (#PCDATA | a | b)*, or (#PCDATA)
            members = _flatten(decl.content) if decl.content.type == "or" else [decl.content]
            content = self._mixed([self._particle(member, name, False, pending)
                                   for member in members if member.type != "pcdata"])
        elif decl.type == "element":
            content = Seq((self._particle(decl.content, name, True, pending), WHITESPACE))
        else:
            raise GrammarError(f"<{name}> has no content declaration")
        return Seq((*start, Text(">"), content, Text(f"</{name}>")))

    def _mixed(self, children: list[Expr]) -> Expr:
        """Text and these children in any order and number: text?, (child, text?)*."""
        optional_text = Repeat(self._text, "?")
        if not children:
            return optional_text
        return Seq((optional_text, Repeat(Seq((Alt(tuple(children)), optional_text)), "*")))

    def _particle(self, particle: Any, parent: str, element_only: bool,
                  pending: list[str]) -> Expr:
        """One node of a content model (lxml gives sequences and choices as binary trees)."""
        if particle.type == "element":
            child = self._declared(particle.name, parent)
            pending.append(child)
            ref = Ref(self._rule_names[child])
            expr: Expr = Seq((WHITESPACE, ref)) if element_only else ref
        else:
            parts = [self._particle(part, parent, element_only, pending)
                     for part in _flatten(particle)]
            expr = Seq(tuple(parts)) if particle.type == "seq" else Alt(tuple(parts))
        times = _OCCURRENCE[particle.occur]
        return expr if times is None else Repeat(expr, times)

    def _declared(self, child: str, parent: str) -> str:
        """The declared element a content model names (lxml drops the prefix there)."""
        if child in self._elements:
            return child
        prefixed = [name for name in self._elements if name.endswith(f":{child}")]
        if len(prefixed) != 1:
            raise GrammarError(f"<{parent}> may contain <{child}>, which the DTD does not "
                               "declare")
        return prefixed[0]

    def _attributes(self, element: str, decl: Any) -> list[Expr]:
        written: list[Expr] = []
        for attribute in decl.iterattributes():
            name = _qualified(attribute)
            if attribute.type in _UNWRITABLE_ATTRIBUTES:
                if attribute.default == "required":
                    raise GrammarError(
                        f"attribute {name} of <{element}> is a #REQUIRED {attribute.type.upper()}"
                        ": a grammar cannot keep ids unique or references resolved")
                continue  # optional: never written
            if attribute.default == "fixed":
                value: Expr = Text(escape_attribute(attribute.default_value))
            else:
                value = self._attribute_value(attribute)
            pair = Seq((Text(f' {name}="'), value, Text('"')))
            written.append(pair if attribute.default == "required" else Repeat(pair, "?"))
        return written

    def _attribute_value(self, attribute: Any) -> Expr:
        if attribute.type == "enumeration":
            return Alt(tuple(Text(value) for value in attribute.itervalues()))
        if attribute.type == "nmtoken":
            return Pattern(self._name_token)
        if attribute.type == "nmtokens":
            return Pattern(f"{self._name_token}(?: {self._name_token})*")
        return self._attribute_text  # CDATA


def _flatten(particle: Any) -> list[Any]:
    """The members of a sequence or choice: libxml2 nests `(a, b, c)` as (a, (b, c))."""
    members = []
    while True:
        members.append(particle.left)
        right = particle.right
        if right.type == particle.type and right.occur == "once":
            particle = right
            continue
        members.append(right)
        return members


def _qualified(decl: Any) -> str:
    return f"{decl.prefix}:{decl.name}" if decl.prefix else decl.name

