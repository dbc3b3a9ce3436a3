"""XSD -> grammar: documents valid against the schema are in the grammar, others are not.

Each document is fed, tokenized, to a matcher of each backend; every
document the grammar takes is also checked with lxml's XMLSchema.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from guidance_corpus import NOTE_DTD, ORDER_XSD, check_xml, grammar_accepts, xsd_schema
from mlx_serving.guidance.dtd import dtd_rules
from mlx_serving.guidance.errors import GrammarError
from mlx_serving.guidance.rules import to_lark, to_regex
from mlx_serving.guidance.xsd import is_xsd, xsd_rules

OCCURS = xsd_schema("""
  <xs:element name="row">
    <xs:complexType>
      <xs:sequence>
        <xs:element name="cell" type="xs:integer" minOccurs="2" maxOccurs="3"/>
        <xs:element name="end" minOccurs="0">
          <xs:complexType><xs:attribute name="at" type="xs:date" use="required"/></xs:complexType>
        </xs:element>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
""")
TREE = xsd_schema("""
  <xs:complexType name="Node">
    <xs:choice>
      <xs:element name="leaf" type="xs:boolean"/>
      <xs:element name="node" type="Node"/>
    </xs:choice>
  </xs:complexType>
  <xs:element name="node" type="Node"/>
""")
NESTED = xsd_schema("""
  <xs:element name="grid">
    <xs:complexType>
      <xs:sequence maxOccurs="2">
        <xs:element name="x" type="xs:integer" maxOccurs="3"/>
        <xs:element name="y" type="xs:boolean"/>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
