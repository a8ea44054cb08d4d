extends RefCounted
## The stage's end of the bridge: one WebSocket to the host, polled from the stage's frame loop.
##
## It says `stage.hello`, waits for `host.welcome`, answers `ping`, pings a quiet host, and gives up
## (emitting `lost`) when the host goes silent, closes the socket, or never welcomes us. Requests it
## does not handle itself are passed on through `request_received`; the stage must answer each one.
## Host events of the `speech.*` stream come through `event_received`.

signal welcomed(welcome: Dictionary)
signal request_received(message: Dictionary)
## A host event the stage plays (the `speech.*` cue stream), once welcomed.
signal event_received(message: Dictionary)
signal lost(reason: String)

enum Phase { CONNECTING, AWAITING_WELCOME, READY, CLOSED }

const Envelope := preload("res://scripts/bridge/envelope.gd")
const PROTOCOLS: Array[int] = [1]
const BUFFER_BYTES := 1 << 20
const MAX_QUEUED_PACKETS := 4096
const WELCOME_TIMEOUT_MS := 10000
const MAX_PENDING := 256

var capabilities: PackedStringArray = []
var heartbeat_interval_ms: int = 1000
var heartbeat_timeout_ms: int = 5000
var host_max_frame_bytes: int = BUFFER_BYTES
var phase: Phase = Phase.CLOSED

var _socket := WebSocketPeer.new()
var _token: String = ""
var _started_ms: int = 0
var _last_received_ms: int = 0
var _last_sent_ms: int = 0
var _next_id: int = 1
var _hello_id: String = ""
## Our requests still waiting for a reply: id -> type.
var _pending: Dictionary = {}


func open(url: String, token: String) -> Error:
	_token = token
	# Buffers must be set before connecting; the defaults (64 KiB) silently break larger frames.
	_socket.inbound_buffer_size = BUFFER_BYTES
	_socket.outbound_buffer_size = BUFFER_BYTES
	_socket.max_queued_packets = MAX_QUEUED_PACKETS
	_started_ms = Time.get_ticks_msec()
	var error := _socket.connect_to_url(url)
	phase = Phase.CONNECTING if error == OK else Phase.CLOSED
	return error


func poll() -> void:
	if phase == Phase.CLOSED:
		return
	_socket.poll()
	var state := _socket.get_ready_state()
	if state == WebSocketPeer.STATE_OPEN and phase == Phase.CONNECTING:
		_send_hello()
	# Frames that arrived just before a close (the error saying why, say) are read before the close.
	while phase != Phase.CLOSED and _socket.get_available_packet_count() > 0:
		var packet := _socket.get_packet()
		# was_string_packet() describes the packet just taken, so it must come after get_packet().
		var is_text := _socket.was_string_packet()
		_last_received_ms = Time.get_ticks_msec()
		_on_frame(packet, is_text)
	if phase == Phase.CLOSED:
		return
	var now := Time.get_ticks_msec()
	if state == WebSocketPeer.STATE_CLOSED:
		var code := _socket.get_close_code()
		_give_up("the host closed the bridge (code %d %s)" % [code, _socket.get_close_reason()])
	elif state != WebSocketPeer.STATE_OPEN:
		if now - _started_ms > WELCOME_TIMEOUT_MS:
			_give_up("could not connect to the host within %d ms" % WELCOME_TIMEOUT_MS)
	else:
		_check_liveness(now)


func send_request(kind: String, payload: Dictionary) -> String:
	var request_id := "s-%d" % _next_id
	_next_id += 1
	if _pending.size() >= MAX_PENDING:
		_pending.erase(_pending.keys()[0])
	_pending[request_id] = kind
	_send(Envelope.encode(kind, payload, request_id, ""))
	return request_id


func send_reply(reply_to: String, kind: String, payload: Dictionary) -> void:
	_send(Envelope.encode(kind, payload, "", reply_to))


func send_event(kind: String, payload: Dictionary) -> void:
	_send(Envelope.encode(kind, payload, "", ""))


func send_error(reply_to: String, code: String, message: String) -> void:
	var payload := {"code": code, "message": message, "details": null}
	_send(Envelope.encode("error", payload, "", reply_to))


func close(reason: String) -> void:
	if phase != Phase.CLOSED:
		phase = Phase.CLOSED
		_socket.close(1000, reason)


