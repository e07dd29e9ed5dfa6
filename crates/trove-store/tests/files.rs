//! Content files end to end: hashing equals `hash_reader`, changed files are caught, a
//! download survives a kill, and hostile manifest paths (TEST-MATRIX IN-7) never touch
//! anything outside the target folder.
//!
//! Speed checks are `#[ignore]`d; run them with
//! `cargo test --release -p trove-store --test files -- --ignored --nocapture`.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Instant;
use trove_proto::content::{FileDigest, hash_reader};
use trove_proto::limits::CHUNK_SIZE;
use trove_store::StoreError;
use trove_store::files::{
    ChunkSource, PartFile, PathPlanner, SpaceReserve, hash_file, hash_files, prepare_target, scan_folder,
};

const C: usize = CHUNK_SIZE;

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn no_reserve() -> SpaceReserve {
    SpaceReserve { reserve_bytes: 0, assume_free_bytes: None }
}

#[test]
fn hash_file_and_hash_files_equal_hash_reader() {
    let dir = tempfile::tempdir().unwrap();
    let sizes = [0, 1, C - 1, C, C + 1, 5 * 1024 * 1024 + 7, 20 * 1024 * 1024 + 3];
    let mut paths = Vec::new();
    let mut want: Vec<FileDigest> = Vec::new();
    for (i, &len) in sizes.iter().enumerate() {
        let data = pattern(len, i as u64);
        let p = dir.path().join(format!("f{len}"));
        fs::write(&p, &data).unwrap();
        want.push(hash_reader(&data[..]).unwrap());
        let mut calls = Vec::new();
        let h = hash_file(&p, |d| calls.push(d)).unwrap();
        assert_eq!(h.digest, want[i], "{len} bytes");
        assert_eq!(h.mtime_ns, {
            let m = fs::metadata(&p).unwrap();
            m.mtime() * 1_000_000_000 + m.mtime_nsec()
        });
        assert!(calls.windows(2).all(|w| w[0] < w[1]), "progress only grows");
        assert_eq!(calls.last().copied().unwrap_or(0), len as u64);
        paths.push(p);
    }
    let batch = hash_files(&paths, |_| {});
    for (got, want) in batch.iter().zip(&want) {
        assert_eq!(&got.as_ref().unwrap().digest, want);
    }
}

#[test]
fn a_file_changed_while_hashed_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    for len in [3 * C, 40 * C] {
        let p = dir.path().join(format!("grows{len}"));
        fs::write(&p, pattern(len, 1)).unwrap();
        let mut first = true;
        let e = hash_file(&p, |_| {
            if std::mem::take(&mut first) {
                fs::OpenOptions::new().append(true).open(&p).unwrap().write_all_at(b"more", 0).unwrap();
            }
        })
        .unwrap_err();
        assert!(matches!(e, StoreError::Changed(ref m) if m.contains("grows") && m.contains("size changed")), "{e}");
    }
}

