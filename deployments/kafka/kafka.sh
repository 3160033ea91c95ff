#!/usr/bin/env bash
# kafka.sh runs a real Apache Kafka (KRaft mode, no ZooKeeper) for Ovation's
# tests and for local development, from plain jars fetched with Maven.
#
#   kafka.sh fetch                       download the jars once into the cache
#   kafka.sh start DIR [--brokers 1|3] [--port BASE] [--controller-port BASE]
#                      [--owner PID]     format and start, print bootstrap list
#   kafka.sh stop DIR [--timeout S]      stop what DIR's pid files name
#   kafka.sh kill-broker DIR N           SIGKILL broker N (fault tests)
#   kafka.sh start-broker DIR N          restart broker N, same config and data
#   kafka.sh status DIR                  one line per broker
#
# Every node is a combined broker+controller; with --brokers 3 the three
# nodes form a controller quorum of three. Brokers listen on 127.0.0.1 only:
# BASE, BASE+1, BASE+2 (default 19092 for one broker, 29092 for three), and
# their controllers on the controller base (default BASE+1000).
# --owner PID starts a watchdog that stops the cluster when PID exits, so a
# crashed test binary does not leave JVMs behind.
#
# Environment: KAFKA_VERSION (default 4.4.0), OVATION_CACHE (default
# ~/.cache/ovation), KAFKA_HEAP (default 512m), KAFKA_START_TIMEOUT (90 s),
# KAFKA_JVM_OPTS (appended to the broker's JVM flags; the defaults favour a
# fast start on two cores: C1 only, serial GC).
# Progress goes to stderr; stdout carries only what the caller asked for.
set -euo pipefail

KAFKA_VERSION=${KAFKA_VERSION:-4.4.0}
CACHE=${OVATION_CACHE:-$HOME/.cache/ovation}
KAFKA_HOME=$CACHE/kafka-$KAFKA_VERSION
LIB=$KAFKA_HOME/lib
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=kafka.sh
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"
HEAP=${KAFKA_HEAP:-512m}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}


# fetch copies the broker's runtime classpath into $LIB once. A lock keeps
# parallel test packages from downloading into the same directory at once;
# the marker file is written last so a half-finished copy is never used.
cmd_fetch() {
	[[ -f $LIB/.complete ]] && return 0
	command -v mvn >/dev/null || die "mvn not found (apt-get install -y maven)"
	command -v java >/dev/null || die "java not found (apt-get install -y openjdk-17-jre-headless)"
	mkdir -p "$CACHE"
	exec 9>"$KAFKA_HOME.lock"
	flock 9
	if [[ ! -f $LIB/.complete ]]; then
		log "fetching Kafka $KAFKA_VERSION jars into $LIB"
		rm -rf "$LIB.tmp"
		if ! mvn -q -B -f "$HERE/pom.xml" -Dkafka.version="$KAFKA_VERSION" \
			dependency:copy-dependencies -DincludeScope=runtime \
			-DoutputDirectory="$LIB.tmp" >"$KAFKA_HOME.fetch.log" 2>&1; then
			cat "$KAFKA_HOME.fetch.log" >&2
			die "mvn could not fetch Kafka $KAFKA_VERSION"
		fi
		rm -rf "$LIB"
		mv "$LIB.tmp" "$LIB"
		touch "$LIB/.complete"
	fi
	flock -u 9
	exec 9>&-
}

# cluster.env in DIR holds what start decided, so that start-broker, status
# and stop act on the same cluster without repeating the flags.
load_env() {
	local dir=$1
	[[ -f $dir/cluster.env ]] || die "$dir has no cluster.env (was it started with kafka.sh start?)"
	# shellcheck disable=SC1091
	source "$dir/cluster.env"
}


pid_of() { cat "$1/broker-$2.pid" 2>/dev/null || true; }

broker_port() { echo $((PORT + $1 - 1)); }
controller_port() { echo $((CPORT + $1 - 1)); }

bootstrap() {
	local i out=""
	for ((i = 1; i <= BROKERS; i++)); do
		out+="${out:+,}127.0.0.1:$(broker_port "$i")"
	done
	echo "$out"
}

