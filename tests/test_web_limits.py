"""The HTTP server against clients that misbehave, on a real server on loopback with raw
sockets: slow and idle connections (a cap on connections, a deadline per whole request,
descriptors kept for playback), malformed requests (a 4xx and one log line, never a
traceback), the token kept out of the log, a broken token file, and the origin check
behind a TLS proxy."""

from __future__ import annotations

import http.client
import json
import logging
import os
import resource
import signal
import socket
import subprocess
import time

import pytest

from holdcue import web
from holdcue.errors import HoldcueError
from holdcue.web import server as web_server
from test_web_api import ROOT, Running, holdcue


@pytest.fixture
def start(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path))
    running: list[Running] = []

    def make(**options) -> Running:
        running.append(Running(**options))
        return running[-1]

    yield make
    for server in running:
        server.close()


def exchange(port: int, data: bytes, timeout: float = 10) -> bytes:
    """Everything the server answers to ``data`` on one connection, until it closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        raw.sendall(data)
        answer = b""
        while chunk := raw.recv(65536):
            answer += chunk
    return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def web_records(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "holdcue.web"]


# -- slow and idle connections ------------------------------------------------------------


def test_a_client_trickling_its_headers_is_dropped_at_the_whole_requests_deadline(start):
    api = start(request_timeout=1.0)
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", api.server.port), timeout=10) as raw:
        raw.sendall(b"GET /api/status HTTP/1.1\r\n")
        closed = False
        while time.monotonic() - began < 5:
            try:
                raw.sendall(b"X-Slow: yes\r\n")  # a line well within any per-read timeout
            except OSError:
                closed = True
                break
            raw.settimeout(0.3)
            try:
                if raw.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
    assert closed and time.monotonic() - began < 2.5
    assert api.request("GET", "/api/status")[0] == 200


def test_slow_connections_beyond_the_cap_make_room_for_real_requests(start):
    api = start(max_connections=20)
    slow = []
    try:
        for _ in range(60):  # three times the cap, each sending a request it never finishes
            raw = socket.create_connection(("127.0.0.1", api.server.port), timeout=10)
            raw.sendall(b"GET /api/status HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            slow.append(raw)
        time.sleep(0.3)
        assert api.server.connections <= 20
        for _ in range(5):  # each takes the place of the slow connection that has waited longest
            began = time.monotonic()
            assert api.request("GET", "/api/status")[0] == 200
            assert time.monotonic() - began < 2
            assert api.server.connections <= 20
        connection, response = open_stream(api)  # an event stream is never closed to make room
        assert response.fp.readline().startswith(b"retry:")
        for _ in range(40):
            raw = socket.create_connection(("127.0.0.1", api.server.port), timeout=10)
            raw.sendall(b"GET /api/status HTTP/1.1\r\n")
            slow.append(raw)
        time.sleep(0.3)
        assert api.server.open_streams == 1 and api.server.connections <= 20
        api.request("POST", "/api/volume", {"volume": 0.5})
        while not (line := response.fp.readline()).startswith(b"data:"):
            assert line, "the stream was closed"
        while '"volume": 0.5' not in line.decode():
            line = response.fp.readline()
            assert line, "the stream was closed"
        connection.close()
    finally:
        for raw in slow:
            raw.close()


def open_stream(api):
    connection = api.connect()
    connection.request("GET", "/api/events")
    response = connection.getresponse()
    assert response.status == 200
    return connection, response


@pytest.mark.parametrize("limit", [1024, 320])
def test_the_connection_cap_keeps_descriptors_for_playback(limit):
    """Under a descriptor limit (systemd's default is 1,024), ``holdcue serve`` never lets
    connections take the descriptors playback needs, however many clients connect."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))

    process = subprocess.Popen(
        holdcue("serve", "--port", "0", "--no-prepare"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        preexec_fn=limited,
    )
    clients = []
    raised = soft
    try:
        port = int(process.stdout.readline().decode().split("127.0.0.1:")[1].split("/")[0])
        if soft < 1600:  # this process holds the clients' ends
            raised = min(hard, 4096)
            resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        for _ in range(limit + 300):
            try:
                raw = socket.create_connection(("127.0.0.1", port), timeout=10)
            except OSError:
                continue
            raw.setblocking(False)
            try:
                raw.send(b"GET /api/status HTTP/1.1\r\n")
            except OSError:
                pass
            clients.append(raw)
        time.sleep(1.0)
        in_use = len(os.listdir(f"/proc/{process.pid}/fd"))
        assert limit - in_use >= web_server.FD_RESERVE
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/api/routines")
        assert connection.getresponse().status == 200
        connection.close()
    finally:
        for raw in clients:
            raw.close()
        if raised != soft:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
    log = process.stderr.read().decode()
    assert "Traceback" not in log and "Too many open files" not in log
    if limit - web_server.FD_RESERVE < web_server.MAX_CONNECTIONS + 50:  # the cap is lowered, and says so
        assert "connections at once: the descriptor limit is 320" in log


# -- malformed requests ---------------------------------------------------------------------


BAD_REQUESTS = [
    # (what is sent after the request line's method and path, the status)
    (b"POST /api/play HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5000\r\n\r\n" + b"[" * 5000, 400),
    (b"POST /api/play HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: \xb2\r\n\r\nxx", 400),
    (b"POST /api/play HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400),
    (b"GET //[ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400),
    (b"GET /?" + b"&".join(b"f%d=1" % n for n in range(30)) + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 400),
    (b"GET /api/status HTTP/1.1 extra\r\n\r\n", 400),
    (b"GET /api/status HTTP/2.0\r\n\r\n", 400),
    (b"GET api/status HTTP/1.1\r\n\r\n", 400),
    (b"get /api/status HTTP/1.1\r\n\r\n", 400),
    (b"GET /api/status HTTP/1.1\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", 431),
    (b"GET /api/status HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % n for n in range(200)) + b"\r\n", 400),
    (b"POST /api/play HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n{}", 400),  # then closed
]


@pytest.mark.parametrize("data,code", BAD_REQUESTS, ids=range(len(BAD_REQUESTS)))
def test_a_malformed_request_is_a_4xx_with_one_log_line(start, caplog, data, code):
    caplog.set_level(logging.INFO)
    api = start()
    if data.endswith(b"{}") and b"Content-Length: 10" in data:
        with socket.create_connection(("127.0.0.1", api.server.port), timeout=10) as raw:
            raw.sendall(data)
            raw.shutdown(socket.SHUT_WR)  # the body ends short of its length
            answer = b""
            while chunk := raw.recv(65536):
                answer += chunk
    else:
        answer = exchange(api.server.port, data)
    assert status_of(answer) == code, answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]
    records = web_records(caplog)
    assert len(records) == 1 and records[0].exc_info is None, [r.getMessage() for r in records]
    assert "Traceback" not in caplog.text
    assert api.request("GET", "/api/status")[0] == 200


def test_a_body_nested_within_the_parsers_reach_is_still_refused(start):
    api = start()
    for body in (
        b'{"routine": ' + b"[" * 500 + b"]" * 500 + b"}",
        b'{"volume": ' + b'{"a": ' * 300 + b"1" + b"}" * 301,
    ):
        status, _, answer = api.request("POST", "/api/play" if b"routine" in body else "/api/volume", body)
        assert status == 400 and "nested too deep" in answer["error"]


# -- the token never reaches the log --------------------------------------------------------


def test_the_token_never_reaches_the_log_however_the_request_is_malformed(tmp_path, start, caplog):
    caplog.set_level(logging.DEBUG)
    token_file = web.TokenFile(tmp_path / "token")
    token = token_file.load()
    api = start(host="0.0.0.0", token=token_file)
    port = api.server.port
    for line in (
        f"GET /?token={token} HTTP/1.1 extra",
        f"GET /?token={token} HTTP/3",
        f"GET /?token={token}",
        f"GET /{token} HTTP/1.1",
        f"GET /api/{token}?x HTTP/1.1",
        f"POST /api/play?token={token} HTTP/1.1\r\nContent-Length: ²",
        f"GET /api/status HTTP/1.1\r\nAuthorization: Bearer {token}\r\nBroken header",
        f"\x1b[2J{token} /x HTTP/1.1",
    ):
        exchange(port, line.encode() + b"\r\n\r\n")
    exchange(port, f"GET /api/status HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\r\n".encode())
    messages = "\n".join(record.getMessage() for record in caplog.records)
    assert messages.count("\n") >= 8 and token not in messages and token[:20] not in messages


# -- a broken token file --------------------------------------------------------------------


@pytest.mark.parametrize("damage", ["gone", "damaged", "a link"])
def test_a_broken_token_file_refuses_every_request_until_pair_makes_it_again(tmp_path, start, caplog, damage):
    path = tmp_path / "token"
    token_file = web.TokenFile(path)
    token = token_file.load()
    api = start(host="0.0.0.0", token=token_file)
    bearer = {"Authorization": f"Bearer {token}"}
    assert api.request("GET", "/api/status", headers=bearer)[0] == 200
    caplog.set_level(logging.INFO)
    path.unlink()
    if damage == "damaged":
        path.write_text("short\n")
    elif damage == "a link":
        (tmp_path / "elsewhere").write_text(token + "\n")
        path.symlink_to(tmp_path / "elsewhere")
    for _ in range(3):
        status, _, body = api.request("GET", "/api/status", headers=bearer)
        assert status == 401 and "token" in body["error"]
    assert api.request("GET", f"/?token={token}")[0] == 401
    errors = [r for r in web_records(caplog) if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is None and "holdcue pair" in errors[0].getMessage()
    assert "Traceback" not in caplog.text
    if damage != "gone":
        path.unlink()
    env = {**os.environ, "HOLDCUE_CONFIG_DIR": str(tmp_path), "PYTHONPATH": str(ROOT / "src")}
    paired = subprocess.run(holdcue("pair", "--host", "192.168.1.20"), env=env, capture_output=True, text=True)
    assert paired.returncode == 0, paired.stderr
    fresh = path.read_text().strip()
    assert api.request("GET", "/api/status", headers={"Authorization": f"Bearer {fresh}"})[0] == 200


def test_the_token_file_never_changes_what_a_link_points_to(tmp_path):
    target = tmp_path / "shared.txt"
    target.write_text("x" * 43 + "\n")
    target.chmod(0o644)
    (tmp_path / "token").symlink_to(target)
    with pytest.raises(HoldcueError, match="holdcue pair --renew"):
        web.TokenFile(tmp_path / "token").load()
    assert target.stat().st_mode & 0o777 == 0o644
    web.TokenFile(tmp_path / "token").renew()  # the link is replaced by a file of its own
    assert not (tmp_path / "token").is_symlink() and target.read_text() == "x" * 43 + "\n"
    assert (tmp_path / "token").stat().st_mode & 0o777 == 0o600


# -- the pairing link and what serve listens on ---------------------------------------------


def test_pair_says_when_serve_listens_on_loopback_only_and_what_fixes_it(tmp_path, start):
    api = start()  # 127.0.0.1, as serve listens by default
    port = api.server.port
    env = {
        **os.environ,
        "HOLDCUE_CONFIG_DIR": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "PYTHONPATH": str(ROOT / "src"),
    }
    shown = subprocess.run(holdcue("pair", "--port", str(port)), env=env, capture_output=True, text=True)
    assert shown.returncode == 0 and "?token=" in shown.stdout
    assert "listens on 127.0.0.1 only" in shown.stderr
    assert f"holdcue serve --host 0.0.0.0 --port {port}" in shown.stderr
    unit = tmp_path / "xdg" / "systemd" / "user" / "holdcue.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=holdcue serve\n")
    shown = subprocess.run(holdcue("pair", "--port", str(port)), env=env, capture_output=True, text=True)
    assert f"holdcue service install --force --host 0.0.0.0 --port {port}" in shown.stderr
    api.close()
    shown = subprocess.run(holdcue("pair", "--port", str(port)), env=env, capture_output=True, text=True)
    assert f"nothing answers on port {port}" in shown.stderr


def test_pair_says_nothing_more_when_phones_can_reach_serve(tmp_path, start):
    api = start(host="0.0.0.0", token=web.TokenFile(tmp_path / "token"))
    env = {**os.environ, "HOLDCUE_CONFIG_DIR": str(tmp_path), "PYTHONPATH": str(ROOT / "src")}
    shown = subprocess.run(holdcue("pair", "--port", str(api.server.port)), env=env, capture_output=True, text=True)
    assert shown.returncode == 0 and "?token=" in shown.stdout and shown.stderr == ""
