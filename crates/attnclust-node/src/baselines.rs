//! Baselines: k-means and EM (added with the experiments).
