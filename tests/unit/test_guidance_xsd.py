"""XSD -> grammar: documents valid against the schema are in the grammar, others are not.

Each document is fed, tokenized, to a matcher of each backend; every
document the grammar takes is also checked with lxml's XMLSchema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from guidance_corpus import NOTE_DTD, ORDER_XSD, check_xml, grammar_accepts, xsd_schema
from mlx_serving.guidance.errors import GrammarError
from mlx_serving.guidance.rules import to_regex
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
