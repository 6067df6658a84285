"""The HTTP API on a real server (127.0.0.1, a free port) with real requests: every
endpoint, every error code, the token, the origin check, the body limit and the event
stream. Playback goes to a sink that plays nothing, on the real clock."""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
import zipfile
import zlib
from pathlib import Path

import pytest

from holdcue import library, plan, web
from holdcue.core import Catalog, Core, NothingToResume, RestDay, Snapshot
from holdcue.errors import HoldcueError, PlanError, Problem
from holdcue.web import routes
from holdcue.web.status import status_json
from service_support import RealClock, Sink, make_session, says, wait_until

ROOT = Path(__file__).resolve().parents[1]


class Running:
    """A server serving in a thread, and requests to it."""

    def __init__(self, host="127.0.0.1", controller=None, **options):
        self.clock = RealClock()
        self.sink = Sink(self.clock)
        self.controller = Core(
            Catalog(), sink=self.sink, build=make_session, clock=self.clock, tick=0.05, **(controller or {})
        )
        self.controller.start()
        self.server = web.Server(self.controller, host, 0, **options)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.host = "127.0.0.1" if host in ("0.0.0.0", "127.0.0.1") else host
        self.origin = f"http://{self.host}:{self.server.port}"

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.server.port, timeout=10)

    def request(self, method, path, body=None, headers=None):
        """(status, headers, JSON or text) of one request; ``body`` a value sent as JSON, or bytes."""
        connection = self.connect()
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        connection.request(method, path, body=data, headers=headers or {})
        response = connection.getresponse()
        raw = response.read()
        connection.close()
        kind = response.getheader("Content-Type") or ""
        return response.status, response, json.loads(raw) if kind.startswith("application/json") else raw.decode()

    def close(self):
        self.controller.close()
        self.server.stop()
        self.thread.join(timeout=5)


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def start(config):
    running = []

    def make(**options) -> Running:
        running.append(Running(**options))
        return running[-1]

    yield make
    for server in running:
        server.close()


@pytest.fixture
def api(start):
    return start()


# -- reading --------------------------------------------------------------------------------


def test_routines_lists_the_library(api):
    status, _, routines = api.request("GET", "/api/routines")
    assert status == 200
    assert [r["id"] for r in routines] == [e.id for e in library.entries()]
    neck = next(r for r in routines if r["id"] == "neck-and-upper-trapezius")
    loaded = library.load_routine("neck-and-upper-trapezius")
    assert set(neck) == {"id", "title", "duration", "exact", "areas", "tools"}
    assert neck["title"] == loaded.title and neck["areas"] == list(loaded.areas) and neck["tools"] == list(loaded.tools)
    assert 60 < neck["duration"] < 3600


def test_status_when_idle(api):
    status, response, body = api.request("GET", "/api/status")
    assert status == 200 and response.getheader("Content-Type") == "application/json"
    expected = {"state", "routine", "title", "step", "steps", "side", "position", "duration", "left", "next", "volume"}
    assert expected <= set(body)
    assert body["state"] == "idle" and body["routine"] is None and body["volume"] == 1.0


def test_the_status_is_sent_as_the_docs_show_it():
    """The JSON of the core's status, field by field in the documented order; with nothing
    under way, "duration" is 0 as it has always been (not 0.0)."""
    text = (ROOT / "docs" / "service.md").read_text(encoding="utf-8")
    documented = json.loads(re.search(r"```json\n(\{\"state\".*?\})\n```", text, re.DOTALL).group(1))
    assert list(status_json(Snapshot(**documented)).items()) == list(documented.items())
    idle = json.dumps(status_json(Snapshot(volume=1.0)))
    assert idle == (
        '{"state": "idle", "routine": null, "title": null, "step": 0, "steps": 0, "step_title": "", "phase": "", '
        '"side": "", "round": 0, "rounds": 0, "position": 0, "duration": 0, "left": 0, "until": "", "next": "", '
        '"volume": 1.0, "error": ""}'
    )


def test_history_is_501_for_a_controller_without_a_journal(start):
    status, _, body = start().request("GET", "/api/history")
    assert status == 501 and "journal" in body["error"]
    status, _, body = start().request("POST", "/api/resume-last")
    assert status == 501 and "journal" in body["error"]


