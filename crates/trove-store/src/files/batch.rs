//! Hashing many files at once (publishing a folder): worker threads, one per core, take the
//! next file from a shared index, so small files pay no thread start-up each and every core
//! stays busy. A large file taken by a worker is hashed with the two-thread pipeline of
//! [`crate::files::hash`]. Results come back in input order, one per file.

use crate::error::Result;
use crate::files::hash::{HashedFile, hash_file_with};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// Files at least this long are hashed with two threads even inside a batch.
pub const BATCH_PARALLEL_MIN: u64 = 64 << 20;

/// Most worker threads a batch uses.
const MAX_WORKERS: usize = 8;

/// Hashes every file in `paths`, returning one result per path in the same order (one bad
/// file does not stop the others). `progress` gets the total bytes hashed so far across all
/// files; it is called from the worker threads after each file (and during large files), so
/// it should be cheap.
pub fn hash_files<P: AsRef<Path> + Sync>(paths: &[P], progress: impl Fn(u64) + Sync) -> Vec<Result<HashedFile>> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, MAX_WORKERS).min(paths.len());
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let work = || {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(path) = paths.get(i) else { break };
            let mut reported = 0u64;
            let result = hash_file_with(path.as_ref(), BATCH_PARALLEL_MIN, &mut buf, |d| {
                let delta = d.saturating_sub(reported);
                reported = d;
                progress(done.fetch_add(delta, Ordering::Relaxed) + delta);
            });
            out.push((i, result));
        }
        out
    };
    let mut parts = if workers <= 1 {
        vec![work()]
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..workers).map(|_| s.spawn(work)).collect();
            handles.into_iter().map(|h| h.join().unwrap_or_default()).collect::<Vec<_>>()
        })
    };
    let mut results: Vec<Option<Result<HashedFile>>> = (0..paths.len()).map(|_| None).collect();
    for (i, r) in parts.iter_mut().flat_map(std::mem::take) {
        results[i] = Some(r);
    }
    results
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            r.unwrap_or_else(|| {
                Err(crate::StoreError::Io {
                    context: format!("hashing {}", paths[i].as_ref().display()),
                    source: std::io::Error::other("hashing worker stopped"),
                })
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StoreError;
    use std::sync::atomic::AtomicU64;
    use trove_proto::content::hash_reader;

    #[test]
    fn batch_matches_hash_reader_in_input_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut paths = Vec::new();
        let mut want = Vec::new();
        let mut total = 0u64;
        for i in 0..300usize {
            let len = match i % 5 {
                0 => 0,
                1 => 4096,
                2 => 262_144,
                3 => 262_145 + i,
                _ => 1_100_000 + i,
            };
            let bytes: Vec<u8> = (0..len).map(|j| (j ^ i) as u8).collect();
            let p = dir.path().join(format!("{i:04}"));
            std::fs::write(&p, &bytes).unwrap();
            want.push(hash_reader(&bytes[..]).unwrap());
            paths.push(p);
            total += len as u64;
        }
        paths.push(dir.path().join("missing"));
        let last = AtomicU64::new(0);
        let got = hash_files(&paths, |d| {
            last.fetch_max(d, Ordering::Relaxed);
        });
        assert_eq!(got.len(), 301);
        for (g, w) in got.iter().zip(&want) {
            assert_eq!(&g.as_ref().unwrap().digest, w);
        }
        assert!(matches!(&got[300], Err(StoreError::Io { context, .. }) if context.contains("missing")));
        assert_eq!(last.load(Ordering::Relaxed), total);
    }

    #[test]
    fn empty_batch() {
        let none: [&Path; 0] = [];
        assert!(hash_files(&none, |_| {}).is_empty());
    }
}
