extends RefCounted
## The protocol's envelope (docs/protocol.md):
## `{"v": 1, "type": ..., "id"|"re": ..., "payload": {...}}`.
##
## `decode` never raises: it returns `{"ok": true, "message": Dictionary}` or
## `{"ok": false, "code": String, "error": String, "re": String}` with a documented error code.

const VERSION := 1
const MAX_ID_LENGTH := 64

static var _type_pattern: RegEx = RegEx.create_from_string("^[a-z][a-z0-9_]*(\\.[a-z][a-z0-9_]*)*$")


static func decode(text: String) -> Dictionary:
	var parser := JSON.new()
	if parser.parse(text) != OK:
		return _failure("invalid-json", "not valid JSON: %s" % parser.get_error_message(), "")
	var data: Variant = parser.data
	if typeof(data) != TYPE_DICTIONARY:
		return _failure("invalid-json", "a frame must be a JSON object", "")
	var message: Dictionary = data
	var request_id: String = _id_or_empty(message.get("id"))
	var version: Variant = message.get("v")
	if typeof(version) != TYPE_FLOAT and typeof(version) != TYPE_INT:
		var why := "field 'v' (protocol version) is missing"
		return _failure("invalid-envelope", why, request_id)
	if version != VERSION:
		var why := "protocol version %s is not supported" % version
		return _failure("unsupported-version", why, request_id)
	var kind: Variant = message.get("type")
	if typeof(kind) != TYPE_STRING or _type_pattern.search(kind) == null or kind.length() > 64:
		return _failure("invalid-envelope", "field 'type' is missing or malformed", request_id)
	for key in ["id", "re"]:
		if message.has(key) and _id_or_empty(message[key]).is_empty():
			var why := "field '%s' must be 1-64 characters" % key
			return _failure("invalid-envelope", why, request_id)
	if message.has("id") and message.has("re"):
		return _failure("invalid-envelope", "a frame is a request or a reply, not both", request_id)
	var payload: Variant = message.get("payload", {})
	if typeof(payload) != TYPE_DICTIONARY:
		return _failure("invalid-envelope", "field 'payload' must be an object", request_id)
	message["payload"] = payload
	return {"ok": true, "message": message}


static func encode(
	kind: String, payload: Dictionary, request_id: String, reply_to: String
) -> String:
	var message := {"v": VERSION, "type": kind, "payload": payload}
	if not request_id.is_empty():
		message["id"] = request_id
	if not reply_to.is_empty():
		message["re"] = reply_to
	return JSON.stringify(message)


static func _id_or_empty(value: Variant) -> String:
	if typeof(value) != TYPE_STRING:
		return ""
	var text: String = value
	if text.is_empty() or text.length() > MAX_ID_LENGTH:
		return ""
	return text


static func _failure(code: String, error: String, reply_to: String) -> Dictionary:
	return {"ok": false, "code": code, "error": error, "re": reply_to}
