//! Times this crate's kernels against candle's own ops on the shapes CLIP spends its time in.
//!
//! `cargo run --release -p clipneurons-kernels --example kernel_bench [-- quick] [full] [tuned]`
//!
//! * `quick`: 3 timed runs per case instead of 20 (10 for gradients); `full`: add RN50/RN50x4 layer shapes;
//!   `builtin`: the 3×3 convolutions of the built-in model's training step (batch 128, 96 px, width 16);
//! * `tuned`: call `tune_allocator()` first (speeds up candle's side as much as ours);
//! * any other argument: only run cases whose label contains it.
//!
//! Prints best and median ms; ours and candle's runs alternate so machine noise hits both alike.
//! "PyTorch ref" are the figures the brief quotes for torch 2.15 on a 2-thread Intel AVX-512
//! machine; `kernel_bench_torch.py` next to this file times torch on the current machine.
//! Threads: `RAYON_NUM_THREADS` (default: all cores).

use candle_core::{Device, Result, Tensor, Var};
use clipneurons_kernels::{conv2d, linear};
use std::time::Instant;

fn rand(dims: &[usize], seed: u64) -> Result<Tensor> {
    let n: usize = dims.iter().product();
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let v: Vec<f32> = (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect();
    Tensor::from_vec(v, dims, &Device::Cpu)
}

/// Whether a case runs: any argument other than the flags is a substring filter on labels.
fn selected(label: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !["quick", "full", "tuned", "builtin"].contains(&a.as_str()))
        .collect();
    filters.is_empty() || filters.iter().any(|f| label.contains(f.as_str()))
}

type Job<'a> = &'a mut dyn FnMut() -> Result<()>;

