extends Logger
## Collects the engine's own errors and warnings so the stage can forward them as `stage.log`.
##
## Loggers may be called from any thread and from inside the engine's error path, so this only
## queues; the stage drains the queue from its frame loop.

const MAX_QUEUED := 200

var _mutex := Mutex.new()
var _queue: Array[Dictionary] = []


func _log_error(
	function: String,
	file: String,
	line: int,
	code: String,
	rationale: String,
	_editor_notify: bool,
	error_type: int,
	_script_backtraces: Array[ScriptBacktrace]
) -> void:
	var level := "warning" if error_type == ERROR_TYPE_WARNING else "error"
	var text := rationale if not rationale.is_empty() else code
	_push(level, text, "%s:%d (%s)" % [file, line, function])


func _log_message(message: String, error: bool) -> void:
	if error:
		_push("error", message.strip_edges(), null)


func drain() -> Array[Dictionary]:
	_mutex.lock()
	var taken := _queue
	_queue = []
	_mutex.unlock()
	return taken


func _push(level: String, message: String, source: Variant) -> void:
	_mutex.lock()
	if _queue.size() < MAX_QUEUED:
		_queue.append({"level": level, "message": message, "source": source})
	_mutex.unlock()
