//! 2-D convolution (NCHW input, OIHW weight, no bias, groups 1, dilation 1) as GEMMs.
//!
//! * forward: `out_b = W[OC, IC·KH·KW] · col_b`, where `col_b` is built tile by tile (a band of
//!   output rows at a time, so it stays in cache) and 1×1 stride-1 convs use the input directly;
//! * input gradient, stride 1: a forward convolution of the output gradient with the flipped,
//!   transposed kernel (so it reuses the forward path and parallelises the same way);
//! * input gradient, other strides, or fewer output pixels in the batch than output channels:
//!   `dcol = Wᵀ · dY` followed by a col2im scatter-add;
//! * weight gradient: `dW = Σ_b dY_b · col_bᵀ`, with one accumulator per worker, then summed.
//!
//! Parallel tasks are (image, row band) pairs with single-threaded GEMMs; when a batch has too
//! few of those (batch 1, small images) the bands run in turn and each GEMM is split into blocks
//! of output rows instead, so both cores stay busy without nested threading (see [`plan`]).

use crate::dots::dot_gemm;
use crate::par;
use crate::sgemm::{gemm, gemm_raw, with_scratch, MatRef, SharedOut};
use std::sync::Mutex;

/// Shape of one convolution problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ConvGeom {
    pub b: usize,
    pub ic: usize,
    pub h: usize,
    pub w: usize,
    pub oc: usize,
    pub kh: usize,
    pub kw: usize,
    pub stride: usize,
    pub pad: usize,
    pub oh: usize,
    pub ow: usize,
}

impl ConvGeom {
    /// Validates the sizes and derives the output size, PyTorch style (floor division).
    pub fn new(
        x: (usize, usize, usize, usize),
        wt: (usize, usize, usize, usize),
        stride: usize,
        pad: usize,
    ) -> Result<Self, String> {
        let (b, ic, h, w) = x;
        let (oc, wic, kh, kw) = wt;
        if stride == 0 {
            return Err("conv2d: stride must be positive".into());
        }
        if wic != ic {
            return Err(format!(
                "conv2d: input has {ic} channels but the weight expects {wic}"
            ));
        }
        if kh == 0 || kw == 0 || h + 2 * pad < kh || w + 2 * pad < kw {
            return Err(format!(
                "conv2d: kernel {kh}×{kw} larger than padded input {}×{}",
                h + 2 * pad,
                w + 2 * pad
            ));
        }
        Ok(Self {
            b,
            ic,
            h,
            w,
            oc,
            kh,
            kw,
            stride,
            pad,
            oh: (h + 2 * pad - kh) / stride + 1,
            ow: (w + 2 * pad - kw) / stride + 1,
        })
    }

    /// Rows of the im2col matrix (`IC·KH·KW`), i.e. the GEMM inner dimension.
    fn k(&self) -> usize {
        self.ic * self.kh * self.kw
    }
    fn in_img(&self) -> usize {
        self.ic * self.h * self.w
    }
    fn out_hw(&self) -> usize {
        self.oh * self.ow
    }
    fn out_img(&self) -> usize {
        self.oc * self.out_hw()
    }
    /// 1×1, stride 1, no padding: the input image already is the im2col matrix.
    fn is_pointwise(&self) -> bool {
        self.kh == 1 && self.kw == 1 && self.stride == 1 && self.pad == 0
    }
    pub fn out_shape(&self) -> (usize, usize, usize, usize) {
        (self.b, self.oc, self.oh, self.ow)
    }
}

/// Upper bound (in f32s) for one im2col tile; ~1 MiB keeps it in L2/L3 while the GEMM packs it.
const COL_BUDGET: usize = 1 << 18;

