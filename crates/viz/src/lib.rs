//! Feature visualisation in the manner of Lucid's optvis: a parametrised image ([`param`]), random differentiable
//! transforms ([`transform`]), an objective on a layer ([`objective`]) and gradient ascent with Adam ([`render`]).
//! candle has no FFT and no bilinear-resize backward, so the Fourier image is an inverse DFT written as matrix
//! products and resizing is a product with interpolation matrices: every step has candle gradients.

pub mod facet;
pub mod objective;
pub mod param;
pub mod render;
pub mod transform;

#[derive(Debug, thiserror::Error)]
pub enum VizError {
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    #[error(transparent)]
    Model(#[from] clipneurons_model::ModelError),
    #[error(transparent)]
    Neurons(#[from] clipneurons_neurons::NeuronError),
    #[error("{0}")]
    Input(String),
}

pub type Result<T> = std::result::Result<T, VizError>;

/// A small seedable generator (SplitMix64) so a visualisation is reproducible from its seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.f64() * n as f64) as usize % n.max(1)
    }
    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.f64().max(1e-12);
        let v = self.f64();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}
