#!/usr/bin/env bash
# soak.sh - runs netlens live for a long time and records whether memory and disk stay flat.
#
#   sudo bench/soak.sh [SECONDS] [PPS]        # default: 3600 s at 5000 packets/s
#
# In two network namespaces it creates (nlsoak-a, nlsoak-b, joined by a veth pair; no other
# address is ever used), tcpreplay loops a gen_traffic.py capture from one side while netlens
# captures on the other with history (--db, --retention 10m) and the web dashboard on, and a
# client polls the dashboard's API. Every 30 s the script samples netlens's RSS, the database
# size and the packets counted, into bench/out/soak.csv, then prints the curve's summary.
# Needs root, tcpreplay and python3; cleans the namespaces up on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TOTAL=${1:-3600}
PPS=${2:-5000}
OUT=bench/out/soak
NETLENS=$PWD/target/release/netlens
mkdir -p "$OUT"
command -v tcpreplay >/dev/null || apt-get install -y -qq tcpreplay >/dev/null
[ -x "$NETLENS" ] || cargo build --release

cleanup() {
    [ -n "${NL_PID:-}" ] && kill -INT "$NL_PID" 2>/dev/null && wait "$NL_PID" 2>/dev/null || true
    [ -n "${TR_PID:-}" ] && kill "$TR_PID" 2>/dev/null || true
    [ -n "${POLL_PID:-}" ] && kill "$POLL_PID" 2>/dev/null || true
    ip netns del nlsoak-a 2>/dev/null || true
    ip netns del nlsoak-b 2>/dev/null || true
}
trap cleanup EXIT

ip netns del nlsoak-a 2>/dev/null || true
ip netns del nlsoak-b 2>/dev/null || true
ip netns add nlsoak-a
ip netns add nlsoak-b
ip link add soak-a netns nlsoak-a type veth peer name soak-b netns nlsoak-b
ip -n nlsoak-a link set soak-a up
ip -n nlsoak-b link set soak-b up
ip -n nlsoak-b link set lo up

capture=$OUT/replay.pcap
[ -f "$capture" ] || python3 ../shared/bench/gen_traffic.py --packets 200000 --seed 11 --out "$capture" -q
rm -f "$OUT"/soak.db*

ip netns exec nlsoak-b "$NETLENS" -i soak-b -q --stats-interval 0 --db "$OUT/soak.db" \
    --retention 10m --web 127.0.0.1:8787 --report json > "$OUT/report.json" 2> "$OUT/netlens.err" &
NL_PID=$!
sleep 2
ip netns exec nlsoak-a tcpreplay -q --loop 0 --pps "$PPS" -i soak-a "$capture" > /dev/null 2>&1 &
TR_PID=$!
# A dashboard client, as a browser would poll (inside nlsoak-b: its own loopback).
ip netns exec nlsoak-b python3 - <<'EOF' &
import time, urllib.request
while True:
    for path in ('/api/summary', '/api/hosts', '/api/flows', '/api/packets', '/api/series'):
        try:
            urllib.request.urlopen('http://127.0.0.1:8787' + path, timeout=5).read()
        except Exception:
            pass
    time.sleep(1)
EOF
POLL_PID=$!

echo "elapsed_s,rss_kb,db_bytes,packets" > "$OUT/soak.csv"
start=$(date +%s)
while :; do
    now=$(date +%s); elapsed=$((now - start))
    rss=$(awk '/VmRSS/ {print $2}' /proc/$NL_PID/status)
    db=$(du -cb "$OUT"/soak.db* 2>/dev/null | tail -1 | cut -f1)
    pk=$(ip netns exec nlsoak-b python3 -c "import json,urllib.request;print(json.load(urllib.request.urlopen('http://127.0.0.1:8787/api/summary'))['packets'])" 2>/dev/null || echo 0)
    echo "$elapsed,$rss,$db,$pk" >> "$OUT/soak.csv"
    [ "$elapsed" -ge "$SECONDS_TOTAL" ] && break
    sleep 30
done
kill "$TR_PID" "$POLL_PID" 2>/dev/null || true
kill -INT "$NL_PID"; wait "$NL_PID" || true
NL_PID=
python3 - "$OUT/soak.csv" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
rss = [int(r['rss_kb']) for r in rows]
db = [int(r['db_bytes']) for r in rows]
half = len(rows) // 2
print(f"samples {len(rows)} over {rows[-1]['elapsed_s']} s; packets {rows[-1]['packets']}")
print(f"RSS KiB: first {rss[0]}, at half {rss[half]}, last {rss[-1]}, max {max(rss)}")
print(f"DB bytes: first {db[0]}, at half {db[half]}, last {db[-1]}, max {max(db)}")
EOF
