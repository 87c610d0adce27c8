#!/usr/bin/env python3
"""Writes an 8-D tabular data set as a float32 .npy for configs/w2-tabular.toml.

    python3 scripts/tabular_example.py data/tabular-8d.npy [rows]

Four clusters in 8 dimensions, each feature on its own scale (feature j around 10·j with a
spread of j + 1), two pairs of features correlated: a table of measurements in their own
units, which the npy data set standardises per feature and the run's samples come back in.
Pure Python (no NumPy needed); seeded, so the file is the same on every machine.
"""

import math
import os
import random
import struct
import sys


def write_npy(path, rows, d):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (len(rows), d)
    # Magic, version 1.0, header length; the header padded to a multiple of 64 bytes.
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00")
        f.write(struct.pack("<H", len(header)))
        f.write(header.encode("latin1"))
        for r in rows:
            f.write(struct.pack("<%df" % d, *r))


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    path = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    rng = random.Random(0)
    d = 8
    centres = [[rng.choice((-1.5, 1.5)) for _ in range(d)] for _ in range(4)]
    rows = []
    for _ in range(n):
        c = centres[rng.randrange(4)]
        z = [c[j] + 0.5 * rng.gauss(0.0, 1.0) for j in range(d)]
        z[1] = 0.8 * z[0] + 0.6 * z[1]
        z[5] = math.sin(z[4]) + 0.3 * z[5]
        rows.append([10.0 * j + (j + 1) * z[j] for j in range(d)])
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    write_npy(path, rows, d)
    print(f"{path}: {n} rows of {d} features")


if __name__ == "__main__":
    main()