/// Output columns `ow` whose input column `ow·s + kx − pad` lies inside `[0, w)`, as a
/// half-open range.
fn valid_cols(kx: usize, pad: usize, s: usize, w: usize, ow: usize) -> (usize, usize) {
    let lo = if kx >= pad { 0 } else { (pad - kx).div_ceil(s) };
    let hi = if w + pad > kx {
        ((w + pad - kx - 1) / s + 1).min(ow)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// Fills `col` (`K × nt`, row-major, `nt = (oh1 − oh0)·OW`) with the im2col patches of one
/// image for output rows `oh0..oh1`. Row `(c·KH + ky)·KW + kx` of `col` holds input pixel
/// `(c, oy·s + ky − pad, ox·s + kx − pad)` for every output pixel `(oy, ox)` in the band.
fn im2col(g: &ConvGeom, img: &[f32], oh0: usize, oh1: usize, col: &mut [f32]) {
    im2col_ld(g, img, oh0, oh1, col, (oh1 - oh0) * g.ow);
}

/// [`im2col`] with row stride `ld ≥ nt`, so several images' bands can sit side by side.
fn im2col_ld(g: &ConvGeom, img: &[f32], oh0: usize, oh1: usize, col: &mut [f32], ld: usize) {
    let nt = (oh1 - oh0) * g.ow;
    let (s, pad, ow) = (g.stride, g.pad, g.ow);
    let mut rows = col.chunks_mut(ld).map(|r| &mut r[..nt]);
    for c in 0..g.ic {
        let plane = &img[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = rows.next().expect("col has K rows");
                let (lo, hi) = valid_cols(kx, pad, s, g.w, ow);
                for (oy, dst) in (oh0..oh1).zip(row.chunks_exact_mut(ow)) {
                    let iy = (oy * s + ky) as isize - pad as isize;
                    if iy < 0 || iy >= g.h as isize || lo >= hi {
                        dst.fill(0.0);
                        continue;
                    }
                    let src = &plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    dst[..lo].fill(0.0);
                    dst[hi..].fill(0.0);
                    // Input column of output column `lo`; non-negative by construction of `lo`.
                    let x0 = lo * s + kx - pad;
                    if s == 1 {
                        dst[lo..hi].copy_from_slice(&src[x0..x0 + (hi - lo)]);
                    } else {
                        for (d, x) in dst[lo..hi].iter_mut().zip((x0..).step_by(s)) {
                            *d = src[x];
                        }
                    }
                }
            }
        }
    }
}

/// Adds the im2col-shaped gradient `col` (output rows `oh0..oh1`) back into the image gradient
/// `dimg` (the adjoint of [`im2col`]).
fn col2im_add(g: &ConvGeom, col: &[f32], oh0: usize, oh1: usize, dimg: &mut [f32]) {
    let nt = (oh1 - oh0) * g.ow;
    let (s, pad, ow) = (g.stride, g.pad, g.ow);
    let mut rows = col.chunks_exact(nt);
    for c in 0..g.ic {
        let plane = &mut dimg[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let row = rows.next().expect("col has K rows");
                let (lo, hi) = valid_cols(kx, pad, s, g.w, ow);
                if lo >= hi {
                    continue;
                }
                for (oy, src) in (oh0..oh1).zip(row.chunks_exact(ow)) {
                    let iy = (oy * s + ky) as isize - pad as isize;
                    if iy < 0 || iy >= g.h as isize {
                        continue;
                    }
                    let dst = &mut plane[iy as usize * g.w..(iy as usize + 1) * g.w];
                    let x0 = lo * s + kx - pad;
                    if s == 1 {
                        for (d, v) in dst[x0..x0 + (hi - lo)].iter_mut().zip(&src[lo..hi]) {
                            *d += v;
                        }
                    } else {
                        for (v, x) in src[lo..hi].iter().zip((x0..).step_by(s)) {
                            dst[x] += v;
                        }
                    }
                }
            }
        }
    }
}

/// Smallest band of output pixels worth a GEMM of its own (narrower ones waste most of each
/// 16-wide microkernel tile and the packing setup).
const MIN_TILE_PIXELS: usize = 128;

/// Images whose output has fewer pixels than this are computed several per GEMM (their im2col
/// bands side by side), as long as that still leaves two tasks per thread.
const GROUP_PIXELS: usize = 192;

