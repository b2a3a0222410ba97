#!/usr/bin/env python3
"""PyTorch's GEMM (torch.mm, the MKL that PyTorch bundles) for one shape, with the protocol of
`minillm bench gemm`: one untimed warm-up call, then timed calls into a preallocated output until
at least 7 calls and SECONDS seconds; prints one JSON line with the median, minimum and maximum
GFLOP/s over single calls.

Usage: torch_gemm.py M N K NN|NT|TN [--threads 2] [--seconds 2]
Layouts as in ../shared/bench/sgemm_shapes.txt: NN C=A·B, NT C=A·Wᵀ, TN C=Xᵀ·G (row-major).
"""
import argparse
import json
import statistics
import sys
import time

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("m", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("k", type=int)
    ap.add_argument("layout", choices=["NN", "NT", "TN", "TT"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    if min(args.m, args.n, args.k) < 1 or args.threads < 1 or args.seconds < 0:
        sys.exit("torch_gemm.py: M, N, K and --threads must be ≥ 1, --seconds ≥ 0")
    torch.set_num_threads(args.threads)
    m, n, k = args.m, args.n, args.k
    gen = torch.Generator().manual_seed(0)
    # Stored as the BLAS call sees them: a transposed operand is the transpose view of a
    # contiguous matrix, so torch.mm passes it to BLAS with the transpose flag, not a copy.
    a = torch.randn(k, m, generator=gen).t() if args.layout[0] == "T" else torch.randn(m, k, generator=gen)
    b = torch.randn(n, k, generator=gen).t() if args.layout[1] == "T" else torch.randn(k, n, generator=gen)
    c = torch.empty(m, n)
    torch.mm(a, b, out=c)
    times = []
    start = time.perf_counter()
    while len(times) < 7 or time.perf_counter() - start < args.seconds:
        t0 = time.perf_counter()
        torch.mm(a, b, out=c)
        times.append(time.perf_counter() - t0)
    flops = 2.0 * m * n * k
    gflops = [flops / t * 1e-9 for t in times]
    print(json.dumps({
        "benchmark": "torch_gemm", "m": m, "n": n, "k": k, "layout": args.layout,
        "threads": args.threads, "calls": len(times), "torch": torch.__version__,
        "gflops_median": round(statistics.median(gflops), 1),
        "gflops_min": round(min(gflops), 1), "gflops_max": round(max(gflops), 1),
    }))


if __name__ == "__main__":
    main()
