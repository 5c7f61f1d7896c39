//! A folder of labelled images as a data source: one image per digit, the
//! label told by a subfolder named by the digit (`DIR/7/any.png`) or by the
//! end of the file name (`DIR/0042_7.png`, as the drawing page keeps the
//! originals of the digits it saves). Each image goes through the same
//! bounded decoding and MNIST-style preprocessing as `cargo xtask predict`
//! ([`hdr_image::prepare_file`]), so a folder scores what predict would read.

use std::path::{Path, PathBuf};

use hdr_artifacts::{Dataset, IMAGE_PIXELS};
use rayon::prelude::*;

use crate::Error;

/// The file extensions read as images (any case); other files are skipped.
const IMAGE_EXTENSIONS: [&str; 4] = ["png", "jpg", "jpeg", "bmp"];

/// Reads every image under `dir` with its label, in path order.
pub(crate) fn read_image_folder(dir: &Path) -> Result<Dataset, Error> {
    let read_error = |source| Error::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut images = Vec::new();
    collect_images(dir, None, &mut images).map_err(read_error)?;
    if images.is_empty() {
        return Err(Error::NoImages {
            path: dir.to_path_buf(),
        });
    }
    images.sort();
    let labelled = images
        .into_iter()
        .map(
            |(path, folder_label)| match folder_label.or_else(|| label_from_name(&path)) {
                Some(label) => Ok((path, label)),
                None => Err(Error::UnlabelledImage { path }),
            },
        )
        .collect::<Result<Vec<_>, _>>()?;
    let pixels = labelled
        .par_iter()
        .map(|(path, _)| hdr_image::prepare_file(path))
        .collect::<Result<Vec<[u8; IMAGE_PIXELS]>, _>>()?;
    Ok(Dataset {
        pixels: pixels.as_flattened().to_vec(),
        labels: labelled.iter().map(|&(_, label)| label).collect(),
    })
}

/// Adds the image files under `dir` to `images`, each with the label of the
/// digit-named folder it is in (`label`), if any. Hidden entries are
/// skipped, and links to folders are not followed (a link back up would
/// never end).
fn collect_images(
    dir: &Path,
    label: Option<u8>,
    images: &mut Vec<(PathBuf, Option<u8>)>,
) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        if entry.file_type()?.is_dir() {
            let inner = single_digit(&name).or(label);
            collect_images(&path, inner, images)?;
        } else if is_image_name(&path) {
            images.push((path, label));
        }
    }
    Ok(())
}

fn is_image_name(path: &Path) -> bool {
    path.extension().is_some_and(|e| {
        let e = e.to_string_lossy().to_ascii_lowercase();
        IMAGE_EXTENSIONS.contains(&e.as_str())
    })
}

/// The digit a file name ends with after its last `_` (`0042_7.png`), or
/// a name that is the digit alone (`7.png`).
fn label_from_name(path: &Path) -> Option<u8> {
    let stem = path.file_stem()?.to_string_lossy();
    single_digit(stem.rsplit('_').next()?)
}

fn single_digit(text: &str) -> Option<u8> {
    match text.as_bytes() {
        [digit @ b'0'..=b'9'] => Some(digit - b'0'),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_come_from_the_folder_or_the_name_end() {
        assert_eq!(label_from_name(Path::new("d/0042_7.png")), Some(7));
        assert_eq!(label_from_name(Path::new("d/3.PNG")), Some(3));
        assert_eq!(label_from_name(Path::new("d/scan_12.png")), None);
        assert_eq!(label_from_name(Path::new("d/seven.png")), None);
        assert!(is_image_name(Path::new("a.JPeG")));
        assert!(!is_image_name(Path::new("README.md")));
    }

    /// A dark bar on white paper: a "1" as a scan would show it.
    fn write_one(path: &Path) {
        let bar = hdr_image::image::GrayImage::from_fn(40, 40, |x, y| {
            let ink = (17..23).contains(&x) && (6..34).contains(&y);
            hdr_image::image::Luma([if ink { 10 } else { 250 }])
        });
        bar.save(path).unwrap();
    }

    #[test]
    fn a_folder_loads_in_path_order_and_bad_entries_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("1")).unwrap();
        write_one(&root.join("1/b.png"));
        write_one(&root.join("x_4.png"));
        std::fs::write(root.join("notes.txt"), "skipped").unwrap();
        std::fs::write(root.join(".hidden.png"), "skipped").unwrap();
        let loaded = read_image_folder(root).unwrap();
        assert_eq!(loaded.labels, [1, 4]);
        let expected = hdr_image::prepare_file(&root.join("1/b.png")).unwrap();
        assert_eq!(loaded.image(0), &expected[..]);

        write_one(&root.join("unlabelled.png"));
        let err = read_image_folder(root).unwrap_err().to_string();
        assert!(
            err.contains("unlabelled.png: cannot tell which digit"),
            "{err}"
        );
        std::fs::remove_file(root.join("unlabelled.png")).unwrap();

        std::fs::write(root.join("1/broken.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
        let err = read_image_folder(root).unwrap_err().to_string();
        assert!(err.contains("broken.png"), "{err}");

        std::fs::remove_file(root.join("1/broken.png")).unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(root, root.join("1/loop")).unwrap();
            assert_eq!(
                read_image_folder(root).unwrap().labels,
                [1, 4],
                "not followed"
            );
        }

        let empty = tempfile::tempdir().unwrap();
        let err = read_image_folder(empty.path()).unwrap_err();
        assert!(matches!(err, Error::NoImages { .. }), "{err}");
    }
}
