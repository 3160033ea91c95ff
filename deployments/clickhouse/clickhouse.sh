#!/usr/bin/env bash
# clickhouse.sh runs a private ClickHouse server for Ovation's tests and for
# local development: its own config, data and logs inside one directory,
# listening on 127.0.0.1 only, as the current user.
#
#   clickhouse.sh install                 apt-get install the server and client if missing
#   clickhouse.sh start DIR [--port 19000] [--http-port 18123] [--owner PID]
#                                         write config, start, wait, print host:port
#   clickhouse.sh stop DIR [--timeout S]  SIGTERM, then SIGKILL after S (default 30)
#   clickhouse.sh kill DIR                SIGKILL (fault tests)
#   clickhouse.sh restart DIR             stop if running, start with the same config and data
#   clickhouse.sh status DIR
#   clickhouse.sh client DIR [ARGS...]    clickhouse-client connected to DIR's server
#
# Works with Debian's ClickHouse 18.16 (clickhouse-server, clickhouse-client)
# and with current releases (one `clickhouse` binary): the config uses the
# <yandex> root and only settings that both understand.
# --owner PID starts a watchdog that stops the server when PID exits.
# Progress goes to stderr; stdout carries only what the caller asked for.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=clickhouse.sh
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"
START_TIMEOUT=${CLICKHOUSE_START_TIMEOUT:-60}


# server_cmd and client_cmd print the command that runs the server or the
# client: Debian splits them into two binaries, upstream ships one.
server_cmd() {
	if command -v clickhouse-server >/dev/null; then
		command -v clickhouse-server
	elif command -v clickhouse >/dev/null; then
		echo "$(command -v clickhouse) server"
	elif [[ -x /usr/sbin/clickhouse-server ]]; then
		echo /usr/sbin/clickhouse-server
	else
		return 1
	fi
}

client_cmd() {
	if command -v clickhouse-client >/dev/null; then
		command -v clickhouse-client
	elif command -v clickhouse >/dev/null; then
		echo "$(command -v clickhouse) client"
	else
		return 1
	fi
}

cmd_install() {
	if server_cmd >/dev/null && client_cmd >/dev/null; then
		return 0
	fi
	log "installing clickhouse-server and clickhouse-client"
	# Another apt run (a parallel setup) may hold the dpkg lock; wait for it.
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
		clickhouse-server clickhouse-client >&2 ||
		{
			apt-get -o DPkg::Lock::Timeout=600 update -q >&2
			DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q \
				clickhouse-server clickhouse-client >&2
		}
	server_cmd >/dev/null || die "clickhouse-server still missing after install"
}

load_env() {
	local dir=$1
	[[ -f $dir/clickhouse.env ]] || die "$dir has no clickhouse.env (was it started with clickhouse.sh start?)"
	# shellcheck disable=SC1091
	source "$dir/clickhouse.env"
}


server_pid() { cat "$1/clickhouse.pid" 2>/dev/null || true; }

