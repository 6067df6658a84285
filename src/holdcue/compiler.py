"""The script compiler: a routine becomes a timeline of spoken cues and tones.

Pure and deterministic. What is spoken depends only on the routine; how long each clip
and tone lasts comes in as data (``clip_length``, ``tone_length``), so compiling needs no
audio. Times are whole samples.

What a listener hears, step by step::

    announce   "Next: <instruction>. Forty-five seconds, each side. Get into position."
    prepare    cues.prep of quiet to get into position
    hold       start tone ... halfway tone, time-left callouts, breathing reminders,
               the routine's own cues ... countdown ticks ... (end tone at the hold's end)
    transition switch tone, "Switch to your right side. <instruction>."   (then prepare, hold)
    rest       "Now rest for five seconds. Round two of three is next."   (between rounds)

Guarantees (tests/test_compiler*.py): a hold's start and end tones are exactly its
duration apart; no two sounds overlap; when speech does not fit the gap it was meant for,
the gap grows, a hold never shrinks; events are sorted; segments tile the session.

holdcue's own words come from phrases.py in the language of the routine's voice; {side}
says the step's side words, else the routine's, else the language's (Step.side_words).
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from holdcue import phrases
from holdcue.phrases import Phrases, sentence_start
from holdcue.routine import Routine, Step
from holdcue.timeline import SAMPLE_RATE, Event, Segment, Timeline

GAP_MS = 250  # quiet between two sounds, and after speech before a hold starts
TAIL_MS = 1500  # quiet after "session complete"
HALFWAY_MIN_MS = 10_000  # shorter holds get no halfway cue
ENGLISH = phrases.for_language("en")
TITLE_WORDS = 8  # a derived step title cut short keeps at most this many words...
TITLE_WORDS_MIN = 3  # ...and at least this many
TITLE_WORDS_WHOLE = 10  # a first clause this short is kept whole: a whole clause reads better than a cut one

LEGEND_TONES = ("start", "halfway", "tick", "end", "switch")  # the order the legend plays them in
LEGEND_TICKS = 3  # the legend's ticks, one second apart, as in a countdown
LEGEND_PAUSE_MS = 750  # quiet after each tone of the legend, before the next meaning is said

# Priorities of the cues inside a hold that take the nearest free time: a lower number is
# placed first and wins its time. The countdown and counted movements come before them all.
HALFWAY, SAY, TIME_LEFT, BREATHE, REMIND = range(5)
REMIND_BEFORE_END_MS = 5000  # no reminder to press this close to a hold's longest end


def compile(
    routine: Routine,
    clip_length: Callable[[str], int],
    tone_length: Callable[[str], int],
    rate: int = SAMPLE_RATE,
) -> Timeline:
    """The timeline of ``routine``; clip and tone lengths are in samples at ``rate``."""
    minutes = _estimated_minutes(routine, rate)
    return _Compiler(routine, clip_length, tone_length, rate, minutes).run()


def length(
    routine: Routine,
    clip_length: Callable[[str], int],
    tone_length: Callable[[str], int],
    rate: int = SAMPLE_RATE,
) -> int:
    """``compile(...).length`` in samples, found at a fraction of the cost: the cues inside
    each hold are not placed, since none of them moves the hold's end (a hold lasts its
    time). Every clip and tone length is still asked for, as ``compile`` asks: a caller
    whose ``clip_length`` raises for an unknown clip learns of it here too."""
    minutes = _estimated_minutes(routine, rate)
    return _Compiler(routine, clip_length, tone_length, rate, minutes, place=False).run_length()


def legend(
    routine: Routine, clip_length: Callable[[str], int], tone_length: Callable[[str], int], rate: int = SAMPLE_RATE
) -> Timeline:
    """The tones' legend alone (holdcue tones): every tone, each after what it means, in the
    language of ``routine``'s voice; one segment, titled "The tones"."""
    compiler = _Compiler(routine, clip_length, tone_length, rate, minutes=0)
    compiler.legend(LEGEND_TONES)
    compiler.segment(compiler.words.legend_title(), "intro", compiler.t + compiler.samples(TAIL_MS))
    return compiler.finish()


