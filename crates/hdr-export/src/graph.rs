//! The ONNX graph of a [`Network`]: nodes, initializers, inputs and outputs,
//! encoded with prost.

use std::collections::HashSet;
use std::path::Path;

use prost::Message;

use crate::network::{Layer, Network};
use crate::onnx_pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, tensor_shape_proto::dimension,
    tensor_shape_proto::Dimension, type_proto, AttributeProto, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto,
    ValueInfoProto,
};
use crate::{
    ExportError, INPUT_NAME, INPUT_SCALING, IR_VERSION, METADATA_INPUT_LAYOUT, METADATA_OUTPUT,
    OPSET,
};

/// Name of the dynamic batch dimension.
const BATCH_DIM: &str = "N";
/// NHWC → NCHW, for `Conv` and `MaxPool`.
const TO_NCHW: [i64; 4] = [0, 3, 1, 2];
/// NCHW → NHWC, before `Flatten`.
const TO_NHWC: [i64; 4] = [0, 2, 3, 1];

/// The bytes of the ONNX model of `network`: the same network always gives the same bytes.
pub fn to_onnx(network: &Network) -> Result<Vec<u8>, ExportError> {
    Ok(model(network)?.encode_to_vec())
}

/// Writes the ONNX model of `network` to `path`, creating missing parent
/// folders; atomically, so an error leaves any previous file unchanged.
pub fn write_onnx(network: &Network, path: &Path) -> Result<(), ExportError> {
    let bytes = to_onnx(network)?;
    let mut set = hdr_common::OutputSet::new();
    set.write(path, &bytes)
        .and_then(|()| set.commit().map(|_| ()))
        .map_err(|e| ExportError::write(path, e))
}

/// Where the current tensor's channels are (images only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Nhwc,
    Nchw,
}

/// Builds the graph node by node, keeping the name of the current tensor.
struct Builder {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    current: String,
    layout: Layout,
    /// How many nodes of each kind so far, for names like `conv2`.
    counts: Vec<(&'static str, usize)>,
}

impl Builder {
    /// A fresh name for a node of `kind` (`conv1`, `conv2`, …).
    fn name(&mut self, kind: &'static str) -> String {
        let count = match self.counts.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                self.counts.push((kind, 1));
                1
            }
        };
        format!("{kind}{count}")
    }

    /// Appends a node reading the current tensor (then `extra_inputs`); its output becomes current.
    fn node(
        &mut self,
        kind: &'static str,
        op_type: &str,
        extra_inputs: &[String],
        attribute: Vec<AttributeProto>,
    ) {
        let name = self.name(kind);
        self.push_named(name, op_type, extra_inputs, attribute);
    }

    fn initializer(&mut self, name: String, dims: &[usize], values: &[f32]) -> String {
        self.initializers.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: Some(DataType::Float as i32),
            name: Some(name.clone()),
            raw_data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
            ..Default::default()
        });
        name
    }

    /// Transposes the current image to `layout` unless it is already there.
    fn ensure_layout(&mut self, layout: Layout) {
        if self.layout == layout {
            return;
        }
        let (kind, perm) = match layout {
            Layout::Nchw => ("to_nchw", TO_NCHW),
            Layout::Nhwc => ("to_nhwc", TO_NHWC),
        };
        self.node(kind, "Transpose", &[], vec![ints("perm", &perm)]);
        self.layout = layout;
    }

    fn layer(&mut self, layer: &Layer) {
        match layer {
            Layer::Conv2d {
                kernel,
                in_channels,
                out_channels,
                weight_hwio,
                bias,
            } => {
                self.ensure_layout(Layout::Nchw);
                let name = self.name("conv");
                let k = *kernel;
                let weight = hwio_to_oihw(weight_hwio, k, *in_channels, *out_channels);
                let w = self.initializer(
                    format!("{name}.weight"),
                    &[*out_channels, *in_channels, k, k],
                    &weight,
                );
                let b = self.initializer(format!("{name}.bias"), &[*out_channels], bias);
                self.push_named(
                    name,
                    "Conv",
                    &[w, b],
                    vec![
                        ints("kernel_shape", &[k as i64, k as i64]),
                        ints("strides", &[1, 1]),
                        ints("pads", &[0, 0, 0, 0]),
                        ints("dilations", &[1, 1]),
                        int("group", 1),
                    ],
                );
            }
            Layer::Relu => self.node("relu", "Relu", &[], Vec::new()),
            Layer::MaxPool { size } => {
                self.ensure_layout(Layout::Nchw);
                let s = *size as i64;
                self.node(
                    "pool",
                    "MaxPool",
                    &[],
                    vec![
                        ints("kernel_shape", &[s, s]),
                        ints("strides", &[s, s]),
                        ints("pads", &[0, 0, 0, 0]),
                        int("ceil_mode", 0),
                    ],
                );
            }
            Layer::Flatten => {
                self.ensure_layout(Layout::Nhwc);
                self.node("flatten", "Flatten", &[], vec![int("axis", 1)]);
            }
            Layer::Dropout => {}
            Layer::Dense {
                inputs,
                outputs,
                weight_out_in,
                bias,
            } => {
                let name = self.name("dense");
                let w = self.initializer(
                    format!("{name}.weight"),
                    &[*outputs, *inputs],
                    weight_out_in,
                );
                let b = self.initializer(format!("{name}.bias"), &[*outputs], bias);
                // y = x Wᵀ + b, with W kept [out, in].
                self.push_named(name, "Gemm", &[w, b], vec![int("transB", 1)]);
            }
            Layer::Softmax => {
                self.node("softmax", "Softmax", &[], vec![int("axis", 1)]);
            }
        }
    }

    /// Like [`Builder::node`] for a node named already (its name prefixes its weights').
    fn push_named(
        &mut self,
        name: String,
        op_type: &str,
        extra_inputs: &[String],
        attribute: Vec<AttributeProto>,
    ) {
        let mut input = vec![self.current.clone()];
        input.extend_from_slice(extra_inputs);
        self.nodes.push(NodeProto {
            input,
            output: vec![name.clone()],
            name: Some(name.clone()),
            op_type: Some(op_type.to_string()),
            attribute,
            ..Default::default()
        });
        self.current = name;
    }
}

