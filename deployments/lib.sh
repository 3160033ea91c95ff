# lib.sh: the pieces kafka.sh, clickhouse.sh and test-env.sh share. Sourced,
# not run. The sourcing script sets SELF (its name, for messages) first.

log() { echo "$SELF: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# usage prints the sourcing script's header comment (up to `set -euo`).
usage() {
	sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

# alive tells whether PID is running and is not a zombie.
alive() {
	local pid=$1 state
	[[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
	state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) || return 1
	[[ $state != Z ]]
}

# is_ours tells whether PID is alive and was started for DIR (its command
# line names a path inside DIR), so a recycled PID is never signalled.
is_ours() {
	local pid=$1 dir=$2
	alive "$pid" || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$dir/"
}

tcp_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# start_watchdog DIR OWNER SCRIPT TIMEOUT runs, detached, a loop that stops
# what SCRIPT started in DIR once the process OWNER (a test binary) is gone,
# so a crashed test leaves no server behind.
start_watchdog() {
	local dir=$1 owner=$2 script=$3 timeout=$4
	# shellcheck disable=SC2016 # expanded by the inner bash
	setsid bash -c 'owner=$1 dir=$2 self=$3 timeout=$4
		while kill -0 "$owner" 2>/dev/null; do sleep 1; done
		"$self" stop "$dir" --timeout "$timeout" >/dev/null 2>&1' \
		"$SELF-watchdog" "$owner" "$dir/" "$script" "$timeout" </dev/null >/dev/null 2>&1 &
	echo $! >"$dir/watchdog.pid"
}

# stop_watchdog DIR ends DIR's watchdog, unless the watchdog is the caller.
stop_watchdog() {
	local dir=$1 pid
	[[ -f $dir/watchdog.pid ]] || return 0
	pid=$(cat "$dir/watchdog.pid")
	if [[ $pid != "$$" && $pid != "$PPID" ]] && is_ours "$pid" "$dir"; then
		kill -TERM "$pid" 2>/dev/null || true
	fi
	rm -f "$dir/watchdog.pid"
}
