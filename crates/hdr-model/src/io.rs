//! Safetensors files: a writer whose bytes depend only on the contents, a
//! reader whose errors name the file and the tensor, and the networks'
//! weights files.
//!
//! A weights file holds one f32 tensor per parameter, under the names the
//! network's parameter walk gives (`conv1.weight`, ...), and two metadata
//! entries: `architecture` (`seed` or `deep`) and `format` (the layout).

use std::collections::BTreeMap;
use std::path::Path;

use ::safetensors::tensor::{Dtype, SafeTensors};

use crate::error::ModelError;
use crate::networks::{
    for_each_mut, params, with_network, AnyNetwork, Architecture, Cnn, Deep, Network,
};

/// The metadata key of the layout note. Not `format`: Hugging Face tools read
/// that key as the framework of the tensors (`pt`, `tf`, ...).
const LAYOUT_KEY: &str = "hdr_layout";

/// The layout note of a weights file.
const LAYOUT_NOTE: &str =
    "hdr-model v1: NHWC activations; conv kernels [kh, kw, in, out] (Keras HWIO); \
dense.weight [out, in] with inputs in Keras flatten order (row, column, channel); f32";

/// The metadata key naming the architecture.
const ARCHITECTURE_KEY: &str = "architecture";

/// One stored tensor: its dtype, shape and little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    dtype: Dtype,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

/// The tensors and metadata of a safetensors file, to build one or to take
/// a read one apart tensor by tensor.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TensorFile {
    tensors: BTreeMap<String, Entry>,
    metadata: BTreeMap<String, String>,
    /// The file the tensors were read from (named in errors).
    origin: String,
}

impl TensorFile {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an f32 tensor.
    ///
    /// # Panics
    /// If `values` does not hold `shape`'s number of elements.
    pub fn push_f32(&mut self, name: impl Into<String>, shape: &[usize], values: &[f32]) {
        assert_eq!(values.len(), shape.iter().product::<usize>(), "tensor size");
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.insert(name.into(), Dtype::F32, shape, bytes);
    }

    /// Adds an f64 tensor.
    ///
    /// # Panics
    /// If `values` does not hold `shape`'s number of elements.
    pub fn push_f64(&mut self, name: impl Into<String>, shape: &[usize], values: &[f64]) {
        assert_eq!(values.len(), shape.iter().product::<usize>(), "tensor size");
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.insert(name.into(), Dtype::F64, shape, bytes);
    }

    fn insert(&mut self, name: String, dtype: Dtype, shape: &[usize], bytes: Vec<u8>) {
        let entry = Entry {
            dtype,
            shape: shape.to_vec(),
            bytes,
        };
        assert!(
            self.tensors.insert(name, entry).is_none(),
            "duplicate tensor"
        );
    }

    /// Sets a `__metadata__` entry.
    pub fn set_metadata(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.metadata.insert(key.into(), value.into());
    }

    /// A `__metadata__` entry.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// A `__metadata__` entry that must be there; the error names the file and key.
    pub fn require_metadata(&self, key: &str) -> Result<&str, ModelError> {
        self.metadata(key)
            .ok_or_else(|| self.error(format!("metadata has no `{key}`")))
    }

    /// The names of the tensors not taken yet, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// A format error naming this file.
    pub fn error(&self, message: impl Into<String>) -> ModelError {
        ModelError::Format {
            path: self.origin.clone(),
            message: message.into(),
        }
    }

