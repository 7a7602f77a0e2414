# SPDX-License-Identifier: MIT
"""Medians over several rcufree_harness invocations (issue 21's A/B runs).

    python3 bench/harness/aggregate.py LABEL=DIR[,DIR...] [LABEL=DIR...] [--mode tput|lat]

Each DIR is an --out directory of one invocation (usually --rounds 1); invocations of different
labels are meant to alternate, so that the machine's drift hits every label alike. Per label,
thread count and mechanism: median (min-max) over the invocations of wall ns/op, CPU ns/object,
cost over the same invocation's floor (CPU) and the ratio to the same invocation's ck_epoch (CPU),
when those ran. Rounds inside one invocation count as separate samples, paired by their order.
"""
import statistics
import sys
from collections import defaultdict


def parse(line):
    mode, _, rest = line.partition(" ")
    return mode, dict(kv.split("=", 1) for kv in rest.split() if "=" in kv)


def spread(v, f="%.1f"):
    if not v:
        return "-"
    return (f + " (" + f + "-" + f + ")") % (statistics.median(v), min(v), max(v))


def main(argv):
    mode = "tput"
    specs = []
    args = iter(argv)
    for a in args:
        if a == "--mode":
            mode = next(args)
        else:
            label, _, dirs = a.partition("=")
            specs.append((label, dirs.split(",")))
    # rows[(label, threads, mech)] = list of (sample key, record)
    rows = defaultdict(list)
    order = []
    for label, dirs in specs:
        for d in dirs:
            seen = defaultdict(int)
            with open(d + "/raw.txt") as fh:
                for line in fh:
                    m, r = parse(line.strip())
                    if m != mode:
                        continue
                    k = (label, r["threads"], r["mech"])
                    rows[k].append(((d, seen[k]), r))
                    seen[k] += 1
                    if k not in order:
                        order.append(k)

    def by_sample(label, threads, mech):
        return {s: r for s, r in rows.get((label, threads, mech), [])}

    print("| label | threads | mechanism | n | wall ns/op | CPU ns/object | over floor, CPU "
          "| / ck_epoch, CPU | / ck_epoch, wall | outer window ns/op |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, threads, mech in order:
        mine = by_sample(label, threads, mech)
        floor = by_sample(label, threads, "floor")
        ck = by_sample(label, threads, "ck_epoch")
        cpu = [float(r["cpu_rusage_ns_op"]) for r in mine.values()]
        wall = [float(r["ns_op"]) for r in mine.values()]
        outer = [float(r.get("outer_ns_op", "nan")) for r in mine.values() if "outer_ns_op" in r]
        over = [float(r["cpu_rusage_ns_op"]) - float(floor[s]["cpu_rusage_ns_op"])
                for s, r in mine.items() if s in floor]
        rck = [float(r["cpu_rusage_ns_op"]) / float(ck[s]["cpu_rusage_ns_op"])
               for s, r in mine.items() if s in ck]
        rckw = [float(r["ns_op"]) / float(ck[s]["ns_op"]) for s, r in mine.items() if s in ck]
        print(f"| {label} | {threads} | {mech} | {len(mine)} | {spread(wall)} | {spread(cpu)} | "
              f"{spread(over, '%+.1f')} | {spread(rck, '%.2fx')} | {spread(rckw, '%.2fx')} | "
              f"{spread(outer)} |")


if __name__ == "__main__":
    main(sys.argv[1:])
