//! Conversion of raw little-endian tensor bytes (a PyTorch storage or a safetensors slice) to
//! an f32 candle tensor, in one pass and one allocation.
//!
//! All checkpoints are brought to f32 on CPU because every downstream computation (model
//! forward/backward, feature visualisation) runs in f32 and fp16 matmuls are unsupported on CPU.

use candle_core::{Device, Tensor};

/// Element types a checkpoint may store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ElemType {
    F32,
    F64,
    F16,
    BF16,
    U8,
    I8,
    I16,
    I32,
    I64,
    Bool,
}

impl ElemType {
    pub(crate) fn size(self) -> usize {
        match self {
            Self::U8 | Self::I8 | Self::Bool => 1,
            Self::F16 | Self::BF16 | Self::I16 => 2,
            Self::F32 | Self::I32 => 4,
            Self::F64 | Self::I64 => 8,
        }
    }

    /// Short name recorded in `Checkpoint::source_dtypes` (candle's spelling).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F64 => "f64",
            Self::F16 => "f16",
            Self::BF16 => "bf16",
            Self::U8 => "u8",
            Self::I8 => "i8",
            Self::I16 => "i16",
            Self::I32 => "i32",
            Self::I64 => "i64",
            Self::Bool => "bool",
        }
    }

    /// PyTorch legacy storage class name (`torch.HalfStorage`, ...) to element type.
    pub(crate) fn from_torch_storage(class_name: &str) -> Option<Self> {
        Some(match class_name {
            "FloatStorage" => Self::F32,
            "DoubleStorage" => Self::F64,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::BF16,
            "ByteStorage" => Self::U8,
            "CharStorage" => Self::I8,
            "ShortStorage" => Self::I16,
            "IntStorage" => Self::I32,
            "LongStorage" => Self::I64,
            "BoolStorage" => Self::Bool,
            _ => return None,
        })
    }

    pub(crate) fn from_safetensors(dtype: safetensors::Dtype) -> Option<Self> {
        use safetensors::Dtype as D;
        Some(match dtype {
            D::F32 => Self::F32,
            D::F64 => Self::F64,
            D::F16 => Self::F16,
            D::BF16 => Self::BF16,
            D::U8 => Self::U8,
            D::I8 => Self::I8,
            D::I16 => Self::I16,
            D::I32 => Self::I32,
            D::I64 => Self::I64,
            D::BOOL => Self::Bool,
            _ => return None,
        })
    }
}

/// Where a tensor's elements lie inside a byte buffer (PyTorch's storage/offset/stride model).
pub(crate) struct RawTensor<'a> {
    /// The whole storage, little-endian.
    pub bytes: &'a [u8],
    pub elem: ElemType,
    /// Offset of the first element, in elements.
    pub offset: usize,
    pub shape: Vec<usize>,
    /// Strides in elements; `None` means C-contiguous.
    pub stride: Option<Vec<usize>>,
}

/// Elements per block when converting half floats through a stack buffer.
const BLOCK: usize = 1024;

/// Converts a contiguous run of elements to f32; `out.len()` is the element count.
fn convert_run(bytes: &[u8], elem: ElemType, out: &mut [f32]) {
    macro_rules! run {
        ($n:literal, $f:expr) => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact($n)) {
                let mut a = [0u8; $n];
                a.copy_from_slice(c);
                #[allow(clippy::redundant_closure_call)]
                {
                    *o = $f(a);
                }
            }
        };
    }
    match elem {
        ElemType::F32 => run!(4, f32::from_le_bytes),
        ElemType::F64 => run!(8, |a| f64::from_le_bytes(a) as f32),
        // Half floats go through an aligned u16 buffer so `half` can use its SIMD (F16C)
        // slice conversion; the bytes themselves may be unaligned.
        ElemType::F16 | ElemType::BF16 => {
            use half::slice::{HalfBitsSliceExt, HalfFloatSliceExt};
            let mut bits = [0u16; BLOCK];
            for (o, b) in out.chunks_mut(BLOCK).zip(bytes.chunks(BLOCK * 2)) {
                let bits = &mut bits[..o.len()];
                for (d, c) in bits.iter_mut().zip(b.chunks_exact(2)) {
                    *d = u16::from_le_bytes([c[0], c[1]]);
                }
                if elem == ElemType::F16 {
                    bits.reinterpret_cast::<half::f16>().convert_to_f32_slice(o);
                } else {
                    bits.reinterpret_cast::<half::bf16>()
                        .convert_to_f32_slice(o);
                }
            }
        }
        ElemType::U8 => run!(1, |a: [u8; 1]| a[0] as f32),
        ElemType::I8 => run!(1, |a: [u8; 1]| a[0] as i8 as f32),
        ElemType::Bool => run!(1, |a: [u8; 1]| if a[0] != 0 { 1.0 } else { 0.0 }),
        ElemType::I16 => run!(2, |a| i16::from_le_bytes(a) as f32),
        ElemType::I32 => run!(4, |a| i32::from_le_bytes(a) as f32),
        ElemType::I64 => run!(8, |a| i64::from_le_bytes(a) as f32),
    }
}

