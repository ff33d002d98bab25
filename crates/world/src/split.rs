//! Deterministic splits. Every sample is a pure function of (split, index, seed): each split draws from its own
//! seed stream, so train, val and test never share a random draw, and held-out fonts and drawing styles are used
//! only in the test split.

use std::fmt;
use std::str::FromStr;

use crate::fonts;
use crate::render::drawing;
use crate::rng::{mix, Rng};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Split {
    Train,
    Val,
    Test,
    /// Typographic attack: object photos with a conflicting written word pasted on.
    Attack,
}

impl Split {
    pub const ALL: [Split; 4] = [Split::Train, Split::Val, Split::Test, Split::Attack];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
            Split::Attack => "attack",
        }
    }

    fn tag(self) -> u64 {
        match self {
            Split::Train => 0x7472_6169_6e00,
            Split::Val => 0x7661_6c00,
            Split::Test => 0x7465_7374_0000,
            Split::Attack => 0x6174_7461_636b,
        }
    }

    /// Whether held-out fonts and drawing styles may appear.
    pub fn held_out_allowed(self) -> bool {
        matches!(self, Split::Test | Split::Attack)
    }
}

impl fmt::Display for Split {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Split {
    type Err = String;
    fn from_str(s: &str) -> Result<Split, String> {
        Split::ALL
            .into_iter()
            .find(|x| x.name() == s)
            .ok_or_else(|| format!("unknown split '{s}' (expected train, val, test or attack)"))
    }
}

/// The random stream of one sample.
pub fn stream(split: Split, seed: u64, index: u64) -> Rng {
    Rng::new(mix(&[split.tag(), seed, index]))
}

/// The concept of sample `index`: a fresh shuffle of all concepts per block of `n`, so every block covers each
/// concept once (balanced batches) yet consecutive blocks differ.
pub fn concept_for(split: Split, seed: u64, index: u64, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let block = index / n as u64;
    let mut perm: Vec<usize> = (0..n).collect();
    Rng::new(mix(&[split.tag(), seed, block, 0xB10C])).shuffle(&mut perm);
    perm[(index % n as u64) as usize]
}

/// Share of test word images set in a held-out face, and of test drawings in the held-out style.
pub const HELD_OUT_SHARE: f32 = 0.35;

/// Pick a font face index for `split`.
pub fn font_for(split: Split, rng: &mut Rng) -> usize {
    let train = fonts::train_faces();
    let held = fonts::held_out_faces();
    if split.held_out_allowed() && !held.is_empty() && rng.chance(HELD_OUT_SHARE) {
        *rng.pick(&held)
    } else {
        *rng.pick(&train)
    }
}

/// Pick a drawing style for `split`.
pub fn drawing_style_for(split: Split, rng: &mut Rng) -> &'static str {
    if split.held_out_allowed() && rng.chance(HELD_OUT_SHARE) {
        rng.pick::<&str>(&drawing::HELD_OUT_STYLES)
    } else {
        rng.pick::<&str>(&drawing::TRAIN_STYLES)
    }
}