def spoken_texts(routine: Routine, make: Callable[..., Timeline] | None = None) -> list[str]:
    """Every distinct text the routine speaks, in order of first use; ``make``: the
    function that makes the timeline (``compile``, or ``legend``)."""
    heard: dict[str, None] = {}

    def clip_length(text: str) -> int:
        heard[text] = None
        return _estimate_speech(text, routine.voice.rate, SAMPLE_RATE)

    (make or _asked)(routine, clip_length, _estimate_tone(SAMPLE_RATE), SAMPLE_RATE)
    return list(heard)


def _asked(routine: Routine, clip_length: Callable[[str], int], tone_length: Callable[[str], int], rate: int) -> None:
    """Ask every length ``compile`` asks for, in its order, without placing the holds' cues."""
    length(routine, clip_length, tone_length, rate)


def estimate_seconds(routine: Routine) -> float:
    """The session's length with speech lengths estimated from the words and the voice's
    rate. Only the intro's first sentence depends on the minutes it says, and everything
    after it starts where it ends: so this is the length estimated for _estimated_minutes
    with that sentence's two lengths told apart, and no second compile."""
    rate = SAMPLE_RATE
    before = _estimated_length(routine, rate, minutes=0)
    words = phrases.for_language(routine.voice.language)
    said, unsaid = (words.intro(routine.title, n) for n in (_minutes(before, rate), 0))
    return (
        before + _estimate_speech(said, routine.voice.rate, rate) - _estimate_speech(unsaid, routine.voice.rate, rate)
    ) / rate


def duration_words(ms: int, words: Phrases = ENGLISH) -> str:
    """How a time is said: "forty-five seconds", "one minute", "one minute thirty",
    "two and a half seconds", "half a second" (in English unless ``words`` says otherwise)."""
    return words.duration(ms)


def number_words(n: int, words: Phrases = ENGLISH) -> str:
    return words.number(n)


def _estimate_speech(text: str, words_per_minute: int, rate: int) -> int:
    words = len(text.split())
    return int(rate * (0.35 + words * 60 / words_per_minute))


def _estimate_tone(rate: int) -> Callable[[str], int]:
    return lambda name: int(rate * (0.06 if name == "tick" else 0.4))


def _estimate(routine: Routine, rate: int, minutes: int) -> Timeline:
    speech = functools.partial(_estimate_speech, words_per_minute=routine.voice.rate, rate=rate)
    return _Compiler(routine, speech, _estimate_tone(rate), rate, minutes).run()


@functools.lru_cache(maxsize=32)
def _estimated_length(routine: Routine, rate: int, minutes: int) -> int:
    """``_estimate(...).length``, without placing the holds' cues (see ``length``)."""
    speech = functools.partial(_estimate_speech, words_per_minute=routine.voice.rate, rate=rate)
    return _Compiler(routine, speech, _estimate_tone(rate), rate, minutes, place=False).run_length()


def _estimated_minutes(routine: Routine, rate: int) -> int:
    """The "about N minutes" of the intro: estimated, so that no spoken text depends on
    the synthesized clips' lengths (they are synthesized from these texts)."""
    return _minutes(_estimated_length(routine, rate, minutes=0), rate)


def _minutes(length: int, rate: int) -> int:
    return max(1, round(length / rate / 60))


@functools.lru_cache(maxsize=32)
def _used_tones(routine: Routine, rate: int) -> tuple[str, ...]:
    """The tones the routine's session plays, in the legend's order: estimated, so that what
    the intro says does not depend on the synthesized clips' lengths (as _estimated_minutes)."""
    plain = replace(routine, cues=replace(routine.cues, legend=False))
    used = {event.name for event in _estimate(plain, rate, minutes=0).events if event.kind == "tone"}
    return tuple(name for name in LEGEND_TONES if name in used)


@dataclass(frozen=True)
class Place:
    """Where a segment is in the routine: its step, side and round (see Segment)."""

    step: int = -1
    side: str = ""
    round: int = 0  # 0 when the step is not repeated
    rounds: int = 0