#[test]
fn publish_serve_download_with_a_kill_in_the_middle() {
    let top = tempfile::tempdir().unwrap();
    let share = top.path().join("share");
    fs::create_dir_all(share.join("sub")).unwrap();
    let data = pattern(7 * C + 123, 9);
    fs::write(share.join("sub/big.bin"), &data).unwrap();
    fs::write(share.join("small.txt"), b"hello").unwrap();

    let scanned = scan_folder(&share).unwrap();
    assert_eq!(scanned.iter().map(|f| f.rel_path.as_str()).collect::<Vec<_>>(), ["small.txt", "sub/big.bin"]);
    let hashed = hash_files(&scanned.iter().map(|f| f.path.clone()).collect::<Vec<_>>(), |_| {});
    let big = hashed[1].as_ref().unwrap();
    assert_eq!(big.mtime_ns, scanned[1].mtime_ns);
    let src =
        ChunkSource::open(&scanned[1].path, big.digest.size, big.mtime_ns, big.digest.chunk_hashes.clone()).unwrap();

    let downloads = top.path().join("downloads");
    fs::create_dir_all(&downloads).unwrap();
    let mut planner = PathPlanner::new();
    let rel = planner.plan("big.bin", Some(&scanned[1].rel_path)).unwrap();
    let target = prepare_target(&downloads, &rel).unwrap();
    assert!(!target.existing);
    let hashes = big.digest.chunk_hashes.clone();
    let order = [6u64, 1, 7, 3];
    {
        let part = PartFile::create_or_open(&target.path, big.digest.size, hashes.clone(), &no_reserve()).unwrap();
        for &i in &order {
            part.write_chunk(i, &src.read_chunk(i).unwrap()).unwrap();
        }
        // Killed here: no sync, no finish.
    }
    let part = PartFile::create_or_open(&target.path, big.digest.size, hashes, &no_reserve()).unwrap();
    assert_eq!(part.recover().unwrap(), order.len() as u64);
    let missing: Vec<u64> = part.bitmap().missing().collect();
    assert_eq!(missing, [0, 2, 4, 5]);
    for i in missing {
        assert!(part.write_chunk(i, &src.read_chunk(i).unwrap()).unwrap());
    }
    let done = part.finish(&big.digest.content_id, false).unwrap();
    assert_eq!(done.path, downloads.canonicalize().unwrap().join("sub/big.bin"));
    assert_eq!(fs::read(&done.path).unwrap(), data);
    assert_eq!(hash_file(&done.path, |_| {}).unwrap().digest, big.digest);
    // The finished file can be seeded in turn.
    let reseed = ChunkSource::open(&done.path, done.size, done.mtime_ns, big.digest.chunk_hashes.clone()).unwrap();
    assert_eq!(reseed.read_chunk(7).unwrap(), &data[7 * C..]);
}

/// Everything under `dir` except the subtree `skip`: path → (kind, size, mtime, bytes or
/// link target).
fn snapshot(dir: &Path, skip: &Path) -> BTreeMap<PathBuf, (String, u64, i64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p == skip {
                continue;
            }
            let m = fs::symlink_metadata(&p).unwrap();
            let (kind, content) = if m.file_type().is_symlink() {
                ("link", fs::read_link(&p).unwrap().into_os_string().into_encoded_bytes())
            } else if m.is_dir() {
                stack.push(p.clone());
                ("dir", Vec::new())
            } else {
                ("file", fs::read(&p).unwrap())
            };
            out.insert(p, (kind.to_string(), m.len(), m.mtime() * 1_000_000_000 + m.mtime_nsec(), content));
        }
    }
    out
}

