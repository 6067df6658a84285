"""Sessions composed for the time there is (``holdcue compose``, docs/compose.md): steps of
the built-in library for the areas asked, with the tools at hand, put in the guidance's
order, their holds set inside the guidance's bounds so that the session lasts the minutes
asked, as the compiler measures it.

``compose(areas, minutes, tools)`` gives a ``Composed``: the routine, its routine file
text and its length. It is deterministic (the same ask gives the same routine) and pure:
its length is the compiler's, with each spoken clip's length estimated from its words, as
``holdcue list`` estimates a routine whose speech is not prepared. A ``measure`` given
(session.spoken_seconds: the real speech) corrects the fit by what the estimate was off.
Asks that cannot be met raise ComposeError (errors.py) with a message that says what can.

How a session is made:

1. The pool: every step of the built-in English routines, a step that goes on from the one
   before it ("Keep the ball...", "Stay on...", "Now circle...") kept with it as one unit,
   each unit assigned the areas its target belongs to (``TARGET_AREAS``) and the tools its
   words name (``tools_named``). Units with a side are kept only with both sides.
2. The shape: one warm-up first, then the areas from large to small (``AREA_ORDER``), in
   each the rolling first, then the pressure, then the stretches under pressure; one
   finisher last (an area's finish, else a quiet rest that ends a routine).
3. The fit: the smallest session (one warm-up, one unit per area, the finisher) grows one
   unit at a time, an area after another, then a further warm-up. Each size's holds run
   from their lower bounds (t = 0) through the library's own times (t = 0.5) to their upper
   bounds (t = 1). The size whose holds as written come nearest the minutes asked is
   chosen among those that can meet them, and t is found by bisection with the compiler.
   Each step rounds its hold to 5 s at its own point of t, so the holds grow one by one.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from holdcue import compiler, library, routine_yaml
from holdcue.errors import ComposeError
from holdcue.routine import SIDES, Cues, Routine, Step
from holdcue.text import listing

# Large areas first, small ones last: the foam roller's big muscle groups of the back and
# legs before the ball's and the hands' smaller spots.
AREA_ORDER = (
    "upper back",
    "mid back",
    "lower back",
    "glutes",
    "hamstrings",
    "quads",
    "outer thigh",
    "inner thigh",
    "hips",
    "calves",
    "chest",
    "shoulders",
    "neck",
)

# The areas each target of the library's steps works (a warm-up or finisher may serve
# several). "whole body" warms up any area; "tight muscle" names no area, so its steps
# (the ischemic compression routine's search for a knot anywhere) are left out.
TARGET_AREAS: dict[str, tuple[str, ...]] = {
    "upper back": ("upper back",),
    "rhomboids": ("upper back",),
    "back": ("upper back", "mid back", "lower back"),
    "back muscles": ("mid back", "lower back"),
    "lower back": ("lower back", "mid back"),
    "glutes": ("glutes", "hips"),
    "piriformis": ("glutes",),
    "gluteus medius": ("hips",),
    "hips": ("hips", "glutes"),
    "hamstring": ("hamstrings",),
    "quadriceps": ("quads",),
    "it band": ("outer thigh",),
    "adductors": ("inner thigh",),
    "calf": ("calves",),
    "calves": ("calves",),
    "pectoralis major": ("chest",),
    "infraspinatus": ("shoulders",),
    "levator scapulae": ("shoulders", "neck"),
    "shoulders": ("shoulders", "chest"),
    "upper trapezius": ("neck", "shoulders"),
    "neck": ("neck",),
    "neck muscles": ("neck",),
    "suboccipitals": ("neck",),
    "whole body": (),
}
NO_AREA_TARGETS = frozenset({"tight muscle"})

# The tools routines name, and what each is to a step: a tennis, lacrosse or massage ball
# is one kind of ball ("a tennis ball or any firm massage ball will do"); a wall and your
# hands are always there.
TOOLS: dict[str, str | None] = {
    "foam roller": "foam roller",
    "tennis ball": "ball",
    "lacrosse ball": "ball",
    "massage ball": "ball",
    "peanut ball": "peanut ball",
    "wall": None,
    "your hands": None,
}
DEFAULT_BALL = "tennis ball"  # what a composed routine calls its ball when none is named

# Bounds of a hold, (lowest, highest) in milliseconds, by step kind (docs/compose.md):
BOUNDS = {
    "compress": (20_000, 90_000),  # trigger point compression: 20-30 s, 30-60 s, up to 90 s
    "hold": (20_000, 90_000),
    "roll": (30_000, 120_000),  # foam roller: about a minute an area; a ball on the wall: 1-2 minutes a side
    "stretch": (15_000, 30_000),  # a stretch held 15 s (the routines) to 20-30 s
    "warm-up": (20_000, 60_000),  # 30 s of neck circles, a minute of marching
    "finish": (20_000, 60_000),  # light strokes, 30 s of child's pose, a minute of pigeon pose
    "rest": (10_000, 30_000),
}
BALL_COMPRESS = (30_000, 45_000)  # a ball held on the most tender point: 30-45 s
STEP_MS = 5000  # holds are whole multiples of 5 s: "forty-five seconds", not "forty-three"
WORK_ORDER = {"roll": 0, "compress": 1, "hold": 1, "release": 1, "stretch": 2}  # broad first, stretch last
MAX_MINUTES = 120.0
CORRECTIONS = 3  # fits again with the real speech's length: once is nearly always enough
NEAR = 0.25  # a session this near the minutes asked (a share of the tolerance) is not fitted further
_GOLDEN = 0.6180339887  # spreads the steps' rounding points evenly over a step of 5 s
_GOES_ON = re.compile(r"(keep|stay|now)\b", re.IGNORECASE)  # words that continue the step before
_AGAIN = re.compile(r"\bagain\b", re.IGNORECASE)  # a closing rest that refers back to one before it
_OPTIONAL_BALL = re.compile(r"\bball or your (thumbs?|fingers|hands|knuckles?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Unit:
    """One step of the library, with the steps that go on from it; what it works and needs."""

    steps: tuple[Step, ...]
    areas: tuple[str, ...]  # the areas it works; () for a warm-up or rest that serves any
    needs: frozenset[str]  # what it needs beyond a wall and your hands: "foam roller", "ball", "peanut ball"
    source: Routine  # the routine it comes from (its safety reminders and cues)
    closes: bool = False  # it ends its routine (a closing rest)

    @property
    def kind(self) -> str:
        return self.steps[0].kind

    @property
    def walled(self) -> bool:
        return any("wall" in step.text.lower() for step in self.steps)


@dataclass(frozen=True)
class Composed:
    """A composed session: the routine, its routine file text, and its length in seconds as
    the compiler measures it (speech estimated from the words)."""

    routine: Routine
    text: str
    seconds: float


def tolerance(minutes: float) -> float:
    """How far, in seconds, a session may be from the minutes asked: 5 %, or 20 s when more."""
    return max(0.05 * minutes * 60, 20.0)


def known_areas() -> tuple[str, ...]:
    """The areas a session can be composed for, in the order they are worked."""
    return tuple(area for area in AREA_ORDER if any(area in unit.areas for unit in _work(pool())))


def known_tools() -> tuple[str, ...]:
    """The tools that may be named, as the built-in routines name them."""
    return tuple(sorted(TOOLS))


def compose(
    areas: Iterable[str],
    minutes: float,
    tools: Iterable[str] = (),
    *,
    measure: Callable[[Routine], float] | None = None,
) -> Composed:
    """A session for ``areas`` (names as ``holdcue list --json`` gives them; a dash may
    stand for a space) lasting ``minutes`` (within ``tolerance``), with only the ``tools``
    named (besides a wall and your hands; none named: any). Raises ComposeError.

    The session is fitted with the compiler's length of the speech estimated from its words.
    ``measure(routine)``: the session's length with its real speech (session.spoken_seconds);
    when given, the fit is corrected by what the estimate was off, until the real length
    is within the tolerance. The same ask gives the same routine either way (synthesized
    speech is as long each time it is made), but not the same with and without ``measure``.
    """
    if not (isinstance(minutes, int | float) and math.isfinite(minutes) and 0 < minutes <= MAX_MINUTES):
        raise ComposeError(f"{minutes} minutes is not a session length; give a number of minutes up to 120")
    ask = _Ask(_areas(areas), float(minutes), *_tools(tools))
    sizes = _sizes(ask)
    goal, slack = ask.minutes * 60, tolerance(ask.minutes)
    shortest = _measure(_routine(sizes[0], 0.0, ask))
    if shortest > goal + slack:
        raise ComposeError(_too_short(ask, shortest))
    longest = _measure(_routine(sizes[-1], 1.0, ask))
    if longest < goal - slack:
        raise ComposeError(_too_long(ask, longest))
    routine, seconds = _nearest(sizes, ask, goal)
    if measure is not None:
        aim, tried = goal, routine
        seconds = real = measure(routine)
        for _ in range(CORRECTIONS):
            if abs(seconds - goal) <= slack * NEAR:
                break
            aim += goal - real  # aim off by as much as the estimate was, the other way
            again, _ = _nearest(sizes, ask, aim)
            if again == tried:
                break
            tried, real = again, measure(again)
            if abs(real - goal) < abs(seconds - goal):
                routine, seconds = again, real
    if abs(seconds - goal) > slack:  # near the shortest or longest, the real speech took it past
        raise ComposeError(_too_short(ask, seconds) if seconds > goal else _too_long(ask, seconds))
    how = "with the speech's length estimated from its words" if measure is None else "with the speech as it is heard"
    header = (
        f"# Composed by holdcue for {_minutes(ask.minutes)}: {_clock(seconds)} as the compiler measures it,\n"
        f"# {how} (docs/compose.md).\n"
    )
    return Composed(routine, header + routine_yaml.dump(routine), seconds)


def _nearest(sizes: list[_Size], ask: _Ask, goal: float) -> tuple[Routine, float]:
    """The session nearest ``goal`` seconds (estimated): of the sizes that can reach it, the
    one whose holds as written come nearest first."""
    slack = tolerance(ask.minutes)
    fitting = []
    for index, size in enumerate(sizes):
        low, high = (_measure(_routine(size, t, ask)) for t in (0.0, 1.0))
        if low - slack <= goal <= high + slack:
            written = _measure(_routine(size, 0.5, ask))
            fitting.append((abs(written - goal), index, size))
    best: tuple[float, Routine, float] | None = None
    for _, _, size in sorted(fitting, key=lambda fit: fit[:2]):
        routine, seconds = _fit(size, goal, ask)
        if best is None or abs(seconds - goal) < best[0]:
            best = (abs(seconds - goal), routine, seconds)
        if abs(seconds - goal) <= slack * NEAR:  # near enough: keep the holds nearest the library's
            break
    if best is None:  # only when goal is beyond what the sizes reach: the nearest end
        ends = [(sizes[0], 0.0), (sizes[-1], 1.0)]
        routine = min((_routine(size, t, ask) for size, t in ends), key=lambda r: abs(_measure(r) - goal))
        return routine, _measure(routine)
    return best[1], best[2]


# -- the pool of units ---------------------------------------------------------------------


@functools.cache
def pool() -> tuple[Unit, ...]:
    """Every unit of the built-in English routines, in the order of their ids and steps,
    each once (a routine that includes another holds its steps too)."""
    units: list[Unit] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    for rid in library.builtin_ids():
        routine = library.load_routine(library.BUILTIN_PREFIX + rid)
        if not routine.voice.language.lower().startswith("en"):
            continue
        for unit in _units(routine):
            key = tuple((step.kind, step.text) for step in unit.steps)
            if key not in seen:
                seen.add(key)
                units.append(unit)
    return tuple(units)


def _units(routine: Routine) -> list[Unit]:
    groups: list[list[Step]] = []
    for step in routine.steps:
        if step.group:  # an included routine's step: taken from that routine, with its reminders
            continue
        if groups and _GOES_ON.match(step.text):
            groups[-1].append(step)
        else:
            groups.append([step])
    units = []
    for number, group in enumerate(groups):
        target = group[0].target.lower()
        if target in NO_AREA_TARGETS or any(step.sides not in ((), SIDES) for step in group):
            continue
        if group[0].kind != "rest" and target not in TARGET_AREAS:
            raise ValueError(f"{routine.source}: the target {target!r} belongs to no area (compose.TARGET_AREAS)")
        areas = TARGET_AREAS.get(target, ())
        needs = frozenset(need for step in group for need in tools_named(step.text))
        units.append(Unit(tuple(group), areas, needs, routine, closes=number == len(groups) - 1))
    return units


def tools_named(text: str) -> set[str]:
    """What a step's words say it needs: "foam roller", "ball", "peanut ball" (a ball "or
    your thumbs" is not needed)."""
    words = _OPTIONAL_BALL.sub("", text.lower())
    needs = set()
    if "roller" in words:
        needs.add("foam roller")
    if "peanut ball" in words:
        needs.add("peanut ball")
    elif re.search(r"\bball\b", words):
        needs.add("ball")
    return needs


