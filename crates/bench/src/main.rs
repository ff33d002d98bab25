//! `clipneurons-bench`: times one workload of our model code and prints the result.
//!
//! One workload per process, so that the peak RSS (`VmHWM`) belongs to that workload alone and one
//! run cannot warm caches or grow the heap for the next. `bench/compare.py` runs this binary beside
//! PyTorch and ONNX Runtime on the same weights and inputs and prints the ratios; it passes the
//! inputs in files (`--pixels`, `--captions`) and reads the outputs back (`--save`) so that it can
//! check that both sides computed the same thing, not just something of the same shape.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};
use candle_core::{DType, Device, Tensor, Var};
use clap::{Parser, ValueEnum};
use clipneurons_model::{Clip, VisionConfig};
use clipneurons_tokenizer::Tokenizer;
use serde::Serialize;

/// CLIP's context length; every CLIP text tower takes exactly this many ids.
const CONTEXT: usize = 77;
/// open_clip's start- and end-of-text ids, to check tokenizer output without a reference.
const SOT: u32 = 49406;
const EOT: u32 = 49407;

#[derive(Clone, Copy, Debug, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
enum Work {
    /// Image tower forward (`encode_image`) on `[batch, 3, S, S]` pixels.
    Image,
    /// Forward to `--layer` plus the gradient of one channel's mean with respect to the pixels.
    Grad,
    /// Text tower forward (`encode_text`) on the first `batch` captions.
    Text,
    /// Tokenise the first `batch` captions to `[batch, 77]` ids.
    Tokenize,
    /// One fp32 GEMM through the linear-layer kernel, `a · bᵀ` (PyTorch's `F.linear(a, b)`), on the
    /// `a` and `b` tensors of `--inputs`.
    Gemm,
    /// 2-D convolution forward (stride 1, padding 1) of `--inputs`' `x` (NCHW) with `w` (OIHW).
    Conv,
    /// The same convolution forward plus both gradients, of `sum(conv(x, w) ⊙ g)` with respect to
    /// `x` and `w` (`g` from `--inputs`); the output is the input gradient, `dw` is saved beside it.
    ConvGrad,
}

#[derive(Parser)]
#[command(
    name = "clipneurons-bench",
    about = "Time one workload of the clipneurons model code (best and median of --iters calls)"
)]
struct Args {
    /// Checkpoint (any format clipneurons-checkpoint reads); not needed for `--work tokenize`.
    #[arg(long)]
    model: Option<PathBuf>,
    #[arg(long, value_enum)]
    work: Work,
    /// Images per call (image, grad) or captions per call (text, tokenize).
    #[arg(long, default_value_t = 1)]
    batch: usize,
    /// Tap for `grad`; default: the last residual block's output before its ReLU
    /// (`visual.layer4.<last>.add`) for a ResNet, the last block (`visual.transformer.resblocks.<last>`) for a ViT.
    #[arg(long)]
    layer: Option<String>,
    /// Channel of `--layer` whose mean is differentiated.
    #[arg(long, default_value_t = 0)]
    channel: usize,
    /// Untimed calls before the timed ones (first-call allocation and page faults).
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    /// Timed calls.
    #[arg(long, default_value_t = 5)]
    iters: usize,
    /// Safetensors file with a `pixels` tensor `[>= batch, 3, S, S]`; without it the pixels are
    /// deterministic pseudo-random values.
    #[arg(long)]
    pixels: Option<PathBuf>,
    /// Text file, one caption per line (required for text and tokenize).
    #[arg(long)]
    captions: Option<PathBuf>,
    /// Safetensors file with the operands of the kernel workloads (gemm: `a`, `b`; conv, conv-grad:
    /// `x`, `w` and, for conv-grad, the upstream gradient `g`).
    #[arg(long)]
    inputs: Option<PathBuf>,
    /// Write the last call's output (`output`, and for grad `objective`) to this safetensors file.
    #[arg(long)]
    save: Option<PathBuf>,
    /// Print one JSON line instead of a sentence.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    work: Work,
    model: Option<String>,
    architecture: Option<String>,
    batch: usize,
    layer: Option<String>,
    channel: Option<usize>,
    warmup: usize,
    iters: usize,
    /// Every timed call, in order, so drift and outliers are visible.
    times_ms: Vec<f64>,
    min_ms: f64,
    median_ms: f64,
    /// Items (images, captions) per second at the best time.
    items_per_s: f64,
    load_s: Option<f64>,
    /// Resident set right after loading the model, before any work: the weights' share of the peak.
    rss_after_load_mib: Option<f64>,
    /// Peak resident set while loading the checkpoint.
    load_peak_rss_mib: Option<f64>,
    /// Peak resident set (`VmHWM`) of the whole process, or since the end of loading when
    /// `peak_rss_excludes_load`.
    peak_rss_mib: Option<f64>,
    peak_rss_excludes_load: bool,
    output_shape: Vec<usize>,
    /// Summed objective of `grad` (PyTorch computes the same number).
    objective: Option<f32>,
    /// See [`Timing::others_cpu_pct`].
    others_cpu_pct: Option<f64>,
    threads: usize,
    avx: bool,
}

