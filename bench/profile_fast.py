"""Where a pass of the fast path spends its time on one real map, per block and per operator (torch.profiler, CPU).

coco preset at ngf 64 (random weights, as bench/fast_inference.py), 2 threads, on a COCO-Stuff sample with its
instance map (default: the one with the most labels). Prints the plan (as `python -m gaugan explain` does), each
block's median milliseconds on the fast and the reference path (forward hooks, passes interleaved), the planning
step's (layouts built per pass), and the fast path's ten costliest operators.

On a shared machine, --threads 1 --cpu-time counts the main thread's CPU seconds instead of wall time: other
processes then barely change the figures.

    python bench/profile_fast.py [--map 000000350505] [--repeats 3] [--threads 1 --cpu-time]
"""
from __future__ import annotations

import argparse
import statistics
import time

import common  # noqa: F401 (puts the repository on the path)
import fast_inference
import torch
from torch.profiler import ProfilerActivity, profile, record_function

from gaugan import PRESETS
from gaugan.networks import FastSPADEGenerator
from gaugan.semantics import encode
from gaugan.allocator import tune_for_inference


def timed_blocks(blocks: dict[str, torch.nn.Module], times: dict[str, list[float]], clock) -> None:
    """Forward hooks that append each block's seconds by clock to times[name] and mark it for the profiler."""
    for name, block in blocks.items():
        def before(module, args, name=name):
            module.range = record_function(name)
            module.range.__enter__()
            module.started = clock()

        def after(module, args, output, name=name):
            times[name].append(clock() - module.started)
            module.range.__exit__(None, None, None)

        block.register_forward_pre_hook(before)
        block.register_forward_hook(after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--map", default="000000350505", help="COCO-Stuff sample name (without .png)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=fast_inference.THREADS)
    parser.add_argument("--cpu-time", action="store_true", help="the main thread's CPU time instead of wall time")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    clock = time.thread_time if args.cpu_time else time.perf_counter
    preset = PRESETS["coco"]
    maps = {name: (label, instance) for name, label, instance in fast_inference.coco_maps()}
    channels, edges = encode(*maps[args.map], preset)
    reference = fast_inference.reference_network(preset)
    fast = FastSPADEGenerator(fast_inference.reference_network(preset), release_source=True)
    tune_for_inference()
    tokens = fast.compact_tokens(channels, edges)
    print(fast.explain(tokens))
    names = [spec.name for spec in fast.schedule]
    times = {path: {name: [] for name in names + ["plan"]} for path in ("fast", "reference")}
    timed_blocks(dict(fast.blocks), times["fast"], clock)
    timed_blocks({name: getattr(reference, name) for name in names}, times["reference"], clock)
    with torch.inference_mode():
        fast.from_compact(channels, edges), reference.from_compact(channels, edges)  # warm-up
        for path in times:
            for values in times[path].values():
                values.clear()
        for _ in range(args.repeats):
            reference.from_compact(channels, edges)
            start = clock()
            fast.plan(tokens)
            times["fast"]["plan"].append(clock() - start)
            fast.from_compact(channels, edges)
        with profile(activities=[ProfilerActivity.CPU]) as profiler:
            fast.from_compact(channels, edges)
    print(f"\n{'block':<11} {'fast ms':>8} {'reference ms':>13} {'ratio':>6}")
    total = {path: 0.0 for path in times}
    for name in names + ["plan"]:
        ms = {path: 1000 * statistics.median(times[path][name]) if times[path][name] else 0.0 for path in times}
        total = {path: total[path] + ms[path] for path in times}
        print(f"{name:<11} {ms['fast']:8.1f} {ms['reference']:13.1f} {ms['reference'] / ms['fast']:6.2f}")
    print(f"{'total':<11} {total['fast']:8.1f} {total['reference']:13.1f} {total['reference'] / total['fast']:6.2f}")
    print("\n" + profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=12))


if __name__ == "__main__":
    main()
