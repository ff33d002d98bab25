//! Shape-checked access to a state dict, so a wrong or truncated checkpoint fails with the key and both shapes
//! instead of a broadcasting error deep inside a forward pass.

use std::collections::BTreeMap;

use candle_core::Tensor;

use crate::error::{ModelError, Result};

pub struct Weights<'a> {
    map: &'a BTreeMap<String, Tensor>,
    config: String,
}

impl<'a> Weights<'a> {
    pub fn new(map: &'a BTreeMap<String, Tensor>, config: String) -> Self {
        Self { map, config }
    }

    /// The tensor at `key`, which must have exactly `dims`.
    pub fn get(&self, key: &str, dims: &[usize]) -> Result<Tensor> {
        let t = self.map.get(key).ok_or_else(|| ModelError::MissingKey {
            key: key.to_string(),
            why: format!("needed by {}", self.config),
        })?;
        if t.dims() != dims {
            return Err(ModelError::ShapeMismatch {
                key: key.to_string(),
                expected: dims.to_vec(),
                found: t.dims().to_vec(),
                config: self.config.clone(),
            });
        }
        Ok(t.clone())
    }

    /// `logit_scale` is stored 0-d by OpenAI and sometimes as `[1]` by other trainers.
    pub fn scalar(&self, key: &str) -> Result<f32> {
        let t = self.map.get(key).ok_or_else(|| ModelError::MissingKey {
            key: key.to_string(),
            why: "a scalar parameter".into(),
        })?;
        if t.elem_count() != 1 {
            return Err(ModelError::ShapeMismatch {
                key: key.to_string(),
                expected: vec![],
                found: t.dims().to_vec(),
                config: self.config.clone(),
            });
        }
        Ok(t.flatten_all()?.to_vec1::<f32>()?[0])
    }
}
