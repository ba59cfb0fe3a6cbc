#!/usr/bin/env python3
"""Live capture benchmark: sends traffic over a veth pair and counts what the capturing side saw
and lost.

Creates two network namespaces (nlbenchS, nlbenchR) joined by a veth pair and sends from nlbenchS
with one or more generators:

- tcpreplay: replays a gen_traffic.py capture at full speed and at fixed rates;
- trafgen (Debian's netsniff-ng): sends frames sampled evenly from the same capture, paced at a
  ladder of steady packet rates by a tbf qdisc on the sending veth, and at its top speed;
- trafgen-burst: the same frames with trafgen's own `-b Npps` (N frames at top speed, then a
  pause until the second is over).

On the nlbenchR end it captures with netlens and with `tcpdump -w /dev/null`, one capturer at a
time. netlens runs with AF_PACKET fanout rings or libpcap (--workers 2, engine on, no database),
and with its defaults plus a history database (`--db FILE`: one worker, so the engine and the
SQLite writer are on). Nothing is sent outside those namespaces; they are deleted at the end, also
after an error. Needs root. Writes the tables into BENCHMARKS.md between <!-- live:start --> and
<!-- live:end -->.
"""

import argparse
import glob
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
GENERATORS = ('tcpreplay', 'trafgen', 'trafgen-burst')
# tbf's bucket when pacing trafgen: frames leave in bursts of at most this many bytes.
TBF_BURST = 64 * 1024
# Every capturer the script knows. netlens ones: the arguments after the common ones ({W} is
# --workers, {DB} the database file).
NETLENS_COMMON = ['-i', VETH_RECV, '-q', '--report', 'json', '--stats-interval', '0', '-Z', 'root']
CAPTURERS = {
    'netlens-afpacket': ['--workers', '{W}', '--capture', 'afpacket', '--no-db'],
    'netlens-libpcap': ['--workers', '{W}', '--capture', 'libpcap', '--no-db'],
    'netlens-libpcap -B 65536': ['--workers', '{W}', '--capture', 'libpcap', '--no-db',
                                 '-B', '65536'],
    # Defaults (--workers 1, --capture auto: one 64 MiB AF_PACKET ring on a veth) with a history
    # database: engine and SQLite on.
    'netlens-db': ['--db', '{DB}'],
    # The same asking for the ring outright, and with libpcap's default 2 MiB buffer instead
    # (the default before one ring became it).
    'netlens-db-afpacket': ['--db', '{DB}', '--capture', 'afpacket'],
    'netlens-db-libpcap': ['--db', '{DB}', '--capture', 'libpcap'],
    # History with --workers shards (a fanout ring per worker, each shard recording its share).
    'netlens-db-workers': ['--db', '{DB}', '--workers', '{W}'],
    # Not run by default; to tell causes apart: a 64 MiB libpcap buffer, and no database.
    'netlens-db -B 65536': ['--db', '{DB}', '-B', '65536'],
    'netlens-nodb': ['--no-db'],
    'tcpdump': None,
}
DEFAULT_CAPTURERS = {
    'tcpreplay': 'netlens-afpacket,netlens-libpcap,netlens-libpcap -B 65536,netlens-db,tcpdump',
    'trafgen': 'tcpdump,netlens-db,netlens-db-libpcap,netlens-afpacket',
    'trafgen-burst': 'tcpdump,netlens-db,netlens-db-libpcap,netlens-afpacket',
}


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


def link_stats(ns, dev):
    """The interface's packet counters (rx/tx packets and dropped) as the kernel keeps them."""
    r = sh('ip', '-n', ns, '-j', '-s', 'link', 'show', 'dev', dev)
    s = json.loads(r.stdout)[0]['stats64']
    return {'rx': s['rx']['packets'], 'rx_dropped': s['rx']['dropped'],
            'tx': s['tx']['packets'], 'tx_dropped': s['tx']['dropped']}


