#!/usr/bin/env python3
"""Peers of attnclust on the benchmark workloads W1-W7 and the size sweep (SPEC section 9): numpy, PyTorch CPU, JAX CPU.

Run by bench/compare.ts as a child process, one process per peer (so that one library's thread
pool never competes with another's), and prints one JSON object on stdout:

    python bench/peers.py --peer numpy|pytorch|jax --threads 2 [--only W1,W3] [--quick]
        -> {"peer": "...", "version": "...", "threads": 2,
            "workloads": {"W1": {"seconds": best, "median": ..., "reps": n} | {"error": "..."}, ...}}
    python bench/peers.py --peer jax --threads 2 --w3-memory
        -> {"peer": "jax", "extraMemoryMiB": ..., "seconds": ..., "method": "..."}
    python bench/peers.py --peer pytorch --threads 2 --sweep attention --cells '[[d, L, B], ...]'
    python bench/peers.py --peer pytorch --threads 2 --sweep sgd --cells '[[d, batch, steps], ...]'
        -> {"peer": "...", "version": "...", "cells": [{"seconds": ..., ...} | {"error": "..."}, ...]}

A peer whose library cannot be imported prints {"peer": ..., "missing": "<reason>"} (exit code 0).

Conventions (the same as attnclust's side in compare.ts): f32, lambda = 1/sqrt(d); inputs are
standard normal (attention cost does not depend on the values); every workload is called once or
twice untimed (JAX: the first call compiles under jit), then timed repeatedly until at least 5 calls
and 1.5 s (at most 30 calls, at least 3 for calls over 1 s); "seconds" is the best (minimum) time, the
median is reported too. Thread count: OMP/MKL/OpenBLAS env vars and XLA_FLAGS are set before the
import, torch.set_num_threads too.

Workloads:
  W1  identity attention forward, B=16, L=1024, d=64: softmax(l X X^T) X.
      numpy: batched matmul + max-subtracted softmax; torch: F.scaled_dot_product_attention(x, x, x,
      scale=l) under inference_mode; jax: jax.nn.dot_product_attention(x, x, x, scale=l) under jit.
  W2  model C forward + backward, one head, identity weights W_Q, W_K, W_V, W_O (d x d), B=16,
      L=1024: y = softmax(l (X Wq)(X Wk)^T)(X Wv) Wo, then dX, dWq, dWk, dWv, dWo for an upstream dY.
      numpy: the formulas by hand; torch: sdpa + autograd (y.backward(dY)); jax: jax.vjp under jit.
  W3  identity attention forward, B=1, L=16384, d=64 (as W1). --w3-memory runs it once in a fresh
      process and reports the resident-memory high-water mark above the resident set before the
      call (Linux: /proc/self/clear_refs "5" resets VmHWM to VmRSS; then VmHWM - VmRSS_before).
  W4  one online SGD step of the two-head layer with sampling, n = 2^20, d = 64, H = 2: draw the
      components (weights 1/2, 1/2) and n x d standard normals (numpy Generator, torch.randn,
      jax.random.normal), x = mu_z + sigma eps, forward, the exact gradient
      grad_h = -2 mean_i a_ih [r_i + l (c_ih - cbar_i) x_i] and the risk, one SGD update.
  W5  the same risk + gradient on a fixed sample x (n = 2^20, d = 64, f32).
  W6  64 independent online-SGD runs of the two-head layer, d = 16, H = 2, batch 256, 1000 steps,
      lambda = 1, lr 0.05, mixture +-3 e_1, sigma 1, equal weights; fresh samples every step; a
      new random start (0.01 N(0, 1)) and new samples every call. torch: the runs batched, theta
      [64, 2, 16], bmm over [64, 256, 16], one Python loop over the steps under inference_mode;
      jax: vmap over the runs of a lax.scan over the steps, the whole call under jit. (No numpy.)
  W7  identity attention forward, B = 4096, L = 256, d = 16, lambda = 0.3 (as W1).
  --sweep attention: identity attention (as W1) at each [d, L, B], lambda = 1/sqrt(d).
  --sweep sgd: one online-SGD run (as one run of W6; torch: the same batched code with 1 run) at
      each [d, batch, steps], lambda = 1/sqrt(d). Sweep cells are timed with fewer calls (at least
      3 and 0.2 s, at most 10; 2 when a call takes over 0.5 s).
"""
import argparse
import json
import math
import os
import sys
import time