fn is_c_contiguous(shape: &[usize], stride: &[usize]) -> bool {
    let mut expected = 1usize;
    for (&d, &s) in shape.iter().zip(stride).rev() {
        // Strides of size-1 dimensions are irrelevant (PyTorch leaves arbitrary values there).
        if d != 1 && s != expected {
            return false;
        }
        expected = expected.saturating_mul(d);
    }
    true
}

/// Builds the f32 tensor, checking every index against the buffer so that a corrupt header
/// produces an error instead of a panic. Errors are returned as plain text for the caller to
/// wrap with the file and key.
pub(crate) fn to_f32_tensor(raw: &RawTensor<'_>) -> Result<Tensor, String> {
    let es = raw.elem.size();
    let available = raw.bytes.len() / es;
    let numel = raw
        .shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| format!("shape {:?} overflows", raw.shape))?;
    let contiguous_stride;
    let stride = match &raw.stride {
        Some(s) => {
            if s.len() != raw.shape.len() {
                return Err(format!(
                    "stride {:?} does not match shape {:?}",
                    s, raw.shape
                ));
            }
            s.as_slice()
        }
        None => {
            contiguous_stride = c_strides(&raw.shape);
            contiguous_stride.as_slice()
        }
    };
    // Zeroed allocation maps fresh pages lazily, so this costs no extra pass over memory.
    let mut data = vec![0f32; numel];
    if numel > 0 {
        // Highest element index the layout touches.
        let mut last = raw.offset;
        for (&d, &s) in raw.shape.iter().zip(stride) {
            last = (d - 1)
                .checked_mul(s)
                .and_then(|x| x.checked_add(last))
                .ok_or_else(|| format!("stride {stride:?} overflows"))?;
        }
        if last >= available {
            return Err(format!(
                "shape {:?} with stride {:?} at offset {} needs {} elements but its storage holds {available}",
                raw.shape,
                stride,
                raw.offset,
                last + 1
            ));
        }
        if is_c_contiguous(&raw.shape, stride) {
            let start = raw.offset * es;
            convert_run(&raw.bytes[start..start + numel * es], raw.elem, &mut data);
        } else {
            gather_strided(raw, stride, &mut data);
        }
    }
    Tensor::from_vec(data, raw.shape.as_slice(), &Device::Cpu)
        .map_err(|e| crate::error::candle_msg(&e))
}

fn c_strides(shape: &[usize]) -> Vec<usize> {
    let mut stride = vec![1usize; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        stride[i] = stride[i + 1].saturating_mul(shape[i + 1]);
    }
    stride
}

