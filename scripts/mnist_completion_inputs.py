#!/usr/bin/env python3
"""Writes the inputs of `gpfn sample --complete` for MNIST's test images (standard library only).

    python3 scripts/mnist_completion_inputs.py ../shared/data/mnist OUT_DIR [N] [--binarise]

OUT_DIR/images.npy: the first N test images, [N, 1, 28, 28] float32 in [-1, 1] (g / 127.5 - 1,
as gpfn's mnist data set reads them), or with --binarise the class indices {0, 1} of
bin-mnist (each pixel's more likely value under its Bernoulli(g/255): 1 where g >= 128); OUT_DIR/labels.npy: their classes, [N] float32;
OUT_DIR/upper-half.npy: the mask [1, 28, 28] with the upper 14 rows known (1) and the lower
14 to sample (0). Then

    gpfn --config configs/w2-cond.toml sample --complete OUT_DIR/images.npy \
        --mask OUT_DIR/upper-half.npy --labels OUT_DIR/labels.npy --count N --guidance 0 \
        --classifier docs/results/classifier-mnist
"""
import gzip
import os
import struct
import sys


def npy(path, values, shape):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % "".join(
        f"{s}, " for s in shape
    ).rstrip(" ")
    header = header.replace(", )", ",)") if len(shape) == 1 else header.replace(", )", ")")
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * pad + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        f.write(struct.pack(f"<{len(values)}f", *values))


def main():
    args = [a for a in sys.argv[1:] if a != "--binarise"]
    binarise = len(args) < len(sys.argv) - 1
    src, out = args[0], args[1]
    n = int(args[2]) if len(args) > 2 else 500
    os.makedirs(out, exist_ok=True)
    with gzip.open(os.path.join(src, "t10k-images-idx3-ubyte.gz")) as f:
        _, count, rows, cols = struct.unpack(">IIII", f.read(16))
        n = min(n, count)
        pixels = f.read(n * rows * cols)
    with gzip.open(os.path.join(src, "t10k-labels-idx1-ubyte.gz")) as f:
        f.read(8)
        labels = f.read(n)
    values = [float(p >= 128) if binarise else p / 127.5 - 1.0 for p in pixels]
    npy(os.path.join(out, "images.npy"), values, (n, 1, rows, cols))
    npy(os.path.join(out, "labels.npy"), [float(l) for l in labels], (n,))
    mask = [1.0 if r < rows // 2 else 0.0 for r in range(rows) for _ in range(cols)]
    npy(os.path.join(out, "upper-half.npy"), mask, (1, rows, cols))


if __name__ == "__main__":
    main()
