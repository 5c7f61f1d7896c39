//! The JSON object of one recognition: what `cargo xtask predict --json`
//! prints for a file and what `cargo xtask serve` answers for an upload.

use serde::ser::{Serialize, SerializeMap, Serializer};

use crate::Recognition;

/// One recognition, or the reason there is none, as a JSON object:
/// `{"file":"7.png","digit":7,"confidence":0.9981,"top3":[[7,0.9981],[9,0.0012],[2,0.0004]]}`
/// or `{"file":"notes.png","error":"…"}`.
///
/// `file` is left out when there is no name. With details, `probabilities`
/// (ten, for digits 0..=9) and `input` (the 784 grey levels of the 28x28
/// image the model saw, row by row, 0 = background) follow `top3`.
/// Probabilities are rounded to 4 decimals so the JSON stays readable.
#[derive(Debug, Clone, Copy)]
pub struct RecognitionJson<'a> {
    file: Option<&'a str>,
    outcome: Result<&'a Recognition, &'a str>,
    details: bool,
}

impl<'a> RecognitionJson<'a> {
    /// The object of a recognition, or of an error message.
    pub fn new(outcome: Result<&'a Recognition, &'a str>) -> Self {
        Self {
            file: None,
            outcome,
            details: false,
        }
    }

    /// Names the image: a `file` member first.
    pub fn with_file(self, file: &'a str) -> Self {
        Self {
            file: Some(file),
            ..self
        }
    }

    /// Adds `probabilities` and `input` to a recognition's object when `details` is true.
    pub fn with_details(self, details: bool) -> Self {
        Self { details, ..self }
    }

    /// The object on one line.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("numbers and strings serialise")
    }
}

/// A probability rounded to 4 decimals.
fn round4(p: f32) -> f32 {
    (p * 10_000.0).round() / 10_000.0
}

impl Serialize for RecognitionJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        if let Some(file) = self.file {
            map.serialize_entry("file", file)?;
        }
        match self.outcome {
            Ok(r) => {
                map.serialize_entry("digit", &r.digit)?;
                map.serialize_entry("confidence", &round4(r.confidence))?;
                let top3 = r.top3.map(|(digit, p)| (digit, round4(p)));
                map.serialize_entry("top3", &top3)?;
                if self.details {
                    map.serialize_entry("probabilities", &r.probabilities.map(round4))?;
                    map.serialize_entry("input", r.input.as_slice())?;
                }
            }
            Err(message) => map.serialize_entry("error", message)?,
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdr_model::Prediction;

    fn seven() -> Recognition {
        let mut probabilities = [0.0f32; 10];
        probabilities[7] = 0.981_96;
        probabilities[1] = 0.011;
        probabilities[9] = 0.004;
        probabilities[3] = 0.003_04;
        let mut input = [0u8; 784];
        input[400] = 255;
        Recognition::new(
            &Prediction {
                digit: 7,
                probabilities,
            },
            input,
        )
    }

    #[test]
    fn a_recognition_with_and_without_name_and_details() {
        let r = seven();
        assert_eq!(
            RecognitionJson::new(Ok(&r)).with_file("7.png").to_line(),
            r#"{"file":"7.png","digit":7,"confidence":0.982,"top3":[[7,0.982],[1,0.011],[9,0.004]]}"#
        );
        assert_eq!(
            RecognitionJson::new(Ok(&r)).to_line(),
            r#"{"digit":7,"confidence":0.982,"top3":[[7,0.982],[1,0.011],[9,0.004]]}"#
        );
        let line = RecognitionJson::new(Ok(&r)).with_details(true).to_line();
        assert!(
            line.starts_with(
                r#"{"digit":7,"confidence":0.982,"top3":[[7,0.982],[1,0.011],[9,0.004]],"probabilities":[0.0,0.011,0.0,0.003,"#
            ),
            "{line}"
        );
        assert!(line.contains(r#"],"input":[0,0,"#), "{line}");
        let detailed: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(detailed["probabilities"][3], 0.003);
        assert_eq!(detailed["input"].as_array().unwrap().len(), 784);
        assert_eq!(detailed["input"][400], 255);
    }

    #[test]
    fn an_error_keeps_its_message_and_ignores_details() {
        let line = RecognitionJson::new(Err("no ink \"found\""))
            .with_file("a/b.png")
            .with_details(true)
            .to_line();
        assert_eq!(line, r#"{"file":"a/b.png","error":"no ink \"found\""}"#);
    }
}