D = 64
LAM = 1.0 / math.sqrt(D)
N = 2 ** 20
MEANS = [[3.0 if i == 0 else 0.0 for i in range(D)], [-3.0 if i == 0 else 0.0 for i in range(D)]]
SIGMA = 1.0
WEIGHTS = [0.5, 0.5]
LR = 0.05
# W6 and the SGD sweep: runs, heads, batch, steps, dimension, lambda; W7: prompts, length, dimension, lambda.
W6 = dict(runs=64, h=2, batch=256, steps=1000, d=16, lam=1.0, lr=0.05)
W7 = dict(b=4096, l=256, d=16, lam=0.3)


def e1_means(d):
    """The means +-3 e_1 of the two-component mixture in dimension d."""
    return [[3.0 if i == 0 else 0.0 for i in range(d)], [-3.0 if i == 0 else 0.0 for i in range(d)]]


def parse():
    p = argparse.ArgumentParser()
    p.add_argument("--peer", required=True, choices=["numpy", "pytorch", "jax"])
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--only", default="W1,W2,W3,W4,W5,W6,W7")
    p.add_argument("--quick", action="store_true", help="fewer repetitions (smoke test)")
    p.add_argument("--w3-memory", action="store_true")
    p.add_argument("--sweep", choices=["attention", "sgd"])
    p.add_argument("--cells", default="[]", help="JSON list of sweep cells")
    return p.parse_args()


ARGS = parse()
T = str(ARGS.threads)
for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS"):
    os.environ[var] = T
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + f" --xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads={T}").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")


def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return None


def reset_hwm():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def time_it(f, warmup=1, sweep=False):
    for _ in range(warmup):
        f()
    times, total = [], 0.0
    if sweep:
        min_reps, max_reps, min_s = (1, 2, 0.05) if ARGS.quick else (3, 10, 0.2)
    else:
        min_reps, max_reps, min_s = (2, 3, 0.3) if ARGS.quick else (5, 30, 1.5)
    while len(times) < max_reps:
        t0 = time.perf_counter()
        f()
        s = time.perf_counter() - t0
        times.append(s)
        total += s
        enough = len(times) >= min_reps and total >= min_s
        slow = len(times) >= 3 and s > 1.0 or sweep and len(times) >= 2 and s > 0.5
        if enough or slow:
            break
    times.sort()
    m = len(times) // 2
    med = times[m] if len(times) % 2 else (times[m - 1] + times[m]) / 2
    return {"seconds": times[0], "median": med, "reps": len(times)}