write_props() {
	local dir=$1 n=$2 voters="" i rf isr
	for ((i = 1; i <= BROKERS; i++)); do
		voters+="${voters:+,}$i@127.0.0.1:$(controller_port "$i")"
	done
	if ((BROKERS >= 3)); then rf=3 isr=2; else rf=1 isr=1; fi
	cat >"$dir/broker-$n.properties" <<EOF
# Written by deployments/kafka/kafka.sh; node $n of $BROKERS.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$(broker_port "$n"),CONTROLLER://127.0.0.1:$(controller_port "$n")
advertised.listeners=PLAINTEXT://127.0.0.1:$(broker_port "$n")
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$dir/data-$n

# Durability as production would have it: with three brokers an acks=all
# write survives the loss of any one broker, and no unclean election.
default.replication.factor=$rf
min.insync.replicas=$isr
unclean.leader.election.enable=false
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr

# Fast tests: no initial rebalance delay, small internal topics (created on
# first use, 50 partitions each would cost seconds), quick cleanup of timed
# out transactions, quick detection of a killed broker.
group.initial.rebalance.delay.ms=0
offsets.topic.num.partitions=10
transaction.state.log.num.partitions=10
share.coordinator.state.topic.num.partitions=5
transaction.abort.timed.out.transaction.cleanup.interval.ms=1000
transaction.max.timeout.ms=900000
broker.heartbeat.interval.ms=1000
broker.session.timeout.ms=6000
replica.lag.time.max.ms=10000
leader.imbalance.check.interval.seconds=30
log.cleaner.backoff.ms=1000
num.partitions=1
auto.create.topics.enable=true
delete.topic.enable=true

# Light on a two-core machine.
num.network.threads=2
num.io.threads=4
background.threads=4
num.replica.fetchers=1
log.cleaner.threads=1
num.recovery.threads.per.data.dir=1
EOF
}

# launch starts node N in the background and records its PID. setsid puts the
# JVM in its own session so a Ctrl-C aimed at the caller does not reach it;
# stop and the watchdog end it.
launch() {
	local dir=$1 n=$2
	local -a jvm=(
		-Xms128m "-Xmx$HEAP" -XX:+UseSerialGC -XX:MaxMetaspaceSize=256m
		-XX:TieredStopAtLevel=1 -Xss512k
		-Djava.awt.headless=true -Djava.net.preferIPv4Stack=true
		-Dorg.slf4j.simpleLogger.showDateTime=true
		"-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd HH:mm:ss.SSS"
		-Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients=warn
		-Dorg.slf4j.simpleLogger.log.state.change.logger=warn
		-Dorg.slf4j.simpleLogger.log.kafka.request.logger=warn
	)
	local -a extra=()
	read -ra extra <<<"${KAFKA_JVM_OPTS:-}"
	# The offset of the log before this start, so readiness looks only at
	# what this JVM writes, not at a previous run's "started".
	stat -c %s "$dir/broker-$n.log" 2>/dev/null >"$dir/broker-$n.logpos" || echo 0 >"$dir/broker-$n.logpos"
	setsid java "${jvm[@]}" ${extra[@]+"${extra[@]}"} -cp "$LIB/*" kafka.Kafka "$dir/broker-$n.properties" \
		>>"$dir/broker-$n.log" 2>&1 </dev/null &
	echo $! >"$dir/broker-$n.pid"
}


