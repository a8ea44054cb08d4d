"""The built-in avatar passes the Khronos glTF validator with no errors, as VRM 1.0 and as VRM 0.x.

The validator knows neither VRM extension, so it reports them as unsupported (infos); VRM 0.x's extension name
``VRM`` lacks a vendor prefix, which it flags as a warning. Those are the only findings allowed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Literal

import pytest

from app.models.default_avatar import build_default_avatar
from tests.support.glb import parse_glb
from tests.support.gltf_validator import ValidatorMissing, validate
from tests.vrm_factory import pack_glb

pytestmark = pytest.mark.tier3

ERROR, WARNING = 0, 1
ALLOWED = {
    "1.0": {"UNSUPPORTED_EXTENSION", "UNUSED_OBJECT"},
    "0.x": {"UNSUPPORTED_EXTENSION", "UNUSED_OBJECT", "INVALID_EXTENSION_NAME_FORMAT"},
}
"""UNUSED_OBJECT: the thumbnail is used only by the VRM extension, which the validator does not read."""


@pytest.mark.parametrize("version", ["1.0", "0.x"])
def test_the_validator_finds_no_errors(version: Literal["1.0", "0.x"], tmp_path: Path) -> None:
    path = tmp_path / f"tama-{version}.vrm"
    path.write_bytes(build_default_avatar(version))
    try:
        report = validate(path)
    except ValidatorMissing as missing:
        pytest.skip(str(missing))
    issues = report["issues"]
    found = Counter((message["severity"], message["code"]) for message in issues["messages"])
    print(f"VRM {version}: {issues['numErrors']} errors, {issues['numWarnings']} warnings, {issues['numInfos']} infos")
    print(dict(found))
    assert issues["numErrors"] == 0, issues["messages"]
    assert {code for _severity, code in found} <= ALLOWED[version], found
    assert report["info"]["version"] == "2.0" and report["info"]["animationCount"] == 0
    assert report["info"]["hasMorphTargets"] and report["info"]["drawCallCount"] > 20
    assert found[(WARNING, "INVALID_EXTENSION_NAME_FORMAT")] == (1 if version == "0.x" else 0)


def test_the_validator_catches_a_broken_file(tmp_path: Path) -> None:
    """The harness can fail: an accessor reaching past its buffer view is an error."""
    document, blob = parse_glb(build_default_avatar("1.0"))
    document["accessors"][0]["count"] += 1000
    path = tmp_path / "broken.vrm"
    path.write_bytes(pack_glb(document, blob))
    try:
        report = validate(path)
    except ValidatorMissing as missing:
        pytest.skip(str(missing))
    assert report["issues"]["numErrors"] > 0
