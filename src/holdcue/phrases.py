"""holdcue's own words in the routine's language: "Next:", durations, "Switch to your right
side", the counts, the breathing reminders, and the labels the screen and chapters show.

Every phrase is a gettext message, translated in ``locale/<lang>/LC_MESSAGES/holdcue.po``
and read at run time from the compiled ``holdcue.mo`` beside it with the standard library's
gettext alone (docs/languages.md: adding a language, the Babel commands). English is the
message ids themselves, so it needs no catalogue and is the fallback for a language without
one. Numbers are spelled by num2words in the catalogue's language.

Messages are ``str.format`` templates. A counted noun's template may say ``{number}`` (the
number as counted: "eins", "un"), ``{number_m}`` or ``{number_f}`` (the number before a
masculine or feminine noun, where the language changes it: "vingt et une secondes",
"veintiún segundos"); the form for one may be written out whole ("eine Minute").
"""

from __future__ import annotations

import functools
import gettext
import re
from collections.abc import Iterable
from pathlib import Path

LOCALE_DIR = Path(__file__).with_name("locale")
DOMAIN = "holdcue"
FALLBACK = "en"  # the message ids' language: no catalogue needed
NUMBERS_PATH = LOCALE_DIR / "numbers.json"  # num2words' spellings of the small numbers (see _spelled)
NUMBERS = 200  # numbers.json spells 0 to 199: every count, second and round, the minutes of 3 hours

# The number's spelling before a noun, where num2words gives only the counted form:
# (gender, pattern, replacement), applied in order to num2words' text.
_BEFORE_NOUN: dict[str, tuple[tuple[str, str, str], ...]] = {
    "fr": (("f", r"\bun$", "une"),),  # vingt et une secondes
    "es": (("m", r"veintiuno$", "veintiún"), ("m", r"uno$", "un"), ("f", r"uno$", "una")),
}


def catalogue_language(voice_language: str) -> str | None:
    """The language of holdcue's phrases for a voice name: "de", "de-DE", "gmw/de", "de+f3"
    and "de_AT" all give "de"; None when holdcue has no phrases in that language."""
    name = voice_language.rsplit("/", 1)[-1].split("+", 1)[0]
    code = re.split(r"[-_]", name, maxsplit=1)[0].lower()
    return code if code in languages() else None