#[test]
fn hostile_paths_never_touch_anything_outside_the_target() {
    let top = tempfile::tempdir().unwrap();
    let parent = top.path().join("parent");
    let root = parent.join("target");
    let outside = parent.join("outside");
    fs::create_dir_all(&root).unwrap();
    fs::create_dir_all(outside.join("etc")).unwrap();
    fs::write(outside.join("etc/passwd"), b"root:x:0:0").unwrap();
    fs::write(parent.join("x"), b"sibling file").unwrap();
    std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
    std::os::unix::fs::symlink("../x", root.join("x_link")).unwrap();
    fs::write(root.join("existing.txt"), b"the user's own file").unwrap();
    let before = snapshot(top.path(), &root);
    let root_before = snapshot(&root, Path::new(""));

    let long_name = "n".repeat(4096);
    let deep = format!("{}f", "d/".repeat(300));
    let items: Vec<(&str, Option<&str>)> = vec![
        ("..", None),
        ("x", Some("../x")),
        ("x", Some("a/../../x")),
        ("passwd", Some("/etc/passwd")),
        ("x", Some("C:\\x")),
        ("x", Some("C:x")),
        ("x", Some("\\\\srv\\share\\x")),
        (".. ", None),
        ("...", None),
        ("x.", None),
        ("CON", None),
        ("nul.txt", None),
        ("COM1", None),
        ("a:b", None),
        ("ab:c", None),
        ("nul\0byte", None),
        ("ctl\x01\x1f\x7f", None),
        (&long_name, None),
        ("f", Some(&deep)),
        ("Caf\u{e9}.txt", None),
        ("Cafe\u{301}.txt", None),
        ("Readme.md", None),
        ("README.md", None),
        ("dup.txt", Some("dir/dup.txt")),
        ("dup.txt", Some("dir/dup.txt")),
        ("escape.txt", Some("link/escape.txt")),
        ("passwd", Some("link/etc/passwd")),
        ("link", None),
        ("x_link", None),
        ("existing.txt", None),
        ("x", Some("..\\x")),
        ("x", Some("sub\\..\\..\\x")),
        ("x", Some("ok/./fine.txt")),
    ];
    let mut planner = PathPlanner::new();
    let canon_root = root.canonicalize().unwrap();
    let mut written: Vec<String> = Vec::new();
    let mut rejected = 0;
    let mut refused = Vec::new();
    for (i, (name, path)) in items.iter().enumerate() {
        let rel = match planner.plan(name, *path) {
            Ok(rel) => rel,
            Err(e) => {
                assert!(matches!(e, StoreError::Invalid(_)), "{e}");
                rejected += 1;
                continue;
            }
        };
        for c in rel.components() {
            assert!(!c.is_empty() && c != "." && c != ".." && !c.contains(['/', '\\', ':', '\0']), "{rel}");
        }
        assert!(rel.join_to(&root).starts_with(&root));
        let target = match prepare_target(&root, &rel) {
            Ok(t) => t,
            Err(e) => {
                refused.push((rel.as_string(), e.to_string()));
                continue;
            }
        };
        assert!(target.path.starts_with(&canon_root), "{}", target.path.display());
        assert!(!target.existing_part);
        if target.existing {
            refused.push((rel.as_string(), "exists".to_string()));
            continue;
        }
        let data = format!("item {i}").into_bytes();
        let d = hash_reader(&data[..]).unwrap();
        let part = PartFile::create_or_open(&target.path, d.size, d.chunk_hashes.clone(), &no_reserve()).unwrap();
        part.write_chunk(0, &data).unwrap();
        part.finish(&d.content_id, false).unwrap();
        written.push(rel.as_string());
    }

    assert_eq!(snapshot(top.path(), &root), before, "nothing outside the target changed");
    let root_after = snapshot(&root, Path::new(""));
    for (p, entry) in &root_before {
        assert_eq!(root_after.get(p), Some(entry), "{} is untouched", p.display());
    }
    assert_eq!(rejected, 14, "escapes, dot names, over-long and over-deep paths are rejected");
    let refused_paths: Vec<&str> = refused.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(refused_paths, ["link/escape.txt", "link/etc/passwd", "x_link", "existing.txt"], "{refused:?}");
    assert_eq!(
        written,
        [
            "x",
            "_CON",
            "_nul.txt",
            "_COM1",
            "ab_c",
            "nul_byte",
            "ctl___",
            "Caf\u{e9}.txt",
            "Caf\u{e9} (2).txt",
            "Readme.md",
            "README (2).md",
            "dir/dup.txt",
            "dir/dup (2).txt",
            // Planned as a folder by the refused `link/…` items, so the file gets a new name.
            "link (2)",
            "ok/fine.txt",
        ]
    );
    // Every regular file under the target is one we wrote or one that was there before.
    let files: Vec<_> = root_after.iter().filter(|(_, (kind, ..))| kind == "file").collect();
    assert_eq!(files.len(), written.len() + 1);
    for (p, _) in files {
        assert!(p.canonicalize().unwrap().starts_with(&canon_root));
        assert!(!p.to_string_lossy().ends_with(".part"), "no part files left behind");
    }
}

