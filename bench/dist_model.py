"""Tables for bench/dist_scaling.sh: the measured data-parallel step, and a
model of the step time on 2 to 64 nodes (docs/distributed.md explains it).

    python3 bench/dist_model.py RUNS SWEEP

RUNS holds the JSON lines of bench/dist_step for the three configurations
(several repetitions each); SWEEP the lines of one rank x one thread at
per-rank batches 128, 64, ..., 2. Every time printed is a median.

The model, for P nodes with one rank each and a gradient of n bytes:
    step(P) = compute(b) + update + pack + allreduce(P) + agree(P)
    allreduce(P) = 2 (P - 1) alpha + 2 (P - 1) / P * n / beta     (ring)
    agree(P)     = 2 ceil(log2 P) alpha    (tg_dist_average_grads' two small
                                            all-reduces, recursive doubling)
where compute(b) is the measured forward + backward time at the per-rank
batch b, update the measured clip + Adam time and pack the measured
single-rank reduction (packing, unpacking and dividing the flat buffer),
all three as CPU time of one thread: on a shared machine the wall time
also counts the time other processes held the core.
Strong scaling keeps the global batch at 128 (b = 128 / P); weak scaling
keeps b = 128 per node (global batch 128 P).
"""
import json
import math
import statistics
import sys

LINKS = [  # name, alpha (s), beta (bytes/s)
    ("10 Gbit/s", 20e-6, 10e9 / 8),
    ("100 Gbit/s", 2e-6, 100e9 / 8),
]
NODES = [2, 4, 8, 16, 32, 64]
GLOBAL = 128


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.startswith("{")]


def med(rows, key):
    return statistics.median(r[key] for r in rows)


def main():
    runs, sweep = load(sys.argv[1]), load(sys.argv[2])
    print("## Measured step (medians over steps, then over repetitions; ms)\n")
    print("step range: the lowest and highest median step of the repetitions\n")
    print("| ranks x threads | per-rank batch | step | step range | compute | compute CPU | wait | reduce | update "
          "| reduce / step |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    configs = []
    for r in runs:
        key = (r["ranks"], r["threads"])
        if key not in configs:
            configs.append(key)
    for ranks, threads in configs:
        rows = [r for r in runs if (r["ranks"], r["threads"]) == (ranks, threads)]
        step, reduce = med(rows, "step_ms"), med(rows, "reduce_ms")
        low, high = min(r["step_ms"] for r in rows), max(r["step_ms"] for r in rows)
        print(f"| {ranks} x {threads} | {rows[0]['rank_batch']} | {step:.2f} | {low:.2f} .. {high:.2f} | "
              f"{med(rows, 'compute_ms'):.2f} | {med(rows, 'compute_cpu_ms'):.2f} | "
              f"{med(rows, 'wait_ms'):.3f} | {reduce:.3f} | {med(rows, 'update_ms'):.3f} | "
              f"{100 * reduce / step:.1f}% |")

    compute = {r["rank_batch"]: med([s for s in sweep if s["rank_batch"] == r["rank_batch"]], "compute_cpu_ms")
               for r in sweep}
    wall = {r["rank_batch"]: med([s for s in sweep if s["rank_batch"] == r["rank_batch"]], "compute_ms")
            for r in sweep}
    one = [s for s in sweep if s["rank_batch"] == GLOBAL]
    update, pack = med(one, "update_cpu_ms"), med(one, "reduce_cpu_ms")
    grad_bytes = sweep[0]["grad_bytes"]
    batches = sorted(compute, reverse=True)
    print("\n## Forward + backward time against the per-rank batch (1 rank x 1 thread, ms)\n")
    print("| batch | " + " | ".join(str(b) for b in batches) + " |")
    print("|---|" + "---|" * len(compute))
    print("| CPU time | " + " | ".join(f"{compute[b]:.2f}" for b in batches) + " |")
    print("| wall time | " + " | ".join(f"{wall[b]:.2f}" for b in batches) + " |")
    print(f"\nCPU time of update (clip + Adam) {update:.3f} ms, of pack/unpack on one rank {pack:.3f} ms; "
          f"gradient {grad_bytes} bytes\n")

    def step_ms(p, b, alpha, beta):
        ring = 2 * (p - 1) * alpha + 2 * (p - 1) / p * grad_bytes / beta
        agree = 2 * math.ceil(math.log2(p)) * alpha
        comm = (ring + agree) * 1e3
        return compute[b] + update + pack + comm, comm

    single = compute[GLOBAL] + update + pack
    for title, per_rank in (("Strong scaling: global batch 128, per-rank batch 128 / P", lambda p: GLOBAL // p),
                            ("Weak scaling: per-rank batch 128, global batch 128 P", lambda p: GLOBAL)):
        print(f"## Model: {title} (one process: {single:.2f} ms per step of 128)\n")
        head = "| nodes | batch/node | compute |"
        rule = "|---|---|---|"
        for name, _, _ in LINKS:
            head += f" all-reduce {name} | step {name} | speed-up {name} |"
            rule += "---|---|---|"
        print(head)
        print(rule)
        for p in NODES:
            b = per_rank(p)
            if b not in compute:
                continue
            line = f"| {p} | {b} | {compute[b]:.2f} |"
            for _, alpha, beta in LINKS:
                step, comm = step_ms(p, b, alpha, beta)
                # Samples per second against one process's.
                speedup = (p * b / step) / (GLOBAL / single)
                line += f" {comm:.3f} | {step:.2f} | {speedup:.1f}x |"
            print(line)
        print()
    print("speed-up: samples per second against one process with batch 128; times in ms")


if __name__ == "__main__":
    main()
