//! Hostile and broken image files through the library: each is refused with
//! its own message naming the file, nothing panics, and good files beside
//! them are still recognised.

use hdr_model::Cnn;
use hdr_recognize::{load_image, ImageError, RecognizeError, Recognizer, MAX_IMAGE_SIDE};
use hdr_testkit::{bar_image, encoded, write_bad_files};
use image::ImageFormat;

/// A recognizer with untrained weights: their values do not matter for
/// refusing files.
fn recognizer(dir: &std::path::Path) -> Recognizer {
    let model = dir.join("model.safetensors");
    std::fs::write(&model, Cnn::new(7).to_safetensors()).unwrap();
    Recognizer::load(&model).unwrap()
}

#[test]
fn every_bad_file_gets_its_own_message_and_good_files_are_still_recognised() {
    let dir = tempfile::tempdir().unwrap();
    let recognizer = recognizer(dir.path());
    let bad = write_bad_files(dir.path());
    let good = dir.path().join("good.png");
    std::fs::write(&good, encoded(bar_image(64), ImageFormat::Png)).unwrap();
    let mut files: Vec<_> = bad.iter().map(|b| b.path.clone()).collect();
    files.insert(files.len() / 2, good.clone());

    let results = recognizer.recognize_files(&files);
    assert_eq!(results.len(), files.len());
    let mut reasons = std::collections::HashSet::new();
    for (file, result) in files.iter().zip(&results) {
        if *file == good {
            assert!(result.as_ref().expect("the good file is recognised").digit <= 9);
            continue;
        }
        let case = bad.iter().find(|b| b.path == *file).unwrap();
        let message = match result {
            Ok(p) => panic!("{}: recognised {p:?}", file.display()),
            Err(e) => e.to_string(),
        };
        // One at a time gives the same message.
        let single = recognizer.recognize_file(file).unwrap_err().to_string();
        assert_eq!(single, message);
        let prefix = format!("{}: ", file.display());
        let reason = message
            .strip_prefix(&prefix)
            .unwrap_or_else(|| panic!("{message} does not start with the file"));
        for phrase in case.says {
            assert!(message.contains(phrase), "{message} lacks {phrase:?}");
        }
        eprintln!("{message}");
        reasons.insert(reason.to_string());
    }
    // Only the PNG decoder's own complaints may repeat.
    assert!(reasons.len() >= bad.len() - 2, "{reasons:#?}");
}

#[test]
fn bad_images_in_memory_are_refused_as_their_files_are() {
    let dir = tempfile::tempdir().unwrap();
    let recognizer = recognizer(dir.path());
    let bad = write_bad_files(dir.path());
    let mut uploads = Vec::new();
    for case in bad.iter().filter(|b| b.path.is_file()) {
        let bytes = std::fs::read(&case.path).unwrap();
        let from_file = recognizer.recognize_file(&case.path).unwrap_err();
        let from_bytes = recognizer.recognize_bytes(&bytes, &case.path).unwrap_err();
        assert_eq!(from_bytes.to_string(), from_file.to_string());
        assert_eq!(
            std::mem::discriminant(&from_bytes),
            std::mem::discriminant(&from_file)
        );
        uploads.push((case.path.clone(), bytes));
    }
    let good = encoded(bar_image(64), ImageFormat::Png);
    let good_file = dir.path().join("good.png");
    std::fs::write(&good_file, &good).unwrap();
    uploads.insert(2, (good_file.clone(), good.clone()));
    let results = recognizer.recognize_encoded(&uploads);
    assert_eq!(results.len(), uploads.len());
    let expected = recognizer.recognize_file(&good_file).unwrap();
    for ((name, _), result) in uploads.iter().zip(&results) {
        match result {
            Ok(r) => {
                assert_eq!(*name, good_file);
                assert_eq!(*r, expected);
            }
            Err(e) => assert_eq!(e.path(), Some(name.as_path())),
        }
    }
    assert_eq!(
        recognizer.recognize_bytes(&good, "good.png").unwrap(),
        expected
    );
}

