#!/bin/sh
# tests/fuzz/campaign.sh BINDIR SECONDS [WORKDIR] -- a libFuzzer campaign:
# every fuzz-NAME binary in BINDIR (a build configured with clang and
# -Dfuzzing=true: BUILD/tests/fuzz) runs for SECONDS over a copy of its
# seeds (tests/fuzz/corpus/NAME), all targets at once. With more cores
# than targets, the spare cores go to the targets named in $FUZZ_WIDE
# (default: server session http proto), one more worker each, round and
# round, sharing their target's corpus. Prints a table: target, workers,
# CPU-seconds, executions, coverage (cov, ft of the last report), corpus
# size, crashes; crash inputs stay in WORKDIR/NAME/.
#
# $FUZZ_RUNNER, if set, is put before each binary (a loader, for a copy
# of the binaries run on another machine).
set -eu
bindir=$1
secs=$2
work=${3:-$(mktemp -d /tmp/fuzz-campaign.XXXXXX)}
here=$(cd "$(dirname "$0")" && pwd)
seeds=${FUZZ_SEEDS:-$here/corpus}
wide=${FUZZ_WIDE:-server session http proto}
runner=${FUZZ_RUNNER:-}
cores=$(nproc)

names=
for b in "$bindir"/fuzz-*; do
	n=${b##*/fuzz-}
	case $n in *.*|make-corpus|session-seeds) continue ;; esac
	[ -x "$b" ] && [ -d "$seeds/$n" ] && names="$names $n"
done
[ -n "$names" ] || { echo "campaign: no fuzz targets in $bindir" >&2; exit 2; }
count=$(echo $names | wc -w)

# Workers per target: one each, then the spare cores to $wide in turn.
for n in $names; do eval "w_$n=1"; done
spare=$((cores - count))
while [ "$spare" -gt 0 ]; do
	given=0
	for n in $wide; do
		[ "$spare" -gt 0 ] || break
		case " $names " in *" $n "*) ;; *) continue ;; esac
		eval "w_$n=\$((w_$n + 1))"
		spare=$((spare - 1))
		given=1
	done
	[ "$given" = 1 ] || break
done

echo "campaign: $count targets, $cores cores, $secs s, in $work"
for n in $names; do
	eval "w=\$w_$n"
	mkdir -p "$work/$n/corpus"
	cp "$seeds/$n"/* "$work/$n/corpus/" 2>/dev/null || true
	# Workers of one target share its corpus folder (each reloads what
	# the others add), each with a seed and a log of its own.
	i=0
	while [ "$i" -lt "$w" ]; do
		(cd "$work/$n" && exec $runner "$bindir/fuzz-$n" corpus \
		    -max_total_time="$secs" -seed=$((i + 1)) \
		    -print_final_stats=1 -close_fd_mask=3 -rss_limit_mb=4096 \
		    >"$work/$n/fuzz-$i.log" 2>&1) &
		i=$((i + 1))
	done
done
wait

printf '%-10s %7s %8s %12s %6s %7s %7s %7s\n' target workers cpu_s \
    executions cov ft corpus crashes
for n in $names; do
	eval "w=\$w_$n"
	logs=$(ls "$work/$n"/fuzz-*.log)
	runs=$(cat $logs | sed -n 's/^stat::number_of_executed_units: *//p' |
	    awk '{ s += $1 } END { print s + 0 }')
	last=$(cat $logs | grep -E '^#[0-9]+.*cov: ' | tail -n 1)
	cov=$(echo "$last" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
	ft=$(echo "$last" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
	corp=$(ls "$work/$n/corpus" | wc -l)
	crashes=$(ls "$work/$n" | grep -c -E '^(crash|leak|timeout|oom)-' ||
	    true)
	printf '%-10s %7s %8s %12s %6s %7s %7s %7s\n' "$n" "$w" \
	    $((w * secs)) "$runs" "${cov:-?}" "${ft:-?}" "$corp" "$crashes"
done