def _work(units: Iterable[Unit]) -> list[Unit]:
    return [unit for unit in units if unit.kind in WORK_ORDER and unit.areas]


# -- the ask -------------------------------------------------------------------------------


def _name(text: str) -> str:
    return " ".join(str(text).lower().replace("-", " ").replace("_", " ").split())


def _areas(areas: Iterable[str]) -> tuple[str, ...]:
    """The areas asked, known and each once, in the order they are worked."""
    asked = [_name(area) for area in areas]
    known = known_areas()
    if not asked:
        raise ComposeError(f"name at least one area: {listing(known)}")
    unknown = [area for area in asked if area not in known]
    if unknown:
        which = listing([f'"{area}"' for area in unknown])
        raise ComposeError(f"unknown area{'s' * (len(unknown) > 1)} {which}; the areas are {listing(known)}")
    return tuple(area for area in known if area in asked)


def _tools(tools: Iterable[str]) -> tuple[frozenset[str] | None, tuple[str, ...]]:
    """(what the tools named give, None for any tool; the tools named, known and each once)."""
    named = tuple(sorted({_name(tool) for tool in tools}))  # in any order, the same ask
    unknown = [tool for tool in named if tool not in TOOLS]
    if unknown:
        which = listing([f'"{tool}"' for tool in unknown])
        raise ComposeError(f"unknown tool{'s' * (len(unknown) > 1)} {which}; the tools are {listing(known_tools())}")
    if not named:
        return None, ()
    return frozenset(need for tool in named if (need := TOOLS[tool]) is not None), named


