"""The HTTP server: a ThreadingHTTPServer (a thread per connection, plenty for the few
phones of one household) and its request handler, which checks who asks (auth.py), finds
the route (routes.py), reads the body within its limits, serves the page (page.py) and the
event stream, and sends every answer with the security headers. Standard library only."""

from __future__ import annotations

import json
import logging
import select
import socket
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from holdcue.core import Core
from holdcue.text import printable
from holdcue.web.auth import Access, TokenFile
from holdcue.web.errors import Refused
from holdcue.web.page import FILES, PUBLIC, Page, refusal_page, wants_html
from holdcue.web.routes import Body, allowed_methods, handle
from holdcue.web.status import status_json

log = logging.getLogger("holdcue.web")  # one logger for the web layer, as the service's log has always named it

DEFAULT_PORT = 8765
MAX_BODY = 16 * 1024  # bytes: the API's requests are a few dozen
MAX_STREAMS = 64  # event streams at once: each holds a thread
HEARTBEAT = 15.0  # seconds between comments on a quiet event stream (proxies and phones drop silent ones)
REQUEST_TIMEOUT = 20.0  # seconds a client may take to send its request
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a stuck client never holds up the exit; streams end on stopping
    request_queue_size = 32

    def __init__(
        self,
        controller: Core,
        host: str = "127.0.0.1",
        port: int = DEFAULT_PORT,
        *,
        token: TokenFile | None = None,
        require_token: bool | None = None,
        heartbeat: float = HEARTBEAT,
        max_streams: int = MAX_STREAMS,
    ):
        self.controller = controller
        self.access = Access(host, token, require_token)
        self.heartbeat = heartbeat
        self.stopping = threading.Event()
        self.max_streams = max_streams
        self.streams = threading.BoundedSemaphore(max_streams)
        self.open_streams = 0
        self.counting = threading.Lock()
        self.page = Page()
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    @property
    def require_token(self) -> bool:
        return self.access.require_token

    def stop(self) -> None:
        """Stop serving (from another thread than serve_forever's) and end every event stream."""
        self.stopping.set()
        self.shutdown()
        self.close()

    def close(self) -> None:
        self.stopping.set()
        deadline = time.monotonic() + 2
        while self.open_streams and time.monotonic() < deadline:
            time.sleep(0.02)
        self.server_close()