@functools.cache
def languages() -> tuple[str, ...]:
    """The languages holdcue speaks its own words in: English and each compiled catalogue."""
    found = sorted(path.parent.parent.name for path in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.mo"))
    return (FALLBACK, *(code for code in found if code != FALLBACK))


def for_language(voice_language: str) -> Phrases:
    """The phrases for a routine's ``voice.language``; English when there is no catalogue
    for it (the loader warns about that)."""
    return _phrases(catalogue_language(voice_language) or FALLBACK)


@functools.cache
def _phrases(language: str) -> Phrases:
    if language == FALLBACK:
        return Phrases(language, gettext.NullTranslations())
    with open(LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo", "rb") as file:
        return Phrases(language, gettext.GNUTranslations(file))


@functools.lru_cache(maxsize=1024)
def _spelled(n: int, language: str) -> str:
    """num2words' spelling, kept: compiling a routine says the same few numbers hundreds of
    times (countdowns, durations), and num2words takes some 0.1 ms for each. The numbers
    below NUMBERS come from numbers.json, num2words' own spellings written down by
    scripts/make_numbers.py: importing num2words takes some 20 ms (a Raspberry Pi: 70)."""
    spelled = _numbers().get(language, ())
    if 0 <= n < len(spelled):
        return spelled[n]
    from num2words import num2words

    return num2words(n, lang=language)


@functools.cache
def _numbers() -> dict[str, list[str]]:
    """numbers.json: each language's spellings of 0 to NUMBERS - 1; empty when it cannot be
    read (a broken install), then num2words spells every number."""
    import json

    try:
        with open(NUMBERS_PATH, encoding="utf-8") as file:
            table = json.load(file)
    except (OSError, ValueError):
        return {}
    return table if isinstance(table, dict) else {}


def sentence_start(text: str) -> str:
    """The text with its first letter made a capital (and the rest left as it is: German nouns)."""
    return text[:1].upper() + text[1:]


class Phrases:
    """holdcue's words in one language. Methods return finished text; the compiler puts
    them together. Message ids are English; a translator's note precedes the odd ones."""

    def __init__(self, language: str, translations: gettext.NullTranslations):
        self.language = language
        self._t = translations

    def _(self, message: str) -> str:
        return self._t.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._t.ngettext(singular, plural, n)

    def pgettext(self, context: str, message: str) -> str:
        return self._t.pgettext(context, message)

    # -- numbers and durations ---------------------------------------------------------

    def number(self, n: int) -> str:
        """A number as counted: "one", "eins", "un"."""
        return _spelled(n, self.language)

    def _counted(self, template: str, n: int) -> str:
        """A counted noun's template with its number filled in, in each of its forms."""
        plain = self.number(n)
        forms = {"m": plain, "f": plain}
        for gender, pattern, replacement in _BEFORE_NOUN.get(self.language, ()):
            if forms[gender] == plain:
                forms[gender] = re.sub(pattern, replacement, plain)
        return template.format(number=plain, number_m=forms["m"], number_f=forms["f"])

    def seconds(self, n: int) -> str:
        return self._counted(self.ngettext("one second", "{number} seconds", n), n)

    def minutes(self, n: int) -> str:
        return self._counted(self.ngettext("one minute", "{number} minutes", n), n)

    def hours(self, n: int) -> str:
        return self._counted(self.ngettext("one hour", "{number} hours", n), n)

    def duration(self, ms: int) -> str:
        """How a time is said: "forty-five seconds", "one minute", "one minute thirty",
        "two and a half seconds", "half a second"."""
        if ms < 750:
            return self._("half a second")
        if ms < 10_000 and ms % 1000 == 500:
            whole = ms // 1000
            return self._counted(self.ngettext("one and a half seconds", "{number} and a half seconds", whole), whole)
        seconds = round(ms / 1000)
        if seconds < 60:
            return self.seconds(seconds)
        minutes, rest = divmod(seconds, 60)
        if minutes >= 60 and rest == 0 and minutes % 60 == 0:
            return self.hours(minutes // 60)
        if not rest:
            return self.minutes(minutes)
        # TRANSLATORS: a time of minutes and seconds, like "one minute thirty" ("un minuto y treinta").
        return self._("{minutes} {seconds}").format(minutes=self.minutes(minutes), seconds=self.number(rest))

    def listing(self, items: Iterable[str]) -> str:
        """ "a", "a and b", "a, b and c"."""
        items = list(items)
        if len(items) < 2:
            return "".join(items)
        # TRANSLATORS: the word before the last item of a list: "a, b and c".
        conjunction = self._("and")
        return ", ".join(items[:-1]) + f" {conjunction} " + items[-1]

    # -- what the compiler says ----------------------------------------------------------

    def intro(self, title: str, minutes: int) -> str:
        # TRANSLATORS: the first words of a session; {minutes} is like "twelve minutes".
        return self._("{title}. About {minutes}.").format(title=title, minutes=self.minutes(minutes))

    def tools(self, tools: Iterable[str]) -> str:
        return self._("You will need: {tools}.").format(tools=self.listing(tools))

    def next(self, instruction: str) -> str:
        # TRANSLATORS: announces a step; {instruction} is the step's own sentence.
        return self._("Next: {instruction}").format(instruction=instruction)

    def each_side(self) -> str:
        # TRANSLATORS: part of a list after a step's time: "forty-five seconds, each side, two rounds".
        return self._("each side")

    def rounds(self, n: int) -> str:
        return self._counted(self.ngettext("one round", "{number} rounds", n), n)

    def get_into_position(self) -> str:
        return self._("Get into position.")

    def get_into_position_and_press(self) -> str:
        # TRANSLATORS: ends a step's announcement when the time to get
        # into position lasts until the listener presses (cues.prep: press).
        return self._("Get into position, and press to start.")

    def up_to(self, ms: int) -> str:
        # TRANSLATORS: the length of a hold that lasts until the listener
        # presses: "Next: Hold the spot. Up to ninety seconds, each side."
        return self._("up to {time}").format(time=self.duration(ms))

    def press_reminder(self) -> str:
        # TRANSLATORS: said every so often in a hold that lasts until the
        # listener presses, as the discomfort eases.
        return self._("Breathe. Press when it eases.")

    def switch(self, side: str) -> str:
        """ "Switch to your right side." (the catalogue's own agreement, not the side words)"""
        if side == "left":
            return self._("Switch to your left side.")
        return self._("Switch to your right side.")

    def round_of(self, round_: int, rounds: int) -> str:
        return self._("Round {round} of {rounds}.").format(round=self.number(round_), rounds=self.number(rounds))

    def rest(self, ms: int) -> str:
        # TRANSLATORS: a timed rest begins: "Now rest for five seconds." (English says more than
        # "Rest, five seconds": heard alone, "Rest" was taken for "Left").
        return self._("Now rest for {time}.").format(time=self.duration(ms))

    def time_left(self, ms: int) -> str:
        # TRANSLATORS: a callout in a long hold: "Thirty seconds left." ({time} is lowercase).
        return sentence_start(self._("{time} left.").format(time=self.duration(ms)))

    def count(self, n: int) -> str:
        """A counted movement or a spoken countdown second: "One", "Eins"."""
        return sentence_start(self.number(n))

    def breathing(self) -> tuple[str, ...]:
        """The breathing reminders, said in turn."""
        return (
            self._("Breathe in slowly, and let it go."),
            self._("Keep breathing, slow and easy."),
            self._("Let each breath out soften the muscle."),
        )

    def legend_intro(self) -> str:
        # TRANSLATORS: said before the tones are played one by one, each after its meaning.
        return self._("These are the tones you will hear.")

    def legend(self, tone: str) -> str:
        """What a tone means, said just before it is played (the tones' legend)."""
        meanings = {
            "start": self._("This tone starts a hold."),
            "halfway": self._("This tone means you are halfway through a hold."),
            # TRANSLATORS: followed by three short ticks, one second apart.
            "tick": self._("These ticks count down the last seconds of a hold."),
            "end": self._("This tone ends a hold."),
            "switch": self._("This tone means switch sides."),
        }
        return meanings[tone]

    def session_complete(self) -> str:
        return self._("Session complete. Well done.")

    def paused(self) -> str:
        # TRANSLATORS: said at once when the listener pauses the session.
        return self._("Paused.")

    def resuming(self) -> str:
        # TRANSLATORS: said when the listener resumes a paused session.
        return self._("Resuming.")

    def session_ended(self) -> str:
        # TRANSLATORS: said when the listener ends the session early.
        return self._("Session ended.")

    def end_of_session(self) -> str:
        # TRANSLATORS: what {next} says in the last step: "Next: the end of the session".
        return self._("the end of the session")

    def side_word(self, side: str) -> str:
        """What {side} says when the routine gives no side words of its own."""
        # TRANSLATORS: {side} in a step's text, before a body part: "your left shoulder"
        # ("deinen linken Fuß"). Choose the form that fits most instructions.
        if side == "left":
            return self.pgettext("side", "left")
        return self.pgettext("side", "right")

    def title_breaks(self) -> tuple[str, ...]:
        """Words at which a long instruction is cut for its title, after a comma."""
        # TRANSLATORS: a step without a title is titled with its instruction's first words,
        # up to ", and", ", then"... Give those words, separated by |.
        words = self.pgettext("title", "and|then|while|keeping")
        return tuple(word for word in words.split("|") if word)

    def title_weak_endings(self) -> frozenset[str]:
        """Words a title cut short must not end on: articles, prepositions, possessives,
        conjunctions ("Lie face down with the roller under" is cut before "under")."""
        # TRANSLATORS: a long instruction cut short for its title must not end on one of these
        # words (articles, prepositions, possessives, conjunctions), lowercase, separated by |.
        words = self.pgettext(
            "title",
            "a|an|the|your|my|his|her|its|their|this|that|these|those|of|to|on|onto|into|in|under|over|with|"
            "without|at|by|for|from|against|between|behind|below|above|beneath|across|along|around|through|"
            "toward|towards|and|or|but|as|so|then|while|keeping|just",
        )
        return frozenset(word for word in words.split("|") if word)

    # -- segment titles, which chapters and transcripts show -------------------------------

    def introduction_title(self) -> str:
        # TRANSLATORS: the title of the session's introduction, as a chapter.
        return self.pgettext("title", "Introduction")

    def legend_title(self) -> str:
        # TRANSLATORS: the title of the tones' legend, as a section (holdcue tones).
        return self.pgettext("title", "The tones")

    def session_complete_title(self) -> str:
        # TRANSLATORS: the title of the session's last part, as a chapter.
        return self.pgettext("title", "Session complete")

    # -- labels for the screen and chapters (display.py, play.py, export.py) -----------------

    def label_step_of(self, step: int, steps: int) -> str:
        return self.pgettext("label", "Step {step} of {steps}").format(step=step, steps=steps)

    def label_side(self, side: str) -> str:
        """ "left side" / "right side" on the screen."""
        if side == "left":
            return self.pgettext("label", "left side")
        return self.pgettext("label", "right side")

    def label_side_short(self, side: str) -> str:
        """ "left" / "right" in a chapter's title: "Calf roll (left, round 1 of 2)"."""
        if side == "left":
            return self.pgettext("label", "left")
        return self.pgettext("label", "right")

    def label_round_of(self, round_: int, rounds: int) -> str:
        return self.pgettext("label", "round {round} of {rounds}").format(round=round_, rounds=rounds)

    def label_next_step(self, step: int, title: str) -> str:
        return self.pgettext("label", "step {step}: {title}").format(step=step, title=title)

    def label_the_end(self) -> str:
        return self.pgettext("label", "the end")

    def label_phase(self, phase: str, left: str, until: str = "") -> str:
        """What the listener is doing now, on the screen; ``left`` is a clock time "0:30";
        ``until``: "press" in a part that lasts until a press (``left`` is then the most)."""
        if until and phase in ("prepare", "hold"):
            waiting = {
                "prepare": self.pgettext("label", "get into position · press to start · at most {left}"),
                "hold": self.pgettext("label", "hold until you press · at most {left}"),
            }
            return waiting[phase].format(left=left)
        labels = {
            "intro": self.pgettext("label", "introduction"),
            "announce": self.pgettext("label", "listen"),
            "prepare": self.pgettext("label", "get into position · hold starts in {left}"),
            "hold": self.pgettext("label", "hold · {left} left"),
            "rest": self.pgettext("label", "rest · {left} left"),
            "transition": self.pgettext("label", "switch sides"),
            "outro": self.pgettext("label", "end"),
        }
        return labels.get(phase, phase).format(left=left)

    def label_line(self, phase: str, length: str, until: str = "") -> str:
        """A plain line's phase (display.LineDisplay): "hold 0:30"; ``length`` is a clock time."""
        if until and phase in ("prepare", "hold"):
            waiting = {
                "prepare": self.pgettext("label", "get into position until you press, at most {length}"),
                "hold": self.pgettext("label", "hold until you press, at most {length}"),
            }
            return waiting[phase].format(length=length)
        labels = {
            "prepare": self.pgettext("label", "get into position, {length}"),
            "hold": self.pgettext("label", "hold {length}"),
            "rest": self.pgettext("label", "rest {length}"),
        }
        return labels[phase].format(length=length) if phase in labels else self.label_phase(phase, length)

    def label_next(self, what: str) -> str:
        return self.pgettext("label", "next: {next}").format(next=what)

    def label_step_short(self, step: int, steps: int) -> str:
        """ "Step 2/5": the heading on a narrow terminal."""
        return self.pgettext("label", "Step {step}/{steps}").format(step=step, steps=steps)

    def label_round_short(self, round_: int, rounds: int) -> str:
        return self.pgettext("label", "round {round}/{rounds}").format(round=round_, rounds=rounds)

    def label_paused(self, at: str) -> str:
        return self.pgettext("label", "PAUSED at {time}").format(time=at)

    def label_go_on(self) -> str:
        return self.pgettext("label", "press space to go on")

    def label_ended(self, at: str, total: str) -> str:
        """ "Session ended at 3:10 of 12:04": the last line on the screen after q."""
        return self.pgettext("label", "Session ended at {time} of {total}").format(time=at, total=total)

    def label_ended_line(self) -> str:
        """ "session ended" in a plain line: "3:10  session ended: Step 2 of 5 · ..." """
        return self.pgettext("label", "session ended")

    def label_volume(self, percent: int) -> str:
        return self.pgettext("label", "vol {percent}%").format(percent=percent)

    def label_state(self, state: str) -> str:
        """ "paused", "stopped", "resumed" in plain lines."""
        labels = {
            "paused": self.pgettext("label", "paused"),
            "stopped": self.pgettext("label", "stopped"),
            "resumed": self.pgettext("label", "resumed"),
        }
        return labels.get(state, state)

    def label_keys(self) -> tuple[str, ...]:
        """The keys' help line, most complete first: the first that fits the terminal is shown."""
        return (
            self.pgettext(
                "label",
                "Keys: space pause/resume · n next step · p restart step (at its start: previous) · +/- volume"
                " · q quit",
            ),
            self.pgettext("label", "Keys: space pause · n next · p back · +/- volume · q quit"),
            self.pgettext("label", "space pause · n/p step · +- vol · q end"),
        )