#[test]
fn declared_size_is_refused_from_the_header_with_typed_fields() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write_bad_files(dir.path());
    let huge = &bad[0].path;
    match load_image(huge) {
        Err(ImageError::TooLarge {
            width,
            height,
            decoded_bytes,
            ..
        }) => assert_eq!(
            (width, height, decoded_bytes),
            (30_000, 30_000, 900_000_000)
        ),
        other => panic!("{other:?}"),
    }
    assert!(std::fs::metadata(huge).unwrap().len() < 10_000);

    let wide = dir.path().join("wide.png");
    image::GrayImage::new(MAX_IMAGE_SIDE + 1, 2)
        .save(&wide)
        .unwrap();
    let message = load_image(&wide).unwrap_err().to_string();
    assert!(message.contains("10001 x 2 pixels"), "{message}");
}

#[test]
fn large_images_within_the_limit_are_shrunk_right_after_decoding() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("scan.png");
    let img = image::GrayImage::from_fn(3000, 2000, |x, y| {
        let ink = (1200..1800).contains(&x) && (400..1600).contains(&y);
        image::Luma([if ink { 30 } else { 230 }])
    });
    img.save(&path).unwrap();
    let loaded = load_image(&path).unwrap();
    assert_eq!((loaded.width(), loaded.height()), (1000, 667));
    assert!(recognizer(dir.path()).recognize_file(&path).is_ok());
}

#[test]
fn raw_pixels_of_the_wrong_length_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let recognizer = recognizer(dir.path());
    let err = recognizer.recognize_pixels(&[0u8; 783]).unwrap_err();
    assert!(
        matches!(
            err,
            RecognizeError::WrongPixelCount {
                index: None,
                len: 783
            }
        ),
        "{err:?}"
    );
    assert!(recognizer.recognize_pixels(&[]).is_err());
    assert!(recognizer.recognize_pixels(&[0u8; 785]).is_err());
    let batch = vec![vec![0u8; 784], vec![0u8; 784], vec![0u8; 10]];
    let err = recognizer.recognize_batch(&batch).unwrap_err();
    assert!(
        err.to_string().starts_with("image 2 of the batch: "),
        "{err}"
    );
    assert!(recognizer
        .recognize_batch::<Vec<u8>>(&[])
        .unwrap()
        .is_empty());
}

#[test]
fn pixels_batch_and_files_agree() {
    let dir = tempfile::tempdir().unwrap();
    let recognizer = recognizer(dir.path());
    let path = dir.path().join("digit.png");
    bar_image(64).save(&path).unwrap();
    let from_file = recognizer.recognize_file(&path).unwrap();
    let from_image = recognizer.recognize_image(&bar_image(64)).unwrap();
    assert_eq!(from_file, from_image);
    let from_pixels = recognizer.recognize_pixels(&from_file.input).unwrap();
    assert_eq!(from_pixels, from_file);
    let batch = recognizer
        .recognize_batch(&[from_file.input, [0u8; 784], from_file.input])
        .unwrap();
    assert_eq!(batch[0], from_file);
    assert_eq!(batch[2], from_file);
    let direct = recognizer.classifier().predict(&from_file.input);
    assert_eq!(from_file.digit, direct[0].digit);
    assert_eq!(from_file.probabilities, direct[0].probabilities);
}

#[test]
fn a_missing_or_foreign_model_is_a_typed_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Recognizer::load(dir.path().join("none.safetensors")).unwrap_err();
    assert!(matches!(missing, RecognizeError::Model(_)), "{missing:?}");
    let foreign = dir.path().join("notes.safetensors");
    std::fs::write(&foreign, b"not weights").unwrap();
    let err = Recognizer::load(&foreign).unwrap_err();
    assert!(err.to_string().contains("notes.safetensors"), "{err}");
}
