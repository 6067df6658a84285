"""The phone page in a real browser (Debian's chromium, headless, through Playwright) at a
phone's 360 x 740, against a real `holdcue serve` whose sound goes through a real audio
stack (ALSA -> PulseAudio -> a null sink, recorded): the library is listed once, with the
lengths of holdcue list, and found by words and chips; a tap plays a session that is
heard; the now-playing view shows the time left biggest, progress that moves and the
steps, pause and stop silence it, and the status follows live; the connection's loss is
shown at once; a phone that is not paired gets a page saying what to do. axe-core (npm,
pinned in tests/web) finds nothing wrong in any state, and no request leaves the service.
Screenshots of each state go to HOLDCUE_ARTIFACTS (tests/artifacts)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from audio_stack import NullSink, Recorder, between, holdcue, loud, missing
from holdcue import journal, library, web
from holdcue.core import Catalog, Core
from holdcue.plan import WEEKDAYS
from holdcue.text import length
from service_support import RealClock, Sink, make_session
from speech_support import HAVE_ESPEAK

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("HOLDCUE_ARTIFACTS") or ROOT / "tests" / "artifacts")
AXE = ROOT / "tests" / "web" / "node_modules" / "axe-core" / "axe.min.js"  # npm ci in tests/web (scripts/setup --test)
PHONE = {"width": 360, "height": 740}
QUICK = """\
title: Quick check
areas: [feet]
tools: [tennis ball]
voice: {language: en, rate: 220}
cues: {prep: 1s, countdown: 0, halfway: false, time_left: false}
steps:
  - compress: Press the ball under your foot.
    title: Foot press
    time: 8s
  - hold: Relax your hands.
    title: Hands
    time: 8s
"""
PRESS = """\
title: Press check
voice: {language: en, rate: 220}
cues: {prep: 1s, countdown: 0}
steps:
  - compress: Press the ball under your foot and hold still until it eases.
    title: Foot press
    time: 60s
    until: press
  - hold: Relax your hands.
    title: Hands
    time: 3s