fn main() {
    // Same allocator setting as the `clipneurons` binary, so the timings are what users get.
    clipneurons_kernels::tune_allocator();
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}

fn run(args: Args) -> Result<()> {
    ensure!(args.batch > 0, "--batch must be at least 1");
    ensure!(args.iters > 0, "--iters must be at least 1");
    let dev = Device::Cpu;

    let mut load_s = None;
    let mut rss_after_load = None;
    let mut load_peak = None;
    let mut peak_reset = false;
    let clip = match (&args.model, args.work) {
        (_, Work::Tokenize | Work::Gemm | Work::Conv | Work::ConvGrad) => None,
        (None, w) => bail!(
            "--model is required for --work {}",
            w.to_possible_value()
                .expect("no skipped variants")
                .get_name()
        ),
        (Some(path), _) => {
            let t0 = Instant::now();
            let ckpt = clipneurons_checkpoint::load(path)
                .with_context(|| format!("loading {}", path.display()))?;
            let clip = Clip::from_state_dict(&ckpt.tensors)?;
            drop(ckpt);
            load_s = Some(t0.elapsed().as_secs_f64());
            rss_after_load = proc_status_mib("VmRSS");
            load_peak = proc_status_mib("VmHWM");
            // Loading peaks well above the resident weights (about twice, for f32 safetensors); reset the
            // high-water mark (Linux ≥ 4.0) so that the reported peak is the workload's, weights included.
            peak_reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
            Some(clip)
        }
    };

    let mut layer = None;
    let mut channel = None;
    let mut objective = None;
    // Each arm builds its input once, outside the timing, and returns the timed closure's results.
    let (timing, output, extra) = match args.work {
        Work::Image => {
            let clip = clip.as_ref().expect("loaded above");
            let pixels = load_pixels(args.pixels.as_deref(), args.batch, clip.image_size(), &dev)?;
            let (timing, out) = time(args.warmup, args.iters, || Ok(clip.encode_image(&pixels)?))?;
            check_features(&out, args.batch, clip)?;
            (timing, out, vec![])
        }
        Work::Grad => {
            let clip = clip.as_ref().expect("loaded above");
            let pixels = load_pixels(args.pixels.as_deref(), args.batch, clip.image_size(), &dev)?;
            let l = args.layer.clone().unwrap_or_else(|| default_layer(clip));
            let (timing, (value, grad)) = time(args.warmup, args.iters, || {
                Ok(clip.input_gradient(&pixels, &l, args.channel)?)
            })?;
            ensure!(
                grad.dims() == pixels.dims(),
                "gradient has shape {:?}, pixels {:?}",
                grad.dims(),
                pixels.dims()
            );
            ensure!(value.is_finite(), "objective is {value}");
            let abs = grad.abs()?.sum_all()?.to_scalar::<f32>()?;
            ensure!(
                abs.is_finite() && abs > 0.0,
                "gradient is all zero or not finite (sum |g| = {abs})"
            );
            layer = Some(l);
            channel = Some(args.channel);
            objective = Some(value);
            let obj = Tensor::new(&[value], &dev)?;
            (timing, grad, vec![("objective", obj)])
        }
        Work::Text => {
            let clip = clip.as_ref().expect("loaded above");
            let captions = read_captions(args.captions.as_deref(), args.batch)?;
            let refs: Vec<&str> = captions.iter().map(String::as_str).collect();
            let ids: Vec<u32> = Tokenizer::new().tokenize_batch(&refs, CONTEXT).concat();
            let tokens = Tensor::from_vec(ids, (args.batch, CONTEXT), &dev)?;
            let (timing, out) = time(args.warmup, args.iters, || Ok(clip.encode_text(&tokens)?))?;
            check_features(&out, args.batch, clip)?;
            (timing, out, vec![])
        }
        Work::Tokenize => {
            let captions = read_captions(args.captions.as_deref(), args.batch)?;
            let refs: Vec<&str> = captions.iter().map(String::as_str).collect();
            // `Tokenizer::new` builds shared tables once per process; keep that out of the timing,
            // as `import open_clip` is out of PyTorch's.
            let tok = Tokenizer::new();
            let (timing, rows) = time(args.warmup, args.iters, || {
                Ok(tok.tokenize_batch(&refs, CONTEXT))
            })?;
            ensure!(
                rows.len() == args.batch,
                "{} rows for {} captions",
                rows.len(),
                args.batch
            );
            for (i, r) in rows.iter().enumerate() {
                ensure!(
                    r.len() == CONTEXT && r[0] == SOT && r.contains(&EOT),
                    "row {i} is not [SOT, …, EOT, 0…] of length {CONTEXT}"
                );
            }
            let out = Tensor::from_vec(rows.concat(), (args.batch, CONTEXT), &dev)?;
            (timing, out, vec![])
        }
        Work::Gemm => {
            let [a, b] = load_inputs(args.inputs.as_deref(), ["a", "b"], &dev)?;
            let (timing, out) = time(args.warmup, args.iters, || {
                Ok(clipneurons_kernels::linear(&a, &b, None)?)
            })?;
            (timing, out, vec![])
        }
        Work::Conv => {
            let [x, w] = load_inputs(args.inputs.as_deref(), ["x", "w"], &dev)?;
            let (timing, out) = time(args.warmup, args.iters, || {
                Ok(clipneurons_kernels::conv2d(&x, &w, 1, 1)?)
            })?;
            (timing, out, vec![])
        }
        Work::ConvGrad => {
            let [x, w, g] = load_inputs(args.inputs.as_deref(), ["x", "w", "g"], &dev)?;
            let (x, w) = (Var::from_tensor(&x)?, Var::from_tensor(&w)?);
            let (timing, (dx, dw)) = time(args.warmup, args.iters, || {
                let y = clipneurons_kernels::conv2d(x.as_tensor(), w.as_tensor(), 1, 1)?;
                let grads = (y * &g)?.sum_all()?.backward()?;
                let grad = |v: &Var| {
                    grads
                        .get(v)
                        .cloned()
                        .context("no gradient reached an operand")
                };
                Ok((grad(&x)?, grad(&w)?))
            })?;
            (timing, dx, vec![("dw", dw)])
        }
    };

    if let Some(path) = &args.save {
        let mut map = HashMap::from([("output".to_string(), output.clone())]);
        for (k, v) in extra {
            map.insert(k.to_string(), v);
        }
        candle_core::safetensors::save(&map, path)
            .with_context(|| format!("writing {}", path.display()))?;
    }

    let times = timing.times_ms;
    let min_ms = times.iter().copied().fold(f64::INFINITY, f64::min);
    let report = Report {
        work: args.work,
        model: args.model.as_ref().map(|p| p.display().to_string()),
        architecture: clip.as_ref().map(|c| c.config.name.clone()),
        batch: args.batch,
        layer,
        channel,
        warmup: args.warmup,
        iters: args.iters,
        median_ms: median(&times),
        min_ms,
        items_per_s: args.batch as f64 * 1000.0 / min_ms,
        times_ms: times,
        load_s,
        rss_after_load_mib: rss_after_load,
        load_peak_rss_mib: load_peak,
        peak_rss_mib: proc_status_mib("VmHWM"),
        peak_rss_excludes_load: peak_reset,
        output_shape: output.dims().to_vec(),
        objective,
        others_cpu_pct: timing.others_cpu_pct,
        threads: candle_core::utils::get_num_threads(),
        avx: candle_core::utils::with_avx(),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{:?} b{}: best {:.1} ms, median {:.1} ms over {} calls ({:.2} items/s), peak RSS {} MiB, output {:?}",
            report.work,
            report.batch,
            report.min_ms,
            report.median_ms,
            report.iters,
            report.items_per_s,
            report.peak_rss_mib.map_or("?".into(), |m| format!("{m:.0}")),
            report.output_shape
        );
    }
    Ok(())
}

