#!/usr/bin/env bash
# cluster-up.sh -- a throwaway Redis Cluster of 3 primaries and 3 replicas
# on loopback, for tests (C tests through system(), shell tests directly).
#
#   cluster-up.sh start DIR PORT [OWNER_PID]
#	Start 6 redis-server processes (--cluster-enabled yes, daemonized,
#	nothing saved) with client ports PORT..PORT+5 and cluster bus ports
#	PORT+6..PORT+11 (cluster-port), each in DIR/node-CLIENTPORT (its
#	log: redis.log there), join them with redis-cli --cluster create
#	--cluster-replicas 1, and wait until all 6 say cluster_state:ok and
#	every replica's link to its primary is up. Prints nothing and exits
#	0 on success; otherwise prints why (and the logs' tails), stops what
#	it started and exits 1. DIR must exist; PORT..PORT+11 must be free
#	(pick PORT below the kernel's ephemeral range, as lib.sh does).
#	With OWNER_PID, a background watcher stops the cluster once that
#	process is gone (a test that crashes or is killed by its timeout
#	leaves nothing behind).
#   cluster-up.sh stop DIR
#	Stop every node of DIR (SIGTERM, then SIGKILL after 5 s) and the
#	watcher. Exits 0 also when nothing runs.
#   cluster-up.sh node DIR CLIENTPORT
#	Start one node of DIR again (say after a kill -9 of it), with its
#	nodes.conf: it rejoins the cluster (as a replica once failed over).
#	Returns once it answers PING.
#
# Environment: CLUSTER_NODE_TIMEOUT (ms, default 1000: failovers within
# about 2 s), CLUSTER_PASSWORD (requirepass and masterauth on every node;
# default none), CLUSTER_AOF (yes: the append-only file, fsync every
# second, as deploy/redis-tryst.conf has it; default no). All are read by
# start and kept in DIR for node.
# Client port of node i (0..5) is PORT+i; which of them are primaries is
# redis-cli's choice (in practice PORT..PORT+2): ask CLUSTER NODES.
set -u

die() {
	echo "cluster-up: $*" >&2
	exit 1
}

# rcli PORT ARGS...: redis-cli to one node, with the password if any.
rcli() {
	local p=$1
	shift
	redis-cli -h 127.0.0.1 -p "$p" "$@" 2>/dev/null
}

# node_start DIR CLIENTPORT: start (daemonize) one node of DIR.
node_start() {
	local d=$1 p=$2 bus nd
	# shellcheck source=/dev/null
	. "$d/cluster.env"
	bus=$((p + 6))
	nd="$d/node-$p"
	mkdir -p "$nd" || return 1
	set -- --port "$p" --cluster-port "$bus" --bind 127.0.0.1 \
	    --cluster-enabled yes --cluster-config-file nodes.conf \
	    --cluster-node-timeout "$CLUSTER_NODE_TIMEOUT" \
	    --cluster-replica-validity-factor 0 \
	    --cluster-allow-replica-migration no \
	    --daemonize yes --pidfile "$nd/redis.pid" \
	    --logfile "$nd/redis.log" --dir "$nd" --save "" \
	    --appendonly "${CLUSTER_AOF:-no}" --appendfsync everysec
	if [ -n "$CLUSTER_PASSWORD" ]; then
		set -- "$@" --requirepass "$CLUSTER_PASSWORD" \
		    --masterauth "$CLUSTER_PASSWORD"
	fi
	redis-server "$@" >>"$nd/redis.log" 2>&1 || return 1
	wait_for 50 ping_ok "$p"
}

# ping_ok PORT: the node answers PONG.
ping_ok() {
	[ "$(rcli "$1" ping)" = PONG ]
}

# wait_for TENTHS CMD...: run CMD every 0.1 s until it succeeds.
wait_for() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

# all_ok PORT: all 6 nodes say cluster_state:ok, and 3 replicas have
# their link to their primary up.
all_ok() {
	local base=$1 p up=0
	for ((p = base; p < base + 6; p++)); do
		rcli "$p" cluster info | grep -q '^cluster_state:ok' || return 1
		rcli "$p" info replication | grep -q '^master_link_status:up' &&
		    up=$((up + 1))
	done
	[ "$up" -eq 3 ]
}

