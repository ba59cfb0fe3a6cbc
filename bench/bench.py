#!/usr/bin/env python3
"""bench.py - times netlens against tcpdump (and tshark, softflowd, pmacctd) on generated traffic.

Python 3 standard library only. Run from anywhere; paths are relative to the repository:

  python3 bench/bench.py                 # 1M packets, 3 rounds, writes BENCHMARKS.md
  python3 bench/bench.py --tshark        # also tshark -z conv,ip (slow: ~30 s per 1M packets)
  python3 bench/bench.py --big           # also a 10M-packet capture (minutes, ~7 GB of disk)

Steps: generate captures with gen_traffic.py into bench/out/ (kept, reused when present), build
netlens in release mode, then run every tool once per round (the order rotates each round) under
GNU time for wall seconds and peak RSS, and report medians. The packet count comes from netlens's
JSON report. The table is printed and written into BENCHMARKS.md between the markers
<!-- bench:start --> and <!-- bench:end -->; the rest of that file is kept.

Any missing requirement (generator, GNU time, tcpdump, a netlens binary, tshark when --tshark is
given) stops the run with a message and a non-zero exit: netlens and tcpdump are never skipped.
softflowd and pmacctd are installed from Debian's packages when missing (as root; otherwise
skipped). softflowd exports only to 127.0.0.1 (port 9, discard); pmacctd writes its 5-tuple flows
to a file in bench/out/ with its print plugin and opens no network socket. pmacctd sleeps on
purpose when it reads a file (1 s before it starts, 1 ms after each buffer it hands its plugin),
so its wall time measures its naps: its packets/s and ratio come from its CPU seconds instead
(marked in its row). The packets in its flow table are checked against the IP packets netlens
counted; a row whose pmacctd lost some says how many it counted.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(REPO, 'bench', 'out')
NETLENS = os.path.join(REPO, 'target', 'release', 'netlens')
GNU_TIME = '/usr/bin/time'
MARK_START = '<!-- bench:start -->'
MARK_END = '<!-- bench:end -->'
# softflowd exports NetFlow over UDP; it may only ever talk to this address (discard port).
SOFTFLOWD_DEST = '127.0.0.1:9'
PMACCTD = 'pmacctd, 5-tuple flows (rate per CPU s)'
PMACCTD_CSV = os.path.join(OUT_DIR, 'pmacctd-flows.csv')
# Tools whose wall time is mostly their own sleeps: their rate is packets per CPU second.
BY_CPU = {PMACCTD}


class BenchError(Exception):
    """A requirement is missing or a tool failed: reported as one message, exit code 1."""


def label(n):
    """1000000 -> '1m', 100000 -> '100k'."""
    if n % 1_000_000 == 0:
        return f'{n // 1_000_000}m'
    if n % 1000 == 0:
        return f'{n // 1000}k'
    return str(n)


def ensure_capture(gen, packets, seed):
    """Path of the capture for (packets, seed), generating it first when missing."""
    path = os.path.join(OUT_DIR, f'mix-{label(packets)}-s{seed}.pcap')
    if os.path.exists(path):
        return path
    if not os.path.isfile(gen):
        raise BenchError(f'traffic generator not found: {gen} (pass --gen PATH to gen_traffic.py)')
    os.makedirs(OUT_DIR, exist_ok=True)
    part = path + '.part'
    cmd = [sys.executable, gen, '--packets', str(packets), '--seed', str(seed), '--out', part, '-q']
    print(f'generating {path} ({packets} packets): {shlex.join(cmd)}', flush=True)
    if subprocess.run(cmd).returncode != 0:
        raise BenchError(f'generator failed: {shlex.join(cmd)}')
    os.replace(part, path)  # only a complete capture gets the final name
    return path


def require_tool(name, hint):
    path = shutil.which(name)
    if not path:
        raise BenchError(f'{name} not found: {hint}')
    return path


def check_gnu_time():
    if not os.path.exists(GNU_TIME):
        raise BenchError(f'{GNU_TIME} not found: install GNU time (apt-get install time)')
    out = subprocess.run([GNU_TIME, '--version'], capture_output=True, text=True)
    if 'GNU' not in out.stdout + out.stderr:
        raise BenchError(f'{GNU_TIME} is not GNU time: install it (apt-get install time)')


def build():
    cmd = ['cargo', 'build', '--release']
    print(f'building: {shlex.join(cmd)}', flush=True)
    if subprocess.run(cmd, cwd=REPO).returncode != 0:
        raise BenchError('cargo build --release failed')


def softflowd_command(capture):
    """softflowd reading the file and exporting to 127.0.0.1 only, or None when not installed
    (as root it is installed from Debian's package first)."""
    if not shutil.which('softflowd') and os.geteuid() == 0:
        print('installing softflowd', flush=True)
        subprocess.run(['apt-get', 'install', '-y', '-qq', 'softflowd'], capture_output=True)
    if not shutil.which('softflowd'):
        return None
    help_text = subprocess.run(['softflowd', '-h'], capture_output=True, text=True)
    text = help_text.stdout + help_text.stderr
    if '-r' not in text or '-n' not in text:
        raise BenchError('softflowd -h does not list -r and -n: cannot run it safely')
    assert SOFTFLOWD_DEST.startswith('127.0.0.1:')
    # -d: stay in the foreground; -r: read the file and exit at its end; -n: export destination.
    return ['softflowd', '-d', '-r', capture, '-n', SOFTFLOWD_DEST]


def pmacctd_command(capture):
    """pmacctd reading the file into 5-tuple flows written by its print plugin, or None when not
    installed (as root it is installed from Debian's package first)."""
    if not shutil.which('pmacctd') and os.geteuid() == 0:
        print('installing pmacct', flush=True)
        subprocess.run(['apt-get', 'install', '-y', '-qq', '--no-install-recommends', 'pmacct'],
                       capture_output=True)
    if not shutil.which('pmacctd'):
        return None
    config = os.path.join(OUT_DIR, f'pmacctd-{os.path.basename(capture)}.conf')
    with open(config, 'w') as f:
        f.write('\n'.join([
            'daemonize: false',
            f'pcap_savefile: {capture}',
            # Its shortest start-up sleep: 0 means its default, 2 s.
            'pcap_savefile_delay: 1',
            'plugins: print',
            'aggregate: src_host, dst_host, src_port, dst_port, proto',
            'print_output: csv',
            f'print_output_file: {PMACCTD_CSV}',
            # Written at the end of the file, or earlier when its cache fills: appended then.
            'print_refresh_time: 3600',
            'print_output_file_append: true',
            # Room for the 600,000 flows of mix-10m-s1: with its default (16,411) it purged
            # early and lost the packets of flows that came while the cache was full.
            'print_cache_entries: 65537',
            # It naps 1 ms after each buffer: with its default 10 KiB buffers that took 38 s of
            # wall time per million packets; with 1 MiB buffers its core outran its plugin on
            # mix-10m-s1 and lost 8-21% of the packets without a warning. A ring of 64 MiB:
            # with its default 4 MB the plugin fell behind too ("Missing data detected").
            'plugin_buffer_size: 102400',
            'plugin_pipe_size: 67108864',
            '']))
    return ['sh', '-c', f'rm -f {shlex.quote(PMACCTD_CSV)}; exec pmacctd -f {shlex.quote(config)}']


def pmacctd_counted():
    """Packets in pmacctd's last flow table (the PACKETS column of its CSV), or None."""
    try:
        with open(PMACCTD_CSV) as f:
            rows = [line.split(',') for line in f if line.strip()]
        header = rows[0]
        col = header.index('PACKETS')
        # Each purge appended its own header line.
        return sum(int(r[col]) for r in rows if r[0] != header[0])
    except (OSError, IndexError, ValueError):
        return None


def tools(capture, with_tshark):
    """(name, command, stdout target) of every tool to time; stdout None means /dev/null. A name
    in BY_CPU has its rate taken from CPU seconds (see the module's doc)."""
    db = os.path.join(OUT_DIR, 'bench.db')
    fresh_db = f'rm -f {shlex.quote(db)} {shlex.quote(db)}-*; exec '
    out = [
        ('netlens stats only', [NETLENS, '-r', capture, '-q', '--report', 'json'], 'json'),
        ('netlens stats, 2 workers',
         [NETLENS, '-r', capture, '-q', '--report', 'none', '--workers', '2'], None),
        ('netlens stats, no detectors',
         [NETLENS, '-r', capture, '-q', '--report', 'none', '--no-alerts'], None),
        ('netlens + SQLite', ['sh', '-c', fresh_db + shlex.join(
            [NETLENS, '-r', capture, '-q', '--report', 'none', '--db', db])], None),
        ('netlens + SQLite, 2 workers', ['sh', '-c', fresh_db + shlex.join(
            [NETLENS, '-r', capture, '-q', '--report', 'none', '--db', db, '--workers', '2'])],
         None),
        ('netlens + SQLite + packet rows', ['sh', '-c', fresh_db + shlex.join(
            [NETLENS, '-r', capture, '-q', '--report', 'none', '--db', db, '--store-packets'])],
         None),
        ('netlens compact log', [NETLENS, '-r', capture, '--color', 'never', '--report', 'none'],
         None),
        ('tcpdump copy (read cost)', ['tcpdump', '-r', capture, '-w', '/dev/null'], None),
        ('tcpdump -nn', ['tcpdump', '-nn', '-r', capture], None),
    ]
    if with_tshark:
        out.append(('tshark -z conv,ip', ['tshark', '-q', '-z', 'conv,ip', '-r', capture], None))
    soft = softflowd_command(capture)
    if soft:
        out.append(('softflowd (export to 127.0.0.1)', soft, None))
    pmacctd = pmacctd_command(capture)
    if pmacctd:
        out.append((PMACCTD, pmacctd, None))
    return out


def time_once(cmd, stdout_path):
    """Runs cmd under GNU time; returns (wall seconds, peak RSS KiB, CPU seconds: user + system)."""
    with tempfile.NamedTemporaryFile('r', suffix='.time') as tf:
        with open(stdout_path or os.devnull, 'wb') as out:
            proc = subprocess.run([GNU_TIME, '-f', '%e %M %U %S', '-o', tf.name, *cmd],
                                  stdout=out, stderr=subprocess.PIPE)
        if proc.returncode != 0:
            tail = proc.stderr.decode(errors='replace').strip().splitlines()[-5:]
            raise BenchError(f'failed (exit {proc.returncode}): {shlex.join(cmd)}\n  '
                             + '\n  '.join(tail))
        lines = [l for l in tf.read().splitlines() if l.strip()]
    secs, rss, user, system = lines[-1].split()
    return float(secs), int(rss), float(user) + float(system)


def warm_page_cache(path):
    with open(path, 'rb') as f:
        while f.read(1 << 24):
            pass


def resident_share(path):
    """The share of `path` in the page cache (util-linux fincore), or None if unknown. This
    VM's page cache drops most of a large capture when idle, and reading it back from disk
    changes the timings more than most code changes do."""
    if not shutil.which('fincore'):
        return None
    out = subprocess.run(['fincore', '--bytes', '--noheadings', '--output', 'RES', path],
                         capture_output=True, text=True)
    try:
        return int(out.stdout.split()[0]) / max(os.path.getsize(path), 1)
    except (IndexError, ValueError):
        return None


def run_bench(capture, tool_list, reps):
    """Rounds of every tool (order rotated per round); returns ({name: [(secs, rss_kib, cpu),
    ...]}, (packets, IPv4 and IPv6 packets) from netlens's report, the capture's share in the page
    cache after warming and after the rounds)."""
    warm_page_cache(capture)
    resident_before = resident_share(capture)
    results = {name: [] for name, _, _ in tool_list}
    json_path = os.path.join(OUT_DIR, 'last-report.json')
    for r in range(reps):
        k = r % len(tool_list)
        order = tool_list[k:] + tool_list[:k]
        for name, cmd, stdout in order:
            secs, rss, cpu = time_once(cmd, json_path if stdout == 'json' else None)
            results[name].append((secs, rss, cpu))
            print(f'  round {r + 1}/{reps}  {name:32} {secs:8.2f} s  {cpu:8.2f} CPU s  '
                  f'{rss / 1024:8.1f} MiB', flush=True)
    try:
        with open(json_path) as f:
            report = json.load(f)
        counts = (int(report['packets']),
                  int(report['protocols']['ipv4']) + int(report['protocols']['ipv6']))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise BenchError(f'cannot read the packet counts from netlens --report json: {e}')
    return results, counts, (resident_before, resident_share(capture))


def table(results, packets, tool_list, notes):
    """Markdown rows: tool, command, median s, median CPU s, packets/s, peak RSS, netlens-stats
    pps ÷ tool pps. CPU seconds (user + system, every thread) show a tool that uses more than one
    CPU for its wall time. `notes` adds a remark to a tool's name."""
    med = {n: statistics.median(s for s, _, _ in v) for n, v in results.items()}
    cpu = {n: statistics.median(c for _, _, c in v) for n, v in results.items()}
    rss = {n: max(m for _, m, _ in v) for n, v in results.items()}
    # GNU time's %e has 10 ms resolution: a capture read in under 10 ms has no rate.
    pps = {n: packets / s if s > 0 else None for n, s in med.items()}
    for n in BY_CPU & pps.keys():
        pps[n] = packets / cpu[n] if cpu[n] > 0 else None
    ref = pps['netlens stats only']

    def rate(n):
        return '—' if pps[n] is None else f'{pps[n]:,.0f}'

    def ratio(n):
        return '—' if ref is None or pps[n] is None else f'{ref / pps[n]:.2f}'

    rows = ['| tool | command | median s (min–max) | CPU s | packets/s | peak RSS MiB '
            '| netlens stats pps ÷ this |',
            '|---|---|---:|---:|---:|---:|---:|']
    for name, cmd, stdout in tool_list:
        times = [s for s, _, _ in results[name]]
        shown = ' '.join(os.path.relpath(a, REPO) if a.startswith(REPO) else a for a in cmd)
        if stdout != 'json':
            shown += '' if '/dev/null' in cmd else ' > /dev/null'
        else:
            shown += ' > report.json'
        note = f' (**{notes[name]}**)' if name in notes else ''
        rows.append(f'| {name}{note} | `{shown}` | {med[name]:.2f} ({min(times):.2f}–{max(times):.2f}) '
                    f'| {cpu[name]:.2f} | {rate(name)} | {rss[name] / 1024:.1f} | {ratio(name)} |')
    return '\n'.join(rows)


def machine():
    def first(cmd, default='?'):
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.strip() or default
        except OSError:
            return default
    model = '?'
    for line in first(['lscpu']).splitlines():
        if line.startswith('Model name:'):
            model = line.split(':', 1)[1].strip()
    mem = '?'
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemTotal:'):
                    mem = f'{int(line.split()[1]) / 1024 / 1024:.1f} GiB'
    except OSError:
        pass
    rev = first(['git', '-C', REPO, 'rev-parse', '--short', 'HEAD'])
    # BENCHMARKS.md is what this script rewrites: a change there says nothing of the binary.
    if first(['git', '-C', REPO, 'status', '--porcelain', '--untracked-files=no', '--', '.',
              ':!BENCHMARKS.md'], ''):
        rev += ' + uncommitted changes'
    tcpdump = first(['tcpdump', '--version']).splitlines()[0]
    return {
        'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC'),
        'nproc': first(['nproc']),
        'cpu': model,
        'memory': mem,
        'kernel': platform.release(),
        'netlens': rev,
        'tcpdump': tcpdump,
        'load': ' '.join(f'{x:.2f}' for x in os.getloadavg()),
    }


