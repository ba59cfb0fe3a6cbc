#!/usr/bin/env python3
"""scaling.py - how much faster netlens reads a capture with more workers, measured in pairs.

On a shared or virtual machine the speed moves between runs by more than the effect being
measured, so medians of independent runs give ratios that change from one run to the next. This
script runs the worker counts back to back in each round (the order reverses every round), takes
each round's ratio of one worker's wall time to each other count's, and reports the median and
quartiles of those ratios, beside the medians of wall and CPU seconds. Python 3 standard library
and GNU time only; it prints, it writes nothing.

    python3 bench/scaling.py                          # bench/out/mix-1m-s1.pcap, workers 1 and 2
    python3 bench/scaling.py --rounds 21 --workers 1,2,3 --capture bench/out/mix-10m-s1.pcap
    python3 bench/scaling.py --netlens /tmp/other-build/netlens -- --no-alerts
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GNU_TIME = '/usr/bin/time'


def run(cmd):
    """Wall seconds and CPU seconds (user + system) of one run, from GNU time."""
    with tempfile.NamedTemporaryFile('r', suffix='.time') as out:
        done = subprocess.run([GNU_TIME, '-o', out.name, '-f', '%e %U %S'] + cmd,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode != 0:
            raise SystemExit(f'scaling.py: {" ".join(cmd)} exited {done.returncode}: '
                             f'{done.stderr.strip()[-300:]}')
        wall, user, system = (float(x) for x in out.read().split()[-3:])
    return wall, user + system


def quartiles(xs):
    if len(xs) < 2:
        return (xs[0], xs[0])
    q = statistics.quantiles(xs, n=4)
    return (q[0], q[2])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--capture', default=os.path.join(REPO, 'bench', 'out', 'mix-1m-s1.pcap'),
                    help='capture file (default bench/out/mix-1m-s1.pcap; bench.py makes it)')
    ap.add_argument('--netlens', default=os.path.join(REPO, 'target', 'release', 'netlens'))
    ap.add_argument('--workers', default='1,2', help='worker counts, the first is the base')
    ap.add_argument('--rounds', type=int, default=15)
    ap.add_argument('extra', nargs='*', help='more netlens arguments (after --)')
    args = ap.parse_args()
    for path, what in ((args.capture, 'capture'), (args.netlens, 'netlens binary'),
                       (GNU_TIME, 'GNU time (apt-get install time)')):
        if not os.path.exists(path):
            sys.exit(f'scaling.py: no {what} at {path}')
    try:
        counts = [int(w) for w in args.workers.split(',')]
    except ValueError:
        sys.exit(f'scaling.py: --workers takes numbers separated by commas, got {args.workers!r}')
    if len(counts) < 2 or args.rounds < 1:
        sys.exit('scaling.py: give at least two worker counts and one round')

    wall = {w: [] for w in counts}
    cpu = {w: [] for w in counts}
    for r in range(args.rounds):
        order = counts if r % 2 == 0 else list(reversed(counts))
        for w in order:
            t, c = run([args.netlens, '-r', args.capture, '-q', '--report', 'none',
                        '--workers', str(w)] + args.extra)
            wall[w].append(t)
            cpu[w].append(c)
        print(f'round {r + 1}/{args.rounds}: ' +
              '  '.join(f'{w} worker(s) {wall[w][-1]:.2f} s' for w in counts), file=sys.stderr)

    base = counts[0]
    print(f'{args.netlens} -r {args.capture} -q --report none --workers N '
          f'{" ".join(args.extra)}'.rstrip())
    print(f'{args.rounds} rounds, worker counts back to back, order reversed every round')
    print()
    print(f'| workers | wall s, median (min–max) | CPU s, median | '
          f'per-round speed-up over {base}, median (quartiles) |')
    print('|---:|---:|---:|---:|')
    for w in counts:
        ratios = [b / t for b, t in zip(wall[base], wall[w])]
        lo, hi = quartiles(ratios)
        speedup = '' if w == base else \
            f'{statistics.median(ratios):.2f}× ({lo:.2f}–{hi:.2f})'
        print(f'| {w} | {statistics.median(wall[w]):.2f} ({min(wall[w]):.2f}–{max(wall[w]):.2f})'
              f' | {statistics.median(cpu[w]):.2f} | {speedup} |')


if __name__ == '__main__':
    main()
