#!/usr/bin/env bash
# gazette's delivery against the real ceiling, in one run:
#   1. starts Postfix's smtp-sink on a loopback port (installing Postfix's
#      test tools first when missing; the Postfix daemon is never started);
#   2. for each run, the bench binary (tests/bench/relay, release build)
#      measures smtp-source sending the same digest over the same number of
#      sessions into that sink (the ceiling, before and after), then has
#      gazette's own delivery workers send the digest to N members into it;
#   3. prints each run's figures and a summary with the ratios.
#
# Usage: bench/relay.sh [MEMBERS]      (default 100000; e.g. 10000 for a quick run)
# Environment:
#   GAZETTE_BENCH_MEMBERS        members for the main runs (default 100000, or $1)
#   GAZETTE_BENCH_QUICK_MEMBERS  the small run for the flat-curve check, the
#                                render-only and the DKIM figures (default 10000)
#   GAZETTE_BENCH_CONNECTIONS    relay connections = smtp-source sessions (default 10)
#   GAZETTE_BENCH_POSTGRES_URL   server for the PostgreSQL run (default
#                                postgres://postgres@127.0.0.1:5432/test; empty skips it);
#                                a scratch database is created and dropped
#   GAZETTE_BENCH_DETAIL=1       also print each run by tenths (claim and commit times)
#   other GAZETTE_* settings (GAZETTE_WORKERS, GAZETTE_BATCH_SIZE, ...) reach gazette
set -euo pipefail
cd "$(dirname "$0")/.."

MEMBERS="${1:-${GAZETTE_BENCH_MEMBERS:-100000}}"
QUICK="${GAZETTE_BENCH_QUICK_MEMBERS:-10000}"
CONNECTIONS="${GAZETTE_BENCH_CONNECTIONS:-10}"
PG_URL="${GAZETTE_BENCH_POSTGRES_URL-postgres://postgres@127.0.0.1:5432/test}"
DETAIL=()
if [[ "${GAZETTE_BENCH_DETAIL:-}" == 1 ]]; then DETAIL=(--detail); fi

SINK_PID=""
WORK="$(mktemp -d)"
POLICY_CREATED=""
cleanup() {
  local rc=$?
  if [[ -n "$SINK_PID" ]]; then
    kill "$SINK_PID" 2>/dev/null || true
    wait "$SINK_PID" 2>/dev/null || true
  fi
  if [[ -n "$POLICY_CREATED" ]]; then rm -f /usr/sbin/policy-rc.d; fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT

master_running() { pgrep -x master >/dev/null 2>&1; }

# Postfix's test tools, from the Debian package; its daemon must not run.
install_postfix_tools() {
  command -v smtp-sink >/dev/null 2>&1 || PATH="$PATH:/usr/sbin"
  if command -v smtp-sink >/dev/null 2>&1 && command -v smtp-source >/dev/null 2>&1; then
    return
  fi
  if [[ "$(id -u)" != 0 ]]; then
    echo "smtp-sink/smtp-source are missing; install the Debian package postfix as root" >&2
    exit 1
  fi
  echo "installing Postfix's test tools (package postfix; services are not started)"
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    POLICY_CREATED=1
  fi
  local install=(apt-get install -y --no-install-recommends postfix)
  DEBIAN_FRONTEND=noninteractive "${install[@]}" >/dev/null ||
    { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive "${install[@]}" >/dev/null; }
  if master_running; then
    echo "Postfix's master daemon started during the install; stopping it (the bench uses only smtp-sink and smtp-source)" >&2
    postfix stop >/dev/null 2>&1 || true
  fi
}

# smtp-sink on a free loopback port; sets SINK and SINK_PID.
start_sink() {
  local as_user=()
  if [[ "$(id -u)" == 0 ]]; then as_user=(-u nobody); fi
  for _ in 1 2 3 4 5 6 7 8; do
    local port=$((20000 + RANDOM % 20000))
    smtp-sink "${as_user[@]}" "127.0.0.1:$port" 1024 >/dev/null 2>&1 &
    SINK_PID=$!
    sleep 0.3
    if kill -0 "$SINK_PID" 2>/dev/null && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      SINK="127.0.0.1:$port"
      return
    fi
    kill "$SINK_PID" 2>/dev/null || true
    SINK_PID=""
  done
  echo "could not start smtp-sink on a loopback port" >&2
  exit 1
}

install_postfix_tools
if master_running; then
  echo "note: a Postfix master process is running on this machine (not started by this bench)" >&2
fi
SOURCE="$(command -v smtp-source)"

echo "building the bench (release)"
# The bench's own artifact (cargo also reports the gazette binary it builds).
BIN="$(cargo bench --bench relay --no-run --message-format=json 2>/dev/null |
  grep '"kind":\["bench"\]' | grep '"name":"relay"' |
  grep -o '"executable":"[^"]*"' | tail -n1 | cut -d'"' -f4)"
