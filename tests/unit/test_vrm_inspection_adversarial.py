"""Crafted files a review found: each once made inspection raise, hang, read too much or take quadratic time."""

from __future__ import annotations

import io
import json
import math
import os
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import pytest

from app.models.refusals import ModelRefused, RefusalCode
from app.models.sniff import zip_member_names
from app.models.vrm_inspection import inspect_model
from tests.vrm_factory import build_vrm, chunk_bytes, glb_document, pack_glb, rebuilt, solid_png


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refused(path: Path) -> ModelRefused:
    with pytest.raises(ModelRefused) as caught:
        inspect_model(path)
    return caught.value


def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = [value]
    return value


def test_unpaired_surrogates_and_deep_values_are_kept_safely(tmp_path: Path) -> None:
    def hostile(document: dict[str, Any]) -> None:
        meta = document["extensions"]["VRMC_vrm"]["meta"]
        meta["name"] = "Ada \ud800"
        meta["thirdPartyLicenses"] = nested(600)
        meta["otherLicenseUrl"] = math.nan

    result = inspect_model(write(tmp_path, "a.vrm", rebuilt("1.0", hostile)))
    assert result.meta.title == "Ada ?"
    text = json.dumps(result.to_json(), allow_nan=False)  # valid JSON, printable
    text.encode("utf-8")
    assert result.meta.license.permissions["otherLicenseUrl"] is None


def test_a_negative_thumbnail_length_is_a_broken_reference(tmp_path: Path) -> None:
    data = build_vrm("1.0", thumbnail=solid_png(4, 4, (1, 2, 3)))
    document = glb_document(data)
    document["bufferViews"][-1]["byteLength"] = -1
    binary = data[20 + int.from_bytes(data[12:16], "little") + 8 :]
    caught = refused(write(tmp_path, "a.vrm", pack_glb(document, binary)))
    assert caught.code is RefusalCode.BROKEN_REFERENCES and "byteLength is -1, not a size" in caught.message


def test_a_thumbnail_over_the_limit_is_not_read(tmp_path: Path) -> None:
    path = write(tmp_path, "a.vrm", build_vrm("1.0", thumbnail=bytes(17 << 20)))
    tracemalloc.start()
    try:
        result = inspect_model(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.thumbnail is None and peak < 4 << 20


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            lambda d: d.setdefault("extensions", {}).update(VRMC_springBone={"springs": [{"joints": [{"node": 999}]}]}),
            "joints[0].node is 999",
        ),
        (
            lambda d: d.setdefault("extensions", {}).update(
                VRMC_springBone={"colliders": [{"node": 0}], "colliderGroups": [{"colliders": [3]}]}
            ),
            "colliders[0] is 3",
        ),
        (lambda d: d["extensions"]["VRMC_vrm"].update(firstPerson={"meshAnnotations": [{"node": 77}]}), "node is 77"),
        (
            lambda d: d.update(
                animations=[
                    {"samplers": [{"input": 0, "output": 0}], "channels": [{"sampler": 0, "target": {"node": 55}}]}
                ]
            ),
            "node is 55",
        ),
        (lambda d: d.update(animations=[{"samplers": [], "channels": [{"sampler": 2}]}]), "sampler is 2"),
        (
            lambda d: d["accessors"][0].update(
                sparse={"count": 1, "indices": {"bufferView": 400}, "values": {"bufferView": 0}}
            ),
            "sparse.indices.bufferView",
        ),
        (lambda d: d["accessors"][0].update(count=-4), "count is -4, not a size"),
    ],
)
def test_references_inside_extensions_and_animations(tmp_path: Path, change: Any, words: str) -> None:
    caught = refused(write(tmp_path, "a.vrm", rebuilt("1.0", change)))
    assert caught.code is RefusalCode.BROKEN_REFERENCES and words in caught.message


def test_vrm0_secondary_animation_references(tmp_path: Path) -> None:
    def springs(document: dict[str, Any]) -> None:
        document["extensions"]["VRM"]["secondaryAnimation"] = {"boneGroups": [{"bones": [0, 99], "center": -1}]}

    caught = refused(write(tmp_path, "a.vrm", rebuilt("0.x", springs)))
    assert "boneGroups[0].bones[1] is 99" in caught.message


@pytest.mark.timeout(60)
def test_many_accessors_and_binds_take_linear_time(tmp_path: Path) -> None:
    """Quadratic checks took hours for a 64 MiB JSON chunk; 40,000 of each must pass within the test timeout."""
    count = 40_000

    def wide(document: dict[str, Any]) -> None:
        document["bufferViews"] += [{"buffer": 0, "byteLength": 4}] * count
        document["accessors"] += [{"bufferView": 0, "componentType": 5126, "count": 1, "type": "SCALAR"}] * count
        binds = document["extensions"]["VRMC_vrm"]["expressions"]["preset"]["aa"]["morphTargetBinds"]
        binds += [{"node": 2, "index": 0, "weight": 1.0}] * count

    result = inspect_model(write(tmp_path, "a.vrm", rebuilt("1.0", wide)))
    assert result.expressions[0].binds == count + 1


def test_a_pipe_is_refused_without_opening_it(tmp_path: Path) -> None:
    fifo = tmp_path / "model.vrm"
    os.mkfifo(fifo)
    caught = refused(fifo)
    assert caught.code is RefusalCode.UNREADABLE and "not a regular file" in caught.message


def test_chunk_count_is_bounded(tmp_path: Path) -> None:
    data = build_vrm("1.0")
    extra = chunk_bytes(b"XTRA", b"") * 100
    body = data[12:] + extra
    crafted = b"glTF" + (2).to_bytes(4, "little") + (12 + len(body)).to_bytes(4, "little") + body
    caught = refused(write(tmp_path, "a.vrm", crafted))
    assert caught.code is RefusalCode.BAD_CHUNK and "more than 64 chunks" in caught.message


def test_unknown_chunks_make_one_warning(tmp_path: Path) -> None:
    data = build_vrm("1.0")
    body = data[12:] + chunk_bytes(b"XTRA", b"abcd") * 10
    result = inspect_model(
        write(tmp_path, "a.vrm", b"glTF" + (2).to_bytes(4, "little") + (12 + len(body)).to_bytes(4, "little") + body)
    )
    assert [w for w in result.warnings if "unknown type" in w] == [
        "ignored 10 chunk(s) of unknown type after the JSON and BIN chunks"
    ]


def test_zip_names_are_read_with_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(20_000):
            archive.writestr(f"f{i}.txt", b"")
        archive.writestr("deep/inside/Ada.vrm", b"x")
    tracemalloc.start()
    try:
        names = zip_member_names(path, limit=10_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(names) == 10_000 and names[0] == "f0.txt" and peak < 4 << 20
    assert zip_member_names(path, limit=30_000)[-1] == "deep/inside/Ada.vrm"
    # Only the first 10,000 names are looked at: past that, it is named as a plain zip archive.
    caught = refused(path)
    assert caught.detected_format == "zip" and caught.message.startswith("This is a zip archive, not a VRM avatar.")


def test_a_damaged_zip_is_named(tmp_path: Path) -> None:
    caught = refused(write(tmp_path, "a.zip", b"PK\x03\x04" + bytes(100)))
    assert caught.detected_format == "zip" and "damaged zip" in caught.message
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.moc3", b"x")
    assert refused(write(tmp_path, "b.zip", buffer.getvalue())).detected_format == "live2d"