/// Needs a small file system to fill, e.g. (as root)
/// `mkdir -p /mnt/small && mount -t tmpfs -o size=3m tmpfs /mnt/small`, then
/// `TROVE_SMALL_FS=/mnt/small cargo test -p trove-store --test files -- --ignored disk_full`.
#[test]
#[ignore = "needs TROVE_SMALL_FS pointing at a small, empty file system"]
fn disk_full_on_a_real_file_system_keeps_the_part_file_resumable() {
    let Ok(small) = std::env::var("TROVE_SMALL_FS") else {
        eprintln!("TROVE_SMALL_FS not set; skipped");
        return;
    };
    let dir = tempfile::tempdir_in(small).unwrap();
    let free = fs4::statvfs(dir.path()).unwrap().available_space();
    let len = (free as usize + 4 * C).div_ceil(C) * C;
    let data = pattern(len, 4);
    let d = hash_reader(&data[..]).unwrap();
    let target = dir.path().join("too_big.bin");
    // The real free-space check refuses a download that cannot fit …
    let e = PartFile::create_or_open(&target, len as u64, d.chunk_hashes.clone(), &no_reserve()).unwrap_err();
    assert!(matches!(e, StoreError::DiskFull(_)), "{e}");
    // … so pretend there is room, and let the file system run out for real.
    let blind = SpaceReserve { reserve_bytes: 0, assume_free_bytes: Some(u64::MAX) };
    let part = PartFile::create_or_open(&target, len as u64, d.chunk_hashes.clone(), &blind).unwrap();
    let mut written = 0;
    let err = loop {
        match part.write_chunk(written, &data[written as usize * C..(written as usize + 1) * C]) {
            Ok(_) => written += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, StoreError::DiskFull(ref m) if m.contains("too_big.bin.part")), "{err}");
    assert_eq!(part.verified_count(), written);
    drop(part);
    let part = PartFile::create_or_open(&target, len as u64, d.chunk_hashes, &blind).unwrap();
    assert_eq!(part.recover().unwrap(), written, "every chunk acknowledged before the error is intact");
    part.discard().unwrap();
}

#[test]
#[ignore = "speed check; run with --release --ignored --nocapture"]
fn speed_hash_1gib_warm() {
    let dir = tempfile::tempdir_in(std::env::var("TROVE_BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into())).unwrap();
    let p = dir.path().join("1gib.bin");
    let block = pattern(8 << 20, 3);
    {
        let f = fs::File::create(&p).unwrap();
        for i in 0..128u64 {
            f.write_all_at(&block, i * block.len() as u64).unwrap();
        }
    }
    let _warm = fs::read(&p).unwrap();
    let mut best = f64::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let h = hash_file(&p, |_| {}).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(h.digest.size, 1 << 30);
    }
    println!("hash_file, 1 GiB warm: best {best:.3} s = {:.2} GB/s", (1u64 << 30) as f64 / best / 1e9);
}

#[test]
#[ignore = "speed check; run with --release --ignored --nocapture"]
fn speed_publish_100k_small_files() {
    let dir = tempfile::tempdir_in(std::env::var("TROVE_BENCH_DIR").unwrap_or_else(|_| "/var/tmp".into())).unwrap();
    let data = pattern(4096, 5);
    for d in 0..100 {
        let sub = dir.path().join(format!("d{d:03}"));
        fs::create_dir(&sub).unwrap();
        for f in 0..1000 {
            fs::write(sub.join(format!("f{f:04}")), &data).unwrap();
        }
    }
    let t = Instant::now();
    let scanned = scan_folder(dir.path()).unwrap();
    let scan_s = t.elapsed().as_secs_f64();
    let paths: Vec<PathBuf> = scanned.iter().map(|f| f.path.clone()).collect();
    let t = Instant::now();
    let hashed = hash_files(&paths, |_| {});
    let hash_s = t.elapsed().as_secs_f64();
    assert_eq!(hashed.len(), 100_000);
    assert!(hashed.iter().all(|h| h.is_ok()));
    println!("100,000 x 4 KiB: scan {scan_s:.3} s, hash {hash_s:.3} s ({:.0} files/s)", 100_000.0 / (scan_s + hash_s));
}