@dataclass(frozen=True)
class Fill:
    """What a step's placeholders say: {side}, {time}, {round} (of {rounds}) and {next}."""

    side: str = ""
    time: str = ""
    round: int = 1
    next: str = ""


@dataclass
class _Slots:
    """The busy stretches inside one hold, to fit cues between them."""

    low: int  # earliest start of a cue
    high: int  # latest end of a cue
    gap: int
    busy: list[tuple[int, int]] = field(default_factory=list)

    def take(self, start: int, length: int) -> bool:
        """Reserve exactly [start, start + length), if it is free."""
        if start < self.low or start + length > self.high or self._clash(start, length):
            return False
        self.busy.append((start, start + length))
        return True

    def nearest(self, want: int, length: int) -> int | None:
        """The free start closest to ``want`` (later preferred), or None.

        A start clashes with a busy stretch [b, e) when it lies in the open interval
        (b - gap - length, e + gap); the free starts are what those intervals leave of
        [low, high - length], and the nearest is ``want`` itself or an end of one of them.
        O(n log n) in the busy stretches, so a hold's cues cost n^2 log n at the very most.
        """
        last = self.high - length
        if last < self.low:
            return None
        blocked: list[list[int]] = []
        for begin, end in sorted((b - self.gap - length, e + self.gap) for b, e in self.busy):
            if blocked and begin < blocked[-1][1]:
                blocked[-1][1] = max(blocked[-1][1], end)
            else:
                blocked.append([begin, end])
        best: int | None = None
        start = self.low
        for begin, end in [*blocked, [last + 1, last + 1]]:
            stop = min(begin, last)
            if start <= stop:
                if start <= want <= stop:
                    return want
                here = start if start > want else stop
                if best is None or (abs(here - want), here < want) < (abs(best - want), best < want):
                    best = here
            start = max(start, end)
            if start > last:
                break
        return best

    def _clash(self, start: int, length: int) -> bool:
        return any(start < end + self.gap and begin < start + length + self.gap for begin, end in self.busy)


_NOWHERE = Place()  # the intro and the end belong to no step


