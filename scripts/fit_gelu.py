#!/usr/bin/env python3
"""Fits the polynomial of gelu_erf (src/backend/cuda/cuda_elem.cuh) and checks it in fp32.

For z = |x|, GELU(x) = x Phi(x) = max(x, 0) - z Phi(-z), and the kernel takes Phi(-z) as
2^p(z), p a polynomial of degree DEG fitted to log2 Phi(-z) on [0, 6]. An error d in p is a
relative error d ln 2 in Phi(-z): an absolute error z Phi(-z) d ln 2 in the output, and, for
x < 0, the same relative error d ln 2 in the output. The fit is a weighted minimax one (Lawson's
reweighting of least squares, 200 rounds) with the weight that asks for both: an absolute error
below TAU_ABS everywhere, and a relative error below TAU_REL for z <= ZREL.

Then GELU is evaluated the way the kernel does it (fp32, Horner, z clamped to 6, 2^p, one fused
multiply-add) on 4M points of [-12, 12] and compared with the float64 GELU. The GPU test
(tests/cuda/test_cuda_ops.cu) checks the kernel's own function on every float32 of that range.

Usage: scripts/fit_gelu.py [DEG [TAU_ABS [TAU_REL [ZREL]]]]   (needs numpy and scipy)
  default 5 2e-6 4e-5 3 (the kernel's): max |error| 7.2e-7, relative 1.3e-5 on [-3, 0),
    3.7e-3 on [-4, 0)
  6 1e-6 5e-6 4: 2.9e-7 (fp32's own rounding of outputs near 4), 2.9e-6 relative on [-4, 0),
    one FMA more per output
"""
import sys

import numpy as np
from scipy.special import erfc, log_ndtr

deg = int(sys.argv[1]) if len(sys.argv) > 1 else 5
tau_abs = float(sys.argv[2]) if len(sys.argv) > 2 else 2e-6
tau_rel = float(sys.argv[3]) if len(sys.argv) > 3 else 4e-5
zrel = float(sys.argv[4]) if len(sys.argv) > 4 else 3.0
zmax = 6.0

z = np.linspace(0, zmax, 40001)
target = log_ndtr(-z) / np.log(2)  # log2 Phi(-z)
w = np.maximum(z, 1e-3) * np.exp2(target) * np.log(2) / tau_abs
w = np.maximum(w, np.where(z <= zrel, np.log(2) / tau_rel, 0.0))
A = np.vander(z, deg + 1, increasing=True)
lam = np.ones_like(z)
for _ in range(200):
    W = w * np.sqrt(lam)
    c, *_ = np.linalg.lstsq(A * W[:, None], target * W, rcond=None)
    err = np.abs((A @ c - target) * w)
    lam = lam * err
    lam /= lam.sum()

cf = c.astype(np.float32)
x = np.linspace(-12, 12, 4000001).astype(np.float32)
zc = np.minimum(np.abs(x), np.float32(zmax))
p = np.full_like(x, cf[-1])
for k in range(deg - 1, -1, -1):
    p = (p * zc + cf[k]).astype(np.float32)
g = (np.maximum(x, 0) - zc * np.exp2(p).astype(np.float32)).astype(np.float32)
xd = x.astype(np.float64)
exact = xd * 0.5 * erfc(-xd / np.sqrt(2))
d = np.abs(g - exact)
print(f"degree {deg}: max |gelu error| {d.max():.3g} at x = {x[np.argmax(d)]:.4g}; max relative error", end="")
for lo in (3, 4, 6):
    m = (x < 0) & (x >= -lo)
    print(f" {np.max(d[m] / np.abs(exact[m])):.3g} on [-{lo}, 0)", end=",")
print("\ncoefficients, highest degree first (the kernel's Horner order):")
for v in cf[::-1]:
    print(f"  {float(v)!r}f")
