//! Weights files: names, shapes, round trips, and every malformed file is a
//! `ModelError::Format` naming the file and the tensor, never a panic.

use std::collections::HashMap;
use std::path::Path;

use hdr_model::{params, AnyNetwork, Architecture, Classifier, Cnn, Deep, ModelError};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

fn file_with(tensors: &[(String, Vec<usize>, Dtype)]) -> Vec<u8> {
    let data: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, s, d)| {
            vec![0u8; s.iter().product::<usize>() * if *d == Dtype::F64 { 8 } else { 4 }]
        })
        .collect();
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .zip(&data)
        .map(|((n, s, d), b)| (n.to_string(), TensorView::new(*d, s.clone(), b).unwrap()))
        .collect();
    safetensors::serialize(views, &None).unwrap()
}

fn good() -> Vec<(String, Vec<usize>, Dtype)> {
    params(&Cnn::new(0))
        .into_iter()
        .map(|p| (p.name, p.shape, Dtype::F32))
        .collect()
}

fn format_error(bytes: &[u8]) -> String {
    match Cnn::from_safetensors(bytes, Path::new("artifacts/train/model.safetensors")) {
        Err(e @ ModelError::Format { .. }) => {
            let text = e.to_string();
            assert!(
                text.starts_with("artifacts/train/model.safetensors: "),
                "{text}"
            );
            text
        }
        Err(other) => panic!("expected a format error, got {other}"),
        Ok(_) => panic!("a malformed file was accepted"),
    }
}

#[test]
fn names_shapes_and_round_trip() {
    let cnn = Cnn::new(3);
    let bytes = cnn.to_safetensors();
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = file.names().into_iter().cloned().collect();
    names.sort();
    assert_eq!(
        names,
        [
            "conv1.bias",
            "conv1.weight",
            "conv2.bias",
            "conv2.weight",
            "dense.bias",
            "dense.weight"
        ]
    );
    assert_eq!(file.tensor("conv1.weight").unwrap().shape(), [3, 3, 1, 32]);
    assert_eq!(file.tensor("conv2.weight").unwrap().shape(), [3, 3, 32, 64]);
    assert_eq!(file.tensor("dense.weight").unwrap().shape(), [10, 1600]);
    let total: usize = file
        .tensors()
        .iter()
        .map(|(_, t)| t.shape().iter().product::<usize>())
        .sum();
    assert_eq!(total, Cnn::PARAMETERS);
    assert_eq!(Cnn::PARAMETERS, 34_826);

    let back = Cnn::from_safetensors(&bytes, Path::new("m.safetensors")).unwrap();
    assert_eq!(
        back.to_safetensors(),
        bytes,
        "a round trip keeps every byte"
    );
    let images: Vec<u8> = (0..3 * 784).map(|i| (i * 7 % 256) as u8).collect();
    assert_eq!(
        Classifier::new(back).predict(&images),
        Classifier::new(cnn).predict(&images)
    );
}