/// How a convolution's output pixels are cut into bands of rows, and how those bands are run.
struct Plan {
    rows_per_tile: usize,
    n_tiles: usize,
    /// Images per task (> 1 only for small images, with `n_tiles == 1` and `split_m == None`).
    group: usize,
    /// `Some(blocks)`: too few (image, band) pairs to keep every thread busy, so the bands run
    /// one after another and each band's GEMM is split into this many output-row blocks run in
    /// parallel on the shared im2col band. `None`: (image, band) pairs are the parallel tasks.
    split_m: Option<usize>,
}

/// `m_rows`: rows of the GEMM that may be split when the bands alone do not give enough tasks.
fn plan(g: &ConvGeom, m_rows: usize) -> Plan {
    let threads = par::threads();
    let per_row = if g.is_pointwise() { 0 } else { g.k() * g.ow };
    let rows_budget = (COL_BUDGET / per_row.max(1)).max(1);
    let min_rows = MIN_TILE_PIXELS.div_ceil(g.ow.max(1));
    // Two tasks per thread soften the imbalance of uneven bands and noisy neighbours.
    let want_tasks = 2 * threads;
    let rows_for_par = g.oh.div_ceil(want_tasks.div_ceil(g.b.max(1)));
    let rows_per_tile = rows_for_par
        .max(min_rows)
        .min(rows_budget)
        .clamp(1, g.oh.max(1));
    let n_tiles = g.oh.div_ceil(rows_per_tile);
    let split_m = if threads == 1 || g.b * n_tiles >= want_tasks {
        None
    } else {
        // Blocks of at least 32 rows keep the GEMM efficient.
        Some(want_tasks.min(m_rows / 32).max(1))
    };
    let n = g.out_hw();
    let group = if split_m.is_none() && n_tiles == 1 && n > 0 && n < GROUP_PIXELS {
        GROUP_PIXELS
            .div_ceil(n)
            .min(g.b / want_tasks.min(g.b))
            .max(1)
    } else {
        1
    };
    Plan {
        rows_per_tile,
        n_tiles,
        group,
        split_m,
    }
}

/// `0..m` cut into `parts` nearly equal blocks, each a multiple of 16 rows where possible.
fn blocks(m: usize, parts: usize) -> Vec<(usize, usize)> {
    let size = m.div_ceil(parts.max(1)).next_multiple_of(16).min(m).max(1);
    (0..m)
        .step_by(size)
        .map(|a| (a, (a + size).min(m)))
        .collect()
}

/// Forward convolution. `x` is `[B, IC, H, W]`, `wt` is `[OC, IC, KH, KW]`, both contiguous;
/// returns the contiguous `[B, OC, OH, OW]` output.
pub(crate) fn conv2d_fwd(g: &ConvGeom, x: &[f32], wt: &[f32]) -> Vec<f32> {
    conv2d_fwd_view(g, x, MatRef::rows(wt, g.k()))
}

