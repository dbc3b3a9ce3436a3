"""An XML Schema (XSD), turned into the grammar of the XML documents it accepts.

lxml (libxml2) compiles the schema first, so a malformed one is refused with
its message; this module then walks a subset of it from the root element
down and writes one rule per element declaration, with the DTD's machinery
(rules.py, xml_text.py). The subset:

- global and local `xs:element`s, by `name` with a `type` or an inline type,
  or by `ref` to a global one; `minOccurs`/`maxOccurs` (`unbounded` too) on
  elements, sequences and choices, each at most 100 since bounded counts are
  written out copy by copy, and at most 10,000 element copies in all (nested
  bounds multiply);
- `xs:complexType` (named or inline): an `xs:sequence` or `xs:choice`,
  nested freely, or no content at all (written `<a/>`); `xs:attribute`s:
  `use="required"` ones always written, optional ones optionally, `fixed`
  ones only with their value, `prohibited` ones never;
- simple values: xs:string (text of at most `max_text_length` characters),
  xs:integer, xs:decimal (digit runs bounded the same way), xs:boolean,
  xs:date, and `xs:simpleType` restrictions of those to `xs:enumeration`s;
- `xs:annotation` is skipped.

Anything else (xs:all, xs:any, groups, simple or complex content
extensions, mixed content, other built-in types and facets,
targetNamespace, imports, identity constraints, a DOCTYPE or entity
declarations, ...) is refused, naming the
construct and its line. Whitespace and indentation are written as for a DTD.
"""

from __future__ import annotations

import re
from typing import Any

from .errors import GrammarError
from .json_schema import DATE
from .rules import Alt, Expr, Pattern, Ref, Repeat, Rules, Seq, Text
from .xml_text import WHITESPACE, attribute_text, bounded, escape_attribute, escape_text, text

XS = "http://www.w3.org/2001/XMLSchema"
_SCHEMA_ELEMENT = re.compile(r"<(?:[\w.-]+:)?schema[\s/>]")
# What each supported construct may hold: (child constructs, attributes).
_OCCURS = {"minOccurs", "maxOccurs"}
_SUBSET: dict[str, tuple[set[str], set[str]]] = {
    "schema": ({"element", "complexType", "simpleType"},
               {"elementFormDefault", "attributeFormDefault", "version", "id"}),
    "element": ({"complexType", "simpleType"}, {"name", "type", "ref", "id"} | _OCCURS),
    "complexType": ({"sequence", "choice", "attribute"}, {"name", "mixed", "id"}),
    "sequence": ({"element", "sequence", "choice"}, {"id"} | _OCCURS),
    "choice": ({"element", "sequence", "choice"}, {"id"} | _OCCURS),
    "attribute": ({"simpleType"}, {"name", "type", "use", "default", "fixed", "id"}),
    "simpleType": ({"restriction"}, {"name", "id"}),
    "restriction": ({"enumeration"}, {"base", "id"}),
    "enumeration": (set(), {"value", "id"}),
}
_BUILT_IN = ("string", "integer", "decimal", "boolean", "date")
_MOST_OCCURS = 100  # a finite minOccurs or maxOccurs is written out; beyond this, refused
# Element references written out in the whole grammar. A bounded particle is
# written once per occurrence, so bounds nested in one content model multiply
# (three levels of maxOccurs="100": 10^6 copies, rendered on the reader
# thread); 10,000 still takes two nested levels of 100 and renders in
# milliseconds.
_MOST_WRITTEN = 10_000


def is_xsd(schema: str) -> bool:
    """Whether `schema` is an XML Schema document (else: DTD declarations)."""
    return XS in schema and _SCHEMA_ELEMENT.search(schema) is not None


def xsd_rules(xsd: str, root: str | None = None, max_text_length: int | None = None) -> Rules:
    """The grammar of documents valid against `xsd` whose element is `root`
    (default: the first global element); GrammarError names what is wrong."""
    return _Converter(_parse(xsd), max_text_length).rules(root)


def _parse(xsd: str) -> Any:
    from lxml import etree

    if "<!DOCTYPE" in xsd or "<!ENTITY" in xsd:
        # Entities (parameter ones above all) can spell any markup out of
        # character references; a schema has no use for them.
        raise GrammarError("the XSD has a DOCTYPE or an entity declaration, which is not "
                           "supported; an XSD must be self-contained without a DTD")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                             dtd_validation=False, huge_tree=False)
    try:
        schema = etree.fromstring(xsd.encode(), parser)
    except etree.XMLSyntaxError as exc:
        raise GrammarError(f"malformed XSD: {exc}") from None
    if etree.QName(schema).text != f"{{{XS}}}schema":
        raise GrammarError(f"an XSD's document element is <xs:schema>, not <{schema.tag}>")
    _check_subset(schema)  # first: it refuses imports, which compiling would fetch
    try:
        etree.XMLSchema(schema)
    except etree.XMLSchemaParseError as exc:
        raise GrammarError(f"malformed XSD: {exc}") from None
    return schema