# -- playing ---------------------------------------------------------------------------------


def test_play_pause_resume_next_previous_stop(api):
    status, _, body = api.request("POST", "/api/play", {"routine": "shoulders-and-chest"})
    assert status == 200 and body["state"] == "playing" and body["routine"] == "shoulders-and-chest"
    assert body["title"] == "Shoulders and chest" and body["steps"] > 1
    assert len(api.sink.playing()) == 1
    assert api.request("POST", "/api/pause")[2]["state"] == "paused"
    assert [says(take, "Paused.") for take in api.sink.playing()] == [True]  # said, as the keys do
    status, _, body = api.request("POST", "/api/pause")
    assert status == 409 and "paused" in body["error"]
    assert api.request("POST", "/api/resume")[2]["state"] == "playing"
    step = api.request("POST", "/api/next")[2]["step"]
    assert step >= 1
    assert api.request("POST", "/api/next")[2]["step"] == step + 1
    assert api.request("POST", "/api/previous")[2]["step"] == step
    assert api.request("POST", "/api/stop")[2]["state"] == "idle"
    assert [says(take, "Session ended.") for take in api.sink.playing()] == [True]
    assert api.request("POST", "/api/stop")[0] == 200
    for command in ("pause", "resume", "next", "previous"):
        status, _, body = api.request("POST", f"/api/{command}")
        assert status == 409 and body["error"] == f"cannot {command}: nothing is playing"


def test_play_from_a_step(api):
    status, _, body = api.request("POST", "/api/play", {"routine": "shoulders-and-chest", "start_at": 2})
    assert status == 200 and body["step"] == 2
    status, _, body = api.request("POST", "/api/play", {"routine": "shoulders-and-chest", "start_at": 99})
    assert status == 400 and "there is no step 99" in body["error"]
    for bad in (0, -1, "2", 1.5, True, 10**6):
        status, _, body = api.request("POST", "/api/play", {"routine": "shoulders-and-chest", "start_at": bad})
        assert status == 400 and "start_at" in body["error"], bad


@pytest.mark.parametrize(
    "ref", ["no-such-routine", "../../etc/passwd", "/etc/passwd", "neck.yaml", "builtin:neck-and-upper-trapezius", 7]
)
def test_routines_are_named_by_id_only(api, ref):
    status, _, body = api.request("POST", "/api/play", {"routine": ref})
    assert status == 404 and body["error"]
    assert api.sink.takes == []


def test_a_users_routine_with_errors_is_409(api, config):
    (config / "routines").mkdir()
    (config / "routines" / "mine.yaml").write_text("title: Mine\nsteps: nope\n")
    status, _, body = api.request("POST", "/api/play", {"routine": "mine"})
    assert status == 409 and "holdcue validate" in body["error"]


def test_volume(api):
    status, _, body = api.request("POST", "/api/volume", {"volume": 0.4})
    assert status == 200 and body["volume"] == 0.4
    api.request("POST", "/api/play", {"routine": "shoulders-and-chest"})
    assert api.request("POST", "/api/volume", {"volume": 2})[2]["volume"] == 2.0
    assert len(api.sink.takes) == 2 and api.sink.takes[0].handle.stopped  # a new take at the new volume
    for raw in (
        b'{"volume": NaN}',
        b'{"volume": Infinity}',
        b'{"volume": 1e999}',
        b'{"volume": 2.5}',
        b'{"volume": "1"}',
    ):
        status, _, body = api.request("POST", "/api/volume", raw)
        assert status == 400 and body["error"], raw
    assert api.request("POST", "/api/volume", {})[0] == 400
    assert api.request("GET", "/api/status")[2]["volume"] == 2.0


def test_today_without_a_plan_and_with_one(start):
    status, _, body = start().request("POST", "/api/today")
    assert status == 404 and body["error"] == "there is no weekly plan"
    every_day = plan.Plan(("glutes-and-piriformis",) * 7, "test")
    planned = start(controller={"plan": lambda: every_day})
    status, _, body = planned.request("POST", "/api/today")
    assert status == 200 and body["routine"] == "glutes-and-piriformis" and body["state"] == "playing"
    page = planned.request("GET", "/")[2]
    assert "Glutes and piriformis" in page.split('id="area-heading"')[0]  # today's session comes first


