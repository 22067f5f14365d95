"""The table of bench/compare.sh: per workload and target the median and the
min-max over the repetitions, then kmsfs's ratio to each other target.
Usage: python3 bench/report.py RESULTS.tsv TARGET...
RESULTS.tsv rows: repetition, target, workload, value, unit."""

import statistics
import sys
from collections import defaultdict

WORKLOADS = [
    ("seq_write", "sequential write, bs 1M, + fsync"),
    ("seq_read_cold", "sequential read, bs 1M, cold"),
    ("rand_read_4k_cold", "random 4 KiB read, cold, psync"),
    ("rand_write_4k_fsync", "random 4 KiB write + fsync"),
    ("tar_extract", "tar extract of /usr/include"),
    ("find_stat_cold", "find + stat of that tree, cold"),
    ("stat_storm_warm", "git-status stat storm (3 passes, warm)"),
    ("rm_rf", "rm -rf of that tree"),
    ("create_stat_unlink", "create + stat + unlink empty files"),
    ("small_read_root", "open+read+close small files (root)"),
    ("small_read_other", "open+read+close small files (other user)"),
    ("small_read_root_audit_always", "the same (root), each audit record fsync'd"),
    ("small_read_root_remounted", "the same (root), fresh mount, audit records as by default"),
    ("small_read_root_no_audit", "the same (root), fresh mount, no audit records (a build without them)"),
    ("rss_1000_open", "daemon resident size, 1,000 files open"),
]


def fmt(value, unit):
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "IOPS":
        return f"{value / 1000:.1f}k IOPS"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    return f"{value:.0f} {unit}"


def main():
    path, targets = sys.argv[1], sys.argv[2:]
    values = defaultdict(list)
    units = {}
    for line in open(path, encoding="utf-8"):
        _rep, target, workload, value, unit = line.rstrip("\n").split("\t")
        values[(workload, target)].append(float(value))
        units[workload] = unit
    peers = [t for t in targets if t != "kmsfs"]
    header = ["workload"] + targets + [f"kmsfs/{p}" for p in peers if "kmsfs" in targets]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    known = {workload for workload, _ in WORKLOADS}
    # Workloads of --scaling, in the order the harness ran them.
    others = [(w, w.replace("_", " ")) for w in units if w not in known]
    for workload, title in WORKLOADS + others:
        if workload not in units:
            continue
        unit = units[workload]
        row = [title]
        medians = {}
        for target in targets:
            got = values.get((workload, target))
            if not got:
                row.append("-")
                continue
            medians[target] = statistics.median(got)
            cell = fmt(medians[target], unit)
            if len(got) > 1:
                cell += f" ({fmt(min(got), unit).split()[0]}-{fmt(max(got), unit).split()[0]})"
            row.append(cell)
        if "kmsfs" in targets:
            for peer in peers:
                if "kmsfs" in medians and medians.get(peer):
                    row.append(f"{medians['kmsfs'] / medians[peer]:.2f}")
                else:
                    row.append("-")
        print("| " + " | ".join(row) + " |")
    print()
    print("Ratios are kmsfs / peer of the medians: above 1 is better for MB/s and IOPS,")
    print("below 1 is better for times in seconds.")
    medians = {w: statistics.median(values[(w, "kmsfs")]) for w in
               ("small_read_root", "small_read_root_audit_always", "small_read_root_remounted",
                "small_read_root_no_audit")
               if values.get((w, "kmsfs"))}
    with_records = medians.get("small_read_root_remounted")
    if with_records and "small_read_root_no_audit" in medians:
        print("kmsfs small-file reads with audit records (the default) / without, each on a fresh"
              f" mount, in turn: {with_records / medians['small_read_root_no_audit']:.2f}")
    default = medians.get("small_read_root")
    if default and "small_read_root_audit_always" in medians:
        print("kmsfs small-file reads with each audit record fsync'd / the default"
              f" (fsync'd at most once a second): {medians['small_read_root_audit_always'] / default:.2f}")


if __name__ == "__main__":
    main()
