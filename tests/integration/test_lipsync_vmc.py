"""VMC output to a real UDP receiver that decodes the OSC packets; and the OSC codec on bad input."""

from __future__ import annotations

import asyncio
import logging
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from app.lipsync.cues import CueBatch
from app.lipsync.osc import OscError, OscMessage, decode_packet, encode_bundle, encode_message
from app.lipsync.service import LipSyncService
from app.lipsync.track import CueTrack
from app.lipsync.vmc import VmcOutput, VmcSettings, host_problem
from app.speech.sink import NullSink
from tests.unit.test_lipsync_cues import Recorder


class Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.packets.put_nowait((time.monotonic(), data))


async def receiver() -> tuple[asyncio.DatagramTransport, Receiver, int]:
    transport, protocol = await asyncio.get_running_loop().create_datagram_endpoint(
        Receiver, local_addr=("127.0.0.1", 0)
    )
    return transport, protocol, transport.get_extra_info("sockname")[1]


def blend(messages: list[OscMessage]) -> dict[str, float]:
    assert messages[-1] == OscMessage("/VMC/Ext/Blend/Apply")
    values = {}
    for message in messages[:-1]:
        assert message.address == "/VMC/Ext/Blend/Val"
        name, value = message.arguments
        assert isinstance(name, str) and isinstance(value, float)
        values[name] = value
    return values


@pytest.mark.parametrize(("names", "labels"), [("vrm0", "AIUEO"), ("vrm1", ["aa", "ih", "ou", "ee", "oh"])])
async def test_one_bundle_per_frame_when_it_is_due(names: str, labels: object) -> None:
    transport, protocol, port = await receiver()
    output = VmcOutput(VmcSettings(enabled=True, port=port, names=names))  # type: ignore[arg-type]
    await output.start()
    try:
        start_ms = time.monotonic() * 1000.0 + 100.0
        weights = np.array([[0.1 * i, 0.0, 0.5, 0.0, 0.25] for i in range(5)], np.float32)
        # A frame every 50 ms: a late frame is skipped in favour of the newest due one, and on a loaded machine a
        # 20 ms stall must not make this test lose one.
        output.cues(CueBatch("u1", start_ms, 20.0, weights))
        output.end("u1", start_ms + 250.0)
        received = [await asyncio.wait_for(protocol.packets.get(), 2.0) for _ in range(6)]
    finally:
        await output.close()
        transport.close()
    for index, (arrived, packet) in enumerate(received):
        time_tag, messages = decode_packet(packet)
        assert time_tag == 1
        values = blend(messages)
        assert list(values) == list(labels)  # type: ignore[call-overload]
        expected = [0.0] * 5 if index == 5 else weights[index].tolist()
        assert list(values.values()) == pytest.approx(expected, abs=1e-6)
        due_ms = start_ms + index * 50.0
        assert arrived * 1000.0 >= due_ms - 5.0, "never before the frame is due"
    # Spread over the 250 ms the frames cover, not sent in one burst (lateness depends on the machine's load).
    assert (received[-1][0] - received[0][0]) * 1000.0 >= 200.0


async def test_cancel_closes_at_once_and_drops_the_rest() -> None:
    transport, protocol, port = await receiver()
    output = VmcOutput(VmcSettings(enabled=True, port=port))
    await output.start()
    try:
        later = time.monotonic() * 1000.0 + 300.0
        output.cues(CueBatch("u1", later, 100.0, np.full((20, 5), 0.4, np.float32)))
        output.cancel("u1")
        _arrived, packet = await asyncio.wait_for(protocol.packets.get(), 1.0)
        assert set(blend(decode_packet(packet)[1]).values()) == {0.0}
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(protocol.packets.get(), 0.5)
    finally:
        await output.close()
        transport.close()


async def test_no_receiver_is_not_an_error() -> None:
    transport, _protocol, port = await receiver()
    transport.close()  # nobody listens on that port any more
    output = VmcOutput(VmcSettings(enabled=True, port=port))
    await output.start()
    try:
        output.cancel("u1")
        output.cancel("u1")
        await asyncio.sleep(0.05)
    finally:
        await output.close()


