"""The phone remote: an HTTP server with a small JSON API and the page that uses it
(docs/service.md). Standard library only: ThreadingHTTPServer, a thread per connection,
plenty for the few phones of one household.

Security, in short: on a loopback address nothing but the machine itself can reach it,
and only requests naming it by a loopback name are answered (a web page cannot reach it
by DNS rebinding). On any other address every request needs the token (a cookie set by
opening the pairing link once, or ``Authorization: Bearer``). Requests that change
something (POST) from a page of another origin are refused either way.
"""

from __future__ import annotations

import hmac
import html
import http.cookies
import ipaddress
import json
import logging
import os
import secrets
import select
import socket
import string
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from holdcue import files
from holdcue.core import BadValue, Core, NoJournal, NoPlan, UnknownRoutine, WrongState
from holdcue.errors import AudioDeviceError, HoldcueError, PlanError
from holdcue.journal import JournalError
from holdcue.text import clock, printable

log = logging.getLogger(__name__)

ASSETS = Path(__file__).with_name("web")
DEFAULT_PORT = 8765
MAX_BODY = 16 * 1024  # bytes: the API's requests are a few dozen
MAX_STREAMS = 64  # event streams at once: each holds a thread
HEARTBEAT = 15.0  # seconds between comments on a quiet event stream (proxies and phones drop silent ones)
REQUEST_TIMEOUT = 20.0  # seconds a client may take to send its request
COOKIE = "holdcue_token"
COOKIE_AGE = 400 * 24 * 3600  # seconds: as long as browsers keep a cookie
TOKEN_BYTES = 32  # 256 bits, 43 characters in the URL
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STATIC = {
    "/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/style.css": ("style.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}
GET_API = {"/api/routines", "/api/status", "/api/events", "/api/history"}
POST_API = {
    "/api/play",
    "/api/today",
    "/api/pause",
    "/api/resume",
    "/api/resume-last",
    "/api/next",
    "/api/previous",
    "/api/stop",
    "/api/volume",
}


class Refused(Exception):
    """A request answered with an error status and a JSON message."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


# -- the token ---------------------------------------------------------------------------


class TokenFile:
    """The pairing token in a file only its owner can read. Read again when the file
    changes, so ``holdcue pair --renew`` shuts old phones out of a running service."""

    def __init__(self, path: Path):
        self.path = path
        self._seen: tuple[int, int, int] | None = None
        self._token = ""

    def load(self, create: bool = True) -> str:
        """The token, made first when there is none (and ``create``)."""
        if create and not self.path.exists():
            self._write(secrets.token_urlsafe(TOKEN_BYTES), replace=False)
        return self.current()

    def renew(self) -> str:
        self._write(secrets.token_urlsafe(TOKEN_BYTES), replace=True)
        return self.current()

    def current(self) -> str:
        try:
            info = os.stat(self.path)
        except FileNotFoundError as error:
            raise HoldcueError(f"the token file {self.path} is gone: run holdcue pair to make a new one") from error
        seen = (info.st_ino, info.st_mtime_ns, info.st_size)
        if seen != self._seen:
            if info.st_mode & 0o077:
                os.chmod(self.path, 0o600)
                log.warning("%s could be read by others: made readable by its owner only", self.path)
            try:  # a regular file of a few bytes: never a FIFO waited on, nor a huge file read
                token = files.read_regular(self.path, 1024).decode("ascii", errors="replace").strip()
            except OSError as error:
                raise HoldcueError(f"the token file {self.path} cannot be read: run holdcue pair --renew") from error
            if len(token) < 32 or not all(c.isalnum() or c in "-_" for c in token):
                raise HoldcueError(f"the token file {self.path} is damaged: run holdcue pair --renew")
            self._token, self._seen = token, seen
        return self._token

    def matches(self, candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), self.current().encode())

    def _write(self, token: str, replace: bool) -> None:
        """Written whole to a new file that only its owner may read, then put in place:
        never a moment when the token file is empty or readable by others."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as file:
                file.write(token + "\n")
            if replace:
                os.replace(temporary, self.path)
            else:
                try:
                    os.link(temporary, self.path)  # fails if another start made one meanwhile: keep that
                except FileExistsError:
                    pass
        finally:
            temporary.unlink(missing_ok=True)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def lan_address() -> str:
    """This machine's address on its network: the one its traffic to the outside leaves
    from (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere real
            return str(probe.getsockname()[0])
        except OSError:
            return socket.gethostname()


def pairing_url(host: str, port: int, token: str | None) -> str:
    shown = lan_address() if host in ("0.0.0.0", "::", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


# -- the server --------------------------------------------------------------------------


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
        self.require_token = not is_loopback(host) if require_token is None else require_token
        if self.require_token and token is None:
            raise ValueError("a server that requires a token needs the token file")
        self.token = token
        self.heartbeat = heartbeat
        self.stopping = threading.Event()
        self.max_streams = max_streams
        self.streams = threading.BoundedSemaphore(max_streams)
        self.open_streams = 0
        self.counting = threading.Lock()
        self.allowed_hosts = {"localhost", "127.0.0.1", "[::1]", host if ":" not in host else f"[{host}]"}
        self.assets = {name: (ASSETS / file).read_bytes() for name, (file, _) in STATIC.items()}
        self.page = string.Template((ASSETS / "index.html").read_text(encoding="utf-8"))
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, port), Handler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

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
            self._send_json(refusal.status, {"error": str(refusal)}, refusal.headers)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True
        except Exception:
            log.exception("%s %s failed", method, self._path())
            self._send_json(500, {"error": "internal error: see the service's log"})

    def _route(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        self._check_host()
        if method == "GET" and path == "/" and "token" in parse_qs(parts.query):
            return self._pair(parse_qs(parts.query)["token"][0])
        self._check_token()
        allowed = "GET" if path == "/" or path in STATIC or path in GET_API else "POST" if path in POST_API else None
        if allowed is None:
            raise Refused(404, f"no such path: {path[:100]}")
        if method != allowed:
            raise Refused(405, f"{path} takes {allowed}", {"Allow": allowed})
        if method == "POST":
            self._check_origin()
            body = self._body()
            return self._send_json(200, self._post(path, body))
        if path == "/":
            return self._send(200, self._render_page().encode(), "text/html; charset=utf-8")
        if path in STATIC:
            return self._send(200, self.server.assets[path], STATIC[path][1])
        if path == "/api/events":
            return self._events()
        return self._send_json(200, self._get(path))

    # -- checks ---------------------------------------------------------------------------

    def _check_host(self) -> None:
        """Without a token, answer only to the names of this machine's loopback: a page
        that points its own domain name at 127.0.0.1 (DNS rebinding) gets nothing."""
        if self.server.require_token:
            return
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        if name not in self.server.allowed_hosts:
            raise Refused(403, "this address is answered only on the machine itself (Host header refused)")

    def _check_token(self) -> None:
        if not self.server.require_token:
            return
        assert self.server.token is not None
        header = self.headers.get("Authorization") or ""
        bearer = header[7:].strip() if header[:7].lower() == "bearer " else None
        if self.server.token.matches(bearer) or self.server.token.matches(self._cookie()):
            return
        raise Refused(401, "a token is needed: open the link that holdcue pair shows, or send Authorization: Bearer")

    def _cookie(self) -> str | None:
        jar = http.cookies.SimpleCookie()
        try:
            jar.load(self.headers.get("Cookie") or "")
        except http.cookies.CookieError:
            return None
        morsel = jar.get(COOKIE)
        return morsel.value if morsel is not None else None

    def _check_origin(self) -> None:
        """A POST from a page of another origin (a form or script elsewhere) is refused;
        programs that send neither Origin nor Referer (curl, home automation) are not."""
        own = f"http://{self.headers.get('Host') or ''}".lower()
        origin = self.headers.get("Origin")
        if origin is None and self.headers.get("Referer"):
            referer = urlsplit(self.headers["Referer"])
            origin = f"{referer.scheme}://{referer.netloc}"
        if origin is not None and origin.lower() != own:
            raise Refused(403, "requests from another site's page are refused")

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

    # -- pages ----------------------------------------------------------------------------

    def _pair(self, candidate: str) -> None:
        """The pairing link: the token becomes a cookie, and the address bar loses it."""
        if not self.server.require_token:
            return self._send(303, b"", "text/plain", {"Location": "/"})
        assert self.server.token is not None
        if not self.server.token.matches(candidate):
            raise Refused(401, "this pairing link is no longer valid: run holdcue pair for the current one")
        cookie = f"{COOKIE}={self.server.token.current()}; Path=/; Max-Age={COOKIE_AGE}; HttpOnly; SameSite=Strict"
        self._send(303, b"", "text/plain", {"Location": "/", "Set-Cookie": cookie})

    def _render_page(self) -> str:
        routines = self.server.controller.catalog.summaries()
        return self.server.page.substitute(
            today=_today_block(self.server.controller),
            by_area=_groups(routines, "areas", "area"),
            by_tool=_groups(routines, "tools", "tool"),
        )

    # -- the API --------------------------------------------------------------------------

    def _get(self, path: str) -> Any:
        controller = self.server.controller
        if path == "/api/routines":
            return [
                {k: r[k] for k in ("id", "title", "duration", "areas", "tools")} for r in controller.catalog.summaries()
            ]
        if path == "/api/status":
            return controller.status()
        try:
            return controller.history()
        except NoJournal as error:
            raise Refused(501, str(error)) from error
        except JournalError as error:
            raise Refused(503, str(error)) from error

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        controller = self.server.controller
        fields = {"/api/play": {"routine", "start_at"}, "/api/volume": {"volume"}}.get(path, set())
        unknown = sorted(set(body) - fields)
        if unknown:
            raise Refused(400, f"unknown field {unknown[0]!r}" + (f": {path} takes {sorted(fields)}" if fields else ""))
        try:
            if path == "/api/play":
                if "routine" not in body:
                    raise Refused(400, 'name the routine: {"routine": "<id>"}')
                return controller.play(body["routine"], _step_number(body.get("start_at")))
            if path == "/api/today":
                return controller.play_today()
            if path == "/api/resume-last":
                return controller.resume_last()
            if path == "/api/volume":
                if "volume" not in body:
                    raise Refused(400, 'give the volume: {"volume": 0.8}')
                return controller.set_volume(body["volume"])
            command = path.removeprefix("/api/")
            return getattr(controller, command)()
        except UnknownRoutine as error:
            raise Refused(404, str(error)) from error
        except WrongState as error:
            raise Refused(409, str(error)) from error
        except BadValue as error:
            raise Refused(400, str(error)) from error
        except NoPlan as error:
            raise Refused(404, str(error)) from error
        except NoJournal as error:
            raise Refused(501, str(error)) from error
        except PlanError as error:
            raise Refused(409, f"the weekly plan has errors, run holdcue plan: {error}") from error
        except JournalError as error:
            raise Refused(503, str(error)) from error
        except AudioDeviceError as error:
            raise Refused(503, str(error)) from error
        except HoldcueError as error:
            log.error("%s: %s", path, error)
            raise Refused(500, str(error)) from error

    def _events(self) -> None:
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
                    self.wfile.write(f"id: {version}\ndata: {json.dumps(status)}\n\n".encode())
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


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def _step_number(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 10_000:
        raise Refused(400, "start_at is a step number: 1 is the first step")
    return value


# -- the page's parts (every routine text escaped) ----------------------------------------


def _today_block(controller: Core) -> str:
    """Today's session as a button (the same choice as POST /api/today and the button), or
    why there is none: a rest day and the next session, no plan, a plan with errors."""
    try:
        today = controller.today()
    except NoPlan:
        return '<p class="quiet" data-no-plan>No weekly plan yet.</p>'
    except HoldcueError as error:
        log.warning("the weekly plan cannot say what today brings: %s", error)
        return '<p class="quiet" data-plan-error>The weekly plan has errors: run holdcue plan.</p>'
    if today["routine"] is None:
        return f'<p class="quiet" data-rest>{html.escape(today["message"])}</p>'
    title, length = html.escape(today["title"]), clock(today["duration"])
    return (
        f'<button type="button" class="today" data-today aria-label="Play today\'s session: {title}, {length}">'
        f'<span class="label">Today</span> <span class="name">{title}</span> <span class="time">{length}</span>'
        "</button>"
    )


def _groups(routines: list[dict[str, Any]], key: str, word: str) -> str:
    """A collapsible section for each area (or tool), with the routines that have it."""
    names = sorted(
        {name for r in routines for name in r[key]} | ({"other"} if any(not r[key] for r in routines) else set())
    )
    sections = []
    for name in names:
        members = [r for r in routines if name in r[key] or (name == "other" and not r[key])]
        items = "\n".join(_routine_item(r, key) for r in members)
        sections.append(
            f'<details class="group" data-{word}="{html.escape(name)}"><summary>{html.escape(name.capitalize())} '
            f'<span class="count">({len(members)})</span></summary><ul class="routines">{items}</ul></details>'
        )
    return "\n".join(sections)


def _routine_item(routine: dict[str, Any], grouped_by: str) -> str:
    title = html.escape(routine["title"])
    length = clock(routine["duration"])
    detail = ", ".join(routine["tools"] if grouped_by == "areas" else routine["areas"])
    return (
        f'<li><button type="button" class="routine" data-routine="{html.escape(routine["id"])}" '
        f'aria-label="Play {title}, {length}"><span class="name">{title}</span> '
        f'<span class="time">{length}</span><span class="detail">{html.escape(detail)}</span></button></li>'
    )
