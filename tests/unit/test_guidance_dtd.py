"""DTD -> grammar: documents valid against the DTD are in the grammar, others are not.

Each document is tokenized and fed to a matcher of each backend, as the
runtime's mask would let a model write it (guidance_corpus.grammar_accepts).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from guidance_corpus import NOTE_DTD, check_xml, grammar_accepts
from mlx_serving.guidance.dtd import dtd_rules
from mlx_serving.guidance.errors import GrammarError
from mlx_serving.guidance.rules import Alt, Pattern, Ref, Repeat, Rules, Seq, Text, to_lark, to_regex

SHAPES = """
<!ELEMENT shape (circle | line+)>
<!ELEMENT circle EMPTY>
<!ELEMENT line EMPTY>
<!ATTLIST circle r NMTOKEN #REQUIRED unit (px|cm) "px">
<!ATTLIST line id ID #IMPLIED dash NMTOKENS #IMPLIED>
<!ATTLIST shape version CDATA #FIXED "1.0">
"""
MIXED = """
<!ELEMENT para (#PCDATA | b | i)*>
<!ELEMENT b (#PCDATA)>
<!ELEMENT i EMPTY>
"""
TREE = """
<!ELEMENT node (leaf | node)>
<!ELEMENT leaf EMPTY>
"""


@pytest.fixture(scope="module")
def tokenizer(models: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(models / "tiny"))


@pytest.mark.parametrize("backend", ["llguidance", "outlines-core"])
@pytest.mark.parametrize("dtd, root, document, valid", [
    (NOTE_DTD, None, '<note lang="en"><to>Ann</to><from>Bo</from><body>Hi</body></note>', True),
    (NOTE_DTD, None, '<note lang="fr" priority="a &amp; b">\n  <to>A</to>\n  <to>B</to>\n'
                     '  <from>C</from>\n  <heading/>\n  <body></body>\n</note>', False),
    (NOTE_DTD, None, '<note lang="fr" priority="a &amp; b">\n  <to>A</to>\n  <to>B</to>\n'
                     '  <from>C</from>\n  <heading></heading>\n  <body></body>\n</note>', True),
    (NOTE_DTD, None, '<note><to>A</to><from>B</from><body>C</body></note>', False),  # lang
    (NOTE_DTD, None, '<note lang="it"><to>A</to><from>B</from><body>C</body></note>', False),
    (NOTE_DTD, None, '<note lang="en"><from>B</from><to>A</to><body>C</body></note>', False),
    (NOTE_DTD, None, '<note lang="en"><to>a<b</to><from>B</from><body>C</body></note>', False),
    (NOTE_DTD, "to", "<to>just me</to>", True),
    (SHAPES, None, '<shape version="1.0"><circle r="5" unit="cm"/></shape>', True),
    (SHAPES, None, '<shape><line dash="a b"/><line/></shape>', True),
    (SHAPES, None, '<shape version="2.0"><circle r="5"/></shape>', False),  # #FIXED
    (SHAPES, None, '<shape><line id="x"/></shape>', False),  # IDs are never written
    (SHAPES, None, '<shape><circle r="5"></circle></shape>', False),  # EMPTY is written <x/>
    (MIXED, None, "<para>x<b>y</b>z<i/><i/>w</para>", True),
    (MIXED, None, "<para></para>", True),
])
def test_documents(tokenizer: Any, backend: str, dtd: str, root: str | None, document: str,
                   valid: bool) -> None:
    rules = dtd_rules(dtd, root, max_text_length=16)
    assert grammar_accepts(backend, tokenizer, rules, document) == valid
    if valid:
        check_xml(dtd, root, document)  # the document itself is right


def test_text_runs_are_bounded(tokenizer: Any) -> None:
    rules = dtd_rules(MIXED, None, max_text_length=3)
    assert grammar_accepts("llguidance", tokenizer, rules, "<para>abc<i/>def</para>")
    assert not grammar_accepts("llguidance", tokenizer, rules, "<para>abcd</para>")
    long_text = "<para>" + "a" * 300 + "</para>"
    assert grammar_accepts("llguidance", tokenizer, dtd_rules(MIXED), long_text)


def test_recursion_needs_llguidance(tokenizer: Any) -> None:
    rules = dtd_rules(TREE)
    nested = "<node><node><node><leaf/></node></node></node>"
    assert grammar_accepts("llguidance", tokenizer, rules, nested)
    with pytest.raises(GrammarError, match=r"recursive \(<node> > <node>\)"):
        to_regex(rules)


def test_doctype_wrapper_names_the_root() -> None:
    rules = dtd_rules("<!DOCTYPE to [" + NOTE_DTD + "]>")
    assert rules.labels[rules.start] == "<to>"


@pytest.mark.parametrize("dtd, root, message", [
    ("<!ELEMENT a (b,>", None, "malformed DTD: line 1, column 16"),
    ("<!ELEMENT a (b)>", None, "<a> may contain <b>, which the DTD does not declare"),
    ("<!ELEMENT a EMPTY>", "z", "root element <z> is not declared"),
    ("<!ENTITY x 'y'>", None, "declares no element"),
    ("<!ELEMENT a EMPTY><!ATTLIST a key ID #REQUIRED>", None, "#REQUIRED ID"),
    ('<!ENTITY % ext SYSTEM "file:///etc/passwd"> %ext;', None, "external"),
])
def test_refused(dtd: str, root: str | None, message: str) -> None:
    with pytest.raises(GrammarError, match=message.replace("(", r"\(")):
        dtd_rules(dtd, root)


def test_rules_render_as_lark_and_regex() -> None:
    body = Seq((Text('a"/'), Repeat(Alt((Ref("s"), Pattern("[0-9]/x"))), "*")))
    rules = Rules(start="r", rules={"r": body, "s": Text("b.")})
    assert to_lark(rules) == 'start: r\nr: "a\\"/" ((s | /[0-9]\\/x/))*\ns: "b."\n'
    assert to_regex(rules) == 'a"/(?:(?:b\\.|(?:[0-9]/x)))*'
    # An escaped slash stays as it is in Lark.
    assert to_lark(Rules(start="r", rules={"r": Pattern("a\\/b")})).endswith("r: /a\\/b/\n")
