//! `C += A · Bᵀ` as blocks of dot products, for products with a long inner dimension and a small
//! output: a convolution's weight gradient when the layer has few channels (`dW = dY · colᵀ`,
//! `OC × IC·KH·KW` summed over thousands of pixels).
//!
//! Why not the `gemm` crate: it tiles the output for its microkernels (48 × 6 on AVX-512) and
//! packs both operands for every call; with 8 output rows and 27 columns most of each tile is
//! padding and the packing copies cost more than the arithmetic (the stem convolutions of the
//! built-in model reached 9–21 GFLOP/s that way). Here both operands are read in place, row by
//! row along the inner dimension, and a block of `R × S` dot products shares every load; the
//! rows of one block fit in L1.

use crate::sgemm::MatRef;

/// `c[i·ldc + j] += Σ_p a[i, p] · b[j, p]` for `i < m`, `j < n`, `p < k`: `a` and `b` are
/// row-major views (`cs == 1`), `m × k` and `n × k`.
pub(crate) fn dot_gemm(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: &mut [f32],
    ldc: usize,
) {
    if m == 0 || n == 0 {
        return;
    }
    assert!(a.cs == 1 && b.cs == 1, "dot_gemm: rows must be contiguous");
    assert!(
        (m - 1) * a.rs + k <= a.data.len() && (n - 1) * b.rs + k <= b.data.len(),
        "dot_gemm: operand too small"
    );
    assert!((m - 1) * ldc + n <= c.len(), "dot_gemm: output too small");
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked above); the assertions above keep every row
            // of `k` elements inside `a` and `b`, and every written element inside `c`.
            unsafe { blocks::<4, 4>(m, n, k, a, b, c, ldc, x86::block_avx512) };
            return;
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: as above, for AVX2 and FMA.
            unsafe { blocks::<4, 2>(m, n, k, a, b, c, ldc, x86::block_avx2) };
            return;
        }
    }
    // SAFETY: as above; the portable block needs no CPU feature.
    unsafe { blocks::<4, 2>(m, n, k, a, b, c, ldc, block_portable) }
}

/// One block of dot products: `out[i][j] = Σ_{p<k} a[i][p] · b[j][p]`.
type Block<const R: usize, const S: usize> =
    unsafe fn(&[*const f32; R], &[*const f32; S], usize) -> [[f32; S]; R];

/// Walks the output in `R × S` blocks; a block reaching past row `m` or `n` reuses row 0 for the
/// missing rows (valid memory, no allocation) and drops their sums.
///
/// # Safety
/// Rows `0..m` of `a` and `0..n` of `b` must hold `k` elements each and `c` must hold
/// `(m − 1)·ldc + n` elements; `block` must be supported by the CPU.
#[allow(clippy::too_many_arguments)]
unsafe fn blocks<const R: usize, const S: usize>(
    m: usize,
    n: usize,
    k: usize,
    a: MatRef<'_>,
    b: MatRef<'_>,
    c: &mut [f32],
    ldc: usize,
    block: Block<R, S>,
) {
    let row_ptr =
        |v: MatRef<'_>, i: usize, len: usize| v.data[if i < len { i * v.rs } else { 0 }..].as_ptr();
    for i0 in (0..m).step_by(R) {
        let ar: [*const f32; R] = std::array::from_fn(|r| row_ptr(a, i0 + r, m));
        for j0 in (0..n).step_by(S) {
            let br: [*const f32; S] = std::array::from_fn(|r| row_ptr(b, j0 + r, n));
            // SAFETY: every pointer starts a row of at least `k` readable elements (caller).
            let sums = unsafe { block(&ar, &br, k) };
            for (r, row) in sums.iter().enumerate().take(m - i0) {
                let out = &mut c[(i0 + r) * ldc + j0..];
                for (o, s) in out.iter_mut().zip(row).take(n - j0) {
                    *o += s;
                }
            }
        }
    }
}

