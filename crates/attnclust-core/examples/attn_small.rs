//! Times identity attention (f32, dot scores) over the research sweep cells on this machine's
//! threads: GFLOP/s = 4·B·L²·d / time, best of several runs. With `--threads 1` (on the calling
//! thread) also the thread's CPU time, which other processes on a shared machine barely disturb.
//! `cargo run --release --example attn_small [-- L,d L,d ...] [--threads N] [--distance] [--no-self]
//! [--path sym|online|short] [--b N]` (`--b`: N prompts a call, the calls repeated, data in cache; `--path`: every prompt on that kernel, one thread, for the dispatch rule
//! of `models::identity`).
use attnclust_core::kernels::simd;
use attnclust_core::models::identity::{apply_prompt_path_in, identity_attention, Options, Path, PathBufs};
use attnclust_core::models::two_head::Scores;
use attnclust_core::Par;
use std::time::Instant;

/// CPU time of the calling thread (ns), from `/proc/thread-self/schedstat`.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat").ok().and_then(|s| s.split_whitespace().next()?.parse().ok()).unwrap_or(0)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut cells: Vec<(usize, usize)> = Vec::new();
    let mut threads = 2;
    let mut scores = Scores::Dot;
    let mut exclude_self = false;
    let mut path = None;
    let mut fixed_b = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--threads" => threads = it.next().and_then(|t| t.parse().ok()).expect("--threads N"),
            "--distance" => scores = Scores::Distance,
            "--b" => fixed_b = Some(it.next().and_then(|t| t.parse().ok()).expect("--b N")),
            "--no-self" => exclude_self = true,
            "--path" => {
                path = match it.next().map(String::as_str) {
                    Some("sym") => Some(Path::Symmetric),
                    Some("online") => Some(Path::Online),
                    Some("short") => Some(Path::Short),
                    _ => panic!("--path sym|online|short"),
                };
                threads = 1;
            }
            c => {
                let (l, d) = c.split_once(',').expect("L,d");
                cells.push((l.parse().unwrap(), d.parse().unwrap()));
            }
        }
    }
    if cells.is_empty() {
        cells = vec![(16, 2), (16, 16), (16, 64), (64, 16), (64, 64), (256, 16), (256, 64), (1024, 16), (1024, 64)];
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
    println!("threads {threads}, {scores:?}, exclude_self {exclude_self}");
    for (l, d) in cells {
        // about 2·10⁹ flop per call
        let b = fixed_b.unwrap_or_else(|| ((2e9 / (4.0 * (l * l * d) as f64)) as usize).clamp(1, 1 << 16));
        let x: Vec<f32> = (0..b * l * d).map(|i| (i.wrapping_mul(2654435761) % 2000) as f32 / 1000.0 - 1.0).collect();
        let o = Options { lambda: 0.3, scores, exclude_self, depth: 1, residual: false };
        let (mut best, mut best_cpu) = (f64::INFINITY, f64::INFINITY);
        // (with --b, enough calls in a row that each timing is about 2·10⁹ flop, data in cache)
        let reps = fixed_b.map_or(1, |b| ((2e9 / (4.0 * (b * l * l * d) as f64)) as usize).max(1));
        let mut y = vec![0.0f32; x.len()];
        let mut bufs = PathBufs::default();
        for _ in 0..5 {
            let t = Instant::now();
            let c = cpu_ns();
            for _ in 0..reps {
                if let Some(path) = path {
                    for (xp, yp) in x.chunks_exact(l * d).zip(y.chunks_exact_mut(l * d)) {
                        apply_prompt_path_in(xp, yp, d, &o, path, simd::isa(), &mut bufs);
                    }
                } else if threads == 1 {
                    y = identity_attention(&x, b, l, d, &o, Par::Seq).unwrap();
                } else {
                    y = pool.install(|| identity_attention(&x, b, l, d, &o, Par::Rayon).unwrap());
                }
                std::hint::black_box(&y);
            }
            best_cpu = best_cpu.min((cpu_ns() - c) as f64 * 1e-9 / reps as f64);
            best = best.min(t.elapsed().as_secs_f64() / reps as f64);
        }
        let flop = 4.0 * b as f64 * (l * l * d) as f64;
        print!("L={l:5} d={d:3} B={b:6}: wall {:8.2} ms {:6.1} GFLOP/s", best * 1e3, flop / best / 1e9);
        if threads == 1 {
            // the calling thread's own CPU time: robust to other processes on a shared machine
            print!(" | cpu {:8.2} ms {:6.1} GFLOP/s {:6.2} µs/prompt", best_cpu * 1e3, flop / best_cpu / 1e9, best_cpu * 1e6 / b as f64);
        }
        println!();
    }
}
