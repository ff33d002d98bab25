//! `y = x · Wᵀ + b` with PyTorch's `[out, in]` weight layout, and its gradients.
//!
//! Large products are cut into a grid of output blocks run as parallel tasks with
//! single-threaded GEMMs. On the 2-vCPU target that was about 2× faster than `gemm`'s own
//! threading (what candle's matmul uses) for batch-1 transformer shapes such as 50×768→3072, and
//! as fast for large ones.

use crate::par;
use crate::sgemm::{gemm, gemm_raw, with_scratch, MatRef, SharedOut};

/// Products with fewer rows than this and a long inner dimension (`k ≥ 2n`, e.g. ViT's
/// 50×3072→768 `c_proj` at batch 1) are computed transposed: `gemm` ran those ~30% faster
/// (53 → 71 GFLOP/s on one Zen 3 core), while for other small-row shapes the extra transpose
/// cost more than it gained.
const SMALL_M: usize = 128;

/// Minimum multiply-adds per parallel task; smaller products run on one thread.
const MIN_TASK_MACS: usize = 1 << 20;

/// Returns `c[m × n] = a[m × k] · b[k × n] (+ bias broadcast over rows)`, row-major, computed
/// as a grid of parallel tasks over rows and columns.
pub(crate) fn par_gemm(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let len = m * n;
    if len == 0 {
        return Vec::new();
    }
    if let Some(bias) = bias {
        assert!(bias.len() >= n, "par_gemm: bias too short");
    }
    let transposed = m < SMALL_M && k >= 2 * n;
    let threads = par::threads();
    let macs = m * n * k;
    let tasks = if threads == 1 {
        1
    } else {
        (macs / MIN_TASK_MACS).clamp(1, 4 * threads)
    };
    // Prefer splitting columns (each task then streams its own slice of the weight once) and
    // split rows only when there are many of them.
    let mut row_blocks = 1;
    let mut col_blocks = tasks;
    while col_blocks > 1 && n / col_blocks < 64 {
        col_blocks /= 2;
    }
    if col_blocks < tasks && m >= 128 {
        row_blocks = (tasks / col_blocks).min(m / 64).max(1);
    }
    // Column blocks rounded to a multiple of 16 so microkernel tiles stay full.
    let nb = n.div_ceil(col_blocks).next_multiple_of(16).min(n);
    let mb = m.div_ceil(row_blocks);
    let col_blocks = n.div_ceil(nb);
    let row_blocks = m.div_ceil(mb);
    // Uninitialised rather than `vec![0.0; len]`, whose zeroing would run on one thread: each
    // task initialises (bias or zero) the block it owns, then its GEMM accumulates into it.
    let mut c: Vec<f32> = Vec::with_capacity(len);
    let out = SharedOut(c.as_mut_ptr());
    par::for_each(row_blocks * col_blocks, |t| {
        let (ri, ci) = (t / col_blocks, t % col_blocks);
        let (r0, r1) = (ri * mb, ((ri + 1) * mb).min(m));
        let (c0, c1) = (ci * nb, ((ci + 1) * nb).min(n));
        let a_blk = MatRef {
            data: &a.data[r0 * a.rs..],
            ..a
        };
        let b_blk = MatRef {
            data: &b.data[c0 * b.cs..],
            ..b
        };
        let (mr, nc) = (r1 - r0, c1 - c0);
        if transposed {
            // Compute the block transposed (nc × mr = b_blkᵀ · a_blkᵀ) in scratch, then store it
            // transposed.
            with_scratch(nc * mr, |tr| {
                let lhs = MatRef {
                    data: b_blk.data,
                    rs: b.cs,
                    cs: b.rs,
                };
                let rhs = MatRef {
                    data: a_blk.data,
                    rs: a.cs,
                    cs: a.rs,
                };
                gemm(nc, mr, k, tr, mr, false, lhs, rhs);
                for i in 0..mr {
                    for j in 0..nc {
                        let v = tr[j * mr + i] + bias.map_or(0.0, |b| b[c0 + j]);
                        // SAFETY: `out` points to `c`'s allocation of m×n floats, which
                        // outlives this parallel section; this task writes only rows r0..r1 ×
                        // columns c0..c1, disjoint from every other task's block. Raw writes:
                        // the memory is not initialised yet.
                        unsafe { out.get().add((r0 + i) * n + c0 + j).write(v) };
                    }
                }
            });
            return;
        }
        // SAFETY: as above; the block is initialised (bias or zero) before `gemm` accumulates.
        unsafe {
            let dst = out.get().add(r0 * n + c0);
            for r in 0..mr {
                let row = dst.add(r * n);
                match bias {
                    Some(bias) => std::ptr::copy_nonoverlapping(bias[c0..c1].as_ptr(), row, nc),
                    None => std::ptr::write_bytes(row, 0, nc),
                }
            }
            gemm_raw(mr, nc, k, dst, n, bias.is_some(), a_blk, b_blk)
        }
    });
    // SAFETY: the row blocks tile 0..m and the column blocks tile 0..n, so every element was
    // initialised by exactly one task above.
    unsafe { c.set_len(len) };
    c
}

/// Forward: `x` is `rows × in`, `w` is `out × in`, `b` is `out`; returns `rows × out`.
pub(crate) fn linear_fwd(
    rows: usize,
    din: usize,
    dout: usize,
    x: &[f32],
    w: &[f32],
    b: Option<&[f32]>,
) -> Vec<f32> {
    par_gemm(
        rows,
        dout,
        din,
        MatRef::rows(x, din),
        MatRef::transposed(w, din),
        b,
    )
}

/// Input gradient `dx = dy · W` (`rows × in`).
pub(crate) fn linear_bwd_input(
    rows: usize,
    din: usize,
    dout: usize,
    dy: &[f32],
    w: &[f32],
) -> Vec<f32> {
    par_gemm(
        rows,
        din,
        dout,
        MatRef::rows(dy, dout),
        MatRef::rows(w, din),
        None,
    )
}

/// Weight gradient `dW = dyᵀ · x` (`out × in`).
pub(crate) fn linear_bwd_weight(
    rows: usize,
    din: usize,
    dout: usize,
    x: &[f32],
    dy: &[f32],
) -> Vec<f32> {
    par_gemm(
        dout,
        din,
        rows,
        MatRef::transposed(dy, dout),
        MatRef::rows(x, din),
        None,
    )
}

/// Bias gradient: column sums of `dy` (`out`).
pub(crate) fn linear_bwd_bias(rows: usize, dout: usize, dy: &[f32]) -> Vec<f32> {
    let mut db = vec![0.0; dout];
    for r in dy.chunks_exact(dout).take(rows) {
        for (d, v) in db.iter_mut().zip(r) {
            *d += v;
        }
    }
    db
}
