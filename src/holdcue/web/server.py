"""The HTTP server: one asyncio event loop holds every connection, and a few worker threads
answer the requests (a command of the core may wait for a session to be built). Standard
library only.

Bounded on purpose (docs/service.md, "Limits"): at most ``max_connections`` connections,
fewer when the process's descriptor limit would leave the player less than FD_RESERVE
descriptors for its clips, the journal and the sound server; a whole request must arrive
within ``request_timeout`` seconds of the connection (a client sending a header line now
and then is dropped, however it paces them); when all but a few are taken, a new
connection whose request line and headers came with it takes the place of the oldest one
still waiting for its request, and one without them is closed at once, so a flood of slow
clients neither locks a real request out nor holds more descriptors. One request per
connection."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import logging
import os
import resource
import signal
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

from holdcue.core import Core
from holdcue.web.auth import Access, TokenFile
from holdcue.web.errors import Refused
from holdcue.web.page import FILES, PUBLIC, Page, refusal_page, wants_html
from holdcue.web.request import MAX_BODY, MAX_HEAD, Request, body_length, json_body, parse_head, shown
from holdcue.web.routes import Body, allowed_methods, handle
from holdcue.web.status import status_json

log = logging.getLogger("holdcue.web")  # one logger for the web layer, as the service's log has always named it

DEFAULT_PORT = 8765
MAX_STREAMS = 64  # event streams at once
MAX_CONNECTIONS = 256  # connections at once, event streams included
FD_RESERVE = 128  # descriptors never given to connections: the player's clips, the journal, the sound server
WORKERS = 4  # threads answering requests
HEARTBEAT = 15.0  # seconds between comments on a quiet event stream (proxies and phones drop silent ones)
REQUEST_TIMEOUT = 10.0  # seconds a client may take to send its whole request, and to take an answer
SPARE = 32  # of the connections, those kept for real requests while slow clients take all the others
BACKLOG = 1024  # connections the kernel holds for the server until it accepts them: they cost it no descriptor
REPORT_EVERY = 60.0  # seconds between log lines counting the connections dropped
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass
class Answer:
    status: int
    data: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


STREAM = Answer(200, content_type="text/event-stream; charset=utf-8")  # the request's answer is the event stream


class Server:
    """Listens from its making (so a taken port fails at once); serves from serve_forever()
    until stop(), SIGTERM or Ctrl-C."""

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
        max_connections: int = MAX_CONNECTIONS,
        request_timeout: float = REQUEST_TIMEOUT,
        trusted_proxies: tuple[str, ...] = (),
    ):
        self.controller = controller
        self.access = Access(host, token, require_token, trusted_proxies)
        self.heartbeat = heartbeat
        self.max_streams = max_streams
        self.request_timeout = request_timeout
        self.page = Page()
        self.open_streams = 0
        self.stopping = threading.Event()
        self._ended = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._quit: asyncio.Event | None = None
        self._watcher: Watcher | None = None
        self._open = 0  # connections accepted and not yet closed
        # the connections waiting for their request, oldest first: when each was accepted
        self._waiting: OrderedDict[asyncio.Transport, float] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._freed = asyncio.Event()  # set when a connection is closed
        self._dropped = {"late": 0, "made room": 0, "turned away": 0, "out of descriptors": 0}  # since the last report
        self._reported = time.monotonic()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.socket = socket.create_server((host, port), family=family, backlog=BACKLOG)
        # a connection is accepted once its first bytes have come (or after a second): a
        # real request's line and headers have come with them, when it is looked at
        if hasattr(socket, "TCP_DEFER_ACCEPT"):  # Linux
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, 1)
        self.max_connections = connection_cap(max_connections)
        self.spare = min(SPARE, self.max_connections // 4)

    @property
    def port(self) -> int:
        return int(self.socket.getsockname()[1])

    @property
    def require_token(self) -> bool:
        return self.access.require_token

    @property
    def connections(self) -> int:
        return self._open

    # -- life ----------------------------------------------------------------------------

    def serve_forever(self) -> None:
        """Serve in this thread until stop() (from another thread) or a signal: every
        connection is then closed and the workers let go. In the main thread, SIGTERM,
        SIGHUP and SIGINT stop the loop first and then reach the handlers that were there
        (which raise, as they would have), since an exception raised inside the loop's
        callbacks would be caught and logged by asyncio instead."""
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        workers = ThreadPoolExecutor(WORKERS, thread_name_prefix="holdcue-web")
        loop.set_default_executor(workers)
        self._loop = loop
        caught: list[int] = []
        handlers = self._take_signals(loop, caught)
        try:
            loop.run_until_complete(self._serve())
        finally:
            self.stopping.set()
            try:
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                if pending:
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            finally:
                workers.shutdown(wait=False, cancel_futures=True)  # a command under way ends with the core
                for signum, handler in handlers.items():
                    loop.remove_signal_handler(signum)
                    signal.signal(signum, handler)
                asyncio.set_event_loop(None)
                loop.close()
                self._ended.set()
        if caught:
            handlers[caught[0]](caught[0], None)

    def _take_signals(self, loop: asyncio.AbstractEventLoop, caught: list[int]) -> dict[int, Any]:
        """The signals whose Python handlers the loop stands in for while it runs: {signal: handler}."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        handlers: dict[int, Any] = {}
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            handler = signal.getsignal(signum)
            if callable(handler):
                handlers[signum] = handler
                loop.add_signal_handler(signum, self._signalled, signum, caught)
        return handlers

    def _signalled(self, signum: int, caught: list[int]) -> None:
        caught.append(signum)
        self.stopping.set()
        if self._quit is not None:
            self._quit.set()

    def stop(self) -> None:
        """Stop serving (from another thread than serve_forever's) and end every event stream."""
        self.stopping.set()
        loop, quit_ = self._loop, self._quit
        if loop is not None and quit_ is not None and not self._ended.is_set():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(quit_.set)
            self._ended.wait(5)
        self.close()

    def close(self) -> None:
        self.stopping.set()
        self.socket.close()
        if self._watcher is not None:
            self._watcher.join(timeout=2)  # at most one wait on the core's status

    async def _serve(self) -> None:
        self._quit = asyncio.Event()
        if self.stopping.is_set():
            return
        watcher = Watcher(self.controller, asyncio.get_running_loop(), self.stopping)
        self._watcher = watcher
        watcher.start()
        self.socket.setblocking(False)
        accepting = asyncio.ensure_future(self._accept())
        try:
            await self._quit.wait()
        finally:
            self.stopping.set()  # every connection, event streams too, is cancelled by serve_forever at once
            accepting.cancel()

    # -- connections ---------------------------------------------------------------------

    async def _accept(self) -> None:
        """Accepts connections one at a time (asyncio's own servers accept a backlog's worth
        before any of them is looked at). While all but SPARE are taken, a new connection
        whose request line and headers have come takes the place of the connection that has
        waited longest for its request, and one without them is closed at once: slow
        clients cannot hold the spare places, and closing them costs a few system calls.
        With every place taken (by requests being answered), new ones wait in the backlog."""
        loop = asyncio.get_running_loop()
        while True:
            await self._room()
            try:
                connection, address = await loop.sock_accept(self.socket)
            except OSError as error:  # out of descriptors after all: wait for some to be let go
                if error.errno not in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
                    raise
                self._count("out of descriptors")
                await asyncio.sleep(0.1)
                continue
            if self._open >= self.max_connections - self.spare:
                if not _whole_head_waiting(connection):
                    connection.close()
                    self._count("turned away")
                    continue
                self._make_room()
            self._open += 1
            task = loop.create_task(self._connection(connection, str(address[0])))
            self._tasks.add(task)  # kept until done: the loop holds tasks weakly
            task.add_done_callback(self._tasks.discard)

    async def _room(self) -> None:
        """Returns when one more connection may be accepted."""
        self._report()
        while self._open >= self.max_connections:
            self._freed.clear()
            await self._freed.wait()

    def _make_room(self) -> None:
        """Closes the connection that has waited longest for its request, if there is one."""
        if self._waiting:
            oldest, _ = self._waiting.popitem(last=False)
            oldest.abort()  # its read ends at once, its descriptor freed
            self._count("made room")

    async def _streams(
        self, connection: socket.socket
    ) -> tuple[asyncio.Transport, asyncio.StreamReader, asyncio.StreamWriter] | None:
        """The connection as a transport and its streams; None when that fails."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_HEAD)
        protocol = asyncio.StreamReaderProtocol(reader)
        try:
            transport, _ = await loop.connect_accepted_socket(lambda: protocol, connection)
        except OSError:
            return None
        return transport, reader, asyncio.StreamWriter(transport, protocol, reader, loop)

    async def _connection(self, connection: socket.socket, peer: str) -> None:
        try:
            opened = await self._streams(connection)
        except BaseException:  # cancelled: the server is stopping
            connection.close()
            self._closed()
            raise
        if opened is None:
            connection.close()
            self._closed()
            return
        transport, reader, writer = opened
        self._waiting[transport] = time.monotonic()
        try:
            try:
                request = await asyncio.wait_for(self._read(reader, writer, peer), self.request_timeout)
            except TimeoutError:
                self._count("late")
                return
            except Refused as refusal:
                if transport.is_closing():
                    return  # closed to make room for a newer connection while its body came
                log.warning("%s %d: %s", peer, refusal.status, refusal)
                await self._discard(reader, refusal.status)
                await self._write(writer, self._refusal(refusal), "GET")
                return
            if request is None:
                return  # closed before a whole request, or to make room for a newer connection
            del self._waiting[transport]
            await self._exchange(request, reader, writer)
        except (ConnectionError, TimeoutError):
            pass  # the client went away
        except Exception:
            log.exception("%s: the connection failed", peer)
        finally:
            self._waiting.pop(transport, None)
            transport.abort()  # nothing is left to send: closed at once, the descriptor freed
            self._closed()

    def _closed(self) -> None:
        self._open -= 1
        self._freed.set()

    def _count(self, why: str) -> None:
        self._dropped[why] += 1

    def _report(self) -> None:
        """One log line a minute at most for the connections dropped: a flood of them must
        not flood the log (and the SD card) too."""
        if time.monotonic() - self._reported < REPORT_EVERY:
            return
        self._reported = time.monotonic()
        if any(self._dropped.values()):
            counts = ", ".join(f"{n} {why}" for why, n in self._dropped.items() if n)
            log.warning(
                "connections dropped lately: %s (late: no whole request within %g s; at most %d at once)",
                counts,
                self.request_timeout,
                self.max_connections,
            )
            self._dropped = dict.fromkeys(self._dropped, 0)

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> Request | None:
        """The whole request (head and body), or None if the connection ended first."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as error:
            raise Refused(431, f"the request line and headers are over {MAX_HEAD} bytes") from error
        except asyncio.IncompleteReadError:
            return None
        request = parse_head(head.lstrip(b"\r\n"), peer)
        length = body_length(request.headers)
        if length and (request.headers.get("Expect") or "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        try:
            request.body = await reader.readexactly(length) if length else b""
        except asyncio.IncompleteReadError as error:
            raise Refused(400, "the body is shorter than its Content-Length") from error
        return request

    async def _discard(self, reader: asyncio.StreamReader, status: int) -> None:
        """Read (a bounded part of) a refused body, so closing the connection does not reset
        it before the client has read the answer."""
        if status != 413:
            return
        with contextlib.suppress(TimeoutError, ConnectionError):
            async with asyncio.timeout(1.0):
                left = 4 * MAX_BODY
                while left > 0 and (chunk := await reader.read(min(left, 65536))):
                    left -= len(chunk)

    async def _exchange(self, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answer = await asyncio.get_running_loop().run_in_executor(None, self._answer, request)
        if answer is STREAM:
            if self.open_streams >= self.max_streams:
                answer = self._refusal(
                    Refused(503, f"too many event streams (at most {self.max_streams})", {"Retry-After": "10"})
                )
            else:
                log.info("%s %s %s %d", request.peer, request.method, shown(request.path), 200)
                await self._stream(reader, writer)
                return
        await self._write(writer, answer, request.method)
        log.info("%s %s %s %d", request.peer, request.method, shown(request.path), answer.status)

    async def _write(self, writer: asyncio.StreamWriter, answer: Answer, method: str) -> None:
        writer.write(_head(answer, len(answer.data)) + (answer.data if method != "HEAD" else b""))
        async with asyncio.timeout(self.request_timeout):
            await writer.drain()

    # -- answers (in a worker thread) ----------------------------------------------------

    def _answer(self, request: Request) -> Answer:
        try:
            return self._route(request)
        except Refused as refusal:
            return self._refusal(refusal, request)
        except Exception:
            log.exception("%s %s failed", request.method, shown(request.path))
            return _json(500, {"error": "internal error: see the service's log"})

    def _refusal(self, refusal: Refused, request: Request | None = None) -> Answer:
        """JSON for a program; for a person's browser (it asks for HTML), a page to read."""
        if request is not None and wants_html(request.headers.get("Accept"), request.path):
            page = refusal_page(refusal.status, str(refusal)).encode()
            return Answer(refusal.status, page, "text/html; charset=utf-8", refusal.headers)
        return _json(refusal.status, {"error": str(refusal)}, refusal.headers)

    def _route(self, request: Request) -> Answer:
        method, path, headers = request.method, request.path, request.headers
        access = self.access
        access.check_host(headers)
        if method == "GET" and path == "/" and "token" in request.query:
            return Answer(303, b"", "text/plain", access.pair(request.query["token"][0]))
        if path not in PUBLIC:  # the page's style, icons and manifest: browsers fetch them without cookies
            access.check_token(headers)
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
            access.check_origin(headers, request.peer)
            body = json_body(request.body)
        return _json(200, handle(self.controller, method, path, body))

    def _page(self, path: str) -> Answer:
        return Answer(200, self.page.render(self.controller).encode(), "text/html; charset=utf-8")

    def _static(self, path: str) -> Answer:
        data, kind = self.page.files[path]
        return Answer(200, data, kind)

    def _events(self, path: str) -> Answer:
        return STREAM

    # -- the event stream ------------------------------------------------------------------

    async def _stream(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """The status as Server-Sent Events: now, then whenever it changes; a comment line
        when it has been quiet for a heartbeat. Ends when the client goes or the server stops."""
        self.open_streams += 1
        gone = asyncio.ensure_future(reader.read(1024))  # the page closed (or sent what a stream never takes)
        watcher = self._watcher
        assert watcher is not None  # made before the first connection
        try:
            head = _head(STREAM, None)
            writer.write(head + b"retry: 2000\n\n")  # milliseconds before the browser reconnects
            sent, quiet_since = -1, time.monotonic()
            while not self.stopping.is_set() and not watcher.closed:
                if watcher.version != sent:
                    sent = watcher.version
                    writer.write(f"id: {sent}\ndata: {watcher.data}\n\n".encode())
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since >= self.heartbeat:
                    writer.write(b": heartbeat\n\n")
                    quiet_since = time.monotonic()
                async with asyncio.timeout(self.request_timeout):  # a client that stopped reading is let go
                    await writer.drain()
                changed = asyncio.ensure_future(watcher.changed.wait())
                wait = max(0.0, quiet_since + self.heartbeat - time.monotonic())
                await asyncio.wait({gone, changed}, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
                if gone.done():
                    break
        finally:
            gone.cancel()
            self.open_streams -= 1


class Watcher(threading.Thread):
    """Waits on the core's status in a thread of its own and hands each new one to the
    event loop: every event stream is woken by the same change, none holds a thread."""

    def __init__(self, controller: Core, loop: asyncio.AbstractEventLoop, stopping: threading.Event):
        super().__init__(name="holdcue-web-status", daemon=True)
        self.controller, self.loop, self.stopping = controller, loop, stopping
        self.version, self.data, self.closed = -1, "", False
        self.changed = asyncio.Event()  # made in the loop's thread; set there only

    def run(self) -> None:
        version = -1
        while not self.stopping.is_set() and not self.controller.closed:
            latest, status = self.controller.wait(version, timeout=0.5)
            if latest != version:
                version = latest
                data = json.dumps(status_json(status))
                with contextlib.suppress(RuntimeError):  # the loop has closed
                    self.loop.call_soon_threadsafe(self._publish, latest, data)
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._end)

    def _publish(self, version: int, data: str) -> None:
        self.version, self.data = version, data
        self.changed.set()
        self.changed = asyncio.Event()

    def _end(self) -> None:
        self.closed = True
        self.changed.set()

    def wake(self) -> None:
        self.changed.set()


def connection_cap(wanted: int) -> int:
    """``wanted``, or fewer when the descriptor limit (systemd's default is 1,024) would
    leave less than FD_RESERVE descriptors free with every connection open."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 64
    room = soft - in_use - FD_RESERVE - 8  # 8: the event loop's own and the workers'
    if room < wanted:
        log.warning(
            "at most %d connections at once: the descriptor limit is %d (LimitNOFILE), %d are open, "
            "%d are kept for playback",
            max(room, 8),
            soft,
            in_use,
            FD_RESERVE,
        )
    return max(8, min(wanted, room))


def _json(status: int, value: Any, headers: dict[str, str] | None = None) -> Answer:
    return Answer(status, json.dumps(value).encode(), "application/json", headers or {})


def _head(answer: Answer, length: int | None) -> bytes:
    """The status line and headers of an answer; ``length`` None: the body runs until the
    connection closes (the event stream)."""
    phrase = HTTPStatus(answer.status).phrase if answer.status in HTTPStatus._value2member_map_ else ""
    lines = [f"HTTP/1.1 {answer.status} {phrase}", "Server: holdcue", f"Date: {formatdate(usegmt=True)}"]
    lines += [f"{name}: {value}" for name, value in SECURITY_HEADERS.items()]
    lines.append(f"Content-Type: {answer.content_type}")
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{name}: {value}" for name, value in answer.headers.items()]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


# The paths the server answers itself, GET only: the page, its files, the event stream.
SERVED: dict[str, Callable[[Server, str], Answer]] = {
    "/": Server._page,
    **{path: Server._static for path in FILES},
    "/api/events": Server._events,
}


def _whole_head_waiting(connection: socket.socket) -> bool:
    """Whether a request's line and headers have arrived on a new connection (looked at,
    not read)."""
    try:
        return b"\r\n\r\n" in connection.recv(MAX_HEAD, socket.MSG_PEEK)
    except OSError:  # nothing yet (BlockingIOError), or reset
        return False