class Handler(BaseHTTPRequestHandler):
    server: Server
    server_version = "holdcue"
    sys_version = ""
    timeout = REQUEST_TIMEOUT

    # -- entry points ---------------------------------------------------------------------

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_PUT(self) -> None:
        self._answer("PUT")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def do_PATCH(self) -> None:
        self._answer("PATCH")

    def do_HEAD(self) -> None:
        self._answer("HEAD")

    def do_OPTIONS(self) -> None:
        self._answer("OPTIONS")

    def _answer(self, method: str) -> None:
        try:
            self._route(method)
        except Refused as refusal:
            if wants_html(self.headers.get("Accept"), self._path()):  # a person's browser: a page to read
                page = refusal_page(refusal.status, str(refusal)).encode()
                self._send(refusal.status, page, "text/html; charset=utf-8", refusal.headers)
            else:
                self._send_json(refusal.status, {"error": str(refusal)}, refusal.headers)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception:
            log.exception("%s %s failed", method, self._path())
            self._send_json(500, {"error": "internal error: see the service's log"})

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        access = self.server.access
        access.check_host(self.headers)
        if method == "GET" and path == "/" and "token" in query:
            return self._send(303, b"", "text/plain", access.pair(query["token"][0]))
        if path not in PUBLIC:
            access.check_token(self.headers)
        served = SERVED.get(path)
        allowed = ["GET"] if served is not None else allowed_methods(path)
        if not allowed:
            raise Refused(404, f"no such path: {path[:100]}")
        if method not in allowed:
            raise Refused(405, f"{path} takes {' or '.join(allowed)}", {"Allow": ", ".join(allowed)})
        if served is not None:
            return served(self, path)
        body: Body = {}
        if method == "POST":
            access.check_origin(self.headers)
            body = self._body()
        self._send_json(200, handle(self.server.controller, method, path, body))

    # -- the request's body -----------------------------------------------------------------

    def _body(self) -> dict[str, Any]:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            raise Refused(411, "send the body with a Content-Length (chunked bodies are refused)")
        text = self.headers.get("Content-Length") or "0"
        if not text.isdigit() or len(text) > 12:
            raise Refused(400, "Content-Length is not a number")
        length = int(text)
        if length > MAX_BODY:
            self._discard(length)
            raise Refused(413, f"the body is {length} bytes; at most {MAX_BODY} are accepted")
        data = self.rfile.read(length) if length else b""
        if len(data) < length:
            raise Refused(400, "the body is shorter than its Content-Length")
        if not data.strip():
            return {}
        try:
            value = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
        except (UnicodeDecodeError, ValueError) as error:
            raise Refused(400, f"the body is not valid JSON: {error}") from error
        if not isinstance(value, dict):
            raise Refused(400, "the body must be a JSON object")
        return value

    def _discard(self, length: int) -> None:
        """Read (a bounded part of) a refused body, so closing the connection does not reset
        it before the client has read the answer."""
        self.close_connection = True
        self.connection.settimeout(1.0)
        left = min(length, 4 * MAX_BODY)
        try:
            while left > 0 and (chunk := self.rfile.read1(min(left, 65536))):
                left -= len(chunk)
        except OSError:
            pass

    # -- what the server serves itself (GET) ------------------------------------------------

    def _page(self, path: str) -> None:
        self._send(200, self.server.page.render(self.server.controller).encode(), "text/html; charset=utf-8")

    def _static(self, path: str) -> None:
        data, kind = self.server.page.files[path]
        self._send(200, data, kind)

    def _events(self, path: str) -> None:
        """The status as Server-Sent Events: now, then whenever it changes; a comment line
        when it has been quiet for a heartbeat. Ends when the server stops."""
        server = self.server
        if not server.streams.acquire(blocking=False):
            raise Refused(503, f"too many event streams (at most {server.max_streams})", {"Retry-After": "10"})
        with server.counting:
            server.open_streams += 1
        self.close_connection = True
        try:
            self.send_response(200)
            self._common_headers()
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.end_headers()
            self.wfile.write(b"retry: 2000\n\n")  # milliseconds before the browser reconnects
            version, quiet_since = -1, time.monotonic()
            while not server.stopping.is_set() and not server.controller.closed and not self._client_gone():
                latest, status = server.controller.wait(version, timeout=min(1.0, server.heartbeat))
                if latest != version:
                    version = latest
                    self.wfile.write(f"id: {version}\ndata: {json.dumps(status_json(status))}\n\n".encode())
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since >= server.heartbeat:
                    self.wfile.write(b": heartbeat\n\n")
                    quiet_since = time.monotonic()
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass  # the page was closed
        finally:
            with server.counting:
                server.open_streams -= 1
            server.streams.release()

    def _client_gone(self) -> bool:
        """The page was closed: its end of the connection is shut (noticed within a second,
        not at the next failed write, which may be a heartbeat away)."""
        try:
            if not select.select([self.connection], [], [], 0)[0]:
                return False
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    # -- answers --------------------------------------------------------------------------

    def _common_headers(self) -> None:
        for name, value in SECURITY_HEADERS.items():
            self.send_header(name, value)

    def _send(self, status: int, data: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self._common_headers()
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_json(self, status: int, value: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(value).encode(), "application/json", headers)

    def _path(self) -> str:
        """The path without its query: the pairing link's token never goes to the log."""
        return urlsplit(getattr(self, "path", "")).path

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        status = code.value if isinstance(code, HTTPStatus) else code
        # the request's words are the client's: control characters in them are shown, not sent to the log's terminal
        log.info("%s %s %s %s", self.address_string(), printable(str(self.command)), printable(self._path()), status)

    def log_error(self, format: str, *args: Any) -> None:
        log.warning("%s %s", self.address_string(), printable(format % args))


# The paths the server answers itself, GET only: the page, its files, the event stream.
SERVED: dict[str, Callable[[Handler, str], None]] = {
    "/": Handler._page,
    **{path: Handler._static for path in FILES},
    "/api/events": Handler._events,
}


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")