# stop DIR: every node of DIR, and its watcher.
stop() {
	local d=$1 f pid i pids=()
	[ -d "$d" ] || return 0
	if [ -f "$d/watcher.pid" ]; then
		# The watcher runs this as its last command, which bash may
		# exec in the watcher's own process: never kill ourselves.
		pid=$(cat "$d/watcher.pid")
		[ "$pid" != "$$" ] && kill "$pid" 2>/dev/null
		rm -f "$d/watcher.pid"
	fi
	for f in "$d"/node-*/redis.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		kill "$pid" 2>/dev/null && pids+=("$pid")
		rm -f "$f"
	done
	for ((i = 0; i < 50; i++)); do
		for pid in "${pids[@]}"; do
			kill -0 "$pid" 2>/dev/null && break
			pid=
		done
		[ -z "${pid:-}" ] && return 0
		sleep 0.1
	done
	for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
	return 0
}

# fail DIR WHY: print why and the logs' tails, stop, exit 1.
fail() {
	local d=$1 f
	echo "cluster-up: $2" >&2
	for f in "$d"/node-*/redis.log; do
		[ -f "$f" ] || continue
		echo "---- $f" >&2
		tail -n 5 "$f" >&2
	done
	stop "$d"
	exit 1
}

# start DIR PORT [OWNER_PID]
start() {
	local d=$1 base=$2 owner=${3:-} p hosts=() out
	[ -d "$d" ] || die "no folder $d"
	case ${CLUSTER_AOF:-no} in
	yes|no) ;;
	*) die "CLUSTER_AOF is yes or no" ;;
	esac
	case $base in
	''|*[!0-9]*) die "bad port $base" ;;
	esac
	if [ "$base" -lt 1 ] || [ "$base" -gt 65524 ]; then
		die "bad port $base"
	fi
	d=$(cd "$d" && pwd)
	{
		printf 'CLUSTER_NODE_TIMEOUT=%q\n' \
		    "${CLUSTER_NODE_TIMEOUT:-1000}"
		printf 'CLUSTER_PASSWORD=%q\n' "${CLUSTER_PASSWORD:-}"
		printf 'CLUSTER_AOF=%q\n' "${CLUSTER_AOF:-no}"
	} >"$d/cluster.env"
	# shellcheck source=/dev/null
	. "$d/cluster.env"
	# redis-cli sends AUTH when REDISCLI_AUTH is set, even when empty.
	if [ -n "$CLUSTER_PASSWORD" ]; then
		export REDISCLI_AUTH="$CLUSTER_PASSWORD"
	else
		unset REDISCLI_AUTH
	fi
	for ((p = base; p < base + 6; p++)); do
		node_start "$d" "$p" || fail "$d" "node $p did not start"
		hosts+=("127.0.0.1:$p")
	done
	if [ -n "$owner" ]; then
		# The watcher keeps no descriptor of its starter open (a
		# system() or $(...) caller would wait for it otherwise).
		(
			while kill -0 "$owner" 2>/dev/null; do sleep 1; done
			"$0" stop "$d"
		) </dev/null >/dev/null 2>&1 &
		echo $! >"$d/watcher.pid"
	fi
	out=$(redis-cli --cluster create \
	    "${hosts[@]}" --cluster-replicas 1 --cluster-yes 2>&1) ||
	    fail "$d" "redis-cli --cluster create failed: $out"
	wait_for 200 all_ok "$base" ||
	    fail "$d" "the cluster did not come up within 20 s"
}

command -v redis-server >/dev/null || die "no redis-server"
command -v redis-cli >/dev/null || die "no redis-cli"
case ${1:-} in
start)
	[ $# -ge 3 ] || die "usage: $0 start DIR PORT [OWNER_PID]"
	start "$2" "$3" "${4:-}"
	;;
stop)
	[ $# -eq 2 ] || die "usage: $0 stop DIR"
	stop "$2"
	;;
node)
	[ $# -eq 3 ] || die "usage: $0 node DIR CLIENTPORT"
	[ -f "$2/cluster.env" ] || die "no cluster in $2"
	# shellcheck source=/dev/null
	. "$2/cluster.env"
	if [ -n "$CLUSTER_PASSWORD" ]; then
		export REDISCLI_AUTH="$CLUSTER_PASSWORD"
	else
		unset REDISCLI_AUTH
	fi
	node_start "$2" "$3" || die "node $3 did not start"
	;;
*)
	die "usage: $0 start DIR PORT [OWNER_PID] | stop DIR | node DIR PORT"
	;;
esac
