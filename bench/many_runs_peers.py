"""W6 peers (SPEC §9): 64 independent two-head online-SGD runs, d = 16, H = 2, 'dot', batch 256,
1000 steps, λ = 1, lr 0.05, on the mixture of `bench/many-runs.ts` (means 3·e₀ and 3·e₁, σ = 1).

- PyTorch: the runs batched (`bmm` over a [runs, batch, d] tensor), one Python loop over steps,
  gradients by autograd;
- JAX: `vmap` over runs of a `lax.scan` over steps, under `jit` (compiled once before timing).

    /work/venv/bin/python bench/many_runs_peers.py [runs] [steps]

Prints wall time, process CPU time and samples/s (runs · steps · batch / wall time) per peer.
"""
import sys
import time

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 64
STEPS = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
BATCH, D, H, LAM, LR = 256, 16, 2, 1.0, 0.05


def report(name, wall, cpu):
    n = RUNS * STEPS * BATCH
    print(f"{name}: {wall:.3f} s wall, {n / wall / 1e6:.2f} M samples/s; {cpu:.3f} s CPU = {cpu * 1e9 / n:.1f} ns CPU per sample", flush=True)


def torch_peer():
    import torch

    torch.set_num_threads(2)
    torch.manual_seed(0)
    means = torch.zeros(2, D)
    means[0, 0] = 3.0
    means[1, 1] = 3.0
    theta = 0.01 * torch.randn(RUNS, H, D)
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(STEPS):
        z = torch.randint(0, 2, (RUNS, BATCH))
        x = means[z] + torch.randn(RUNS, BATCH, D)
        theta.requires_grad_(True)
        a = torch.softmax(LAM * torch.bmm(x, theta.transpose(1, 2)), dim=-1)
        loss = ((x - torch.bmm(a, theta)) ** 2).sum(-1).mean(-1).sum()
        (g,) = torch.autograd.grad(loss, theta)
        theta = (theta - LR * g).detach()
    report(f"pytorch {torch.__version__}", time.perf_counter() - w0, time.process_time() - c0)


def jax_peer():
    import jax
    import jax.numpy as jnp

    means = jnp.zeros((2, D)).at[0, 0].set(3.0).at[1, 1].set(3.0)

    def loss(theta, x):
        a = jax.nn.softmax(LAM * x @ theta.T, axis=-1)
        return jnp.mean(jnp.sum((x - a @ theta) ** 2, axis=-1))

    def run(theta0, key):
        def step(theta, k):
            k1, k2 = jax.random.split(k)
            x = means[jax.random.randint(k1, (BATCH,), 0, 2)] + jax.random.normal(k2, (BATCH, D))
            return theta - LR * jax.grad(loss)(theta, x), None

        theta, _ = jax.lax.scan(step, theta0, jax.random.split(key, STEPS))
        return theta

    f = jax.jit(jax.vmap(run))
    keys = jax.random.split(jax.random.PRNGKey(0), RUNS)
    theta0 = 0.01 * jax.random.normal(jax.random.PRNGKey(1), (RUNS, H, D))
    f(theta0, keys).block_until_ready()  # compile
    w0, c0 = time.perf_counter(), time.process_time()
    f(theta0, keys).block_until_ready()
    report(f"jax {jax.__version__}", time.perf_counter() - w0, time.process_time() - c0)


for peer in (torch_peer, jax_peer):
    try:
        peer()
    except ImportError as e:
        print(f"{peer.__name__}: missing ({e})")