def test_osc_round_trip_and_bad_packets() -> None:
    message = OscMessage("/x/y", (1, 2.5, "héllo"))
    assert decode_packet(encode_message(message)) == (None, [message])
    bundle = encode_bundle([message, OscMessage("/z")], time_tag=7)
    assert len(bundle) % 4 == 0
    assert decode_packet(bundle) == (7, [message, OscMessage("/z")])
    for bad in (
        b"no-slash\0\0\0\0",
        b"/x\0\0,q\0\0",
        b"/x\0\0,i\0\0\0\0",
        b"#bundle\0\0\0",
        b"#bundle\0" + struct.pack(">Q", 1) + struct.pack(">i", 99) + b"/x\0\0",
        b"/unterminated",
    ):
        with pytest.raises(OscError):
            decode_packet(bad)
    with pytest.raises(OscError):
        encode_message(OscMessage("/x", (True,)))
    with pytest.raises(ValueError):
        VmcSettings(port=0)


async def test_vmc_settings_apply_while_the_app_runs(tmp_path: Path) -> None:
    first, first_protocol, first_port = await receiver()
    second, second_protocol, second_port = await receiver()
    service = LipSyncService(NullSink(24_000), None, tmp_path, voice=lambda: "espeak:en-us")
    try:
        assert service.vmc_output is None and service.scheduler.outputs == []
        await service.set_vmc(VmcSettings(enabled=True, port=first_port))
        weights = np.full((2, 5), 0.5, np.float32)
        for output in service.scheduler.outputs:
            output.cues(CueBatch("u1", time.monotonic() * 1000.0, 50.0, weights))
        await asyncio.wait_for(first_protocol.packets.get(), 2.0)
        # Another port: the old output stops, the new one receives the next cues.
        await service.set_vmc(VmcSettings(enabled=True, port=second_port))
        assert len(service.scheduler.outputs) == 1 and service.vmc_output is service.scheduler.outputs[0]
        service.scheduler.outputs[0].cues(CueBatch("u2", time.monotonic() * 1000.0, 50.0, weights))
        await asyncio.wait_for(second_protocol.packets.get(), 2.0)
        await service.set_vmc(VmcSettings(enabled=False, port=second_port))
        assert service.vmc_output is None and service.scheduler.outputs == []
    finally:
        await service.close()
        first.close()
        second.close()


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("", "the VMC host is empty"),
        ("   ", "the VMC host is empty"),
        ("bad host!", "is neither a host name nor an IP address"),
        ("-leading.example", "is neither a host name nor an IP address"),
        ("a" * 64 + ".example", "is neither a host name nor an IP address"),
        ("0.0.0.0", "unspecified address"),
        ("255.255.255.255", "broadcast address"),
    ],
)
def test_hosts_that_cannot_receive_are_named(host: str, reason: str) -> None:
    problem = host_problem(host)
    assert problem is not None and reason in problem


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "vmc-receiver.lan", "studio_pc.local."])
def test_host_names_and_addresses_pass(host: str) -> None:
    assert host_problem(host) is None


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("no.such.host.invalid", "cannot send VMC packets to no.such.host.invalid:39539"),
        ("255.255.255.255", "broadcast address"),
        ("", "the VMC host is empty"),
    ],
)
async def test_a_bad_vmc_host_is_reported_and_lip_sync_goes_on(
    host: str, reason: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    service = LipSyncService(
        NullSink(22_050), None, tmp_path, voice=lambda: "espeak:en-us", vmc=VmcSettings(enabled=True, host=host)
    )
    stage = Recorder()
    service.scheduler.add_output(stage)
    with caplog.at_level(logging.WARNING, logger="app.lipsync"):
        await service.start()  # returns: the app keeps running
    try:
        assert service.vmc_problem is not None and service.vmc_problem.startswith("VMC output is off: ")
        assert reason in service.vmc_problem
        assert service.vmc_problem in caplog.text
        assert service.vmc_output is None and service.scheduler.outputs == [stage]
        track = CueTrack(0.0, 100.0, np.full((5, 5), 0.2, np.float32))
        for output in service.scheduler.outputs:
            output.cues(CueBatch("u1", 0.0, track.frame_rate, track.weights))
        assert stage.batches(), "the other outputs still get cues"
    finally:
        await service.close()


async def test_a_good_vmc_host_starts_with_no_problem(tmp_path: Path) -> None:
    transport, protocol, port = await receiver()
    service = LipSyncService(
        NullSink(22_050), None, tmp_path, voice=lambda: "espeak:en-us", vmc=VmcSettings(enabled=True, port=port)
    )
    await service.start()
    try:
        assert service.vmc_problem is None and service.vmc_output is not None
        service.vmc_output.cancel("u1")  # a cancel sends one closed-mouth bundle at once
        _arrived, packet = await asyncio.wait_for(protocol.packets.get(), 2.0)
        _tag, messages = decode_packet(packet)
        assert blend(messages) == dict.fromkeys("AIUEO", 0.0)
    finally:
        await service.close()
        transport.close()
