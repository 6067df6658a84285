"""The compiler on a known routine: what is said, when, and the timeline's shape."""

import dataclasses

import pytest

from compiler_helpers import RATE, clip_length, shoulders, tone_length
from holdcue import compiler, library, phrases
from holdcue.routine import Cues, Routine, Say, Step


def compile_(routine, scale=1.0):
    return compiler.compile(routine, lambda t, scale=scale: clip_length(t, scale), tone_length, RATE)


@pytest.mark.parametrize(
    "ms, words",
    [
        (1000, "one second"),
        (45_000, "forty-five seconds"),
        (60_000, "one minute"),
        (90_000, "one minute thirty"),
        (125_000, "two minutes five"),
        (600_000, "ten minutes"),
        (1_500, "one and a half seconds"),
        (400, "half a second"),
        (1_400, "one second"),
    ],
)
def test_durations_read_naturally(ms, words):
    assert compiler.duration_words(ms) == words


def test_listener_hears_intro_announcements_switches_and_outro():
    timeline = compile_(shoulders())
    said = [e.text for e in timeline.events if e.kind == "speech"]
    assert said[0].startswith("Shoulders and chest. About ")
    assert said[1] == "You will need a tennis ball and a wall."
    assert said[2] == "Start gently."
    assert "Next: Lean into the ball just below your left collarbone. One minute, each side. Get into position." in said
    assert "Switch to your right side. Lean into the ball just below your right collarbone." in said
    assert "Now rest for five seconds." in said
    assert "Round two of two. Bring your left arm across your body." in said
    assert "Next: Press into the knot, two minutes. Get into position." in said  # {time} said once
    assert "Now rest for ten seconds. Relax and breathe. Next: Lie still." in said
    assert said[-1] == "Session complete. Well done."
    assert ["One", "Two", "Three"] == said[4:7]  # the counted shoulder rolls


def test_each_hold_has_exact_start_and_end_tones():
    routine = shoulders()
    timeline = compile_(routine)
    holds = [s for s in timeline.segments if s.phase == "hold"]
    # warm-up 1, compress 2 sides, stretch 2 sides x 2 rounds, long press 1, finish 1
    assert len(holds) == 1 + 2 + 4 + 1 + 1
    starts = {e.start for e in timeline.events if e.name == "start"}
    ends = {e.start for e in timeline.events if e.name == "end"}
    for hold in holds:
        step = routine.steps[hold.step]
        assert hold.end - hold.start == step.time_ms * RATE // 1000
        assert hold.start in starts and hold.end in ends


def test_countdown_ticks_land_on_the_last_seconds():
    timeline = compile_(shoulders())
    hold = next(s for s in timeline.segments if s.phase == "hold" and s.title == "Long press")
    ticks = [e.start for e in timeline.events if e.name == "tick" and hold.start <= e.start < hold.end]
    assert ticks == [hold.end - 3 * RATE, hold.end - 2 * RATE, hold.end - RATE]


def test_spoken_countdown_and_time_left_callouts():
    routine = Routine(
        id="r", title="R", steps=(Step("hold", "Hold.", 120_000),), cues=Cues(countdown=3, countdown_style="spoken")
    )
    timeline = compile_(routine)
    hold = next(s for s in timeline.segments if s.phase == "hold")
    at = {e.text: e.start - hold.start for e in timeline.events if e.kind == "speech"}
    assert at["Three"] == 117 * RATE and at["Two"] == 118 * RATE and at["One"] == 119 * RATE
    assert at["One minute thirty left."] == 30 * RATE
    assert at["Thirty seconds left."] == 90 * RATE
    # "one minute left" wants the halfway mark, where the halfway tone already is: it follows it
    halfway = next(e for e in timeline.events if e.name == "halfway")
    assert halfway.start - hold.start == 60 * RATE
    assert halfway.end < at["One minute left."] + hold.start < halfway.end + RATE


def test_say_cues_at_a_time_or_fraction_and_breathing_reminders():
    step = Step("compress", "Press.", 60_000, say=(Say("Soften.", at_ms=20_000), Say("Nearly.", at_fraction=0.75)))
    routine = Routine(id="r", title="R", steps=(step,), cues=Cues(halfway=False, breathe_every_ms=25_000))
    timeline = compile_(routine)
    hold = next(s for s in timeline.segments if s.phase == "hold")
    at = {e.text: e.start - hold.start for e in timeline.events if e.kind == "speech"}
    assert at["Soften."] == 20 * RATE
    assert at["Nearly."] == 45 * RATE
    assert at["Breathe in slowly, and let it go."] == 25 * RATE
    assert at["Keep breathing, slow and easy."] == 50 * RATE


