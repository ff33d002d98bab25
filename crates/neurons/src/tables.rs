//! A finished run as tables other tools read: Parquet (pandas, polars, DuckDB) and safetensors.
//!
//! - `neurons.parquet`: one row per neuron — images, mean/std of the spatial mean and of the spatial max, and the
//!   neuron's highest and lowest response.
//! - `examples.parquet`: `neuron, kind (top|bottom), rank, image, value, position, y, x` — the dataset examples.
//! - `images.parquet`: `image, source, concept, family, facet, caption` — what each image index is.
//! - `histograms.safetensors`: `counts` `[C, bins]` (i64) over the spatial max and `edges` `[bins+1]`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float32Array, Float64Array, RecordBatch, StringArray, UInt32Array, UInt64Array,
};
use candle_core::{Device, Tensor};

use crate::mine::{write_atomic, RunState};
use crate::stats::hist_edges;
use crate::{NeuronError, Result};

pub(crate) fn write_parquet(path: &Path, columns: Vec<(&str, ArrayRef)>) -> Result<()> {
    let batch = RecordBatch::try_from_iter(columns)
        .map_err(|e| NeuronError::Input(format!("building {}: {e}", path.display())))?;
    let mut buf = Vec::new();
    let mut w = parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None)
        .map_err(|e| NeuronError::Input(format!("writing {}: {e}", path.display())))?;
    w.write(&batch)
        .and_then(|_| w.close().map(|_| ()))
        .map_err(|e| NeuronError::Input(format!("writing {}: {e}", path.display())))?;
    write_atomic(path, &buf)
}

/// Writes a Parquet table of nullable text columns (e.g. the world's captions), atomically.
pub fn write_text_table(path: &Path, columns: Vec<(&str, Vec<Option<String>>)>) -> Result<()> {
    write_parquet(
        path,
        columns
            .into_iter()
            .map(|(name, values)| (name, Arc::new(StringArray::from(values)) as ArrayRef))
            .collect(),
    )
}

/// Writes the tables of `state` into `dir`.
pub fn write_tables(dir: &Path, state: &RunState) -> Result<()> {
    let st = &state.stats.channels;
    let n = st.len();
    let col_f64 = |f: &dyn Fn(usize) -> f64| {
        Arc::new(Float64Array::from((0..n).map(f).collect::<Vec<_>>())) as ArrayRef
    };
    let col_f32 = |f: &dyn Fn(usize) -> f32| {
        Arc::new(Float32Array::from((0..n).map(f).collect::<Vec<_>>())) as ArrayRef
    };
    let top = |i: usize| st[i].top.first().map_or(f32::NAN, |e| e.value);
    let bottom = |i: usize| st[i].bottom.first().map_or(f32::NAN, |e| e.value);
    write_parquet(
        &dir.join("neurons.parquet"),
        vec![
            (
                "neuron",
                Arc::new(UInt32Array::from((0..n as u32).collect::<Vec<_>>())) as ArrayRef,
            ),
            (
                "images",
                Arc::new(UInt64Array::from(
                    st.iter().map(|c| c.count).collect::<Vec<_>>(),
                )),
            ),
            ("mean_of_mean", col_f64(&|i| st[i].mean_of_mean())),
            ("std_of_mean", col_f64(&|i| st[i].std_of_mean())),
            ("mean_of_max", col_f64(&|i| st[i].mean_of_max())),
            ("std_of_max", col_f64(&|i| st[i].std_of_max())),
            ("max", col_f32(&top)),
            ("min", col_f32(&bottom)),
        ],
    )?;

    let grid_w = state.manifest.key.grid.map(|g| g[1]);
    let (mut neuron, mut kind, mut rank, mut image, mut value, mut pos, mut ys, mut xs) = (
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
        vec![],
    );
    for (i, c) in st.iter().enumerate() {
        for (k, list) in [("top", &c.top), ("bottom", &c.bottom)] {
            for (r, e) in list.iter().enumerate() {
                neuron.push(i as u32);
                kind.push(k);
                rank.push(r as u32);
                image.push(e.image);
                value.push(e.value);
                pos.push(e.position);
                ys.push(grid_w.map(|w| e.position / w as u32));
                xs.push(grid_w.map(|w| e.position % w as u32));
            }
        }
    }
    write_parquet(
        &dir.join("examples.parquet"),
        vec![
            ("neuron", Arc::new(UInt32Array::from(neuron)) as ArrayRef),
            ("kind", Arc::new(StringArray::from(kind))),
            ("rank", Arc::new(UInt32Array::from(rank))),
            ("image", Arc::new(UInt64Array::from(image))),
            ("value", Arc::new(Float32Array::from(value))),
            ("position", Arc::new(UInt32Array::from(pos))),
            ("y", Arc::new(UInt32Array::from(ys))),
            ("x", Arc::new(UInt32Array::from(xs))),
        ],
    )?;

    let im = &state.images;
    let opt = |f: &dyn Fn(usize) -> Option<String>| {
        Arc::new(StringArray::from((0..im.len()).map(f).collect::<Vec<_>>())) as ArrayRef
    };
    write_parquet(
        &dir.join("images.parquet"),
        vec![
            (
                "image",
                Arc::new(UInt64Array::from((0..im.len() as u64).collect::<Vec<_>>())) as ArrayRef,
            ),
            ("source", opt(&|i| Some(im[i].source.clone()))),
            ("concept", opt(&|i| im[i].concept.clone())),
            ("family", opt(&|i| im[i].family.clone())),
            ("facet", opt(&|i| im[i].facet.clone())),
            ("caption", opt(&|i| im[i].caption.clone())),
        ],
    )?;

    let bins = hist_edges().len() - 1;
    let counts: Vec<i64> = st
        .iter()
        .flat_map(|c| c.hist.iter().map(|&v| v as i64))
        .collect();
    let edges = hist_edges();
    let tensors = BTreeMap::from([
        (
            "counts".to_string(),
            Tensor::from_vec(counts, (n, bins), &Device::Cpu)?,
        ),
        (
            "edges".to_string(),
            Tensor::from_vec(edges, bins + 1, &Device::Cpu)?,
        ),
    ]);
    let bytes = safetensors::serialize(tensors.iter(), None)
        .map_err(|e| NeuronError::Input(format!("histograms: {e}")))?;
    write_atomic(&dir.join("histograms.safetensors"), &bytes)
}
