//! Turns a PyTorch `data.pkl` into a flat list of tensor descriptions with dotted keys.
//!
//! The pickle is decoded as data only with candle's pickle VM (`candle_core::pickle::Stack`),
//! which never imports or runs Python code: globals become `Object::Class` values and
//! `REDUCE`/`NEWOBJ`/`BUILD` become inert `Object::Reduce`/`Object::Build` nodes.
//! We then walk that object tree ourselves, because candle's `read_pth_tensor_info` only
//! understands a flat state dict, while a TorchScript archive pickles a nested module graph:
//!
//! ```text
//! Build(Reduce(Class("__torch__.open_clip.model", "CLIP"), ()), Dict{
//!     "positional_embedding": Reduce(Class("torch._utils", "_rebuild_tensor_v2"), (...)),
//!     "training": Bool, "_is_full_backward_hook": None,
//!     "visual": Build(Reduce(Class(..VisionTransformer), ()), Dict{ "conv1": Build(..), .. }),
//! })
//! ```
//!
//! Each module attribute name becomes one component of the key (`visual.conv1.weight`).
//! Non-tensor attributes are skipped silently; unknown reducers are skipped with a warning.

use candle_core::pickle::{Object, Stack};

use crate::convert::ElemType;

/// Deepest object nesting we follow; real checkpoints stay far below (module depth ~ 8), and
/// the bound keeps a hostile file from overflowing the stack.
const MAX_DEPTH: usize = 128;

/// One tensor found in the pickle: where its bytes are and how to view them.
#[derive(Debug, Clone)]
pub(crate) struct PickledTensor {
    pub key: String,
    /// Storage name, i.e. the zip entry `<prefix>/data/<storage>`.
    pub storage: String,
    /// Element type, or the unsupported storage class name (reported only if the key is used).
    pub elem: Result<ElemType, String>,
    /// Storage length in elements as declared in the pickle.
    pub storage_numel: usize,
    pub offset: usize,
    pub shape: Vec<usize>,
    pub stride: Vec<usize>,
}

#[derive(Debug, Default)]
pub(crate) struct Walked {
    pub tensors: Vec<PickledTensor>,
    pub warnings: Vec<String>,
}

/// Decodes pickle bytes into candle's object tree. Errors are plain text, wrapped by the caller
/// with the file and entry name.
pub(crate) fn decode(bytes: &[u8]) -> Result<Object, String> {
    let mut stack = Stack::empty();
    let mut reader = std::io::Cursor::new(bytes);
    let fail = |e: candle_core::Error| {
        let msg = crate::error::candle_msg(&e);
        if msg.contains("failed to fill whole buffer") {
            "the pickle ends prematurely (truncated file?)".to_string()
        } else {
            format!("pickle decoding failed: {msg}")
        }
    };
    stack.read_loop(&mut reader).map_err(fail)?;
    stack.finalize().map_err(fail)
}

/// Walks the root object. A training checkpoint `{"epoch": .., "state_dict": {..}, ..}` is
/// narrowed to its `state_dict` so optimizer tensors do not leak into the weights.
pub(crate) fn walk_root(root: Object) -> Result<Walked, String> {
    let mut out = Walked::default();
    let root = match root {
        Object::Dict(items) => {
            let has_state_dict = items
                .iter()
                .any(|(k, _)| matches!(k, Object::Unicode(s) if s == "state_dict"));
            if has_state_dict {
                let sd = items
                    .into_iter()
                    .find(|(k, _)| matches!(k, Object::Unicode(s) if s == "state_dict"))
                    .map(|(_, v)| v)
                    .unwrap_or(Object::None);
                walk(sd, "", 0, false, &mut out)?;
                return Ok(out);
            }
            Object::Dict(items)
        }
        other => other,
    };
    walk(root, "", 0, false, &mut out)?;
    Ok(out)
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn dict_key(k: &Object) -> Option<String> {
    match k {
        Object::Unicode(s) => Some(s.clone()),
        Object::Int(i) => Some(i.to_string()),
        Object::Long(i) => Some(i.to_string()),
        _ => None,
    }
}

/// `in_module` marks the attribute dict of a pickled module object, where `_parameters`,
/// `_buffers` and `_modules` (a full `torch.save(model)`) are transparent containers and other
/// private attributes (hooks, flags) are not weights.
fn walk(
    obj: Object,
    prefix: &str,
    depth: usize,
    in_module: bool,
    out: &mut Walked,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "objects nested deeper than {MAX_DEPTH} levels at '{prefix}'"
        ));
    }
    match obj {
        Object::Dict(items) => {
            for (k, v) in items {
                let Some(name) = dict_key(&k) else { continue };
                if name == "_metadata" {
                    // OrderedDict state of a state_dict: per-module version numbers.
                    continue;
                }
                if in_module && name.starts_with('_') {
                    if matches!(name.as_str(), "_parameters" | "_buffers" | "_modules") {
                        walk(v, prefix, depth + 1, false, out)?;
                    }
                    continue;
                }
                walk(v, &join(prefix, &name), depth + 1, false, out)?;
            }
            Ok(())
        }
        Object::Build { callable, args } => {
            if let Some(t) = as_tensor(*callable.clone(), prefix)? {
                // Tensor subclass with extra state (e.g. `_rebuild_from_type_v2` + BUILD).
                out.tensors.push(t);
                return Ok(());
            }
            match *args {
                // `copyreg` objects may carry (state, slotstate).
                Object::Tuple(mut parts) if !parts.is_empty() => {
                    walk(parts.swap_remove(0), prefix, depth + 1, true, out)
                }
                args => walk(args, prefix, depth + 1, true, out),
            }
        }
        Object::Reduce { callable, args } => {
            let reduce = Object::Reduce { callable, args };
            match as_tensor(reduce.clone(), prefix)? {
                Some(t) => {
                    out.tensors.push(t);
                    Ok(())
                }
                None => {
                    let what = match reduce {
                        Object::Reduce { callable, .. } => describe(&callable),
                        _ => String::new(),
                    };
                    out.warnings.push(format!(
                        "skipped '{prefix}': unsupported pickled object {what} (not a tensor)"
                    ));
                    Ok(())
                }
            }
        }
        Object::List(items) | Object::Tuple(items) => {
            for (i, v) in items.into_iter().enumerate() {
                if contains_reduce(&v) {
                    walk(v, &join(prefix, &i.to_string()), depth + 1, false, out)?;
                }
            }
            Ok(())
        }
        // Plain attributes (`training`, hyper-parameters, None, strings): not weights.
        _ => Ok(()),
    }
}

