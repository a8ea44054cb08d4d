"""Speech: text to ordered, abortable audio (segmenter, sessions, providers by transport, playback sinks).

Plain asyncio; Qt appears only in the optional QtMultimedia sink adapter, imported lazily.
"""
