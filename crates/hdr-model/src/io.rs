//! Safetensors reading and writing, with errors that name the file and tensor.

use std::collections::HashMap;
use std::path::Path;

use ::safetensors::tensor::{Dtype as SafeDtype, SafeTensors, TensorView};

use crate::network::Cnn;
use crate::ModelError;

/// Names and shapes of the network's tensors, in file order.
pub const TENSORS: [(&str, &[usize]); 6] = [
    ("conv1.weight", &[3, 3, 1, 32]),
    ("conv1.bias", &[32]),
    ("conv2.weight", &[3, 3, 32, 64]),
    ("conv2.bias", &[64]),
    ("dense.weight", &[10, 1600]),
    ("dense.bias", &[10]),
];

/// The `__metadata__` entry of a weights file (one key: safetensors keeps
/// metadata in a hash map, and one key keeps the bytes reproducible).
const LAYOUT_NOTE: &str =
    "hdr-model v1: NHWC activations; conv kernels [kh, kw, in, out] (Keras HWIO); \
dense.weight [out, in] with inputs in Keras flatten order (row, column, channel); f32";

impl Cnn {
    /// The parameters as flat vectors, in [`TENSORS`] order.
    pub(crate) fn param_values(&self) -> [Vec<f32>; 6] {
        [
            self.conv1.weight.as_vec(),
            self.conv1.bias.as_vec(),
            self.conv2.weight.as_vec(),
            self.conv2.bias.as_vec(),
            self.dense.weight.as_vec(),
            self.dense.bias.as_vec(),
        ]
    }

    /// Sets the parameters from flat vectors in [`TENSORS`] order (lengths already checked).
    pub(crate) fn set_param_values(&mut self, values: &[Vec<f32>]) {
        self.conv1.weight.copy_from(&values[0]);
        self.conv1.bias.copy_from(&values[1]);
        self.conv2.weight.copy_from(&values[2]);
        self.conv2.bias.copy_from(&values[3]);
        self.dense.weight.copy_from(&values[4]);
        self.dense.bias.copy_from(&values[5]);
    }

    /// The weights as a safetensors file's bytes (tensor names say what they are).
    ///
    /// Tensors: `conv1.weight [3,3,1,32]`, `conv1.bias [32]`, `conv2.weight [3,3,32,64]`,
    /// `conv2.bias [64]`, `dense.weight [10,1600]`, `dense.bias [10]`, all f32;
    /// the same weights always give the same bytes.
    pub fn to_safetensors(&self) -> Vec<u8> {
        let values = self.param_values();
        let named: Vec<(String, &[usize], &[f32])> = TENSORS
            .iter()
            .zip(&values)
            .map(|((name, shape), v)| (name.to_string(), *shape, v.as_slice()))
            .collect();
        write_tensors(&named, ("format", LAYOUT_NOTE))
    }

    /// Reads weights from safetensors bytes; `origin` names the file in errors.
    pub fn from_safetensors(bytes: &[u8], origin: &Path) -> Result<Self, ModelError> {
        let expected: Vec<(String, Vec<usize>)> = TENSORS
            .iter()
            .map(|(n, s)| (n.to_string(), s.to_vec()))
            .collect();
        let (values, _) = read_tensors(bytes, origin, &expected)?;
        let mut cnn = Cnn::new(0);
        cnn.set_param_values(&values);
        Ok(cnn)
    }

    /// Loads weights from a safetensors file.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_safetensors(&bytes, path)
    }
}

/// A safetensors file's `__metadata__` entries.
pub(crate) type Metadata = HashMap<String, String>;

/// Serialises f32 tensors `(name, shape, data)` with one metadata entry.
pub(crate) fn write_tensors(
    tensors: &[(String, &[usize], &[f32])],
    metadata: (&str, &str),
) -> Vec<u8> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, data)| data.iter().flat_map(|v| v.to_le_bytes()).collect())
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, _), b)| {
            let view = TensorView::new(SafeDtype::F32, shape.to_vec(), b)
                .expect("shape matches data length");
            (name.clone(), view)
        })
        .collect();
    let meta = Some(HashMap::from([(
        metadata.0.to_string(),
        metadata.1.to_string(),
    )]));
    ::safetensors::tensor::serialize(views, &meta).expect("in-memory serialisation cannot fail")
}

/// Reads exactly the `expected` f32 tensors (no more, no fewer, same shapes)
/// and returns their values in that order plus the file's metadata.
pub(crate) fn read_tensors(
    bytes: &[u8],
    origin: &Path,
    expected: &[(String, Vec<usize>)],
) -> Result<(Vec<Vec<f32>>, Metadata), ModelError> {
    let format = |message: String| ModelError::Format {
        path: origin.display().to_string(),
        message,
    };
    let file = SafeTensors::deserialize(bytes).map_err(|e| {
        format(format!(
            "not a readable safetensors file (truncated or corrupt?): {e:?}"
        ))
    })?;
    let mut names: Vec<&String> = file.names();
    names.sort();
    for name in names {
        if !expected.iter().any(|(n, _)| n == name) {
            let wanted: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
            return Err(format(format!(
                "unexpected tensor `{name}` (this model has {})",
                wanted.join(", ")
            )));
        }
    }
    let mut values = Vec::with_capacity(expected.len());
    for (name, shape) in expected {
        let view = file
            .tensor(name)
            .map_err(|_| format(format!("missing tensor `{name}` (expected f32 {shape:?})")))?;
        if view.dtype() != SafeDtype::F32 {
            return Err(format(format!(
                "tensor `{name}` is {:?}, expected F32",
                view.dtype()
            )));
        }
        if view.shape() != shape.as_slice() {
            return Err(format(format!(
                "tensor `{name}` has shape {:?}, expected {shape:?}",
                view.shape()
            )));
        }
        let data = view.data();
        let n: usize = shape.iter().product();
        if data.len() != n * 4 {
            return Err(format(format!(
                "tensor `{name}` holds {} bytes, expected {}",
                data.len(),
                n * 4
            )));
        }
        values.push(
            data.chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        );
    }
    let metadata = SafeTensors::read_metadata(bytes)
        .ok()
        .and_then(|(_, m)| m.metadata().clone())
        .unwrap_or_default();
    Ok((values, metadata))
}
