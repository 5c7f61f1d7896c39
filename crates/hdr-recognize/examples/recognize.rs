//! Recognises the digit in each image file with a trained model:
//!
//! ```sh
//! cargo run --release -p hdr-recognize --example recognize -- \
//!     artifacts/train/model.safetensors photo.jpg scan.png
//! ```
//!
//! Prints `file: digit (confidence)  top3: …` per image, or the file's error;
//! exits 1 if any file could not be recognised.

use std::path::PathBuf;
use std::process::ExitCode;

use hdr_recognize::Recognizer;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let (Some(model), images) = (args.next(), args.collect::<Vec<_>>()) else {
        eprintln!("usage: recognize MODEL.safetensors IMAGE...");
        return ExitCode::from(2);
    };
    let recognizer = match Recognizer::load(&model) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut failed = false;
    for (path, result) in images.iter().zip(recognizer.recognize_files(&images)) {
        match result {
            Ok(p) => {
                let top3: Vec<String> = p
                    .top3
                    .iter()
                    .map(|(d, q)| format!("{d} {:.1}%", q * 100.0))
                    .collect();
                println!(
                    "{}: {} ({:.1}%)  top3: {}",
                    path.display(),
                    p.digit,
                    p.confidence * 100.0,
                    top3.join(", ")
                );
            }
            Err(e) => {
                eprintln!("error: {e}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