# ------------------------------------------------------------------------------------------------
# numpy
# ------------------------------------------------------------------------------------------------
def numpy_peer():
    import numpy as np

    rng = np.random.default_rng(0)
    f32 = np.float32
    means = np.array(MEANS, dtype=f32)
    lam = f32(LAM)

    def softmax_rows(s):
        s -= s.max(axis=-1, keepdims=True)
        np.exp(s, out=s)
        s /= s.sum(axis=-1, keepdims=True)
        return s

    def ident(x, lam_=lam):
        s = np.matmul(x, np.swapaxes(x, -1, -2))
        s *= f32(lam_)
        return np.matmul(softmax_rows(s), x)

    def attn_bwd(x, w, dy):
        wq, wk, wv, wo = w
        q, k, v = x @ wq, x @ wk, x @ wv
        p = softmax_rows(lam * np.matmul(q, np.swapaxes(k, -1, -2)))
        o = np.matmul(p, v)
        y = o @ wo
        dwo = np.einsum("bli,blj->ij", o, dy, optimize=True)
        do = dy @ wo.T
        dv = np.matmul(np.swapaxes(p, -1, -2), do)
        ds = np.matmul(do, np.swapaxes(v, -1, -2))
        ds -= (ds * p).sum(axis=-1, keepdims=True)
        ds *= p
        ds *= lam
        dq = np.matmul(ds, k)
        dk = np.matmul(np.swapaxes(ds, -1, -2), q)
        xf = x.reshape(-1, D)
        dwq, dwk, dwv = xf.T @ dq.reshape(-1, D), xf.T @ dk.reshape(-1, D), xf.T @ dv.reshape(-1, D)
        dx = dq @ wq.T + dk @ wk.T + dv @ wv.T
        return y, dx, dwq, dwk, dwv, dwo

    def risk_grad(x, theta):
        n = x.shape[0]
        s = lam * (x @ theta.T)
        a = softmax_rows(s)
        r = x - a @ theta
        c = r @ theta.T
        cbar = (a * c).sum(axis=1, keepdims=True)
        ak = a * (lam * (c - cbar))
        g = (-2.0 / n) * (a.T @ r + ak.T @ x)
        risk = float(np.einsum("ij,ij->", r, r)) / n
        return risk, g

    theta0 = (0.01 * rng.standard_normal((2, D))).astype(f32)
    state = {"theta": theta0.copy()}

    def sgd_step():
        z = rng.choice(2, size=N, p=WEIGHTS)
        x = rng.standard_normal((N, D), dtype=f32)
        x *= f32(SIGMA)
        x += means[z]
        _, g = risk_grad(x, state["theta"])
        state["theta"] = state["theta"] - f32(LR) * g

    def prompts(b, l):
        return rng.standard_normal((b, l, D), dtype=f32)

    eye = np.eye(D, dtype=f32)
    cases = {
        "W1": lambda: (lambda x: lambda: ident(x))(prompts(16, 1024)),
        "W2": lambda: (lambda x, dy: lambda: attn_bwd(x, (eye, eye, eye, eye), dy))(prompts(16, 1024), prompts(16, 1024)),
        "W3": lambda: (lambda x: lambda: ident(x))(prompts(1, 16384)),
        "W4": lambda: sgd_step,
        "W5": lambda: (lambda x: lambda: risk_grad(x, theta0))(
            (means[rng.choice(2, size=N, p=WEIGHTS)] + SIGMA * rng.standard_normal((N, D), dtype=f32)).astype(f32)
        ),
    }
    cases["W7"] = lambda: (lambda x: lambda: ident(x, W7["lam"]))(rng.standard_normal((W7["b"], W7["l"], W7["d"]), dtype=f32))
    small = {"W3": lambda: (lambda x: lambda: ident(x))(prompts(1, 256))}

    def sweep_attention(d, l, b):
        x = rng.standard_normal((b, l, d), dtype=f32)
        return lambda: ident(x, 1.0 / math.sqrt(d))

    sweeps = {"attention": sweep_attention}
    return np.__version__, cases, small, sweeps


