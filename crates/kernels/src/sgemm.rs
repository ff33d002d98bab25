//! A thin, bounds-checked wrapper over `gemm::gemm` for f32, and per-thread scratch memory.
//!
//! Every kernel in this crate expresses its work as `C (+)= A · B` on strided views, so transposes
//! cost nothing: the `gemm` crate packs its operands itself and accepts arbitrary strides.

use std::cell::RefCell;

/// A read-only strided matrix view: element `(i, j)` is `data[i * rs + j * cs]`.
#[derive(Clone, Copy)]
pub(crate) struct MatRef<'a> {
    pub data: &'a [f32],
    pub rs: usize,
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// Row-major view with row stride `rs`.
    pub fn rows(data: &'a [f32], rs: usize) -> Self {
        Self { data, rs, cs: 1 }
    }
    /// The transpose of a row-major matrix with row stride `rs`.
    pub fn transposed(data: &'a [f32], rs: usize) -> Self {
        Self {
            data,
            rs: 1,
            cs: rs,
        }
    }
}

/// Number of elements a `rows × cols` view with these strides spans (0 if empty).
fn span(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

/// `dst[i, j] = (accumulate ? dst[i, j] : 0) + Σ_k a[i, k] · b[k, j]` for an `m × n` destination
/// whose rows are contiguous with row stride `dst_rs`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    a: MatRef<'_>,
    b: MatRef<'_>,
) {
    assert!(span(m, n, dst_rs, 1) <= dst.len(), "gemm: dst too small");
    // SAFETY: the assertion above guarantees every destination element lies inside `dst`, which
    // we borrow mutably, so nothing else reads or writes it during the call.
    unsafe { gemm_raw(m, n, k, dst.as_mut_ptr(), dst_rs, accumulate, a, b) }
}

/// Same as [`gemm`] but writing through a raw pointer, for kernels whose parallel tasks write
/// disjoint, interleaved (strided) parts of one output buffer.
///
/// # Safety
/// `dst` must be valid for reads and writes of the elements `i * dst_rs + j` (`i < m`, `j < n`),
/// and no other thread may access those elements during the call.
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn gemm_raw(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    a: MatRef<'_>,
    b: MatRef<'_>,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    // SAFETY: in range per the caller's contract.
                    unsafe { *dst.add(i * dst_rs + j) = 0.0 };
                }
            }
        }
        return;
    }
    assert!(
        span(m, k, a.rs, a.cs) <= a.data.len(),
        "gemm: lhs too small"
    );
    assert!(
        span(k, n, b.rs, b.cs) <= b.data.len(),
        "gemm: rhs too small"
    );
    // SAFETY: the operand spans were checked against their slices just above, the destination
    // span is guaranteed by the caller, and `gemm` only reads lhs/rhs and writes dst within
    // those spans. Strides fit in isize because they index inside allocated slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            // Single-threaded: callers split work into parallel tasks themselves.
            gemm::Parallelism::None,
        )
    }
}

/// A raw output pointer that parallel tasks may share because each writes a disjoint region.
#[derive(Clone, Copy)]
pub(crate) struct SharedOut(pub *mut f32);

impl SharedOut {
    /// The pointer. (A method, so closures capture the `Sync` wrapper, not the raw field.)
    pub fn get(self) -> *mut f32 {
        self.0
    }
}
// SAFETY: `SharedOut` is only a pointer; every use site documents that concurrent tasks touch
// disjoint elements of the buffer it points into, and the buffer outlives the parallel section.
unsafe impl Send for SharedOut {}
// SAFETY: as above.
unsafe impl Sync for SharedOut {}

thread_local! {
    /// Per-worker scratch (im2col bands, transposed products), reused across calls to avoid allocation/page-zeroing churn.
    static SCRATCH: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` with a scratch slice of `len` f32s from this thread's reusable buffer.
/// The contents are unspecified; callers overwrite what they read.
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| {
        // A re-entrant call (not expected: kernels do not nest) gets a fresh buffer instead of
        // panicking on the RefCell.
        match cell.try_borrow_mut() {
            Ok(mut buf) => {
                if buf.len() < len {
                    buf.resize(len, 0.0);
                }
                f(&mut buf[..len])
            }
            Err(_) => f(&mut vec![0.0; len]),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strided_products_match_naive() {
        let (m, n, k) = (5, 7, 3);
        let a: Vec<f32> = (0..m * k).map(|i| i as f32 * 0.5 - 3.0).collect();
        let bt: Vec<f32> = (0..n * k).map(|i| (i % 5) as f32 - 1.5).collect(); // n × k
        let mut c = vec![1.0f32; m * (n + 2)];
        gemm(
            m,
            n,
            k,
            &mut c,
            n + 2,
            true,
            MatRef::rows(&a, k),
            MatRef::transposed(&bt, k),
        );
        for i in 0..m {
            for j in 0..n {
                let want: f32 = 1.0 + (0..k).map(|l| a[i * k + l] * bt[j * k + l]).sum::<f32>();
                assert!((c[i * (n + 2) + j] - want).abs() < 1e-4);
            }
            assert_eq!(c[i * (n + 2) + n], 1.0, "padding column untouched");
        }
    }
}
