extends RefCounted
## Where the host's bridge is and how to prove who we are.
##
## The URL comes from the user arguments (after `--`); the token from the environment (native
## stages, so it never appears on a command line) or, failing that, from `--bridge-token=` (the
## web build, which has no environment).

const TOKEN_ENV := "STAGE_TAMAGOTCHI_TOKEN"
const URL_ARG := "--bridge-url="
const TOKEN_ARG := "--bridge-token="


static func user_arg(args: PackedStringArray, prefix: String) -> String:
	for arg in args:
		if arg.begins_with(prefix):
			return arg.substr(prefix.length())
	return ""


static func bridge_url() -> String:
	return user_arg(OS.get_cmdline_user_args(), URL_ARG)


static func token() -> String:
	var from_env := OS.get_environment(TOKEN_ENV)
	if not from_env.is_empty():
		return from_env
	return user_arg(OS.get_cmdline_user_args(), TOKEN_ARG)