/// Copies a non-contiguous layout (e.g. a transposed view saved as-is), converting runs along
/// the innermost dimension when it is dense.
fn gather_strided(raw: &RawTensor<'_>, stride: &[usize], out: &mut [f32]) {
    let es = raw.elem.size();
    let rank = raw.shape.len();
    // rank >= 1 and no zero-sized dimension here: 0-d and empty tensors are contiguous.
    let inner = raw.shape[rank - 1];
    let inner_stride = stride[rank - 1];
    let mut index = vec![0usize; rank - 1];
    for row in out.chunks_mut(inner) {
        let base = raw.offset
            + index
                .iter()
                .zip(stride)
                .map(|(&i, &s)| i * s)
                .sum::<usize>();
        if inner_stride == 1 {
            convert_run(&raw.bytes[base * es..(base + inner) * es], raw.elem, row);
        } else {
            for (j, o) in row.iter_mut().enumerate() {
                let at = (base + j * inner_stride) * es;
                convert_run(&raw.bytes[at..at + es], raw.elem, std::slice::from_mut(o));
            }
        }
        // Advance the outer multi-index, last dimension fastest.
        for dim in (0..rank - 1).rev() {
            index[dim] += 1;
            if index[dim] < raw.shape[dim] {
                break;
            }
            index[dim] = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn transposed_layout_is_gathered() {
        let bytes = f32_bytes(&[0., 1., 2., 3., 4., 5.]);
        // Storage is a [3,2] matrix; the tensor is its transpose [2,3] with stride (1,2).
        let raw = RawTensor {
            bytes: &bytes,
            elem: ElemType::F32,
            offset: 0,
            shape: vec![2, 3],
            stride: Some(vec![1, 2]),
        };
        let t = to_f32_tensor(&raw).unwrap();
        assert_eq!(
            t.to_vec2::<f32>().unwrap(),
            vec![vec![0., 2., 4.], vec![1., 3., 5.]]
        );
    }

    #[test]
    fn offset_and_out_of_bounds() {
        let bytes: Vec<u8> = [1.5f32, 2.5, 3.5]
            .iter()
            .map(|&x| half::f16::from_f32(x))
            .flat_map(|h| h.to_le_bytes())
            .collect();
        let ok = RawTensor {
            bytes: &bytes,
            elem: ElemType::F16,
            offset: 1,
            shape: vec![2],
            stride: Some(vec![1]),
        };
        assert_eq!(
            to_f32_tensor(&ok).unwrap().to_vec1::<f32>().unwrap(),
            vec![2.5, 3.5]
        );
        let bad = RawTensor { offset: 2, ..ok };
        assert!(to_f32_tensor(&bad).unwrap_err().contains("storage holds 3"));
    }

    #[test]
    fn half_precision_blocks() {
        let vals: Vec<f32> = (0..2500).map(|i| (i as f32 - 1200.0) * 0.25).collect();
        for elem in [ElemType::F16, ElemType::BF16] {
            let bytes: Vec<u8> = vals
                .iter()
                .flat_map(|&x| match elem {
                    ElemType::F16 => half::f16::from_f32(x).to_le_bytes(),
                    _ => half::bf16::from_f32(x).to_le_bytes(),
                })
                .collect();
            // Start at an odd byte offset to exercise unaligned input.
            let mut shifted = vec![0u8];
            shifted.extend_from_slice(&bytes);
            let raw = RawTensor {
                bytes: &shifted[1..],
                elem,
                offset: 0,
                shape: vec![vals.len()],
                stride: None,
            };
            let got = to_f32_tensor(&raw).unwrap().to_vec1::<f32>().unwrap();
            let want: Vec<f32> = vals
                .iter()
                .map(|&x| match elem {
                    ElemType::F16 => half::f16::from_f32(x).to_f32(),
                    _ => half::bf16::from_f32(x).to_f32(),
                })
                .collect();
            assert_eq!(got, want, "{elem:?}");
        }
    }

    #[test]
    fn zero_dim_and_size_one_strides() {
        let bytes = f32_bytes(&[7.0, 8.0]);
        let scalar = RawTensor {
            bytes: &bytes,
            elem: ElemType::F32,
            offset: 1,
            shape: vec![],
            stride: Some(vec![]),
        };
        let t = to_f32_tensor(&scalar).unwrap();
        assert_eq!(t.dims(), &[] as &[usize]);
        assert_eq!(t.to_scalar::<f32>().unwrap(), 8.0);
        let odd = RawTensor {
            bytes: &bytes,
            elem: ElemType::F32,
            offset: 0,
            shape: vec![1, 2],
            stride: Some(vec![99, 1]),
        };
        assert!(is_c_contiguous(&odd.shape, odd.stride.as_deref().unwrap()));
        assert_eq!(to_f32_tensor(&odd).unwrap().dims(), &[1, 2]);
    }
}