/// # Safety
/// Every pointer must start `k` readable elements.
unsafe fn block_portable<const R: usize, const S: usize>(
    a: &[*const f32; R],
    b: &[*const f32; S],
    k: usize,
) -> [[f32; S]; R] {
    std::array::from_fn(|i| {
        std::array::from_fn(|j| {
            // SAFETY: caller's contract.
            let (x, y) = unsafe {
                (
                    std::slice::from_raw_parts(a[i], k),
                    std::slice::from_raw_parts(b[j], k),
                )
            };
            x.iter().zip(y).map(|(x, y)| x * y).sum()
        })
    })
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// 4 × 4 dot products, 16 lanes: 16 accumulators and 4 `a` vectors stay in registers, each
    /// `b` vector is loaded once per step and used four times.
    ///
    /// # Safety
    /// The CPU must have AVX-512F; every pointer must start `k` readable elements.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn block_avx512(
        a: &[*const f32; 4],
        b: &[*const f32; 4],
        k: usize,
    ) -> [[f32; 4]; 4] {
        let mut acc = [[_mm512_setzero_ps(); 4]; 4];
        let mut p = 0;
        while p < k {
            let left = k - p;
            // SAFETY: a masked load reads only the lanes of its mask, all < k (caller's rows).
            let (x, y) = unsafe {
                let mask: __mmask16 = if left >= 16 {
                    0xffff
                } else {
                    (1u16 << left) - 1
                };
                let ld = |ptr: *const f32| _mm512_maskz_loadu_ps(mask, ptr.add(p));
                (
                    [ld(a[0]), ld(a[1]), ld(a[2]), ld(a[3])],
                    [ld(b[0]), ld(b[1]), ld(b[2]), ld(b[3])],
                )
            };
            for i in 0..4 {
                for j in 0..4 {
                    acc[i][j] = _mm512_fmadd_ps(x[i], y[j], acc[i][j]);
                }
            }
            p += 16;
        }
        std::array::from_fn(|i| std::array::from_fn(|j| _mm512_reduce_add_ps(acc[i][j])))
    }

    /// 4 × 2 dot products, 8 lanes (AVX2 has 16 vector registers).
    ///
    /// # Safety
    /// The CPU must have AVX2 and FMA; every pointer must start `k` readable elements.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn block_avx2(
        a: &[*const f32; 4],
        b: &[*const f32; 2],
        k: usize,
    ) -> [[f32; 2]; 4] {
        let mut acc = [[_mm256_setzero_ps(); 2]; 4];
        let full = k / 8 * 8;
        let mut p = 0;
        while p < full {
            // SAFETY: p + 8 ≤ k, inside every row (caller's contract).
            let (x, y) = unsafe {
                let ld = |ptr: *const f32| _mm256_loadu_ps(ptr.add(p));
                (
                    [ld(a[0]), ld(a[1]), ld(a[2]), ld(a[3])],
                    [ld(b[0]), ld(b[1])],
                )
            };
            for i in 0..4 {
                for j in 0..2 {
                    acc[i][j] = _mm256_fmadd_ps(x[i], y[j], acc[i][j]);
                }
            }
            p += 8;
        }
        std::array::from_fn(|i| {
            std::array::from_fn(|j| {
                let mut lanes = [0.0f32; 8];
                // SAFETY: `lanes` holds 8 floats.
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc[i][j]) };
                let mut s: f32 = lanes.iter().sum();
                for q in full..k {
                    // SAFETY: q < k (caller's contract).
                    s += unsafe { *a[i].add(q) * *b[j].add(q) };
                }
                s
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2_654_435_761) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    /// The product through one path, for the test below.
    type Path = fn(usize, usize, usize, MatRef<'_>, MatRef<'_>, &mut [f32], usize);

    /// Every path this CPU can run: the dispatcher, and each block kernel on its own (so an
    /// AVX-512 machine also checks the AVX2 and portable kernels).
    fn paths() -> Vec<(&'static str, Path)> {
        let mut v: Vec<(&'static str, Path)> = vec![("dispatch", dot_gemm)];
        v.push(("portable", |m, n, k, a, b, c, ldc| {
            // SAFETY: the test's operands satisfy the row-length contract.
            unsafe { blocks::<4, 2>(m, n, k, a, b, c, ldc, block_portable) }
        }));
        #[cfg(target_arch = "x86_64")]
        {
            if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
                v.push(("avx2", |m, n, k, a, b, c, ldc| {
                    // SAFETY: AVX2 and FMA are present (checked when the path was added).
                    unsafe { blocks::<4, 2>(m, n, k, a, b, c, ldc, x86::block_avx2) }
                }));
            }
            if is_x86_feature_detected!("avx512f") {
                v.push(("avx512", |m, n, k, a, b, c, ldc| {
                    // SAFETY: AVX-512F is present (checked when the path was added).
                    unsafe { blocks::<4, 4>(m, n, k, a, b, c, ldc, x86::block_avx512) }
                }));
            }
        }
        v
    }

    /// Every block-remainder case (m, n not multiples of the block, k not of the lanes), strided
    /// operands and an accumulating output, against an f64 triple loop, on every path.
    #[test]
    fn matches_naive_product() {
        let cases = [
            (1, 1, 1),
            (3, 5, 17),
            (4, 4, 16),
            (8, 27, 1000),
            (9, 13, 33),
            (16, 72, 65),
        ];
        for (name, path) in paths() {
            for &(m, n, k) in &cases {
                let (lda, ldb, ldc) = (k + 3, k + 1, n + 2);
                let a = det(m * lda, 1);
                let b = det(n * ldb, 2);
                let mut c = det(m * ldc, 3);
                let before = c.clone();
                path(
                    m,
                    n,
                    k,
                    MatRef::rows(&a, lda),
                    MatRef::rows(&b, ldb),
                    &mut c,
                    ldc,
                );
                for i in 0..m {
                    for j in 0..n {
                        let want: f64 = before[i * ldc + j] as f64
                            + (0..k)
                                .map(|p| a[i * lda + p] as f64 * b[j * ldb + p] as f64)
                                .sum::<f64>();
                        let got = c[i * ldc + j] as f64;
                        assert!(
                            (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                            "{name} ({m},{n},{k}) [{i},{j}]: {got} vs {want}"
                        );
                    }
                    // Padding columns of the output are left alone.
                    for j in n..ldc {
                        assert_eq!(
                            c[i * ldc + j],
                            before[i * ldc + j],
                            "{name}: padding written"
                        );
                    }
                }
            }
        }
    }
}
