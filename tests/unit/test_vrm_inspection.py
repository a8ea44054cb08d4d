"""The VRM gate: every valid VRM 0.x and 1.0 passes with its metadata; everything else gets one documented code and
a message a person understands; mutated files never raise anything else and never make it allocate for sizes the
file only claims to have."""

from __future__ import annotations

import io
import json
import re
import struct
import tracemalloc
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.models.glb import DEFAULT_LIMITS, InspectionLimits
from app.models.refusals import SUMMARIES, ModelRefused, RefusalCode
from app.models.vrm_inspection import ModelInspection, inspect_model, inspect_stream
from tests.vrm_factory import build_vrm, glb_document, pack_glb, rebuilt, solid_png

PNG_1PX = solid_png(1, 1, (255, 0, 0))
DOCS = Path(__file__).resolve().parents[2] / "docs" / "models.md"


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def refusal(path: Path, limits: InspectionLimits | None = None) -> ModelRefused:
    with pytest.raises(ModelRefused) as refused:
        inspect_model(path, limits) if limits else inspect_model(path)
    assert refused.value.message.endswith((".", ")")), refused.value.message
    return refused.value


# Accepting -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["0.x", "1.0"])
def test_generated_models_pass_with_their_metadata(tmp_path: Path, version: Literal["0.x", "1.0"]) -> None:
    result = inspect_model(write(tmp_path, "ada.vrm", build_vrm(version, title="Ada", thumbnail=PNG_1PX)))
    assert result.vrm_version == version
    assert result.meta.title == "Ada" and result.meta.authors == ("Stage Tamagotchi tests",)
    assert result.mouth_ready and result.blink_ready
    assert {e.name for e in result.expressions} == {"aa", "ih", "ou", "ee", "oh", "blink"}
    assert result.counts.meshes == 1 and result.counts.morph_targets == 6 and result.counts.bones == 2
    assert result.thumbnail == PNG_1PX and result.thumbnail_mime == "image/png"
    assert result.generator == "stage-tamagotchi tests"
    assert "thumbnail" not in json.dumps(result.to_json()).replace("thumbnail_mime", "").replace("thumbnail_image", "")


def test_license_fields_of_both_versions(tmp_path: Path) -> None:
    vrm0 = inspect_model(write(tmp_path, "a.vrm", build_vrm("0.x")))
    assert vrm0.meta.license.name == "CC0 (public domain)"
    assert vrm0.meta.license.permissions == {"licenseName": "CC0"}

    def permissive(document: dict[str, Any]) -> None:
        document["extensions"]["VRMC_vrm"]["meta"].update(
            avatarPermission="everyone",
            commercialUsage="corporation",
            allowRedistribution=True,
            modification="allowModification",
            creditNotation="unnecessary",
        )

    vrm1 = inspect_model(write(tmp_path, "b.vrm", rebuilt("1.0", permissive)))
    assert vrm1.meta.license.name == "VRM Public License 1.0"
    assert vrm1.meta.license.permissions["allowRedistribution"] is True
    assert "corporate use allowed" in vrm1.meta.license.summary
    assert "redistribution allowed" in vrm1.meta.license.summary


def test_godette_vrm0(vrm_fixture: Callable[[str], Path]) -> None:
    result = inspect_model(vrm_fixture("Godette_vrm_v4.vrm"))
    assert (result.vrm_version, result.spec_version, result.meta.title) == ("0.x", "0.0", "Low-Poly Godette")
    assert result.meta.authors == ("SirRichard94",)
    assert result.meta.license.name == "CC BY" and result.meta.license.permissions["commercialUssageName"] == "Allow"
    assert result.mouth_ready and result.blink_ready
    assert result.counts.meshes == 2 and result.counts.morph_targets == 15 and result.counts.bones == 45
    assert result.thumbnail_mime == "image/jpeg" and result.thumbnail is not None
    assert result.thumbnail.startswith(b"\xff\xd8\xff")
    assert result.warnings == ()


def test_vrm1_fixtures_with_empty_binds_and_texture_binds(vrm_fixture: Callable[[str], Path]) -> None:
    robot = inspect_model(vrm_fixture("debug_robot.vrm"))
    assert robot.vrm_version == "1.0" and robot.meta.license.permissions["allowRedistribution"] is True
    assert len(robot.expressions) == 18 and not robot.mouth_ready and not robot.blink_ready
    assert robot.counts.bones == 53

    binary = inspect_model(vrm_fixture("VRMC_vrm_expressions_isBinary_Overrides.vrm"))
    assert {e.name: e.binds for e in binary.expressions} == {"happy": 2, "blink": 2}
    # Its meta.references is [] (the schema wants one item): a warning, not a refusal.
    assert any("references" in warning for warning in binary.warnings)


