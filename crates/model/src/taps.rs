//! Named intermediate tensors ("taps"). A forward pass offers every tap it passes to a [`Taps`] recorder,
//! which keeps only the requested ones, so recording never changes the computation; once every requested tap
//! is recorded the tower stops early.

use candle_core::Tensor;

use crate::error::Result;

enum Mode {
    /// Keep the named tensors.
    Named(Vec<String>),
    /// Keep only the shape of every tap (for `clipneurons layers`).
    Shapes,
}

pub struct Taps {
    mode: Mode,
    /// Run the pass to its end even when every requested tap is in (to get the output as well).
    to_end: bool,
    recorded: Vec<(String, Tensor)>,
    shapes: Vec<(String, Vec<usize>)>,
}

impl Taps {
    /// Record nothing; the forward pass runs to the end.
    pub fn none() -> Self {
        Self::named(&[] as &[&str])
    }

    pub fn named<S: AsRef<str>>(names: &[S]) -> Self {
        Self {
            mode: Mode::Named(names.iter().map(|s| s.as_ref().to_string()).collect()),
            recorded: Vec::new(),
            shapes: Vec::new(),
            to_end: false,
        }
    }

    /// Keep the named tensors and still run the pass to its end, so the tower returns its output too.
    pub fn named_to_end<S: AsRef<str>>(names: &[S]) -> Self {
        Self {
            to_end: true,
            ..Self::named(names)
        }
    }

    pub fn shapes() -> Self {
        Self {
            mode: Mode::Shapes,
            recorded: Vec::new(),
            shapes: Vec::new(),
            to_end: false,
        }
    }

    /// Offer a tap. Cheap when it is not wanted.
    pub fn offer(&mut self, name: &str, t: &Tensor) -> Result<()> {
        match &self.mode {
            Mode::Named(names) => {
                if names.iter().any(|n| n == name) && !self.recorded.iter().any(|(n, _)| n == name)
                {
                    self.recorded.push((name.to_string(), t.clone()));
                }
            }
            Mode::Shapes => self.shapes.push((name.to_string(), t.dims().to_vec())),
        }
        Ok(())
    }

    /// Whether the caller asked for any taps and all of them are recorded, so the rest of the pass is
    /// wasted work.
    pub fn finished(&self) -> bool {
        match &self.mode {
            Mode::Named(names) => {
                !self.to_end && !names.is_empty() && self.recorded.len() == names.len()
            }
            Mode::Shapes => false,
        }
    }

    /// Whether this recorder keeps nothing at all, so a tower may skip work whose only effect is on taps
    /// (e.g. the text positions after the last end-of-text token).
    pub fn records_nothing(&self) -> bool {
        matches!(&self.mode, Mode::Named(names) if names.is_empty())
    }

    pub fn get(&self, name: &str) -> Option<&Tensor> {
        self.recorded
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
    }

    pub fn take(&mut self, name: &str) -> Option<Tensor> {
        let i = self.recorded.iter().position(|(n, _)| n == name)?;
        Some(self.recorded.swap_remove(i).1)
    }

    pub fn shape_list(&self) -> &[(String, Vec<usize>)] {
        &self.shapes
    }

    /// Requested names that the pass never offered.
    pub fn missing(&self) -> Vec<String> {
        match &self.mode {
            Mode::Named(names) => names
                .iter()
                .filter(|n| !self.recorded.iter().any(|(r, _)| r == *n))
                .cloned()
                .collect(),
            Mode::Shapes => Vec::new(),
        }
    }
}

/// Stop a forward pass early once the requested taps are all in.
macro_rules! stop_if_done {
    ($taps:expr) => {
        if $taps.finished() {
            return Ok(None);
        }
    };
}
pub(crate) use stop_if_done;
