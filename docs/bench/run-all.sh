#!/usr/bin/env bash
# run-all.sh reproduces the runs reported in docs/benchmarks.md: the three
# target runs and the three sweeps, against one real Kafka broker, each
# bounded (≤ 2 minutes), loopback only. Results land next to this script.
#
#   docs/bench/run-all.sh [targets|sweeps|quiet|all]      (default: all)
#
# Environment: OVATION (the binary, default: built into a temp dir), KAFKA_PID,
# BROKERS (a running Kafka, default: one started here with
# deployments/kafka/kafka.sh on port 23092 and stopped at the end), BEFORE
# (quiet only: an older ovation binary to compare the hot room and idle
# memory against, e.g. built from the commit before issue 18's work),
# PREFIX (quiet only: prepended to the result names; issue 18's second
# round used PREFIX=r2- with BEFORE a build of 2faca76). Since issue 18's
# third round every --scenario quiet run also runs the kafka-trip floor
# (--baseline-kafka-trip); its runs, r5-*, were made one by one with
# `ovation bench --scenario quiet --baseline-fanout=false --name r5-quiet-N`.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WHAT=${1:-all}
TMP=$(mktemp -d)
if [[ -z ${OVATION:-} ]]; then
	OVATION=$TMP/ovation
	(cd "$ROOT" && go build -o "$OVATION" ./cmd/ovation)
fi
if [[ -z ${BROKERS:-} ]]; then
	KDIR=$TMP/kafka
	trap '"$ROOT/deployments/kafka/kafka.sh" stop "$KDIR" >&2 || true; rm -rf "$TMP"' EXIT
	BROKERS=$("$ROOT/deployments/kafka/kafka.sh" start "$KDIR" --port 23092 --controller-port 24092)
	KAFKA_PID=$(cat "$KDIR/broker-1.pid")
else
	trap 'rm -rf "$TMP"' EXIT
fi
# KAFKA_PID (the broker's PID, optional when BROKERS is given) puts the
# broker's CPU into the report as well.
watch=()
[[ -n ${KAFKA_PID:-} ]] && watch=(--watch-pids "kafka=$KAFKA_PID")
bench() { "$OVATION" bench --target roles --kafka-brokers "$BROKERS" --out "$HERE" --log-level warn "${watch[@]}" "$@"; }
devbench() { "$OVATION" bench --target dev --out "$HERE" --log-level warn "$@"; }

if [[ $WHAT == all || $WHAT == targets ]]; then
	# 1. Throughput: 150,000 events/s in batches of 100 for 60 s (lag must stay
	#    bounded), then as fast as ingest takes them (ingest outruns the
	#    processors there: that run shows both ceilings).
	bench --name throughput --rate 150000 --batch 100 --workers 32 --viewers 100 --rooms 100 --partitions 4 \
		--warmup 5s --duration 60s --baseline-fanout=false --baseline-kafka-duration 10s
	bench --name throughput-max --rate 0 --batch 100 --viewers 100 --rooms 100 --partitions 4 \
		--warmup 5s --duration 60s --baseline-fanout=false --baseline-kafka-duration 10s
	# 2. Latency: 20,000 events/s into 100 rooms with 5,000 viewers, gorilla side by side.
	bench --name latency --rate 20000 --batch 100 --viewers 5000 --rooms 100 --partitions 4 \
		--warmup 5s --duration 30s --baseline-kafka=false
	# 3. Fan-out capacity and idle memory at 10,000 connections: batches of 10 so
	#    every room gets a frame about every tick (2000 batches/s over 100 rooms, ~100 viewers per room).
	bench --name fanout --rate 10000 --batch 5 --workers 32 --viewers 10000 --rooms 100 --partitions 4 \
		--warmup 5s --duration 30s --baseline-kafka=false
fi
if [[ $WHAT == all || $WHAT == quiet ]]; then
	# Issue 18: quiet rooms (100 rooms x 20 viewers x 5 chat lines/s) and the
	# hot room (2,000 viewers in 1 room, 500 chat lines/s), each next to the
	# gorilla frames baseline and the per-message gorilla baseline; quiet
	# rooms on one real broker with separate roles and with
	# permessage-deflate; then the hot room three times alternating with
	# BEFORE (pipeline only), and idle memory at 10,000 connections.
	# BEFORE for issue 18's second round: a build of 2faca76.
	devbench --name "${PREFIX:-}quiet" --scenario quiet
	if [[ -n ${BEFORE:-} ]]; then devbench --name "${PREFIX:-}quiet-before" --binary "$BEFORE" --scenario quiet --baseline-fanout=false; fi
	# The processors' minimum transaction interval off (--txn-interval 0),
	# against the per-message baseline in the same run.
	devbench --name "${PREFIX:-}quiet-no-interval" --scenario quiet --baseline-fanout=false --dev-args "--txn-interval 0"
	# The processors' fetch wait off (--fetch-wait 0: a fetch per event and
	# the linger), on dev and on one broker; the third round alternated
	# these three times (dev) and twice (roles) with the runs above, with
	# --baseline-kafka-trip=false --duration 15s (docs/benchmarks.md).
	devbench --name "${PREFIX:-}quiet-no-fetch-wait" --scenario quiet --baseline-fanout=false --dev-args "--fetch-wait 0"
	bench --name "${PREFIX:-}quiet-roles" --scenario quiet
	bench --name "${PREFIX:-}quiet-roles-no-fetch-wait" --scenario quiet --baseline-fanout=false --process-args "--fetch-wait 0"
	devbench --name "${PREFIX:-}quiet-deflate" --scenario quiet --ws-compression --baseline-fanout=false --baseline-direct=false
	devbench --name "${PREFIX:-}hot" --scenario hot
	hot=(--scenario hot --baseline-fanout=false --baseline-direct=false --profile-seconds -1 --duration 15s)
	for k in 1 2 3; do
		devbench --name "${PREFIX:-}hot-after-$k" "${hot[@]}"
		if [[ -n ${BEFORE:-} ]]; then devbench --name "${PREFIX:-}hot-before-$k" --binary "$BEFORE" "${hot[@]}"; fi
	done
	idle=(--viewers 10000 --rooms 100 --rate 100 --warmup 1s --duration 3s --baseline-fanout=false --baseline-kafka=false --profile-seconds -1)
	devbench --name "${PREFIX:-}idle-10000" "${idle[@]}"
	if [[ -n ${BEFORE:-} ]]; then devbench --name "${PREFIX:-}idle-10000-before" --binary "$BEFORE" "${idle[@]}"; fi
fi
if [[ $WHAT == all || $WHAT == sweeps ]]; then
	short=(--warmup 3s --duration 12s --baseline-fanout=false --baseline-kafka=false --profile-seconds -1)
	for v in 1000 5000 10000; do
		bench --name "sweep-viewers-$v" --rate 10000 --batch 5 --workers 32 --viewers "$v" --rooms 100 "${short[@]}"
	done
	for r in 10 100 1000; do
		bench --name "sweep-rooms-$r" --rate 10000 --batch 5 --workers 32 --viewers 5000 --rooms "$r" "${short[@]}"
	done
	for p in 1 4 12; do
		bench --name "sweep-partitions-$p" --rate 0 --batch 100 --viewers 100 --rooms 100 --partitions "$p" "${short[@]}"
	done
fi