# wait_ready waits until each named broker logged "Kafka Server started"
# since its launch and accepts connections, then (with kcat) until the
# cluster's metadata lists all of them as live.
wait_ready() {
	local dir=$1
	shift
	local deadline=$((SECONDS + START_TIMEOUT)) n pid pos
	for n in "$@"; do
		pos=$(cat "$dir/broker-$n.logpos" 2>/dev/null || echo 0)
		until tail -c +"$((pos + 1))" "$dir/broker-$n.log" 2>/dev/null | grep -q "Kafka Server started" &&
			tcp_open "$(broker_port "$n")"; do
			pid=$(pid_of "$dir" "$n")
			if ! alive "$pid"; then
				tail -n 30 "$dir/broker-$n.log" >&2 || true
				die "broker $n exited during start; log: $dir/broker-$n.log"
			fi
			((SECONDS < deadline)) || {
				tail -n 30 "$dir/broker-$n.log" >&2 || true
				die "broker $n not up after ${START_TIMEOUT}s; log: $dir/broker-$n.log"
			}
			sleep 0.2
		done
	done
	command -v kcat >/dev/null || return 0
	local want=$BROKERS md
	until md=$(kcat -b "$(bootstrap)" -L -m 5 2>/dev/null) && grep -q "^ $want brokers:" <<<"$md"; do
		((SECONDS < deadline)) || die "metadata does not list $want brokers after ${START_TIMEOUT}s"
		sleep 0.2
	done
}

cmd_start() {
	local dir="" brokers=1 port="" cport="" owner=""
	while (($#)); do
		case $1 in
		--brokers) brokers=$2; shift 2 ;;
		--port) port=$2; shift 2 ;;
		--controller-port) cport=$2; shift 2 ;;
		--owner) owner=$2; shift 2 ;;
		-*) die "unknown flag $1" ;;
		*) [[ -z $dir ]] || die "extra argument $1"; dir=$1; shift ;;
		esac
	done
	[[ -n $dir ]] || usage
	[[ $brokers == 1 || $brokers == 3 ]] || die "--brokers must be 1 or 3"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	cmd_fetch

	# Already running with the same shape: print the bootstrap list again.
	if [[ -f $dir/cluster.env ]]; then
		load_env "$dir"
		local up=0 i
		for ((i = 1; i <= BROKERS; i++)); do
			is_ours "$(pid_of "$dir" "$i")" "$dir" && up=$((up + 1))
		done
		if ((up == BROKERS)); then
			log "cluster in $dir already running"
			bootstrap
			return 0
		fi
		((up == 0)) || die "cluster in $dir is partly running ($up of $BROKERS); stop it first"
		if [[ $BROKERS != "$brokers" || (-n $port && $port != "$PORT") || (-n $cport && $cport != "$CPORT") ]]; then
			die "$dir holds a different cluster ($BROKERS brokers on $PORT); use a fresh DIR"
		fi
		port=$PORT cport=$CPORT
	fi
	if [[ -z $port ]]; then
		if ((brokers == 1)); then port=19092; else port=29092; fi
	fi
	[[ -n $cport ]] || cport=$((port + 1000))
	BROKERS=$brokers PORT=$port CPORT=$cport
	local cluster_id
	if [[ -f $dir/cluster.id ]]; then
		cluster_id=$(cat "$dir/cluster.id")
	else
		# A Kafka cluster id is 16 random bytes in unpadded URL-safe base64;
		# one starting with '-' would read as a flag to the storage tool.
		cluster_id=-
		while [[ $cluster_id == -* ]]; do
			cluster_id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')
		done
		echo "$cluster_id" >"$dir/cluster.id"
	fi
	cat >"$dir/cluster.env" <<EOF
BROKERS=$BROKERS
PORT=$PORT
CPORT=$CPORT
KAFKA_VERSION=$KAFKA_VERSION
EOF

	local n
	for ((n = 1; n <= BROKERS; n++)); do
		tcp_open "$(broker_port "$n")" && die "port $(broker_port "$n") is already in use"
		tcp_open "$(controller_port "$n")" && die "port $(controller_port "$n") is already in use"
		write_props "$dir" "$n"
	done

	# Format every node's storage in parallel (one JVM start each).
	local -a fmt=()
	for ((n = 1; n <= BROKERS; n++)); do
		[[ -f $dir/data-$n/meta.properties ]] && continue
		java -Xmx256m -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp "$LIB/*" kafka.tools.StorageTool format \
			--config "$dir/broker-$n.properties" --cluster-id "$cluster_id" --ignore-formatted \
			>>"$dir/format-$n.log" 2>&1 &
		fmt+=($!)
	done
	for n in "${fmt[@]}"; do
		wait "$n" || die "formatting storage failed; see $dir/format-*.log"
	done

	log "starting $BROKERS broker(s) (Kafka $KAFKA_VERSION) in $dir"
	for ((n = 1; n <= BROKERS; n++)); do
		launch "$dir" "$n"
	done
	if [[ -n $owner ]]; then
		start_watchdog "$dir" "$owner" "$HERE/kafka.sh" 5
	fi
	local all=()
	for ((n = 1; n <= BROKERS; n++)); do all+=("$n"); done
	if ! wait_ready "$dir" "${all[@]}"; then
		cmd_stop "$dir" --timeout 5 || true
		exit 1
	fi
	log "up: $(bootstrap)"
	bootstrap
}

