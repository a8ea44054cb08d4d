extends RefCounted
## An idle blink: every 2-6 s (random) the eyes close over 60 ms and open over 100 ms.

const CLOSE_MS := 60.0
const OPEN_MS := 100.0
const MIN_INTERVAL_MS := 2000.0
const MAX_INTERVAL_MS := 6000.0

var _rng := RandomNumberGenerator.new()
var _next_ms: float = -1.0


## The next blink comes 2-6 s after `now_ms` (a new avatar does not blink as it appears).
func restart(now_ms: float) -> void:
	_next_ms = now_ms + _rng.randf_range(MIN_INTERVAL_MS, MAX_INTERVAL_MS)


func weight(now_ms: float) -> float:
	if _next_ms < 0.0:
		_next_ms = now_ms + _rng.randf_range(MIN_INTERVAL_MS, MAX_INTERVAL_MS)
	var since := now_ms - _next_ms
	if since < 0.0:
		return 0.0
	if since < CLOSE_MS:
		return since / CLOSE_MS
	if since < CLOSE_MS + OPEN_MS:
		return 1.0 - (since - CLOSE_MS) / OPEN_MS
	_next_ms = now_ms + _rng.randf_range(MIN_INTERVAL_MS, MAX_INTERVAL_MS)
	return 0.0