/// [`conv2d_fwd`] with the weight given as any strided `OC × IC·KH·KW` view (so the 1×1 input
/// gradient can use `Wᵀ` without copying it).
fn conv2d_fwd_view(g: &ConvGeom, x: &[f32], wt: MatRef<'_>) -> Vec<f32> {
    let len = g.b * g.out_img();
    if len == 0 {
        return Vec::new();
    }
    // Not `vec![0.0; len]`: that zeroing would run on one thread before the parallel part.
    // Each task zeroes the block it owns instead (in cache, just before its GEMM writes it).
    let mut out: Vec<f32> = Vec::with_capacity(len);
    let p = plan(g, g.oc);
    let (k, n) = (g.k(), g.out_hw());
    let out_ptr = SharedOut(out.as_mut_ptr());
    // Computes output channels m0..m1 of band `tile` of image `b` from its im2col band `rhs`.
    let run = |b: usize, tile: usize, rhs: MatRef<'_>, m0: usize, m1: usize| {
        let oh0 = tile * p.rows_per_tile;
        let oh1 = (oh0 + p.rows_per_tile).min(g.oh);
        let (c0, nt) = (oh0 * g.ow, (oh1 - oh0) * g.ow);
        let lhs = MatRef {
            data: &wt.data[m0 * wt.rs..],
            ..wt
        };
        // SAFETY: `out_ptr` points to `out`'s allocation of `len` floats, alive for the whole
        // call. This writes only rows m0..m1 × columns c0..c0+nt (row stride n) of image b's
        // [OC, OH·OW] block; callers give concurrent invocations distinct (b, tile) or disjoint
        // m0..m1. The block is zeroed first, so `gemm` never sees uninitialised memory.
        unsafe {
            let dst = out_ptr.get().add(b * g.out_img() + m0 * n + c0);
            for r in 0..m1 - m0 {
                std::ptr::write_bytes(dst.add(r * n), 0, nt);
            }
            gemm_raw(m1 - m0, nt, k, dst, n, false, lhs, rhs)
        }
    };
    // The GEMM's right operand for band `tile` of image `b`: the image itself for pointwise
    // convs, else the band's im2col written to `col`.
    let band = |b: usize, tile: usize, col: &mut [f32]| {
        let oh0 = tile * p.rows_per_tile;
        let oh1 = (oh0 + p.rows_per_tile).min(g.oh);
        let img = &x[b * g.in_img()..(b + 1) * g.in_img()];
        im2col(g, img, oh0, oh1, col);
    };
    let band_cols = |tile: usize| {
        ((tile * p.rows_per_tile + p.rows_per_tile).min(g.oh) - tile * p.rows_per_tile) * g.ow
    };
    match p.split_m {
        None if p.group > 1 => par::for_each(g.b.div_ceil(p.group), |t| {
            // Images b0..b1 as one GEMM: their im2col side by side (row stride ld), the product
            // in scratch, then each image's columns copied to its place.
            let (b0, b1) = (t * p.group, ((t + 1) * p.group).min(g.b));
            let ld = (b1 - b0) * n;
            with_scratch(k * ld + g.oc * ld, |buf| {
                let (col, prod) = buf.split_at_mut(k * ld);
                for b in b0..b1 {
                    let img = &x[b * g.in_img()..(b + 1) * g.in_img()];
                    im2col_ld(g, img, 0, g.oh, &mut col[(b - b0) * n..], ld);
                }
                gemm(g.oc, ld, k, prod, ld, false, wt, MatRef::rows(col, ld));
                for b in b0..b1 {
                    for (o, row) in prod.chunks_exact(ld).enumerate() {
                        let src = &row[(b - b0) * n..(b - b0 + 1) * n];
                        // SAFETY: `out_ptr` points to `out`'s allocation of `len` floats, alive
                        // for the whole call; this task alone writes images b0..b1 (groups are
                        // disjoint), here row o of image b.
                        unsafe {
                            let dst = out_ptr.get().add(b * g.out_img() + o * n);
                            std::ptr::copy_nonoverlapping(src.as_ptr(), dst, n);
                        }
                    }
                }
            });
        }),
        None => par::for_each(g.b * p.n_tiles, |t| {
            let (b, tile) = (t / p.n_tiles, t % p.n_tiles);
            if g.is_pointwise() {
                let c0 = tile * p.rows_per_tile * g.ow;
                run(b, tile, MatRef::rows(&x[b * g.in_img() + c0..], n), 0, g.oc);
            } else {
                let nt = band_cols(tile);
                with_scratch(k * nt, |col| {
                    band(b, tile, col);
                    run(b, tile, MatRef::rows(col, nt), 0, g.oc);
                });
            }
        }),
        Some(parts) => {
            let mblocks = blocks(g.oc, parts);
            for b in 0..g.b {
                for tile in 0..p.n_tiles {
                    let nt = band_cols(tile);
                    let go = |rhs: MatRef<'_>| {
                        par::for_each(mblocks.len(), |i| {
                            run(b, tile, rhs, mblocks[i].0, mblocks[i].1)
                        })
                    };
                    if g.is_pointwise() {
                        let c0 = tile * p.rows_per_tile * g.ow;
                        go(MatRef::rows(&x[b * g.in_img() + c0..], n));
                    } else {
                        with_scratch(k * nt, |col| {
                            band(b, tile, col);
                            go(MatRef::rows(col, nt));
                        });
                    }
                }
            }
        }
    }
    // SAFETY: every element was initialised exactly once: image groups tile 0..B; otherwise
    // every (image, band) is visited, the bands tile rows 0..OH and the channel blocks 0..OC.
    unsafe { out.set_len(len) };
    out
}