def test_every_shared_fixture_passes(vrm_fixture: Callable[[str], Path]) -> None:
    folder = vrm_fixture("Godette_vrm_v4.vrm").parent
    for path in sorted(folder.rglob("*.vrm")):
        assert isinstance(inspect_model(path), ModelInspection), path


def test_harmless_deviations_are_warnings(tmp_path: Path) -> None:
    def sloppy(document: dict[str, Any]) -> None:
        del document["extensions"]["VRMC_vrm"]["meta"]["authors"]
        document["extensions"]["VRMC_vrm"]["meta"]["references"] = []

    result = inspect_model(write(tmp_path, "a.vrm", rebuilt("1.0", sloppy)))
    assert any("meta.authors" in w for w in result.warnings) and any("references" in w for w in result.warnings)
    assert any("hips, spine" not in w and "leftUpperLeg" in w for w in result.warnings)


def test_nul_padded_json_is_accepted_with_a_warning(tmp_path: Path) -> None:
    text = json.dumps(glb_document(VALID)).encode()
    text += b"\x00" * (4 + -len(text) % 4)
    binary = VALID[20 + JSON_LENGTH :]
    data = glb_header(2, 12 + 8 + len(text) + len(binary)) + chunk(b"JSON", text) + binary
    result = inspect_model(write(tmp_path, "a.vrm", data))
    assert any("NUL" in w for w in result.warnings)


# Refusing ------------------------------------------------------------------------------------------------------


def zip_with(*names: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, b"x")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "detected", "words"),
    [
        (zip_with("hiyori/hiyori.model3.json", "hiyori/hiyori.moc3"), "live2d", "Live2D"),
        (zip_with("avatar/Ada.vrm", "readme.txt"), "zip-with-vrm", "Unzip it"),
        (zip_with("notes.txt"), "zip", "zip archive"),
        (b"PMX \x00\x00\x00\x40" + b"\x00" * 40, "pmx", "MMD"),
        (b"Pmd\x00\x00\x80?" + b"\x00" * 40, "pmd", "MMD"),
        (b"Kaydara FBX Binary  \x00\x1a\x00" + b"\x00" * 40, "fbx", "FBX"),
        (b"; FBX 7.4.0 project file\n", "fbx", "FBX"),
        (b"# Blender OBJ\nmtllib a.mtl\no Cube\nv 1 1 1\nv 0 0 0\nf 1 2 1\n", "obj", "OBJ"),
        (b'{"asset": {"version": "2.0"}, "scenes": []}', "gltf-json", ".gltf"),
        (b'{"Version": 3, "FileReferences": {"Moc": "a.moc3"}}', "live2d", "Live2D"),
        (b"version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n", "git-lfs-pointer", "LFS"),
        (b"<!DOCTYPE html><html><body>Sign in</body></html>", "html", "web page"),
        (PNG_1PX, "png", "image"),
    ],
)
def test_other_formats_are_named(tmp_path: Path, data: bytes, detected: str, words: str) -> None:
    refused = refusal(write(tmp_path, "model.vrm", data))
    assert refused.code is RefusalCode.WRONG_FORMAT and refused.detected_format == detected
    assert words in refused.message


def glb_header(version: int, length: int) -> bytes:
    return b"glTF" + struct.pack("<II", version, length)


def chunk(kind: bytes, data: bytes, declared: int | None = None) -> bytes:
    return struct.pack("<I", len(data) if declared is None else declared) + kind + data


VALID = build_vrm("1.0")
JSON_LENGTH = struct.unpack_from("<I", VALID, 12)[0]


