//! SHA-256 digests of files and bytes, as lowercase hex.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

/// The SHA-256 of a file's bytes, as 64 lowercase hex digits.
pub fn sha256_file(path: impl AsRef<Path>) -> io::Result<String> {
    copy_hashing(&mut File::open(path)?, &mut io::sink())
}

/// The SHA-256 of a pipeline input: a file's bytes ([`sha256_file`]), or for
/// a folder (of labelled images, say) the digest of its listing, one
/// `relative/path NUL sha256 LF` line per file below it in path order, so
/// that adding, removing, renaming or changing any file changes it.
pub fn sha256_input(path: impl AsRef<Path>) -> io::Result<String> {
    let path = path.as_ref();
    if !path.is_dir() {
        return sha256_file(path);
    }
    let mut files = Vec::new();
    list_files(path, &mut files)?;
    files.sort();
    let mut listing = Vec::new();
    for file in files {
        let relative = file.strip_prefix(path).unwrap_or(&file);
        // `/` on every platform, so a checkout hashes alike everywhere.
        let name: Vec<_> = relative.iter().map(|c| c.to_string_lossy()).collect();
        listing.extend_from_slice(name.join("/").as_bytes());
        listing.push(0);
        listing.extend_from_slice(sha256_file(&file)?.as_bytes());
        listing.push(b'\n');
    }
    Ok(sha256_bytes(&listing))
}

/// Every file under `dir`, recursively. Links to files count as files;
/// links to folders are not followed, so a link back up cannot loop.
fn list_files(dir: &Path, files: &mut Vec<std::path::PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_type()?.is_dir() {
            list_files(&path, files)?;
        } else if path.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

/// Copies `source` into `target` in 1 MiB pieces, returning the SHA-256 of
/// the bytes copied, as 64 lowercase hex digits.
pub fn copy_hashing(source: &mut impl Read, target: &mut impl Write) -> io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = source.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        target.write_all(&buf[..n])?;
    }
    Ok(hex(&hasher.finalize()))
}

/// The SHA-256 of `bytes`, as 64 lowercase hex digits.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_folder_hashes_its_files_names_and_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("7")).unwrap();
        std::fs::write(root.join("7/a.png"), b"one").unwrap();
        std::fs::write(root.join("b.png"), b"two").unwrap();
        let first = super::sha256_input(root).unwrap();
        assert_eq!(super::sha256_input(root).unwrap(), first);
        std::fs::write(root.join("7/a.png"), b"ONE").unwrap();
        let changed = super::sha256_input(root).unwrap();
        assert_ne!(changed, first);
        std::fs::rename(root.join("7/a.png"), root.join("7/c.png")).unwrap();
        assert_ne!(super::sha256_input(root).unwrap(), changed);
        assert_eq!(
            super::sha256_input(root.join("b.png")).unwrap(),
            super::sha256_file(root.join("b.png")).unwrap()
        );
        // A link back up is not followed: the listing stays finite.
        #[cfg(unix)]
        {
            let before = super::sha256_input(root).unwrap();
            std::os::unix::fs::symlink(root, root.join("7/loop")).unwrap();
            assert_eq!(super::sha256_input(root).unwrap(), before);
        }
    }

    use super::*;

    #[test]
    fn matches_known_digest() {
        assert_eq!(
            sha256_bytes(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
