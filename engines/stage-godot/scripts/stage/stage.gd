extends Node3D
## The stage: connects to the host, shows the avatar it is given, answers what the host asks.

const BridgeClient := preload("res://scripts/bridge/bridge_client.gd")
const BridgeConfig := preload("res://scripts/bridge/bridge_config.gd")
const AvatarLoader := preload("res://scripts/avatar/avatar_loader.gd")
const VrmExpressions := preload("res://scripts/avatar/vrm_expressions.gd")
const StageLogger := preload("res://scripts/stage/stage_logger.gd")
const CueTrack := preload("res://scripts/speech/cue_track.gd")
const IdleBlink := preload("res://scripts/speech/idle_blink.gd")
const EXIT_HOST_LOST := 3
const MAX_MODEL_BYTES := 1 << 30
const SHA256_PATTERN := "^[0-9a-f]{64}$"
## Room for the envelope around a captured frame's base64 text.
const CAPTURE_ENVELOPE_BYTES := 1024

var _bridge := BridgeClient.new()
var _logger := StageLogger.new()
var _avatar: Node3D = null
var _model_id: Variant = null
var _expressions := VrmExpressions.new()
var _weights: Dictionary = {}
var _applying := false
var _quitting := false
var _started_ms := Time.get_ticks_msec()
var _cues := CueTrack.new()
var _blink := IdleBlink.new()
var _mouth := PackedFloat32Array([0.0, 0.0, 0.0, 0.0, 0.0])
var _blink_weight := 0.0
## The stage-clock time the applied mouth weights were sampled for.
var _mouth_sampled_ms := 0.0
## Stage clock minus host clock from `host.welcome`, for cue times the host could not convert yet.
var _welcome_offset_ms := 0.0
var _mouth_missing_reported := false

@onready var _avatar_root: Node3D = $AvatarRoot
@onready var _camera: Camera3D = $Camera3D


func _ready() -> void:
	OS.add_logger(_logger)
	var url := BridgeConfig.bridge_url()
	if url.is_empty():
		push_warning(
			(
				"No --bridge-url user argument: running without a host. Start the stage from the app, "
				+ "or pass `-- --bridge-url=... --bridge-token=...` (see docs/live-debugging.md)."
			)
		)
		return
	_bridge.capabilities = PackedStringArray(
		["scene.url", "stage.snapshot", "stage.capture", "speech.cues"]
	)
	if not OS.has_feature("web"):
		_bridge.capabilities.insert(0, "scene.path")
	_bridge.request_received.connect(_on_request)
	_bridge.event_received.connect(_on_speech_event)
	_bridge.welcomed.connect(_on_welcomed)
	_bridge.lost.connect(_on_bridge_lost)
	var error := _bridge.open(url, BridgeConfig.token())
	if error != OK:
		_on_bridge_lost("could not open %s: %s" % [url, error_string(error)])


func _process(_delta: float) -> void:
	_bridge.poll()
	var now_ms := Time.get_ticks_usec() / 1000.0
	_mouth_sampled_ms = now_ms
	_drive_face(_cues.sample(now_ms), _blink.weight(now_ms))
	if _bridge.phase == BridgeClient.Phase.READY:
		for entry in _logger.drain():
			_bridge.send_event("stage.log", entry)


func _on_welcomed(welcome: Dictionary) -> void:
	var host_ms: Variant = welcome.get("hostTimeMs")
	if typeof(host_ms) == TYPE_FLOAT or typeof(host_ms) == TYPE_INT:
		_welcome_offset_ms = Time.get_ticks_usec() / 1000.0 - float(host_ms)
	_note("connected to the host (session %s)" % welcome.get("session", "?"))


## A notable event of the stage's own: printed, and sent to the host as an info `stage.log`.
func _note(message: String) -> void:
	print("stage: " + message)
	if _bridge.phase == BridgeClient.Phase.READY:
		var entry := {"level": "info", "message": message, "source": "stage"}
		_bridge.send_event("stage.log", entry)


func _on_bridge_lost(reason: String) -> void:
	printerr("stage: quitting, the bridge is gone: %s" % reason)
	_quit(EXIT_HOST_LOST)


func _quit(code: int) -> void:
	if _quitting:
		return
	_quitting = true
	OS.remove_logger(_logger)
	get_tree().quit(code)