# -- bad requests -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"routine": "shoulders-and-chest", "loud": true}', "unknown field 'loud'"),
        (b'{"start_at": 2}', "name the routine"),
    ],
)
def test_bad_bodies_are_400(api, body, message):
    status, _, answer = api.request("POST", "/api/play", body, {"Content-Type": "application/json"})
    assert status == 400 and message in answer["error"]


def test_unknown_paths_are_404_and_wrong_methods_405(api):
    status, _, body = api.request("GET", "/api/nothing")
    assert status == 404 and body == {"error": "no such path: /api/nothing"}
    assert api.request("GET", "/routines/neck.yaml")[0] == 404
    status, response, body = api.request("GET", "/api/play")
    assert status == 405 and response.getheader("Allow") == "POST" and "takes POST" in body["error"]
    status, response, _ = api.request("POST", "/api/status")
    assert status == 405 and response.getheader("Allow") == "GET"
    assert api.request("DELETE", "/api/stop")[0] == 405
    assert api.request("PUT", "/api/volume", {"volume": 1})[0] == 405


def test_a_body_over_16_kb_is_refused_before_it_is_read(api):
    connection = api.connect()
    connection.putrequest("POST", "/api/play")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Content-Length", str(10**9))  # announced, never sent
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 413 and "at most 16384" in json.loads(response.read())["error"]
    connection.close()
    padded = json.dumps({"routine": "shoulders-and-chest", "pad": "x" * 20_000}).encode()
    status, _, body = api.request("POST", "/api/play", padded)
    assert status == 413
    assert api.sink.takes == []


def test_a_chunked_body_is_refused(api):
    connection = api.connect()
    connection.request("POST", "/api/play", body=iter([b'{"routine": "shoulders-and-chest"}']), encode_chunked=True)
    response = connection.getresponse()
    assert response.status == 411 and "Content-Length" in json.loads(response.read())["error"]
    assert api.sink.takes == []


def test_errors_are_answered_by_their_class_or_the_class_they_are_a_kind_of():
    assert routes.refused(RestDay("Today is a rest day.")).status == 409  # a WrongState
    assert routes.refused(NothingToResume("nothing to resume")).status == 409
    plan_error = routes.refused(PlanError([Problem("plan.yaml", 2, 9, "monday", "no routine x")]))
    assert plan_error.status == 409
    assert str(plan_error) == "the weekly plan has errors, run holdcue plan: plan.yaml:2:9: monday: no routine x"
    assert routes.refused(HoldcueError("odd")) is None


def test_another_error_is_a_500_with_its_message_for_a_command_and_an_internal_error_for_a_reading():
    class Failing:
        def history(self):
            raise HoldcueError("odd")

        def stop(self):
            raise HoldcueError("odd")

    with pytest.raises(HoldcueError, match="odd"):  # the server answers "internal error", the traceback logged
        routes.handle(Failing(), "GET", "/api/history", {})
    with pytest.raises(web.Refused, match="odd") as refusal:
        routes.handle(Failing(), "POST", "/api/stop", {})
    assert refusal.value.status == 500


# -- who may ask -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Referer": "http://evil.example/page.html"},
        {"Origin": "http://127.0.0.1:1"},  # another port is another origin
    ],
)
def test_a_post_from_another_origin_is_403(api, headers):
    status, _, body = api.request("POST", "/api/play", {"routine": "shoulders-and-chest"}, headers)
    assert status == 403 and "another site" in body["error"]
    assert api.sink.takes == []


def test_a_post_from_its_own_page_or_from_a_script_is_accepted(api):
    own = {"Origin": api.origin}
    assert api.request("POST", "/api/volume", {"volume": 0.5}, own)[0] == 200
    assert api.request("POST", "/api/volume", {"volume": 0.5}, {"Referer": api.origin + "/"})[0] == 200
    assert api.request("POST", "/api/volume", {"volume": 0.5})[0] == 200  # curl sends neither


