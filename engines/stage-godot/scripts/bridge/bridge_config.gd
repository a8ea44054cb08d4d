extends RefCounted
## Where the host's bridge is and how to prove who we are.
##
## The URL comes from the user arguments (after `--`); the token from the environment (native
## stages, so it never appears on a command line) or, failing that, from `--bridge-token=` (the
## web build, which has no environment). Both are also accepted among the engine's own arguments
## (without `--`), which is how the editor's "Main Run Args" passes them in attach mode.

const TOKEN_ENV := "STAGE_TAMAGOTCHI_TOKEN"
const URL_ARG := "--bridge-url="
const TOKEN_ARG := "--bridge-token="


static func user_arg(args: PackedStringArray, prefix: String) -> String:
	for arg in args:
		if arg.begins_with(prefix):
			return arg.substr(prefix.length())
	return ""


## The value of `prefix` among the user arguments, else among the engine's arguments.
static func argument(prefix: String) -> String:
	var found := user_arg(OS.get_cmdline_user_args(), prefix)
	return found if not found.is_empty() else user_arg(OS.get_cmdline_args(), prefix)


static func bridge_url() -> String:
	return argument(URL_ARG)


static func token() -> String:
	var from_env := OS.get_environment(TOKEN_ENV)
	if not from_env.is_empty():
		return from_env
	return argument(TOKEN_ARG)
