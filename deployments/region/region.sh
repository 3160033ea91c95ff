#!/usr/bin/env bash
# region.sh runs two Ovation regions on one machine for the regional failover
# drill (docs/operations.md, "Regional failover"): two independent Kafka
# clusters (one broker each, kafka.sh), MirrorMaker 2 in each region copying
# the other region's ovation.events into it (as eu.ovation.events in US and
# us.ovation.events in EU), and an Ovation stack per region (ingest, process,
# push) from the ovation binary.
#
#   region.sh fetch                        download MirrorMaker 2's jars once
#   region.sh up DIR --bin OVATION [--port-base 25000] [--partitions 4]
#                    [--owner PID]         start both regions; print env lines
#   region.sh kill DIR REGION              SIGKILL every process of REGION
#                                          and its Kafka (the disaster)
#   region.sh pause-mirror DIR REGION      SIGSTOP the MirrorMaker writing into
#   region.sh resume-mirror DIR REGION     REGION, or SIGCONT it (a lagging
#                                          mirror at the moment of a disaster)
#   region.sh takeover DIR REGION [ARGS]   in the other region: stop the
#                                          mirror of REGION, start the takeover
#                                          stack for REGION's rooms, run
#                                          `ovation takeover` (ARGS passed on)
#   region.sh restart-kafka DIR REGION     bring REGION's Kafka back (its data
#                                          as it was), its MirrorMaker and its
#                                          processors (no pushers or ingest)
#   region.sh failback DIR REGION [ARGS]   start REGION's processors, stop the
#                                          takeover's ingest, run `ovation
#                                          failback` (ARGS passed on), start
#                                          REGION's pushers and ingest, stop
#                                          the rest of the takeover stack
#   region.sh reseed DIR REGION            after a failback: retire the takeover
#                                          of REGION and mirror REGION afresh
#   region.sh down DIR                     stop everything DIR's pid files name
#   region.sh status DIR
#
# Regions are "eu" and "us". Ports, from --port-base B (default 25000):
# Kafka eu B+92 (controller B+93), us B+192 (B+193); HTTP: eu ingest B+101,
# eu ingest in "ack after mirror" mode B+102, eu push B+103, eu process
# B+104; us the same at B+201..B+204; the takeover stack for eu running in
# us at B+211 (ingest), B+213 (push), B+214 (process), and for us in eu at
# B+111, B+113, B+114. Tokens: HS256 with $REGION_SECRET.
#
# Environment: MM2_VERSION (default 4.3.1, the newest connect-mirror
# served; it talks to the 4.4.0 brokers), OVATION_CACHE (default
# ~/.cache/ovation), MM2_HEAP (256m), KAFKA_HEAP (passed to kafka.sh;
# region.sh defaults it to 384m), TAKEOVER_DRAIN_WINDOW (3s: the takeover
# pushers' lame-duck drain at failback, which spreads their viewers'
# moves home over it; size it like any pusher's, docs/operations.md).
# Progress goes to stderr; stdout carries only what the caller asked for.
set -euo pipefail

MM2_VERSION=${MM2_VERSION:-4.3.1}
CACHE=${OVATION_CACHE:-$HOME/.cache/ovation}
MM2_HOME=$CACHE/mm2-$MM2_VERSION
MM2_LIB=$MM2_HOME/lib
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
KAFKA=$HERE/../kafka/kafka.sh
SELF=region.sh
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"
MM2_HEAP=${MM2_HEAP:-256m}
TAKEOVER_DRAIN_WINDOW=${TAKEOVER_DRAIN_WINDOW:-3s}
export KAFKA_HEAP=${KAFKA_HEAP:-384m}
REGION_SECRET=${REGION_SECRET:-region-drill-secret-0123456789abcdef}

other() { if [[ $1 == eu ]]; then echo us; else echo eu; fi; }
check_region() { [[ $1 == eu || $1 == us ]] || die "region must be eu or us, not $1"; }

