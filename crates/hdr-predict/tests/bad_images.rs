//! Hostile and broken image files: each is refused with its own message that
//! names the file, nothing panics, and the good files beside them are still
//! predicted.

#[path = "common/bad_files.rs"]
mod bad_files;

use bad_files::{bar_image, encoded, write_bad_files};
use hdr_model::{Classifier, Cnn};
use hdr_predict::{load_image, predict_files, MAX_IMAGE_SIDE};
use image::ImageFormat;

#[test]
fn every_bad_file_gets_its_own_message_and_good_files_are_still_predicted() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write_bad_files(dir.path());
    let good = dir.path().join("good.png");
    std::fs::write(&good, encoded(bar_image(64), ImageFormat::Png)).unwrap();
    let mut files: Vec<_> = bad.iter().map(|b| b.path.clone()).collect();
    files.insert(files.len() / 2, good.clone());

    // The weights' values do not matter for refusing files.
    let classifier = Classifier::new(Cnn::new(7));
    let outcomes = predict_files(&classifier, &files, None);
    assert_eq!(outcomes.len(), files.len());
    let mut messages = Vec::new();
    for outcome in &outcomes {
        if outcome.file == good {
            let p = outcome.result.as_ref().expect("the good file is predicted");
            assert!(p.digit <= 9);
            continue;
        }
        let case = bad.iter().find(|b| b.path == outcome.file).unwrap();
        let message = match &outcome.result {
            Ok(p) => panic!("{}: predicted {p:?}", outcome.file.display()),
            Err(e) => e.to_string(),
        };
        assert!(
            message.starts_with(&format!("{}: ", outcome.file.display())),
            "{message}"
        );
        for phrase in case.says {
            assert!(message.contains(phrase), "{message} lacks {phrase:?}");
        }
        messages.push(message);
    }
    // Each kind of fault reads differently once the file name is removed.
    let reasons: std::collections::HashSet<String> = messages
        .iter()
        .map(|m| m.split_once(": ").unwrap().1.to_string())
        .collect();
    assert!(
        reasons.len() >= bad.len() - 3,
        "too many identical messages: {messages:#?}"
    );
}

#[test]
fn large_images_within_the_limit_are_shrunk_right_after_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scan.png");
    let img = image::GrayImage::from_fn(3000, 2000, |x, y| {
        image::Luma([if (1200..1800).contains(&x) && (400..1600).contains(&y) {
            30
        } else {
            230
        }])
    });
    img.save(&path).unwrap();
    let loaded = load_image(&path).unwrap();
    assert_eq!((loaded.width(), loaded.height()), (1000, 667));

    let wide = dir.path().join("wide.png");
    let over = image::GrayImage::new(MAX_IMAGE_SIDE + 1, 2);
    over.save(&wide).unwrap();
    let message = load_image(&wide).unwrap_err().to_string();
    assert!(message.contains("10001 x 2 pixels"), "{message}");
}
