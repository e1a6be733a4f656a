"""``brokerflow codec-server``: the Temporal codec server protocol, so the Web UI shows decoded payloads.

POST /encode and POST /decode take and return ``{"payloads": [<Payload as proto JSON>, ...]}``. Every
request needs ``Authorization: Bearer <BROKERFLOW_CODEC_TOKEN>``, or the session cookie a browser gets by
entering the token on the server's page (GET /, for a Web UI that cannot send the token itself: turn on
"include cross-origin credentials" in the UI's codec settings). CORS admits only the Web UI's origins
(``BROKERFLOW_CODEC_CORS_ORIGINS``). It listens on 127.0.0.1:8888 unless told otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from temporalio.api.common.v1 import Payload

from .codec import CodecError, EncryptionCodec, codec_from_settings

if TYPE_CHECKING:
    from starter.settings import Settings

__all__ = [
    "CodecServerConfigError",
    "CodecServerSettings",
    "build_app",
    "is_loopback",
    "resolve",
    "running_codec_server",
    "serve",
]

MAX_BODY_BYTES = 8 * 1024 * 1024
SESSION_COOKIE = "brokerflow_codec_session"
_PAGE = """<!doctype html><meta charset="utf-8"><title>brokerflow codec server</title>
<h1>brokerflow codec server</h1><p>{status}</p>
<form method="post" action="/login"><label>Token <input name="token" type="password" autocomplete="off"></label>
<button>Sign in</button></form>"""
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


class CodecServerConfigError(CodecError):
    """The codec server cannot start as configured (no token, codec disabled)."""


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class CodecServerSettings:
    """What the server needs: the codec, the bearer token, origins and address."""

    codec: EncryptionCodec
    token: str
    origins: tuple[str, ...]
    host: str = "127.0.0.1"
    port: int = 8888
    generated_token: bool = False

    def __repr__(self) -> str:  # never the token
        return f"CodecServerSettings(host={self.host!r}, port={self.port}, origins={self.origins!r})"


def _session(token: str) -> str:
    """The cookie value of a signed-in browser: derived from the token, never the token itself."""
    return hmac.new(token.encode(), b"brokerflow codec session v1", hashlib.sha256).hexdigest()


def _authorized(request: Request, token: str) -> bool:
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    cookie = request.cookies.get(SESSION_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie.encode(), _session(token).encode())


def _html(status: str, code: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(status=status), code,
                        headers={"X-Frame-Options": "DENY", "Cache-Control": "no-store"})


def _pages(token: str) -> list[Route]:
    async def index(request: Request) -> Response:
        status = "Signed in: the Web UI may decode." if _authorized(request, token) else "Not signed in."
        return _html(status)

    async def login(request: Request) -> Response:
        body = (await request.body())[:4096].decode("utf-8", errors="replace")
        given = parse_qs(body).get("token", [""])[0]
        if not hmac.compare_digest(given.encode(), token.encode()):
            return _html("Wrong token.", 401)
        response = RedirectResponse("/", 303)
        response.set_cookie(SESSION_COOKIE, _session(token), httponly=True, samesite="strict", path="/")
        return response

    return [Route("/", index, methods=["GET"]), Route("/login", login, methods=["POST"])]


async def _payloads(request: Request) -> list[Payload]:
    declared = request.headers.get("content-length", "0")
    if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
        raise _BadRequest(413, f"body larger than {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():  # also bounds a body sent without (or beyond) its Content-Length
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise _BadRequest(413, f"body larger than {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _BadRequest(400, "body must be JSON") from None
    items = data.get("payloads") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise _BadRequest(400, 'body must be {"payloads": [...]}')
    try:
        return [json_format.ParseDict(item, Payload()) for item in items]
    except (json_format.ParseError, TypeError, ValueError, AttributeError):
        raise _BadRequest(400, "payloads must be Temporal Payload objects in proto JSON") from None


def _endpoint(token: str, action: Callable[[Sequence[Payload]], Awaitable[list[Payload]]]
              ) -> Callable[[Request], Awaitable[Response]]:
    async def handle(request: Request) -> Response:
        if not _authorized(request, token):
            return JSONResponse({"error": "unauthorized"}, 401, headers={"WWW-Authenticate": "Bearer"})
        try:
            result = await action(await _payloads(request))
        except _BadRequest as error:
            return JSONResponse({"error": str(error)}, error.status)
        except CodecError as error:
            return JSONResponse({"error": type(error).__name__, "message": str(error)}, 400)
        return JSONResponse({"payloads": [json_format.MessageToDict(p) for p in result]})

    return handle


def build_app(config: CodecServerSettings) -> Any:
    """The ASGI app: CORS outermost (so a browser also sees the 401), then the bearer check."""
    routes = [
        *_pages(config.token),
        Route("/encode", _endpoint(config.token, config.codec.encode), methods=["POST"]),
        Route("/decode", _endpoint(config.token, config.codec.decode), methods=["POST"]),
    ]
    cors = Middleware(CORSMiddleware, allow_origins=list(config.origins), allow_methods=["POST"],
                      allow_headers=["Authorization", "Content-Type", "X-Namespace"], allow_credentials=True)
    return Starlette(routes=routes, middleware=[cors])


def resolve(settings: Settings, *, host: str | None = None, port: int | None = None,
            generate_token: bool = False) -> CodecServerSettings:
    """Check the settings: a codec and a token are required (a fresh token only when asked for)."""
    codec = codec_from_settings(settings)
    if codec is None:
        raise CodecServerConfigError("the payload codec is disabled (BROKERFLOW_CODEC_ENABLED=false)")
    token = settings.codec_token.get_secret_value() if settings.codec_token else None
    generated = False
    if not token:
        if not generate_token:
            raise CodecServerConfigError("set BROKERFLOW_CODEC_TOKEN, or pass --generate-token to make one")
        token, generated = secrets.token_urlsafe(32), True
    origins = tuple(o.strip() for o in settings.codec_cors_origins.split(",") if o.strip())
    return CodecServerSettings(codec, token, origins, host or settings.codec_server_host,
                               port or settings.codec_server_port, generated)


def is_loopback(host: str) -> bool:
    """Tell whether `host` only accepts connections from this machine."""
    return host in _LOOPBACK or host.startswith("127.")


def serve(config: CodecServerSettings) -> None:
    """Serve until interrupted."""
    import uvicorn

    uvicorn.run(build_app(config), host=config.host, port=config.port, log_level="warning", access_log=False)


@contextlib.contextmanager
def running_codec_server(config: CodecServerSettings, timeout: float = 10.0) -> Iterator[str]:
    """Serve on a background thread (port 0 picks a free one) for the block; yield the base URL (tests)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in config.host else socket.AF_INET)
    sock.bind((config.host, config.port))
    sock.listen(64)
    server = uvicorn.Server(uvicorn.Config(build_app(config), log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="codec-server", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("codec server did not start")
            time.sleep(0.01)
        yield f"http://{config.host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout)
        sock.close()