/// The timed calls of one workload.
struct Timing {
    times_ms: Vec<f64>,
    /// Share of the machine's CPU time that other processes used during the timed calls. This
    /// project's machines are shared 2-vCPU VMs; above a few percent the times are inflated (by more
    /// than that share, since every op ends in a thread barrier) and the row should be rerun.
    others_cpu_pct: Option<f64>,
}

/// Runs `f` `warmup` times untimed, then `iters` times timed; returns the timing and the last output.
fn time<T>(warmup: usize, iters: usize, mut f: impl FnMut() -> Result<T>) -> Result<(Timing, T)> {
    for _ in 0..warmup {
        f()?;
    }
    let mut times_ms = Vec::with_capacity(iters);
    let mut last = None;
    let before = CpuTicks::now();
    for _ in 0..iters {
        // Drop the previous output first so the allocator state matches a real loop.
        drop(last.take());
        let t0 = Instant::now();
        let out = f()?;
        times_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        last = Some(out);
    }
    let others_cpu_pct = before
        .zip(CpuTicks::now())
        .and_then(|(a, b)| b.others_pct_since(&a));
    let timing = Timing {
        times_ms,
        others_cpu_pct,
    };
    Ok((timing, last.expect("iters > 0")))
}

/// Machine-wide and own CPU time in clock ticks, from `/proc/stat` and `/proc/self/stat`.
struct CpuTicks {
    total: u64,
    idle: u64,
    own: u64,
}