"""

BROKEN = "title: Broken one\nsteps: 3\n"

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # reported below: skipped, or failed under CI=true
    sync_playwright = None

LACKING = (
    missing()
    + ([] if HAVE_ESPEAK else ["espeak-ng"])
    + ([] if shutil.which(CHROMIUM) else ["chromium (apt-get install chromium)"])
    + ([] if sync_playwright else ["playwright (pip install playwright; no browser download needed)"])
    + ([] if AXE.is_file() else ["axe-core (scripts/setup --test installs it: npm ci --prefix tests/web)"])
)

pytestmark = [
    pytest.mark.audio,
    pytest.mark.speech,
    pytest.mark.skipif(bool(LACKING) and os.environ.get("CI") != "true", reason=f"needs {', '.join(LACKING)}"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if LACKING:
        pytest.fail(f"the browser test needs {', '.join(LACKING)} (CI=true: it may not be skipped)")
    with NullSink(tmp_path_factory.mktemp("pulse")) as sink:
        yield sink


@pytest.fixture(scope="module")
def service(stack, tmp_path_factory):
    """`holdcue serve` on a free port, playing into the null sink; its base URL."""
    config = tmp_path_factory.mktemp("config")
    (config / "routines").mkdir()
    (config / "routines" / "quick-check.yaml").write_text(QUICK)
    (config / "routines" / "broken-one.yaml").write_text(BROKEN)
    (config / "routines" / "press-check.yaml").write_text(PRESS)
    (config / "plan.yaml").write_text("".join(f"{day}: quick-check\n" for day in WEEKDAYS))  # today, whatever day
    env = {
        **stack.env,
        "HOLDCUE_CONFIG_DIR": str(config),
        "HOLDCUE_DATA_DIR": str(tmp_path_factory.mktemp("data")),
        "HOLDCUE_CACHE_DIR": str(tmp_path_factory.mktemp("cache")),
        "PYTHONPATH": str(ROOT / "src"),
    }
    subprocess.run(
        holdcue("prepare", "quick-check", "press-check"), env=env, check=True, capture_output=True, timeout=120
    )
    process = subprocess.Popen(
        holdcue("serve", "--port", "0", "--no-prepare"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        line = process.stdout.readline().decode()
        found = re.search(r"(http://127\.0\.0\.1:\d+)/", line)
        assert found, f"serve said {line!r}; {process.stderr.read1().decode()}"
        yield found.group(1), env, config
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        log = process.stderr.read().decode()
        assert "Traceback" not in log, log


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


class Phone:
    """A page at a phone's size that records every request it makes and every script
    error; ``check`` asks axe-core about the page as it is now."""

    def __init__(self, browser, base: str):
        self.base = base
        self.page = browser.new_page(viewport=PHONE)
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        # an answer with an error status is logged by chromium as a console error: expected
        # where a test asks for one; anything else the page's script says is not
        self.page.on(
            "console",
            lambda message: (
                None
                if message.type != "error" or message.text.startswith("Failed to load resource")
                else self.errors.append(message.text)
            ),
        )

    def accessible(self, state: str) -> None:
        """axe-core finds no violation (the experimental check that a control's name
        contains its visible text included)."""
        if not self.page.evaluate("typeof window.axe === 'object'"):
            # evaluated, not added as a script tag: the page's CSP refuses inline scripts
            self.page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
        found = self.page.evaluate(
            """() => axe.run(document, {
                rules: {"label-content-name-mismatch": {enabled: true}},
                resultTypes: ["violations"],
            }).then((result) => result.violations.map((v) => ({
                rule: v.id, help: v.help, nodes: v.nodes.map((n) => `${n.target.join(" ")}: ${n.failureSummary}`),
            })))"""
        )
        assert found == [], f"axe-core, {state}: {json.dumps(found, indent=1)}"

    def screenshot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(ARTIFACTS / f"web-{name}-360.png"))

    def close(self) -> None:
        elsewhere = [url for url in self.requests if not url.startswith(self.base + "/")]
        assert elsewhere == [], f"requests that left the service: {elsewhere}"
        assert self.errors == []
        self.page.close()


@pytest.fixture
def phone(service, browser):
    opened: list[Phone] = []

    def make(base: str | None = None) -> Phone:
        opened.append(Phone(browser, base or service[0]))
        return opened[-1]

    yield make
    for each in opened:
        each.close()


def text_sizes(page) -> dict[str, float]:
    """The font size (CSS px) of every visible element with text of its own, by its text."""
    return page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll("body *")]
            .filter((e) => e.checkVisibility()
                && [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim()))
            .map((e) => [e.id ? `#${e.id}` : e.textContent.trim().slice(0, 40),
                         parseFloat(getComputedStyle(e).fontSize)]))"""
    )


def progress(page) -> float:
    bar = page.get_by_role("progressbar")
    return float(bar.evaluate("bar => bar.value / bar.max"))


def api(page, path: str, body: dict | None = None):
    """A request from the page itself (same origin, its cookie): (status, JSON)."""
    return page.evaluate(
        """([path, body]) => fetch(path, body === null ? {} : {method: "POST", body: JSON.stringify(body),
            headers: {"Content-Type": "application/json"}}).then(async (r) => [r.status, await r.json()])""",
        [path, body],
    )


def stop_session(page) -> None:
    """Stop, as a person does: the Stop button, then the confirmation."""
    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_role("button", name="Yes, stop").click()
    expect(page.locator("body")).to_have_attribute("data-state", "idle")