def section(blocks, m, argv, with_tshark):
    tshark = ''
    if with_tshark:
        tshark = subprocess.run(['tshark', '--version'], capture_output=True,
                                text=True).stdout.splitlines()[0].rstrip('.')
    lines = [
        MARK_START,
        f'Measured {m["date"]} on {m["nproc"]} CPUs ({m["cpu"]}), {m["memory"]} RAM, '
        f'Linux {m["kernel"]}; netlens {m["netlens"]}; {m["tcpdump"]}'
        + (f'; {tshark}' if tshark else '') + f'. Load average before the run: {m["load"]}.',
        '',
        f'Command: `{argv}`',
        '',
    ]
    for title, tbl in blocks:
        lines += [f'#### {title}', '', tbl, '']
    lines.append(MARK_END)
    return '\n'.join(lines)


def write_markdown(path, text):
    if os.path.exists(path):
        with open(path) as f:
            old = f.read()
    else:
        old = '# Benchmarks\n\n'
    if MARK_START in old and MARK_END in old:
        head, rest = old.split(MARK_START, 1)
        tail = rest.split(MARK_END, 1)[1]
        new = head + text + tail
    else:
        new = old.rstrip('\n') + '\n\n' + text + '\n'
    with open(path, 'w') as f:
        f.write(new)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--gen', default=os.path.join(REPO, '..', 'shared', 'bench', 'gen_traffic.py'),
                    help='path to gen_traffic.py (default ../shared/bench/gen_traffic.py)')
    ap.add_argument('--packets', type=int, default=1_000_000, help='packets (default 1000000)')
    ap.add_argument('--seed', type=int, default=1, help='generator seed (default 1)')
    ap.add_argument('--big', action='store_true', help='also 10M packets (minutes, ~7 GB disk)')
    ap.add_argument('--reps', type=int, default=3, help='rounds; medians are reported (default 3)')
    ap.add_argument('--no-build', action='store_true', help='skip cargo build --release')
    ap.add_argument('--tshark', action='store_true', help='also time tshark -q -z conv,ip (slow; on captures of up to 1M packets)')
    ap.add_argument('--md', default=os.path.join(REPO, 'BENCHMARKS.md'),
                    help='markdown file to update (default BENCHMARKS.md)')
    args = ap.parse_args()
    if args.reps < 1 or args.packets < 1:
        ap.error('--reps and --packets must be positive')

    check_gnu_time()
    require_tool('tcpdump', 'install tcpdump (apt-get install tcpdump)')
    if args.tshark:
        require_tool('tshark', 'install tshark (apt-get install tshark) or drop --tshark')
    sizes = [args.packets] + ([10_000_000] if args.big and args.packets != 10_000_000 else [])
    captures = [(n, ensure_capture(os.path.abspath(args.gen), n, args.seed)) for n in sizes]
    if not args.no_build:
        build()
    if not os.access(NETLENS, os.X_OK):
        raise BenchError(f'{NETLENS} missing: run cargo build --release (or drop --no-build)')

    info = machine()
    blocks = []
    for n, capture in captures:
        # tshark on 10M packets holds ~7 GB and pushes the capture out of the page cache, so
        # every run after it would read from disk: it is timed on the smaller capture only.
        tool_list = tools(capture, args.tshark and n <= 1_000_000)
        size_mb = os.path.getsize(capture) / 1e6
        print(f'\n{os.path.relpath(capture, REPO)}: {size_mb:.0f} MB, {args.reps} rounds',
              flush=True)
        results, (packets, ip), resident = run_bench(capture, tool_list, args.reps)
        if packets != n:
            raise BenchError(f'netlens counted {packets} packets in a {n}-packet capture')
        notes = {}
        if PMACCTD in results:
            # A peer that drops data is not doing the same work: its row says so.
            counted = pmacctd_counted()
            if counted != ip:
                notes[PMACCTD] = f'counted {counted} of {ip} IP packets'
                print(f'warning: pmacctd {notes[PMACCTD]}', file=sys.stderr)
        tbl = table(results, packets, tool_list, notes)
        title = (f'{os.path.relpath(capture, REPO)}: {packets:,} packets, {size_mb:,.0f} MB, '
                 f'median of {args.reps}')
        if None not in resident:
            title += (f'; in the page cache: {resident[0]:.0%} after warming, '
                      f'{resident[1]:.0%} after the rounds')
        print(f'\n{title}\n{tbl}')
        blocks.append((title, tbl))
        for peer in ('softflowd', 'pmacctd'):
            if not shutil.which(peer):
                print(f'{peer} not installed: not timed')
        if any(statistics.median(s for s, _, _ in v) < 0.1 for v in results.values()):
            print('warning: some runs took under 0.1 s; GNU time measures 10 ms steps, so use '
                  'more --packets for meaningful rates', file=sys.stderr)

    argv = 'python3 ' + shlex.join([os.path.relpath(os.path.abspath(sys.argv[0]), REPO)]
                                   + sys.argv[1:])
    write_markdown(args.md, section(blocks, info, argv, args.tshark))
    print(f'\nwrote {args.md}')


if __name__ == '__main__':
    try:
        main()
    except BenchError as e:
        print(f'bench.py: error: {e}', file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