#[test]
fn load_reads_a_file_and_reports_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    std::fs::write(&path, Cnn::new(4).to_safetensors()).unwrap();
    assert_eq!(
        Cnn::load(&path).unwrap().to_safetensors(),
        Cnn::new(4).to_safetensors()
    );
    let missing = dir.path().join("nope.safetensors");
    match Classifier::load(&missing) {
        Err(e @ ModelError::Io { .. }) => assert!(e.to_string().contains("nope.safetensors")),
        other => panic!("expected an io error, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn missing_tensor_is_named() {
    let mut t = good();
    t.retain(|(n, _, _)| *n != "conv2.bias");
    let e = format_error(&file_with(&t));
    assert!(e.contains("missing tensor `conv2.bias`"), "{e}");
}

#[test]
fn extra_tensor_is_named() {
    let mut t = good();
    t.push(("dense2.weight".into(), vec![2, 2], Dtype::F32));
    let e = format_error(&file_with(&t));
    assert!(e.contains("unexpected tensor `dense2.weight`"), "{e}");
}

#[test]
fn misshaped_tensor_is_named() {
    let mut t = good();
    t[4].1 = vec![1600, 10]; // dense.weight transposed
    let e = format_error(&file_with(&t));
    assert!(
        e.contains("`dense.weight` has shape [1600, 10], expected [10, 1600]"),
        "{e}"
    );
}

#[test]
fn wrong_dtype_is_named() {
    let mut t = good();
    t[1].2 = Dtype::F64;
    let e = format_error(&file_with(&t));
    assert!(e.contains("`conv1.bias` is F64"), "{e}");
}

#[test]
fn truncated_or_garbage_files_are_format_errors() {
    let bytes = Cnn::new(5).to_safetensors();
    for cut in [0, 4, 8, 100, bytes.len() / 2, bytes.len() - 1] {
        format_error(&bytes[..cut]);
    }
    format_error(b"this is not a safetensors file at all");
    let mut extended = bytes.clone();
    extended.extend_from_slice(&[0; 12]);
    format_error(&extended);
}

#[test]
fn metadata_documents_the_layout() {
    let bytes = Cnn::new(6).to_safetensors();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta: HashMap<String, String> = meta.metadata().clone().unwrap();
    assert!(meta["hdr_layout"].contains("HWIO"), "{meta:?}");
    // `format` is the key Hugging Face tools read as the tensors' framework.
    assert!(!meta.contains_key("format"), "{meta:?}");
    assert_eq!(meta["architecture"], "seed");
    let bytes = Deep::new(6).to_safetensors();
    let (_, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(meta.metadata().clone().unwrap()["architecture"], "deep");
}

#[test]
fn deep_weights_round_trip_and_load_by_their_architecture() {
    let deep = Deep::new(7);
    let bytes = deep.to_safetensors();
    let back = Deep::from_safetensors(&bytes, Path::new("d.safetensors")).unwrap();
    assert_eq!(back.to_safetensors(), bytes);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.safetensors");
    std::fs::write(&path, &bytes).unwrap();
    let classifier = Classifier::load(&path).unwrap();
    assert_eq!(classifier.architecture(), Architecture::Deep);
    let images: Vec<u8> = (0..3 * 784).map(|i| (i * 7 % 256) as u8).collect();
    assert_eq!(
        classifier.predict(&images),
        Classifier::new(deep).predict(&images)
    );
    std::fs::write(&path, Cnn::new(1).to_safetensors()).unwrap();
    assert_eq!(
        Classifier::load(&path).unwrap().architecture(),
        Architecture::Seed
    );
}

#[test]
fn one_architecture_is_not_loaded_as_the_other() {
    let deep = Deep::new(8).to_safetensors();
    let e = Cnn::from_safetensors(&deep, Path::new("m.safetensors"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.starts_with("m.safetensors: ") && e.contains("`deep`") && e.contains("`seed`"),
        "{e}"
    );
    let seed = Cnn::new(8).to_safetensors();
    let e = Deep::from_safetensors(&seed, Path::new("m.safetensors"))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("`seed`") && e.contains("`deep`"), "{e}");
}

#[test]
fn files_without_metadata_are_recognised_by_their_tensor_names() {
    // As written by another tool: the right names, no metadata.
    let plain = |net: &AnyNetwork| {
        let params = match net {
            AnyNetwork::Seed(n) => params(n),
            AnyNetwork::Deep(n) => params(n),
        };
        let data: Vec<(String, Vec<usize>, Vec<u8>)> = params
            .into_iter()
            .map(|p| {
                (
                    p.name,
                    p.shape,
                    p.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                )
            })
            .collect();
        let views: Vec<(String, TensorView)> = data
            .iter()
            .map(|(n, s, b)| {
                (
                    n.clone(),
                    TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
                )
            })
            .collect();
        safetensors::serialize(views, &None).unwrap()
    };
    for a in Architecture::ALL {
        let net = AnyNetwork::new(a, 9);
        let back = AnyNetwork::from_safetensors(&plain(&net), Path::new("p")).unwrap();
        assert_eq!(back.architecture(), a);
        assert_eq!(back.to_safetensors(), net.to_safetensors());
    }
}
