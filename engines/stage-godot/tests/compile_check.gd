extends Node
## Loads every script of the stage in the real engine and reports what failed to compile.
##
## Prints one line `COMPILE_CHECK {"checked": [...], "errors": [...]}` and quits with 0 when every
## script compiled, 1 otherwise. The Python suite runs it in the Godot web runtime as the main
## scene of a pack whose project.godot points at `compile_check.tscn`.


class ErrorCollector:
	extends Logger

	var errors: Array[String] = []
	var _mutex := Mutex.new()

	func _log_error(
		function: String,
		file: String,
		line: int,
		code: String,
		rationale: String,
		_editor_notify: bool,
		_error_type: int,
		_script_backtraces: Array[ScriptBacktrace]
	) -> void:
		_mutex.lock()
		errors.append("%s:%d %s: %s %s" % [file, line, function, code, rationale])
		_mutex.unlock()

	func _log_message(_message: String, _error: bool) -> void:
		pass


func _ready() -> void:
	var collector := ErrorCollector.new()
	OS.add_logger(collector)
	var checked: Array[String] = []
	for path in _scripts_under("res://scripts"):
		checked.append(path)
		var script: Script = load(path)
		if script == null or not script.can_instantiate():
			collector.errors.append("%s did not compile" % path)
	OS.remove_logger(collector)
	var report := {"checked": checked, "errors": collector.errors}
	print("COMPILE_CHECK " + JSON.stringify(report))
	get_tree().quit(0 if collector.errors.is_empty() else 1)


func _scripts_under(folder: String) -> Array[String]:
	var found: Array[String] = []
	for file in DirAccess.get_files_at(folder):
		if file.ends_with(".gd"):
			found.append(folder.path_join(file))
	for sub in DirAccess.get_directories_at(folder):
		found.append_array(_scripts_under(folder.path_join(sub)))
	return found