    /// The file's bytes: tensors ordered as the `safetensors` crate orders
    /// them (wider dtypes first, then by name), metadata keys sorted, so the
    /// same contents always give the same bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut order: Vec<(&String, &Entry)> = self.tensors.iter().collect();
        order.sort_by(|(a, x), (b, y)| y.dtype.cmp(&x.dtype).then(a.cmp(b)));
        let text = |s: &str| serde_json::to_string(s).expect("strings serialise");
        let mut header = String::from("{");
        if !self.metadata.is_empty() {
            let entries: Vec<String> = self
                .metadata
                .iter()
                .map(|(k, v)| format!("{}:{}", text(k), text(v)))
                .collect();
            header.push_str(&format!("\"__metadata__\":{{{}}}", entries.join(",")));
        }
        let mut offset = 0;
        for (name, entry) in &order {
            if header.len() > 1 {
                header.push(',');
            }
            let shape: Vec<String> = entry.shape.iter().map(usize::to_string).collect();
            let end = offset + entry.bytes.len();
            header.push_str(&format!(
                "{}:{{\"dtype\":\"{:?}\",\"shape\":[{}],\"data_offsets\":[{offset},{end}]}}",
                text(name),
                entry.dtype,
                shape.join(",")
            ));
            offset = end;
        }
        header.push('}');
        while header.len() % 8 != 0 {
            header.push(' ');
        }
        let mut out = Vec::with_capacity(8 + header.len() + offset);
        out.extend_from_slice(&(header.len() as u64).to_le_bytes());
        out.extend_from_slice(header.as_bytes());
        for (_, entry) in order {
            out.extend_from_slice(&entry.bytes);
        }
        out
    }

    /// Reads a safetensors file's bytes; `origin` names the file in errors.
    pub fn from_bytes(bytes: &[u8], origin: &Path) -> Result<Self, ModelError> {
        let mut file = Self {
            origin: origin.display().to_string(),
            ..Self::default()
        };
        let parsed = SafeTensors::deserialize(bytes).map_err(|e| {
            file.error(format!(
                "not a readable safetensors file (truncated or corrupt?): {e:?}"
            ))
        })?;
        for (name, view) in parsed.tensors() {
            let entry = Entry {
                dtype: view.dtype(),
                shape: view.shape().to_vec(),
                bytes: view.data().to_vec(),
            };
            file.tensors.insert(name, entry);
        }
        if let Ok((_, meta)) = SafeTensors::read_metadata(bytes) {
            file.metadata = meta
                .metadata()
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
        }
        Ok(file)
    }

    /// Removes and returns the tensor `name`, which must be `dtype` of `shape`.
    fn take(&mut self, name: &str, dtype: Dtype, shape: &[usize]) -> Result<Vec<u8>, ModelError> {
        let Some(entry) = self.tensors.remove(name) else {
            return Err(self.error(format!(
                "missing tensor `{name}` (expected {dtype:?} {shape:?})"
            )));
        };
        if entry.dtype != dtype {
            return Err(self.error(format!(
                "tensor `{name}` is {:?}, expected {dtype:?}",
                entry.dtype
            )));
        }
        if entry.shape != shape {
            return Err(self.error(format!(
                "tensor `{name}` has shape {:?}, expected {shape:?}",
                entry.shape
            )));
        }
        Ok(entry.bytes)
    }

    /// Removes and returns the f32 tensor `name` of `shape`.
    pub fn take_f32(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ModelError> {
        let bytes = self.take(name, Dtype::F32, shape)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect())
    }

    /// Removes and returns the f64 tensor `name` of `shape`.
    pub fn take_f64(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f64>, ModelError> {
        let bytes = self.take(name, Dtype::F64, shape)?;
        Ok(bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect())
    }

    /// Checks that every tensor was taken: a left-over one is an error naming it.
    pub fn finish(self) -> Result<(), ModelError> {
        match self.names().next() {
            Some(name) => Err(self.error(format!("unexpected tensor `{name}`"))),
            None => Ok(()),
        }
    }

    /// Which network's weights this file holds: its `architecture` entry,
    /// else (a file written elsewhere) the architecture whose tensor names it
    /// has exactly, else `None`.
    fn architecture(&self) -> Result<Option<Architecture>, ModelError> {
        if let Some(name) = self.metadata(ARCHITECTURE_KEY) {
            return Architecture::from_name(name).map(Some).ok_or_else(|| {
                self.error(format!(
                    "metadata `{ARCHITECTURE_KEY}` is `{name}`, not one of {}",
                    Architecture::NAMES.join(", ")
                ))
            });
        }
        let names: Vec<&str> = self.names().collect();
        Ok(Architecture::ALL.into_iter().find(|a| {
            let mut wanted: Vec<String> = with_network!(&AnyNetwork::new(*a, 0), n => params(n))
                .into_iter()
                .map(|p| p.name)
                .collect();
            wanted.sort();
            wanted == names
        }))
    }

    /// Writes `net`'s parameters and the weights-file metadata into this file.
    pub fn push_weights<N: Network>(&mut self, net: &N, prefix: &str) {
        for p in params(net) {
            self.push_f32(format!("{prefix}{}", p.name), &p.shape, &p.values);
        }
    }

    /// Takes the parameters of an `N` (named with `prefix`) out of this file.
    pub fn take_weights<N: Network>(&mut self, prefix: &str) -> Result<N, ModelError> {
        let mut net = N::zeros(&dfdx::prelude::Cpu::default());
        for_each_mut(&mut net, |name, mut t| {
            let values = self.take_f32(&format!("{prefix}{name}"), &t.dims())?;
            t.set_values(&values);
            Ok(())
        })?;
        Ok(net)
    }

    /// Reads the weights of an `N` and checks there is nothing else.
    fn into_weights<N: Network>(mut self) -> Result<N, ModelError> {
        let found = self.architecture()?;
        if let Some(found) = found.filter(|&a| a != N::ARCHITECTURE) {
            return Err(self.error(format!(
                "holds the weights of the `{found}` network, not of the `{}` network asked for",
                N::ARCHITECTURE
            )));
        }
        let wanted: Vec<String> = params(&N::zeros(&Default::default()))
            .into_iter()
            .map(|p| p.name)
            .collect();
        if let Some(extra) = self.names().find(|n| !wanted.iter().any(|w| w == n)) {
            return Err(self.error(format!(
                "unexpected tensor `{extra}` (the `{}` network has {})",
                N::ARCHITECTURE,
                wanted.join(", ")
            )));
        }
        let net = self.take_weights::<N>("")?;
        self.finish()?;
        Ok(net)
    }
}