write_config() {
	local dir=$1
	mkdir -p "$dir/data" "$dir/tmp" "$dir/log" "$dir/user_files" "$dir/format_schemas"
	cat >"$dir/config.xml" <<EOF
<?xml version="1.0"?>
<!-- Written by deployments/clickhouse/clickhouse.sh. -->
<yandex>
    <logger>
        <level>information</level>
        <log>$dir/log/clickhouse-server.log</log>
        <errorlog>$dir/log/clickhouse-server.err.log</errorlog>
        <size>100M</size>
        <count>2</count>
    </logger>

    <listen_host>127.0.0.1</listen_host>
    <tcp_port>$PORT</tcp_port>
    <http_port>$HTTP_PORT</http_port>

    <path>$dir/data/</path>
    <tmp_path>$dir/tmp/</tmp_path>
    <user_files_path>$dir/user_files/</user_files_path>
    <format_schema_path>$dir/format_schemas/</format_schema_path>
    <users_config>$dir/users.xml</users_config>
    <default_profile>default</default_profile>
    <default_database>default</default_database>
    <timezone>UTC</timezone>

    <!-- Small caches: tests run several servers and processes on two cores. -->
    <mark_cache_size>268435456</mark_cache_size>
    <uncompressed_cache_size>268435456</uncompressed_cache_size>
    <max_concurrent_queries>100</max_concurrent_queries>
    <max_connections>1024</max_connections>
    <keep_alive_timeout>3</keep_alive_timeout>
    <mlock_executable>false</mlock_executable>
    <!-- A clean stop waits this long (seconds) for open connections, twice
         in 18.16; tests hold idle pooled connections, and the default 5
         made every stop take 10 s. -->
    <shutdown_wait_unfinished>2</shutdown_wait_unfinished>
    <builtin_dictionaries_reload_interval>3600</builtin_dictionaries_reload_interval>
    <max_session_timeout>3600</max_session_timeout>
    <default_session_timeout>60</default_session_timeout>
</yandex>
EOF
	cat >"$dir/users.xml" <<'EOF'
<?xml version="1.0"?>
<!-- Written by deployments/clickhouse/clickhouse.sh: one passwordless
     "default" user reachable from this machine only. -->
<yandex>
    <profiles>
        <default>
            <max_memory_usage>4000000000</max_memory_usage>
            <use_uncompressed_cache>0</use_uncompressed_cache>
            <load_balancing>random</load_balancing>
            <!-- An idle connection's handler checks for shutdown every
                 poll_interval seconds (default 10): with pooled client
                 connections open, a clean stop took 10-12 s. -->
            <poll_interval>1</poll_interval>
        </default>
    </profiles>
    <users>
        <default>
            <password></password>
            <networks>
                <ip>127.0.0.1</ip>
                <ip>::1</ip>
            </networks>
            <profile>default</profile>
            <quota>default</quota>
        </default>
    </users>
    <quotas>
        <default>
            <interval>
                <duration>3600</duration>
                <queries>0</queries>
                <errors>0</errors>
                <result_rows>0</result_rows>
                <read_rows>0</read_rows>
                <execution_time>0</execution_time>
            </interval>
        </default>
    </quotas>
</yandex>
EOF
}


query() {
	local client
	client=$(client_cmd) || die "clickhouse-client not found (clickhouse.sh install)"
	# shellcheck disable=SC2086
	$client --host 127.0.0.1 --port "$PORT" "$@"
}

# launch starts the server in its own session (a Ctrl-C aimed at the caller
# does not reach it) and records its PID.
launch() {
	local dir=$1 server
	server=$(server_cmd) || die "clickhouse-server not found (clickhouse.sh install)"
	# shellcheck disable=SC2086
	setsid $server --config-file="$dir/config.xml" \
		>>"$dir/log/stdout.log" 2>&1 </dev/null &
	echo $! >"$dir/clickhouse.pid"
}

wait_ready() {
	local dir=$1 deadline=$((SECONDS + START_TIMEOUT)) pid
	pid=$(server_pid "$dir")
	until query -q 'SELECT 1' >/dev/null 2>&1; do
		if ! alive "$pid"; then
			tail -n 20 "$dir/log/clickhouse-server.err.log" "$dir/log/stdout.log" >&2 2>/dev/null || true
			die "clickhouse exited during start; logs in $dir/log"
		fi
		((SECONDS < deadline)) || {
			tail -n 20 "$dir/log/clickhouse-server.err.log" >&2 2>/dev/null || true
			die "clickhouse not up after ${START_TIMEOUT}s; logs in $dir/log"
		}
		sleep 0.2
	done
}

cmd_start() {
	local dir="" port="" http_port="" owner=""
	while (($#)); do
		case $1 in
		--port) port=$2; shift 2 ;;
		--http-port) http_port=$2; shift 2 ;;
		--owner) owner=$2; shift 2 ;;
		-*) die "unknown flag $1" ;;
		*) [[ -z $dir ]] || die "extra argument $1"; dir=$1; shift ;;
		esac
	done
	[[ -n $dir ]] || usage
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	server_cmd >/dev/null || die "clickhouse-server not found; run: $0 install"

	if [[ -f $dir/clickhouse.env ]]; then
		load_env "$dir"
		if is_ours "$(server_pid "$dir")" "$dir"; then
			log "clickhouse in $dir already running"
			echo "127.0.0.1:$PORT"
			return 0
		fi
		if [[ (-n $port && $port != "$PORT") || (-n $http_port && $http_port != "$HTTP_PORT") ]]; then
			die "$dir holds a server on port $PORT; use a fresh DIR"
		fi
		port=$PORT http_port=$HTTP_PORT
	fi
	PORT=${port:-19000} HTTP_PORT=${http_port:-18123}
	cat >"$dir/clickhouse.env" <<EOF