# cmd_fetch copies MirrorMaker 2's runtime classpath into $MM2_LIB once
# (same lock and marker scheme as kafka.sh fetch).
cmd_fetch() {
	[[ -f $MM2_LIB/.complete ]] && return 0
	command -v mvn >/dev/null || die "mvn not found (apt-get install -y maven)"
	mkdir -p "$CACHE"
	exec 9>"$MM2_HOME.lock"
	flock 9
	if [[ ! -f $MM2_LIB/.complete ]]; then
		log "fetching MirrorMaker 2 ($MM2_VERSION) jars into $MM2_LIB"
		rm -rf "$MM2_LIB.tmp"
		mkdir -p "$MM2_HOME"
		if ! mvn -q -B -f "$HERE/pom.xml" -Dmm2.version="$MM2_VERSION" \
			dependency:copy-dependencies -DincludeScope=runtime \
			-DoutputDirectory="$MM2_LIB.tmp" >"$MM2_HOME.fetch.log" 2>&1; then
			cat "$MM2_HOME.fetch.log" >&2
			die "mvn could not fetch MirrorMaker 2 $MM2_VERSION"
		fi
		rm -rf "$MM2_LIB"
		mv "$MM2_LIB.tmp" "$MM2_LIB"
		touch "$MM2_LIB/.complete"
	fi
	flock -u 9
	exec 9>&-
}

load_env() {
	local dir=$1
	[[ -f $dir/region.env ]] || die "$dir has no region.env (was it started with region.sh up?)"
	# shellcheck disable=SC1091
	source "$dir/region.env"
	DIR_BIN=$dir/bin/ovation
}

kafka_port() { if [[ $1 == eu ]]; then echo $((BASE + 92)); else echo $((BASE + 192)); fi; }
# http_port REGION N: N is 1 ingest, 2 ingest (ack after mirror), 3 push,
# 4 process; 11, 13, 14 the takeover stack for the other region.
http_port() { if [[ $1 == eu ]]; then echo $((BASE + 100 + $2)); else echo $((BASE + 200 + $2)); fi; }
brokers() { echo "127.0.0.1:$(kafka_port "$1")"; }

# write_mm2 writes the one MirrorMaker 2 config both regions' MirrorMakers
# read; each runs only the flow into its own cluster (--clusters), as MM2
# is deployed in production: next to the cluster it writes.
write_mm2() {
	local dir=$1
	cat >"$dir/mm2.properties" <<EOF
# Written by deployments/region/region.sh.
clusters = eu, us
eu.bootstrap.servers = $(brokers eu)
us.bootstrap.servers = $(brokers us)

# Each region's events, the source of truth, into the other region as
# <source>.ovation.events (DefaultReplicationPolicy). Frames, snapshots and
# the changelog are not mirrored: their offsets and epochs belong to the
# home region, and a takeover rebuilds from the events into a new epoch.
eu->us.enabled = true
eu->us.topics = ovation\\.events
us->eu.enabled = true
us->eu.topics = ovation\\.events

# Only what processors committed; Ovation's events are not transactional,
# but anything a transactional producer aborted must not be copied.
eu.consumer.isolation.level = read_committed
us.consumer.isolation.level = read_committed
# Latency over throughput: no linger on the copy.
eu.producer.linger.ms = 0
us.producer.linger.ms = 0

refresh.topics.interval.seconds = 5
emit.heartbeats.enabled = false
emit.checkpoints.enabled = false
sync.group.offsets.enabled = false
sync.topic.acls.enabled = false

# One broker per cluster.
replication.factor = 1
offset-syncs.topic.replication.factor = 1
checkpoints.topic.replication.factor = 1
heartbeats.topic.replication.factor = 1
offset.storage.replication.factor = 1
status.storage.replication.factor = 1
config.storage.replication.factor = 1
EOF
}

