"""Every module's DOCUMENTATION, EXAMPLES and RETURN parse as YAML.

The sanity gate checks far more, but takes minutes; a plain ``word: word`` inside a description
(a colon and a space) breaks the YAML and failed CI twice. This catches it in a second.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

MODULES = sorted((Path(__file__).resolve().parents[4] / "plugins" / "modules").glob("*.py"))


def _doc_blocks(path: Path) -> dict[str, str]:
    blocks = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id in ("DOCUMENTATION", "EXAMPLES", "RETURN"):
                    blocks[target.id] = node.value.value
    return blocks


def test_modules_are_found():
    assert len(MODULES) >= 5, MODULES


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_doc_blocks_are_yaml(path: Path):
    blocks = _doc_blocks(path)
    assert set(blocks) == {"DOCUMENTATION", "EXAMPLES", "RETURN"}, f"{path.name}: {sorted(blocks)}"
    for name, text in blocks.items():
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            pytest.fail(f"{path.name} {name} is not valid YAML: {exc}")
        assert loaded, f"{path.name} {name} is empty"


@pytest.mark.parametrize("path", MODULES, ids=[p.stem for p in MODULES])
def test_attributes_come_from_the_shared_fragment(path: Path):
    """What check_mode, diff_mode and idempotent mean is written once, in doc_fragments/attributes.py.

    A module extends that fragment and declares only its support level and its own details.
    """
    doc = yaml.safe_load(_doc_blocks(path)["DOCUMENTATION"])
    fragments = doc.get("extends_documentation_fragment") or []
    assert "orchestrator.platform.attributes" in fragments, f"{path.name}: {fragments}"
    attributes = dict(doc.get("attributes") or {})
    if "orchestrator.platform.attributes.info_module" in fragments:
        assert not attributes, f"{path.name}: an info module takes its attributes from the info_module fragment"
        return
    assert {"check_mode", "diff_mode", "idempotent"} <= set(attributes), f"{path.name}: {sorted(attributes)}"
    for name, attribute in attributes.items():
        assert "description" not in attribute, f"{path.name}: attributes.{name} repeats the fragment's description"
        assert attribute.get("support") in ("full", "partial", "none", "N/A"), f"{path.name}: attributes.{name}"
