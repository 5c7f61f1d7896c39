//! SHA-256 digests of files and bytes, as lowercase hex.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

/// The SHA-256 of a file's bytes, as 64 lowercase hex digits.
pub fn sha256_file(path: impl AsRef<Path>) -> io::Result<String> {
    copy_hashing(&mut File::open(path)?, &mut io::sink())
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
    use super::*;

    #[test]
    fn matches_known_digest() {
        assert_eq!(
            sha256_bytes(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