/// Runs the jobs alternately `iters` times after one warm-up each; (best, median) ms per job.
fn race(iters: usize, jobs: &mut [Job<'_>]) -> Result<Vec<(f64, f64)>> {
    for f in jobs.iter_mut() {
        f()?; // warm-up: page faults, scratch buffers, lazy thread pools
    }
    let mut times = vec![Vec::with_capacity(iters); jobs.len()];
    for _ in 0..iters {
        for (f, t) in jobs.iter_mut().zip(times.iter_mut()) {
            let start = Instant::now();
            f()?;
            t.push(start.elapsed().as_secs_f64() * 1e3);
        }
    }
    Ok(times
        .into_iter()
        .map(|mut t| {
            t.sort_by(f64::total_cmp);
            (t[0], t[t.len() / 2])
        })
        .collect())
}

fn report(name: &str, r: &[(f64, f64)], torch: Option<f64>) {
    let (ours, candle) = (r[0], r[1]);
    let torch = torch.map_or(String::new(), |t| format!("   PyTorch ref {t:5.1}"));
    println!(
        "{name:<46} ours {:8.2} (med {:8.2})   candle {:8.2} (med {:8.2})   ×{:5.1}{torch}",
        ours.0,
        ours.1,
        candle.0,
        candle.1,
        candle.0 / ours.0
    );
}

/// One convolution shape, with the brief's PyTorch figures where it gives them.
struct ConvCase {
    label: &'static str,
    x: [usize; 4],
    oc: usize,
    k: usize,
    stride: usize,
    pad: usize,
    torch_fwd: Option<f64>,
    torch_fwd_bwd: Option<f64>,
    /// Also time forward + input and weight gradients (weight as a `Var`).
    train: bool,
}

const fn case(label: &'static str, x: [usize; 4], oc: usize, k: usize, stride: usize) -> ConvCase {
    ConvCase {
        label,
        x,
        oc,
        k,
        stride,
        pad: k / 2,
        torch_fwd: None,
        torch_fwd_bwd: None,
        train: false,
    }
}

fn conv_bench(c: &ConvCase, iters: usize) -> Result<()> {
    if !selected(c.label) {
        return Ok(());
    }
    let (s, p) = (c.stride, c.pad);
    let xt = rand(&c.x, 1)?;
    let w = rand(&[c.oc, c.x[1], c.k, c.k], 2)?.affine(0.1, 0.0)?;
    let r = race(
        iters,
        &mut [&mut || conv2d(&xt, &w, s, p).map(drop), &mut || {
            xt.conv2d(&w, p, s, 1, 1).map(drop)
        }],
    )?;
    report(&format!("{} fwd", c.label), &r, c.torch_fwd);

    // Feature-visualisation setting: the input is a Var, the weight a plain tensor.
    let xv = Var::from_tensor(&xt)?;
    let x = xv.as_tensor();
    let r = race(
        iters.div_ceil(2),
        &mut [
            &mut || {
                let g = conv2d(x, &w, s, p)?.sum_all()?.backward()?;
                g.get(x)
                    .map(drop)
                    .ok_or_else(|| candle_core::Error::Msg("no dx".into()))
            },
            &mut || {
                let g = x.conv2d(&w, p, s, 1, 1)?.sum_all()?.backward()?;
                g.get(x)
                    .map(drop)
                    .ok_or_else(|| candle_core::Error::Msg("no dx".into()))
            },
        ],
    )?;
    report(&format!("{} fwd+input-grad", c.label), &r, c.torch_fwd_bwd);

    if c.train {
        let wv = Var::from_tensor(&w)?;
        let wt = wv.as_tensor();
        let r = race(
            iters.div_ceil(2),
            &mut [
                &mut || {
                    let g = conv2d(x, wt, s, p)?.sum_all()?.backward()?;
                    g.get(wt)
                        .map(drop)
                        .ok_or_else(|| candle_core::Error::Msg("no dw".into()))
                },
                &mut || {
                    let g = x.conv2d(wt, p, s, 1, 1)?.sum_all()?.backward()?;
                    g.get(wt)
                        .map(drop)
                        .ok_or_else(|| candle_core::Error::Msg("no dw".into()))
                },
            ],
        )?;
        report(&format!("{} fwd+input+weight grads", c.label), &r, None);
    }
    Ok(())
}

fn linear_bench(label: &str, rows: usize, din: usize, dout: usize, iters: usize) -> Result<()> {
    if !selected(label) {
        return Ok(());
    }
    let x = rand(&[rows, din], 3)?;
    let w = rand(&[dout, din], 4)?.affine(0.05, 0.0)?;
    let b = rand(&[dout], 5)?;
    let wt = w.t()?;
    let r = race(
        iters,
        &mut [&mut || linear(&x, &w, Some(&b)).map(drop), &mut || {
            x.matmul(&wt)?.broadcast_add(&b).map(drop)
        }],
    )?;
    report(&format!("{label} fwd"), &r, None);
    let xv = Var::from_tensor(&x)?;
    let xr = xv.as_tensor();
    let r = race(
        iters,
        &mut [
            &mut || {
                let g = linear(xr, &w, Some(&b))?.sum_all()?.backward()?;
                g.get(xr)
                    .map(drop)
                    .ok_or_else(|| candle_core::Error::Msg("no dx".into()))
            },
            &mut || {
                let g = xr.matmul(&wt)?.broadcast_add(&b)?.sum_all()?.backward()?;
                g.get(xr)
                    .map(drop)
                    .ok_or_else(|| candle_core::Error::Msg("no dx".into()))
            },
        ],
    )?;
    report(&format!("{label} fwd+input-grad"), &r, None);
    Ok(())
}

fn main() -> Result<()> {
    let has = |flag: &str| std::env::args().any(|a| a == flag);
    if has("tuned") {
        println!("tune_allocator: {}", clipneurons_kernels::tune_allocator());
    }
    let it = if has("quick") { 3 } else { 20 };
    println!(
        "threads: {}; ms, best of {it} (median); ×: candle best / ours best",
        rayon::current_num_threads()
    );

    // GEMM 1024³: our linear without bias is exactly x · Wᵀ.
    if selected("GEMM 1024³") {
        let a = rand(&[1024, 1024], 6)?;
        let bm = rand(&[1024, 1024], 7)?;
        let bt = bm.t()?;
        let ours = || linear(&a, &bm, None).map(drop);
        let theirs = || a.matmul(&bt).map(drop);
        let r = race(it, &mut [&mut { ours }, &mut { theirs }])?;
        report("GEMM 1024³ (linear vs matmul)", &r, Some(5.8));
    }

    conv_bench(
        &ConvCase {
            torch_fwd: Some(17.0),
            torch_fwd_bwd: Some(50.0),
            train: true,
            ..case("conv3x3 64→64 16×56×56", [16, 64, 56, 56], 64, 3, 1)
        },
        it,
    )?;
    conv_bench(
        &case("conv1x1 256→64 16×56×56", [16, 256, 56, 56], 64, 1, 1),
        it,
    )?;
    linear_bench("ViT-B/32 MLP c_fc b1 50×768→3072", 50, 768, 3072, it)?;
    linear_bench("ViT-B/32 MLP c_fc b16 800×768→3072", 800, 768, 3072, it)?;
    linear_bench("ViT-B/32 MLP c_proj b1 50×3072→768", 50, 3072, 768, it)?;
    linear_bench(
        "text b64 c_fc 4928×512→2048",
        77 * 64,
        512,
        2048,
        it.div_ceil(2),
    )?;

    if has("builtin") {
        println!("-- built-in model training step: 3×3 convs, batch 128 --");
        let train = |c: ConvCase| ConvCase { train: true, ..c };
        for c in [
            case("stem 3→8 s2 96² b128", [128, 3, 96, 96], 8, 3, 2),
            case("stem 8→8 48² b128", [128, 8, 48, 48], 8, 3, 1),
            case("stem 8→16 48² b128", [128, 8, 48, 48], 16, 3, 1),
            case("layer1 16→16 24² b128", [128, 16, 24, 24], 16, 3, 1),
            case("layer2 32→32 24² b128", [128, 32, 24, 24], 32, 3, 1),
            case("layer3 64→64 12² b128", [128, 64, 12, 12], 64, 3, 1),
            case("layer4 128→128 6² b128", [128, 128, 6, 6], 128, 3, 1),
        ] {
            conv_bench(&train(c), it.div_ceil(4))?;
        }
    }

    if has("full") {
        println!("-- RN50 / RN50x4 / ViT layer shapes --");
        for c in [
            case("stem 3→32 s2 224² b1", [1, 3, 224, 224], 32, 3, 2),
            case("stem 32→32 112² b1", [1, 32, 112, 112], 32, 3, 1),
            case("3x3 64→64 56² b1", [1, 64, 56, 56], 64, 3, 1),
            case("3x3 128→128 28² b1", [1, 128, 28, 28], 128, 3, 1),
            case("3x3 256→256 14² b1", [1, 256, 14, 14], 256, 3, 1),
            case("3x3 512→512 7² b1", [1, 512, 7, 7], 512, 3, 1),
            case("1x1 1024→256 14² b1", [1, 1024, 14, 14], 256, 1, 1),
            case("1x1 512→2048 7² b1", [1, 512, 7, 7], 2048, 1, 1),
            case("RN50x4 3x3 80→80 72² b1", [1, 80, 72, 72], 80, 3, 1),
            case("RN50x4 3x3 640→640 9² b1", [1, 640, 9, 9], 640, 3, 1),
            case("3x3 128→128 28² b16", [16, 128, 28, 28], 128, 3, 1),
            case("3x3 512→512 7² b16", [16, 512, 7, 7], 512, 3, 1),
            ConvCase {
                pad: 0,
                ..case(
                    "ViT-B/32 patchify 3→768 k32 s32 b1",
                    [1, 3, 224, 224],
                    768,
                    32,
                    32,
                )
            },
        ] {
            conv_bench(&c, it)?;
        }
    }
    Ok(())
}