def pcap_records(path):
    """(record header, data) of every frame in a classic pcap file, and the file header."""
    with open(path, 'rb') as f:
        head = f.read(24)
        endian = '<' if head[:4] in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1') else '>'
        records = []
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            incl = struct.unpack(endian + 'IIII', rec)[2]
            records.append((rec, f.read(incl)))
    return head, records


def max_frame(path):
    """Largest captured frame in a pcap (the veth MTU must let the generators send it)."""
    return max(len(data) for _, data in pcap_records(path)[1])


def trafgen_config(capture, frames):
    """A trafgen packet configuration of `frames` frames taken evenly from `capture` (every k-th
    frame, so the protocol and size mix is the capture's), written once into bench/out/; and the
    frames' mean length (trafgen sends them round robin, so that is the mean on the wire)."""
    path = os.path.splitext(capture)[0] + f'-trafgen-{frames}.cfg'
    _, records = pcap_records(capture)
    step = max(1, len(records) // frames)
    picked = [data for _, data in records[::step][:frames]]
    mean = sum(len(d) for d in picked) / len(picked)
    if os.path.exists(path):
        return path, mean
    part = path + '.part'
    with open(part, 'w') as f:
        f.write(f'/* {len(picked)} frames: every {step}th frame of '
                f'{os.path.basename(capture)}, written by bench/live.py */\n')
        for data in picked:
            f.write('{ ' + ', '.join(f'0x{b:02x}' for b in data) + ' }\n')
    os.replace(part, path)
    return path, mean


def start_capture(cmd, ready_text, log, cpus=None):
    """Starts a capturer in the receiving namespace (on `cpus` only, when given) and waits until
    it says it is capturing."""
    err = open(log, 'w+')
    out = open(log + '.out', 'w')
    pin = ['taskset', '-c', cpus] if cpus else []
    p = subprocess.Popen(['ip', 'netns', 'exec', NS_RECV] + pin + cmd, stdout=out, stderr=err,
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
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        raise bench.BenchError('a capturer did not stop within 60 s')


def replay(capture, rate):
    """tcpreplay once over the capture: (packets sent, achieved pps, peak pps or None, command)."""
    cmd = ['tcpreplay', '-i', VETH_SEND]
    cmd += ['--topspeed'] if rate == 'top' else ['--pps', str(rate)]
    cmd.append(capture)
    r = sh('ip', 'netns', 'exec', NS_SEND, *cmd)
    sent = re.search(r'Successful packets:\s+(\d+)', r.stdout)
    pps = re.search(r'Rated:.*?([\d.]+) pps', r.stdout)
    if not sent:
        raise bench.BenchError(f'unexpected tcpreplay output: {r.stdout}')
    return int(sent.group(1)), float(pps.group(1)) if pps else 0.0, None, cmd


def tx_packets(pid, dev):
    """`dev`'s transmitted packets as seen from process `pid`'s network namespace, or None."""
    try:
        with open(f'/proc/{pid}/net/dev') as f:
            for line in f:
                name, _, rest = line.partition(':')
                if name.strip() == dev:
                    return int(rest.split()[9])
    except (OSError, ValueError, IndexError):
        pass
    return None


def peak_rate(samples, window=0.1):
    """Highest packets/s over any `window` seconds of (time, counter) samples."""
    best = 0.0
    j = 0
    for i in range(len(samples)):
        while j < len(samples) and samples[j][0] - samples[i][0] < window:
            j += 1
        if j == len(samples):
            break
        t0, v0 = samples[i]
        t1, v1 = samples[j]
        best = max(best, (v1 - v0) / (t1 - t0))
    return best


def tbf(rate, mean_len):
    """Paces the sending veth to `rate` frames/s of `mean_len` bytes with a tbf qdisc (None:
    removes it). tbf counts bytes, so the frame rate is steady only because trafgen sends the
    same frames round robin, many cycles per second."""
    sh('tc', '-n', NS_SEND, 'qdisc', 'del', 'dev', VETH_SEND, 'root', check=False)
    if rate is None:
        return None
    cmd = ['tc', 'qdisc', 'add', 'dev', VETH_SEND, 'root', 'tbf',
           'rate', f'{round(rate * mean_len * 8)}bit', 'burst', str(TBF_BURST), 'latency', '50ms']
    sh('tc', '-n', NS_SEND, *cmd[1:])
    return cmd


def qdisc_drops():
    r = sh('tc', '-n', NS_SEND, '-s', '-j', 'qdisc', 'show', 'dev', VETH_SEND, check=False)
    try:
        return sum(q.get('drops', 0) for q in json.loads(r.stdout))
    except ValueError:
        return 0


def trafgen(cfg, rate, opts, tmp, burst):
    """trafgen from the sending namespace: (packets trafgen sent, average pps, peak pps over
    100 ms, command). One process (-P 1, on CPU 0) so the other CPU is left to the capturer;
    --no-sock-mem: do not change the host's socket memory sysctls. Paced (burst False): through
    the qdisc (--qdisc-path), where tbf() holds it to `rate`; burst: trafgen's own -b Npps."""
    n = opts.trafgen_top_packets if rate == 'top' else rate * opts.trafgen_seconds
    cmd = ['trafgen', '-o', VETH_SEND, '-i', cfg, '-n', str(n), '-P', '1', '--no-sock-mem',
           '--notouch-irq']
    if rate != 'top' and burst:
        cmd += ['-b', f'{rate}pps']
    elif rate != 'top':
        # Through the qdisc, with blocking sends (-t 0: trafgen's per-frame path with no gap),
        # so a full tbf queue makes trafgen wait instead of dropping.
        cmd += ['--qdisc-path', '-t', '0']
    out_path = os.path.join(tmp, 'trafgen.out')
    with open(out_path, 'w') as out:
        # cwd: trafgen makes (and removes) a scratch file .tmp_mmap in its working directory.
        p = subprocess.Popen(['ip', 'netns', 'exec', NS_SEND] + cmd, stdout=out,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=tmp)
        samples = []
        while p.poll() is None:
            v = tx_packets(p.pid, VETH_SEND)
            if v is not None:
                samples.append((time.monotonic(), v))
            time.sleep(0.005)
    text = open(out_path).read()
    sent = re.search(r'(\d+) packets outgoing', text)
    took = re.search(r'(\d+) sec, (\d+) usec on CPU0', text)
    if p.returncode != 0 or not sent or not took:
        raise bench.BenchError(f'trafgen failed ({shlex.join(cmd)}): {text.strip()}')
    secs = int(took.group(1)) + int(took.group(2)) / 1e6
    # The first sample is taken before sending starts (trafgen reads its config first), so the
    # peak covers the whole run.
    return int(sent.group(1)), int(sent.group(1)) / secs, peak_rate(samples), cmd


def thread_cpu(pid):
    """CPU seconds (user + system) so far of each thread of process `pid`, by thread name."""
    tick = os.sysconf('SC_CLK_TCK')
    cpu = {}
    for task in glob.glob(f'/proc/{pid}/task/*'):
        try:
            with open(os.path.join(task, 'comm')) as f:
                name = f.read().strip()
            with open(os.path.join(task, 'stat')) as f:
                fields = f.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        cpu[name] = cpu.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return ', '.join(f'{name} {secs:.2f}' for name, secs in
                     sorted(cpu.items(), key=lambda kv: -kv[1]) if secs > 0)


def netlens_cmd(tool, workers, db):
    args = [a.replace('{W}', str(workers)).replace('{DB}', db) for a in CAPTURERS[tool]]
    return [bench.NETLENS] + NETLENS_COMMON + args


def run_one(gen, tool, rate, opts, tmp):
    log = os.path.join(tmp, f'{gen}-{tool.replace(" ", "")}-{rate}.log')
    db = os.path.join(tmp, 'live.db')
    if tool == 'tcpdump':
        cmd = ['tcpdump', '-i', VETH_RECV, '-n', '-w', '/dev/null']
        p = start_capture(cmd, 'listening on', log, opts.pin_capturer)
    else:
        for f in glob.glob(db + '*'):
            os.remove(f)
        cmd = netlens_cmd(tool, opts.workers, db)
        p = start_capture(cmd, 'capturing on', log, opts.pin_capturer)
    shaper = None
    try:
        if gen == 'trafgen':
            shaper = tbf(None if rate == 'top' else rate, opts.mean_len)
        qdrops = qdisc_drops()
        before = (link_stats(NS_SEND, VETH_SEND), link_stats(NS_RECV, VETH_RECV))
        if gen == 'tcpreplay':
            sent, pps, peak, gen_cmd = replay(opts.capture, rate)
        else:
            sent, pps, peak, gen_cmd = trafgen(opts.cfg, rate, opts, tmp, gen == 'trafgen-burst')
        qdrops = qdisc_drops() - qdrops
    except BaseException:
        p.kill()
        raise
    time.sleep(1.0)  # let the rings and buffers hand over the last packets
    cpu = thread_cpu(p.pid)  # `ip netns exec` execs the capturer: same process
    stop_capture(p)
    after = (link_stats(NS_SEND, VETH_SEND), link_stats(NS_RECV, VETH_RECV))
    veth = {'tx': after[0]['tx'] - before[0]['tx'],
            'tx_dropped': after[0]['tx_dropped'] - before[0]['tx_dropped'],
            'rx': after[1]['rx'] - before[1]['rx'],
            'rx_dropped': after[1]['rx_dropped'] - before[1]['rx_dropped']}
    if shaper:
        tbf(None, 0)
    text = open(log).read()
    notes = []
    if gen.startswith('trafgen'):
        # What went onto the link is what the capturer was offered; with tbf, trafgen's own
        # count would include frames the qdisc dropped.
        if veth['tx'] != sent:
            notes.append(f'trafgen counted {sent:,}, qdisc dropped {qdrops:,}')
        if shaper:
            pps = pps * veth['tx'] / sent if sent else 0.0
        sent = veth['tx']
    elif veth['tx'] != sent:
        notes.append(f'vbS sent {veth["tx"]:,}')
    if veth['rx_dropped'] or veth['tx_dropped']:
        notes.append(f'veth dropped rx {veth["rx_dropped"]:,} tx {veth["tx_dropped"]:,}')
    label = tool
    if tool == 'tcpdump':
        captured = re.search(r'(\d+) packets? captured', text)
        dropped = re.search(r'(\d+) packets? dropped by kernel', text)
        ifdrop = re.search(r'(\d+) packets? dropped by interface', text)
        if not captured or not dropped:
            raise bench.BenchError(f'unexpected tcpdump output: {text}')
        got, lost = int(captured.group(1)), int(dropped.group(1))
        if ifdrop:
            lost += int(ifdrop.group(1))
            where = f'{int(dropped.group(1)):,} kernel + {int(ifdrop.group(1)):,} interface'
        else:
            where = f'{lost:,}'
        rings = ''
    else:
        try:
            report = json.load(open(log + '.out'))
        except (OSError, ValueError) as e:
            raise bench.BenchError(f'no JSON report from netlens ({e}): {text}')
        d = report['drops']
        got, lost = report['packets'], d['kernel'] + d['interface'] + d['internal']
        # kernel (ring or buffer full) / interface / internal (netlens could not keep up)
        where = f'{d["kernel"]:,}/{d["interface"]:,}/{d["internal"]:,}'
        c = report.get('capture') or {}
        if '--capture' not in CAPTURERS[tool]:  # auto: say what it chose
            label = f'{tool} ({c.get("method", "?")})'
        rings = ' / '.join(f'{r["packets"]:,} pkts, {r["flows"]:,} flows' for r in c.get('rings', []))
        if len(c.get('rings', [])) > 1 and c.get('flows_split') is not None:
            rings += f'; split flows {c["flows_split"]}'
        rows = re.search(r'history writer fell behind and dropped (\d+) rows', text)
        if rows:
            notes.append(f'SQLite writer dropped {int(rows.group(1)):,} rows')
        if 'was not completed' in text:
            notes.append('database not completed')
    return {'gen': gen, 'tool': label, 'rate': rate, 'sent': sent, 'pps': pps, 'peak': peak,
            'captured': got, 'dropped': lost, 'where': where, 'rings': rings,
            'notes': '; '.join(notes), 'cpu': cpu, 'cmd': shlex.join(cmd), 'gen_cmd': shlex.join(gen_cmd),
            'shaper': shlex.join(shaper) if shaper else None}


def rate_label(rate):
    return 'top speed' if rate == 'top' else f'{rate:,} pps'


def table(rows, gen):
    """One line per (rate, capturer); with several rounds each cell lists every round's value."""
    peak = gen != 'tcpreplay'
    head = (f'| {gen} rate | achieved pps{" (average)" if peak else ""} '
            f'{"| peak pps (100 ms) " if peak else ""}| capturer | offered | captured '
            '| dropped (netlens: kernel/interface/internal) | missing | per ring (last round) '
            '| CPU s by thread (last round) | notes |')
    lines = [head, '|---|---:|' + ('---:|' if peak else '') + '---|---:|---:|---:|---:|---|---|---|']
    cells = {}
    for r in rows:
        if r['gen'] == gen:
            cells.setdefault((r['rate'], r['tool']), []).append(r)
    for (rate, tool), rs in cells.items():
        pps = ' / '.join(f'{r["pps"]:,.0f}' for r in rs)
        peaks = ' / '.join(f'{r["peak"]:,.0f}' for r in rs) if peak else ''
        sent = ' / '.join(f'{r["sent"]:,}' for r in rs)
        got = ' / '.join(f'{r["captured"]:,}' for r in rs)
        lost = ' / '.join(r['where'] for r in rs)
        missing = ' / '.join(f'{r["sent"] - r["captured"] - r["dropped"]:,}' for r in rs)
        notes = ' / '.join(r['notes'] or '–' for r in rs) if any(r['notes'] for r in rs) else ''
        lines.append(f'| {rate_label(rate)} | {pps} {"| " + peaks + " " if peak else ""}| {tool} '
                     f'| {sent} | {got} | {lost} | {missing} | {rs[-1]["rings"]} | {rs[-1]["cpu"]} | {notes} |')
    return '\n'.join(lines)


def onset(rows, gen, rates):
    """Where tcpdump starts losing packets, and what netlens did at that rate."""
    mine = [r for r in rows if r['gen'] == gen]
    for rate in rates:
        dumps = [r for r in mine if r['rate'] == rate and r['tool'] == 'tcpdump']
        bad = [r for r in dumps if r['sent'] - r['captured'] > 0]
        if not bad:
            continue
        losses = ' / '.join(f'{r["sent"] - r["captured"]:,}' for r in dumps)
        parts = [f'tcpdump lost {losses} of {dumps[0]["sent"]:,} '
                 f'(in {len(bad)} of {len(dumps)} rounds)']
        others = {}
        for r in mine:
            if r['rate'] == rate and r['tool'] != 'tcpdump':
                others.setdefault(r['tool'], []).append(f'{r["sent"] - r["captured"]:,}')
        parts += [f'{tool} lost {" / ".join(v)}' for tool, v in others.items()]
        return (f'Lowest {gen} rate where tcpdump lost packets: **{rate_label(rate)}**: '
                + '; '.join(parts) + '.')
    return f'tcpdump lost no packets at any {gen} rate measured.'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--gen', default=os.path.join(bench.REPO, '..', 'shared', 'bench', 'gen_traffic.py'))
    ap.add_argument('--packets', type=int, default=300_000, help='capture size (default 300000)')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--generator', default='tcpreplay,trafgen,trafgen-burst',
                    help='comma-separated: tcpreplay, trafgen (paced by tbf), trafgen-burst '
                         '(trafgen -b Npps) (default all three)')
    ap.add_argument('--rates', default='top,100000,300000,1000000',
                    help="tcpreplay rates, comma-separated: 'top' (--topspeed) or packets/s")
    ap.add_argument('--trafgen-rates', default='100000,200000,400000,600000,800000,1000000,top',
                    help="trafgen rates, comma-separated: packets/s (paced by tbf) or 'top'")
    ap.add_argument('--burst-rates', default='100000,200000,400000,800000',
                    help="trafgen-burst rates, comma-separated: packets/s (trafgen -b Npps) or 'top'")
    ap.add_argument('--trafgen-seconds', type=int, default=2,
                    help='trafgen sends rate x this many packets at each rate (default 2)')
    ap.add_argument('--trafgen-top-packets', type=int, default=2_000_000,
                    help='packets trafgen sends at top speed (default 2000000)')
    ap.add_argument('--trafgen-frames', type=int, default=10_000,
                    help='frames taken evenly from the capture for trafgen (default 10000)')
    ap.add_argument('--capturers', default=None,
                    help='comma-separated capturers for every generator (default per generator: '
                         + '; '.join(f'{g}: {c}' for g, c in DEFAULT_CAPTURERS.items())
                         + f'). Known: {", ".join(CAPTURERS)}')
    ap.add_argument('--workers', type=int, default=2, help='netlens --workers for the '
                    'netlens-afpacket and netlens-libpcap capturers (default 2)')
    ap.add_argument('--pin-capturer', metavar='CPUS', default=None,
                    help='run the capturer on these CPUs only (taskset -c CPUS); trafgen runs on '
                         'CPU 0, so 1 gives sender and capturer one CPU each (default: no pinning)')
    ap.add_argument('--reps', type=int, default=2,
                    help='rounds over all rates and capturers; every round is shown (default 2)')
    ap.add_argument('--no-build', action='store_true', help='use the existing target/release/netlens')
    ap.add_argument('--md', default=os.path.join(bench.REPO, 'BENCHMARKS.md'))
    args = ap.parse_args()
    try:
        gens = [g.strip() for g in args.generator.split(',') if g.strip()]
        for g in gens:
            if g not in GENERATORS:
                raise bench.BenchError(f'unknown generator {g!r} (known: {", ".join(GENERATORS)})')
        tools = {}
        for g in gens:
            names = [t.strip() for t in (args.capturers or DEFAULT_CAPTURERS[g]).split(',')]
            for t in names:
                if t not in CAPTURERS:
                    raise bench.BenchError(f'unknown capturer {t!r} (known: {", ".join(CAPTURERS)})')
            tools[g] = names
        rates = {
            'tcpreplay': ['top' if r == 'top' else int(r) for r in args.rates.split(',')],
            'trafgen': ['top' if r == 'top' else int(r) for r in args.trafgen_rates.split(',')],
            'trafgen-burst': ['top' if r == 'top' else int(r) for r in args.burst_rates.split(',')],
        }
        if os.geteuid() != 0:
            raise bench.BenchError('run as root: the benchmark creates network namespaces')
        for tool in ('ip', 'tcpdump', 'tc'):
            bench.require_tool(tool, f'install it (apt-get install {tool})')
        for g, package in (('tcpreplay', 'tcpreplay'), ('trafgen', 'netsniff-ng')):
            if any(x.startswith(g) for x in gens) and not shutil.which(g):
                print(f'installing {package}', flush=True)
                sh('apt-get', 'install', '-y', '-qq', '--no-install-recommends', package)
        if not args.no_build:
            bench.build()
        args.capture = bench.ensure_capture(args.gen, args.packets, args.seed)
        args.cfg, args.mean_len = None, 0.0
        if any(g.startswith('trafgen') for g in gens):
            args.cfg, args.mean_len = trafgen_config(args.capture, args.trafgen_frames)
        m = bench.machine()
        rows = []
        tmp = os.path.join(bench.OUT_DIR, 'live')
        os.makedirs(tmp, exist_ok=True)
        netns_up(max(1500, max_frame(args.capture)))
        stopped = None
        try:
            for _ in range(args.reps):
                for g in gens:
                    for rate, tool in ((rate, tool) for rate in rates[g] for tool in tools[g]):
                        try:
                            r = run_one(g, tool, rate, args, tmp)
                        except bench.BenchError as e:
                            # Keep (and write) what was measured so far.
                            stopped = f'{g} {rate_label(rate)} {tool}: {e}'
                            print(f'live.py: {stopped}', file=sys.stderr)
                            break
                        print(f'{g} {rate} {r["tool"]}: offered {r["sent"]} at {r["pps"]:.0f} pps'
                              + (f' (peak {r["peak"]:.0f})' if r['peak'] is not None else '')
                              + f', captured {r["captured"]}, dropped {r["where"]}, '
                              f'missing {r["sent"] - r["captured"] - r["dropped"]} {r["rings"]} '
                              f'{r["notes"]}', flush=True)
                        rows.append(r)
                        with open(os.path.join(tmp, 'rows.json'), 'w') as f:
                            json.dump(rows, f, indent=1)
                    if stopped:
                        break
                if stopped:
                    break
        finally:
            netns_down()
        if not rows:
            raise bench.BenchError(stopped or 'nothing was measured')
    except bench.BenchError as e:
        print(f'live.py: {e}', file=sys.stderr)
        return 1
    parts = [
        MARK_START,
        f'Measured {m["date"]} on {m["nproc"]} CPUs ({m["cpu"]}), {m["memory"]} RAM, '
        f'Linux {m["kernel"]}; netlens {m["netlens"]}; {m["tcpdump"]}. '
        f'Load average before the run: {m["load"]}.',
        '',
        f'Command: `{shlex.join(["python3", "bench/live.py"] + sys.argv[1:])}`; capture '
        f'`{os.path.relpath(args.capture, bench.REPO)}` ({args.packets:,} packets); '
        f'capturers in `{NS_RECV}`, one at a time:',
        '',
        *[f'- `ip netns exec {NS_RECV} '
          f'{"taskset -c " + args.pin_capturer + " " if args.pin_capturer else ""}{c}`'
          for c in sorted({r['cmd'].replace(bench.REPO + os.sep, '') for r in rows})],
    ]
    if stopped:
        parts += ['', f'**The run stopped early** ({stopped}); the tables show what was measured '
                  'before that.']
    for g in gens:
        mine = [r for r in rows if r['gen'] == g]
        if not mine:
            continue
        shown = mine[0]['gen_cmd'].replace(bench.REPO + os.sep, '')
        if g == 'tcpreplay':
            how = (f'`{shown.rsplit(" ", 1)[0].replace("--topspeed", "--topspeed|--pps N")} '
                   f'FILE` in `{NS_SEND}`')
        else:
            shown = re.sub(r' -n \d+', ' -n N', re.sub(r' (-b \d+pps|--qdisc-path -t 0)', '', shown))
            extra = '-b Npps' if g == 'trafgen-burst' else '--qdisc-path -t 0'
            how = (f'`{shown} [{extra}]` in `{NS_SEND}` '
                   f'(`-n` = rate × {args.trafgen_seconds}, or {args.trafgen_top_packets:,} '
                   f'at top speed; {args.trafgen_frames:,} frames taken evenly from the capture, '
                   f'{args.mean_len:.0f} bytes on average)')
            shaped = next((r['shaper'] for r in mine if r['shaper']), None)
            if shaped:
                how += (f', paced by `tc -n {NS_SEND} {shaped.replace("tc ", "", 1)}` '
                        f'(rate = packets/s × {args.mean_len:.0f} bytes × 8; none at top speed)')
        parts += ['', f'#### {g}: {how}', '', table(rows, g), '', onset(rows, g, rates[g])]
    parts.append(MARK_END)
    text = '\n'.join(parts)
    old = open(args.md).read() if os.path.exists(args.md) else '# Benchmarks\n\n'
    if MARK_START in old and MARK_END in old:
        head, rest = old.split(MARK_START, 1)
        new = head + text + rest.split(MARK_END, 1)[1]
    else:
        new = old.rstrip('\n') + '\n\n' + text + '\n'
    with open(args.md, 'w') as f:
        f.write(new)
    for g in gens:
        print(table(rows, g))
        print(onset(rows, g, rates[g]))
    return 1 if stopped else 0


if __name__ == '__main__':
    sys.exit(main())
