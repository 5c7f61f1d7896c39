//! `data/my-digits.csv`: the digits a user taught hdr (saved by the drawing
//! page, read by the data stage), in the Kaggle layout every source has:
//! a header, then `label,pixel0..pixel783` per digit, the 28x28 image the
//! model saw (light ink on dark, 0-255). The file is the user's: writers only
//! ever append whole lines to it.

use std::fmt::Write as _;

use crate::{IMAGE_PIXELS, NUM_CLASSES};

/// The header line, `label,pixel0,...,pixel783` and its newline.
pub fn user_samples_header() -> String {
    let mut line = String::from("label");
    for i in 0..IMAGE_PIXELS {
        let _ = write!(line, ",pixel{i}");
    }
    line.push('\n');
    line
}

/// One digit's line, newline included.
pub fn user_sample_line(label: u8, pixels: &[u8; IMAGE_PIXELS]) -> String {
    let mut line = String::with_capacity(4 * IMAGE_PIXELS + 2);
    let _ = write!(line, "{label}");
    for p in pixels {
        let _ = write!(line, ",{p}");
    }
    line.push('\n');
    line
}

/// Why a user-samples file cannot be appended to or counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserSamplesDamage {
    /// The first line is not the Kaggle header.
    #[error("line 1 is not the header `label,pixel0,...,pixel783`")]
    Header,
    /// The last line has no newline: a write that did not finish.
    #[error("line {line} is incomplete (no newline at its end; a write that did not finish)")]
    TornLastLine {
        /// 1-based.
        line: usize,
    },
    /// A line whose label is not a digit 0-9.
    #[error("line {line} does not start with a label 0-9")]
    Label {
        /// 1-based.
        line: usize,
    },
}

/// The labels of a user-samples file's lines, in order, checking only what
/// appending needs (the data stage validates every pixel): the header, a
/// label 0-9 opening each line, and a newline closing the last one.
pub fn user_sample_labels(text: &[u8]) -> Result<Vec<u8>, UserSamplesDamage> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    // A file ending in a newline splits into its lines and one empty tail.
    let (tail, lines) = lines.split_last().expect("split yields at least one piece");
    if !tail.is_empty() {
        return Err(UserSamplesDamage::TornLastLine {
            line: lines.len() + 1,
        });
    }
    let header = user_samples_header();
    if lines.first().map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        != Some(&header.as_bytes()[..header.len() - 1])
    {
        return Err(UserSamplesDamage::Header);
    }
    lines[1..]
        .iter()
        .enumerate()
        .map(|(i, line)| match line.split(|&b| b == b',').next() {
            Some(&[digit]) if digit.is_ascii_digit() && usize::from(digit - b'0') < NUM_CLASSES => {
                Ok(digit - b'0')
            }
            _ => Err(UserSamplesDamage::Label { line: i + 2 }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_the_kaggle_layout() {
        let header = user_samples_header();
        assert!(header.starts_with("label,pixel0,pixel1,"));
        assert!(header.ends_with(",pixel783\n"));
        let mut pixels = [0u8; IMAGE_PIXELS];
        pixels[0] = 255;
        pixels[783] = 7;
        let line = user_sample_line(3, &pixels);
        assert!(line.starts_with("3,255,0,"));
        assert!(line.ends_with(",0,7\n"));
        assert_eq!(line.split(',').count(), IMAGE_PIXELS + 1);
    }

    #[test]
    fn labels_are_read_and_damage_is_named() {
        let pixels = [0u8; IMAGE_PIXELS];
        let mut file = user_samples_header();
        assert_eq!(user_sample_labels(file.as_bytes()), Ok(vec![]));
        file += &user_sample_line(4, &pixels);
        file += &user_sample_line(9, &pixels);
        assert_eq!(user_sample_labels(file.as_bytes()), Ok(vec![4, 9]));
        assert_eq!(user_sample_labels(b""), Ok(vec![]));

        let torn = &file.as_bytes()[..file.len() - 10];
        assert_eq!(
            user_sample_labels(torn),
            Err(UserSamplesDamage::TornLastLine { line: 3 })
        );
        assert_eq!(user_sample_labels(b"a,b\n"), Err(UserSamplesDamage::Header));
        let bad = file.clone() + "12,0\n";
        assert_eq!(
            user_sample_labels(bad.as_bytes()),
            Err(UserSamplesDamage::Label { line: 4 })
        );
    }
}