def test_a_phone_plays_pauses_and_stops_a_session(service, stack, phone):
    base, _, _ = service
    screen = phone()
    page = screen.page
    page.goto(base + "/")

    # the library: every routine once, the user's among the built-in ones, each with its length
    ids = page.locator("button[data-routine]").evaluate_all("buttons => buttons.map(b => b.dataset.routine)")
    assert sorted(ids) == sorted({entry.id for entry in library.entries()} | {"quick-check", "press-check"})
    today = page.get_by_role("button", name=re.compile(r"^Today Quick check 0:\d\d$"))
    assert today.is_visible() and today.bounding_box()["y"] < PHONE["height"] / 2  # first on the page
    assert page.evaluate("document.documentElement.scrollWidth") <= 360  # nothing sticks out sideways
    screen.accessible("idle")
    screen.screenshot("idle")
    page.emulate_media(color_scheme="dark")
    screen.accessible("idle, dark")
    page.emulate_media(color_scheme="light")
    play = page.get_by_role("button", name=re.compile(r"^Quick check 0:\d\d feet · tennis ball$"))

    with Recorder(stack.env) as recorder:
        time.sleep(0.5)
        tapped = time.monotonic()
        play.click()
        expect(page.locator("body")).to_have_attribute("data-state", "playing", timeout=15_000)
        player = page.get_by_role("region", name="Quick check")
        expect(player).to_be_visible()
        expect(page.locator("#library")).to_be_hidden()  # the session fills the screen
        expect(page.locator("#step")).to_have_text(re.compile(r"^Step 1 of 2 · Foot press$"), timeout=15_000)
        expect(page.locator("#next")).to_have_text("Next: step 2: Hands")
        steps = page.get_by_role("list", name="Steps").get_by_role("button")
        expect(steps).to_have_text([re.compile(r"^1\. Foot press \d:\d\d$"), re.compile(r"^2\. Hands \d:\d\d$")])
        expect(page.locator('#steps [aria-current="step"]')).to_have_text(re.compile(r"^1\. Foot press"))

        # the time left is the biggest text on the screen, big enough to read from the floor
        sizes = text_sizes(page)
        assert sizes["#left"] >= 40 and sizes["#left"] == max(sizes.values()), sizes
        left = page.locator("#left").text_content()
        expect(page.locator("#left")).not_to_have_text(left, timeout=5_000)  # the countdown moves, live
        before = progress(page)
        time.sleep(2.2)
        assert 0 < before < progress(page) < 1  # so does the session's progress
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        screen.accessible("playing")
        page.emulate_media(color_scheme="dark")
        screen.accessible("playing, dark")
        screen.screenshot("playing-dark")
        page.emulate_media(color_scheme="light")
        screen.screenshot("playing")

        page.get_by_role("button", name="Pause").click()
        expect(page.locator("body")).to_have_attribute("data-state", "paused")
        paused = time.monotonic()
        expect(page.get_by_text("Paused", exact=True)).to_be_visible()  # the whole view says so
        expect(page.get_by_role("button", name="Resume")).to_be_visible()
        colour = player.evaluate("view => getComputedStyle(view).backgroundColor")
        screen.accessible("paused")
        screen.screenshot("paused")
        time.sleep(max(0.0, paused + 3.0 - time.monotonic()))  # "Paused." said, then silence
        page.get_by_role("button", name="Resume").click()
        expect(page.locator("body")).to_have_attribute("data-state", "playing")
        resumed = time.monotonic()
        assert player.evaluate("view => getComputedStyle(view).backgroundColor") != colour

        # a step of the list is tapped: the session goes there
        steps.nth(1).click()
        expect(page.locator("#step")).to_have_text(re.compile(r"^Step 2 of 2 · Hands$"), timeout=5_000)
        expect(page.locator('#steps [aria-current="step"]')).to_have_text(re.compile(r"^2\. Hands"))
        time.sleep(1.0)

        # Stop is asked again; "Keep going" keeps it going
        page.get_by_role("button", name="Stop", exact=True).click()
        expect(page.get_by_role("group", name="Stop this session?")).to_be_visible()
        screen.accessible("asked to stop")
        screen.screenshot("stop-asked")
        page.get_by_role("button", name="Keep going").click()
        expect(page.get_by_role("group", name="Stop this session?")).to_be_hidden()
        expect(page.locator("body")).to_have_attribute("data-state", "playing")
        page.get_by_role("button", name="Stop", exact=True).click()
        page.get_by_role("button", name="Yes, stop").click()
        expect(page.locator("body")).to_have_attribute("data-state", "idle")
        stopped = time.monotonic()
        expect(page.locator("#library")).to_be_visible()
        time.sleep(4.0)  # "Session ended." said, then silence

    assert loud(between(recorder, tapped, paused)), "nothing was heard after the tap on play"
    # pause and stop are confirmed aloud, as the keys of holdcue play confirm them, then silence
    assert loud(between(recorder, paused, paused + 1.2)), "the pause was not confirmed aloud"
    assert not loud(between(recorder, paused + 1.6, resumed - 0.1)), "sound went on while paused"
    assert loud(between(recorder, resumed, stopped)), "nothing was heard after resume (the instruction again)"
    assert loud(between(recorder, stopped, stopped + 1.5)), "the stop was not confirmed aloud"
    assert not loud(between(recorder, stopped + 2.5, stopped + 3.8)), "sound went on after stop"