def test_without_a_token_only_loopback_names_are_answered(api):
    status, _, body = api.request("GET", "/api/status", headers={"Host": f"rebound.example:{api.server.port}"})
    assert status == 403 and "Host" in body["error"]
    assert api.request("GET", "/api/status", headers={"Host": f"localhost:{api.server.port}"})[0] == 200


def test_a_non_loopback_address_requires_the_token(config, start):
    with pytest.raises(ValueError, match="token file"):
        web.Server(None, "0.0.0.0", 0)  # type: ignore[arg-type]
    token_file = web.TokenFile(config / "token")
    token = token_file.load()
    lan = start(host="0.0.0.0", token=token_file)
    assert lan.server.require_token
    assert lan.request("GET", "/api/status")[0] == 401
    assert not start().server.require_token and not web.is_loopback("192.168.1.20") and web.is_loopback("127.0.0.2")
    assert token in web.pairing_url("0.0.0.0", 8765, token)


def test_every_request_needs_the_token_when_required(config, start):
    token_file = web.TokenFile(config / "token")
    token = token_file.load()
    api = start(require_token=True, token=token_file)
    for method, path in [("GET", "/"), ("GET", "/app.js"), ("GET", "/api/status"), ("GET", "/api/events")]:
        status, _, body = api.request(method, path)
        assert status == 401 and "holdcue pair" in body["error"], path
    status, _, _ = api.request("POST", "/api/play", {"routine": "shoulders-and-chest"})
    assert status == 401 and api.sink.takes == []
    assert api.request("GET", "/api/status", headers={"Authorization": "Bearer wrong"})[0] == 401
    assert api.request("GET", "/api/status", headers={"Authorization": f"Bearer {token}"})[0] == 200
    assert api.request("GET", "/api/status", headers={"Cookie": f"holdcue_token={token[:-1]}x"})[0] == 401
    assert api.request("GET", "/api/status", headers={"Cookie": f"other=1; holdcue_token={token}"})[0] == 200
    assert api.request("GET", "/api/status", headers={"Cookie": 'holdcue_token="\\'})[0] == 401