""")
ORDER_ITEM = "<item><sku>ab</sku><qty>3</qty><price>1.50</price></item>"


@pytest.fixture(scope="module")
def tokenizer(models: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(models / "tiny"))


@pytest.mark.parametrize("backend", ["llguidance", "outlines-core"])
@pytest.mark.parametrize("xsd, document, valid", [
    (ORDER_XSD, f'<order id="-12"><customer>Ann</customer><placed>2024-02-29</placed>'
                f"{ORDER_ITEM}</order>", True),
    (ORDER_XSD, f'<order id="7" status="shipped &amp; paid">\n  <customer></customer>\n'
                f'  <placed>2023-12-31</placed>\n  {ORDER_ITEM}{ORDER_ITEM}\n'
                f"  <note>a &lt; b</note>\n</order>", True),
    (ORDER_XSD, f"<order><customer>A</customer><placed>2024-01-01</placed>{ORDER_ITEM}"
                "</order>", False),  # id is required
    (ORDER_XSD, f'<order id="1" status="closed"><customer>A</customer>'
                f"<placed>2024-01-01</placed>{ORDER_ITEM}</order>", False),  # not enumerated
    (ORDER_XSD, f'<order id="1"><customer>A</customer><placed>2023-02-29</placed>'
                f"{ORDER_ITEM}</order>", False),  # no such day
    (ORDER_XSD, '<order id="1"><customer>A</customer><placed>2024-01-01</placed></order>',
     False),  # at least one item
    (ORDER_XSD, f'<order id="1"><customer>A</customer><placed>2024-01-01</placed>'
                f"{ORDER_ITEM * 3}</order>", False),  # at most two
    (ORDER_XSD, f'<order id="x"><customer>A</customer><placed>2024-01-01</placed>'
                f"{ORDER_ITEM}</order>", False),  # not an integer
    (OCCURS, "<row><cell>1</cell><cell>2</cell></row>", True),
    (OCCURS, '<row><cell>1</cell><cell>2</cell><cell>3</cell><end at="2000-01-01"/></row>',
     True),
    (OCCURS, "<row><cell>1</cell></row>", False),
    (OCCURS, "<row><cell>1</cell><cell>2</cell><cell>3</cell><cell>4</cell></row>", False),
    (OCCURS, "<row><cell>1</cell><cell>2</cell><end/></row>", False),
    (NESTED, "<grid><x>1</x><y>true</y><x>2</x><x>3</x><x>4</x><y>0</y></grid>", True),
    (NESTED, "<grid><x>1</x><x>2</x><x>3</x><x>4</x><y>0</y></grid>", False),
    (NESTED, "<grid><x>1</x><y>1</y><x>2</x><y>1</y><x>3</x><y>1</y></grid>", False),
])
def test_documents(tokenizer: Any, backend: str, xsd: str, document: str, valid: bool) -> None:
    rules = xsd_rules(xsd, max_text_length=16)
    assert grammar_accepts(backend, tokenizer, rules, document) == valid
    if valid:
        check_xml(xsd, None, document)  # the document itself is right


def test_recursion_through_a_named_type_needs_llguidance(tokenizer: Any) -> None:
    rules = xsd_rules(TREE)
    nested = "<node><node><node><leaf>true</leaf></node></node></node>"
    assert grammar_accepts("llguidance", tokenizer, rules, nested)
    check_xml(TREE, None, nested)
    with pytest.raises(GrammarError, match=r"recursive \(<node> > <node>\)"):
        to_regex(rules)


def test_root_defaults_to_the_first_global_element() -> None:
    two = xsd_schema('<xs:element name="a" type="xs:string"/><xs:element name="b" type="xs:date"/>')
    assert xsd_rules(two).labels[xsd_rules(two).start] == "<a>"
    assert xsd_rules(two, "b").labels[xsd_rules(two, "b").start] == "<b>"


def test_xsd_is_told_from_a_dtd() -> None:
    assert is_xsd(ORDER_XSD) and is_xsd(TREE)
    assert not is_xsd(NOTE_DTD)
    assert not is_xsd('<!ELEMENT a EMPTY><!ATTLIST a ns CDATA "http://www.w3.org/2001/XMLSchema">')


def _nested(*bounds: str, across_elements: bool = False) -> str:
    """Particles nested one in another, each with these occurrence bounds
    (`minOccurs="..." maxOccurs="..."`), around one xs:string element; sequences
    in one content model, or each level an element of its own."""
    body = f'<xs:element name="leaf" type="xs:string" {bounds[-1]}/>'
    for depth, occurs in enumerate(reversed(bounds[:-1])):
        body = (f'<xs:element name="e{depth}" {occurs}><xs:complexType><xs:sequence>{body}'
                "</xs:sequence></xs:complexType></xs:element>" if across_elements
                else f"<xs:sequence {occurs}>{body}</xs:sequence>")
    return xsd_schema(f'<xs:element name="top"><xs:complexType><xs:sequence>{body}'
                      "</xs:sequence></xs:complexType></xs:element>")


@pytest.mark.parametrize("xsd, message", [
    (_nested('minOccurs="10000000" maxOccurs="unbounded"'), 'minOccurs="10000000" (line 2)'),
    (_nested('minOccurs="1' + "0" * 5000 + '" maxOccurs="unbounded"'), 'minOccurs="1000000'),
    (_nested(*['maxOccurs="100"'] * 3), "more than 10000 element copies"),
    (_nested('minOccurs="100" maxOccurs="unbounded"', 'maxOccurs="100"',
             'minOccurs="2" maxOccurs="2"'), "more than 10000 element copies"),
])
def test_occurrence_bounds_that_would_blow_up_the_grammar_are_refused_at_once(
        xsd: str, message: str) -> None:
    started = time.monotonic()
    with pytest.raises(GrammarError, match=message.replace("(", r"\(").replace(")", r"\)")):
        to_lark(xsd_rules(xsd))
    assert time.monotonic() - started < 5


def test_nested_occurrence_bounds_within_the_limit_are_written_out() -> None:
    rules = xsd_rules(_nested(*['maxOccurs="100"'] * 2))  # 10,000 copies: the limit
    assert to_lark(rules).count(" el1") == 10_000


@pytest.mark.parametrize("schema", [
    # three levels of elements, 100 of each in its parent: 10^6 copies once inlined
    _nested(*['maxOccurs="100"'] * 3, across_elements=True),
    # a DTD does the same with references alone: 10 of each, 7 levels deep
    "".join(f"<!ELEMENT e{level} ({', '.join([f'e{level + 1}'] * 10)})>" for level in range(7))
    + "<!ELEMENT e7 EMPTY>",
])
def test_a_regular_expression_inlining_rules_past_its_limit_is_refused(schema: str) -> None:
    rules = xsd_rules(schema) if is_xsd(schema) else dtd_rules(schema)
    to_lark(rules)  # rules refer to each other by name there: small
    started = time.monotonic()
    with pytest.raises(GrammarError, match="too large for one regular expression"):
        to_regex(rules)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("xsd, root, message", [
    (xsd_schema('<xs:element name="a" type="xs:string"/>'), "z",
     "root element <z> is not a global"),
    (xsd_schema(""), None, "declares no global element"),
    (xsd_schema('<xs:element name="a" type="Nope"/>'), None, "malformed XSD"),
    ('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"><xs:element', None, "malformed XSD"),
    (xsd_schema('<xs:element name="a"/>'), None, "<a> (line 2) has no type"),
    (xsd_schema('<xs:element name="a" type="xs:dateTime"/>'), None, "type xs:dateTime (line 2)"),
    (xsd_schema('<xs:element name="a"><xs:complexType><xs:all><xs:element name="b" '
          'type="xs:string"/></xs:all></xs:complexType></xs:element>'), None,
     "<xs:all> inside <xs:complexType>"),
    (xsd_schema('<xs:element name="a"><xs:complexType><xs:sequence><xs:any/></xs:sequence>'
          "</xs:complexType></xs:element>"), None, "<xs:any> inside <xs:sequence>"),
    (xsd_schema('<xs:element name="a"><xs:complexType mixed="true"/></xs:element>'), None,
     "mixed content"),
    (xsd_schema('<xs:element name="a" nillable="true" type="xs:string"/>'), None,
     "attribute `nillable` of <xs:element>"),
    (xsd_schema('<xs:element name="a"><xs:simpleType><xs:restriction base="xs:string">'
          '<xs:maxLength value="3"/></xs:restriction></xs:simpleType></xs:element>'), None,
     "<xs:maxLength> inside <xs:restriction>"),
    (xsd_schema('<xs:element name="a"><xs:complexType><xs:simpleContent><xs:extension '
          'base="xs:string"/></xs:simpleContent></xs:complexType></xs:element>'), None,
     "<xs:simpleContent>"),
    (xsd_schema('<xs:element name="a"><xs:complexType><xs:sequence><xs:element name="b" '
          'type="xs:string" maxOccurs="1000"/></xs:sequence></xs:complexType></xs:element>'),
     None, 'maxOccurs="1000" (line 2)'),
    (xsd_schema('<xs:element name="a"><xs:complexType><xs:choice/></xs:complexType></xs:element>'),
     None, "an empty <xs:choice>"),
    ('<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:x"/>', None,
     "attribute `targetNamespace` of <xs:schema>"),
    (xsd_schema('<xs:include schemaLocation="file:///etc/passwd"/>'), None, "<xs:include>"),
    (xsd_schema('<xs:element name="a" type="xs:string"/><x:y xmlns:x="urn:x"/>'), None,
     "<{urn:x}y> inside <xs:schema>"),
])
def test_refused(xsd: str, root: str | None, message: str) -> None:
    with pytest.raises(GrammarError, match=message.replace("(", r"\(").replace(")", r"\)")):
        xsd_rules(xsd, root)