func _on_request(message: Dictionary) -> void:
	var request_id: String = message["id"]
	match message["type"]:
		"scene.apply":
			_apply_scene(request_id, message["payload"])
		"stage.snapshot":
			_bridge.send_reply(request_id, "stage.state", _snapshot())
		"stage.capture":
			_capture(request_id)
		"host.shutdown":
			_bridge.send_reply(request_id, "stage.bye", {})
			_bridge.close("the host asked the stage to quit")
			_quit(0)
		_:
			var kind: String = message["type"]
			_bridge.send_error(request_id, "unknown-type", "the stage does not handle %s" % kind)


## The `speech.*` cue stream (docs/protocol.md section 8). A bad event is answered with an error
## event and changes nothing.
func _on_speech_event(message: Dictionary) -> void:
	var kind: String = message["type"]
	var payload: Dictionary = message["payload"]
	var utterance: Variant = payload.get("utterance")
	var problem := ""
	if kind == "speech.cancel":
		if utterance != null and typeof(utterance) != TYPE_STRING:
			problem = "utterance must be a string or null"
		elif utterance == null or utterance == _cues.utterance:
			_cues.clear()
			_mouth_sampled_ms = Time.get_ticks_usec() / 1000.0
			_drive_face(PackedFloat32Array([0.0, 0.0, 0.0, 0.0, 0.0]), _blink_weight)
	elif typeof(utterance) != TYPE_STRING or utterance.is_empty():
		problem = "utterance must be a non-empty string"
	else:
		var at: Variant = _stage_time(payload)
		if at == null:
			problem = "hostTimeMs must be a number, stageTimeMs a number or null"
		elif kind == "speech.begin":
			_report_missing_mouth()
		elif kind == "speech.cues":
			var rate: Variant = payload.get("frameRate")
			var frames: Variant = payload.get("frames")
			if typeof(rate) != TYPE_FLOAT and typeof(rate) != TYPE_INT:
				problem = "frameRate must be a number"
			elif typeof(frames) != TYPE_ARRAY:
				problem = "frames must be an array"
			else:
				var now_ms := Time.get_ticks_usec() / 1000.0
				problem = _cues.add(utterance, at, float(rate), frames, now_ms, _mouth_sampled_ms)
				# Also here: a begin may have been lost (sent before this stage connected).
				_report_missing_mouth()
		elif kind == "speech.end":
			_cues.finish(utterance, at)
		else:
			_bridge.send_error("", "unknown-type", "the stage does not handle %s events" % kind)
			return
	if not problem.is_empty():
		_bridge.send_error("", "invalid-payload", "%s: %s" % [kind, problem])


## The stage-clock time of a speech event: `stageTimeMs` when the host could convert it, else
## `hostTimeMs` moved by the offset seen at the welcome. Null when the payload has neither.
func _stage_time(payload: Dictionary) -> Variant:
	var stage_ms: Variant = payload.get("stageTimeMs")
	var host_ms: Variant = payload.get("hostTimeMs")
	if typeof(host_ms) != TYPE_FLOAT and typeof(host_ms) != TYPE_INT:
		return null
	if typeof(stage_ms) == TYPE_FLOAT or typeof(stage_ms) == TYPE_INT:
		return float(stage_ms)
	if stage_ms != null:
		return null
	return float(host_ms) + _welcome_offset_ms


func _report_missing_mouth() -> void:
	if _avatar == null or _mouth_missing_reported or _expressions.mouth_ready():
		return
	_mouth_missing_reported = true
	var missing := PackedStringArray()
	for name: String in VrmExpressions.MOUTH:
		if not _expressions.binds.has(name):
			missing.append(name)
	push_warning(
		(
			"stage: the avatar has no mouth binds for %s; lip sync cannot move them"
			% ", ".join(missing)
		)
	)


## Applies the mouth weights (aa ih ou ee oh) and the blink to the avatar's blend shapes, summing
## expressions that share a blend shape.
func _drive_face(mouth: PackedFloat32Array, blink: float) -> void:
	_mouth = mouth
	_blink_weight = blink
	var driven := {"blink": blink}
	for k in VrmExpressions.MOUTH.size():
		driven[VrmExpressions.MOUTH[k]] = mouth[k]
	if _avatar == null:
		return
	var totals: Dictionary = {}
	for name: String in driven:
		if _weights.has(name):
			_weights[name] = driven[name]
		for bind: Dictionary in _expressions.binds.get(name, []):
			var mesh: MeshInstance3D = bind["mesh"]
			var key := [mesh, bind["index"]]
			totals[key] = totals.get(key, 0.0) + driven[name] * float(bind["weight"])
	for key: Array in totals:
		var mesh: MeshInstance3D = key[0]
		if is_instance_valid(mesh):
			mesh.set_blend_shape_value(key[1], minf(totals[key], 1.0))


