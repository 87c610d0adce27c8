"""PyTorch eager on a GPU, on the reference U-Net of ../shared/bench/torch_unet_bench.py (imported
from there, so the network is the same one): forward (no grad), training step (Adam, MSE) at batch
128, and 20-NFE Euler sampling of 1 000 images in batches of 500 — the three rows of
`gpfn bench`. Each timing is bracketed by torch.cuda.synchronize(). Prints JSON lines.

    python scripts/torch_unet_gpu.py [--reference ../shared/bench/torch_unet_bench.py] [--reps 10]
"""
import argparse
import importlib.util
import json
import statistics
import time

import torch
import torch.nn.functional as F


def load_reference(path):
    spec = importlib.util.spec_from_file_location("torch_unet_bench", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def timed(fn, warmup, reps):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "min_s": min(times), "times_s": times}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reference", default="../shared/bench/torch_unet_bench.py")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--reps", type=int, default=10)
    args = ap.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("torch sees no CUDA device")
    dev = torch.device("cuda")
    ref = load_reference(args.reference)
    torch.manual_seed(0)
    model = ref.UNet().to(dev)
    print(json.dumps({"info": "env", "torch": torch.__version__,
                      "device": torch.cuda.get_device_name(0),
                      "params": sum(p.numel() for p in model.parameters())}), flush=True)
    x = torch.randn(128, 1, 28, 28, device=dev)
    t = torch.rand(128, device=dev)

    model.eval()

    def fwd():
        with torch.no_grad():
            model(x, t)

    print(json.dumps({"bench": "a_forward_b128_nograd", **timed(fwd, args.warmup, args.reps)}), flush=True)

    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    target = torch.randn(128, 1, 28, 28, device=dev)

    def step():
        opt.zero_grad(set_to_none=True)
        F.mse_loss(model(x, t), target).backward()
        opt.step()

    print(json.dumps({"bench": "b_train_step_b128_adam_mse", **timed(step, args.warmup, args.reps)}), flush=True)

    model.eval()
    gen = torch.Generator(device=dev).manual_seed(1)

    def sample():
        with torch.no_grad():
            for _ in range(2):
                z = torch.randn(500, 1, 28, 28, generator=gen, device=dev)
                for k in range(20):
                    tk = k / 20
                    z = z + (model(z, torch.full((500,), tk, device=dev)) - z) / (20 * (1.0 - tk))

    r = timed(sample, 1, max(1, args.reps // 5))
    print(json.dumps({"bench": "c_generate_1000_nfe20_bs500", "images_per_s": 1000 / r["median_s"], **r}),
          flush=True)


if __name__ == "__main__":
    main()