def test_a_cue_that_meets_another_moves_to_the_nearest_free_time():
    step = Step("compress", "Press.", 60_000, say=(Say("Soften.", at_ms=24_900),))
    routine = Routine(id="r", title="R", steps=(step,), cues=Cues(halfway=False, breathe_every_ms=25_000))
    timeline = compile_(routine)
    hold = next(s for s in timeline.segments if s.phase == "hold")
    soften = next(e for e in timeline.events if e.text == "Soften.")
    breathe = next(e for e in timeline.events if e.text == "Breathe in slowly, and let it go.")
    assert soften.start - hold.start == round(24.9 * RATE)  # the routine's own cue wins its time
    assert breathe.start == soften.end + RATE * compiler.GAP_MS // 1000


def test_long_announcement_grows_the_gap_never_the_hold():
    routine = shoulders()
    short, long_ = compile_(routine, 1.0), compile_(routine, 8.0)
    assert long_.length > short.length
    short_holds = [s.end - s.start for s in short.segments if s.phase == "hold"]
    long_holds = [s.end - s.start for s in long_.segments if s.phase == "hold"]
    assert short_holds == long_holds


def test_prep_and_switch_times_are_quiet_and_exact():
    routine = Routine(
        id="r",
        title="R",
        steps=(Step("hold", "Hold {side}.", 10_000, sides=("left", "right")),),
        cues=Cues(prep_ms=7000, switch_ms=4000),
    )
    timeline = compile_(routine)
    prepares = [s for s in timeline.segments if s.phase == "prepare"]
    assert [s.end - s.start for s in prepares] == [7 * RATE, 4 * RATE]
    for segment in prepares:
        assert not [e for e in timeline.events if segment.start <= e.start < segment.end]


def test_spoken_texts_are_what_the_timeline_speaks():
    routine = shoulders()
    said = {e.text for e in compile_(routine).events if e.kind == "speech"}
    assert set(compiler.spoken_texts(routine)) == said


def test_step_titles_are_short_and_free_of_placeholders():
    assert compiler.step_title(
        Step("compress", "Lean into the ball just below your {side} collarbone. Breathe.", 1000)
    ) == ("Lean into the ball just below your collarbone")
    assert compiler.step_title(Step("hold", "x", 1000, title="Chest")) == "Chest"


def test_a_long_instruction_is_titled_up_to_a_natural_break():
    def title(text):
        return compiler.step_title(Step("hold", text, 1000))

    # never on an article or a preposition: the cut goes back to the last word that ends a phrase
    assert title("Lie face down with the roller under your thighs and roll slowly to the knee.") == (
        "Lie face down with the roller…"
    )
    # a comma within the first eight words is the break
    assert title("Kneel on one knee, the ball pressed to your hip and your weight forward.") == "Kneel on one knee…"
    assert title("Sit tall with the ball under one foot, press down gently and roll it slowly.") == (
        "Sit tall with the ball under one foot…"
    )
    # a whole clause of up to ten words is kept whole
    whole = "Lie back, let your arms and legs go loose"
    assert title(f"{whole}, and breathe.") == whole


def test_no_title_derived_from_the_library_ends_mid_phrase():
    weak = {"the", "a", "an", "under", "with", "your", "of", "to", "on", "into", "and", "at", "against", "between"}
    titles = []
    for rid in library.builtin_ids():
        routine = library.load_routine(rid)
        words = phrases.for_language(routine.voice.language)
        for step in routine.steps:
            derived = compiler.step_title(dataclasses.replace(step, title=""), words)
            titles.append(derived)
            last = derived.rstrip("…").split()[-1].lower().strip(",")
            assert last not in weak | words.title_weak_endings(), (rid, derived)
            assert len(derived.rstrip("…").split()) <= compiler.TITLE_WORDS_WHOLE
    assert len(titles) > 50 and any(t.endswith("…") for t in titles)


def test_estimate_is_near_the_compiled_length():
    routine = shoulders()
    assert compiler.estimate_seconds(routine) == pytest.approx(compile_(routine).duration, rel=0.2)


def test_json_form_has_the_documented_fields():
    data = compile_(shoulders()).to_json()
    assert set(data) >= {"duration", "events", "segments"}
    speech = next(e for e in data["events"] if e["kind"] == "speech")
    tone = next(e for e in data["events"] if e["kind"] == "tone")
    assert set(speech) >= {"start", "end", "kind", "text", "step"}
    assert set(tone) >= {"start", "end", "kind", "name", "step"}
    assert set(data["segments"][0]) >= {"title", "phase", "side", "round", "start", "end"}
    assert data["segments"][-1]["end"] == data["duration"]


