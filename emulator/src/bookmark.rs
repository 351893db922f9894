//! Time-travel bookmarks derived from the state of a database's files.
//!
//! A bookmark is shaped like D1's, `00000001-<change counter>-<8 hex>-<32 hex>`, and is a
//! function of the database id and of what is cheap to read about its files: the main
//! file's size, modification time (nanoseconds), inode and 100-byte header (whose file change
//! counter and schema cookie move on every committed write in rollback-journal mode), and the
//! `-wal` file's size, modification time and header when that file is not empty. So it stays
//! the same while the files are unchanged (reading them, e.g. to dump, changes nothing) and
//! changes with any write. The database id is part of it, so databases sharing one file
//! still have bookmarks of their own.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::config::DatabaseConfig;

/// The current bookmark of a database.
pub(crate) fn current(db: &DatabaseConfig) -> String {
    let mut h = Hasher::new();
    let id = db.uuid.replace('-', "").to_ascii_lowercase();
    h.write(id.as_bytes());
    let header = file_state(&mut h, &db.path, 100);
    let mut wal = db.path.clone().into_os_string();
    wal.push("-wal");
    file_state(&mut h, &PathBuf::from(wal), 32);
    let counter = header
        .get(24..28)
        .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let digest = h.finish();
    format!(
        "00000001-{counter:08x}-{:08x}-{digest:032x}",
        (digest >> 96) as u32 ^ (digest as u32)
    )
}

/// Feeds a file's size, mtime, inode and first `head` bytes to `h` (a missing or empty file
/// counts as absent); returns the bytes read.
fn file_state(h: &mut Hasher, path: &Path, head: usize) -> Vec<u8> {
    let meta = match std::fs::metadata(path) {
        Ok(m) if m.len() > 0 => m,
        _ => {
            h.write(&[0]);
            return Vec::new();
        }
    };
    h.write(&[1]);
    h.write(&meta.len().to_le_bytes());
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    h.write(&mtime.to_le_bytes());
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        h.write(&meta.ino().to_le_bytes());
        h.write(&meta.dev().to_le_bytes());
    }
    let mut bytes = Vec::with_capacity(head);
    if let Ok(f) = File::open(path) {
        let _ = f.take(head as u64).read_to_end(&mut bytes);
    }
    h.write(&bytes);
    bytes
}

/// Two independent FNV-1a 64 lanes, mixed at the end: a stable 128-bit digest (the same in
/// every process and Rust version, unlike `std`'s hashers).
struct Hasher(u64, u64);

impl Hasher {
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Hasher {
        Hasher(0xcbf2_9ce4_8422_2325, 0x6c62_272e_07bb_0142)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(Self::PRIME);
            self.1 = (self.1 ^ u64::from(b.rotate_left(3))).wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> u128 {
        let hi = mix(self.0 ^ self.1.rotate_left(17));
        let lo = mix(self.1 ^ hi);
        (u128::from(hi) << 64) | u128::from(lo)
    }
}

/// The splitmix64 finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shaped_like_d1_and_stable() {
        let dir = std::env::temp_dir().join(format!("d1-emulator-bookmark-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.sqlite");
        std::fs::write(&path, [7u8; 200]).unwrap();
        let a = DatabaseConfig::new("0b1c2d3e-0000-4000-8000-000000000001", &path);
        let b = DatabaseConfig::new("0b1c2d3e-0000-4000-8000-000000000002", &path);
        let ba = current(&a);
        let groups: Vec<&str> = ba.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 8, 8, 32]
        );
        assert!(ba.bytes().all(|c| c == b'-' || c.is_ascii_hexdigit()));
        assert_eq!(groups[1], "07070707", "the file change counter");
        assert_eq!(current(&a), ba);
        assert_ne!(current(&b), ba, "each database has its own");
        std::fs::write(&path, [8u8; 200]).unwrap();
        assert_ne!(current(&a), ba);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
