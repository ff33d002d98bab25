//! Per-neuron statistics of one layer over a stream of images, mergeable across runs.
//!
//! For every channel: the count of images, sums (f64) of the spatial mean and of the spatial max and of their
//! squares (for running mean/std), a histogram of the spatial max on fixed log-spaced bins (data-independent, so
//! histograms of different runs add), and the top-k images by spatial max and the bottom-k by spatial minimum (the
//! most negative responses — the pre-ReLU `.add` taps the article studies go negative), each with the position of
//! the extreme. Ties are broken by image index, so the lists are a pure function of the (ordered) inputs and a
//! merge of runs over consecutive parts of the inputs gives exactly the lists of one run over all of them.

use serde::{Deserialize, Serialize};

/// Histogram bins per octave of |value| and the octaves covered: |v| in [2^MIN_OCT, 2^MAX_OCT).
const BINS_PER_OCTAVE: i32 = 4;
const MIN_OCT: i32 = -8;
const MAX_OCT: i32 = 8;
/// Magnitude bins per sign.
const MAG_BINS: usize = ((MAX_OCT - MIN_OCT) * BINS_PER_OCTAVE) as usize;
/// Negative bins (most negative first), one bin for |v| < 2^MIN_OCT, positive bins.
pub const HIST_BINS: usize = 2 * MAG_BINS + 1;

/// The histogram bin of a value (values beyond ±2^MAX_OCT go to the outermost bins).
pub fn hist_bin(v: f32) -> usize {
    let a = v.abs();
    if a.is_nan() || a < (MIN_OCT as f32).exp2() {
        return MAG_BINS; // tiny, zero or NaN
    }
    let m = ((a.log2() - MIN_OCT as f32) * BINS_PER_OCTAVE as f32).floor() as usize;
    let m = m.min(MAG_BINS - 1);
    if v > 0.0 {
        MAG_BINS + 1 + m
    } else {
        MAG_BINS - 1 - m
    }
}

/// The `HIST_BINS + 1` bin edges, from −2^MAX_OCT to +2^MAX_OCT (the outer bins also hold anything beyond).
pub fn hist_edges() -> Vec<f32> {
    let mag =
        |m: usize| ((MIN_OCT * BINS_PER_OCTAVE + m as i32) as f32 / BINS_PER_OCTAVE as f32).exp2();
    let mut e: Vec<f32> = (0..=MAG_BINS).rev().map(|m| -mag(m)).collect();
    e.extend((0..=MAG_BINS).map(mag));
    e
}

/// One image's extreme response of a neuron.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Extreme {
    pub value: f32,
    /// Global index of the image in the run's input order.
    pub image: u64,
    /// Flat spatial position (`y·w + x`, or the token index) of the extreme.
    pub position: u32,
}

/// `a` ranks before `b` when it is more extreme; equal values rank by image index, then position.
fn before(a: &Extreme, b: &Extreme, highest: bool) -> bool {
    let ord = if highest {
        b.value.total_cmp(&a.value)
    } else {
        a.value.total_cmp(&b.value)
    };
    ord.then(a.image.cmp(&b.image))
        .then(a.position.cmp(&b.position))
        .is_lt()
}

/// Keeps the `k` most extreme entries, sorted most extreme first.
fn keep(list: &mut Vec<Extreme>, e: Extreme, k: usize, highest: bool) {
    if k == 0 {
        return;
    }
    if list.len() == k && !before(&e, list.last().expect("k > 0"), highest) {
        return;
    }
    let at = list.partition_point(|x| before(x, &e, highest));
    list.insert(at, e);
    list.truncate(k);
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ChannelStats {
    pub count: u64,
    pub sum_mean: f64,
    pub sumsq_mean: f64,
    pub sum_max: f64,
    pub sumsq_max: f64,
    pub hist: Vec<u64>,
    pub top: Vec<Extreme>,
    pub bottom: Vec<Extreme>,
}

impl ChannelStats {
    fn new() -> Self {
        Self {
            hist: vec![0; HIST_BINS],
            ..Default::default()
        }
    }

    /// Adds one image's spatial plane of this channel.
    pub fn add(&mut self, plane: &[f32], image: u64, k: usize) {
        let (mut max, mut argmax, mut min, mut argmin, mut sum) =
            (f32::NEG_INFINITY, 0usize, f32::INFINITY, 0usize, 0f64);
        for (i, &v) in plane.iter().enumerate() {
            if v > max {
                (max, argmax) = (v, i);
            }
            if v < min {
                (min, argmin) = (v, i);
            }
            sum += v as f64;
        }
        let mean = sum / plane.len().max(1) as f64;
        self.count += 1;
        self.sum_mean += mean;
        self.sumsq_mean += mean * mean;
        self.sum_max += max as f64;
        self.sumsq_max += (max as f64) * (max as f64);
        self.hist[hist_bin(max)] += 1;
        let top = Extreme {
            value: max,
            image,
            position: argmax as u32,
        };
        let bottom = Extreme {
            value: min,
            image,
            position: argmin as u32,
        };
        keep(&mut self.top, top, k, true);
        keep(&mut self.bottom, bottom, k, false);
    }

    /// Folds another run's statistics of the same channel in (image indices already made global).
    pub fn merge(&mut self, other: &ChannelStats, k: usize) {
        self.count += other.count;
        self.sum_mean += other.sum_mean;
        self.sumsq_mean += other.sumsq_mean;
        self.sum_max += other.sum_max;
        self.sumsq_max += other.sumsq_max;
        for (a, b) in self.hist.iter_mut().zip(&other.hist) {
            *a += b;
        }
        for e in &other.top {
            keep(&mut self.top, *e, k, true);
        }
        for e in &other.bottom {
            keep(&mut self.bottom, *e, k, false);
        }
    }

    pub fn mean_of_mean(&self) -> f64 {
        self.sum_mean / self.count.max(1) as f64
    }

    pub fn std_of_mean(&self) -> f64 {
        std_from(self.sum_mean, self.sumsq_mean, self.count)
    }

    pub fn mean_of_max(&self) -> f64 {
        self.sum_max / self.count.max(1) as f64
    }

    pub fn std_of_max(&self) -> f64 {
        std_from(self.sum_max, self.sumsq_max, self.count)
    }
}

fn std_from(sum: f64, sumsq: f64, n: u64) -> f64 {
    if n < 2 {
        return 0.0;
    }
    let n = n as f64;
    ((sumsq - sum * sum / n) / (n - 1.0)).max(0.0).sqrt()
}

/// All channels of one layer.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct LayerStats {
    pub top_k: usize,
    pub channels: Vec<ChannelStats>,
}