@dataclass(frozen=True)
class _Ask:
    areas: tuple[str, ...]  # known, each once, in AREA_ORDER
    minutes: float
    needs: frozenset[str] | None  # what the tools named give; None: no tool named, any will do
    named: tuple[str, ...]  # the tools named

    def __str__(self) -> str:
        """How a message names the ask: "the calves and neck with foam roller"."""
        return f"the {listing(self.areas)}" + (f" with {listing(self.named)}" if self.named else "")

    @property
    def them(self) -> str:
        return "them" if len(self.areas) > 1 else "it"

    def usable(self, unit: Unit) -> bool:
        return self.needs is None or unit.needs <= self.needs


# -- the sizes of a session ------------------------------------------------------------------


@dataclass(frozen=True)
class _Size:
    warm_ups: tuple[Unit, ...]
    work: tuple[tuple[str, tuple[Unit, ...]], ...]  # (area, its units) in AREA_ORDER
    finisher: Unit


def _sizes(ask: _Ask) -> list[_Size]:
    """The sessions from the smallest to the largest, each one unit more than the one before."""
    wanted = ask.areas
    units = [unit for unit in pool() if ask.usable(unit)]
    taken: set[int] = set()
    per_area: dict[str, list[Unit]] = {}
    for area in wanted:  # a unit that works two of the areas is worked once, in the first
        serving = [u for u in _work(units) if area in u.areas]
        if not serving:
            raise ComposeError(_no_steps(area, ask))
        mine = [u for u in serving if id(u) not in taken]  # none left: the area is worked with another
        mine.sort(key=lambda u: WORK_ORDER[u.kind])  # stable: the library's order within a kind
        taken.update(id(u) for u in mine)
        per_area[area] = mine
    warm_ups = _warm_ups(units, wanted)
    finisher = _finisher(units, wanted)
    size = _Size(tuple(warm_ups[:1]), tuple((area, tuple(per_area[area][:1])) for area in wanted), finisher)
    sizes = [size]
    for more in range(1, max(len(warm_ups), *(len(found) for found in per_area.values()))):
        for area in wanted:
            if more < len(per_area[area]):
                work = tuple((a, (*units_, per_area[a][more]) if a == area else units_) for a, units_ in size.work)
                size = dataclasses.replace(size, work=work)
                sizes.append(size)
        if more < len(warm_ups):
            size = dataclasses.replace(size, warm_ups=(*size.warm_ups, warm_ups[more]))
            sizes.append(size)
    return sizes