# start_mm2 DIR REGION starts the MirrorMaker that writes into REGION.
start_mm2() {
	local dir=$1 r=$2
	local -a jvm=(
		-Xms64m "-Xmx$MM2_HEAP" -XX:+UseSerialGC -XX:MaxMetaspaceSize=192m
		-XX:TieredStopAtLevel=1 -Xss512k -Djava.awt.headless=true
		-Dorg.slf4j.simpleLogger.showDateTime=true
		"-Dorg.slf4j.simpleLogger.dateTimeFormat=yyyy-MM-dd HH:mm:ss.SSS"
		-Dorg.slf4j.simpleLogger.defaultLogLevel=info
		-Dorg.slf4j.simpleLogger.log.org.apache.kafka.clients=warn
		-Dorg.slf4j.simpleLogger.log.org.apache.kafka.common=warn
		-Dorg.slf4j.simpleLogger.log.org.apache.kafka.connect.runtime=warn
	)
	mkdir -p "$dir/$r"
	setsid java "${jvm[@]}" -cp "$MM2_LIB/*" org.apache.kafka.connect.mirror.MirrorMaker \
		"$dir/mm2.properties" --clusters "$r" >>"$dir/$r/mm2.log" 2>&1 </dev/null &
	echo $! >"$dir/$r/mm2.pid"
	log "MirrorMaker 2 into $r started (pid $!)"
}

# start_ovation DIR REGION NAME ROLE PORT [ENV=VALUE...] starts one Ovation
# process from DIR's copy of the binary (so its command line names DIR).
start_ovation() {
	local dir=$1 r=$2 name=$3 role=$4 port=$5
	shift 5
	mkdir -p "$dir/$r"
	setsid env OVATION_KAFKA_BROKERS="$(brokers "$r")" OVATION_HTTP_ADDR="127.0.0.1:$port" \
		OVATION_AUTH_HS256_SECRETS="$REGION_SECRET" "$@" \
		"$dir/bin/ovation" "$role" >>"$dir/$r/$name.log" 2>&1 </dev/null &
	echo $! >"$dir/$r/$name.pid"
	echo "$port" >"$dir/$r/$name.port"
}

# wait_http DIR REGION NAME... waits for each process's /readyz.
wait_http() {
	local dir=$1 r=$2
	shift 2
	local deadline=$((SECONDS + 60)) name pid port
	for name in "$@"; do
		port=$(cat "$dir/$r/$name.port")
		until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz" 2>/dev/null; do
			pid=$(cat "$dir/$r/$name.pid")
			alive "$pid" || {
				tail -n 20 "$dir/$r/$name.log" >&2
				die "$r $name exited; log: $dir/$r/$name.log"
			}
			((SECONDS < deadline)) || die "$r $name not ready after 60s; log: $dir/$r/$name.log"
			sleep 0.2
		done
	done
}

# start_stack DIR REGION [PART...] starts REGION's own stack on its own
# topics: process, push, ingest, ingest-mirror (default: all of them).
start_stack() {
	local dir=$1 r=$2 o part
	shift 2
	o=$(other "$r")
	local -a parts=("$@")
	((${#parts[@]})) || parts=(process push ingest ingest-mirror)
	for part in "${parts[@]}"; do
		case $part in
		process)
			start_ovation "$dir" "$r" process process "$(http_port "$r" 4)" \
				OVATION_GROUP="$r-ovation-processors" OVATION_TRANSACTIONAL_ID="$r-ovation-process-0" ;;
		push) start_ovation "$dir" "$r" push push "$(http_port "$r" 3)" OVATION_NODE="$r-push-0" OVATION_PRESENCE_INTERVAL=1s ;;
		ingest) start_ovation "$dir" "$r" ingest ingest "$(http_port "$r" 1)" OVATION_USER_RATE=-1 OVATION_CLIENT_RATE=-1 ;;
		ingest-mirror)
			start_ovation "$dir" "$r" ingest-mirror ingest "$(http_port "$r" 2)" OVATION_USER_RATE=-1 OVATION_CLIENT_RATE=-1 \
				OVATION_ACK_AFTER_MIRROR_BROKERS="$(brokers "$o")" OVATION_ACK_AFTER_MIRROR_TOPIC="$r.ovation.events" ;;
		*) die "no part $part" ;;
		esac
	done
	wait_http "$dir" "$r" "${parts[@]}"
	log "$r up: ${parts[*]} (ingest :$(http_port "$r" 1), ingest ack-after-mirror :$(http_port "$r" 2), push :$(http_port "$r" 3))"
}