/// Input gradient: returns `dx` (`[B, IC, H, W]`) given `dy` (`[B, OC, OH, OW]`, contiguous).
pub(crate) fn conv2d_bwd_input(g: &ConvGeom, dy: &[f32], wt: &[f32]) -> Vec<f32> {
    // The adjoint convolution needs a flipped copy of the whole weight; when the batch's output
    // pixels are fewer than the output channels (batch-1 gradients through late stages: RN50x4's
    // 640→640 3×3 on 9×9), that copy outweighs the im2col-sized scatter of the `Wᵀ · dY` path,
    // which reads the weight in place.
    let small_maps = g.b * g.out_hw() < g.oc;
    if g.stride == 1 && g.pad < g.kh && g.kh == g.kw && !small_maps {
        // dx = conv(dy, W'), W'[c, o, ky, kx] = W[o, c, KH−1−ky, KW−1−kx], padding KH−1−pad:
        // stride 1 makes the adjoint itself a plain convolution with output size exactly H×W.
        let kk = g.kh;
        let gt = ConvGeom::new(
            (g.b, g.oc, g.oh, g.ow),
            (g.ic, g.oc, kk, kk),
            1,
            kk - 1 - g.pad,
        )
        .expect("adjoint geometry is valid");
        debug_assert_eq!((gt.oh, gt.ow), (g.h, g.w));
        if kk == 1 {
            // W' = Wᵀ: a transposed view, no copy.
            return conv2d_fwd_view(&gt, dy, MatRef::transposed(wt, g.ic));
        }
        // Written in W' order (sequential writes); the reads walk W with stride IC·KH·KW but
        // reuse each cache line for consecutive input channels. (The opposite order scatters
        // every write and cost ~10 ms for a 512×2048 kernel.)
        let taps = kk * kk;
        let mut wf = Vec::with_capacity(wt.len());
        for c in 0..g.ic {
            for o in 0..g.oc {
                let src = &wt[(o * g.ic + c) * taps..(o * g.ic + c + 1) * taps];
                wf.extend(src.iter().rev());
            }
        }
        return conv2d_fwd(&gt, dy, &wf);
    }
    conv2d_bwd_input_col2im(g, dy, wt)
}

/// General input gradient via `dcol = Wᵀ · dY` and col2im. Each image's gradient is written by
/// one task at a time, so the overlapping scatter-adds never race: with at least as many images
/// as threads the images are the parallel tasks, otherwise images run in turn and each band's
/// GEMM is split over row blocks of `dcol`.
pub(crate) fn conv2d_bwd_input_col2im(g: &ConvGeom, dy: &[f32], wt: &[f32]) -> Vec<f32> {
    let mut dx = vec![0.0f32; g.b * g.in_img()];
    if dx.is_empty() || g.out_img() == 0 {
        return dx;
    }
    let (k, n) = (g.k(), g.out_hw());
    let rows_per_tile = (COL_BUDGET / (k * g.ow).max(1)).clamp(1, g.oh);
    let threads = par::threads();
    let per_image = g.b >= threads;
    let kblocks = blocks(k, 2 * threads);
    // Adds image b's gradient contribution from output rows oh0..oh1 into `dimg`.
    let band = |b: usize, oh0: usize, oh1: usize, dimg: &mut [f32]| {
        let nt = (oh1 - oh0) * g.ow;
        let rhs = MatRef::rows(&dy[b * g.out_img() + oh0 * g.ow..], n); // OC × nt
        with_scratch(k * nt, |col| {
            if per_image {
                gemm(k, nt, g.oc, col, nt, false, MatRef::transposed(wt, k), rhs);
            } else {
                let col_ptr = SharedOut(col.as_mut_ptr());
                par::for_each(kblocks.len(), |i| {
                    let (r0, r1) = kblocks[i];
                    // Rows r0..r1 of Wᵀ.
                    let lhs = MatRef::transposed(&wt[r0..], k);
                    // SAFETY: `col` (K × nt) outlives this call; task i writes only its rows
                    // r0..r1, disjoint from every other task's.
                    unsafe {
                        let dst = col_ptr.get().add(r0 * nt);
                        gemm_raw(r1 - r0, nt, g.oc, dst, nt, false, lhs, rhs)
                    }
                });
            }
            col2im_add(g, col, oh0, oh1, dimg);
        });
    };
    let image = |b: usize, dimg: &mut [f32]| {
        for oh0 in (0..g.oh).step_by(rows_per_tile) {
            band(b, oh0, (oh0 + rows_per_tile).min(g.oh), dimg);
        }
    };
    if per_image {
        let dx_ptr = SharedOut(dx.as_mut_ptr());
        par::for_each(g.b, |b| {
            // SAFETY: `dx` holds B images of `in_img` floats and outlives this call; task b is
            // the only one touching image b.
            let dimg = unsafe {
                std::slice::from_raw_parts_mut(dx_ptr.get().add(b * g.in_img()), g.in_img())
            };
            image(b, dimg);
        });
    } else {
        for (b, dimg) in dx.chunks_exact_mut(g.in_img()).enumerate() {
            image(b, dimg);
        }
    }
    dx
}

