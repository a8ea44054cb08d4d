"""The devtools' envelope log: types, sizes, round trips matched by id, filters, bad frames."""

from __future__ import annotations

from app.devtools.envelope_log import EnvelopeLog


def test_replies_get_the_round_trip_time_of_their_request_either_way() -> None:
    now = [100.0]
    log = EnvelopeLog(clock=lambda: now[0])
    log.add("out", '{"v": 1, "type": "scene.apply", "id": "h1", "payload": {}}')
    now[0] += 0.25
    reply = log.add("in", '{"v": 1, "type": "scene.applied", "re": "h1", "payload": {}}')
    assert reply.rtt_ms == 250.0 and reply.type == "scene.applied" and reply.re == "h1"
    log.add("in", '{"v": 1, "type": "ping", "id": "s7", "payload": {"t0": 1}}')
    now[0] += 0.002
    pong = log.add("out", '{"v": 1, "type": "pong", "re": "s7", "payload": {}}')
    assert pong.rtt_ms is not None and abs(pong.rtt_ms - 2.0) < 1e-6
    stray = log.add("in", '{"v": 1, "type": "error", "re": "nobody", "payload": {}}')
    assert stray.rtt_ms is None


def test_sizes_are_bytes_and_bad_frames_are_logged_not_dropped() -> None:
    log = EnvelopeLog()
    entry = log.add("in", '{"type": "stage.log", "payload": {"message": "héllo"}}')
    assert entry.size == len('{"type": "stage.log", "payload": {"message": "héllo"}}'.encode())
    assert log.add("in", "not json").type == "(not an envelope)"
    assert log.add("in", b"\xff\xfe").type == "(not an envelope)"
    assert log.add("in", "[1, 2]").type == "(not an envelope)"


def test_filter_by_type_and_the_log_keeps_only_the_latest() -> None:
    log = EnvelopeLog(limit=3)
    for type_ in ("ping", "pong", "scene.apply", "scene.applied"):
        log.add("out", f'{{"type": "{type_}"}}')
    assert [e.type for e in log.entries] == ["pong", "scene.apply", "scene.applied"]
    assert [e.type for e in log.matching("SCENE")] == ["scene.apply", "scene.applied"]
    assert len(log.matching("")) == 3 and log.types() == ["pong", "scene.applied", "scene.apply"]
    heard: list[str] = []
    log.subscribe(lambda e: heard.append(e.type))
    log.add("in", '{"type": "stage.state"}')
    assert heard == ["stage.state"]
