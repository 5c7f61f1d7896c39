//! What the file says about itself (read back with tract's independent ONNX
//! types), reproducible bytes, and writing: parents created, errors that name
//! the path, nothing half-written.

use crate::common::{conv, dense, Rng};
use hdr_export::{to_onnx, write_onnx, ExportError, Layer, Network, IR_VERSION, OPSET};
use prost::Message;
use tract_onnx::pb;

fn small_network(metadata: Vec<(String, String)>) -> Network {
    let mut rng = Rng::new(21);
    Network {
        input_side: 28,
        input_channels: 1,
        layers: vec![
            conv(&mut rng, 3, 1, 4),
            Layer::Relu,
            Layer::MaxPool { size: 2 },
            Layer::Flatten,
            Layer::Dropout,
            dense(&mut rng, 13 * 13 * 4, 10, 1.0),
            Layer::Softmax,
        ],
        metadata,
    }
}

fn card() -> Vec<(String, String)> {
    vec![
        ("architecture".into(), "conv1: Conv2D 1->4 3x3".into()),
        ("data_sha256".into(), "abc123".into()),
    ]
}

#[test]
fn the_file_states_its_opset_layout_shapes_and_card() {
    let bytes = to_onnx(&small_network(card())).unwrap();
    let model = pb::ModelProto::decode(bytes.as_slice()).unwrap();
    assert_eq!(model.ir_version, IR_VERSION);
    assert_eq!(model.opset_import.len(), 1);
    assert_eq!(model.opset_import[0].version, OPSET);
    let props: Vec<(String, String)> = model
        .metadata_props
        .iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect();
    let get = |k: &str| {
        props
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.clone())
    };
    let layout = get("input_layout").unwrap();
    assert!(layout.contains("[N, 28, 28, 1], NHWC"), "{layout}");
    assert!(layout.contains("/ 255"), "{layout}");
    assert_eq!(get("output").unwrap(), "probabilities: float32 [N, 10]");
    assert_eq!(get("data_sha256").unwrap(), "abc123");
    assert_eq!(get("architecture").unwrap(), "conv1: Conv2D 1->4 3x3");

    let graph = model.graph.unwrap();
    assert!(graph.doc_string.contains("NHWC"), "{}", graph.doc_string);
    let ops = graph
        .node
        .iter()
        .map(|n| n.op_type.as_str())
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(
        ops, "Transpose,Conv,Relu,MaxPool,Transpose,Flatten,Gemm,Softmax",
        "dropout adds no node"
    );
    let dims = |info: &pb::ValueInfoProto| -> Vec<String> {
        let Some(pb::type_proto::Value::TensorType(t)) = &info.r#type.as_ref().unwrap().value
        else {
            panic!("not a tensor")
        };
        t.shape
            .as_ref()
            .unwrap()
            .dim
            .iter()
            .map(|d| match &d.value {
                Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) => v.to_string(),
                Some(pb::tensor_shape_proto::dimension::Value::DimParam(p)) => p.clone(),
                None => "?".into(),
            })
            .collect()
    };
    assert_eq!(graph.input[0].name, "image");
    assert_eq!(dims(&graph.input[0]), ["N", "28", "28", "1"]);
    assert_eq!(graph.output[0].name, "probabilities");
    assert_eq!(dims(&graph.output[0]), ["N", "10"]);
}

#[test]
fn the_same_network_gives_the_same_bytes() {
    assert_eq!(
        to_onnx(&small_network(card())).unwrap(),
        to_onnx(&small_network(card())).unwrap()
    );
}

#[test]
fn duplicate_card_keys_are_refused() {
    let mut metadata = card();
    metadata.push(("input_layout".into(), "mine".into()));
    let err = to_onnx(&small_network(metadata)).unwrap_err();
    assert!(
        matches!(err, ExportError::DuplicateMetadata(ref k) if k == "input_layout"),
        "{err}"
    );
}

#[test]
fn a_bad_layer_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.onnx");
    std::fs::write(&path, b"previous").unwrap();
    let mut network = small_network(card());
    network.layers.remove(3); // Flatten
    let err = write_onnx(&network, &path).unwrap_err().to_string();
    assert!(
        err.contains("layer 4 (dense)") && err.contains("Flatten"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"previous");
}

#[test]
fn missing_parent_folders_are_created() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/model.onnx");
    write_onnx(&small_network(card()), &path).unwrap();
    assert!(path.is_file());
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 1, "no temporary files left: {leftovers:?}");
}

#[test]
fn a_parent_that_is_a_file_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, b"not a folder").unwrap();
    let path = file.join("model.onnx");
    let err = write_onnx(&small_network(card()), &path).unwrap_err();
    assert!(matches!(err, ExportError::Write { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
}

#[cfg(unix)]
#[test]
fn a_read_only_folder_is_an_error_naming_the_path() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let locked = dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    // Root (as in CI containers) writes anyway: then there is nothing to test.
    let probe = locked.join("probe");
    if std::fs::write(&probe, b"x").is_ok() {
        eprintln!("skipped: this process may write into read-only folders (root)");
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        return;
    }
    let path = locked.join("model.onnx");
    let message = write_onnx(&small_network(card()), &path)
        .unwrap_err()
        .to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("ermission denied"), "{message}");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
}
