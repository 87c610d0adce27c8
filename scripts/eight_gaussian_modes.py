#!/usr/bin/env python3
"""Mode coverage of 2-D samples of the eight-Gaussians toy (centres 2(cos kπ/4, sin kπ/4),
std 0.1), read from a `.npy` file of `[n, 2]` float32 samples (gpfn's `samples/` output).

Prints, for each of the eight modes, the share of samples whose nearest centre it is and that
lie within 0.5 (5 std) of it; a mode counts as covered when it holds at least 2 % of the
samples (a uniform share is 12.5 %). Also prints the share of samples within 0.5 of any centre
("on a mode"). Standard library only (no numpy on these machines).

    python3 scripts/eight_gaussian_modes.py runs/fdiv-hellinger-toy/samples/<file>.npy
"""
import ast
import math
import struct
import sys


def read_npy(path):
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            sys.exit(f"{path}: not a .npy file")
        major = f.read(2)[0]
        n = struct.unpack("<H" if major == 1 else "<I", f.read(2 if major == 1 else 4))[0]
        header = ast.literal_eval(f.read(n).decode("latin1"))
        if header["descr"] not in ("<f4", "float32") or header["fortran_order"]:
            sys.exit(f"{path}: expected little-endian float32 in C order, got {header}")
        shape = header["shape"]
        if len(shape) != 2 or shape[1] != 2:
            sys.exit(f"{path}: expected [n, 2] samples, got shape {shape}")
        data = struct.unpack(f"<{shape[0] * 2}f", f.read(shape[0] * 8))
        return [(data[2 * i], data[2 * i + 1]) for i in range(shape[0])]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    pts = read_npy(sys.argv[1])
    centres = [(2 * math.cos(k * math.pi / 4), 2 * math.sin(k * math.pi / 4)) for k in range(8)]
    counts = [0] * 8
    on_mode = 0
    for x, y in pts:
        d, k = min((math.hypot(x - cx, y - cy), k) for k, (cx, cy) in enumerate(centres))
        if d < 0.5:
            counts[k] += 1
            on_mode += 1
    n = len(pts)
    shares = [c / n for c in counts]
    covered = sum(s >= 0.02 for s in shares)
    print(f"samples {n}  modes covered {covered}/8  on a mode {on_mode / n:.1%}")
    print("per-mode shares: " + " ".join(f"{s:.3f}" for s in shares))


if __name__ == "__main__":
    main()
