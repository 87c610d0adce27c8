#!/usr/bin/env python3
"""POT's log-domain Sinkhorn on its PyTorch backend, timed as gpfn's Sinkhorn bench times its
own (`cargo bench -p gpfn-sinkhorn --bench sinkhorn`): n = m points from N(0, I) in d
dimensions, squared Euclidean costs, ε = 0.05 · mean cost, a fixed number of iterations with
the stopping test disabled (2000 · 256²/n² iterations, at least 100), float32, 2 threads, the
fastest of five runs. Prints one markdown row per size.

    python3 -m venv venv && venv/bin/pip install torch numpy pot
    venv/bin/python scripts/pot_sinkhorn_bench.py 256 1024
"""
import sys
import time

import ot
import torch

torch.set_num_threads(2)
sizes = [int(s) for s in sys.argv[1:]] or [256, 1024]
print(f"POT {ot.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads")
print("| n = m | d | iterations | seconds | iterations/s |")
print("|---:|---:|---:|---:|---:|")
g = torch.Generator().manual_seed(0)
for n in sizes:
    for d in (2, 784):
        x = torch.randn(n, d, generator=g)
        y = torch.randn(n, d, generator=g)
        c = ot.dist(x, y)  # squared Euclidean
        eps = 0.05 * c.mean().item()
        w = torch.full((n,), 1.0 / n)
        iters = max(2000 * (256 * 256) // (n * n), 100)
        ot.sinkhorn(w, w, c, eps, method="sinkhorn_log", numItermax=2, stopThr=0.0)
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            ot.sinkhorn(w, w, c, eps, method="sinkhorn_log", numItermax=iters, stopThr=0.0)
            best = min(best, time.perf_counter() - t0)
        print(f"| {n} | {d} | {iters} | {best:.3f} | {iters / best:.1f} |")
