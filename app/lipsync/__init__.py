"""Lip sync: mouth shapes (visemes aa, ih, ou, ee, oh) computed from speech before it is heard.

Plain Python + numpy. Map: ``track`` (the cue track: frames of five weights) - ``features`` (streaming MFCC-like
spectral frames with a loudness envelope) - ``profile`` (per-voice vowel profiles, their store and calibration) -
``espeak_voice`` / ``provider_voice`` (calibration through espeak or any provider's session) - ``audio`` (the audio
path: any provider's PCM to raw mouth frames) - ``phonemes`` (the phoneme path: espeak's IPA marks to visemes with
coarticulation) - ``shaping`` (top two vowels, attack faster than release, silence gate, anticipation lead) -
``cues`` (the scheduler on the Speaker's hooks: timed, re-anchored batches) - ``stage_output`` (``speech.*`` over
the bridge) - ``osc`` / ``vmc`` (optional VMC output) - ``service`` (what the composition root builds) - ``cli``
(``python -m app lipsync analyze|calibrate``, ``say --cues``).

Both paths produce :class:`~app.lipsync.track.RawFrames` (how open the mouth is, and which vowel it shapes) on the
same frame grid; :class:`~app.lipsync.shaping.Shaper` turns them into the :class:`~app.lipsync.track.CueTrack` the
stage and VMC receivers play.
"""