def _check_subset(node: Any) -> None:
    local = _local(node)
    children, attributes = _SUBSET[local]
    unknown = sorted(set(node.attrib) - attributes)
    if unknown:
        raise GrammarError(f"XSD attribute `{unknown[0]}` of <xs:{local}> "
                           f"(line {node.sourceline}) is not supported")
    if local == "complexType" and node.get("mixed", "false") not in ("false", "0"):
        raise GrammarError(f"XSD mixed content (line {node.sourceline}) is not supported")
    for child in _children(node):
        in_xs = child.tag.startswith(f"{{{XS}}}")
        if not in_xs or _local(child) not in children:
            name = f"xs:{_local(child)}" if in_xs else child.tag
            raise GrammarError(f"XSD <{name}> inside <xs:{local}> (line {child.sourceline}) "
                               "is not supported")
        _check_subset(child)


def _children(node: Any) -> list[Any]:
    """The child elements, annotations and comments left out."""
    return [child for child in node if isinstance(child.tag, str)
            and child.tag != f"{{{XS}}}annotation"]


def _local(node: Any) -> str:
    return str(node.tag).rpartition("}")[2]


class _Converter:
    def __init__(self, schema: Any, max_text_length: int | None) -> None:
        self._tree = schema.getroottree()
        named: dict[str, dict[str, Any]] = {"element": {}, "complexType": {}, "simpleType": {}}
        for node in _children(schema):
            named[_local(node)][node.get("name")] = node
        self._elements: dict[str, Any] = named["element"]
        self._types: dict[str, Any] = {**named["complexType"], **named["simpleType"]}
        self._bound = max_text_length
        self._rule_names: dict[str, str] = {}  # a declaration's path -> its rule
        self._labels: dict[str, str] = {}
        self._written = 0  # element references written out so far

    def rules(self, root: str | None) -> Rules:
        if not self._elements:
            raise GrammarError("the XSD declares no global element")
        root = root or next(iter(self._elements))
        if root not in self._elements:
            raise GrammarError(f"the root element <{root}> is not a global element of the XSD "
                               f"(global: {', '.join(self._elements)})")
        rules: dict[str, Expr] = {}
        pending = [self._elements[root]]
        while pending:
            declaration = pending.pop()
            rule = self._rule(declaration)
            if rule not in rules:
                rules[rule] = self._element(declaration, pending)
        return Rules(start=self._rule(self._elements[root]), rules=rules, labels=self._labels)

    def _rule(self, declaration: Any) -> str:
        path = self._tree.getpath(declaration)
        if path not in self._rule_names:
            rule = f"el{len(self._rule_names)}"
            self._rule_names[path] = rule
            self._labels[rule] = f"<{declaration.get('name')}>"
        return self._rule_names[path]

    def _element(self, declaration: Any, pending: list[Any]) -> Expr:
        name = declaration.get("name")
        kind = self._type_of(declaration)
        if isinstance(kind, str) or _local(kind) == "simpleType":
            return Seq((Text(f"<{name}>"), self._value(kind, False), Text(f"</{name}>")))
        start = [Text(f"<{name}"), *self._attributes(kind)]
        particles = [child for child in _children(kind) if _local(child) != "attribute"]
        if not particles:
            return Seq((*start, Text("/>")))
        content = self._particle(particles[0], pending, 1)
        return Seq((*start, Text(">"), content, WHITESPACE, Text(f"</{name}>")))

    def _type_of(self, node: Any) -> Any:
        """An element's or attribute's type: a built-in's name, or its type node."""
        inline = [child for child in _children(node) if _local(child).endswith("Type")]
        if inline:
            return inline[0]
        if node.get("type") is None:
            if _local(node) == "attribute":
                return "string"  # xs:anySimpleType: any string will do
            raise GrammarError(f"element <{node.get('name')}> (line {node.sourceline}) has no "
                               "type (xs:anyType is not supported)")
        return self._named_type(node.get("type"), node)

    def _named_type(self, qualified: str, node: Any) -> Any:
        prefix, _, name = qualified.rpartition(":")
        if node.nsmap.get(prefix or None) != XS:
            return self._types[name]  # XMLSchema has checked that it exists
        if name not in _BUILT_IN:
            raise GrammarError(f"XSD type xs:{name} (line {node.sourceline}) is not supported "
                               f"(built-in types: {', '.join('xs:' + t for t in _BUILT_IN)})")
        return name

    def _value(self, kind: Any, in_attribute: bool) -> Expr:
        """A simple type's values: a built-in's pattern or an enumeration."""
        if isinstance(kind, str):
            return self._built_in(kind, in_attribute)
        restriction = _children(kind)[0]
        values = [child.get("value") for child in _children(restriction)]
        if values:
            escape = escape_attribute if in_attribute else escape_text
            return Alt(tuple(Text(escape(value)) for value in values))
        return self._value(self._named_type(restriction.get("base"), restriction), in_attribute)

    def _built_in(self, name: str, in_attribute: bool) -> Expr:
        digits = bounded("[0-9]", 1, self._bound)
        if name == "string":
            return attribute_text(self._bound) if in_attribute else Repeat(text(1, self._bound),
                                                                           "?")
        if name == "integer":
            return Pattern(f"-?{digits}")
        if name == "decimal":
            return Pattern(f"-?{digits}(?:\\.{digits})?")
        if name == "boolean":
            return Alt((Text("true"), Text("false"), Text("1"), Text("0")))
        return Pattern(DATE)

    def _attributes(self, complex_type: Any) -> list[Expr]:
        written: list[Expr] = []
        for attribute in _children(complex_type):
            use = attribute.get("use", "optional")
            if _local(attribute) != "attribute" or use == "prohibited":
                continue
            fixed = attribute.get("fixed")
            value = (Text(escape_attribute(fixed)) if fixed is not None
                     else self._value(self._type_of(attribute), True))
            pair = Seq((Text(f' {attribute.get("name")}="'), value, Text('"')))
            written.append(pair if use == "required" else Repeat(pair, "?"))
        return written

    def _particle(self, node: Any, pending: list[Any], outer: int) -> Expr:
        """An element, sequence or choice, with its occurrence bounds; `outer`:
        how many times the enclosing particles write it out."""
        at_least, at_most = _bounds(node)
        copies = outer * (max(at_least, 1) if at_most is None else at_most)
        local = _local(node)
        if local == "element":
            self._written += copies
            if self._written > _MOST_WRITTEN:
                raise GrammarError(f"XSD occurrence bounds are too large: with <xs:element> "
                                   f"(line {node.sourceline}) the grammar would write out "
                                   f"more than {_MOST_WRITTEN} element copies (nested "
                                   "minOccurs/maxOccurs multiply)")
            declaration = self._elements[node.get("ref")] if node.get("ref") else node
            pending.append(declaration)
            expr: Expr = Seq((WHITESPACE, Ref(self._rule(declaration))))
        else:
            parts = tuple(self._particle(child, pending, copies) for child in _children(node))
            if not parts:
                raise GrammarError(f"an empty <xs:{local}> (line {node.sourceline}) is not "
                                   "supported")
            expr = Seq(parts) if local == "sequence" else Alt(parts)
        return _occurs(expr, at_least, at_most)