def _warm_ups(units: list[Unit], wanted: tuple[str, ...]) -> list[Unit]:
    """The warm-ups of the areas (the first area's first), then those that serve any area;
    one of each title (two routines' "Shoulder rolls" are not done twice)."""
    own = [u for u in units if u.kind == "warm-up" and set(u.areas) & set(wanted)]
    own.sort(key=lambda u: min(wanted.index(a) for a in u.areas if a in wanted))
    first: dict[str, Unit] = {}
    for unit in own + [u for u in units if u.kind == "warm-up" and not u.areas]:
        first.setdefault(_title_of(unit), unit)
    return list(first.values())


def _title_of(unit: Unit) -> str:
    return (unit.steps[0].title or unit.steps[0].text).lower()


def _finisher(units: list[Unit], wanted: tuple[str, ...]) -> Unit:
    """The finish of the area worked last that has one; else the rest that ends a routine
    for one of the areas; else the plainest rest that ends a routine (the fewest words)."""
    for area in reversed(wanted):
        for unit in units:
            if unit.kind == "finish" and area in unit.areas:
                return unit
    closing = [u for u in units if u.kind == "rest" and u.closes and not _AGAIN.search(u.steps[0].text)]
    for unit in closing:
        if set(unit.source.areas) & set(wanted):
            return unit
    if not closing:
        raise ComposeError("the library has no step to end a session with")  # the library's tests keep one
    return min(closing, key=lambda u: len(u.steps[0].text.split()))


