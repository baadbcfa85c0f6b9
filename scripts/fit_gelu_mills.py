#!/usr/bin/env python3
"""Fits the polynomial of gelu_mills (src/backend/cuda/cuda_elem.cuh) and checks it in fp32.

For z = |x|, Phi(-z) = exp(-z^2/2) Q(z); Q is fitted on [0, ZMAX] by a polynomial of degree DEG,
weighted by z exp(-z^2/2) (so that the error is even in the GELU's output x Phi(x)), with
Lawson's reweighting towards the minimax fit. Then GELU(x) = max(x, 0) - z Phi(-z) (z clamped as in Q) is evaluated
the way the kernel does (fp32, Horner, ex2) on 2M points of [-12, 12] against the float64 GELU.

Usage: scripts/fit_gelu_mills.py [DEG [ZMAX]]   (default 8 6; needs numpy and scipy)
"""
import sys

import numpy as np
from scipy.special import erfc

deg = int(sys.argv[1]) if len(sys.argv) > 1 else 8
zmax = float(sys.argv[2]) if len(sys.argv) > 2 else 6.0

z = np.linspace(0, zmax, 20001)
q_exact = 0.5 * erfc(z / np.sqrt(2)) * np.exp(z * z / 2)
w = np.exp(-z * z / 2) * np.maximum(z, 0.3)
A = np.vander(z, deg + 1, increasing=True)
lam = np.ones_like(z)
for _ in range(60):
    W = w * np.sqrt(lam)
    c, *_ = np.linalg.lstsq(A * W[:, None], q_exact * W, rcond=None)
    err = np.abs((A @ c - q_exact) * w)
    lam = lam * err
    lam /= lam.sum()

cf = c.astype(np.float32)
x = np.linspace(-12, 12, 2000001).astype(np.float32)
az = np.abs(x)
zc = np.minimum(az, np.float32(zmax))
q = np.full_like(x, cf[-1])
for k in range(deg - 1, -1, -1):
    q = (q * zc + cf[k]).astype(np.float32)
e = np.exp2((np.float32(-0.5 * np.log2(np.e)) * (az * az)).astype(np.float32)).astype(np.float32)
g = (np.maximum(x, 0) - zc * (e * q).astype(np.float32)).astype(np.float32)
xd = x.astype(np.float64)
exact = xd * 0.5 * erfc(-xd / np.sqrt(2))
d = np.abs(g - exact)
print(f"degree {deg} on [0, {zmax}]: max |gelu error| {d.max():.3g} at x = {x[np.argmax(d)]:.4g}")
print("coefficients, constant term first:")
for v in cf:
    print(f"  {float(v)!r}f")