# takeover_env REGION prints the environment of the takeover stack for
# REGION's rooms (running in the other region): the mirrored events topic
# and takeover topics of its own, its own group and transactional id.
takeover_env() {
	local r=$1
	echo OVATION_TOPIC_EVENTS="$r.ovation.events" OVATION_TOPIC_FRAMES="$r.ovation.room-frames" \
		OVATION_TOPIC_SNAPSHOTS="$r.ovation.room-snapshots" OVATION_TOPIC_CHANGELOG="$r.ovation.state-changelog" \
		OVATION_TOPIC_DLQ="$r.ovation.events-dlq"
}

# topics_create BROKERS [ENV=VALUE...] runs `ovation topics create`, again
# if the new topics' metadata has not reached the broker yet (it is
# idempotent).
topics_create() {
	local bs=$1 i
	shift
	for i in 1 2 3 4 5; do
		env "$@" "$DIR_BIN" topics create --kafka-brokers "$bs" --partitions "$PARTITIONS" --replication 1 >&2 && return 0
		sleep 1
	done
	die "ovation topics create on $bs failed 5 times"
}

# wait_topic BROKERS TOPIC MM2PIDFILE waits until the MirrorMaker whose pid
# file is named has created TOPIC with the partitions of its source.
wait_topic() {
	local bs=$1 topic=$2 pidfile=$3 deadline=$((SECONDS + 90))
	# Not `kcat -L -t TOPIC`: a metadata request naming a topic creates it
	# (auto.create.topics.enable), with the wrong partition count.
	until kcat -b "$bs" -L -m 5 2>/dev/null | grep -q "topic \"$topic\" with $PARTITIONS partitions"; do
		alive "$(cat "$pidfile")" || die "MirrorMaker 2 exited; log: ${pidfile%.pid}.log"
		((SECONDS < deadline)) || die "topic $topic not on $bs after 90s; log: ${pidfile%.pid}.log"
		sleep 0.5
	done
}

cmd_up() {
	local dir="" bin="" owner="" partitions=4
	BASE=25000
	while (($#)); do
		case $1 in
		--bin) bin=$2; shift 2 ;;
		--port-base) BASE=$2; shift 2 ;;
		--partitions) partitions=$2; shift 2 ;;
		--owner) owner=$2; shift 2 ;;
		-*) die "unknown flag $1" ;;
		*) [[ -z $dir ]] || die "extra argument $1"; dir=$1; shift ;;
		esac
	done
	[[ -n $dir && -n $bin ]] || usage
	[[ -x $bin ]] || die "--bin $bin is not an executable"
	command -v kcat >/dev/null || die "kcat not found (apt-get install -y kcat)"
	mkdir -p "$dir/bin"
	dir=$(cd "$dir" && pwd)
	[[ -f $dir/region.env ]] && die "$dir already holds a drill; region.sh down it and use a fresh DIR"
	cp "$bin" "$dir/bin/ovation"
	cmd_fetch
	"$KAFKA" fetch
	printf 'BASE=%s\nPARTITIONS=%s\n' "$BASE" "$partitions" >"$dir/region.env"
	# Whatever fails below leaves nothing running.
	# shellcheck disable=SC2064
	trap "cmd_down '$dir' >/dev/null 2>&1" EXIT
	if [[ -n $owner ]]; then
		start_watchdog "$dir" "$owner" "$HERE/region.sh" 5
	fi
	# Both clusters at once: two JVM starts in parallel.
	local r pids=()
	for r in eu us; do
		"$KAFKA" start "$dir/$r/kafka" --port "$(kafka_port "$r")" --controller-port "$(($(kafka_port "$r") + 1))" >/dev/null &
		pids+=($!)
	done
	for r in "${pids[@]}"; do wait "$r" || die "a Kafka cluster did not start"; done
	DIR_BIN=$dir/bin/ovation PARTITIONS=$partitions
	for r in eu us; do
		topics_create "$(brokers "$r")"
	done
	write_mm2 "$dir"
	start_mm2 "$dir" eu
	start_mm2 "$dir" us
	wait_topic "$(brokers us)" eu.ovation.events "$dir/us/mm2.pid"
	wait_topic "$(brokers eu)" us.ovation.events "$dir/eu/mm2.pid"
	# The takeover stacks' own topics, created ahead of time next to the
	# mirrored events (ovation topics checks they are co-partitioned).
	for r in eu us; do
		# shellcheck disable=SC2046
		topics_create "$(brokers "$r")" $(takeover_env "$(other "$r")")
	done
	start_stack "$dir" eu &
	pids=($!)
	start_stack "$dir" us &
	pids+=($!)
	for r in "${pids[@]}"; do wait "$r" || die "a region's stack did not start"; done
	trap - EXIT
	print_env "$dir"
}

