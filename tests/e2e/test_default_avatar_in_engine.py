"""The built-in avatar in the real Godot 4.6 engine: it imports as VRM 1.0 and 0.x with every expression drivable,
and a captured frame shows it (bright colours, a good share of the frame); each viseme, baked into the face, changes
the mouth as designed and a baked blink closes the eyes.

The captured PNGs are kept in the test's tmp folder (the path is printed) for a person to look at.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import numpy.typing as npt
import pytest
from PySide6.QtGui import QImage

from app.models.default_avatar import build_default_avatar
from godot_bridge.server import BridgeServer
from tests.e2e.conftest import web_stage
from tests.support.glb import accessor_array, parse_glb
from tests.vrm_factory import pack_glb

pytestmark = pytest.mark.tier3
MOUTH = {"aa", "ih", "ou", "ee", "oh"}
Pixels = npt.NDArray[np.uint8]
# Rendered colours (sRGB): the face is unlit, so its colours come out as designed; the body is lit, so only hues.
MOUTH_RGB = (0xC8, 0x36, 0x4F)
EYES_RGB = (0x2D, 0x24, 0x52)


def _decode(png: bytes) -> Pixels:
    image = QImage.fromData(png).convertToFormat(QImage.Format.Format_RGBA8888)
    assert not image.isNull(), "the stage sent an unreadable PNG"
    pixels = np.frombuffer(image.constBits(), np.uint8, image.sizeInBytes())
    return pixels.reshape(image.height(), image.bytesPerLine() // 4, 4)[:, : image.width()].copy()


async def _capture(server: BridgeServer, path: Path) -> Pixels:
    captured = await server.capture()
    png = captured.png()
    path.write_bytes(png)
    print(f"captured {captured.width}x{captured.height}: {path}")
    pixels = _decode(png)
    assert pixels.shape[:2] == (captured.height, captured.width)
    return pixels


def _share(pixels: Pixels, mask: npt.NDArray[np.bool_]) -> float:
    share: float = np.count_nonzero(mask) / (pixels.shape[0] * pixels.shape[1])
    return share


def _near(pixels: Pixels, rgb: tuple[int, int, int], tolerance: int = 14) -> npt.NDArray[np.bool_]:
    difference = np.abs(pixels[..., :3].astype(np.int16) - np.array(rgb, np.int16))
    near: npt.NDArray[np.bool_] = (difference <= tolerance).all(axis=-1) & (pixels[..., 3] > 200)
    return near


def _baked(vrm: bytes, expression: str) -> bytes:
    """The same avatar with one face morph target baked into the face's base shape at full weight.

    The protocol has no request that sets an expression weight yet (lip sync brings one), and Godot's importer
    ignores a glTF mesh's default ``weights``; baking shows what the shape looks like in the engine's renderer.
    """
    document, blob = parse_glb(vrm)
    data = bytearray(blob)
    face = next(mesh for mesh in document["meshes"] if mesh["name"] == "Face")
    target = face["extras"]["targetNames"].index(expression)
    for primitive in face["primitives"]:
        position = primitive["attributes"]["POSITION"]
        moved = accessor_array(document, blob, position) + accessor_array(
            document, blob, primitive["targets"][target]["POSITION"]
        )
        accessor = document["accessors"][position]
        offset = document["bufferViews"][accessor["bufferView"]]["byteOffset"]
        data[offset : offset + moved.nbytes] = moved.astype("<f4").tobytes()
        accessor["min"] = [float(v) for v in moved.min(axis=0)]
        accessor["max"] = [float(v) for v in moved.max(axis=0)]
    return pack_glb(document, bytes(data))


@pytest.mark.parametrize("version", ["1.0", "0.x"])
async def test_the_default_avatar_applies_and_shows(
    version: Literal["1.0", "0.x"], web_runtime: Path, write_file: Callable[[str, bytes], Path], tmp_path: Path
) -> None:
    async with web_stage(web_runtime) as stage:
        await stage.server.wait_connected(30)
        applied = await stage.server.apply_scene(stage.scene_for(write_file("tama.vrm", build_default_avatar(version))))
        assert applied.vrm_version == version and applied.mouth_ready
        assert set(applied.expressions) == MOUTH | {"blink", "happy"} and applied.unbound_expressions == []
        assert applied.blend_shape_count == 7 and applied.mesh_count == 18
        state = await stage.server.snapshot()
        assert {(bind.expression, bind.mesh, bind.blend_shape) for bind in state.mouth_binds} == {
            (name, "Face", name) for name in MOUTH
        }
        assert all(bind.value == 0.0 for bind in state.mouth_binds)

        frame = await _capture(stage.server, tmp_path / f"tama-{version}.png")
        opaque = frame[..., 3] > 200
        assert _share(frame, opaque) > 0.25, "the avatar fills a good share of the frame"
        red, green, blue = (frame[..., channel].astype(np.int16) for channel in range(3))
        hair = opaque & (red > 180) & (green < 150) & (blue > 110) & (red - green > 90)
        shirt = opaque & (blue > 170) & (red < 120) & (blue - red > 80)
        skin = opaque & (red > 200) & (green > 160) & (blue > 130) & (red - blue > 20)
        assert _share(frame, hair) > 0.05 and _share(frame, shirt) > 0.01 and _share(frame, skin) > 0.05
        closed_mouth = _near(frame, MOUTH_RGB).sum()
        assert closed_mouth > 20, "the mouth is visible"

        eyes_open = _near(frame, EYES_RGB).sum()
        assert eyes_open > 200, "the eyes are visible"

        mouth: dict[str, int] = {}
        for expression in (*sorted(MOUTH), "blink"):
            baked = _baked(build_default_avatar(version), expression)
            await stage.server.apply_scene(stage.scene_for(write_file(f"tama-{expression}.vrm", baked)))
            shaped = await _capture(stage.server, tmp_path / f"tama-{version}-{expression}.png")
            mouth[expression] = int(_near(shaped, MOUTH_RGB).sum())
            if expression == "blink":
                assert _near(shaped, EYES_RGB).sum() < eyes_open * 0.5, "blink closes the eyes"
                assert abs(mouth["blink"] - closed_mouth) <= closed_mouth * 0.1, "blink leaves the mouth alone"
        assert mouth["aa"] > 3 * closed_mouth, "aa opens the mouth"
        assert mouth["oh"] > 2 * closed_mouth and mouth["ee"] > 2 * closed_mouth and mouth["ih"] > closed_mouth
        assert mouth["ou"] < mouth["oh"] and mouth["ih"] < mouth["aa"]


async def test_capture_of_an_empty_stage_is_transparent(web_runtime: Path) -> None:
    async with web_stage(web_runtime) as stage:
        await stage.server.wait_connected(30)
        frame = _decode((await stage.server.capture()).png())
        assert frame.shape[0] > 0 and (frame[..., 3] == 0).all()
