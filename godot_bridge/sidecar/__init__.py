"""Finding, launching, watching and stopping the Godot stage process."""