def test_json_times_have_three_decimals_and_exact_samples():
    timeline = compile_(shoulders())
    data = timeline.to_json()
    assert data["length"] == timeline.length
    items = [*data["events"], *data["segments"]]
    for item in items:
        for name in ("start", "end"):
            sample = item[f"{name}_sample"]
            assert isinstance(sample, int)
            assert item[name] == round(sample / timeline.rate, 3)
            assert len(repr(item[name]).split(".")[1]) <= 3
    assert [e["start_sample"] for e in data["events"]] == [e.start for e in timeline.events]
    bounds = [(g["start_sample"], g["end_sample"]) for g in data["segments"]]
    assert all(end == after for (_, end), (after, _) in zip(bounds, bounds[1:], strict=False))
    assert bounds[-1][1] == data["length"]


def hold_of(timeline, n=0):
    return [s for s in timeline.segments if s.phase == "hold"][n]


def said_in(timeline, segment):
    return [
        (e.start - segment.start, e.kind, e.text or e.name)
        for e in timeline.events
        if segment.start < e.start < segment.end
    ]


def test_counted_movements_are_said_on_every_beat_along_with_the_steps_own_cues():
    step = Step("warm-up", "Circle your ankle.", 40_000, count=10, say=(Say("Change direction.", at_fraction=0.5),))
    timeline = compile_(Routine(id="r", title="R", steps=(step,)))
    hold = hold_of(timeline)
    heard = said_in(timeline, hold)
    numbers = [
        (at, text) for at, kind, text in heard if text in {compiler.number_words(k).capitalize() for k in range(1, 11)}
    ]
    after = tone_length("start") + RATE * compiler.GAP_MS // 1000
    assert [text for _, text in numbers] == [
        "One",
        "Two",
        "Three",
        "Four",
        "Five",
        "Six",
        "Seven",
        "Eight",
        "Nine",
        "Ten",
    ]
    assert [at for at, _ in numbers] == [k * 4 * RATE + after for k in range(10)]
    assert any(text == "Change direction." for _, _, text in heard)  # the count does not crowd out the step's own cue
    assert not [h for h in heard if h[2] in ("tick", "halfway")]  # the count paces it: no countdown, no halfway


def test_a_count_too_quick_to_say_is_ticked_on_the_beats():
    step = Step("warm-up", "Tap.", 10_000, count=10)  # "Seven" cannot be said in a second of slow speech
    timeline = compiler.compile(
        Routine(id="r", title="R", steps=(step,)), lambda t: clip_length(t, 4.0), tone_length, RATE
    )
    hold = hold_of(timeline)
    assert said_in(timeline, hold) == [(k * RATE, "tone", "tick") for k in range(1, 10)]


def test_a_spoken_countdown_too_slow_for_its_seconds_is_ticked():
    routine = Routine(
        id="r",
        title="R",
        steps=(Step("hold", "Hold.", 20_000),),
        cues=Cues(countdown=3, countdown_style="spoken", halfway=False),
    )
    slow = compiler.compile(routine, lambda t: clip_length(t, 4.0), tone_length, RATE)
    hold = hold_of(slow)
    assert said_in(slow, hold) == [
        (17 * RATE, "tone", "tick"),
        (18 * RATE, "tone", "tick"),
        (19 * RATE, "tone", "tick"),
    ]


def test_placeholders_in_say_cues_know_the_side_round_and_next_step():
    step = Step(
        "stretch",
        "Stretch {side}.",
        20_000,
        sides=("left", "right"),
        repeat=2,
        say=(Say("{side}, round {round} of {rounds}, then {next}.", at_fraction=0.3),),
    )
    routine = Routine(id="r", title="R", steps=(step, Step("hold", "Hold.", 5000, title="The hold")))
    said = [e.text for e in compile_(routine).events if e.text.endswith("then The hold.")]
    assert said == [
        "left, round one of two, then The hold.",
        "right, round one of two, then The hold.",
        "left, round two of two, then The hold.",
        "right, round two of two, then The hold.",
    ]


def test_an_instruction_without_a_full_stop_is_still_its_own_sentence():
    routine = Routine(id="r", title="R", steps=(Step("hold", "Press gently", 3000),))
    assert "Next: Press gently. Three seconds. Get into position." in compiler.spoken_texts(routine)


def test_spoken_texts_hold_every_text_the_lengths_could_make_heard():
    """Whether a count is said or ticked depends on the clips' lengths, so every number
    must be synthesized beforehand, whatever the estimate chose."""
    routine = Routine(
        id="r", title="R", steps=(Step("warm-up", "Tap.", 12_000, count=12),), cues=Cues(countdown_style="spoken")
    )
    texts = set(compiler.spoken_texts(routine))
    assert {compiler.number_words(k).capitalize() for k in range(1, 13)} <= texts
    for scale in (0.3, 1.0, 4.0):
        timeline = compiler.compile(routine, lambda t, scale=scale: clip_length(t, scale), tone_length, RATE)
        assert {e.text for e in timeline.events if e.kind == "speech"} <= texts
