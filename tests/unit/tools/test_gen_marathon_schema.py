"""The embedded AppDefinition data (module_utils/_marathon_schema.py) is what the schema file generates."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

from ansible_collections.orchestrator.platform.plugins.module_utils import _marathon_schema

REPO = Path(__file__).resolve().parents[3]
spec = importlib.util.spec_from_file_location("gen_marathon_schema", REPO / "tools" / "gen_marathon_schema.py")
assert spec and spec.loader
gen = importlib.util.module_from_spec(spec)
sys.modules["gen_marathon_schema"] = gen
spec.loader.exec_module(gen)


def test_committed_module_is_what_the_schema_generates() -> None:
    generated = gen.generate(gen.DEFAULT_SCHEMA)
    committed = (REPO / "plugins" / "module_utils" / "_marathon_schema.py").read_text(encoding="utf-8")
    assert committed == generated, "run tools/gen_marathon_schema.py"
    assert _marathon_schema.SOURCE_SHA256 == hashlib.sha256(gen.DEFAULT_SCHEMA.read_bytes()).hexdigest()


def test_every_top_level_field_of_the_schema_is_known() -> None:
    schema = json.loads(gen.DEFAULT_SCHEMA.read_text(encoding="utf-8"))
    assert set(_marathon_schema.APP_SCHEMA["properties"]) == set(schema["properties"])
    assert _marathon_schema.APP_SCHEMA["additionalProperties"] is False
    assert not set(_marathon_schema.RAML_ONLY_FIELDS) & set(schema["properties"])
