#!/usr/bin/env python3
"""`gpfn math sinkhorn` timed and checked against POT (issue 32): the debiased divergence
S_ε = OT_ε(a, b) − ½ OT_ε(a, a) − ½ OT_ε(b, b) between two clouds of n = m points drawn
uniformly from the unit cube [0, 1]^8 (numpy seed 0), uniform weights, squared Euclidean
cost, at ε ∈ {0.01, 0.1}. Prints one markdown row per problem.

gpfn: one process per problem, the whole command (JSON in, JSON out without the plan, the three problems at
its default tolerance 10⁻⁹ on the marginal error), wall time of the fastest of three runs.

POT: `ot.sinkhorn` (Sinkhorn–Knopp, float64; the kernel exp(−C/ε) does not underflow on these
costs, max C < 8) on each of the three problems, up to 20 000 iterations with stopThr 10⁻¹⁰,
and OT_ε of each plan as ⟨P, C⟩ + ε KL(P ‖ a⊗b) (POT's `sinkhorn2` and
`empirical_sinkhorn_divergence` return ⟨P, C⟩ alone, without the entropy term that S_ε's
definition carries; the plans are what the two share). The agreement columns compare ⟨P, C⟩
of the cross problem with `ot.sinkhorn2` and S_ε with POT's plans.

    python3 -m venv venv && venv/bin/pip install numpy pot
    cargo build --release -p gpfn-cli
    venv/bin/python scripts/sinkhorn_math_bench.py target/release/gpfn
"""
import json
import subprocess
import sys
import time

import numpy as np
import ot

gpfn = sys.argv[1] if len(sys.argv) > 1 else "target/release/gpfn"
sizes = [200, 1000]
epsilons = [0.01, 0.1]


def pot_ot_eps(x, y, eps):
    n, m = len(x), len(y)
    a, b = np.full(n, 1.0 / n), np.full(m, 1.0 / m)
    c = ot.dist(x, y)
    p, log = ot.sinkhorn(a, b, c, eps, numItermax=20000, stopThr=1e-10, log=True)
    nz = p > 0
    kl = np.sum(p[nz] * np.log(p[nz] / np.outer(a, b)[nz]))
    return float(np.sum(p * c)), float(np.sum(p * c) + eps * kl), log["err"][-1]


print(f"POT {ot.__version__}, numpy {np.__version__}")
print("| n = m | ε | gpfn s | iterations xy (Newton) / xx / yy | converged | S_ε gpfn | S_ε POT "
      "| rel. diff S_ε | rel. diff ⟨P,C⟩ | POT s |")
print("|---:|---:|---:|---|---|---:|---:|---:|---:|---:|")
rng = np.random.default_rng(0)
for n in sizes:
    x = rng.random((n, 8))
    y = rng.random((n, 8))
    for eps in epsilons:
        request = json.dumps({"x": x.tolist(), "y": y.tolist(), "epsilon": eps, "plan": False})
        times = []
        for _ in range(3):
            t = time.perf_counter()
            out = subprocess.run([gpfn, "-q", "math", "sinkhorn"], input=request,
                                 capture_output=True, text=True, check=True)
            times.append(time.perf_counter() - t)
        v = json.loads(out.stdout)
        t = time.perf_counter()
        cost_xy, ot_xy, _ = pot_ot_eps(x, y, eps)
        _, ot_xx, _ = pot_ot_eps(x, x, eps)
        _, ot_yy, _ = pot_ot_eps(y, y, eps)
        pot_s = time.perf_counter() - t
        s_pot = ot_xy - 0.5 * (ot_xx + ot_yy)
        terms = v["terms"]
        its = (f'{terms["xy"]["iterations"]} ({terms["xy"]["newton_steps"]}) / '
               f'{terms["xx"]["iterations"]} / {terms["yy"]["iterations"]}')
        print(f'| {n} | {eps} | {min(times):.3f} | {its} | {v["converged"]} '
              f'| {v["divergence"]:.10f} | {s_pot:.10f} '
              f'| {abs(v["divergence"] - s_pot) / abs(s_pot):.1e} '
              f'| {abs(v["cost"] - cost_xy) / abs(cost_xy):.1e} | {pot_s:.1f} |', flush=True)