class _Compiler:
    def __init__(
        self,
        routine: Routine,
        clip_length: Callable[[str], int],
        tone_length: Callable[[str], int],
        rate: int,
        minutes: int,
        place: bool = True,
    ):
        self.routine = routine
        self.place = place  # False: only the session's length is wanted, no events are kept
        self.cues = routine.cues
        self.clip_length = clip_length
        self.tone_length = tone_length
        self.rate = rate
        self.minutes = minutes
        self.gap = self.samples(GAP_MS)
        self.events: list[tuple[int, int, str, str, str, str]] = []  # (start, end, kind, text, name, step)
        self.segments: list[Segment] = []
        self.t = 0  # where the next sound may start
        self.words = phrases.for_language(routine.voice.language)
        self.titles = [step_title(step, self.words) for step in routine.steps]

    def samples(self, ms: int) -> int:
        return round(ms * self.rate / 1000)

    # -- building blocks ---------------------------------------------------------------

    def segment(self, title: str, phase: str, end: int, place: Place = _NOWHERE, until: str = "") -> None:
        """Close the current segment at ``end``: it starts where the last one ended."""
        start = self.segments[-1].end if self.segments else 0
        if end > start:
            where = (place.step, place.side, place.round, place.rounds)
            self.segments.append(Segment(title, phase, start, end, *where, until=until))

    def say(self, text: str, at: int, step: str = "") -> int:
        end = at + self.clip_length(text)
        if self.place:
            self.events.append((at, end, "speech", text, "", step))
        return end

    def tone(self, name: str, at: int, step: str = "") -> int:
        end = at + self.tone_length(name)
        if self.place:
            self.events.append((at, end, "tone", "", name, step))
        return end

    def speak(self, text: str, step: str = "") -> None:
        """Speech at the cursor; the cursor moves past it and a gap."""
        self.t = self.say(text, self.t, step) + self.gap

    # -- the session ---------------------------------------------------------------------

    def run(self) -> Timeline:
        self.session()
        return self.finish()

    def run_length(self) -> int:
        """The session's length in samples (all ``place=False`` needs)."""
        self.session()
        return self.segments[-1].end

    def session(self) -> None:
        self.intro()
        for index, step in enumerate(self.routine.steps):
            if step.kind == "rest":
                self.rest_step(index, step)
            else:
                self.step(index, step)
        self.outro()

    def finish(self) -> Timeline:
        """The timeline of the events and segments made so far. Each event is made here,
        once, with the index of the segment it belongs to: the one it starts in, or for an
        end tone, the hold it ends."""
        starts = [segment.start for segment in self.segments]
        events = tuple(
            Event(
                start,
                end,
                kind,
                text,
                name,
                step,
                bisect.bisect_right(starts, start - 1 if name == "end" else start) - 1,
            )
            for start, end, kind, text, name, step in sorted(self.events, key=lambda e: (e[0], e[1]))
        )
        return Timeline(self.routine.title, self.rate, self.segments[-1].end, events, tuple(self.segments))

    def intro(self) -> None:
        r = self.routine
        self.speak(self.words.intro(r.title, self.minutes))
        if r.tools:
            self.speak(self.words.tools(r.tools))
        for reminder in r.safety:
            self.speak(reminder)
        if self.cues.legend:
            self.legend(_used_tones(r, self.rate))
        self.segment(self.words.introduction_title(), "intro", self.t)

    def legend(self, names: tuple[str, ...]) -> None:
        """Each tone right after the sentence that says what it means (a gap after its end)."""
        self.speak(self.words.legend_intro())
        for name in names:
            self.speak(self.words.legend(name))
            beats = LEGEND_TICKS if name == "tick" else 1
            ends = [self.tone(name, self.t + beat * self.rate) for beat in range(beats)]
            self.t = ends[-1] + self.samples(LEGEND_PAUSE_MS)

    def outro(self) -> None:
        end = self.say(self.words.session_complete(), self.t)
        self.segment(self.words.session_complete_title(), "outro", end + self.samples(TAIL_MS))

    def rest_step(self, index: int, step: Step) -> None:
        title = self.titles[index]
        values = Fill(time=self.words.duration(step.time_ms), next=self.next_title(index))
        text = fill(step.text, step, values, self.words)
        start = self.t
        self.speak(f"{self.words.rest(step.time_ms)} {text}", title)
        self.t = max(self.t, start + self.samples(step.time_ms))
        self.segment(title, "rest", self.t, Place(index))

    def step(self, index: int, step: Step) -> None:
        title = self.titles[index]
        sides = step.sides or ("",)
        time = self.words.duration(step.time_ms)
        rounds = step.repeat if step.repeat > 1 else 0
        for round_ in range(1, step.repeat + 1):
            for n, side in enumerate(sides):
                where = Place(index, side, round_ if rounds else 0, rounds)
                values = Fill(self.side_word(step, side), time, round_, self.next_title(index))
                text = _sentence(fill(step.text, step, values, self.words))
                if round_ == 1 and n == 0:
                    self.speak(f"{self.words.next(text)}{self.length_note(step)}{self.prep_note()}", title)
                    self.segment(title, "announce", self.t, where)
                    prep = self.cues.prep_ms
                    waits = "press" if self.cues.prep_press else ""
                elif n > 0:
                    self.t = self.tone("switch", self.t, title) + self.gap
                    self.speak(f"{self.words.switch(side)} {text}", title)
                    self.segment(title, "transition", self.t, where)
                    prep, waits = self.cues.switch_ms, ""
                else:
                    if step.rest_ms:
                        rest_start = self.t
                        self.speak(self.words.rest(step.rest_ms), title)
                        self.t = max(self.t, rest_start + self.samples(step.rest_ms))
                        self.segment(title, "rest", self.t, replace(where, round=round_ - 1))
                    self.speak(f"{self.words.round_of(round_, step.repeat)} {text}", title)
                    self.segment(title, "announce", self.t, where)
                    prep, waits = self.cues.switch_ms, ""
                self.t += self.samples(prep)
                self.segment(title, "prepare", self.t, where, until=waits)
                self.hold(step, title, where, values)

    def length_note(self, step: Step) -> str:
        """ " Forty-five seconds, each side, two rounds." (the time only when the text lacks it;
        for a hold that lasts until a press, " Up to forty-five seconds, ...")"""
        time = self.words.up_to(step.time_ms) if step.until else self.words.duration(step.time_ms)
        parts = [] if "{time}" in step.text else [time]
        if len(step.sides) == 2:
            parts.append(self.words.each_side())
        if step.repeat > 1:
            parts.append(self.words.rounds(step.repeat))
        return (" " + sentence_start(", ".join(parts)) + ".") if parts else ""

    def prep_note(self) -> str:
        if self.cues.prep_press:
            return f" {self.words.get_into_position_and_press()}"
        return f" {self.words.get_into_position()}" if self.cues.prep_ms >= 2000 else ""

    def next_title(self, index: int) -> str:
        following = self.titles[index + 1 :]
        return following[0] if following else self.words.end_of_session()

    def side_word(self, step: Step, side: str) -> str:
        """What {side} says: the step's side words, the routine's, or the language's."""
        own = dict(step.side_words or self.routine.side_words)
        return own.get(side) or self.words.side_word(side)

    def hold(self, step: Step, title: str, where: Place, values: Fill) -> None:
        """The hold itself: exact start and end tones; the counted movements or the
        countdown, each exactly on its beat; then the other cues where they fit."""
        start = self.t
        end = start + self.samples(step.time_ms)
        self.tone("start", start, title)
        slots = _Slots(low=start, high=end - self.gap, gap=self.gap, busy=[(start, start + self.tone_length("start"))])
        beats = self.counted(step, start, end) if step.count else self.countdown(start, end)
        for at, kind, what in beats:
            slots.busy.append((at, (self.tone if kind == "tone" else self.say)(what, at, title)))
        for _, want, kind, what in sorted(self.free_cues(step, start, end, values), key=lambda c: (c[0], c[1])):
            length = self.tone_length(what) if kind == "tone" else self.clip_length(what)
            if not self.place:  # asked for, as compile asks; where it goes never moves the hold's end
                continue
            free = slots.nearest(want, length)
            if free is not None:
                slots.take(free, length)
                (self.tone if kind == "tone" else self.say)(what, free, title)
        self.segment(title, "hold", end, where, until=step.until)
        self.t = self.tone("end", end, title) + self.gap

    def counted(self, step: Step, start: int, end: int) -> list[tuple[int, str, str]]:
        """(start, kind, what) of counted movements: each number said just after its beat,
        the same time after every beat (the first beat is the start tone). When a number
        would run into the next, the count is ticks on the beats instead."""
        beats = [start + (end - start) * k // step.count for k in range(step.count)]
        after = self.tone_length("start") + self.gap
        numbers = [(beat + after, "speech", self.words.count(k + 1)) for k, beat in enumerate(beats)]
        if self.fits(numbers, end):
            return numbers
        tick = self.tone_length("tick")
        limits = beats[2:] + [end]
        return [
            (beat, "tone", "tick")
            for beat, limit in zip(beats[1:], limits, strict=True)
            if beat + tick <= limit and beat >= start + after
        ]

    def countdown(self, start: int, end: int) -> list[tuple[int, str, str]]:
        """(start, kind, what) of the countdown over the last seconds, spoken or ticked as
        the routine says; spoken numbers that would run into each other become ticks."""
        cues = self.cues
        seconds = [k for k in range(cues.countdown, 0, -1) if end - k * self.rate > start + self.rate]
        if cues.countdown_style == "spoken":
            numbers = [(end - k * self.rate, "speech", self.words.count(k)) for k in seconds]
            if self.fits(numbers, end):
                return numbers
        return [(end - k * self.rate, "tone", "tick") for k in seconds]

    def fits(self, cues: list[tuple[int, str, str]], end: int) -> bool:
        """Whether each spoken cue ends a gap before the next begins, the last before ``end``.
        (Every length is asked for: spoken_texts() learns what may be said from the asking.)"""
        if not cues:
            return True
        limits = [at for at, _, _ in cues[1:]] + [end]
        ends = [at + self.clip_length(text) + self.gap for at, _, text in cues]
        return all(until <= limit for until, limit in zip(ends, limits, strict=True))

    def free_cues(self, step: Step, start: int, end: int, values: Fill) -> list[tuple[int, int, str, str]]:
        """(priority, wanted start, "tone" or "speech", tone name or text) of the cues that
        take the nearest free time: halfway, the step's own, time left, breathing. A hold
        that lasts until a press has the step's own and its reminder to press instead: the
        others count towards an end the listener does not aim for."""
        cues = self.cues
        length = end - start
        out: list[tuple[int, int, str, str]] = []
        for say in step.say:
            offset = (
                self.samples(say.at_ms) if say.at_ms is not None else round(length * (say.at_fraction or 0))
            )  # the loader gives one of the two
            out.append((SAY, start + offset, "speech", fill(say.text, step, values, self.words)))
        if step.until:
            every = step.remind_ms
            reminder = self.words.press_reminder()
            for offset in range(every, step.time_ms - REMIND_BEFORE_END_MS, every) if every else ():
                out.append((REMIND, start + self.samples(offset), "speech", reminder))
            return out
        breathe = cues.breathe_every_ms
        if breathe:
            breathing = self.words.breathing()
            for k, offset in enumerate(range(breathe, step.time_ms - 5000, breathe)):
                out.append((BREATHE, start + self.samples(offset), "speech", breathing[k % len(breathing)]))
        if step.count:  # the count itself paces a counted step
            return out
        if cues.halfway and step.time_ms >= HALFWAY_MIN_MS:
            out.append((HALFWAY, start + length // 2, "tone", "halfway"))
        every = cues.time_left_every_ms
        if every and step.time_ms > 2 * every:
            for left in range(every, step.time_ms - every + 1, every):
                out.append((TIME_LEFT, end - self.samples(left), "speech", self.words.time_left(left)))
        return out


def fill(text: str, step: Step, values: Fill, words: Phrases = ENGLISH) -> str:
    """The text with its placeholders filled in; ``{{`` and ``}}`` are literal braces."""
    return text.format(
        side=values.side,
        time=values.time,
        round=words.number(values.round) if "{round}" in text else "",
        rounds=words.number(step.repeat) if "{rounds}" in text else "",
        next=values.next,
    )


def step_title(step: Step, words: Phrases = ENGLISH) -> str:
    """A short title for displays and chapters: the step's own, or its instruction's first
    words: up to its first sentence's end, or a comma before "and", "then"... (in the
    routine's language); a longer one is cut at a comma, or before its last words when they
    are "the", "under", "with"... (phrases' title_weak_endings), and ends in "…"."""
    if step.title:
        return step.title
    text = re.sub(r"\s*\{[a-z]+\}\s*", " ", step.text.replace("{{", "").replace("}}", ""))
    breaks = "|".join(re.escape(word) for word in words.title_breaks())
    # a sentence ends after a lowercase letter (Latin-1's too: "Fuß.", "côté."), not after "2." or "A."
    text = re.split(rf"(?<=[a-zß-öø-ÿ])[.!?;:]|, (?=(?:{breaks})\b)", text, maxsplit=1)[0].strip()
    kept = text.split()
    if len(kept) <= TITLE_WORDS_WHOLE:
        title = " ".join(kept)
    else:
        title = " ".join(kept[: _title_cut(kept, words.title_weak_endings())]).rstrip(",") + "…"
    return title[:1].upper() + title[1:]


def _title_cut(kept: list[str], weak: frozenset[str]) -> int:
    """How many of a long instruction's words its title keeps: up to the last comma within
    TITLE_WORDS (a clause), else TITLE_WORDS less any article, preposition... at the end."""
    commas = [n for n in range(TITLE_WORDS_MIN, TITLE_WORDS + 1) if kept[n - 1].endswith(",")]
    if commas:
        return commas[-1]
    n = TITLE_WORDS
    while n > TITLE_WORDS_MIN and kept[n - 1].lower().strip(",") in weak:
        n -= 1
    return n


def _sentence(text: str) -> str:
    """The text ending like a sentence, so what follows it is heard as a new one."""
    text = text.rstrip()
    return text if text[-1:] in ".!?" else text + "."
