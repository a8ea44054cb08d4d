"""The accelerator model: both spellings, aliases, and an error that names each kind of mistake."""

from __future__ import annotations

from random import Random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.shortcuts.accelerator import (
    KEY_CODES,
    STANDALONE_KEYS,
    Accelerator,
    AcceleratorError,
    Modifier,
    parse_accelerator,
)


def test_parses_the_familiar_form_with_aliases() -> None:
    assert parse_accelerator("Ctrl+Shift+K") == Accelerator.of("KeyK", Modifier.CTRL, Modifier.SHIFT)
    assert parse_accelerator(" cmdorctrl + alt + space ") == Accelerator.of("Space", Modifier.CMD_OR_CTRL, Modifier.ALT)
    assert parse_accelerator("Command+Option+Esc") == Accelerator.of("Escape", Modifier.SUPER, Modifier.ALT)
    assert parse_accelerator("Control+Meta+Up") == Accelerator.of("ArrowUp", Modifier.CTRL, Modifier.SUPER)
    assert parse_accelerator("Mod+1") == Accelerator.of("Digit1", Modifier.CMD_OR_CTRL)
    assert parse_accelerator("Alt+/") == Accelerator.of("Slash", Modifier.ALT)
    assert parse_accelerator("Win+Return") == Accelerator.of("Enter", Modifier.SUPER)
    assert parse_accelerator("Ctrl+PgDn") == Accelerator.of("PageDown", Modifier.CTRL)


@pytest.mark.parametrize(
    ("electron", "key"),
    [
        ("Space", "Space"),
        ("Tab", "Tab"),
        ("Backspace", "Backspace"),
        ("Delete", "Delete"),
        ("Insert", "Insert"),
        ("Return", "Enter"),
        ("Enter", "Enter"),
        ("Up", "ArrowUp"),
        ("Down", "ArrowDown"),
        ("Left", "ArrowLeft"),
        ("Right", "ArrowRight"),
        ("Home", "Home"),
        ("End", "End"),
        ("PageUp", "PageUp"),
        ("PageDown", "PageDown"),
        ("Escape", "Escape"),
        ("Esc", "Escape"),
        ("VolumeUp", "AudioVolumeUp"),
        ("VolumeDown", "AudioVolumeDown"),
        ("VolumeMute", "AudioVolumeMute"),
        ("MediaNextTrack", "MediaTrackNext"),
        ("MediaPreviousTrack", "MediaTrackPrevious"),
        ("MediaStop", "MediaStop"),
        ("MediaPlayPause", "MediaPlayPause"),
        ("PrintScreen", "PrintScreen"),
        *((f"num{d}", f"Numpad{d}") for d in range(10)),
        ("numdec", "NumpadDecimal"),
        ("numadd", "NumpadAdd"),
        ("numsub", "NumpadSubtract"),
        ("nummult", "NumpadMultiply"),
        ("numdiv", "NumpadDivide"),
    ],
)
def test_electrons_key_names_parse(electron: str, key: str) -> None:
    assert parse_accelerator(f"CmdOrCtrl+Alt+{electron}") == Accelerator.of(key, Modifier.CMD_OR_CTRL, Modifier.ALT)


def test_plus_is_shift_and_the_equal_key_as_in_electron() -> None:
    zoom_in = Accelerator.of("Equal", Modifier.CMD_OR_CTRL, Modifier.SHIFT)
    assert parse_accelerator("CmdOrCtrl+Plus") == zoom_in
    assert parse_accelerator("CmdOrCtrl+Shift+plus") == zoom_in
    assert parse_accelerator(zoom_in.canonical()) == zoom_in
    with pytest.raises(AcceleratorError) as two:
        parse_accelerator("Ctrl+Plus+K")
    assert two.value.code == "two-keys"


def test_cmd_or_ctrl_is_ctrl_except_on_macos() -> None:
    accelerator = parse_accelerator("CmdOrCtrl+Shift+K")
    assert accelerator.on_platform("linux") == parse_accelerator("Ctrl+Shift+K")
    assert accelerator.on_platform("win32") == parse_accelerator("Ctrl+Shift+K")
    assert accelerator.on_platform("darwin") == parse_accelerator("Cmd+Shift+K")
    assert parse_accelerator("Ctrl+K").on_platform("darwin") == parse_accelerator("Ctrl+K")