print_env() {
	local dir=$1
	echo "export REGION_DIR=$dir"
	echo "export REGION_SECRET=$REGION_SECRET"
	for r in eu us; do
		local R=${r^^}
		echo "export REGION_${R}_KAFKA=$(brokers "$r")"
		echo "export REGION_${R}_INGEST=http://127.0.0.1:$(http_port "$r" 1)"
		echo "export REGION_${R}_INGEST_MIRROR=http://127.0.0.1:$(http_port "$r" 2)"
		echo "export REGION_${R}_PUSH=ws://127.0.0.1:$(http_port "$r" 3)/v1/stream"
		echo "export REGION_${R}_TAKEOVER_INGEST=http://127.0.0.1:$(http_port "$(other "$r")" 11)"
		echo "export REGION_${R}_TAKEOVER_PUSH=ws://127.0.0.1:$(http_port "$(other "$r")" 13)/v1/stream"
	done
}

# pids_of DIR REGION prints the pids of REGION's processes (Ovation and
# MirrorMaker) that are still ours.
pids_of() {
	local dir=$1 r=$2 f pid
	for f in "$dir/$r"/*.pid; do
		[[ -f $f ]] || continue
		pid=$(cat "$f")
		is_ours "$pid" "$dir" && echo "$pid"
	done
	return 0
}

cmd_kill() {
	local dir=${1:?DIR} r=${2:?REGION}
	check_region "$r"
	dir=$(cd "$dir" && pwd)
	load_env "$dir"
	local pids
	mapfile -t pids < <(pids_of "$dir" "$r")
	# Everything at once, Kafka included: no process gets to flush or say
	# goodbye, as when a region's network or power goes.
	local bpid
	bpid=$(cat "$dir/$r/kafka/broker-1.pid" 2>/dev/null || true)
	is_ours "$bpid" "$dir" && pids+=("$bpid")
	((${#pids[@]})) || die "nothing of $r is running"
	kill -KILL "${pids[@]}"
	local p
	for p in "${pids[@]}"; do while alive "$p"; do sleep 0.05; done; done
	rm -f "$dir/$r"/*.pid "$dir/$r/kafka/broker-1.pid"
	log "killed $r: ${#pids[@]} processes (SIGKILL), Kafka included"
}

# stop_named DIR REGION NAME... stops those processes (SIGTERM, then KILL).
stop_named() {
	local dir=$1 r=$2 name pid
	shift 2
	for name in "$@"; do
		pid=$(cat "$dir/$r/$name.pid" 2>/dev/null || true)
		if is_ours "$pid" "$dir"; then
			kill -CONT "$pid" 2>/dev/null || true # a paused MirrorMaker must run to stop
			kill -TERM "$pid"
			local deadline=$((SECONDS + 40))
			while alive "$pid"; do
				if ((SECONDS >= deadline)); then kill -KILL "$pid"; fi
				sleep 0.1
			done
		fi
		rm -f "$dir/$r/$name.pid"
	done
}

# cmd_mirror DIR REGION stop|cont pauses (SIGSTOP) or resumes the
# MirrorMaker that writes into REGION: a mirror lagging at the moment of a
# disaster, which is what async mirroring loses.
cmd_mirror() {
	local dir=${1:?DIR} r=${2:?REGION} sig=${3:?stop or cont} pid
	check_region "$r"
	dir=$(cd "$dir" && pwd)
	pid=$(cat "$dir/$r/mm2.pid" 2>/dev/null || true)
	is_ours "$pid" "$dir" || die "no MirrorMaker into $r is running"
	case $sig in
	stop) kill -STOP "$pid" && log "MirrorMaker into $r paused (pid $pid)" ;;
	cont) kill -CONT "$pid" && log "MirrorMaker into $r resumed (pid $pid)" ;;
	*) die "pause-mirror/resume-mirror: want stop or cont" ;;
	esac
}

cmd_takeover() {
	local dir=${1:?DIR} r=${2:?REGION}
	shift 2
	check_region "$r"
	dir=$(cd "$dir" && pwd)
	load_env "$dir"
	local s
	s=$(other "$r")
	# 1. The mirror of the lost region has nothing left to read; stopping
	# it keeps the takeover's own writes the only new ones in the topic.
	# SIGKILL: a graceful stop waits on the dead cluster for seconds, and
	# its position is of no use after a takeover (the mirror is re-seeded
	# after failback).
	local t0=$SECONDS mpid
	mpid=$(cat "$dir/$s/mm2.pid" 2>/dev/null || true)
	if is_ours "$mpid" "$dir"; then
		kill -KILL "$mpid"
		while alive "$mpid"; do sleep 0.05; done
	fi
	rm -f "$dir/$s/mm2.pid"
	log "mirror into $s stopped"
	# 2. The takeover stack for r's rooms, in s, on r's mirrored events.
	# shellcheck disable=SC2046
	start_ovation "$dir" "$s" "takeover-$r-process" process "$(http_port "$s" 14)" $(takeover_env "$r") \
		OVATION_GROUP="takeover-$r-ovation-processors" OVATION_TRANSACTIONAL_ID="takeover-$r-ovation-process-0"
	# shellcheck disable=SC2046
	start_ovation "$dir" "$s" "takeover-$r-push" push "$(http_port "$s" 13)" $(takeover_env "$r") \
		OVATION_NODE="takeover-$r-push-0" OVATION_PRESENCE_INTERVAL=1s OVATION_DRAIN_WINDOW="$TAKEOVER_DRAIN_WINDOW"
	# shellcheck disable=SC2046
	start_ovation "$dir" "$s" "takeover-$r-ingest" ingest "$(http_port "$s" 11)" $(takeover_env "$r") \
		OVATION_USER_RATE=-1 OVATION_CLIENT_RATE=-1
	wait_http "$dir" "$s" "takeover-$r-process" "takeover-$r-push" "takeover-$r-ingest"
	log "takeover stack for $r up in $s ($((SECONDS - t0)) s)"
	# 3. Rebuild r's rooms from their mirrored events into new epochs.
	# shellcheck disable=SC2046
	env $(takeover_env "$r") "$dir/bin/ovation" takeover --kafka-brokers "$(brokers "$s")" \
		--region "$r" --failed-kafka-brokers "$(brokers "$r")" "$@"
}

cmd_restart_kafka() {
	local dir=${1:?DIR} r=${2:?REGION}
	check_region "$r"
	dir=$(cd "$dir" && pwd)
	load_env "$dir"
	"$KAFKA" start-broker "$dir/$r/kafka" 1
	start_mm2 "$dir" "$r"
	# r's processors too, ahead of the failback: they restore from r's own
	# changelog and wait out the group session of the members killed with
	# the region, while the takeover still serves r's rooms. No pushers or
	# ingest yet, so nobody sees r's state from before the loss.
	start_stack "$dir" "$r" process
}

cmd_failback() {
	local dir=${1:?DIR} r=${2:?REGION}
	shift 2
	check_region "$r"
	dir=$(cd "$dir" && pwd)
	load_env "$dir"
	local s
	s=$(other "$r")
	# 1. r's processors back, if restart-kafka did not start them.
	is_ours "$(cat "$dir/$r/process.pid" 2>/dev/null || true)" "$dir" || start_stack "$dir" "$r" process
	# 2. No more writes for r's rooms in s.
	stop_named "$dir" "$s" "takeover-$r-ingest"
	# 3. Copy the events the takeover accepted back home and rebuild r's
	# rooms there into new epochs.
	"$dir/bin/ovation" failback --kafka-brokers "$(brokers "$r")" --region "$r" \
		--takeover-kafka-brokers "$(brokers "$s")" --takeover-topic-events "$r.ovation.events" "$@"
	# 4. r serves its rooms again; the takeover pushers go (their viewers
	# move to r's pushers and get the rebuilt snapshot).
	start_stack "$dir" "$r" push ingest ingest-mirror
	stop_named "$dir" "$s" "takeover-$r-push" "takeover-$r-process"
}

# cmd_reseed DIR REGION, after a failback, restarts the mirror of REGION
# into the other region from scratch: `ovation takeover --retire` deletes
# the takeover's topics (the mirrored events, which hold the takeover's own
# events and rebuild requests), its group and MirrorMaker's offsets; the
# MirrorMaker started again copies REGION's retained events afresh; the
# takeover topics are created again, ready for the next takeover.
cmd_reseed() {
	local dir=${1:?DIR} r=${2:?REGION} s
	check_region "$r"
	dir=$(cd "$dir" && pwd)
	load_env "$dir"
	s=$(other "$r")
	if is_ours "$(cat "$dir/$s/mm2.pid" 2>/dev/null || true)" "$dir"; then
		stop_named "$dir" "$s" mm2
	fi
	# shellcheck disable=SC2046
	env $(takeover_env "$r") "$DIR_BIN" takeover --retire --region "$r" --kafka-brokers "$(brokers "$s")" \
		--group "takeover-$r-ovation-processors" >&2
	start_mm2 "$dir" "$s"
	wait_topic "$(brokers "$s")" "$r.ovation.events" "$dir/$s/mm2.pid"
	# shellcheck disable=SC2046
	topics_create "$(brokers "$s")" $(takeover_env "$r")
	log "mirror of $r into $s re-seeded"
}

cmd_down() {
	local dir=${1:?DIR}
	[[ -d $dir ]] || return 0
	dir=$(cd "$dir" && pwd)
	stop_watchdog "$dir"
	local r f pid pids=()
	for r in eu us; do
		for f in "$dir/$r"/*.pid; do
			[[ -f $f ]] || continue
			pid=$(cat "$f")
			is_ours "$pid" "$dir" && pids+=("$pid")
		done
	done
	if ((${#pids[@]})); then
		log "stopping ${#pids[@]} process(es)"
		kill -CONT "${pids[@]}" 2>/dev/null || true
		kill -TERM "${pids[@]}" 2>/dev/null || true
		local deadline=$((SECONDS + 20)) left
		while :; do
			left=()
			for pid in "${pids[@]}"; do alive "$pid" && left+=("$pid"); done
			((${#left[@]})) || break
			if ((SECONDS >= deadline)); then kill -KILL "${left[@]}" 2>/dev/null || true; fi
			sleep 0.1
		done
	fi
	for r in eu us; do
		rm -f "$dir/$r"/*.pid
		[[ -d $dir/$r/kafka ]] && "$KAFKA" stop "$dir/$r/kafka" --timeout 10
	done
	return 0
}

# stop is what the watchdog calls (lib.sh's start_watchdog convention).
cmd_stop() {
	local dir=${1:?DIR}
	cmd_down "$dir"
}

cmd_status() {
	local dir=${1:?DIR} r f pid
	dir=$(cd "$dir" && pwd)
	for r in eu us; do
		for f in "$dir/$r"/*.pid; do
			[[ -f $f ]] || continue
			pid=$(cat "$f")
			if is_ours "$pid" "$dir"; then echo "$r $(basename "$f" .pid): running pid $pid"; fi
		done
		[[ -d $dir/$r/kafka ]] && "$KAFKA" status "$dir/$r/kafka" | sed "s/^/$r kafka /" || true
	done
}

main() {
	(($#)) || usage
	local cmd=$1
	shift
	case $cmd in
	fetch) cmd_fetch ;;
	up) cmd_up "$@" ;;
	kill) cmd_kill "$@" ;;
	pause-mirror) cmd_mirror "$@" stop ;;
	resume-mirror) cmd_mirror "$@" cont ;;
	takeover) cmd_takeover "$@" ;;
	restart-kafka) cmd_restart_kafka "$@" ;;
	failback) cmd_failback "$@" ;;
	reseed) cmd_reseed "$@" ;;
	down) cmd_down "$@" ;;
	stop) cmd_stop "$@" ;;
	status) cmd_status "$@" ;;
	-h | --help | help) usage ;;
	*) die "unknown command $cmd" ;;
	esac
}

main "$@"
