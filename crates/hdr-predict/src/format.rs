//! One line of output per file, for people (text) or programs (JSON lines).

use hdr_recognize::RecognitionJson;

use crate::images::FileOutcome;

/// The error's message without the file name that the line already starts with.
fn reason(outcome: &FileOutcome, error: &crate::PredictError) -> String {
    let message = error.to_string();
    let prefix = format!("{}: ", outcome.file.display());
    message
        .strip_prefix(&prefix)
        .map(str::to_string)
        .unwrap_or(message)
}

/// `digit.png: 7 (98.2%)  top3: 7 98.2%, 1 1.1%, 9 0.4%`, or `photo.jpg: error: no ink found: …`.
pub fn format_text(outcome: &FileOutcome) -> String {
    let file = outcome.file.display();
    match &outcome.result {
        Ok(p) => {
            let top3: Vec<String> = p
                .top3
                .iter()
                .map(|(d, q)| format!("{d} {:.1}%", q * 100.0))
                .collect();
            format!(
                "{file}: {} ({:.1}%)  top3: {}",
                p.digit,
                p.confidence * 100.0,
                top3.join(", ")
            )
        }
        Err(e) => format!("{file}: error: {}", reason(outcome, e)),
    }
}

/// One JSON object on one line: `{"file":…,"digit":…,"confidence":…,"top3":[[d,p],…]}`,
/// or `{"file":…,"error":"…"}` — [`RecognitionJson`]'s object, which
/// `cargo xtask serve` answers too.
pub fn format_json(outcome: &FileOutcome) -> String {
    let file = outcome.file.to_string_lossy();
    let error;
    let result = match &outcome.result {
        Ok(p) => Ok(p),
        Err(e) => {
            error = reason(outcome, e);
            Err(error.as_str())
        }
    };
    RecognitionJson::new(result).with_file(&file).to_line()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::{PredictError, Recognition, RecognizeError};
    use hdr_recognize::{ImageError, PreprocessError};

    fn seven() -> FileOutcome {
        let mut probabilities = [0.0f32; 10];
        probabilities[7] = 0.982;
        probabilities[1] = 0.011;
        probabilities[9] = 0.004;
        probabilities[3] = 0.003;
        FileOutcome {
            file: PathBuf::from("digit.png"),
            result: Ok(Recognition {
                digit: 7,
                confidence: 0.982,
                top3: [(7, 0.982), (1, 0.011), (9, 0.004)],
                probabilities,
                input: [0; 784],
            }),
        }
    }

    fn blank() -> FileOutcome {
        let file = PathBuf::from("dir/blank \"1\".png");
        FileOutcome {
            result: Err(PredictError::Recognize(RecognizeError::Image(
                ImageError::NoDigit {
                    path: file.clone(),
                    source: PreprocessError::NoInk,
                },
            ))),
            file,
        }
    }

    #[test]
    fn text_lines() {
        assert_eq!(
            format_text(&seven()),
            "digit.png: 7 (98.2%)  top3: 7 98.2%, 1 1.1%, 9 0.4%"
        );
        assert_eq!(
            format_text(&blank()),
            "dir/blank \"1\".png: error: no ink found: the image is blank or holds only background noise"
        );
    }

    #[test]
    fn json_lines() {
        assert_eq!(
            format_json(&seven()),
            r#"{"file":"digit.png","digit":7,"confidence":0.982,"top3":[[7,0.982],[1,0.011],[9,0.004]]}"#
        );
        let line = format_json(&blank());
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["file"], "dir/blank \"1\".png");
        assert_eq!(
            value["error"],
            "no ink found: the image is blank or holds only background noise"
        );
    }
}