/// Lists of plain numbers are common module attributes; only descend where tensors may be.
fn contains_reduce(obj: &Object) -> bool {
    match obj {
        Object::Reduce { .. } | Object::Build { .. } | Object::Dict(_) => true,
        Object::List(v) | Object::Tuple(v) => v.iter().any(contains_reduce),
        _ => false,
    }
}

fn describe(obj: &Object) -> String {
    match obj {
        Object::Class {
            module_name,
            class_name,
        } => format!("{module_name}.{class_name}"),
        other => {
            let s = format!("{other:?}");
            s.chars().take(60).collect()
        }
    }
}

fn class_of(obj: &Object) -> Option<(&str, &str)> {
    match obj {
        Object::Class {
            module_name,
            class_name,
        } => Some((module_name.as_str(), class_name.as_str())),
        _ => None,
    }
}

/// Recognises PyTorch's tensor reconstruction calls; `Ok(None)` if `obj` is something else.
fn as_tensor(obj: Object, key: &str) -> Result<Option<PickledTensor>, String> {
    let Object::Reduce { callable, args } = obj else {
        return Ok(None);
    };
    let Some((module, name)) = class_of(&callable) else {
        return Ok(None);
    };
    let bad = |what: &str| format!("tensor '{key}': malformed {module}.{name} call ({what})");
    match (module, name) {
        ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
            let Object::Tuple(args) = *args else {
                return Err(bad("arguments are not a tuple"));
            };
            rebuild_tensor(args, key).map(Some).map_err(|e| bad(&e))
        }
        // Parameter(data, requires_grad, hooks[, state]): the data is itself a rebuild call.
        ("torch._utils", "_rebuild_parameter")
        | ("torch._utils", "_rebuild_parameter_with_state") => match *args {
            Object::Tuple(mut a) if !a.is_empty() => as_tensor(a.swap_remove(0), key),
            _ => Err(bad("arguments are not a tuple")),
        },
        // Tensor subclasses: (func, type, args, state) means func(*args).
        ("torch._tensor", "_rebuild_from_type_v2") => match *args {
            Object::Tuple(a) if a.len() >= 3 => {
                let mut it = a.into_iter();
                let func = it.next().unwrap_or(Object::None);
                let inner_args = it.nth(1).unwrap_or(Object::None);
                as_tensor(
                    Object::Reduce {
                        callable: Box::new(func),
                        args: Box::new(inner_args),
                    },
                    key,
                )
            }
            _ => Err(bad("expected (func, type, args, state)")),
        },
        _ => Ok(None),
    }
}

fn to_usize(obj: &Object) -> Option<usize> {
    match obj {
        Object::Int(i) => usize::try_from(*i).ok(),
        Object::Long(i) => usize::try_from(*i).ok(),
        _ => None,
    }
}

fn usize_tuple(obj: &Object) -> Option<Vec<usize>> {
    match obj {
        Object::Tuple(v) | Object::List(v) => v.iter().map(to_usize).collect(),
        _ => None,
    }
}

/// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata])`
/// where `storage` is `PersistentLoad(("storage", torch.<T>Storage, key, location, numel))`.
fn rebuild_tensor(args: Vec<Object>, key: &str) -> Result<PickledTensor, String> {
    if args.len() < 4 {
        return Err(format!("{} arguments, expected at least 4", args.len()));
    }
    let Object::PersistentLoad(pid) = &args[0] else {
        return Err("first argument is not a persistent storage id".into());
    };
    let Object::Tuple(pid) = pid.as_ref() else {
        return Err("storage id is not a tuple".into());
    };
    if pid.len() < 5 || !matches!(&pid[0], Object::Unicode(s) if s == "storage") {
        return Err("storage id is not ('storage', type, key, location, numel)".into());
    }
    let class_name = match &pid[1] {
        Object::Class { class_name, .. } => class_name.clone(),
        _ => return Err("storage type is not a class".into()),
    };
    let storage = match &pid[2] {
        Object::Unicode(s) => s.clone(),
        other => dict_key(other).ok_or("storage key is not a string")?,
    };
    let storage_numel = to_usize(&pid[4]).ok_or("storage size is not an integer")?;
    let offset = to_usize(&args[1]).ok_or("storage offset is not an integer")?;
    let shape = usize_tuple(&args[2]).ok_or("size is not a tuple of integers")?;
    let stride = usize_tuple(&args[3]).ok_or("stride is not a tuple of non-negative integers")?;
    if shape.len() != stride.len() {
        return Err(format!(
            "size {shape:?} and stride {stride:?} differ in rank"
        ));
    }
    let elem = ElemType::from_torch_storage(&class_name).ok_or(class_name);
    Ok(PickledTensor {
        key: key.to_string(),
        storage,
        elem,
        storage_numel,
        offset,
        shape,
        stride,
    })
}