def test_today_and_resume_last_from_the_page(service, stack, phone):
    base, env, _ = service
    page = phone().page
    page.goto(base + "/")
    with Recorder(stack.env) as recorder:
        tapped = time.monotonic()
        page.get_by_role("button", name=re.compile(r"^Today Quick check")).click()
        expect(page.locator("body")).to_have_attribute("data-state", "playing", timeout=15_000)
        expect(page.locator("#routine")).to_have_text("Quick check")
        time.sleep(1.0)  # today's session heard before it is skipped through
        page.get_by_role("button", name="Next", exact=True).click()
        page.get_by_role("button", name="Next", exact=True).click()
        expect(page.locator("#step")).to_have_text(re.compile(r"^Step 2 of 2 · Hands$"), timeout=5_000)
        stop_session(page)
        resume = page.get_by_role("button", name="Go on where you stopped Quick check step 2 of 2")
        expect(resume).to_be_visible(timeout=5_000)  # offered once nothing is under way, first on the page
        assert resume.bounding_box()["y"] < page.get_by_role("button", name=re.compile("^Today")).bounding_box()["y"]
        resume.click()
        expect(page.locator("body")).to_have_attribute("data-state", "playing", timeout=15_000)
        expect(page.locator("#step")).to_have_text(re.compile(r"^Step 2 of 2 · Hands$"))
        expect(resume).to_be_hidden()
        resumed = time.monotonic()
        time.sleep(1.5)
        stop_session(page)
    assert loud(between(recorder, tapped, resumed)) and loud(between(recorder, resumed, resumed + 1.5))
    _, history = api(page, "/api/history")
    latest, first = history["sessions"][:2]
    assert (latest["routine"], latest["outcome"], latest["step"], latest["resumed_from"]) == (
        "quick-check",
        "stopped",
        2,
        first["id"],
    )
    assert first["outcome"] == "stopped" and first["step"] == 2
    assert history["plan"]["planned"] >= 1