# ------------------------------------------------------------------------------------------------
# PyTorch
# ------------------------------------------------------------------------------------------------
def torch_peer():
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(ARGS.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    gen = torch.Generator().manual_seed(0)
    means = torch.tensor(MEANS, dtype=torch.float32)
    weights = torch.tensor(WEIGHTS, dtype=torch.float32)

    def prompts(b, l):
        # [B, heads = 1, L, d], the layout scaled_dot_product_attention expects.
        return torch.randn(b, 1, l, D, generator=gen)

    def ident(x, lam=LAM):
        with torch.inference_mode():
            return F.scaled_dot_product_attention(x, x, x, scale=lam)

    def attn_bwd(x0, dy):
        x = x0.detach().requires_grad_(True)
        ws = [torch.eye(D).requires_grad_(True) for _ in range(4)]
        wq, wk, wv, wo = ws
        y = F.scaled_dot_product_attention(x @ wq, x @ wk, x @ wv, scale=LAM) @ wo
        y.backward(dy)
        return y.detach(), x.grad, [w.grad for w in ws]

    def risk_grad(x, theta):
        n = x.shape[0]
        a = torch.softmax(LAM * (x @ theta.T), dim=1)
        r = x - a @ theta
        c = r @ theta.T
        cbar = (a * c).sum(dim=1, keepdim=True)
        ak = a * (LAM * (c - cbar))
        g = (-2.0 / n) * (a.T @ r + ak.T @ x)
        risk = float((r * r).sum()) / n
        return risk, g

    theta0 = 0.01 * torch.randn(2, D, generator=gen)
    state = {"theta": theta0.clone()}

    def sgd_step():
        with torch.inference_mode():
            z = torch.multinomial(weights, N, replacement=True, generator=gen)
            x = torch.randn(N, D, generator=gen)
            x.mul_(SIGMA).add_(means[z])
            _, g = risk_grad(x, state["theta"])
            state["theta"] = state["theta"] - LR * g

    def fixed_sample():
        z = torch.multinomial(weights, N, replacement=True, generator=gen)
        return means[z] + SIGMA * torch.randn(N, D, generator=gen)

    def w5(x):
        def run():
            with torch.inference_mode():
                return risk_grad(x, theta0)

        return run

    cases = {
        "W1": lambda: (lambda x: lambda: ident(x))(prompts(16, 1024)),
        "W2": lambda: (lambda x, dy: lambda: attn_bwd(x, dy))(prompts(16, 1024), prompts(16, 1024)),
        "W3": lambda: (lambda x: lambda: ident(x))(prompts(1, 16384)),
        "W4": lambda: sgd_step,
        "W5": lambda: w5(fixed_sample()),
    }
    def sgd_runs(runs, d, batch, steps, lam, lr):
        """`runs` independent online-SGD runs batched along the first axis (bmm), one loop over the steps."""
        mu = torch.tensor(e1_means(d), dtype=torch.float32)

        def run():
            with torch.inference_mode():
                theta = 0.01 * torch.randn(runs, W6["h"], d, generator=gen)
                for _ in range(steps):
                    # equal weights: a uniform component index
                    z = torch.randint(0, 2, (runs, batch), generator=gen)
                    x = mu[z] + SIGMA * torch.randn(runs, batch, d, generator=gen)
                    a = torch.softmax(lam * torch.bmm(x, theta.transpose(1, 2)), dim=2)
                    r = x - torch.bmm(a, theta)
                    c = torch.bmm(r, theta.transpose(1, 2))
                    cbar = (a * c).sum(dim=2, keepdim=True)
                    ak = a * (lam * (c - cbar))
                    g = (-2.0 / batch) * (torch.bmm(a.transpose(1, 2), r) + torch.bmm(ak.transpose(1, 2), x))
                    theta = theta - lr * g
                return theta

        return run

    cases["W6"] = lambda: sgd_runs(W6["runs"], W6["d"], W6["batch"], W6["steps"], W6["lam"], W6["lr"])
    cases["W7"] = lambda: (lambda x: lambda: ident(x, W7["lam"]))(torch.randn(W7["b"], 1, W7["l"], W7["d"], generator=gen))
    small = {"W3": lambda: (lambda x: lambda: ident(x))(prompts(1, 256))}

    def sweep_attention(d, l, b):
        x = torch.randn(b, 1, l, d, generator=gen)
        return lambda: ident(x, 1.0 / math.sqrt(d))

    def sweep_sgd(d, batch, steps):
        return sgd_runs(1, d, batch, steps, 1.0 / math.sqrt(d), LR)

    sweeps = {"attention": sweep_attention, "sgd": sweep_sgd}
    return torch.__version__, cases, small, sweeps


# ------------------------------------------------------------------------------------------------
# JAX
# ------------------------------------------------------------------------------------------------
def jax_peer():
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_platforms", "cpu")
    key = {"k": jax.random.PRNGKey(0)}

    def split():
        key["k"], k = jax.random.split(key["k"])
        return k

    means = jnp.array(MEANS, dtype=jnp.float32)
    logw = jnp.log(jnp.array(WEIGHTS, dtype=jnp.float32))

    def prompts(b, l):
        # [B, L, heads = 1, d], the layout jax.nn.dot_product_attention expects.
        return jax.random.normal(split(), (b, l, 1, D), dtype=jnp.float32)

    @jax.jit
    def ident(x):
        return jax.nn.dot_product_attention(x, x, x, scale=LAM)

    ident_at = {}

    def ident_lam(lam):
        """A jitted identity attention at inverse temperature lam (a compile-time constant)."""
        if lam not in ident_at:
            ident_at[lam] = jax.jit(lambda x: jax.nn.dot_product_attention(x, x, x, scale=lam))
        return ident_at[lam]

    def model_c(x, w):
        wq, wk, wv, wo = w
        return jax.nn.dot_product_attention(x @ wq, x @ wk, x @ wv, scale=LAM) @ wo

    @jax.jit
    def attn_bwd(x, w, dy):
        y, vjp = jax.vjp(model_c, x, w)
        dx, dw = vjp(dy)
        return y, dx, dw

    def risk_grad(x, theta, lam=LAM):
        n = x.shape[0]
        a = jax.nn.softmax(lam * (x @ theta.T), axis=1)
        r = x - a @ theta
        c = r @ theta.T
        cbar = (a * c).sum(axis=1, keepdims=True)
        ak = a * (lam * (c - cbar))
        g = (-2.0 / n) * (a.T @ r + ak.T @ x)
        return (r * r).sum() / n, g

    @jax.jit
    def sgd_step(k, theta):
        kz, ke = jax.random.split(k)
        z = jax.random.categorical(kz, logw, shape=(N,))
        x = means[z] + SIGMA * jax.random.normal(ke, (N, D), dtype=jnp.float32)
        risk, g = risk_grad(x, theta)
        return theta - LR * g, risk

    theta0 = 0.01 * jax.random.normal(split(), (2, D), dtype=jnp.float32)
    state = {"theta": theta0}

    def w4():
        state["theta"], risk = sgd_step(split(), state["theta"])
        jax.block_until_ready((state["theta"], risk))

    risk_grad_jit = jax.jit(risk_grad)

    def fixed_sample():
        z = jax.random.categorical(split(), logw, shape=(N,))
        return jax.block_until_ready(means[z] + SIGMA * jax.random.normal(split(), (N, D), dtype=jnp.float32))

    def run(f, *a):
        return lambda: jax.block_until_ready(f(*a))

    eye = jnp.eye(D, dtype=jnp.float32)
    eyes = (eye, eye, eye, eye)
    cases = {
        "W1": lambda: run(ident, prompts(16, 1024)),
        "W2": lambda: run(attn_bwd, prompts(16, 1024), eyes, prompts(16, 1024)),
        "W3": lambda: run(ident, prompts(1, 16384)),
        "W4": lambda: w4,
        "W5": lambda: run(risk_grad_jit, fixed_sample(), theta0),
    }

    def w3_compiled():
        x = prompts(1, 16384)
        compiled = ident.lower(x).compile()  # compile outside the measured window
        return lambda: jax.block_until_ready(compiled(x))

    small = {"W3": w3_compiled}

    def sgd_runs(runs, d, batch, steps, lam, lr):
        """vmap over `runs` of one run = lax.scan over `steps` (fresh samples from each step's key), under jit."""
        mu = jnp.array(e1_means(d), dtype=jnp.float32)

        def one_run(key):
            k0, ks = jax.random.split(key)
            theta0 = 0.01 * jax.random.normal(k0, (W6["h"], d), dtype=jnp.float32)

            def step(theta, k):
                kz, ke = jax.random.split(k)
                z = jax.random.categorical(kz, logw, shape=(batch,))
                x = mu[z] + SIGMA * jax.random.normal(ke, (batch, d), dtype=jnp.float32)
                _, g = risk_grad(x, theta, lam)
                return theta - lr * g, None

            theta, _ = jax.lax.scan(step, theta0, jax.random.split(ks, steps))
            return theta

        f = jax.jit(jax.vmap(one_run))
        return lambda: jax.block_until_ready(f(jax.random.split(split(), runs)))

    cases["W6"] = lambda: sgd_runs(W6["runs"], W6["d"], W6["batch"], W6["steps"], W6["lam"], W6["lr"])
    cases["W7"] = lambda: run(ident_lam(W7["lam"]), jax.random.normal(split(), (W7["b"], W7["l"], 1, W7["d"]), dtype=jnp.float32))

    def sweep_attention(d, l, b):
        return run(ident_lam(1.0 / math.sqrt(d)), jax.random.normal(split(), (b, l, 1, d), dtype=jnp.float32))

    def sweep_sgd(d, batch, steps):
        return sgd_runs(1, d, batch, steps, 1.0 / math.sqrt(d), LR)

    sweeps = {"attention": sweep_attention, "sgd": sweep_sgd}
    return jax.__version__, cases, small, sweeps


PEERS = {"numpy": numpy_peer, "pytorch": torch_peer, "jax": jax_peer}


def main():
    out = {"peer": ARGS.peer, "threads": ARGS.threads}
    try:
        version, cases, small, sweeps = PEERS[ARGS.peer]()
    except Exception as e:  # ImportError, or a broken install
        out["missing"] = f"{type(e).__name__}: {e}".splitlines()[0][:300]
        print(json.dumps(out))
        return
    out["version"] = version
    if ARGS.w3_memory:
        # Fresh process: start the thread pools on a small prompt (JAX: compile the big one instead),
        # make the input, then the high-water mark of one call above the resident set before it.
        if ARGS.peer == "jax":
            f = small["W3"]()
        else:
            small["W3"]()()
            f = cases["W3"]()
        before = status("VmRSS")
        hwm_before = status("VmHWM")
        exact = reset_hwm()
        t0 = time.perf_counter()
        f()
        out["seconds"] = time.perf_counter() - t0
        hwm = status("VmHWM")
        if exact:
            out["extraMemoryMiB"] = max(0, hwm - before) / 2 ** 20
            out["method"] = "VmHWM after one call - VmRSS before it (VmHWM reset by /proc/self/clear_refs)"
        else:
            out["extraMemoryMiB"] = max(0, hwm - hwm_before) / 2 ** 20
            out["method"] = "VmHWM after - VmHWM before (no clear_refs: a lower bound)"
        print(json.dumps(out))
        return
    if ARGS.sweep:
        cells = []
        for cell in json.loads(ARGS.cells):
            try:
                if ARGS.sweep not in sweeps:
                    raise NotImplementedError(f"no {ARGS.sweep} sweep in {ARGS.peer}")
                f = sweeps[ARGS.sweep](*cell)
                r = time_it(f, warmup=1, sweep=True)
            except Exception as e:
                r = {"error": f"{type(e).__name__}: {e}".splitlines()[0][:300]}
            cells.append(r)
            print(f"{ARGS.peer} sweep {ARGS.sweep} {cell}: {r}", file=sys.stderr, flush=True)
        out["cells"] = cells
        print(json.dumps(out))
        return
    res = {}
    for wid in ARGS.only.split(","):
        try:
            if wid not in cases:
                raise NotImplementedError(f"{wid} has no {ARGS.peer} version")
            f = cases[wid]()
            res[wid] = time_it(f, warmup=2 if wid not in ("W3", "W6", "W7") else 1)
        except Exception as e:
            res[wid] = {"error": f"{type(e).__name__}: {e}".splitlines()[0][:300]}
        print(f"{ARGS.peer} {wid}: {res[wid]}", file=sys.stderr, flush=True)
    out["workloads"] = res
    print(json.dumps(out))


if __name__ == "__main__":
    main()
