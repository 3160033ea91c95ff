#!/usr/bin/env bash
# test-env.sh brings up the real services Ovation's tests run against: one
# Kafka broker (KRaft) and one ClickHouse, both on 127.0.0.1, all state in DIR.
#
#   test-env.sh up DIR     install what is missing, start both (idempotent),
#                          print `export` lines for the tests on stdout
#   test-env.sh down DIR   stop what `up` started in DIR
#   test-env.sh status DIR
#
# Typical use (this is what `make test` does):
#
#   eval "$(deployments/test-env.sh up /tmp/ovation-test-env)"
#   go test -race ./...
#   deployments/test-env.sh down /tmp/ovation-test-env
#
# Ports: OVATION_TEST_KAFKA_PORT (default 19092), its KRaft controller
# OVATION_TEST_KAFKA_CONTROLLER_PORT (default the Kafka port + 1000),
# OVATION_TEST_CLICKHOUSE_PORT
# (default 19000), OVATION_TEST_CLICKHOUSE_HTTP_PORT (default 18123).
# Progress goes to stderr; stdout carries only the export lines.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=test-env.sh
# shellcheck source=lib.sh
source "$HERE/lib.sh"
KAFKA=$HERE/kafka/kafka.sh
CLICKHOUSE=$HERE/clickhouse/clickhouse.sh


# install_missing installs, in one apt-get run, the Debian packages whose
# commands are missing. DPkg::Lock::Timeout waits for a concurrent apt run
# instead of failing on the lock.
install_missing() {
	local -a pkgs=()
	command -v java >/dev/null || pkgs+=(openjdk-17-jre-headless)
	command -v mvn >/dev/null || pkgs+=(maven)
	command -v kcat >/dev/null || pkgs+=(kcat)
	command -v flock >/dev/null || pkgs+=(util-linux)
	if ! command -v clickhouse-server >/dev/null && ! command -v clickhouse >/dev/null &&
		[[ ! -x /usr/sbin/clickhouse-server ]]; then
		pkgs+=(clickhouse-server)
	fi
	if ! command -v clickhouse-client >/dev/null && ! command -v clickhouse >/dev/null; then
		pkgs+=(clickhouse-client)
	fi
	((${#pkgs[@]})) || return 0
	[[ $(id -u) == 0 ]] || die "missing ${pkgs[*]}; install them (as root: apt-get install -y ${pkgs[*]})"
	log "installing ${pkgs[*]}"
	local -a apt=(apt-get -o DPkg::Lock::Timeout=600 -y -q)
	if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${pkgs[@]}" >&2; then
		"${apt[@]}" update >&2
		DEBIAN_FRONTEND=noninteractive "${apt[@]}" install "${pkgs[@]}" >&2
	fi
}

cmd_up() {
	local dir=${1:?usage: test-env.sh up DIR}
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	local start=$SECONDS
	install_missing
	"$KAFKA" fetch

	local brokers addr
	local kport=${OVATION_TEST_KAFKA_PORT:-19092}
	brokers=$("$KAFKA" start "$dir/kafka" --brokers 1 --port "$kport" \
		--controller-port "${OVATION_TEST_KAFKA_CONTROLLER_PORT:-$((kport + 1000))}")
	if ! addr=$("$CLICKHOUSE" start "$dir/clickhouse" \
		--port "${OVATION_TEST_CLICKHOUSE_PORT:-19000}" \
		--http-port "${OVATION_TEST_CLICKHOUSE_HTTP_PORT:-18123}"); then
		"$KAFKA" stop "$dir/kafka" || true
		die "clickhouse did not start"
	fi
	log "ready in $((SECONDS - start))s: kafka $brokers, clickhouse $addr (state in $dir)"
	printf 'export OVATION_KAFKA_BROKERS=%q\n' "$brokers"
	printf 'export OVATION_CLICKHOUSE_ADDR=%q\n' "$addr"
}

cmd_down() {
	local dir=${1:?usage: test-env.sh down DIR}
	[[ -d $dir ]] || return 0
	local rc=0
	"$KAFKA" stop "$dir/kafka" || rc=1
	"$CLICKHOUSE" stop "$dir/clickhouse" || rc=1
	return $rc
}

cmd_status() {
	local dir=${1:?usage: test-env.sh status DIR} rc=0
	"$KAFKA" status "$dir/kafka" || rc=$?
	"$CLICKHOUSE" status "$dir/clickhouse" || rc=$?
	return $rc
}

main() {
	(($#)) || usage
	local cmd=$1
	shift
	case $cmd in
	up) cmd_up "$@" ;;
	down) cmd_down "$@" ;;
	status) cmd_status "$@" ;;
	-h | --help | help) usage ;;
	*) die "unknown command $cmd" ;;
	esac
}

main "$@"