def test_the_page_s_next_ends_a_hold_that_lasts_until_a_press_with_its_end_tone(service, stack, phone):
    base, _, _ = service
    screen = phone()
    page = screen.page
    page.goto(base + "/")
    with Recorder(stack.env) as recorder:
        page.get_by_role("button", name=re.compile(r"^Press check ")).click()
        expect(page.locator("#doing")).to_have_text("Hold until you press Next", timeout=15_000)
        expect(page.locator(".left")).to_have_text(re.compile(r"^0:5\d at most$"))  # the most it lasts
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        screen.accessible("a hold until a press")
        screen.screenshot("until-press")
        time.sleep(2.0)  # the start tone has ended: the hold is quiet
        pressed = time.monotonic()
        page.get_by_role("button", name="Next", exact=True).click()
        expect(page.locator("#step")).to_have_text(re.compile(r"^Step 2 of 2 · Hands$"), timeout=15_000)
        expect(page.locator(".left")).to_have_text(re.compile(r"^0:\d\d left$"))
        time.sleep(0.5)
        stop_session(page)
    assert not loud(between(recorder, pressed - 1.0, pressed))
    assert loud(between(recorder, pressed, pressed + 0.15))  # the end tone, at once
    [held] = api(page, "/api/history")[1]["sessions"][0]["holds"]
    assert held["pressed"] and 2.0 <= held["held"] < 4.0 and held["longest"] == 60.0


def test_a_session_that_finishes_says_so_and_closes(service, phone):
    base, _, _ = service
    screen = phone()
    page = screen.page
    page.goto(base + "/")
    page.get_by_role("button", name=re.compile(r"^Quick check ")).click()
    expect(page.locator("body")).to_have_attribute("data-state", "playing", timeout=15_000)
    page.get_by_role("list", name="Steps").get_by_role("button").nth(1).click()
    expect(page.locator("body")).to_have_attribute("data-state", "finished", timeout=30_000)
    expect(page.locator("#step")).to_have_text("Session complete")
    assert progress(page) == 1
    expect(page.locator('#steps button[aria-current="step"]')).to_have_count(0)
    screen.accessible("finished")
    screen.screenshot("finished")
    page.get_by_role("button", name="Close").click()  # no question: nothing is left to stop
    expect(page.locator("body")).to_have_attribute("data-state", "idle")
    expect(page.locator("#library")).to_be_visible()


def test_the_volume_slider_reaches_the_service(service, phone):
    base, _, _ = service
    page = phone().page
    page.goto(base + "/")
    page.get_by_role("button", name=re.compile(r"^Quick check ")).click()
    expect(page.locator("body")).to_have_attribute("data-state", "playing", timeout=15_000)
    page.get_by_label("Volume").fill("0.5")
    expect(page.locator("#volume-value")).to_have_text("50%")
    assert api(page, "/api/status")[1]["volume"] == 0.5
    page.get_by_label("Volume").fill("1")
    stop_session(page)


def test_an_error_from_the_service_is_shown_on_the_page(service, phone):
    base, _, _ = service
    screen = phone()
    page = screen.page
    page.goto(base + "/")
    routine = page.locator("button[data-routine]").first
    routine.evaluate("button => { button.dataset.routine = 'gone-missing'; }")  # deleted since the page loaded
    routine.click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("no routine called 'gone-missing'")
    expect(alert).to_be_in_viewport(ratio=1)  # wherever the page was scrolled to
    screen.accessible("an error shown")
    screen.screenshot("error")
    alert.get_by_role("button", name="OK").click()
    expect(alert).to_be_hidden()


def list_json(env) -> list[dict]:
    done = subprocess.run(holdcue("list", "--json"), env=env, capture_output=True, text=True, timeout=60, check=True)
    return json.loads(done.stdout)


def test_lengths_are_those_of_holdcue_list(service, phone):
    base, env, _ = service
    page = phone().page
    page.goto(base + "/")
    listed = {entry["id"]: entry for entry in list_json(env)}
    shown = page.locator("button[data-routine]").evaluate_all(
        """buttons => buttons.map((b) => [b.dataset.routine, Number(b.dataset.seconds), b.dataset.exact === "true",
            b.querySelector(".time").textContent])"""
    )
    assert len(shown) == len([entry for entry in listed.values() if not entry["problems"]])
    for rid, seconds, exact, text in shown:
        entry = listed[rid]
        assert (seconds, exact, text) == (entry["duration"], entry["exact"], length(entry["duration"], entry["exact"]))
    assert any(exact for _, _, exact, _ in shown) and any(not exact for _, _, exact, _ in shown)  # both kinds seen
    assert any(text.startswith("~") for *_, text in shown)
    today = page.get_by_role("button", name=re.compile("^Today"))
    assert float(today.get_attribute("data-seconds")) == listed["quick-check"]["duration"]
    expect(today.locator(".time")).to_have_text(
        length(listed["quick-check"]["duration"], listed["quick-check"]["exact"])
    )