PORT=$PORT
HTTP_PORT=$HTTP_PORT
EOF
	write_config "$dir"
	tcp_open "$PORT" && die "port $PORT is already in use"
	tcp_open "$HTTP_PORT" && die "port $HTTP_PORT is already in use"

	log "starting clickhouse in $dir on 127.0.0.1:$PORT"
	launch "$dir"
	if [[ -n $owner ]]; then
		start_watchdog "$dir" "$owner" "$HERE/clickhouse.sh" 10
	fi
	if ! wait_ready "$dir"; then
		cmd_stop "$dir" --timeout 5 || true
		exit 1
	fi
	log "up: 127.0.0.1:$PORT ($(query -q 'SELECT version()' 2>/dev/null || echo '?'))"
	echo "127.0.0.1:$PORT"
}

stop_server() {
	local dir=$1 timeout=$2 sig=$3 pid deadline
	pid=$(server_pid "$dir")
	if ! is_ours "$pid" "$dir"; then
		rm -f "$dir/clickhouse.pid"
		return 0
	fi
	kill "-$sig" "$pid" 2>/dev/null || true
	deadline=$((SECONDS + timeout))
	while alive "$pid"; do
		if ((SECONDS >= deadline)); then
			log "SIGKILL $pid after ${timeout}s"
			kill -KILL "$pid" 2>/dev/null || true
			deadline=$((SECONDS + 10))
		fi
		sleep 0.1
	done
	rm -f "$dir/clickhouse.pid"
}

cmd_stop() {
	local dir="" timeout=30
	while (($#)); do
		case $1 in
		--timeout) timeout=$2; shift 2 ;;
		-*) die "unknown flag $1" ;;
		*) dir=$1; shift ;;
		esac
	done
	[[ -n $dir ]] || usage
	[[ -d $dir ]] || return 0
	dir=$(cd "$dir" && pwd)
	stop_watchdog "$dir"
	if [[ -f $dir/clickhouse.pid ]]; then
		log "stopping clickhouse in $dir"
		stop_server "$dir" "$timeout" TERM
	fi
}

cmd_kill() {
	local dir=${1:?DIR}
	dir=$(cd "$dir" && pwd)
	is_ours "$(server_pid "$dir")" "$dir" || die "clickhouse in $dir is not running"
	stop_server "$dir" 10 KILL
	log "killed clickhouse in $dir"
}

cmd_restart() {
	local dir=${1:?DIR}
	dir=$(cd "$dir" && pwd)
	load_env "$dir"
	if is_ours "$(server_pid "$dir")" "$dir"; then
		stop_server "$dir" 30 TERM
	fi
	# A killed server's port may linger for a moment.
	local deadline=$((SECONDS + 10))
	while tcp_open "$PORT" && ((SECONDS < deadline)); do sleep 0.1; done
	launch "$dir"
	wait_ready "$dir"
	log "restarted: 127.0.0.1:$PORT"
}

cmd_status() {
	local dir=${1:?DIR}
	dir=$(cd "$dir" && pwd)
	load_env "$dir"
	local pid
	pid=$(server_pid "$dir")
	if is_ours "$pid" "$dir"; then
		echo "clickhouse: running pid $pid 127.0.0.1:$PORT"
	else
		echo "clickhouse: stopped 127.0.0.1:$PORT"
		return 3
	fi
}

cmd_client() {
	local dir=${1:?DIR}
	shift
	dir=$(cd "$dir" && pwd)
	load_env "$dir"
	query "$@"
}

main() {
	(($#)) || usage
	local cmd=$1
	shift
	case $cmd in
	install) cmd_install ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	kill) cmd_kill "$@" ;;
	restart) cmd_restart "$@" ;;
	status) cmd_status "$@" ;;
	client) cmd_client "$@" ;;
	-h | --help | help) usage ;;
	*) die "unknown command $cmd" ;;
	esac
}

main "$@"
