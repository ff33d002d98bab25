//! Shared helpers for the kernel tests: deterministic data and tolerance checks.
#![allow(dead_code)]

use candle_core::{Device, Tensor};

/// Deterministic pseudo-random values in [-1, 1) (xorshift64*), so failures reproduce.
pub fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s >> 12;
            s ^= s << 25;
            s ^= s >> 27;
            let v = s.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 40;
            (v as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

pub fn rand_tensor(dims: &[usize], seed: u64) -> Tensor {
    let n = dims.iter().product();
    Tensor::from_vec(rand_vec(n, seed), dims, &Device::Cpu).unwrap()
}

/// Asserts `max |got − want| ≤ rtol · max(|want|) + atol` (a scale-aware relative check:
/// GEMM reassociation errors scale with the magnitude of the sums, not of each element).
pub fn assert_close(got: &[f32], want: &[f32], rtol: f32, atol: f32, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs()));
    let mut worst = (0usize, 0f32);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(g.is_finite(), "{what}: non-finite at {i}");
        let d = (g - w).abs();
        if d > worst.1 {
            worst = (i, d);
        }
    }
    assert!(
        worst.1 <= rtol * scale + atol,
        "{what}: max error {} at {} (got {}, want {}, scale {scale})",
        worst.1,
        worst.0,
        got[worst.0],
        want[worst.0]
    );
}

pub fn to_vec(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}