def test_finding_a_routine_with_words_and_chips(service, phone):
    base, env, _ = service
    screen = phone()
    page = screen.page
    page.goto(base + "/")
    listed = list_json(env)
    items = page.locator("#routines > li")
    everything = items.count()
    assert everything == len(listed)  # each routine once, those with errors too
    expect(page.locator("#found")).to_have_text(f"{everything} routines")

    # a routine of the user's with errors is listed with its first problem
    broken = next(entry for entry in listed if entry["id"] == "broken-one")
    expect(page.locator('[data-broken="broken-one"]')).to_contain_text(broken["problems"][0])

    page.get_by_label("Find a routine").fill("tennis")
    visible = page.locator("#routines > li:visible")
    expect(page.locator("#found")).to_have_text(re.compile(rf"^\d+ of {everything} routines$"))
    words = visible.evaluate_all("items => items.map((i) => i.dataset.words)")
    assert words and all("tennis" in w for w in words) and any("quick check" in w for w in words)
    page.get_by_label("Find a routine").fill("")

    page.get_by_role("group", name="Areas").get_by_role("button", name=re.compile(r"^feet \d+$")).click()
    expect(page.get_by_role("button", name=re.compile(r"^feet \d+$"))).to_have_attribute("aria-pressed", "true")
    areas = visible.evaluate_all("items => items.map((i) => JSON.parse(i.dataset.areas))")
    assert areas and all("feet" in a for a in areas)
    tools = page.get_by_role("group", name="Tools").get_by_role("button")
    assert tools.count() >= 2
    tools.first.click()
    chosen = tools.first.evaluate("chip => chip.dataset.tool")
    kept = visible.evaluate_all("items => items.map((i) => [JSON.parse(i.dataset.areas), JSON.parse(i.dataset.tools)])")
    assert all("feet" in a and chosen in t for a, t in kept)
    page.get_by_label("Find a routine").fill("no such routine at all")
    expect(page.locator("#found")).to_have_text("No routine matches: clear the search or a chip.")
    page.get_by_label("Find a routine").fill("")
    tools.first.click()
    screen.accessible("searching")
    screen.screenshot("search")
    page.get_by_role("button", name=re.compile(r"^feet \d+$")).click()
    expect(items.locator("visible=true")).to_have_count(everything)


GONE_SOON = """\
title: Gone soon
voice: {language: en, rate: 220}
cues: {prep: 1s, countdown: 0, halfway: false, time_left: false}
steps:
  - hold: Breathe.
    time: 8s
  - hold: Breathe again.
    time: 8s
"""


def test_resume_is_offered_only_when_the_service_can_go_on(service, phone):
    """A stopped session whose routine has left the library is not offered: the service
    could not go on with it (holdcue resume plays it from its file)."""
    base, _, config = service
    routine = config / "routines" / "gone-soon.yaml"
    routine.write_text(GONE_SOON)
    page = phone().page
    page.goto(base + "/")
    page.get_by_role("button", name=re.compile(r"^Gone soon ")).click()
    expect(page.locator("body")).to_have_attribute("data-state", "playing", timeout=30_000)
    page.get_by_role("list", name="Steps").get_by_role("button").nth(1).click()
    expect(page.locator("#step")).to_have_text(re.compile(r"^Step 2 of 2"), timeout=5_000)
    stop_session(page)
    expect(page.get_by_role("button", name="Go on where you stopped Gone soon step 2 of 2")).to_be_visible()
    routine.unlink()
    page.reload()
    expect(page.locator("body")).to_have_attribute("data-connection", "open")
    assert api(page, "/api/history")[1]["resume"] is None
    expect(page.locator("#resume-last")).to_be_hidden()
    status, answer = api(page, "/api/resume-last", {})
    assert status == 409 and "not in the library" in answer["error"]


