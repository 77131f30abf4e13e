#!/usr/bin/env python3
"""attnclust's k-means against scikit-learn's KMeans on anisotropic, well-separated data sets.

    /work/venv-sk/bin/python bench/kmeans-sklearn.py [--sets 20] [--n 3000] [--k 10] [--d 16]

(needs `npm run build` first, and scikit-learn: python3 -m venv venv && venv/bin/pip install
scikit-learn). Each set: K centroids `scale · N(0, I_d)` (`--scale`, default 12), per-component, per-coordinate standard
deviations uniform in [0.3, 3], n points with equal weights (numpy, seed = set index). On each set
it runs attnclust's `kmeans` (default options, seed 0) in a Node child process, and scikit-learn's
`KMeans(n_init=10)` and `KMeans(n_init=1)` (random_state 0), and prints per set and in summary:
the inertia ratio attnclust / sklearn(n_init=10), and each method's adjusted Rand index against the
true components. Not a test: the figures go to the README / the lead's report.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

NODE = r"""
const fs = require('fs');
const { kmeans } = require(process.argv[1] + '/dist/src/index.js');
const jobs = JSON.parse(fs.readFileSync(0, 'utf8'));
const out = jobs.map((j) => {
  const data = new Float64Array(fs.readFileSync(j.file).buffer.slice(0));
  const r = kmeans({ shape: [j.n, j.d], data }, j.k, { seed: 0 });
  return { inertia: r.inertia, labels: Array.from(r.labels) };
});
process.stdout.write(JSON.stringify(out));
"""


def make_set(i, n, k, d, scale):
    g = np.random.default_rng(i)
    means = scale * g.standard_normal((k, d))
    sd = g.uniform(0.3, 3.0, (k, d))
    z = g.integers(0, k, n)
    x = means[z] + sd[z] * g.standard_normal((n, d))
    return x, z


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", type=int, default=20)
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--d", type=int, default=16)
    ap.add_argument("--scale", type=float, default=12.0, help="centroids scale · N(0, I_d)")
    a = ap.parse_args()
    sets = [make_set(i, a.n, a.k, a.d, a.scale) for i in range(a.sets)]
    with tempfile.TemporaryDirectory() as tmp:
        jobs = []
        for i, (x, _) in enumerate(sets):
            f = os.path.join(tmp, f"set{i}.f64")
            np.ascontiguousarray(x, dtype=np.float64).tofile(f)
            jobs.append({"file": f, "n": a.n, "d": a.d, "k": a.k})
        res = subprocess.run(["node", "-e", NODE, ROOT], input=json.dumps(jobs), capture_output=True, text=True, check=True)
        ours = json.loads(res.stdout)
    print(f"scikit-learn {sklearn.__version__}; {a.sets} sets, n = {a.n}, K = {a.k}, d = {a.d}, centroids {a.scale}·N(0, I)")
    print("set  ratio(ours/sk10)  ratio(sk1/sk10)  ARI ours  ARI sk1  ARI sk10")
    ratios, ratios1, aris = [], [], {"ours": [], "sk1": [], "sk10": []}
    for i, ((x, z), o) in enumerate(zip(sets, ours)):
        sk10 = KMeans(n_clusters=a.k, n_init=10, random_state=0).fit(x)
        sk1 = KMeans(n_clusters=a.k, n_init=1, random_state=0).fit(x)
        r, r1 = o["inertia"] / sk10.inertia_, sk1.inertia_ / sk10.inertia_
        ao, a1, a10 = (adjusted_rand_score(z, o["labels"]), adjusted_rand_score(z, sk1.labels_), adjusted_rand_score(z, sk10.labels_))
        ratios.append(r)
        ratios1.append(r1)
        aris["ours"].append(ao)
        aris["sk1"].append(a1)
        aris["sk10"].append(a10)
        print(f"{i:3d}  {r:16.6f}  {r1:15.6f}  {ao:8.4f}  {a1:7.4f}  {a10:8.4f}")
    ratios = np.array(ratios)
    print(f"ours/sk10 inertia: max {ratios.max():.6f}, median {np.median(ratios):.6f}, sets > 1.01: {(ratios > 1.01).sum()} of {len(ratios)}")
    print(f"sk1/sk10 inertia: max {max(ratios1):.6f}")
    for key, v in aris.items():
        print(f"ARI vs truth, {key}: min {min(v):.4f}, mean {np.mean(v):.4f}")
    return 0 if (ratios <= 1.01).all() else 1


if __name__ == "__main__":
    sys.exit(main())
