#!/usr/bin/env bash
# Manual check of cluster.py: up, a stream of INSERTs through HAProxy,
# switchover, kill-postmaster, kill-node (writes must go on with 2 of 3
# nodes), start-node, then down; no acknowledged INSERT may be lost, no process left.
#
#   tests/support/ha/smoke.sh [CYCLES]     (default 3; as root, needs psql)
#
# Prints one line of timings per step and a summary per cycle.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CLUSTER="$HERE/cluster.py"
CYCLES=${1:-3}
PY=${PYTHON:-python3}
PSQL=$(ls -d /usr/lib/postgresql/*/bin/psql | sort -V | tail -1)

now() { date +%s.%N; }
secs() { "$PY" -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.2f}')" "$1" "$2"; }
field() { "$PY" -c "import json, sys; print(json.loads(sys.argv[1])$2)" "$1"; }

# The writer: one psql per INSERT (a new connection through HAProxy each
# time, 3 s timeout), ids in order; the ids whose INSERT was acknowledged go
# to $1.acked; on SIGTERM it prints attempts, failures and the longest gap
# between two acknowledged INSERTs.
WRITER='
import os, signal, subprocess, sys, time
url, out = sys.argv[1], sys.argv[2]
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
acked, attempts, failures, last_ok, gaps = open(out + ".acked", "w"), 0, 0, None, []
i = 0
while not stop:
    i += 1
    attempts += 1
    try:
        r = subprocess.run([sys.argv[3], "-X", "-q", "-At", "-d", url + "&connect_timeout=2", "-c",
                            f"INSERT INTO smoke(id) VALUES ({i})"], capture_output=True, timeout=3)
        ok = r.returncode == 0
    except subprocess.TimeoutExpired:
        ok = False
    t = time.monotonic()
    if ok:
        acked.write(f"{i}\n"); acked.flush()
        if last_ok is not None and t - last_ok > 0.5:
            gaps.append(round(t - last_ok, 2))
        last_ok = t
    else:
        failures += 1
        time.sleep(0.05)
print(f"writer: {attempts} attempts, {failures} failed, gaps over 0.5 s between acknowledged INSERTs: {gaps}")
'

run_cycle() {
  local n=$1 dir out t0 t1 up url writer_pid killed h st missing left
  dir=$(mktemp -d /tmp/cognate-ha-smoke.XXXXXX)
  echo "== cycle $n in $dir"

  t0=$(now)
  up=$("$PY" "$CLUSTER" up --dir "$dir" --owner-pid $$)
  t1=$(now)
  url=$(field "$up" "['url']")
  echo "up: $(secs "$t0" "$t1") s (leader $(field "$up" "['leader']"), sync $(field "$up" "['sync_standby']"))"

  # libpq's own failover: the multi-host URL reaches the primary too.
  "$PSQL" -X -At -d "$(field "$up" "['multi_host_url']")" -c "SELECT 'multi-host URL reaches a primary: ' || NOT pg_is_in_recovery()"

  "$PSQL" -X -q -d "$url" -c "CREATE TABLE smoke (id int PRIMARY KEY, at timestamptz DEFAULT now())"
  "$PY" -c "$WRITER" "$url?application_name=smoke" "$dir/writer" "$PSQL" > "$dir/writer.out" &
  writer_pid=$!
  sleep 2

  t0=$(now)
  out=$("$PY" "$CLUSTER" switchover --dir "$dir" --timeout 60)
  echo "switchover: $(field "$out" "['old_leader']") -> $(field "$out" "['new_leader']"): writable through HAProxy after $(field "$out" "['writable_seconds']") s, sync standby after $(field "$out" "['seconds']") s (REST call $(field "$out" "['api_seconds']") s)"
  sleep 2

  t0=$(now)
  out=$("$PY" "$CLUSTER" kill-postmaster --dir "$dir")
  h=$("$PY" "$CLUSTER" wait-healthy --dir "$dir" --timeout 60)
  t1=$(now)
  echo "kill-postmaster on $(field "$out" "['node']"): writable through HAProxy after $(field "$h" "['writable_seconds']") s, sync standby after $(field "$h" "['seconds']") s (kill to healthy: $(secs "$t0" "$t1") s)"
  sleep 2

  t0=$(now)
  out=$("$PY" "$CLUSTER" kill-node --dir "$dir")
  killed=$(field "$out" "['node']")
  h=$("$PY" "$CLUSTER" wait-healthy --dir "$dir" --timeout 60)
  t1=$(now)
  echo "kill-node on $(field "$out" "['node']"): writable through HAProxy on $(field "$h" "['routed_to']") after $(field "$h" "['writable_seconds']") s, sync standby $(field "$h" "['sync_standby']") after $(field "$h" "['seconds']") s (kill to healthy: $(secs "$t0" "$t1") s)"
  sleep 3

  # Two nodes left, strict synchronous mode: a write must still commit.
  timeout 10 "$PSQL" -X -q -d "$url" -c "INSERT INTO smoke(id) VALUES (-1)"
  st=$("$PY" "$CLUSTER" status --dir "$dir")
  echo "2 of 3 nodes: INSERT committed; leader $(field "$st" "['leader']"), sync standby $(field "$st" "['sync_standby']")"

  out=$("$PY" "$CLUSTER" start-node --dir "$dir" --node "$killed" --timeout 90)
  echo "start-node $killed: back as a replica after $(field "$out" "['seconds']") s"

  kill -TERM "$writer_pid"; wait "$writer_pid" || true
  cat "$dir/writer.out"
  # Every acknowledged INSERT is on the new primary.
  "$PSQL" -X -At -d "$url" -c "SELECT id FROM smoke WHERE id > 0 ORDER BY id" > "$dir/present"
  missing=$(comm -23 <(sort "$dir/writer.acked") <(sort "$dir/present") | wc -l)
  echo "acknowledged INSERTs: $(wc -l < "$dir/writer.acked"), rows present: $(wc -l < "$dir/present"), acknowledged but missing: $missing"
  [ "$missing" -eq 0 ] || { echo "LOST WRITES"; exit 1; }

  t0=$(now)
  out=$("$PY" "$CLUSTER" down --dir "$dir")
  t1=$(now)
  echo "down: $(secs "$t0" "$t1") s ($out)"
  left=$(ps -eo pid=,stat=,args= | grep -F "$dir" | grep -v grep | awk '$2 !~ /^Z/' || true)
  [ -z "$left" ] || { echo "LEFT BEHIND: $left"; exit 1; }
  rm -rf "$dir"
}

for n in $(seq 1 "$CYCLES"); do
  run_cycle "$n"
done
echo "smoke: $CYCLES cycles passed"
