"""The machine-readable form of docs/protocol.md: a JSON Schema generated from the pydantic models.

``python -m godot_bridge.protocol.schema --write`` regenerates the committed ``schema.json``; ``--check`` exits 1
when it is stale (the test suite does the same).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from godot_bridge.protocol.codes import SCENE_FAILURE_CODES, CloseCode, ErrorCode
from godot_bridge.protocol.envelope import PROTOCOL_VERSION, Envelope
from godot_bridge.protocol.messages import PAYLOAD_MODELS, REPLY_TYPES, RESERVED_NAMESPACES

SCHEMA_PATH = Path(__file__).with_name("schema.json")


def build_schema() -> dict[str, Any]:
    mode: Literal["validation"] = "validation"
    classes: list[type[BaseModel]] = [Envelope, *PAYLOAD_MODELS.values()]
    models = [(model, mode) for model in classes]
    refs, definitions = models_json_schema(models, by_alias=True, ref_template="#/$defs/{model}")
    payloads = {type_: refs[(model, "validation")] for type_, model in PAYLOAD_MODELS.items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://stage-tamagotchi.invalid/protocol/v1.json",
        "title": f"Stage bridge protocol, version {PROTOCOL_VERSION}",
        "description": "See docs/protocol.md. 'payloads' maps each message type to the schema of its payload.",
        "protocolVersion": PROTOCOL_VERSION,
        "envelope": refs[(Envelope, "validation")],
        "payloads": payloads,
        "replies": {request: sorted(replies) for request, replies in REPLY_TYPES.items()},
        "reservedNamespaces": list(RESERVED_NAMESPACES),
        "errorCodes": [code.value for code in ErrorCode],
        "closeCodes": {code.name.lower().replace("_", "-"): code.value for code in CloseCode},
        "sceneFailureCodes": list(SCENE_FAILURE_CODES),
        "$defs": definitions["$defs"],
    }


def render() -> str:
    return json.dumps(build_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate schema.json")
    mode.add_argument("--check", action="store_true", help="exit 1 if schema.json is stale")
    args = parser.parse_args(argv)
    text = render()
    if args.write:
        SCHEMA_PATH.write_text(text, encoding="utf-8")
        return 0
    if SCHEMA_PATH.read_text(encoding="utf-8") != text:
        print(f"{SCHEMA_PATH} is stale: run python -m godot_bridge.protocol.schema --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
