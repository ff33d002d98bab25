//! The one place that decides how kernels run their tasks in parallel.
//!
//! By default tasks run on candle's own barrier pool — the threads candle's element-wise ops
//! already use — with the calling thread taking part. Running on rayon's global pool instead
//! leaves candle's pool spinning (it busy-waits after each op) and competing with the kernel
//! for the cores: on the 2-vCPU target a conv/relu/conv block chain ran 10–20% slower that way.
//! Both pools size themselves from `RAYON_NUM_THREADS` (or `CANDLE_NUM_THREADS` for candle's).

use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

static USE_RAYON: AtomicBool = AtomicBool::new(false);

/// Benchmarking/testing aid: run kernel tasks on rayon's current pool (`true`) or on candle's
/// barrier pool (`false`, the default). Process-wide.
pub fn use_rayon_pool(on: bool) {
    USE_RAYON.store(on, Ordering::Relaxed);
}

fn rayon_on() -> bool {
    USE_RAYON.load(Ordering::Relaxed)
}

/// Number of threads tasks are spread over.
pub(crate) fn threads() -> usize {
    if rayon_on() {
        rayon::current_num_threads().max(1)
    } else {
        candle_core::utils::barrier_pool().n_workers() + 1
    }
}

/// Runs `f(i)` for every `i < n`, in parallel, returning when all are done. Tasks are handed
/// out dynamically, so a thread slowed by other processes does not hold the rest back. Must not
/// be nested (the kernels never do): candle's pool serialises callers on a lock.
pub(crate) fn for_each(n: usize, f: impl Fn(usize) + Sync + Send) {
    match n {
        0 => {}
        1 => f(0),
        _ if rayon_on() => (0..n).into_par_iter().for_each(f),
        _ => candle_core::utils::barrier_pool().execute_chunked(n, |r| r.for_each(&f)),
    }
}

/// Runs `f(i, chunk_i)` over `out` cut into pieces of `chunk` elements (the last may be
/// shorter), in parallel.
pub(crate) fn for_each_chunk_mut(
    out: &mut [f32],
    chunk: usize,
    f: impl Fn(usize, &mut [f32]) + Sync + Send,
) {
    let len = out.len();
    let chunk = chunk.max(1);
    let ptr = crate::sgemm::SharedOut(out.as_mut_ptr());
    for_each(len.div_ceil(chunk), |i| {
        let a = i * chunk;
        let b = (a + chunk).min(len);
        // SAFETY: `[a, b)` lies inside `out`, distinct `i` give disjoint ranges, and `out` is
        // borrowed mutably for the whole call, which returns only after every task is done.
        let piece = unsafe { std::slice::from_raw_parts_mut(ptr.get().add(a), b - a) };
        f(i, piece)
    });
}

/// Elements per parallel task of the element-wise kernels: big enough that handing out tasks
/// costs nothing, small enough that two threads share the work evenly.
pub(crate) const ELEMWISE_CHUNK: usize = 1 << 15;
