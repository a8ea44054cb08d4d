"""``GET /models/<sha256>.vrm`` on the bridge port, for a stage that cannot read host paths (the web build).

The URL path is only ever matched against a hash pattern and handed to the model store's resolver; it never becomes
a file-system path, so no traversal can reach a file the store does not hold.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from websockets.datastructures import Headers
from websockets.http11 import Request, Response

ModelResolver = Callable[[str], Path | None]
"""Maps a sha256 (64 lowercase hex) to the stored file, or None when the store does not have it."""

_MODEL_PATH = re.compile(r"^/models/(?P<name>[^/]*)$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def model_signature(token: str, sha256: str) -> str:
    return hmac.new(token.encode(), sha256.encode(), hashlib.sha256).hexdigest()


def signed_model_url(host: str, port: int, sha256: str, token: str) -> str:
    return f"http://{host}:{port}/models/{sha256}.vrm?sig={model_signature(token, sha256)}"


def _text(status: int, reason: str, message: str, cors_origin: str | None) -> Response:
    headers = Headers([("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")])
    if cors_origin is not None:
        headers["Access-Control-Allow-Origin"] = cors_origin
    body = (message + "\n").encode()
    headers["Content-Length"] = str(len(body))
    return Response(status, reason, headers, body)


def _authorised(request: Request, token: str, sha256: str, query: dict[str, list[str]]) -> bool:
    bearer = request.headers.get("Authorization", "")
    if bearer.startswith("Bearer ") and hmac.compare_digest(bearer[7:].encode(), token.encode()):
        return True
    signatures = query.get("sig", [])
    return len(signatures) == 1 and hmac.compare_digest(signatures[0].encode(), model_signature(token, sha256).encode())


async def handle_model_request(
    request: Request, token: str, resolve: ModelResolver, cors_origin: str | None
) -> Response:
    if request.method != "GET":
        return _text(405, "Method Not Allowed", "Only GET is served.", cors_origin)
    parts = urlsplit(request.path)
    match = _MODEL_PATH.match(parts.path)
    if match is None:
        return _text(404, "Not Found", "Not found.", cors_origin)
    sha256 = match["name"].removesuffix(".vrm")
    if not _SHA256.match(sha256):
        return _text(400, "Bad Request", "A model is named by its sha256: 64 lowercase hex digits.", cors_origin)
    if not _authorised(request, token, sha256, parse_qs(parts.query)):
        return _text(401, "Unauthorized", "A bearer token or a valid signature is required.", cors_origin)
    path = resolve(sha256)
    if path is None:
        return _text(404, "Not Found", "No such model.", cors_origin)
    try:
        body = await asyncio.to_thread(path.read_bytes)
    except OSError as error:
        return _text(404, "Not Found", f"The model could not be read: {error.strerror}", cors_origin)
    headers = Headers(
        [
            ("Content-Type", "model/gltf-binary"),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
        ]
    )
    if cors_origin is not None:
        headers["Access-Control-Allow-Origin"] = cors_origin
    return Response(200, "OK", headers, body)
