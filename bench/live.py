#!/usr/bin/env python3
"""Live capture benchmark: replays a gen_traffic.py capture over a veth pair and counts what the
capturing side saw and lost.

Creates two network namespaces (nlbenchS, nlbenchR) joined by a veth pair, replays the capture
with tcpreplay from nlbenchS (at full speed and at fixed rates) and captures on the nlbenchR end
with netlens (AF_PACKET fanout rings, then libpcap; --workers 2, engine on, no database) and with
`tcpdump -w /dev/null`, one at a time. Nothing is sent outside those namespaces; they are deleted
at the end, also after an error. Needs root. Writes the table into BENCHMARKS.md between
<!-- live:start --> and <!-- live:end -->.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402  (the file benchmark: capture generation, machine description)

NS_SEND, NS_RECV = 'nlbenchS', 'nlbenchR'
VETH_SEND, VETH_RECV = 'vbS', 'vbR'
MARK_START = '<!-- live:start -->'
MARK_END = '<!-- live:end -->'


def sh(*args, check=True):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise bench.BenchError(f'{shlex.join(args)} failed: {r.stderr.strip()}')
    return r


def netns_up(mtu):
    netns_down()
    for ns in (NS_SEND, NS_RECV):
        sh('ip', 'netns', 'add', ns)
        # No IPv6: the receiving side would otherwise add its own solicitations to the count.
        for key in ('all', 'default'):
            sh('ip', 'netns', 'exec', ns, 'sysctl', '-qw', f'net.ipv6.conf.{key}.disable_ipv6=1')
    sh('ip', 'link', 'add', VETH_SEND, 'netns', NS_SEND, 'type', 'veth',
       'peer', 'name', VETH_RECV, 'netns', NS_RECV)
    for ns, dev in ((NS_SEND, VETH_SEND), (NS_RECV, VETH_RECV)):
        sh('ip', '-n', ns, 'link', 'set', dev, 'mtu', str(mtu), 'up')


def netns_down():
    for ns in (NS_SEND, NS_RECV):
        sh('ip', 'netns', 'del', ns, check=False)


def max_frame(path):
    """Largest captured frame in a pcap (the veth MTU must let tcpreplay send it)."""
    biggest = 0
    with open(path, 'rb') as f:
        head = f.read(24)
        endian = '<' if head[:4] in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1') else '>'
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            incl = struct.unpack(endian + 'IIII', rec)[2]
            biggest = max(biggest, incl)
            f.seek(incl, 1)
    return biggest


def start_capture(cmd, ready_text, log):
    """Starts a capturer in the receiving namespace and waits until it says it is capturing."""
    err = open(log, 'w+')
    out = open(log + '.out', 'w')
    p = subprocess.Popen(['ip', 'netns', 'exec', NS_RECV] + cmd, stdout=out, stderr=err,
                         stdin=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        err.seek(0)
        if ready_text in err.read():
            time.sleep(0.2)
            return p
        if p.poll() is not None:
            break
        time.sleep(0.05)
    p.kill()
    err.seek(0)
    raise bench.BenchError(f'{shlex.join(cmd)} did not start: {err.read().strip()}')


def stop_capture(p):
    p.send_signal(2)  # SIGINT, like Ctrl-C
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        raise bench.BenchError('a capturer did not stop within 30 s')


def replay(capture, rate):
    cmd = ['tcpreplay', '-i', VETH_SEND]
    cmd += ['--topspeed'] if rate == 'top' else ['--pps', str(rate)]
    cmd.append(capture)
    r = sh('ip', 'netns', 'exec', NS_SEND, *cmd)
    sent = re.search(r'Successful packets:\s+(\d+)', r.stdout)
    pps = re.search(r'Rated:.*?([\d.]+) pps', r.stdout)
    if not sent:
        raise bench.BenchError(f'unexpected tcpreplay output: {r.stdout}')
    return int(sent.group(1)), float(pps.group(1)) if pps else 0.0, cmd


def run_one(tool, capture, rate, workers, tmp):
    log = os.path.join(tmp, f'{tool.replace(" ", "")}-{rate}.log')
    if tool == 'tcpdump':
        cmd = ['tcpdump', '-i', VETH_RECV, '-n', '-w', '/dev/null']
        p = start_capture(cmd, 'listening on', log)
    else:
        method = tool.split()[0].split('-')[1]
        cmd = [bench.NETLENS, '-i', VETH_RECV, '--workers', str(workers), '--capture', method,
               '-q', '--no-db', '--report', 'json', '--stats-interval', '0', '-Z', 'root']
        cmd += tool.split()[1:]
        p = start_capture(cmd, 'capturing on', log)
    sent, pps, replay_cmd = replay(capture, rate)
    time.sleep(1.0)  # let the rings and buffers hand over the last packets
    stop_capture(p)
    text = open(log).read()
    if tool == 'tcpdump':
        captured = re.search(r'(\d+) packets? captured', text)
        dropped = re.search(r'(\d+) packets? dropped by kernel', text)
        if not captured or not dropped:
            raise bench.BenchError(f'unexpected tcpdump output: {text}')
        got, lost = int(captured.group(1)), int(dropped.group(1))
        rings = ''
        where = f'{lost:,}'
    else:
        try:
            report = json.load(open(log + '.out'))
        except (OSError, ValueError) as e:
            raise bench.BenchError(f'no JSON report from netlens ({e}): {text}')
        d = report['drops']
        got, lost = report['packets'], d['kernel'] + d['interface'] + d['internal']
        # kernel (ring or buffer full) / interface / internal (netlens could not keep up)
        where = f'{d["kernel"]:,}/{d["interface"]:,}/{d["internal"]:,}'
        c = report.get('capture', {})
        rings = ' / '.join(f'{r["packets"]:,} pkts, {r["flows"]:,} flows' for r in c.get('rings', []))
        if c.get('flows_split') is not None:
            rings += f'; split flows {c["flows_split"]}'
    return {'tool': tool, 'rate': rate, 'sent': sent, 'pps': pps, 'captured': got,
            'dropped': lost, 'where': where, 'rings': rings, 'cmd': shlex.join(cmd), 'replay': shlex.join(replay_cmd)}


def table(rows):
    """One line per (rate, capturer); with several rounds each cell lists every round's value."""
    lines = ['| tcpreplay rate | achieved pps | capturer | offered | captured '
             '| dropped (netlens: kernel/interface/internal) | missing '
             '| per ring (last round) |',
             '|---|---:|---|---:|---:|---:|---:|---|']
    cells = {}
    for r in rows:
        cells.setdefault((r['rate'], r['tool']), []).append(r)
    for (rate, tool), rs in cells.items():
        rate = 'top speed' if rate == 'top' else f'{rate:,} pps'
        pps = ' / '.join(f'{r["pps"]:,.0f}' for r in rs)
        sent = ' / '.join(f'{r["sent"]:,}' for r in rs)
        got = ' / '.join(f'{r["captured"]:,}' for r in rs)
        lost = ' / '.join(r['where'] for r in rs)
        missing = ' / '.join(f'{r["sent"] - r["captured"] - r["dropped"]:,}' for r in rs)
        lines.append(f'| {rate} | {pps} | {tool} | {sent} | {got} | {lost} | {missing} '
                     f'| {rs[-1]["rings"]} |')
    return '\n'.join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--gen', default=os.path.join(bench.REPO, '..', 'shared', 'bench', 'gen_traffic.py'))
    ap.add_argument('--packets', type=int, default=300_000, help='capture size (default 300000)')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--rates', default='top,100000,300000,1000000',
                    help="comma-separated: 'top' (tcpreplay --topspeed) or packets/s")
    ap.add_argument('--workers', type=int, default=2)
    ap.add_argument('--reps', type=int, default=2,
                    help='rounds over all rates and capturers; every round is shown (default 2)')
    ap.add_argument('--no-build', action='store_true', help='use the existing target/release/netlens')
    ap.add_argument('--md', default=os.path.join(bench.REPO, 'BENCHMARKS.md'))
    args = ap.parse_args()
    try:
        if os.geteuid() != 0:
            raise bench.BenchError('run as root: the benchmark creates network namespaces')
        for tool in ('ip', 'tcpdump'):
            bench.require_tool(tool, f'install it (apt-get install {tool})')
        if not shutil.which('tcpreplay'):
            print('installing tcpreplay', flush=True)
            sh('apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'tcpreplay')
        if not args.no_build:
            bench.build()
        capture = bench.ensure_capture(args.gen, args.packets, args.seed)
        rates = ['top' if r == 'top' else int(r) for r in args.rates.split(',')]
        m = bench.machine()
        # libpcap twice: with its default buffer (2 MiB) and with the rings' 64 MiB, to tell the
        # ring size apart from the fanout.
        tools = ['netlens-afpacket', 'netlens-libpcap', 'netlens-libpcap -B 65536', 'tcpdump']
        rows = []
        tmp = os.path.join(bench.OUT_DIR, 'live')
        os.makedirs(tmp, exist_ok=True)
        netns_up(max(1500, max_frame(capture)))
        try:
            for _ in range(args.reps):
                for rate, tool in ((rate, tool) for rate in rates for tool in tools):
                    r = run_one(tool, capture, rate, args.workers, tmp)
                    print(f'{rate} {tool}: offered {r["sent"]} at {r["pps"]:.0f} pps, '
                          f'captured {r["captured"]}, dropped {r["dropped"]} {r["rings"]}',
                          flush=True)
                    rows.append(r)
        finally:
            netns_down()
    except bench.BenchError as e:
        print(f'live.py: {e}', file=sys.stderr)
        return 1
    cmds = sorted({r['cmd'].replace(bench.REPO + os.sep, '') for r in rows})
    text = '\n'.join([
        MARK_START,
        f'Measured {m["date"]} on {m["nproc"]} CPUs ({m["cpu"]}), {m["memory"]} RAM, '
        f'Linux {m["kernel"]}; netlens {m["netlens"]}; {m["tcpdump"]}. '
        f'Load average before the run: {m["load"]}.',
        '',
        f'Command: `{shlex.join(["python3", "bench/live.py"] + sys.argv[1:])}`; capture '
        f'`{os.path.relpath(capture, bench.REPO)}` ({args.packets:,} packets) replayed with '
        f'`{rows[0]["replay"].rsplit(" ", 1)[0].replace("--topspeed", "--topspeed|--pps N")} FILE` '
        f'in `{NS_SEND}`; capturers in `{NS_RECV}`, one at a time:',
        '',
        *[f'- `ip netns exec {NS_RECV} {c}`' for c in cmds],
        '',
        table(rows),
        MARK_END,
    ])
    old = open(args.md).read() if os.path.exists(args.md) else '# Benchmarks\n\n'
    if MARK_START in old and MARK_END in old:
        head, rest = old.split(MARK_START, 1)
        new = head + text + rest.split(MARK_END, 1)[1]
    else:
        new = old.rstrip('\n') + '\n\n' + text + '\n'
    with open(args.md, 'w') as f:
        f.write(new)
    print(table(rows))
    return 0


if __name__ == '__main__':
    sys.exit(main())