def test_a_browser_is_answered_with_a_page_a_program_with_json(config, start):
    """The same refusal: a page that says what to do for a person's browser (it asks for
    text/html), JSON for the API and for anything that does not ask for HTML."""
    token_file = web.TokenFile(config / "token")
    token_file.load()
    api = start(require_token=True, token=token_file)
    browser = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
    status, response, page = api.request("GET", "/", headers=browser)
    assert status == 401 and response.getheader("Content-Type") == "text/html; charset=utf-8"
    assert "<h1>This phone is not paired with holdcue</h1>" in page and "<code>holdcue pair</code>" in page
    assert response.getheader("Content-Security-Policy").startswith("default-src 'self'")
    status, _, page = api.request("GET", "/?token=<script>", headers=browser)
    assert status == 401 and "no longer valid" in page and "<script>" not in page
    for path, headers in [("/", {}), ("/", {"Accept": "*/*"}), ("/api/status", browser)]:
        status, response, body = api.request("GET", path, headers=headers)
        assert status == 401 and body["error"].startswith("a token is needed"), (path, headers)
    # the files a browser fetches without its cookie (the manifest, its icons) and the page's style
    for path, kind in [
        ("/manifest.webmanifest", "application/manifest+json"),
        ("/icon-192.png", "image/png"),
        ("/icon-512.png", "image/png"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/favicon.svg", "image/svg+xml"),
    ]:
        connection = api.connect()
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        connection.close()
        assert response.status == 200 and response.getheader("Content-Type") == kind, path
    status, _, page = start().request("GET", "/no-such-page", headers=browser)
    assert status == 404 and "<h1>There is nothing here</h1>" in page and '<a href="/">' in page


def test_the_manifest_and_its_icons(api):
    status, _, manifest = api.request("GET", "/manifest.webmanifest")
    assert status == 200
    manifest = json.loads(manifest)
    assert (manifest["name"], manifest["start_url"], manifest["display"]) == ("holdcue", "/", "standalone")
    for icon in manifest["icons"]:
        connection = api.connect()
        connection.request("GET", icon["src"])
        response = connection.getresponse()
        data = response.read()
        assert response.status == 200 and response.getheader("Content-Type") == icon["type"]
        if icon["type"] == "image/png":
            size = int(icon["sizes"].split("x")[0])
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[16:24] == size.to_bytes(4, "big") * 2
            assert zlib.decompress(data[41 : 41 + int.from_bytes(data[33:37], "big")])  # its pixels


def test_the_steps_of_the_session_and_going_to_one(api):
    assert api.request("GET", "/api/steps")[2] == {"routine": None, "steps": []}
    status, _, body = api.request("POST", "/api/step", {"step": 2})
    assert status == 409 and body["error"] == "cannot go to step 2: nothing is playing"
    api.request("POST", "/api/play", {"routine": "shoulders-and-chest"})
    status, _, steps = api.request("GET", "/api/steps")
    loaded = library.load_routine("shoulders-and-chest")
    assert status == 200 and steps["routine"] == "shoulders-and-chest"
    assert [s["step"] for s in steps["steps"]] == list(range(1, len(loaded.steps) + 1))
    assert all(a["end"] <= b["start"] for a, b in zip(steps["steps"], steps["steps"][1:], strict=False))
    status, _, body = api.request("POST", "/api/step", {"step": 3})
    assert status == 200 and body["state"] == "playing" and body["step"] == 3
    assert body["step_title"] == steps["steps"][2]["title"]
    for bad in ({"step": 99}, {"step": "3"}, {"step": 0}, {}, {"step": 2, "routine": "x"}):
        status, _, body = api.request("POST", "/api/step", bad)
        assert status == 400 and body["error"], bad
    api.request("POST", "/api/stop")


def test_the_pairing_link_sets_a_strict_http_only_cookie_and_drops_the_token(config, start):
    token_file = web.TokenFile(config / "token")
    token = token_file.load()
    api = start(require_token=True, token=token_file)
    status, response, _ = api.request("GET", f"/?token={token}")
    assert status == 303 and response.getheader("Location") == "/"
    cookie = response.getheader("Set-Cookie")
    assert cookie.startswith(f"holdcue_token={token};")
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= {part.strip() for part in cookie.split(";")}
    status, _, body = api.request("GET", "/?token=stale")
    assert status == 401 and "no longer valid" in body["error"]
    page = api.request("GET", "/", headers={"Cookie": cookie.split(";")[0]})
    assert page[0] == 200 and "<h1>holdcue</h1>" in page[2]


def test_renewing_the_token_shuts_old_phones_out_of_a_running_server(config, start):
    token_file = web.TokenFile(config / "token")
    old = token_file.load()
    api = start(require_token=True, token=token_file)
    assert api.request("GET", "/api/status", headers={"Authorization": f"Bearer {old}"})[0] == 200
    new = web.TokenFile(config / "token").renew()
    assert new != old
    assert api.request("GET", "/api/status", headers={"Authorization": f"Bearer {old}"})[0] == 401
    assert api.request("GET", "/api/status", headers={"Authorization": f"Bearer {new}"})[0] == 200


def test_the_token_file_is_made_once_whole_and_for_its_owner_only(config):
    path = config / "sub" / "token"
    token = web.TokenFile(path).load()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == token + "\n" and len(token) >= 43
    assert web.TokenFile(path).load() == token  # kept, not made again
    assert [p.name for p in path.parent.iterdir()] == ["token"]  # no temporary file left
    path.chmod(0o644)
    assert web.TokenFile(path).current() == token and stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("short\n")
    with pytest.raises(Exception, match="damaged"):
        web.TokenFile(path).current()


# -- the event stream -------------------------------------------------------------------------


def read_event(response) -> dict:
    """The next data event of a stream (skipping comments and the retry line)."""
    while True:
        line = response.fp.readline().decode()
        assert line, "the stream ended"
        if line.startswith("data: "):
            return json.loads(line[6:])


def open_stream(api):
    connection = api.connect()
    connection.request("GET", "/api/events")
    response = connection.getresponse()
    return connection, response


def test_the_event_stream_sends_the_status_and_every_change(api):
    connection, response = open_stream(api)
    assert response.status == 200 and response.getheader("Content-Type").startswith("text/event-stream")
    assert read_event(response)["state"] == "idle"
    api.request("POST", "/api/play", {"routine": "shoulders-and-chest"})
    playing = read_event(response)
    assert playing["state"] == "playing" and playing["routine"] == "shoulders-and-chest"
    api.request("POST", "/api/pause")
    assert read_event(response)["state"] == "paused"
    connection.close()


def test_a_quiet_stream_gets_heartbeats(start):
    api = start(heartbeat=0.2)
    connection, response = open_stream(api)
    read_event(response)
    began = time.monotonic()
    while (line := response.fp.readline().decode()) != ": heartbeat\n":
        assert line in ("\n", ""), line
    assert time.monotonic() - began < 2
    connection.close()


def test_event_streams_are_capped(start):
    api = start(max_streams=2)
    streams = [open_stream(api) for _ in range(2)]
    for _, response in streams:
        read_event(response)
    status, response, body = api.request("GET", "/api/events")
    assert status == 503 and "at most 2" in body["error"] and response.getheader("Retry-After")
    streams[0][1].close()  # the page goes away: its socket is shut
    streams[0][0].close()
    wait_until(lambda: api.server.open_streams < 2, what="the closed stream to be noticed")
    assert api.request("GET", "/api/status")[0] == 200
    third = open_stream(api)
    assert third[1].status == 200
    for connection, _ in [streams[1], third]:
        connection.close()


def test_stopping_the_server_ends_the_streams(start):
    api = start()
    connection, response = open_stream(api)
    read_event(response)
    began = time.monotonic()
    stopper = threading.Thread(target=api.server.stop)
    stopper.start()
    while response.fp.readline():
        pass
    stopper.join(timeout=5)
    assert time.monotonic() - began < 3 and api.server.open_streams == 0
    connection.close()


# -- the page ---------------------------------------------------------------------------------


def test_the_page_is_same_origin_only_with_a_content_security_policy(api):
    status, response, page = api.request("GET", "/")
    assert status == 200 and response.getheader("Content-Type") == "text/html; charset=utf-8"
    assert "default-src 'self'" in response.getheader("Content-Security-Policy")
    references = re.findall(r'\s(?:src|href|action)="([^"]*)"', page)
    assert references and all(ref.startswith("/") and not ref.startswith("//") for ref in references)
    assert "http://" not in page and "https://" not in page and "<style" not in page and "<script>" not in page
    for path, kind in (("/app.js", "text/javascript"), ("/style.css", "text/css")):
        status, response, text = api.request("GET", path)
        assert status == 200 and response.getheader("Content-Type").startswith(kind)
        assert "http://" not in text and "https://" not in text and "@import" not in text and "url(" not in text
    script = api.request("GET", "/app.js")[2]
    assert "innerHTML" not in script and "textContent" in script


def test_the_page_has_a_label_on_every_control_and_a_live_status(api):
    page = api.request("GET", "/")[2]
    buttons = re.findall(r"<button\b[^>]*>(.*?)</button>", page, re.DOTALL)
    # each button is named by what it shows (no aria-label saying something else)
    assert len(buttons) > 14 and all(re.sub(r"<[^>]+>", "", b).strip() for b in buttons)
    assert "aria-label=" not in "".join(re.findall(r"<button\b[^>]*>", page))
    assert re.search(r'<label for="volume">', page) and 'id="volume"' in page
    assert re.search(r'<label class="search-label" for="search">', page) and 'id="search"' in page
    assert re.search(r'aria-live="polite"', page)


def test_routine_text_is_escaped_in_the_page(api, config):
    (config / "routines").mkdir()
    (config / "routines" / "sneaky.yaml").write_text(
        'title: "<img src=x onerror=alert(1)> & co"\nareas: ["<b>back</b>"]\ntools: ["a \\"ball\\""]\n'
        "steps:\n  - hold: Breathe.\n    time: 10s\n"
    )
    page = api.request("GET", "/")[2]
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; co" in page and "<img" not in page
    assert "&lt;b&gt;back&lt;/b&gt;" in page and "<b>" not in page
    assert "a &quot;ball&quot;" in page


# -- the commands -----------------------------------------------------------------------------


def holdcue(*args: str) -> list[str]:
    return [sys.executable, "-m", "holdcue", *args]


def test_serve_listens_logs_to_stderr_and_stops_cleanly_on_sigterm(config):
    env = {**os.environ, "HOLDCUE_CONFIG_DIR": str(config), "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(
        holdcue("serve", "--port", "0", "--no-prepare"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        line = process.stdout.readline().decode()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line).group(1))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/api/status")
        assert json.loads(connection.getresponse().read())["state"] == "idle"
        began = time.monotonic()
        process.terminate()
        assert process.wait(timeout=10) == 0 and time.monotonic() - began < 3
    finally:
        if process.poll() is None:
            process.kill()
    assert process.stdout.read() == b""
    log = process.stderr.read().decode()
    assert "GET /api/status 200" in log and "stopping (SIGTERM)" in log and "Traceback" not in log
    with socket.socket() as probe:  # the port was let go (a closed connection may linger in TIME_WAIT)
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def test_serve_on_the_network_makes_the_token_and_keeps_it_out_of_the_log(config):
    env = {**os.environ, "HOLDCUE_CONFIG_DIR": str(config), "PYTHONPATH": str(ROOT / "src")}
    process = subprocess.Popen(
        holdcue("serve", "--host", "0.0.0.0", "--port", "0", "--no-prepare"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        line = process.stdout.readline().decode()
        port = int(re.search(r":(\d+)/", line).group(1))
        token = (config / "token").read_text().strip()
        assert stat.S_IMODE((config / "token").stat().st_mode) == 0o600
        assert token not in line and "holdcue pair" in line
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", f"/?token={token}")
        assert connection.getresponse().status == 303
        process.terminate()
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
    assert token not in process.stderr.read().decode()


def test_pair_shows_the_link_and_a_qr_code_that_fits_80_columns(config):
    env = {**os.environ, "HOLDCUE_CONFIG_DIR": str(config), "PYTHONPATH": str(ROOT / "src")}
    shown = subprocess.run(holdcue("pair", "--host", "192.168.1.20"), env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    token = (config / "token").read_text().strip()
    assert f"http://192.168.1.20:8765/?token={token}" in shown.stdout
    code = [line for line in shown.stdout.splitlines() if set(line) & set("█▀▄")]
    assert len(code) > 10 and max(len(line) for line in code) <= 80
    again = subprocess.run(holdcue("pair", "--renew"), env=env, capture_output=True, text=True)
    assert again.returncode == 0 and token not in again.stdout
    assert (config / "token").read_text().strip() in again.stdout


def test_control_characters_in_a_request_reach_the_log_as_escapes(api, caplog):
    """A client on the LAN cannot make the service's log (the journal, a terminal) act on
    escape sequences: the request line is logged with them shown."""
    import logging

    caplog.set_level(logging.INFO, logger="holdcue.web")
    port = api.server.port
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:  # http.client refuses such a path
        raw.sendall(f"GET /api/\x1b[2J HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        while raw.recv(4096):
            pass
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "\x1b" not in logged and "\\e[2J" in logged


def test_a_fifo_at_the_token_path_is_refused_not_waited_on(tmp_path):
    os.mkfifo(tmp_path / "token")
    with pytest.raises(HoldcueError, match="cannot be read: run holdcue pair --renew"):
        web.TokenFile(tmp_path / "token").current()


def test_a_built_wheel_carries_the_web_package_and_the_pages_files(built_wheel):
    """The page's files sit beside the web package's modules: package data of the wheel."""
    names = set(zipfile.ZipFile(built_wheel).namelist())
    folder = ROOT / "src" / "holdcue" / "web"
    shipped = {f"holdcue/web/{p.name}" for p in folder.iterdir() if p.suffix in (".py", ".html", ".js", ".css", ".svg")}
    assert {"holdcue/web/__init__.py", "holdcue/web/index.html", "holdcue/web/app.js"} <= shipped <= names
