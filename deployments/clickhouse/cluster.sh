#!/usr/bin/env bash
# cluster.sh runs a private ClickHouse cluster for Ovation's tests and for
# trying cluster mode locally: Debian's ZooKeeper and 2 shards x 2 replicas
# of ClickHouse 18.16 on one machine, all inside one directory, listening
# on 127.0.0.1 only, as the current user. Each node is a clickhouse.sh
# server (DIR/s1r1 … DIR/s2r2) with a config.d file adding the cluster
# "ovation" (internal_replication, so a Distributed insert writes one
# replica per shard and replication copies it), the macros {shard} and
# {replica}, ZooKeeper and the distributed DDL queue. Nodes are configured
# small (caches of 64 MiB, 2 GB per query) so four fit beside everything
# else on a shared development machine.
#
#   cluster.sh install                     apt-get install ClickHouse and ZooKeeper if missing
#   cluster.sh start DIR [--base-port 24200] [--owner PID]
#                                          start ZooKeeper and the 4 nodes, wait, print the
#                                          nodes' native addresses, comma-separated
#   cluster.sh stop DIR                    stop the nodes and ZooKeeper
#   cluster.sh stop-node DIR NODE          stop one node (s1r1, s1r2, s2r1, s2r2)
#   cluster.sh kill-node DIR NODE          SIGKILL one node
#   cluster.sh start-node DIR NODE         start a stopped node again, wait until it answers
#   cluster.sh status DIR
#   cluster.sh client DIR NODE [ARGS...]   clickhouse-client connected to NODE
#
# Ports from --base-port B: ZooKeeper B; node i (0-3) native B+10+i, HTTP
# B+20+i, interserver B+30+i. --owner PID starts a watchdog that stops the
# whole cluster when PID exits.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=cluster.sh
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"
CH="$HERE/clickhouse.sh"
NODES=(s1r1 s1r2 s2r1 s2r2)
ZK_START_TIMEOUT=${ZOOKEEPER_START_TIMEOUT:-60}

cmd_install() {
	"$CH" install
	if [[ -f /usr/share/java/zookeeper.jar ]]; then
		return 0
	fi
	log "installing zookeeper"
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends zookeeper >&2 ||
		{
			apt-get -o DPkg::Lock::Timeout=600 update -q >&2
			DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends zookeeper >&2
		}
	[[ -f /usr/share/java/zookeeper.jar ]] || die "zookeeper still missing after install"
}

load_env() {
	local dir=$1
	[[ -f $dir/cluster.env ]] || die "$dir has no cluster.env (was it started with cluster.sh start?)"
	# shellcheck disable=SC1091
	source "$dir/cluster.env"
}

node_index() {
	local i
	for i in "${!NODES[@]}"; do
		[[ ${NODES[$i]} == "$1" ]] && { echo "$i"; return 0; }
	done
	die "unknown node $1 (use ${NODES[*]})"
}

zk_pid() { cat "$1/zookeeper/zookeeper.pid" 2>/dev/null || true; }

zk_start() {
	local dir=$1 zk=$1/zookeeper pid deadline
	mkdir -p "$zk/data" "$zk/log"
	if is_ours "$(zk_pid "$dir")" "$dir"; then
		return 0
	fi
	cat >"$zk/zoo.cfg" <<EOF
# Written by deployments/clickhouse/cluster.sh.
tickTime=500
initLimit=10
syncLimit=5
dataDir=$zk/data
clientPort=$ZK_PORT
clientPortAddress=127.0.0.1
maxClientCnxns=200
admin.enableServer=false
4lw.commands.whitelist=ruok,stat
EOF
	tcp_open "$ZK_PORT" && die "port $ZK_PORT (ZooKeeper) is already in use"
	log "starting zookeeper on 127.0.0.1:$ZK_PORT"
	# A small heap: the cluster's DDL queue and a few replicated tables.
	setsid java -Xms32m -Xmx160m -XX:+UseSerialGC -Dzookeeper.log.dir="$zk/log" \
		-cp "/usr/share/java/zookeeper.jar" org.apache.zookeeper.server.quorum.QuorumPeerMain "$zk/zoo.cfg" \
		>>"$zk/log/stdout.log" 2>&1 </dev/null &
	pid=$!
	echo "$pid" >"$zk/zookeeper.pid"
	deadline=$((SECONDS + ZK_START_TIMEOUT))
	until [[ $( (exec 3<>"/dev/tcp/127.0.0.1/$ZK_PORT" && printf ruok >&3 && timeout 2 cat <&3) 2>/dev/null) == imok ]]; do
		alive "$pid" || { tail -n 20 "$zk/log/stdout.log" >&2; die "zookeeper exited during start; logs in $zk/log"; }
		((SECONDS < deadline)) || die "zookeeper not up after ${ZK_START_TIMEOUT}s; logs in $zk/log"
		sleep 0.2
	done
}

zk_stop() {
	local dir=$1 pid deadline
	pid=$(zk_pid "$dir")
	is_ours "$pid" "$dir" || { rm -f "$dir/zookeeper/zookeeper.pid"; return 0; }
	log "stopping zookeeper"
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + 15))
	while alive "$pid"; do
		((SECONDS < deadline)) || { kill -KILL "$pid" 2>/dev/null || true; deadline=$((SECONDS + 10)); }
		sleep 0.1
	done
	rm -f "$dir/zookeeper/zookeeper.pid"
}