[[ -x "$BIN" ]] || { echo "cannot build the relay bench: run cargo bench --bench relay --no-run" >&2; exit 1; }

KEY=""
if command -v openssl >/dev/null 2>&1; then
  KEY="$WORK/dkim.pem"
  openssl genrsa -out "$KEY" 2048 2>/dev/null
else
  echo "note: openssl is missing: no DKIM figures" >&2
fi
DKIM=()
if [[ -n "$KEY" ]]; then DKIM=(--dkim "$KEY"); fi

start_sink
echo "smtp-sink on $SINK (pid $SINK_PID); $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
LOG="$WORK/results"
run() { "$BIN" "$@" | tee -a "$LOG"; }
send() { run send --sink "$SINK" --sink-pid "$SINK_PID" --smtp-source "$SOURCE" --connections "$CONNECTIONS" "${DETAIL[@]}" "$@"; }

run render --members "$QUICK" "${DKIM[@]}"
if [[ "$QUICK" != "$MEMBERS" ]]; then send --db sqlite --members "$QUICK"; fi
send --db sqlite --members "$MEMBERS"
if [[ -n "$KEY" ]]; then send --db sqlite --members "$QUICK" "${DKIM[@]}"; fi
if [[ -n "$PG_URL" ]]; then send --db "$PG_URL" --members "$MEMBERS"; fi

echo
echo "== summary (each ratio uses the smtp-source ceiling measured in the same run) =="
awk -v quick="$QUICK" -v full="$MEMBERS" '
  /^RESULT render/ { delete r; for (i = 3; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
    printf "render only%s: %.0f msg/s on one core, %.2f CPU-s per 1,000\n",
      (r["dkim"] == "true" ? " + DKIM" : ""), r["rate"], r["cpu_per_1000"]; next }
  /^RESULT db=/ { delete r; for (i = 2; i <= NF; i++) { split($i, kv, "="); r[kv[1]] = kv[2] }
    printf "%-8s %7d members%s: %6.0f msg/s, ceiling %6.0f, ratio to ceiling: %.2f, %.2f CPU-s/1,000, p50 %.1f s, p99 %.1f s, RSS %.0f MB, claim %.1f -> %.1f ms\n",
      r["db"], r["members"], (r["dkim"] == "true" ? " DKIM" : ""), r["rate"], r["ceiling"], r["ratio"],
      r["cpu_per_1000"], r["p50_s"], r["p99_s"], r["rss_mb"], r["claim_start_ms"], r["claim_end_ms"]
    if (r["db"] == "sqlite" && r["dkim"] == "false") { rate[r["members"]] = r["rate"]; ratio[r["members"]] = r["ratio"] } }
  END { if (quick != full && (quick in rate) && (full in rate))
    printf "flat curve, SQLite, %d vs %d members: rate %.2f, ratio to ceiling %.2f (issue 8 wants >= 0.9)\n",
      full, quick, rate[full] / rate[quick], ratio[full] / ratio[quick] }
' "$LOG"
