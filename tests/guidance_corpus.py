"""The structured-output corpus: constraints, and the checks their outputs must pass.

Shared by the protocol tests (through the runtime, with the random-weight
tiny model: only the mask makes the output valid) and the unit tests. Every
JSON Schema feature of draft 7 the runtime promises is in here, and DTDs and
XSDs (outputs checked with lxml's DTD and XMLSchema validators); strings are
bounded (maxLength, formats, enums, max_text_length) and each case's
max_tokens is set so that a model with random weights ends nearly every
output (the tests want 80% of each case's outputs complete). Cases
outlines-core refuses carry the reason it gives (GUIDANCE_INVALID), checked
by the tests.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from typing import Any

import jsonschema


@dataclass(frozen=True)
class Case:
    name: str
    guidance: dict[str, Any]
    outlines_refuses: str | None = None  # part of outlines-core's GUIDANCE_INVALID message
    max_tokens: int = 96

    def check(self, text: str) -> None:
        """Raises AssertionError (or a validation error) when `text` is not a
        whole valid output of the constraint."""
        mode = self.guidance["mode"]
        if mode == "json_schema":
            check_json(self.guidance["schema"], text)
        elif mode == "regex":
            check_regex(self.guidance["pattern"], text)
        else:
            check_xml(self.guidance["schema"], self.guidance.get("root"), text)


# Draft 7's own checker has no `uuid`; this one checks every format the
# corpus uses (test_guidance_json_schema.py proves it rejects bad values).
FORMAT_CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER


def check_json(schema: dict[str, Any], text: str) -> None:
    jsonschema.Draft7Validator(schema, format_checker=FORMAT_CHECKER).validate(json.loads(text))


def check_regex(pattern: str, text: str) -> None:
    assert re.fullmatch(pattern, text, re.ASCII), f"{text!r} does not match {pattern!r}"


def check_xml(schema: str, root: str | None, text: str) -> None:
    """`text` is valid against `schema`, a DTD or an XSD (as lxml reads them)."""
    from lxml import etree

    from mlx_serving.guidance.xsd import is_xsd

    validator = (etree.XMLSchema(etree.fromstring(schema.encode())) if is_xsd(schema)
                 else etree.DTD(io.StringIO(schema)))
    document = etree.fromstring(text.encode())
    assert root is None or document.tag == root, f"root <{document.tag}>, expected <{root}>"
    assert validator.validate(document), f"{text!r}: {validator.error_log.filter_from_errors()}"


def grammar_accepts(backend_name: str, tokenizer: Any, rules: Any, document: str) -> bool:
    """Whether a backend's matcher for `rules` takes `document`, tokenized as a
    model would write it, as a whole output."""
    from mlx_serving.guidance.backend import backend_named

    backend = backend_named(backend_name)
    vocabulary = backend.vocabulary(tokenizer, len(tokenizer), [tokenizer.eos_token_id])
    matcher = backend.rules(rules, vocabulary).matcher()
    tokens = tokenizer.encode(document, add_special_tokens=False)
    return all(matcher.consume(token) for token in tokens) and matcher.is_accepting()


def _json(name: str, schema: dict[str, Any], outlines_refuses: str | None = None,
          max_tokens: int = 96) -> Case:
    return Case(name, {"mode": "json_schema", "schema": schema}, outlines_refuses, max_tokens)


def _regex(name: str, pattern: str) -> Case:
    return Case(name, {"mode": "regex", "pattern": pattern})


def _xml(name: str, schema: str, root: str | None = None, max_text_length: int = 6,
         outlines_refuses: str | None = None, max_tokens: int = 320) -> Case:
    guidance: dict[str, Any] = {"mode": "xml", "schema": schema,
                                "max_text_length": max_text_length}
    if root is not None:
        guidance["root"] = root
    return Case(name, guidance, outlines_refuses, max_tokens)


def _closed(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required,
            "additionalProperties": False}


_DIGIT = {"type": "integer", "minimum": 0, "maximum": 9}

JSON_CASES = [
    _json("string", {"type": "string", "maxLength": 6}),
    _json("string_lengths", {"type": "string", "minLength": 2, "maxLength": 4}),
    _json("number", {"type": "number"}, max_tokens=160),
    _json("number_bounds", {"type": "number", "minimum": 0.5, "maximum": 2.5},
          outlines_refuses="`maximum`"),
    _json("integer_bounds", {"type": "integer", "minimum": -5, "maximum": 1000},
          outlines_refuses="`maximum`"),
    _json("integer_exclusive", {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10},
          outlines_refuses="`exclusiveMaximum`"),
    _json("boolean", {"type": "boolean"}),
    _json("null", {"type": "null"}),
    _json("nullable", {"type": ["boolean", "null"]}),
    _json("object_required",
          _closed({"a": {"type": "boolean"}, "b": {"type": "null"}, "c": {"type": "boolean"}},
                  required=["a", "b"])),
    _json("nested_objects",
          _closed({"inner": _closed({"x": {"type": "boolean"},
                                     "deeper": _closed({"y": {"type": "null"}})})})),
    _json("array_items",
          {"type": "array", "items": {"type": "boolean"}, "minItems": 1, "maxItems": 3}),
    _json("array_of_objects",
          {"type": "array",
           "items": _closed({"ok": {"type": "boolean"}, "tag": {"enum": ["a", "b"]}}),
           "minItems": 1, "maxItems": 2}),
    _json("enum", {"enum": ["red", "green", "blue", 1, None]}),
    _json("const", _closed({"version": {"const": "v1"}, "flag": {"type": "boolean"}})),
    _json("pattern", {"type": "string", "pattern": "^[A-Z]{2}-\\d{3}$"}),
    _json("format_email", {"type": "string", "format": "email", "maxLength": 12},
          outlines_refuses="drops `format` when `maxLength` is set"),
    _json("format_uri", {"type": "string", "format": "uri", "maxLength": 16},
          outlines_refuses="drops `format` when `maxLength` is set"),
    _json("format_date_time", {"type": "string", "format": "date-time"}),
    _json("format_date", {"type": "string", "format": "date"}),
    _json("format_and_pattern", {"type": "string", "format": "date", "pattern": "^20"},
          outlines_refuses="both `pattern` and `format`"),
    _json("format_uuid", {"type": "string", "format": "uuid"}),
    # Extra keys under `additionalProperties` are strings of any length, which a
    # random-weights model rarely ends; `patternProperties` bounds them.
    _json("pattern_properties",
          {"type": "object", "properties": {"id": _DIGIT}, "required": ["id"],
           "patternProperties": {"^x[a-z]{0,2}$": {"type": "boolean"}},
           "additionalProperties": False, "maxProperties": 2},
          outlines_refuses="`maxProperties`"),
    _json("person",
          _closed({"name": {"type": "string", "minLength": 1, "maxLength": 5},
                   "age": {"type": "integer", "minimum": 0, "maximum": 120},
                   "email": {"type": "string", "format": "email", "maxLength": 10},
                   "tags": {"type": "array", "items": {"enum": ["x", "y"]}, "maxItems": 2}},
                  required=["name", "age"]),
          outlines_refuses="`maximum`"),
    _json("definitions_ref",
          {"definitions": {"flag": {"type": "boolean"}},
           "type": "object", "properties": {"on": {"$ref": "#/definitions/flag"}},
           "required": ["on"], "additionalProperties": False}),
]

REGEX_CASES = [
    _regex("phone", r"\+1-\d{3}-\d{3}-\d{4}"),
    _regex("iso_date", r"\d{4}-\d{2}-\d{2}"),
    _regex("choice", r"(yes|no|maybe)"),
    _regex("address", r"[a-z]{2,5}@[a-z]{2,4}\.(com|org)"),
    _regex("hex_colour", r"#[0-9a-fA-F]{6}"),
    _regex("word_and_number", r"\w{1,4} \d{1,3}"),
]

NOTE_DTD = """
<!ELEMENT note (to+, from, heading?, body)>
<!ELEMENT to (#PCDATA)>
<!ELEMENT from (#PCDATA)>
<!ELEMENT heading (#PCDATA)>
<!ELEMENT body (#PCDATA)>
<!ATTLIST note lang (en|fr|de) #REQUIRED priority CDATA #IMPLIED>
"""

XML_CASES = [
    _xml("note", NOTE_DTD, root="note"),
    _xml("mixed_content", """
<!ELEMENT para (#PCDATA | b | i)*>
<!ELEMENT b (#PCDATA)>
<!ELEMENT i (#PCDATA)>
""", max_text_length=4),
    _xml("choice_and_empty", """
<!ELEMENT shape (circle | square | line+)>
<!ELEMENT circle EMPTY>
<!ELEMENT square EMPTY>
<!ELEMENT line EMPTY>
<!ATTLIST circle r NMTOKEN #REQUIRED>
<!ATTLIST square side CDATA #REQUIRED unit (px|cm) "px">
<!ATTLIST line id ID #IMPLIED dash NMTOKENS #IMPLIED>
<!ATTLIST shape version CDATA #FIXED "1.0">
""", max_text_length=3),
    _xml("catalog", """
<!ELEMENT catalog (book, book?)>
<!ELEMENT book (title, price?)>
<!ELEMENT title (#PCDATA)>
<!ELEMENT price EMPTY>
<!ATTLIST price currency (EUR|USD) #REQUIRED>
<!ATTLIST book lang CDATA #IMPLIED>
"""),
    _xml("any_content", """
<!ELEMENT box ANY>
<!ELEMENT item EMPTY>
""", root="box", max_text_length=4, outlines_refuses="recursive"),
    _xml("recursive", """
<!ELEMENT node (leaf | node)>
<!ELEMENT leaf EMPTY>
""", outlines_refuses="recursive"),
]


def xsd_schema(body: str) -> str:
    """An XML Schema document with these declarations."""
    return ('<?xml version="1.0"?>\n<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
            f"{body}</xs:schema>")


ORDER_XSD = xsd_schema("""
  <xs:element name="order">
    <xs:annotation><xs:documentation>One order.</xs:documentation></xs:annotation>
    <xs:complexType>
      <xs:sequence>
        <xs:element name="customer" type="xs:string"/>
        <xs:element name="placed" type="xs:date"/>
        <xs:element name="item" type="Item" maxOccurs="2"/>
        <xs:element name="note" type="xs:string" minOccurs="0"/>
      </xs:sequence>
      <xs:attribute name="id" type="xs:integer" use="required"/>
      <xs:attribute name="status" type="Status"/>
    </xs:complexType>
  </xs:element>
  <xs:complexType name="Item">
    <xs:sequence>
      <xs:element name="sku" type="xs:string"/>
      <xs:element name="qty" type="xs:integer"/>
      <xs:element name="price" type="xs:decimal"/>
    </xs:sequence>
    <xs:attribute name="gift" type="xs:boolean"/>
  </xs:complexType>
  <xs:simpleType name="Status">
    <xs:restriction base="xs:string">
      <xs:enumeration value="open"/>
      <xs:enumeration value="shipped &amp; paid"/>
    </xs:restriction>
  </xs:simpleType>
""")

XSD_CASES = [
    _xml("xsd_order", ORDER_XSD, max_text_length=4, max_tokens=512),  # long: indentation
    _xml("xsd_refs_and_occurs", xsd_schema("""
  <xs:element name="shape">
    <xs:complexType>
      <xs:choice>
        <xs:element ref="circle"/>
        <xs:element ref="line" minOccurs="2" maxOccurs="unbounded"/>
      </xs:choice>
      <xs:attribute name="version" type="xs:string" fixed="1.0"/>
      <xs:attribute name="hidden" type="xs:string" use="prohibited"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="circle">
    <xs:complexType><xs:attribute name="r" type="xs:decimal" use="required"/></xs:complexType>
  </xs:element>
  <xs:element name="line">
    <xs:complexType><xs:attribute name="dash" type="xs:boolean"/></xs:complexType>
  </xs:element>
"""), max_text_length=3),
    _xml("xsd_nested_groups", xsd_schema("""
  <xs:element name="log">
    <xs:complexType>
      <xs:sequence>
        <xs:choice minOccurs="0" maxOccurs="4">
          <xs:element name="info" type="xs:string"/>
          <xs:element name="level">
            <xs:simpleType>
              <xs:restriction base="xs:integer">
                <xs:enumeration value="1"/><xs:enumeration value="2"/>
              </xs:restriction>
            </xs:simpleType>
          </xs:element>
        </xs:choice>
        <xs:sequence minOccurs="0">
          <xs:element name="count" type="xs:integer"/>
          <xs:element name="ok" type="xs:boolean"/>
        </xs:sequence>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
"""), root="log", max_text_length=3),
    _xml("xsd_recursive", xsd_schema("""
  <xs:element name="node">
    <xs:complexType>
      <xs:choice>
        <xs:element name="leaf" type="xs:boolean"/>
        <xs:element ref="node"/>
      </xs:choice>
    </xs:complexType>
  </xs:element>
"""), outlines_refuses="recursive"),
]

CASES = JSON_CASES + REGEX_CASES + XML_CASES + XSD_CASES

# Constraints the runtime must refuse up front (GUIDANCE_INVALID) on either
# backend, with a part of the message that names the problem.
INVALID = [
    ({"mode": "json_schema", "schema": {"type": "strin"}}, "strin"),
    ({"mode": "json_schema", "schema": {"type": "string", "pattern": "(("}}, "unclosed group"),
    ({"mode": "json_schema", "schema": {"type": "integer", "minimum": "x"}}, "minimum"),
    ({"mode": "json_schema", "schema": {"$ref": "#/definitions/missing"}}, "missing"),
    ({"mode": "json_schema", "schema": {"type": "string", "format": "no-such-format"}},
     "no-such-format"),
    ({"mode": "json_schema", "schema": {"not": {"type": "string"}}}, "not"),
    ({"mode": "json_schema", "schema": {"type": "string", "pattern": "abc\\"}}, "lone backslash"),
    ({"mode": "json_schema", "schema": {"properties": {"a": {"type": "boolean"}}, "required": ["b"],
                                        "additionalProperties": False}}, "`b` is required"),
    ({"mode": "json_schema", "schema": {"enum": []}}, "`enum` is empty"),
    ({"mode": "json_schema", "schema": {"anyOf": []}}, "`anyOf` is empty"),
    ({"mode": "regex", "pattern": "(ab"}, "unclosed group"),
    ({"mode": "regex", "pattern": r"(a)\1"}, "backreference"),
    ({"mode": "regex", "pattern": "(?=a)a"}, "look-around"),
    ({"mode": "regex", "pattern": "abc\\"}, "lone backslash"),  # llguidance's translation
    ({"mode": "regex", "pattern": "\\"}, "lone backslash"),  # would drop the backslash
    ({"mode": "xml", "schema": "<!ELEMENT a (b,>"}, "malformed DTD"),
    ({"mode": "xml", "schema": "<!ELEMENT a (b)>"}, "<b>"),
    ({"mode": "xml", "schema": "<!ELEMENT a EMPTY>", "root": "z"}, "<z>"),
    ({"mode": "xml", "schema": "<!ENTITY x 'y'>"}, "no element"),
    ({"mode": "xml", "schema": "<!ELEMENT a EMPTY><!ATTLIST a key ID #REQUIRED>"}, "ID"),
    ({"mode": "xml", "schema": xsd_schema('<xs:element name="a" type="xs:dateTime"/>')},
     "xs:dateTime"),
    ({"mode": "xml", "schema": xsd_schema('<xs:element name="a"><xs:complexType><xs:all>'
                                    '<xs:element name="b" type="xs:string"/></xs:all>'
                                    "</xs:complexType></xs:element>")}, "<xs:all>"),
    ({"mode": "xml", "schema": xsd_schema('<xs:element name="a" type="Missing"/>')},
     "malformed XSD"),
    ({"mode": "xml", "schema": xsd_schema('<xs:import namespace="urn:x" schemaLocation="x.xsd"/>')},
     "<xs:import>"),
    ({"mode": "xml", "schema": '<!ENTITY % ext SYSTEM "file:///etc/passwd"> %ext;'}, "external"),
]