/// `dW` matrices (`OC × IC·KH·KW`) up to this many elements are computed as blocks of dot
/// products ([`dot_gemm`]); larger ones as GEMMs. Measured on the built-in model's training
/// convolutions (batch 128, AVX-512, 2 threads): the stem's 8→8 and 8→16 3×3 convs' forward +
/// both gradients 25 → 22 ms and 37 → 34 ms, while from 16→16 3×3 (2,304 elements) up the GEMM
/// was as fast or faster.
const DOT_MAX_ELEMENTS: usize = 16 * 72;

/// Weight gradient `dW = Σ_b dY_b · col_bᵀ` (`[OC, IC, KH, KW]`).
///
/// Three ways, by shape: small `dW` as dot products of `dY` rows with im2col rows (both read in
/// place); with enough (image, band) tasks, per-thread accumulators of `dWᵀ = Σ col · dYᵀ`
/// (the GEMM's long, contiguous left operand is the im2col band: 64→64 3×3 on 16×56×56 took
/// 27 → 23 ms that way rather than as `dY · colᵀ`); with few bands (batch 1), bands in turn with
/// each band's `dY · colᵀ` split over row blocks of `dW`.
pub(crate) fn conv2d_bwd_weight(g: &ConvGeom, x: &[f32], dy: &[f32]) -> Vec<f32> {
    let (k, n) = (g.k(), g.out_hw());
    let mut dw = vec![0.0f32; g.oc * k];
    if g.b * n == 0 {
        return dw;
    }
    let p = plan(g, g.oc);
    let dots = g.oc * k <= DOT_MAX_ELEMENTS;
    // Output rows oh0..oh1 of band `tile`, and its first output pixel and pixel count.
    let band = |tile: usize| {
        let oh0 = tile * p.rows_per_tile;
        let oh1 = (oh0 + p.rows_per_tile).min(g.oh);
        (oh0, oh1, oh0 * g.ow, (oh1 - oh0) * g.ow)
    };
    // Calls `f(cols, ld)` with the band's im2col rows (K × nt, row stride `ld`): the image itself
    // for pointwise convs, else the band built in this thread's scratch.
    let with_cols = |b: usize, tile: usize, f: &mut dyn FnMut(&[f32], usize)| {
        let (oh0, oh1, c0, nt) = band(tile);
        let img = &x[b * g.in_img()..(b + 1) * g.in_img()];
        if g.is_pointwise() {
            f(&img[c0..], n);
        } else {
            with_scratch(k * nt, |col| {
                im2col(g, img, oh0, oh1, col);
                f(col, nt);
            });
        }
    };
    // acc (rows m0..m1 of dW, row stride K) += dY_b[m0..m1, band] · col_bandᵀ.
    let accumulate = |acc: &mut [f32], b: usize, tile: usize, m0: usize, m1: usize| {
        let (_, _, c0, nt) = band(tile);
        let dy_band = MatRef::rows(&dy[b * g.out_img() + m0 * n + c0..], n);
        with_cols(b, tile, &mut |cols, ld| {
            if dots {
                dot_gemm(m1 - m0, k, nt, dy_band, MatRef::rows(cols, ld), acc, k);
            } else {
                let rhs = MatRef::transposed(cols, ld); // nt × K
                gemm(m1 - m0, k, nt, acc, k, true, dy_band, rhs);
            }
        });
    };
    // accᵀ (K × OC, the whole of dWᵀ) += col_band · dY_b[.., band]ᵀ.
    let accumulate_transposed = |acc_t: &mut [f32], b: usize, tile: usize| {
        let (_, _, c0, nt) = band(tile);
        let dy_band = MatRef::transposed(&dy[b * g.out_img() + c0..], n); // nt × OC
        with_cols(b, tile, &mut |cols, ld| {
            gemm(
                k,
                g.oc,
                nt,
                acc_t,
                g.oc,
                true,
                MatRef::rows(cols, ld),
                dy_band,
            );
        });
    };
    match p.split_m {
        None => {
            // Contiguous runs of (image, band) tasks, one private accumulator each, summed after;
            // for GEMMs the accumulator is dWᵀ.
            let transposed = !dots;
            let total = g.b * p.n_tiles;
            let groups = par::threads().min(total);
            let partials: Vec<Mutex<Vec<f32>>> = (0..groups).map(|_| Mutex::default()).collect();
            par::for_each(groups, |gi| {
                let mut acc = vec![0.0f32; g.oc * k];
                for t in gi * total / groups..(gi + 1) * total / groups {
                    let (b, tile) = (t / p.n_tiles, t % p.n_tiles);
                    if transposed {
                        accumulate_transposed(&mut acc, b, tile);
                    } else {
                        accumulate(&mut acc, b, tile, 0, g.oc);
                    }
                }
                *partials[gi].lock().unwrap_or_else(|e| e.into_inner()) = acc;
            });
            for part in partials {
                let part = part.into_inner().unwrap_or_else(|e| e.into_inner());
                if transposed {
                    for (r, row) in part.chunks_exact(g.oc).enumerate() {
                        for (o, v) in row.iter().enumerate() {
                            dw[o * k + r] += v;
                        }
                    }
                } else {
                    for (a, b) in dw.iter_mut().zip(&part) {
                        *a += b;
                    }
                }
            }
        }
        Some(parts) => {
            // Few bands: run them in turn, each split over disjoint row blocks of dW. (The band's
            // im2col is rebuilt per block; this branch only runs for small images.)
            let mblocks = blocks(g.oc, parts);
            let dw_ptr = SharedOut(dw.as_mut_ptr());
            for b in 0..g.b {
                for tile in 0..p.n_tiles {
                    par::for_each(mblocks.len(), |i| {
                        let (m0, m1) = mblocks[i];
                        // SAFETY: rows m0..m1 of dW (K floats each) lie inside `dw`, which
                        // outlives the call; blocks are disjoint, so no two tasks alias.
                        let acc = unsafe {
                            std::slice::from_raw_parts_mut(dw_ptr.get().add(m0 * k), (m1 - m0) * k)
                        };
                        accumulate(acc, b, tile, m0, m1);
                    });
                }
            }
        }
    }
    dw
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_cols_matches_brute_force() {
        for w in 1..9 {
            for pad in 0..4 {
                for s in 1..4 {
                    for kx in 0..7 {
                        if w + 2 * pad < kx + 1 {
                            continue;
                        }
                        let ow = (w + 2 * pad - kx - 1) / s + 1;
                        let (lo, hi) = valid_cols(kx, pad, s, w, ow);
                        for o in 0..ow {
                            let x = (o * s + kx) as isize - pad as isize;
                            let inside = x >= 0 && x < w as isize;
                            assert_eq!(inside, o >= lo && o < hi, "w{w} p{pad} s{s} kx{kx} o{o}");
                        }
                    }
                }
            }
        }
    }
}
