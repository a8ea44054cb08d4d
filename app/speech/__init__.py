"""Speech: text to ordered, abortable audio (segmenter, sessions, providers by transport, playback sinks).

Plain asyncio; Qt appears only in the optional QtMultimedia sink adapter, imported lazily.

Map: ``events`` (what sessions report) - ``segmenter`` - ``session`` (the interface, the segmented session) -
``providers`` (definitions, settings, keys) - ``factory`` (the only branch on transport) - ``espeak`` (local),
``http_provider``, ``ws_provider`` - ``sink`` / ``qt_sink`` (playback clock) - ``player`` (the Speaker: ordered
playback, abort, hot swap) - ``service`` (what the composition root builds) - ``chat`` (optional language model) -
``cli`` (``python -m app say``).

For lip sync, time comes from one place, the sink's playback clock:
- ``SpeakerHooks.on_audio`` receives each :class:`~app.speech.player.ScheduledAudio` before it is written: its PCM
  at the sink's rate, the sink samples ``[sink_start, sink_end)`` it will occupy, and the provider's word and phoneme
  marks converted to sink samples. Cues can therefore be computed before the audio is heard.
- ``AudioSink.time_of(sample)`` converts a sink sample to the monotonic time at which it is heard;
  ``AudioSink.position()`` is the sample being heard now.
- ``SpeakerHooks.on_audio_end`` fires when a turn's last audio was written, while it is still to be heard.
- ``SpeakerHooks.on_mouth_close`` fires when a turn ends, fails, is aborted or is replaced by a hot swap.
"""
