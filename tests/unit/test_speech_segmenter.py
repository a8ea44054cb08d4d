"""The segmenter's rules, one test each, and a property test: nothing lost, nothing repeated."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.speech.segmenter import Segment, Segmenter, SegmenterOptions, spoken_form, weight


def feed(text: str, *, step: int = 3, options: SegmenterOptions | None = None) -> list[Segment]:
    """Push ``text`` in small tokens 10 ms apart (never idle), then finish."""
    segmenter = Segmenter(options)
    segments: list[Segment] = []
    for n, start in enumerate(range(0, len(text), step)):
        segments += segmenter.push(text[start : start + step], now=n * 0.01)
    return segments + segmenter.finish()


def speech(segments: list[Segment]) -> list[str]:
    return [segment.speech for segment in segments]


def test_hard_boundaries_end_segments_and_the_remainder_is_flushed_on_finish() -> None:
    text = "The weather is lovely today. Shall we go for a walk? I would love that! And then"
    assert speech(feed(text)) == [
        "The weather is lovely today.",
        "Shall we go for a walk?",
        "I would love that!",
        "And then",
    ]


def test_a_whole_reply_at_once_is_cut_at_its_sentences_as_a_stream_would_be() -> None:
    text = " ".join(f"This is sentence number {n}, which takes a while to say." for n in range(12))
    segmenter = Segmenter()
    at_once = segmenter.push(text, now=0.0) + segmenter.finish()
    assert speech(at_once) == speech(feed(text))
    assert speech(at_once)[:3] == [
        "This is sentence number 0,",
        "which takes a while to say.",
        "This is sentence number 1, which takes a while to say.",
    ]


def test_short_sentences_merge_until_the_minimum_weight() -> None:
    assert speech(feed("Hi! Yes. Okay then, see you at the station.")) == [
        "Hi! Yes. Okay then,",
        "see you at the station.",
    ]


def test_the_first_segment_ends_early_at_a_soft_boundary_later_ones_do_not() -> None:
    text = "Well, as I was saying yesterday, the garden needs water, light and some patience."
    segments = feed(text)
    assert speech(segments)[0] == "Well, as I was saying yesterday,"
    assert segments[0].reason == "early"
    assert speech(segments)[1] == "the garden needs water, light and some patience."


def test_decimals_thousands_times_and_abbreviations_never_split() -> None:
    text = "Mr. Smith paid 3.14 dollars for 1,000 apples at 12:30 today. Dr. Who, e.g. the U.S. one, agreed."
    assert speech(feed(text, step=1)) == [
        "Mr. Smith paid 3.14 dollars for 1,000 apples at 12:30 today.",
        "Dr. Who, e.g. the U.S. one, agreed.",
    ]


def test_a_trailing_boundary_waits_for_the_next_character() -> None:
    segmenter = Segmenter()
    assert segmenter.push("The price is 3.", now=0.0) == []  # may become 3.5
    assert speech(segmenter.push("5 euros. Then", now=0.01)) == ["The price is 3.5 euros."]
    segmenter = Segmenter()
    assert segmenter.push("I am not sure about this.", now=0.0) == []  # may become "this..."
    assert speech(segmenter.push(".. well", now=0.01)) == ["I am not sure about this..."]


def test_cjk_punctuation_is_a_boundary_and_wide_characters_weigh_double() -> None:
    text = "今天天气很好。我们去公园散步吧！好的"  # noqa: RUF001
    assert speech(feed(text)) == ["今天天气很好。", "我们去公园散步吧！", "好的"]  # noqa: RUF001


def test_newlines_are_hard_boundaries() -> None:
    assert speech(feed("First line without a stop\nsecond line also without one\n")) == [
        "First line without a stop",
        "second line also without one",
    ]


def test_idle_flushes_a_short_sentence_but_not_a_half_sentence() -> None:
    segmenter = Segmenter(SegmenterOptions(idle_flush_s=0.25))
    assert segmenter.push("Hello.", now=1.0) == []
    assert segmenter.idle_deadline() == 1.25
    assert segmenter.poll(now=1.2) == []
    flushed = segmenter.poll(now=1.26)
    assert speech(flushed) == ["Hello."] and flushed[0].reason == "idle"
    assert segmenter.push(" And then I went", now=2.0) == []
    assert segmenter.poll(now=3.0) == []  # no boundary: a stalled model must not cut mid-sentence
    assert speech(segmenter.finish()) == ["And then I went"]


def test_long_runs_split_at_a_word_boundary_below_the_maximum() -> None:
    words = " ".join(f"word{n}" for n in range(60))
    segments = feed(words, options=SegmenterOptions(max_weight=50))
    assert all(len(segment.speech.replace(" ", "")) <= 50 for segment in segments)
    assert all(not part.startswith(("ord", "rd")) for part in speech(segments))  # no word cut in half
    assert " ".join(speech(segments)) == words
    assert {segment.reason for segment in segments[:-1]} == {"max"}


def test_a_long_run_without_spaces_is_still_split() -> None:
    segments = feed("あ" * 120, options=SegmenterOptions(max_weight=50))
    assert [len(segment.speech) for segment in segments] == [25, 25, 25, 25, 20]


def test_emoji_and_markup_are_shown_but_not_spoken() -> None:
    segments = feed("**Great** news 🎉! The `build` passed. ✨")
    assert [segment.text for segment in segments] == ["**Great** news 🎉! The `build` passed.", " ✨"]
    assert speech(segments) == ["Great news ! The build passed.", ""]


def test_finish_flushes_exactly_once_and_then_refuses_text() -> None:
    segmenter = Segmenter()
    segmenter.push("unfinished thought", now=0.0)
    assert speech(segmenter.finish()) == ["unfinished thought"]
    assert segmenter.finish() == []
    try:
        segmenter.push("more", now=1.0)
    except RuntimeError:
        pass
    else:
        raise AssertionError("push after finish must fail")


ALPHABET = st.sampled_from(
    list("abcdefgh XYZ 0123456789")
    + list(".,!?;:…\n\"')(")
    + ["Mr", "e.g", "3.14", "。", "\uff0c", "你", "好", "😀", "**", "`", "‍"]
)


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(ALPHABET, max_size=120),
    cuts=st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=20),
    idle_after=st.sets(st.integers(min_value=0, max_value=40)),
    max_weight=st.integers(min_value=20, max_value=80),
)
def test_joined_spoken_segments_equal_the_normalised_input(
    pieces: list[str], cuts: list[int], idle_after: set[int], max_weight: int
) -> None:
    text = "".join(pieces)
    segmenter = Segmenter(SegmenterOptions(max_weight=max_weight))
    segments: list[Segment] = []
    now = 0.0
    position = 0
    token = 0
    while position < len(text):
        size = cuts[token % len(cuts)]
        now += 0.01
        segments += segmenter.push(text[position : position + size], now)
        position += size
        if token in idle_after:
            now += 1.0
            segments += segmenter.poll(now)
        token += 1
    segments += segmenter.finish()

    joined_display = "".join(segment.text for segment in segments)
    assert text.startswith(joined_display) and not text[len(joined_display) :].strip()
    # the trailing rest is whitespace only, so this is the whole input's spoken form
    assert "".join(segment.spoken for segment in segments) == spoken_form(joined_display)
    assert [segment.index for segment in segments] == list(range(len(segments)))
    assert all(segment.speech for segment in segments[:-1])
    assert all(weight(segment.spoken) <= max_weight for segment in segments)


def test_question_and_exclamation_marks_end_a_sentence_without_waiting_for_more() -> None:
    segmenter = Segmenter()
    assert speech(segmenter.push("Would you like some tea?", now=0.0)) == ["Would you like some tea?"]
    assert speech(segmenter.push("That sounds wonderful!", now=0.01)) == ["That sounds wonderful!"]
