"""XML guidance (DTD, XSD) never makes the parser read a file, a device or a URL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlx_serving.guidance.dtd import dtd_rules
from mlx_serving.guidance.errors import GrammarError
from mlx_serving.guidance.xsd import xsd_rules

# A parameter entity whose value spells, in character references, the
# declaration of an external parameter entity, then both referenced.
_SMUGGLED = ('<!ENTITY % p "&#60;!ENTITY &#37; q SYST&#69;M \'{url}\'&#62;"> %p; %q; '
             '<!ELEMENT root (#PCDATA)>')


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.dtd"
    path.write_text("<!ELEMENT leakedname (#PCDATA)>")
    return path


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def _targets(secret: Path, fifo: Path) -> list[str]:
    return [secret.as_uri(), "file:///dev/zero", fifo.as_uri(), "file:///dev/stdin",
            "http://127.0.0.1:9/x.dtd"]


@pytest.mark.timeout(20)
def test_smuggled_parameter_entities_are_refused(secret: Path, fifo: Path) -> None:
    for url in _targets(secret, fifo):
        with pytest.raises(GrammarError, match="parameter entities") as caught:
            dtd_rules(_SMUGGLED.format(url=url), "root")
        assert "leakedname" not in str(caught.value)


@pytest.mark.parametrize("dtd", [
    '<!ENTITY % e "x">',  # declared, never used
    "<!ELEMENT root (#PCDATA)> %e;",  # used, never declared
    '<!ENTITY  %  e  "<!ELEMENT leaked EMPTY>"> %e; <!ELEMENT root EMPTY>',
])
def test_every_parameter_entity_is_refused(dtd: str) -> None:
    with pytest.raises(GrammarError, match="parameter entities"):
        dtd_rules(dtd, "root")


@pytest.mark.parametrize("dtd", [
    "<!ELEMENT root EMPTY> <![INCLUDE[ <!ELEMENT b EMPTY> ]]>",
    # Closing the internal subset early to smuggle document content in.
    "<!ELEMENT root EMPTY>]><root>&x;</root><!--",
])
def test_conditional_sections_and_breakouts_are_refused(dtd: str) -> None:
    with pytest.raises(GrammarError, match="conditional section"):
        dtd_rules(dtd, "root")


def test_percent_signs_in_literals_and_comments_are_text() -> None:
    dtd = ('<!-- 100% of it --><!ELEMENT root EMPTY>'
           '<!ATTLIST root width CDATA "100%" note CDATA \'[a]\'>')
    rules = dtd_rules(dtd)
    assert rules.labels[rules.start] == "<root>"


@pytest.mark.parametrize("entity", ["SYSTEM 'file:///dev/zero'", "PUBLIC 'x' 'file:///etc/passwd'"])
def test_external_general_entities_are_refused(entity: str) -> None:
    with pytest.raises(GrammarError, match="external"):
        dtd_rules(f"<!ENTITY e {entity}><!ELEMENT root EMPTY>", "root")


@pytest.mark.timeout(20)
def test_xsd_with_a_doctype_is_refused(secret: Path, fifo: Path) -> None:
    for url in _targets(secret, fifo):
        subset = _SMUGGLED.format(url=url).replace("<!ELEMENT root (#PCDATA)>", "")
        xsd = (f"<!DOCTYPE xs:schema [{subset}]>"
               '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
               '<xs:element name="root" type="xs:string"/></xs:schema>')
        with pytest.raises(GrammarError, match="DOCTYPE") as caught:
            xsd_rules(xsd)
        assert "leakedname" not in str(caught.value)