# stop_pids sends SIGTERM, waits up to TIMEOUT seconds, then sends SIGKILL.
stop_pids() {
	local timeout=$1
	shift
	local pid deadline=$((SECONDS + timeout)) left
	for pid in "$@"; do kill -TERM "$pid" 2>/dev/null || true; done
	while :; do
		left=()
		for pid in "$@"; do alive "$pid" && left+=("$pid"); done
		((${#left[@]})) || return 0
		if ((SECONDS >= deadline)); then
			log "SIGKILL ${left[*]} after ${timeout}s"
			for pid in "${left[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
			deadline=$((SECONDS + 10))
		fi
		sleep 0.1
	done
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
	local f pid pids=()
	stop_watchdog "$dir"
	for f in "$dir"/broker-*.pid; do
		[[ -f $f ]] || continue
		pid=$(cat "$f")
		is_ours "$pid" "$dir" && pids+=("$pid")
	done
	if ((${#pids[@]})); then
		log "stopping ${#pids[@]} broker(s) in $dir"
		stop_pids "$timeout" "${pids[@]}"
	fi
	rm -f "$dir"/broker-*.pid
}

cmd_kill_broker() {
	local dir=${1:?DIR} n=${2:?N}
	dir=$(cd "$dir" && pwd)
	load_env "$dir"
	local pid
	pid=$(pid_of "$dir" "$n")
	is_ours "$pid" "$dir" || die "broker $n in $dir is not running"
	kill -KILL "$pid"
	while alive "$pid"; do sleep 0.05; done
	rm -f "$dir/broker-$n.pid"
	log "killed broker $n (pid $pid)"
}

cmd_start_broker() {
	local dir=${1:?DIR} n=${2:?N}
	dir=$(cd "$dir" && pwd)
	load_env "$dir"
	((n >= 1 && n <= BROKERS)) || die "no broker $n (cluster has $BROKERS)"
	is_ours "$(pid_of "$dir" "$n")" "$dir" && die "broker $n is already running"
	# The killed JVM's socket may linger for a moment.
	local deadline=$((SECONDS + 10))
	while tcp_open "$(broker_port "$n")" && ((SECONDS < deadline)); do sleep 0.1; done
	launch "$dir" "$n"
	wait_ready "$dir" "$n"
	log "broker $n up on 127.0.0.1:$(broker_port "$n")"
}

cmd_status() {
	local dir=${1:?DIR}
	dir=$(cd "$dir" && pwd)
	load_env "$dir"
	local n pid rc=0
	for ((n = 1; n <= BROKERS; n++)); do
		pid=$(pid_of "$dir" "$n")
		if is_ours "$pid" "$dir"; then
			echo "broker $n: running pid $pid 127.0.0.1:$(broker_port "$n")"
		else
			echo "broker $n: stopped 127.0.0.1:$(broker_port "$n")"
			rc=3
		fi
	done
	return $rc
}

main() {
	(($#)) || usage
	local cmd=$1
	shift
	case $cmd in
	fetch) cmd_fetch ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	kill-broker) cmd_kill_broker "$@" ;;
	start-broker) cmd_start_broker "$@" ;;
	status) cmd_status "$@" ;;
	-h | --help | help) usage ;;
	*) die "unknown command $cmd" ;;
	esac
}

main "$@"