impl CpuTicks {
    fn now() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        // user nice system idle iowait irq softirq steal (guest time is already inside user)
        let v: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|x| x.parse().ok())
            .collect::<Option<_>>()?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        // fields after the `(comm)`: utime and stime are the 12th and 13th
        let mut f = own.rsplit_once(')')?.1.split_whitespace().skip(11);
        let utime: u64 = f.next()?.parse().ok()?;
        let stime: u64 = f.next()?.parse().ok()?;
        Some(Self {
            total: v.iter().sum(),
            idle: v.get(3)? + v.get(4)?,
            own: utime + stime,
        })
    }

    fn others_pct_since(&self, before: &Self) -> Option<f64> {
        let total = self.total.checked_sub(before.total)?;
        let busy = total.checked_sub(self.idle.checked_sub(before.idle)?)?;
        let own = self.own.checked_sub(before.own)?;
        (total > 0).then(|| busy.saturating_sub(own) as f64 / total as f64 * 100.0)
    }
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// The tap PyTorch's side hooks: the last bottleneck's sum before its ReLU, or the last ViT block.
fn default_layer(clip: &Clip) -> String {
    match &clip.config.vision {
        VisionConfig::Resnet { layers, .. } => format!("visual.layer4.{}.add", layers[3] - 1),
        VisionConfig::Vit { layers, .. } => format!("visual.transformer.resblocks.{}", layers - 1),
    }
}

fn check_features(out: &Tensor, batch: usize, clip: &Clip) -> Result<()> {
    let want = [batch, clip.config.embed_dim];
    ensure!(
        out.dims() == want,
        "output has shape {:?}, expected {want:?}",
        out.dims()
    );
    let s = out.abs()?.sum_all()?.to_scalar::<f32>()?;
    ensure!(s.is_finite() && s > 0.0, "output is all zero or not finite");
    Ok(())
}

/// The first `batch` images of the file's `pixels` tensor, or deterministic pseudo-random pixels of
/// roughly unit scale (like normalised images) when no file is given.
fn load_pixels(path: Option<&Path>, batch: usize, size: usize, dev: &Device) -> Result<Tensor> {
    let want = [3, size, size];
    let Some(path) = path else {
        let n = batch * 3 * size * size;
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let data: Vec<f32> = (0..n)
            .map(|_| {
                // xorshift64*: cheap, reproducible, no extra dependency
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                let r = state.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 40;
                (r as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
            })
            .collect();
        return Ok(Tensor::from_vec(data, (batch, 3, size, size), dev)?);
    };
    let mut tensors = candle_core::safetensors::load(path, dev)
        .with_context(|| format!("reading {}", path.display()))?;
    let pixels = tensors
        .remove("pixels")
        .with_context(|| format!("{} has no `pixels` tensor", path.display()))?
        .to_dtype(DType::F32)?;
    match pixels.dims() {
        [n, rest @ ..] if rest == want && *n >= batch => {
            Ok(pixels.narrow(0, 0, batch)?.contiguous()?)
        }
        d => bail!(
            "{}: pixels have shape {d:?}; need [>= {batch}, 3, {size}, {size}]",
            path.display()
        ),
    }
}

/// The named f32 tensors of a kernel workload's `--inputs` file, in the order asked for.
fn load_inputs<const N: usize>(
    path: Option<&Path>,
    names: [&str; N],
    dev: &Device,
) -> Result<[Tensor; N]> {
    let path = path.context("--inputs FILE is required for the kernel workloads")?;
    let mut all = candle_core::safetensors::load(path, dev)
        .with_context(|| format!("reading {}", path.display()))?;
    let mut out = Vec::with_capacity(N);
    for n in names {
        let t = all
            .remove(n)
            .with_context(|| format!("{} has no `{n}` tensor", path.display()))?;
        out.push(t.to_dtype(DType::F32)?.contiguous()?);
    }
    Ok(out.try_into().expect("one tensor per name"))
}

fn read_captions(path: Option<&Path>, batch: usize) -> Result<Vec<String>> {
    let path = path.context("--captions FILE is required for text and tokenize")?;
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let lines: Vec<String> = text.lines().take(batch).map(str::to_string).collect();
    ensure!(
        lines.len() == batch,
        "{} has {} captions; --batch asks for {batch}",
        path.display(),
        lines.len()
    );
    Ok(lines)
}

/// A `/proc/self/status` field (`VmHWM`: peak resident set, `VmRSS`: current) in MiB; `None` off Linux.
fn proc_status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}