def test_the_page_can_be_added_to_a_home_screen(service, phone):
    base, _, _ = service
    page = phone().page
    page.goto(base + "/")
    cdp = page.context.new_cdp_session(page)
    found = cdp.send("Page.getAppManifest")
    assert found["url"] == base + "/manifest.webmanifest" and found["errors"] == []
    manifest = json.loads(found["data"])
    assert manifest["display"] == "standalone" and manifest["start_url"] == "/"
    sizes = set()
    for icon in manifest["icons"]:
        answer = page.request.get(base + icon["src"])
        assert answer.ok and answer.headers["content-type"] == icon["type"]
        if icon["type"] == "image/png":
            data = answer.body()
            assert data[:8] == b"\x89PNG\r\n\x1a\n"
            width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
            assert icon["sizes"] == f"{width}x{height}"
            sizes.add(width)
    assert {192, 512} <= sizes
    # what chromium lacks to offer "Install app": nothing, but that the test's own
    # browser context is a private one (as Playwright's are)
    installable = cdp.send("Page.getInstallabilityErrors")["installabilityErrors"]
    assert [error["errorId"] for error in installable] in ([], ["in-incognito"]), installable


def test_the_connection_is_shown_when_the_service_goes_and_comes_back(service, phone):
    _, env, _ = service

    def serve(port: int) -> tuple[subprocess.Popen, str]:
        process = subprocess.Popen(
            holdcue("serve", "--port", str(port), "--no-prepare"),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        line = process.stdout.readline().decode()
        found = re.search(r"(http://127\.0\.0\.1:(\d+))/", line)
        assert found, f"serve said {line!r}; {process.stderr.read1().decode()}"
        return process, found.group(1)

    process, base = serve(0)
    screen = phone(base)
    page = screen.page
    try:
        page.goto(base + "/")
        expect(page.locator("body")).to_have_attribute("data-connection", "open")
        expect(page.locator("#connection")).to_be_hidden()
        process.terminate()
        assert process.wait(timeout=10) == 0
        gone = time.monotonic()
        banner = page.get_by_role("status").filter(has_text="No connection. Trying again")
        expect(banner).to_be_visible(timeout=5_000)  # nothing tapped: the event stream tells
        noticed = time.monotonic() - gone
        assert noticed < 3.0, f"the lost connection was shown after {noticed:.1f} s"
        screen.accessible("connection lost")
        screen.screenshot("connection-lost")
        process, again = serve(int(base.rsplit(":", 1)[1]))
        assert again == base
        expect(page.get_by_role("status")).to_have_text("Connected again.", timeout=20_000)
        expect(page.locator("body")).to_have_attribute("data-connection", "open")
        expect(page.get_by_role("status")).to_be_hidden(timeout=6_000)
        page.get_by_role("button", name=re.compile(r"^Quick check ")).click()  # it works again, without a reload
        expect(page.locator("body")).to_have_attribute("data-state", "playing", timeout=15_000)
        stop_session(page)
        # the phone leaving the network is said at once too, and it comes back by itself
        page.context.set_offline(True)
        expect(page.get_by_role("status")).to_have_text("No connection. Trying again…", timeout=1_000)
        page.context.set_offline(False)
        expect(page.get_by_role("status")).to_have_text("Connected again.", timeout=10_000)
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
        assert "Traceback" not in process.stderr.read().decode()


@pytest.fixture
def paired_only(tmp_path, monkeypatch):
    """A server that needs the token (as on the home network), in this process."""
    monkeypatch.setenv("HOLDCUE_CONFIG_DIR", str(tmp_path))
    token = web.TokenFile(tmp_path / "token")
    token.load()
    clock = RealClock()
    core = Core(Catalog(), sink=Sink(clock), build=make_session, clock=clock, tick=0.05)
    core.start()
    server = web.Server(core, "127.0.0.1", 0, token=token, require_token=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.port}", token.current()
    core.close()
    server.stop()
    thread.join(timeout=5)


def test_a_phone_that_is_not_paired_gets_a_page_that_says_what_to_do(paired_only, browser):
    base, token = paired_only
    screen = Phone(browser, base)
    page = screen.page
    answer = page.goto(base + "/")
    assert answer.status == 401 and answer.headers["content-type"].startswith("text/html")
    expect(page.get_by_role("heading", level=1)).to_have_text("This phone is not paired with holdcue")
    expect(page.get_by_text("holdcue pair", exact=True)).to_be_visible()
    sizes = text_sizes(page)
    assert min(sizes.values()) >= 16 and sizes["holdcue pair"] >= 18, sizes  # a phone's size, not small monospace
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    screen.accessible("not paired")
    screen.screenshot("not-paired")
    # a program still gets JSON, whatever the page got
    status = page.evaluate("fetch('/api/status').then(async (r) => [r.status, r.headers.get('content-type')])")
    assert status == [401, "application/json"]
    # a stale pairing link says so, as a page
    answer = page.goto(base + "/?token=" + "x" * 43)
    assert answer.status == 401
    expect(page.get_by_text(re.compile("no longer valid"))).to_be_visible()
    # the current link pairs the phone: the page itself
    page.goto(base + "/?token=" + token)
    expect(page.get_by_role("heading", name="holdcue", exact=True)).to_be_visible()
    expect(page.locator("body")).to_have_attribute("data-connection", "open")
    screen.close()


def test_the_files_a_browser_fetches_without_cookies_need_no_token(paired_only):
    base, _ = paired_only
    for path, kind in [
        ("/manifest.webmanifest", "application/manifest+json"),
        ("/icon-192.png", "image/png"),
        ("/style.css", "text/css; charset=utf-8"),
    ]:
        with urllib.request.urlopen(base + path, timeout=10) as answer:
            assert answer.status == 200 and answer.headers["Content-Type"] == kind
    for path in ("/app.js", "/api/status", "/"):
        request = urllib.request.Request(base + path, headers={"Accept": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401 and json.load(refused.value)["error"].startswith("a token is needed")


def test_sigterm_while_playing_silences_at_once_and_exits_cleanly(service, stack):
    _, env, _ = service
    process = subprocess.Popen(
        holdcue("serve", "--port", "0", "--no-prepare"), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        base = re.search(r"(http://127\.0\.0\.1:\d+)/", process.stdout.readline().decode()).group(1)
        with Recorder(stack.env) as recorder:
            request = urllib.request.Request(base + "/api/play", data=b'{"routine": "quick-check"}', method="POST")
            with urllib.request.urlopen(request, timeout=30) as answer:
                assert json.load(answer)["state"] == "playing"
            time.sleep(2.5)
            signalled = time.monotonic()
            process.terminate()
            assert process.wait(timeout=10) == 0
            time.sleep(1.5)
        assert loud(between(recorder, signalled - 2.0, signalled))
        assert not loud(between(recorder, signalled + 0.4, signalled + 1.4)), "sound went on after SIGTERM"
    finally:
        if process.poll() is None:
            process.kill()
    log = process.stderr.read().decode()
    assert "stopping (SIGTERM)" in log and "Traceback" not in log
    with journal.Journal.read(Path(env["HOLDCUE_DATA_DIR"]) / journal.FILE_NAME) as kept:
        (last,) = kept.recent(1)
    assert (last.routine_id, last.outcome) == ("quick-check", "interrupted") and last.ended is not None
    assert 1.5 <= last.played <= 4.0  # about the 2.5 s it played
