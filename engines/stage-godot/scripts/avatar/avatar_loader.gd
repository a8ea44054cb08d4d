extends RefCounted
## Turns VRM bytes into a detached avatar node plus its expression table. Nothing here touches the
## scene tree: the stage swaps the result in only when every step succeeded.

const VrmExpressions := preload("res://scripts/avatar/vrm_expressions.gd")
## Godot's GLTF_IMPORT_USE_NAMED_SKIN_BINDS: without it skinned VRM meshes come out distorted.
const IMPORT_USE_NAMED_SKIN_BINDS := 16


## Returns {"ok": true, "avatar": Node3D, "expressions": VrmExpressions, "mesh_count": int,
## "blend_shape_count": int} or {"ok": false, "code": String, "message": String}.
static func load_vrm(bytes: PackedByteArray) -> Dictionary:
	if bytes.size() < 12 or bytes.slice(0, 4).get_string_from_ascii() != "glTF":
		return _failure("not-vrm", "the file is not a glTF binary (VRM files start with 'glTF')")
	var document := GLTFDocument.new()
	var state := GLTFState.new()
	state.handle_binary_image = GLTFState.HANDLE_BINARY_EMBED_AS_UNCOMPRESSED
	var error := document.append_from_buffer(bytes, "", state, IMPORT_USE_NAMED_SKIN_BINDS)
	if error != OK:
		return _failure(
			"import-failed", "GLTFDocument could not parse it: %s" % error_string(error)
		)
	var version := VrmExpressions.detect_version(state.json)
	if version.is_empty():
		return _failure("not-vrm", "the glTF has neither a VRM nor a VRMC_vrm extension")
	var scene := document.generate_scene(state)
	if scene == null or not scene is Node3D:
		if scene != null:
			scene.free()
		return _failure("import-failed", "GLTFDocument generated no 3D scene")
	var avatar: Node3D = scene
	var expressions := VrmExpressions.new()
	expressions.read(state.json, _mesh_nodes_by_gltf_index(state, avatar))
	var meshes := avatar.find_children("*", "MeshInstance3D", true, false)
	var blend_shapes := 0
	for mesh: MeshInstance3D in meshes:
		blend_shapes += mesh.get_blend_shape_count()
	if version == "0.x":
		# VRM 0.x models look down -Z; the camera looks at them from +Z.
		avatar.rotate_y(PI)
	return {
		"ok": true,
		"avatar": avatar,
		"expressions": expressions,
		"vrm_version": version,
		"mesh_count": meshes.size(),
		"blend_shape_count": blend_shapes,
	}


static func _mesh_nodes_by_gltf_index(state: GLTFState, avatar: Node3D) -> Dictionary:
	# GLTFDocument names each generated node after its (made unique) GLTFNode resource name. The
	# state's own node map is not used: it can hand back freed nodes for instanced meshes.
	var by_name: Dictionary = {}
	for mesh: MeshInstance3D in avatar.find_children("*", "MeshInstance3D", true, false):
		by_name[str(mesh.name)] = mesh
	var by_index: Dictionary = {}
	var gltf_nodes := state.get_nodes()
	for index in gltf_nodes.size():
		var node_name := gltf_nodes[index].resource_name
		if gltf_nodes[index].mesh >= 0 and by_name.has(node_name):
			by_index[index] = by_name[node_name]
	return by_index


static func _failure(code: String, message: String) -> Dictionary:
	return {"ok": false, "code": code, "message": message}
