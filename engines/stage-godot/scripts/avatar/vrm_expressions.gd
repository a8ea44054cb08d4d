extends RefCounted
## Reads a VRM's expressions from the parsed glTF JSON and resolves their morph-target binds to the
## MeshInstance3D nodes that GLTFDocument generated. Our own reading of the two specifications:
## VRM 0.x `extensions.VRM.blendShapeMaster` (binds by mesh index, weights 0-100) and VRM 1.0
## `extensions.VRMC_vrm.expressions` (binds by node index, weights 0-1).

const MOUTH := ["aa", "ih", "ou", "ee", "oh"]
const VRM0_PRESETS := {
	"a": "aa",
	"i": "ih",
	"u": "ou",
	"e": "ee",
	"o": "oh",
	"blink": "blink",
	"blink_l": "blinkLeft",
	"blink_r": "blinkRight",
	"joy": "happy",
	"angry": "angry",
	"sorrow": "sad",
	"fun": "relaxed",
	"lookup": "lookUp",
	"lookdown": "lookDown",
	"lookleft": "lookLeft",
	"lookright": "lookRight",
	"neutral": "neutral",
}

## Expression name -> Array of {"mesh": MeshInstance3D, "index": int, "weight": float}.
var binds: Dictionary = {}
## Expressions the file defines without any bind this stage can drive.
var unbound: PackedStringArray = []
var vrm_version: String = ""


static func detect_version(gltf_json: Dictionary) -> String:
	var extensions: Variant = gltf_json.get("extensions", {})
	if typeof(extensions) != TYPE_DICTIONARY:
		return ""
	if typeof(extensions.get("VRMC_vrm")) == TYPE_DICTIONARY:
		return "1.0"
	if typeof(extensions.get("VRM")) == TYPE_DICTIONARY:
		return "0.x"
	return ""


func read(gltf_json: Dictionary, nodes_by_gltf_index: Dictionary) -> void:
	vrm_version = detect_version(gltf_json)
	var raw: Dictionary = {}
	if vrm_version == "1.0":
		raw = _read_vrm1(gltf_json["extensions"]["VRMC_vrm"])
	elif vrm_version == "0.x":
		raw = _read_vrm0(gltf_json, gltf_json["extensions"]["VRM"])
	for name: String in raw:
		var resolved: Array = []
		for bind: Dictionary in raw[name]:
			var mesh: MeshInstance3D = nodes_by_gltf_index.get(bind["node"])
			var index: int = bind["index"]
			if mesh != null and index >= 0 and index < mesh.get_blend_shape_count():
				resolved.append({"mesh": mesh, "index": index, "weight": bind["weight"]})
		if resolved.is_empty():
			unbound.append(name)
		else:
			binds[name] = resolved
	unbound.sort()


func names() -> PackedStringArray:
	var result := PackedStringArray(binds.keys())
	result.sort()
	return result


func mouth_ready() -> bool:
	for name: String in MOUTH:
		if not binds.has(name):
			return false
	return true


func _read_vrm1(vrm: Dictionary) -> Dictionary:
	var raw: Dictionary = {}
	var expressions: Variant = vrm.get("expressions", {})
	if typeof(expressions) != TYPE_DICTIONARY:
		return raw
	for group in ["preset", "custom"]:
		var table: Variant = expressions.get(group, {})
		if typeof(table) != TYPE_DICTIONARY:
			continue
		for name: String in table:
			var expression: Variant = table[name]
			var found: Array = []
			if typeof(expression) == TYPE_DICTIONARY:
				for bind: Variant in _array(expression.get("morphTargetBinds")):
					if typeof(bind) == TYPE_DICTIONARY:
						found.append(
							_bind(bind.get("node"), bind.get("index"), bind.get("weight"), 1.0)
						)
			raw[name] = found
	return raw


func _read_vrm0(gltf_json: Dictionary, vrm: Dictionary) -> Dictionary:
	var raw: Dictionary = {}
	var master: Variant = vrm.get("blendShapeMaster", {})
	if typeof(master) != TYPE_DICTIONARY:
		return raw
	# VRM 0.x binds name a mesh; every glTF node that instances that mesh gets the weight.
	var nodes_by_mesh: Dictionary = {}
	var gltf_nodes := _array(gltf_json.get("nodes"))
	for node_index in gltf_nodes.size():
		var node: Variant = gltf_nodes[node_index]
		if typeof(node) == TYPE_DICTIONARY and node.has("mesh"):
			var mesh_index := int(node["mesh"])
			if not nodes_by_mesh.has(mesh_index):
				nodes_by_mesh[mesh_index] = []
			nodes_by_mesh[mesh_index].append(node_index)
	for group: Variant in _array(master.get("blendShapeGroups")):
		if typeof(group) != TYPE_DICTIONARY:
			continue
		var preset := str(group.get("presetName", "unknown")).to_lower()
		var name: String = VRM0_PRESETS.get(preset, str(group.get("name", preset)))
		var found: Array = raw.get(name, [])
		for bind: Variant in _array(group.get("binds")):
			if typeof(bind) != TYPE_DICTIONARY or not bind.has("mesh"):
				continue
			for node_index: int in nodes_by_mesh.get(int(bind["mesh"]), []):
				found.append(_bind(node_index, bind.get("index"), bind.get("weight"), 0.01))
		raw[name] = found
	return raw


func _bind(node: Variant, index: Variant, weight: Variant, scale: float) -> Dictionary:
	var is_number := typeof(weight) == TYPE_FLOAT or typeof(weight) == TYPE_INT
	return {
		"node": int(node) if node != null else -1,
		"index": int(index) if index != null else -1,
		"weight": clampf(float(weight) * scale, 0.0, 1.0) if is_number else 1.0,
	}


func _array(value: Variant) -> Array:
	return value if typeof(value) == TYPE_ARRAY else []
