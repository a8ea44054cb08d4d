"""``GET /models/<sha256>.vrm`` on the bridge port: token or signature required, only store files, no traversal."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from godot_bridge.server import BridgeServer
from godot_bridge.server.model_http import model_signature
from tests.integration.stage_client import open_stage

BODY = b"glTF\x02\x00\x00\x00" + bytes(range(256)) * 40
SHA = hashlib.sha256(BODY).hexdigest()
ORIGIN = "http://127.0.0.1:7"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[BridgeServer, Path]]:
    store = tmp_path / "models"
    store.mkdir()
    (store / f"{SHA}.vrm").write_bytes(BODY)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the stage")

    def resolve(sha256: str) -> Path | None:
        path = store / f"{sha256}.vrm"
        return path if path.is_file() else None

    bridge = BridgeServer(resolve_model=resolve, origin_allowed=lambda origin: origin == ORIGIN)
    await bridge.start()
    yield bridge, secret
    await bridge.close()


async def raw_get(port: int, target: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """An HTTP GET with the request target sent byte for byte (clients normalise '..' away)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"GET {target} HTTP/1.1", f"Host: 127.0.0.1:{port}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    response = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def test_signed_url_serves_the_exact_bytes_with_cors_for_the_allowed_origin(
    served: tuple[BridgeServer, Path],
) -> None:
    bridge, _ = served
    url = bridge.model_url(SHA)
    assert url == f"http://127.0.0.1:{bridge.port}/models/{SHA}.vrm?sig={model_signature(bridge.token, SHA)}"
    assert bridge.token not in url
    async with httpx.AsyncClient() as client:
        response = await client.get(url, headers={"Origin": ORIGIN})
        assert response.status_code == 200 and response.content == BODY
        assert response.headers["content-type"] == "model/gltf-binary"
        assert response.headers["access-control-allow-origin"] == ORIGIN
        foreign = await client.get(url, headers={"Origin": "http://evil.example"})
        assert "access-control-allow-origin" not in foreign.headers


async def test_bearer_token_serves_the_model(served: tuple[BridgeServer, Path]) -> None:
    bridge, _ = served
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"http://127.0.0.1:{bridge.port}/models/{SHA}.vrm", headers={"Authorization": f"Bearer {bridge.token}"}
        )
    assert response.status_code == 200 and response.content == BODY


@pytest.mark.parametrize(
    "query_or_header",
    ["", "?sig=", "?sig=00", "?token=guess", "?sig={other}", "?sig={good}&sig={good}", "bearer:wrong"],
)
async def test_no_valid_credential_gets_401(served: tuple[BridgeServer, Path], query_or_header: str) -> None:
    bridge, _ = served
    other = model_signature(bridge.token, "0" * 64)
    headers = {"Authorization": "Bearer wrong"} if query_or_header == "bearer:wrong" else {}
    query = "" if headers else query_or_header.format(other=other, good=model_signature(bridge.token, SHA))
    status, body = await raw_get(bridge.port, f"/models/{SHA}.vrm{query}", headers)
    assert status == 401 and BODY not in body


async def test_a_signature_for_one_model_does_not_open_another(served: tuple[BridgeServer, Path]) -> None:
    bridge, _ = served
    unknown = "f" * 64
    status, _ = await raw_get(bridge.port, f"/models/{unknown}.vrm?sig={model_signature(bridge.token, SHA)}")
    assert status == 401
    status, _ = await raw_get(bridge.port, f"/models/{unknown}.vrm?sig={model_signature(bridge.token, unknown)}")
    assert status == 404


@pytest.mark.parametrize(
    "target",
    [
        "/models/../secret.txt",
        "/models/..%2Fsecret.txt",
        "/models/%2e%2e/%2e%2e/secret.txt",
        "/models/../../../../etc/passwd",
        "/models/" + "A" * 64 + ".vrm",
        "/models/" + SHA[:-1] + ".vrm",
        "/models/" + SHA + "/../secret.txt",
        "/models/" + SHA + "%00.vrm",
        "/models/",
        "/secret.txt",
        "/../secret.txt",
    ],
)
async def test_traversal_and_malformed_names_never_reach_the_file_system(
    served: tuple[BridgeServer, Path], target: str
) -> None:
    bridge, secret = served
    status, body = await raw_get(bridge.port, target, {"Authorization": f"Bearer {bridge.token}"})
    assert status in {400, 404}
    assert secret.read_bytes() not in body and b"root:" not in body


async def test_the_websocket_endpoint_still_works_beside_downloads(served: tuple[BridgeServer, Path]) -> None:
    bridge, _ = served
    ws, welcome = await open_stage(bridge.url, bridge.token)
    assert welcome["type"] == "host.welcome"
    status, body = await raw_get(bridge.port, f"/models/{SHA}.vrm", {"Authorization": f"Bearer {bridge.token}"})
    assert status == 200 and body == BODY
    await ws.close()