def _bounds(node: Any) -> tuple[int, int | None]:
    """minOccurs and maxOccurs (None: unbounded), each refused past _MOST_OCCURS
    since that many copies are written out (XMLSchema has checked their syntax)."""
    least = node.get("minOccurs", "1")
    most = node.get("maxOccurs", "1")
    at_least = _count(least)
    at_most = None if most == "unbounded" else _count(most)
    if at_least > _MOST_OCCURS:
        raise GrammarError(f"XSD minOccurs=\"{least}\" (line {node.sourceline}) is not "
                           f"supported (0 to {_MOST_OCCURS})")
    if at_most == 0 or (at_most is not None and at_most > _MOST_OCCURS):
        raise GrammarError(f"XSD maxOccurs=\"{most}\" (line {node.sourceline}) is not "
                           f"supported (1 to {_MOST_OCCURS}, or unbounded)")
    return at_least, at_most


def _count(value: str) -> int:
    """A nonNegativeInteger, read as _MOST_OCCURS + 1 when it is longer (int()
    refuses thousands of digits, and any such count is refused anyway)."""
    digits = value.strip().lstrip("0") or "0"
    return _MOST_OCCURS + 1 if len(digits) > len(str(_MOST_OCCURS)) else int(digits)


def _occurs(expr: Expr, at_least: int, at_most: int | None) -> Expr:
    """`expr` repeated at_least..at_most times (nested options, so that
    the grammar stays unambiguous)."""
    items: list[Expr] = [expr] * at_least
    if at_most is None:
        items = [*items[:-1], Repeat(expr, "+")] if items else [Repeat(expr, "*")]
    else:
        optional: Expr | None = None
        for _ in range(at_most - at_least):
            optional = Repeat(expr if optional is None else Seq((expr, optional)), "?")
        items += [optional] if optional is not None else []
    return items[0] if len(items) == 1 else Seq(tuple(items))