impl LayerStats {
    pub fn new(channels: usize, top_k: usize) -> Self {
        Self {
            top_k,
            channels: (0..channels).map(|_| ChannelStats::new()).collect(),
        }
    }

    /// Adds a batch `acts` laid out `[B, C, P]` (P spatial positions or tokens); image `b` gets index
    /// `first_image + b`.
    pub fn add_batch(&mut self, acts: &[f32], batch: usize, positions: usize, first_image: u64) {
        use rayon::prelude::*;
        let c = self.channels.len();
        let k = self.top_k;
        self.channels
            .par_iter_mut()
            .enumerate()
            .for_each(|(ch, s)| {
                for b in 0..batch {
                    let o = (b * c + ch) * positions;
                    s.add(&acts[o..o + positions], first_image + b as u64, k);
                }
            });
    }

    /// Folds in a run whose image indices start at `offset` in the merged order.
    pub fn merge(&mut self, other: &LayerStats, offset: u64) {
        let k = self.top_k;
        for (a, b) in self.channels.iter_mut().zip(&other.channels) {
            let mut b = b.clone();
            for e in b.top.iter_mut().chain(b.bottom.iter_mut()) {
                e.image += offset;
            }
            a.merge(&b, k);
        }
    }

    pub fn images(&self) -> u64 {
        self.channels.first().map_or(0, |c| c.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_bins_are_ordered_and_cover_the_edges() {
        let e = hist_edges();
        assert_eq!(e.len(), HIST_BINS + 1);
        assert!(e.windows(2).all(|w| w[0] < w[1]), "{e:?}");
        for v in [
            -300.0f32, -3.0, -0.5, -1e-4, 0.0, 1e-4, 0.3, 1.0, 7.5, 300.0,
        ] {
            let b = hist_bin(v);
            assert!(b < HIST_BINS);
            if v.abs() < 256.0 && v.abs() >= 1.0 / 256.0 {
                assert!(
                    e[b] <= v && v < e[b + 1] + 1e-6,
                    "{v} in bin {b} [{}, {})",
                    e[b],
                    e[b + 1]
                );
            }
        }
        assert_eq!(hist_bin(f32::NAN), MAG_BINS);
    }

    #[test]
    fn top_and_bottom_lists_and_merge_equal_one_pass() {
        // 3 channels × 4 positions, 10 images with ties.
        let img = |i: u64| -> Vec<f32> {
            (0..12)
                .map(|j| (((i * 7 + j) % 5) as f32 - 2.0) * if j % 3 == 0 { 1.0 } else { 0.5 })
                .collect()
        };
        let mut all = LayerStats::new(3, 4);
        for i in 0..10 {
            all.add_batch(&img(i), 1, 4, i);
        }
        let (mut a, mut b) = (LayerStats::new(3, 4), LayerStats::new(3, 4));
        for i in 0..6 {
            a.add_batch(&img(i), 1, 4, i);
        }
        for i in 6..10 {
            b.add_batch(&img(i), 1, 4, i - 6);
        }
        a.merge(&b, 6);
        assert_eq!(a, all);
        let c0 = &all.channels[0];
        assert_eq!(c0.count, 10);
        assert!(c0.top.windows(2).all(|w| w[0].value >= w[1].value));
        assert!(c0.bottom.windows(2).all(|w| w[0].value <= w[1].value));
        assert_eq!(c0.hist.iter().sum::<u64>(), 10);
    }
}