def with_total(body: bytes) -> bytes:
    return glb_header(2, 12 + len(body)) + body


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", RefusalCode.EMPTY),
        (b"\x00\x01\x02garbage bytes\xff" * 10, RefusalCode.NOT_GLB),
        (b"glTF\x02\x00", RefusalCode.TRUNCATED),
        (glb_header(1, 20) + b"\x00" * 8, RefusalCode.UNSUPPORTED_GLB_VERSION),
        (VALID[:-7], RefusalCode.TRUNCATED),
        (VALID[: 20 + JSON_LENGTH // 2], RefusalCode.TRUNCATED),
        (VALID + b"\x00" * 8, RefusalCode.BAD_CHUNK),
        (with_total(chunk(b"BIN\x00", b"abcd")), RefusalCode.BAD_CHUNK),
        (with_total(chunk(b"JSON", b"{}  ", declared=400)), RefusalCode.BAD_CHUNK),
        (with_total(chunk(b"JSON", b"{} ")), RefusalCode.BAD_CHUNK),
        (with_total(chunk(b"JSON", b"{}  ") + chunk(b"JSON", b"{}  ")), RefusalCode.BAD_CHUNK),
        (with_total(chunk(b"JSON", b"{}  ") + b"\x04\x00"), RefusalCode.BAD_CHUNK),
        (glb_header(2, 12), RefusalCode.TRUNCATED),
        (with_total(chunk(b"JSON", b"{{{{")), RefusalCode.BAD_JSON),
        (with_total(chunk(b"JSON", b"[1] ")), RefusalCode.BAD_JSON),
        (with_total(chunk(b"JSON", b'{"\xff":12}')), RefusalCode.BAD_JSON),
        (with_total(chunk(b"JSON", b"[" * 40000)), RefusalCode.BAD_JSON),
        (pack_glb({"asset": {"version": "2.0"}}), RefusalCode.NOT_VRM),
        (pack_glb({"asset": {"version": "1.0"}}), RefusalCode.UNSUPPORTED_GLB_VERSION),
        (pack_glb({"asset": {"version": "2.0"}, "nodes": {"a": 1}}), RefusalCode.BAD_JSON),
        (
            pack_glb({"asset": {"version": "2.0"}, "extensions": {"VRMC_vrm": {"specVersion": "1.0-beta"}}}),
            RefusalCode.UNSUPPORTED_VRM_VERSION,
        ),
        (
            pack_glb({"asset": {"version": "2.0"}, "extensions": {"VRM": {"specVersion": "2.0"}}}),
            RefusalCode.UNSUPPORTED_VRM_VERSION,
        ),
    ],
)
def test_broken_and_foreign_files_get_their_code(tmp_path: Path, data: bytes, code: RefusalCode) -> None:
    assert refusal(write(tmp_path, "x.vrm", data)).code is code


def test_a_vrm_animation_is_not_an_avatar(tmp_path: Path) -> None:
    data = pack_glb({"asset": {"version": "2.0"}, "extensions": {"VRMC_vrm_animation": {"specVersion": "1.0"}}})
    refused = refusal(write(tmp_path, "dance.vrma", data))
    assert refused.code is RefusalCode.WRONG_FORMAT and refused.detected_format == "vrma"


@pytest.mark.parametrize(
    ("version", "change", "words"),
    [
        (
            "1.0",
            lambda d: d["extensions"]["VRMC_vrm"]["expressions"]["preset"]["aa"]["morphTargetBinds"][0].update(node=99),
            "morphTargetBinds[0].node is 99",
        ),
        (
            "1.0",
            lambda d: d["extensions"]["VRMC_vrm"]["expressions"]["preset"]["aa"]["morphTargetBinds"][0].update(
                index=17
            ),
            "has 6 morph targets",
        ),
        (
            "0.x",
            lambda d: d["extensions"]["VRM"]["blendShapeMaster"]["blendShapeGroups"][0]["binds"][0].update(mesh=3),
            "binds[0].mesh is 3 but there is 1 mesh",
        ),
        ("1.0", lambda d: d["nodes"][2].update(mesh=5), "nodes[2].mesh is 5"),
        ("1.0", lambda d: d["extensions"]["VRMC_vrm"]["meta"].update(thumbnailImage=4), "thumbnail is 4"),
        ("0.x", lambda d: d["extensions"]["VRM"]["meta"].update(texture=2), "VRM.meta.texture is 2"),
        ("1.0", lambda d: d.update(images=[{"bufferView": 40, "mimeType": "image/png"}]), "images[0].bufferView"),
        ("1.0", lambda d: d["nodes"][1].update(children=[0]), "cycle"),
        ("1.0", lambda d: d["accessors"][0].update(count=10_000), "accessors[0] needs"),
        ("1.0", lambda d: d["buffers"][0].update(uri="avatar.bin"), "outside file"),
        (
            "1.0",
            lambda d: d["extensions"]["VRMC_vrm"]["humanoid"]["humanBones"]["head"].update(node="1"),
            "not an index",
        ),
    ],
)
def test_broken_references_are_listed(
    tmp_path: Path, version: Literal["0.x", "1.0"], change: Callable[[dict[str, Any]], None], words: str
) -> None:
    refused = refusal(write(tmp_path, "a.vrm", rebuilt(version, change)))
    assert refused.code is RefusalCode.BROKEN_REFERENCES
    assert words in refused.message


@pytest.mark.parametrize("version", ["0.x", "1.0"])
def test_a_model_without_hips_or_head_is_refused(tmp_path: Path, version: Literal["0.x", "1.0"]) -> None:
    def headless(document: dict[str, Any]) -> None:
        vrm = document["extensions"]["VRM" if version == "0.x" else "VRMC_vrm"]
        bones = vrm["humanoid"]["humanBones"]
        if isinstance(bones, list):
            bones[:] = [bone for bone in bones if bone["bone"] != "head"]
        else:
            del bones["head"]

    refused = refusal(write(tmp_path, "a.vrm", rebuilt(version, headless)))
    assert refused.code is RefusalCode.MISSING_HUMANOID and "head" in refused.message