func _apply_scene(request_id: String, payload: Dictionary) -> void:
	var problem := _check_scene_payload(payload)
	if not problem.is_empty():
		_bridge.send_error(request_id, "invalid-payload", "scene.apply: " + problem)
		return
	if _applying:
		_bridge.send_error(request_id, "busy", "another scene.apply is still importing")
		return
	_applying = true
	var started := Time.get_ticks_usec()
	var outcome := await _read_model(payload)
	if outcome["ok"]:
		outcome = AvatarLoader.load_vrm(outcome["bytes"])
	if outcome["ok"]:
		_swap_avatar(outcome, payload["modelId"])
		var reply := {
			"modelId": payload["modelId"],
			"vrmVersion": outcome["vrm_version"],
			"expressions": _expressions.names(),
			"unboundExpressions": _expressions.unbound,
			"mouthReady": _expressions.mouth_ready(),
			"meshCount": outcome["mesh_count"],
			"blendShapeCount": outcome["blend_shape_count"],
			"loadMs": (Time.get_ticks_usec() - started) / 1000.0,
		}
		_bridge.send_reply(request_id, "scene.applied", reply)
		var summary := [payload["name"], reply["vrmVersion"], reply["expressions"].size()]
		_note("showing %s (VRM %s, %d drivable expressions)" % summary)
	else:
		push_warning("stage: %s failed: %s" % [payload["name"], outcome["message"]])
		var failed := {
			"modelId": payload["modelId"], "code": outcome["code"], "message": outcome["message"]
		}
		_bridge.send_reply(request_id, "scene.failed", failed)
	_applying = false


func _check_scene_payload(payload: Dictionary) -> String:
	var problems := PackedStringArray()
	for key in ["modelId", "format", "name", "sha256"]:
		if typeof(payload.get(key)) != TYPE_STRING:
			problems.append("%s must be a string" % key)
	if problems.is_empty():
		if payload["format"] != "vrm":
			problems.append("format must be 'vrm'")
		if RegEx.create_from_string(SHA256_PATTERN).search(payload["sha256"]) == null:
			problems.append("sha256 must be 64 lowercase hex digits")
	var size: Variant = payload.get("size")
	if typeof(size) != TYPE_FLOAT and typeof(size) != TYPE_INT or size < 0:
		problems.append("size must be a non-negative number")
	elif size > MAX_MODEL_BYTES:
		problems.append("size exceeds %d bytes" % MAX_MODEL_BYTES)
	for key in ["path", "url"]:
		if payload.get(key) != null and typeof(payload.get(key)) != TYPE_STRING:
			problems.append("%s must be a string or null" % key)
	return "; ".join(problems)


func _read_model(payload: Dictionary) -> Dictionary:
	var bytes := PackedByteArray()
	var path: Variant = payload.get("path")
	var url: Variant = payload.get("url")
	if path != null and not OS.has_feature("web") and FileAccess.file_exists(path):
		bytes = FileAccess.get_file_as_bytes(path)
		if bytes.is_empty() and int(payload["size"]) > 0:
			var why := error_string(FileAccess.get_open_error())
			return _failure("file-unreadable", "could not read %s: %s" % [path, why])
	elif url != null:
		var downloaded := await _download(url)
		if not downloaded["ok"]:
			return downloaded
		bytes = downloaded["bytes"]
	else:
		return _failure("file-unreadable", "the stage cannot read %s and was given no URL" % path)
	if bytes.size() != int(payload["size"]):
		var sizes := [bytes.size(), int(payload["size"])]
		return _failure("size-mismatch", "read %d bytes, expected %d" % sizes)
	var hashing := HashingContext.new()
	hashing.start(HashingContext.HASH_SHA256)
	hashing.update(bytes)
	var digest := hashing.finish().hex_encode()
	if digest != payload["sha256"]:
		return _failure("hash-mismatch", "the bytes read have sha256 %s" % digest)
	return {"ok": true, "bytes": bytes}


func _download(url: String) -> Dictionary:
	var request := HTTPRequest.new()
	request.body_size_limit = MAX_MODEL_BYTES
	add_child(request)
	var error := request.request(url)
	if error != OK:
		request.queue_free()
		return _failure("download-failed", "could not request %s: %s" % [url, error_string(error)])
	var response: Array = await request.request_completed
	request.queue_free()
	var result: int = response[0]
	var status: int = response[1]
	if result != HTTPRequest.RESULT_SUCCESS or status != 200:
		var why := "HTTP status %d, result %d" % [status, result]
		return _failure("download-failed", "downloading the model failed: %s" % why)
	return {"ok": true, "bytes": response[3]}