/// The model: graph, opset, doc string and model card.
fn model(network: &Network) -> Result<ModelProto, ExportError> {
    let classes = network.outputs()?;
    let ends_in_softmax = matches!(network.layers.last(), Some(Layer::Softmax));
    let output_name = if ends_in_softmax {
        "probabilities"
    } else {
        "logits"
    };
    let side = network.input_side;
    let channels = network.input_channels;
    let input_layout = format!(
        "float32 [{BATCH_DIM}, {side}, {side}, {channels}], NHWC (batch, row, column, channel); \
         values: {INPUT_SCALING}"
    );
    let output = format!("{output_name}: float32 [{BATCH_DIM}, {classes}]");

    let mut builder = Builder {
        nodes: Vec::new(),
        initializers: Vec::new(),
        current: INPUT_NAME.to_string(),
        layout: Layout::Nhwc,
        counts: Vec::new(),
    };
    for layer in &network.layers {
        builder.layer(layer);
    }
    // The last node writes the graph's output under its public name.
    let last = builder
        .nodes
        .last_mut()
        .expect("outputs() found at least one layer that adds a node");
    last.output = vec![output_name.to_string()];

    let mut metadata_props = vec![
        entry(METADATA_INPUT_LAYOUT, &input_layout),
        entry(METADATA_OUTPUT, &output),
    ];
    let mut seen: HashSet<&str> = [METADATA_INPUT_LAYOUT, METADATA_OUTPUT].into();
    for (key, value) in &network.metadata {
        if !seen.insert(key) {
            return Err(ExportError::DuplicateMetadata(key.clone()));
        }
        metadata_props.push(entry(key, value));
    }

    let graph = GraphProto {
        node: builder.nodes,
        name: Some("hdr".to_string()),
        initializer: builder.initializers,
        doc_string: Some(format!(
            "Input `{INPUT_NAME}`: {input_layout}. Output {output}."
        )),
        input: vec![value_info(
            INPUT_NAME,
            &[BATCH_DIM.into(), side.into(), side.into(), channels.into()],
        )],
        output: vec![value_info(output_name, &[BATCH_DIM.into(), classes.into()])],
        ..Default::default()
    };
    Ok(ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("hdr-export".to_string()),
        producer_version: Some(env!("CARGO_PKG_VERSION").to_string()),
        doc_string: Some(
            "A handwritten-digit classifier exported by hdr (see the graph's doc string \
             and metadata_props for its input)."
                .to_string(),
        ),
        graph: Some(graph),
        metadata_props,
        ..Default::default()
    })
}

/// `[kh, kw, in, out]` → `[out, in, kh, kw]`.
fn hwio_to_oihw(hwio: &[f32], k: usize, in_c: usize, out_c: usize) -> Vec<f32> {
    let mut oihw = vec![0.0; hwio.len()];
    for y in 0..k {
        for x in 0..k {
            for i in 0..in_c {
                for o in 0..out_c {
                    oihw[((o * in_c + i) * k + y) * k + x] =
                        hwio[((y * k + x) * in_c + i) * out_c + o];
                }
            }
        }
    }
    oihw
}

/// A tensor dimension: fixed or named (dynamic).
enum Dim {
    Fixed(usize),
    Named(&'static str),
}

impl From<usize> for Dim {
    fn from(n: usize) -> Self {
        Dim::Fixed(n)
    }
}

impl From<&'static str> for Dim {
    fn from(name: &'static str) -> Self {
        Dim::Named(name)
    }
}

fn value_info(name: &str, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Fixed(n) => dimension::Value::DimValue(*n as i64),
                Dim::Named(s) => dimension::Value::DimParam(s.to_string()),
            }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: Some(name.to_string()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(DataType::Float as i32),
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(AttributeType::Ints as i32),
        ints: values.to_vec(),
        ..Default::default()
    }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.to_string()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(value),
        ..Default::default()
    }
}

fn entry(key: &str, value: &str) -> StringStringEntryProto {
    StringStringEntryProto {
        key: Some(key.to_string()),
        value: Some(value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hwio_to_oihw_moves_every_index() {
        let (k, in_c, out_c) = (2, 3, 4);
        let hwio: Vec<f32> = (0..k * k * in_c * out_c).map(|v| v as f32).collect();
        let oihw = hwio_to_oihw(&hwio, k, in_c, out_c);
        let (y, x, i, o) = (1, 0, 2, 3);
        let src = ((y * k + x) * in_c + i) * out_c + o;
        let dst = ((o * in_c + i) * k + y) * k + x;
        assert_eq!(oihw[dst], hwio[src]);
        let mut sorted = oihw.clone();
        sorted.sort_by(f32::total_cmp);
        assert_eq!(sorted, hwio, "a permutation");
    }
}