def _no_steps(area: str, ask: _Ask) -> str:
    """Which tools would work an area that the tools named cannot."""
    serving = [u for u in _work(pool()) if area in u.areas]
    options = sorted({tool for u in serving for tool, need in TOOLS.items() if need in u.needs})
    return (
        f"no step of the library works the {area} with {listing(ask.named)} (and your hands); "
        f"add one of these tools: {listing(options, 'or')}"
    )


# -- a session of one size, its holds at t ----------------------------------------------------


def _routine(size: _Size, t: float, ask: _Ask) -> Routine:
    warm_ups = sorted(size.warm_ups, key=lambda unit: bool(unit.areas))  # the whole body's first
    units = [*warm_ups, *(unit for _, units in size.work for unit in units), size.finisher]
    steps = tuple(_timed(step, t, n) for n, step in enumerate(step for unit in units for step in unit.steps))
    sources: dict[str, Routine] = {unit.source.id: unit.source for unit in units}
    safety = tuple(dict.fromkeys(line for source in sources.values() for line in source.safety))
    # the longest time to get into position of the routines the steps come from, never a
    # wait for a press: a composed session is timed throughout, so that its length is known
    prep = max((s.cues.prep_ms for s in sources.values() if not s.cues.prep_press), default=Cues().prep_ms)
    areas = [area for area, _ in size.work]
    title = _title(areas)
    return Routine(
        id="composed-" + "-".join(area.replace(" ", "-") for area in areas),
        title=title,
        steps=steps,
        summary=f"Composed for {_minutes(ask.minutes)}: a warm-up, then the {listing(areas)}, and a finisher.",
        areas=tuple(areas),
        tools=_tool_names(units, ask),
        safety=safety,
        cues=Cues(prep_ms=prep, countdown=3, halfway=True),
        source="",
    )


def _title(areas: list[str]) -> str:
    text = listing(areas)
    return text[:1].upper() + text[1:]


