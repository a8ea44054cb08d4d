extends RefCounted
## The queued mouth-cue frames of the `speech.*` stream (docs/protocol.md section 8), on the stage's
## clock. `sample(now_ms)` interpolates linearly between the two frames around `now_ms`; where no
## frame is due (a gap, before the first, after the last) the mouth is closed.

const VOWELS := ["aa", "ih", "ou", "ee", "oh"]
## A batch whose last frame is this far in the past is dropped.
const KEEP_PAST_MS := 200.0
const MAX_BATCHES := 4096

## Each batch: {"utterance": String, "start_ms": float, "frame_ms": float, "frames": Array}.
var batches: Array[Dictionary] = []
var utterance: Variant = null
## Cue frames received since the stage started, and how many of them came late: due at or before
## the last rendered frame (which was drawn without them), so shown late or never. A frame due
## between two rendered frames that arrives before the second is in time: no renderer at this
## frame rate could have shown it earlier.
var received_frames := 0
var late_frames := 0
## The least time before its first frame was due that a batch was read off the bridge (INF before
## any): the host's margin less the trip and the wait for the stage's next frame (the bridge is
## polled once per rendered frame).
var least_ahead_ms := INF
## When the utterance ended (`speech.end`): the mouth closes from then on.
var _end_ms: float = INF


## Returns an empty string when the batch was queued, else why not. `now_ms`: its arrival;
## `rendered_ms`: the time the last rendered frame was sampled for.
func add(
	name: String,
	start_ms: float,
	frame_rate: float,
	frames: Array,
	now_ms: float,
	rendered_ms: float,
) -> String:
	if frame_rate <= 0.0 or frame_rate > 240.0:
		return "frameRate must be within (0, 240]"
	if frames.is_empty() or frames.size() > 120:
		return "frames must hold 1-120 frames"
	var checked: Array = []
	for frame: Variant in frames:
		if typeof(frame) != TYPE_ARRAY or frame.size() != VOWELS.size():
			return "every frame must be an array of 5 weights"
		var weights := PackedFloat32Array()
		for weight: Variant in frame:
			if typeof(weight) != TYPE_FLOAT and typeof(weight) != TYPE_INT:
				return "weights must be numbers"
			if weight < 0.0 or weight > 1.0:
				return "weights must be within [0, 1]"
			weights.append(float(weight))
		checked.append(weights)
	if utterance != name:
		batches.clear()
		utterance = name
		_end_ms = INF
	if batches.size() >= MAX_BATCHES:
		batches.pop_front()
	var frame_ms := 1000.0 / frame_rate
	batches.append({"start_ms": start_ms, "frame_ms": frame_ms, "frames": checked})
	received_frames += checked.size()
	least_ahead_ms = minf(least_ahead_ms, start_ms - now_ms)
	if rendered_ms >= start_ms:
		late_frames += mini(checked.size(), int(floorf((rendered_ms - start_ms) / frame_ms)) + 1)
	return ""


func finish(name: String, end_ms: float) -> void:
	if utterance == name:
		_end_ms = end_ms


func clear() -> void:
	batches.clear()
	utterance = null
	_end_ms = INF


func queued_frames() -> int:
	var count := 0
	for batch in batches:
		count += batch["frames"].size()
	return count


func sample(now_ms: float) -> PackedFloat32Array:
	var closed := PackedFloat32Array([0.0, 0.0, 0.0, 0.0, 0.0])
	while not batches.is_empty() and _batch_end(batches[0]) < now_ms - KEEP_PAST_MS:
		batches.pop_front()
	if now_ms >= _end_ms:
		clear()
		return closed
	for index in batches.size():
		var batch: Dictionary = batches[index]
		var frames: Array = batch["frames"]
		var position: float = (now_ms - batch["start_ms"]) / batch["frame_ms"]
		if position < 0.0 or position >= frames.size():
			continue
		var first := int(position)
		var after := closed
		if first + 1 < frames.size():
			after = frames[first + 1]
		elif index + 1 < batches.size():
			after = _first_frame_if_adjacent(batch, batches[index + 1])
		return _mix(frames[first], after, position - first)
	return closed


func _batch_end(batch: Dictionary) -> float:
	return batch["start_ms"] + batch["frames"].size() * batch["frame_ms"]


func _first_frame_if_adjacent(batch: Dictionary, following: Dictionary) -> PackedFloat32Array:
	# The next batch continues this one when it starts within half a frame of this one's end.
	if absf(following["start_ms"] - _batch_end(batch)) <= batch["frame_ms"] * 0.5:
		return following["frames"][0]
	return PackedFloat32Array([0.0, 0.0, 0.0, 0.0, 0.0])


func _mix(a: PackedFloat32Array, b: PackedFloat32Array, t: float) -> PackedFloat32Array:
	var mixed := PackedFloat32Array()
	for k in a.size():
		mixed.append(lerpf(a[k], b[k], t))
	return mixed