def test_size_limits(tmp_path: Path) -> None:
    path = write(tmp_path, "a.vrm", VALID)
    assert refusal(path, InspectionLimits(max_file_bytes=len(VALID) - 1)).code is RefusalCode.TOO_LARGE
    limited = refusal(path, InspectionLimits(max_json_bytes=JSON_LENGTH - 4))
    assert limited.code is RefusalCode.BAD_CHUNK and "limit" in limited.message


def test_unreadable_paths(tmp_path: Path) -> None:
    assert refusal(tmp_path / "missing.vrm").code is RefusalCode.UNREADABLE
    assert refusal(tmp_path).code is RefusalCode.UNREADABLE


def test_every_code_is_documented_with_its_summary() -> None:
    text = DOCS.read_text()
    for code in RefusalCode:
        assert f"`{code.value}`" in text, code
        assert SUMMARIES[code] in text, code
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE))
    assert documented == {code.value for code in RefusalCode}


# Mutations -----------------------------------------------------------------------------------------------------


def inspect_bytes(data: bytes, limits: InspectionLimits = DEFAULT_LIMITS) -> ModelInspection | ModelRefused:
    try:
        return inspect_stream(io.BytesIO(data), len(data), limits)
    except ModelRefused as refused:
        assert refused.code in RefusalCode and refused.message
        return refused


def chunk_boundaries(data: bytes) -> list[int]:
    """Every offset where a header field or chunk starts or ends."""
    points = {0, 4, 8, 12}
    offset = 12
    while offset + 8 <= len(data):
        length = struct.unpack_from("<I", data, offset)[0]
        points.update({offset, offset + 4, offset + 8, offset + 8 + length})
        offset += 8 + length
    return sorted(p for p in points if p <= len(data))


@pytest.mark.parametrize("version", ["0.x", "1.0"])
def test_truncation_at_every_chunk_boundary_is_refused(version: Literal["0.x", "1.0"]) -> None:
    data = build_vrm(version, thumbnail=PNG_1PX)
    for cut in chunk_boundaries(data):
        for at in (cut - 1, cut, cut + 1):
            if 0 <= at < len(data):
                assert isinstance(inspect_bytes(data[:at]), ModelRefused), at


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_bit_flips_never_escape_as_anything_but_a_refusal(data: st.DataObject) -> None:
    original = bytearray(data.draw(st.sampled_from([build_vrm("0.x"), build_vrm("1.0", thumbnail=PNG_1PX)])))
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(original) - 1))
        original[position] ^= 1 << data.draw(st.integers(0, 7))
    inspect_bytes(bytes(original))


@settings(max_examples=200, deadline=None)
@given(
    field=st.sampled_from([8, 12, 20 + JSON_LENGTH]),
    value=st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 3, 2**31, 2**32 - 1, 1 << 30])),
)
def test_lying_length_fields_are_refused_without_allocating_for_them(field: int, value: int) -> None:
    data = bytearray(VALID)
    struct.pack_into("<I", data, field, value)
    tracemalloc.start()
    try:
        outcome = inspect_bytes(bytes(data))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    if bytes(data) != VALID:
        assert isinstance(outcome, ModelRefused) or field == 20 + JSON_LENGTH
    # Whatever the header claims (up to 4 GiB), the work stays proportional to the real file.
    assert peak < 64 * len(VALID) + (1 << 20), peak


@settings(max_examples=100, deadline=None)
@given(depth=st.integers(1, 200_000), opener=st.sampled_from([b"[", b'{"a":']))
def test_deeply_nested_json_is_a_bad_json_refusal_or_a_plain_refusal(depth: int, opener: bytes) -> None:
    text = opener * depth
    text += b" " * (-len(text) % 4)
    outcome = inspect_bytes(with_total(chunk(b"JSON", text)))
    assert isinstance(outcome, ModelRefused) and outcome.code is RefusalCode.BAD_JSON


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_json_mutations_are_accepted_or_refused_with_a_code(data: st.DataObject) -> None:
    """Values swapped for other types or out-of-range numbers anywhere in the document."""
    document = glb_document(build_vrm(data.draw(st.sampled_from(["0.x", "1.0"]))))
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, value in items:
            paths.append((node, key))
            walk(value)

    walk(document)
    for _ in range(data.draw(st.integers(1, 4))):
        parent, key = data.draw(st.sampled_from(paths))
        parent[key] = data.draw(
            st.one_of(st.none(), st.booleans(), st.integers(-3, 2**40), st.text(max_size=4), st.just([]), st.just({}))
        )
    inspect_bytes(pack_glb(document, b"\x00" * 4096))