func _swap_avatar(loaded: Dictionary, model_id: String) -> void:
	var previous := _avatar
	_avatar = loaded["avatar"]
	_avatar.name = "Avatar"
	if previous != null:
		_avatar_root.remove_child(previous)
		previous.queue_free()
	_avatar_root.add_child(_avatar)
	_expressions = loaded["expressions"]
	_model_id = model_id
	_weights.clear()
	_mouth_missing_reported = false
	_blink.restart(Time.get_ticks_usec() / 1000.0)
	for name in _expressions.names():
		_weights[name] = 0.0
	for name in _expressions.unbound:
		_weights[name] = 0.0
	_frame_upper_body()


func _frame_upper_body() -> void:
	var bounds := AABB()
	var first := true
	for mesh: MeshInstance3D in _avatar.find_children("*", "MeshInstance3D", true, false):
		var box := mesh.global_transform * mesh.get_aabb()
		bounds = box if first else bounds.merge(box)
		first = false
	if first or bounds.size.y <= 0.0:
		return
	var top := bounds.position.y + bounds.size.y
	var focus_height := maxf(bounds.size.y * 0.4, 0.3)
	var target := Vector3(bounds.get_center().x, top - focus_height * 0.5, bounds.get_center().z)
	var distance := focus_height / (2.0 * tan(deg_to_rad(_camera.fov) * 0.5)) * 1.6
	_camera.global_position = target + Vector3(0.0, 0.0, distance + bounds.size.z * 0.5)
	_camera.look_at(target)


func _snapshot() -> Dictionary:
	var mouth: Array = []
	for name in VrmExpressions.MOUTH:
		for bind: Dictionary in _expressions.binds.get(name, []):
			var mesh: MeshInstance3D = bind["mesh"]
			var index: int = bind["index"]
			(
				mouth
				. append(
					{
						"expression": name,
						"mesh": str(mesh.name),
						"blendShape": str(mesh.mesh.get_blend_shape_name(index)),
						"value": mesh.get_blend_shape_value(index),
					}
				)
			)
	var window := get_window()
	var web := OS.has_feature("web")
	return {
		"modelId": _model_id,
		"vrmVersion": _expressions.vrm_version if _avatar != null else null,
		"avatarNode": str(_avatar.get_path()) if _avatar != null else null,
		"expressions": _weights,
		"mouthBinds": mouth,
		"fps": Engine.get_frames_per_second(),
		"window":
		{
			"size": [window.size.x, window.size.y],
			"position": [0, 0] if web else [window.position.x, window.position.y],
			"transparent": window.transparent,
			"alwaysOnTop": window.always_on_top,
			"borderless": window.borderless,
		},
		"uptimeMs": float(Time.get_ticks_msec() - _started_ms),
		"speech": _speech_state(),
	}


func _speech_state() -> Dictionary:
	var mouth: Dictionary = {}
	for k in VrmExpressions.MOUTH.size():
		mouth[VrmExpressions.MOUTH[k]] = _mouth[k]
	return {
		"utterance": _cues.utterance,
		"mouth": mouth,
		"blink": _blink_weight,
		"queuedFrames": _cues.queued_frames(),
		"receivedFrames": _cues.received_frames,
		"lateFrames": _cues.late_frames,
		"leastAheadMs": _cues.least_ahead_ms if _cues.received_frames > 0 else null,
		"sampledAtMs": _mouth_sampled_ms,
		"mouthBindsMissing": _avatar != null and not _expressions.mouth_ready(),
	}


## Replies with the next drawn frame as a PNG, halved in size until the reply fits the frame limit.
func _capture(request_id: String) -> void:
	await RenderingServer.frame_post_draw
	var image := get_viewport().get_texture().get_image()
	var limit := (
		mini(_bridge.host_max_frame_bytes, BridgeClient.BUFFER_BYTES) - CAPTURE_ENVELOPE_BYTES
	)
	var data := Marshalls.raw_to_base64(image.save_png_to_buffer())
	while data.length() > limit and image.get_width() > 1 and image.get_height() > 1:
		image.resize(image.get_width() >> 1, image.get_height() >> 1, Image.INTERPOLATE_BILINEAR)
		data = Marshalls.raw_to_base64(image.save_png_to_buffer())
	if data.length() > limit:
		_bridge.send_error(request_id, "frame-too-large", "the captured frame does not fit a frame")
		return
	var reply := {
		"format": "png", "width": image.get_width(), "height": image.get_height(), "data": data
	}
	_bridge.send_reply(request_id, "stage.captured", reply)


func _failure(code: String, message: String) -> Dictionary:
	return {"ok": false, "code": code, "message": message}