/// The bytes of `net`'s weights file (the same weights always give the same bytes).
fn weights_bytes<N: Network>(net: &N) -> Vec<u8> {
    let mut file = TensorFile::new();
    file.push_weights(net, "");
    file.set_metadata(ARCHITECTURE_KEY, N::ARCHITECTURE.name());
    file.set_metadata(LAYOUT_KEY, LAYOUT_NOTE);
    file.to_bytes()
}

fn read_file(path: &Path) -> Result<Vec<u8>, ModelError> {
    std::fs::read(path).map_err(|source| ModelError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Weights files for one network type.
macro_rules! weights_file_methods {
    ($net:ty) => {
        impl $net {
            /// The weights as a safetensors file's bytes (tensor names say
            /// what they are; the metadata names the architecture).
            pub fn to_safetensors(&self) -> Vec<u8> {
                weights_bytes(self)
            }

            /// Reads weights from safetensors bytes; `origin` names the file
            /// in errors, and another architecture's weights are an error naming both.
            pub fn from_safetensors(bytes: &[u8], origin: &Path) -> Result<Self, ModelError> {
                TensorFile::from_bytes(bytes, origin)?.into_weights()
            }

            /// Loads weights from a safetensors file.
            pub fn load(path: &Path) -> Result<Self, ModelError> {
                Self::from_safetensors(&read_file(path)?, path)
            }
        }
    };
}

weights_file_methods!(Cnn);
weights_file_methods!(Deep);

impl AnyNetwork {
    /// The weights as a safetensors file's bytes.
    pub fn to_safetensors(&self) -> Vec<u8> {
        with_network!(self, n => weights_bytes(n))
    }

    /// Reads the weights of whichever network the bytes hold (by their
    /// `architecture` metadata, or their tensor names); `origin` names the file in errors.
    pub fn from_safetensors(bytes: &[u8], origin: &Path) -> Result<Self, ModelError> {
        let file = TensorFile::from_bytes(bytes, origin)?;
        Ok(match file.architecture()?.unwrap_or_default() {
            Architecture::Seed => AnyNetwork::Seed(file.into_weights()?),
            Architecture::Deep => AnyNetwork::Deep(file.into_weights()?),
        })
    }

    /// Loads the weights of whichever network the file holds.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        Self::from_safetensors(&read_file(path)?, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_depend_only_on_the_contents_and_read_back() {
        let build = |order: bool| {
            let mut f = TensorFile::new();
            let mut items = vec![("b", vec![1.0f32, 2.0]), ("a", vec![3.0])];
            if order {
                items.reverse();
            }
            for (name, v) in items {
                f.push_f32(name, &[v.len()], &v);
            }
            f.push_f64("h", &[1, 2], &[0.1, 0.2]);
            f.set_metadata("z", "last");
            f.set_metadata("a", "first \"quoted\"");
            f.to_bytes()
        };
        let bytes = build(false);
        assert_eq!(bytes, build(true));
        let mut back = TensorFile::from_bytes(&bytes, Path::new("x.safetensors")).unwrap();
        assert_eq!(back.metadata("a"), Some("first \"quoted\""));
        assert_eq!(back.take_f64("h", &[1, 2]).unwrap(), [0.1, 0.2]);
        assert_eq!(back.take_f32("b", &[2]).unwrap(), [1.0, 2.0]);
        let err = back.clone().finish().unwrap_err().to_string();
        assert_eq!(err, "x.safetensors: unexpected tensor `a`");
        assert!(back.take_f32("a", &[2]).is_err());
    }

    #[test]
    fn seed_weights_bytes_match_the_safetensors_crate() {
        // The crate's own serialiser, with the same single metadata entry,
        // gives the same bytes: the layout is the standard one.
        let net = Cnn::new(3);
        let mut file = TensorFile::new();
        file.push_weights(&net, "");
        file.set_metadata(LAYOUT_KEY, LAYOUT_NOTE);
        let data: Vec<(String, Vec<usize>, Vec<u8>)> = params(&net)
            .into_iter()
            .map(|p| {
                let bytes = p.values.iter().flat_map(|v| v.to_le_bytes()).collect();
                (p.name, p.shape, bytes)
            })
            .collect();
        let views: Vec<(String, ::safetensors::tensor::TensorView)> = data
            .iter()
            .map(|(n, s, b)| {
                let view =
                    ::safetensors::tensor::TensorView::new(Dtype::F32, s.clone(), b).unwrap();
                (n.clone(), view)
            })
            .collect();
        let meta = Some(std::collections::HashMap::from([(
            LAYOUT_KEY.to_string(),
            LAYOUT_NOTE.to_string(),
        )]));
        let theirs = ::safetensors::tensor::serialize(views, &meta).unwrap();
        assert_eq!(file.to_bytes(), theirs);
    }
}