# node_config writes NODE's config.d file, merged by the server into the
# config.xml that clickhouse.sh writes.
node_config() {
	local dir=$1 node=$2 i=$3 shard replica n j
	shard=${node:1:1} replica=$node
	mkdir -p "$dir/$node/config.d"
	{
		cat <<EOF
<?xml version="1.0"?>
<!-- Written by deployments/clickhouse/cluster.sh. -->
<yandex>
    <interserver_http_host>127.0.0.1</interserver_http_host>
    <interserver_http_port>$((BASE_PORT + 30 + i))</interserver_http_port>
    <mark_cache_size>67108864</mark_cache_size>
    <uncompressed_cache_size>67108864</uncompressed_cache_size>
    <max_concurrent_queries>50</max_concurrent_queries>
    <macros>
        <shard>$shard</shard>
        <replica>$replica</replica>
    </macros>
    <zookeeper>
        <node><host>127.0.0.1</host><port>$ZK_PORT</port></node>
        <session_timeout_ms>10000</session_timeout_ms>
    </zookeeper>
    <distributed_ddl>
        <path>/clickhouse/task_queue/ddl</path>
    </distributed_ddl>
    <remote_servers>
        <ovation>
EOF
		for s in 1 2; do
			echo "            <shard><internal_replication>true</internal_replication>"
			for j in "${!NODES[@]}"; do
				n=${NODES[$j]}
				[[ ${n:1:1} == "$s" ]] || continue
				echo "                <replica><host>127.0.0.1</host><port>$((BASE_PORT + 10 + j))</port></replica>"
			done
			echo "            </shard>"
		done
		cat <<EOF
        </ovation>
    </remote_servers>
</yandex>
EOF
	} >"$dir/$node/config.d/cluster.xml"
}

node_start() {
	local dir=$1 node=$2 i
	i=$(node_index "$node")
	node_config "$dir" "$node" "$i"
	CLICKHOUSE_START_TIMEOUT=${CLICKHOUSE_START_TIMEOUT:-90} \
		"$CH" start "$dir/$node" --port $((BASE_PORT + 10 + i)) --http-port $((BASE_PORT + 20 + i)) >/dev/null
}

cmd_start() {
	local dir="" base="" owner=""
	while (($#)); do
		case $1 in
		--base-port) base=$2; shift 2 ;;
		--owner) owner=$2; shift 2 ;;
		-*) die "unknown flag $1" ;;
		*) [[ -z $dir ]] || die "extra argument $1"; dir=$1; shift ;;
		esac
	done
	[[ -n $dir ]] || usage
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	[[ -f /usr/share/java/zookeeper.jar ]] || die "zookeeper not installed; run: $0 install"
	if [[ -f $dir/cluster.env ]]; then
		load_env "$dir"
		[[ -z $base || $base == "$BASE_PORT" ]] || die "$dir holds a cluster on base port $BASE_PORT; use a fresh DIR"
	else
		BASE_PORT=${base:-24200}
		echo "BASE_PORT=$BASE_PORT" >"$dir/cluster.env"
	fi
	ZK_PORT=$BASE_PORT
	zk_start "$dir"
	if [[ -n $owner ]]; then
		start_watchdog "$dir" "$owner" "$HERE/cluster.sh" 10
	fi
	local node addrs=() i
	for i in "${!NODES[@]}"; do
		node=${NODES[$i]}
		node_start "$dir" "$node" || { cmd_stop "$dir"; exit 1; }
		addrs+=("127.0.0.1:$((BASE_PORT + 10 + i))")
	done
	log "up: zookeeper 127.0.0.1:$ZK_PORT, cluster ovation (2 shards x 2 replicas): ${addrs[*]}"
	(IFS=,; echo "${addrs[*]}")
}

cmd_stop() {
	local dir=${1:?DIR} node
	[[ -d $dir ]] || return 0
	dir=$(cd "$dir" && pwd)
	[[ -f $dir/cluster.env ]] || return 0
	load_env "$dir"
	stop_watchdog "$dir"
	for node in "${NODES[@]}"; do
		[[ -d $dir/$node ]] && "$CH" stop "$dir/$node" --timeout 20 || true
	done
	zk_stop "$dir"
}

cmd_node() {
	local what=$1 dir=${2:?DIR} node=${3:?NODE}
	dir=$(cd "$dir" && pwd)
	load_env "$dir"
	ZK_PORT=$BASE_PORT
	node_index "$node" >/dev/null
	case $what in
	stop) "$CH" stop "$dir/$node" --timeout 20 ;;
	kill) "$CH" kill "$dir/$node" ;;
	start) "$CH" restart "$dir/$node" ;;
	esac
}

cmd_status() {
	local dir=${1:?DIR} node rc=0
	dir=$(cd "$dir" && pwd)
	load_env "$dir"
	if is_ours "$(zk_pid "$dir")" "$dir"; then
		echo "zookeeper: running pid $(zk_pid "$dir") 127.0.0.1:$BASE_PORT"
	else
		echo "zookeeper: stopped"
		rc=3
	fi
	for node in "${NODES[@]}"; do
		echo -n "$node "
		"$CH" status "$dir/$node" || rc=3
	done
	return $rc
}

main() {
	(($#)) || usage
	local cmd=$1
	shift
	case $cmd in
	install) cmd_install ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	stop-node) cmd_node stop "$@" ;;
	kill-node) cmd_node kill "$@" ;;
	start-node) cmd_node start "$@" ;;
	status) cmd_status "$@" ;;
	client)
		local dir=${1:?DIR} node=${2:?NODE}
		shift 2
		"$CH" client "$dir/$node" "$@"
		;;
	-h | --help | help) usage ;;
	*) die "unknown command $cmd" ;;
	esac
}

main "$@"