def _tool_names(units: list[Unit], ask: _Ask) -> tuple[str, ...]:
    """What the session needs, the ball called as it was named."""
    needs = set().union(*(unit.needs for unit in units))
    balls = [tool for tool in ask.named if TOOLS[tool] == "ball"] or [DEFAULT_BALL]
    names = ["foam roller"] if "foam roller" in needs else []
    names += balls[:1] if "ball" in needs else []
    names += ["peanut ball"] if "peanut ball" in needs else []
    names += ["wall"] if any(unit.walled for unit in units) else []
    names += ["your hands"] if any(unit.kind in WORK_ORDER and not unit.needs for unit in units) else []
    return tuple(names)


def _bounds(step: Step) -> tuple[int, int] | None:
    """(lowest, highest) milliseconds of a step's hold; None when it is kept as written (a
    counted movement, or a kind without bounds)."""
    if step.count or step.kind not in BOUNDS:
        return None
    if step.kind == "compress" and re.search(r"\bball\b", step.text, re.IGNORECASE):
        return BALL_COMPRESS
    return BOUNDS[step.kind]


def _timed(step: Step, t: float, n: int) -> Step:
    """The step with its hold at t: the lower bound at 0, as written at 0.5, the upper at 1.
    Each step (``n``: its place) rounds to 5 s at another point, so that as t grows the holds
    grow one at a time: rounded alike, they would all jump at once, and the session's length
    with them."""
    limits = _bounds(step)
    if limits is None:
        return dataclasses.replace(step, until="", group="", line=0)
    low, high = limits
    written = min(max(step.time_ms, low), high)
    exact = low + (written - low) * t * 2 if t <= 0.5 else written + (high - written) * (t - 0.5) * 2
    phase = (n * _GOLDEN) % 1 - 0.5
    time_ms = min(max(round(exact / STEP_MS + phase) * STEP_MS, low), high)
    says = tuple(say for say in step.say if say.at_ms is None or say.at_ms < time_ms - 1000)
    return dataclasses.replace(step, time_ms=time_ms, say=says, until="", group="", line=0)


def _measure(routine: Routine) -> float:
    return compiler.estimate_seconds(routine)


def _fit(size: _Size, goal: float, ask: _Ask) -> tuple[Routine, float]:
    """The session of this size nearest the minutes asked: t found by bisection (longer holds
    make a longer session; the words of a time say it in about as many words)."""
    low, high = 0.0, 1.0
    best: tuple[float, Routine, float] | None = None
    for _ in range(24):
        middle = (low + high) / 2
        routine = _routine(size, middle, ask)
        seconds = _measure(routine)
        if best is None or abs(seconds - goal) < best[0]:
            best = (abs(seconds - goal), routine, seconds)
        if seconds < goal:
            low = middle
        else:
            high = middle
    assert best is not None
    return best[1], best[2]


# -- what the messages say -------------------------------------------------------------------


def _too_short(ask: _Ask, shortest: float) -> str:
    return (
        f"{ask} cannot be done in {_minutes(ask.minutes)}: the shortest session for {ask.them} lasts "
        f"{_clock(shortest)}; ask for at least {_least_minutes(shortest)} minutes, or for fewer areas"
    )


def _too_long(ask: _Ask, longest: float) -> str:
    return (
        f"{ask} cannot fill {_minutes(ask.minutes)}: the longest session the library has for {ask.them} lasts "
        f"{_clock(longest)}; ask for at most {_most_minutes(longest)} minutes, or add areas or tools"
    )


def _minutes(minutes: float) -> str:
    return f"{minutes:g} minute{'s' * (minutes != 1)}"


def _clock(seconds: float) -> str:
    whole = round(seconds)
    return f"{whole // 60}:{whole % 60:02d}"


def _least_minutes(seconds: float) -> int:
    """The fewest whole minutes whose tolerance reaches a session this long."""
    n = 1
    while n * 60 + tolerance(n) < seconds:
        n += 1
    return n


def _most_minutes(seconds: float) -> int:
    """The most whole minutes whose tolerance reaches down to a session this long."""
    n = max(1, math.floor(seconds / 60))
    while n * 60 - tolerance(n) <= seconds and n <= MAX_MINUTES:
        n += 1
    return max(1, n - 1)