def test_parses_the_canonical_form_in_any_case_and_order() -> None:
    expected = Accelerator.of("KeyK", Modifier.CMD_OR_CTRL, Modifier.SHIFT)
    assert parse_accelerator("CmdOrCtrl+Shift+KeyK") == expected
    assert parse_accelerator("shift+cmdorctrl+keyk") == expected


def test_prints_canonical_with_fixed_modifier_order() -> None:
    accelerator = parse_accelerator("Super+Shift+Alt+Ctrl+CmdOrCtrl+ArrowLeft")
    assert accelerator.canonical() == "CmdOrCtrl+Ctrl+Alt+Shift+Super+ArrowLeft"
    assert accelerator.familiar() == "CmdOrCtrl+Ctrl+Alt+Shift+Super+Left"


def test_familiar_form_names_keys_as_people_do_and_resolves_per_platform() -> None:
    accelerator = parse_accelerator("CmdOrCtrl+Alt+Shift+Period")
    assert accelerator.familiar() == "CmdOrCtrl+Alt+Shift+."
    assert accelerator.familiar("linux") == "Ctrl+Alt+Shift+."
    assert accelerator.familiar("darwin") == "Cmd+Option+Shift+."
    assert parse_accelerator("Super+KeyE").familiar("win32") == "Win+E"


@pytest.mark.parametrize(
    ("text", "code", "named"),
    [
        ("", "empty", ""),
        ("   ", "empty", ""),
        ("Ctrl++K", "empty-token", "empty part"),
        ("Ctrl+K+", "empty-token", "empty part"),
        ("Ctrl+Hyper", "unknown-key", "'Hyper'"),
        ("Ctrl+Control+K", "duplicate-modifier", "Ctrl twice"),
        ("Cmd+Super+K", "duplicate-modifier", "Super twice"),
        ("Ctrl+Shift", "no-key", "no key"),
        ("Ctrl+K+J", "two-keys", "KeyK and KeyJ"),
        ("K", "needs-modifier", "K needs"),
        ("Shift+K", "needs-modifier", "K needs"),
        ("Space", "needs-modifier", "Space needs"),
    ],
)
def test_errors_name_the_problem(text: str, code: str, named: str) -> None:
    with pytest.raises(AcceleratorError) as raised:
        parse_accelerator(text)
    assert raised.value.code == code
    assert named in raised.value.message


def test_function_and_media_keys_may_stand_alone() -> None:
    assert parse_accelerator("F5") == Accelerator.of("F5")
    assert parse_accelerator("Shift+F12") == Accelerator.of("F12", Modifier.SHIFT)
    assert parse_accelerator("MediaPlayPause") == Accelerator.of("MediaPlayPause")
    assert parse_accelerator("K", require_modifier=False) == Accelerator.of("KeyK")


def test_an_accelerator_refuses_an_unknown_key_code() -> None:
    with pytest.raises(AcceleratorError, match="unknown key 'Hyper'"):
        Accelerator.of("Hyper", Modifier.CTRL)


accelerators = st.builds(
    lambda key, modifiers: Accelerator(frozenset(modifiers), key),
    st.sampled_from(KEY_CODES),
    st.sets(st.sampled_from(list(Modifier))),
).filter(lambda a: a.key in STANDALONE_KEYS or bool(a.modifiers - {Modifier.SHIFT}))


@given(accelerators)
def test_canonical_round_trips(accelerator: Accelerator) -> None:
    assert parse_accelerator(accelerator.canonical()) == accelerator


@given(accelerators)
def test_familiar_round_trips(accelerator: Accelerator) -> None:
    assert parse_accelerator(accelerator.familiar()) == accelerator


@given(accelerators, st.randoms())
def test_modifier_order_and_case_do_not_matter(accelerator: Accelerator, random: Random) -> None:
    tokens = accelerator.canonical().split("+")
    modifiers, key = tokens[:-1], tokens[-1]
    random.shuffle(modifiers)
    shuffled = "+".join([*(m.upper() for m in modifiers), key.lower()])
    assert parse_accelerator(shuffled) == accelerator


@given(st.text(max_size=30))
def test_any_text_parses_or_raises_a_coded_error(text: str) -> None:
    try:
        parse_accelerator(text)
    except AcceleratorError as error:
        assert error.code in {
            "empty",
            "empty-token",
            "unknown-key",
            "duplicate-modifier",
            "no-key",
            "two-keys",
            "needs-modifier",
        }