func _send(text: String) -> void:
	if _socket.get_ready_state() != WebSocketPeer.STATE_OPEN:
		return
	if text.to_utf8_buffer().size() > host_max_frame_bytes:
		push_warning("bridge: dropped a frame larger than the host accepts")
		return
	_socket.send_text(text)
	_last_sent_ms = Time.get_ticks_msec()


func _send_hello() -> void:
	var info := Engine.get_version_info()
	var version := "%d.%d" % [info["major"], info["minor"]]
	if int(info["patch"]) > 0:
		version += ".%d" % info["patch"]
	version += ".%s.%s.%s" % [info["status"], info["build"], str(info["hash"]).left(9)]
	var pid: Variant = null if OS.has_feature("web") else OS.get_process_id()
	var hello := {
		"token": _token,
		"protocols": PROTOCOLS,
		"engine": {"name": "godot", "version": version, "platform": OS.get_name()},
		"buffers":
		{
			"inboundBytes": BUFFER_BYTES,
			"outboundBytes": BUFFER_BYTES,
			"maxQueuedPackets": MAX_QUEUED_PACKETS,
		},
		"capabilities": capabilities,
		"pid": pid,
	}
	phase = Phase.AWAITING_WELCOME
	_hello_id = send_request("stage.hello", hello)


func _on_frame(packet: PackedByteArray, is_text: bool) -> void:
	if not is_text:
		send_error("", "invalid-json", "binary frames are not part of the protocol")
		return
	var decoded := Envelope.decode(packet.get_string_from_utf8())
	if not decoded["ok"]:
		send_error(decoded["re"], decoded["code"], decoded["error"])
		return
	var message: Dictionary = decoded["message"]
	var kind: String = message["type"]
	if message.has("re"):
		_on_reply(message)
	elif message.has("id"):
		if kind == "ping":
			_answer_ping(message)
		elif phase != Phase.READY:
			send_error(message["id"], "not-ready", "the stage has not been welcomed yet")
		else:
			request_received.emit(message)
	elif kind == "error":
		push_warning("bridge: the host reported %s" % JSON.stringify(message["payload"]))
	elif kind.begins_with("speech.") and phase == Phase.READY:
		event_received.emit(message)
	else:
		send_error("", "unknown-type", "the stage does not handle %s events" % kind)


func _on_reply(message: Dictionary) -> void:
	var kind: String = message["type"]
	if not _pending.has(message["re"]):
		# unexpected-reply: logged, never answered (docs/protocol.md).
		push_warning(
			"bridge: a %s reply to %s, which is no pending request" % [kind, message["re"]]
		)
		return
	_pending.erase(message["re"])
	if message["re"] == _hello_id and kind == "host.welcome":
		var welcome: Dictionary = message["payload"]
		heartbeat_interval_ms = int(welcome.get("heartbeatIntervalMs", heartbeat_interval_ms))
		heartbeat_timeout_ms = int(welcome.get("heartbeatTimeoutMs", heartbeat_timeout_ms))
		host_max_frame_bytes = int(welcome.get("maxFrameBytes", host_max_frame_bytes))
		phase = Phase.READY
		welcomed.emit(welcome)
	elif kind == "error":
		push_warning(
			"bridge: the host answered with an error: %s" % JSON.stringify(message["payload"])
		)


func _answer_ping(message: Dictionary) -> void:
	var payload: Dictionary = message["payload"]
	var t0: Variant = payload.get("t0")
	if typeof(t0) != TYPE_FLOAT and typeof(t0) != TYPE_INT:
		send_error(message["id"], "invalid-payload", "ping: t0 must be a number")
		return
	var pong := {"t0": t0, "t1": Time.get_ticks_usec() / 1000.0}
	send_reply(message["id"], "pong", pong)


func _check_liveness(now: int) -> void:
	if phase == Phase.AWAITING_WELCOME and now - _started_ms > WELCOME_TIMEOUT_MS:
		_give_up("the host did not welcome the stage within %d ms" % WELCOME_TIMEOUT_MS)
	elif phase == Phase.READY:
		if now - _last_received_ms > heartbeat_timeout_ms:
			_give_up("the host has been silent for %d ms" % (now - _last_received_ms))
		elif now - _last_sent_ms >= heartbeat_interval_ms:
			send_request("ping", {"t0": Time.get_ticks_usec() / 1000.0})


func _give_up(reason: String) -> void:
	if phase == Phase.CLOSED:
		return
	close(reason)
	lost.emit(reason)
