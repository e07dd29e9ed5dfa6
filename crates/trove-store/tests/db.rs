//! The database layer against real SQLite files in temporary directories: restart, crashes
//! (child processes killed mid-write), corruption recovery, permissions, the data-directory
//! lock, the key vault at rest, schema versions and the peer table's bounds.
//!
//! Tests that need a second process re-run this test binary with `TROVE_DB_CHILD` set; the
//! `child_entry` test does nothing unless that variable is present.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use trove_proto::content::{Hash, chunk_count, chunk_hash, chunk_list_hash};
use trove_proto::wire::{PeerAddr, ShareHead, Transport};
use trove_proto::{ContentId, Keypair, ManifestId, PubKey};
use trove_store::StoreError;
use trove_store::db::{
    ContentSource, DataDirLock, Db, DownloadState, HeadUpdate, KdfParams, NewDownload, Origin, PeerLimits,
    PeerSighting, PeerSource, SubscribeOptions, SyncOutcome, Trust, VaultState,
};

const CHILD_ENV: &str = "TROVE_DB_CHILD";
const DIR_ENV: &str = "TROVE_DB_CHILD_DIR";

fn fast_kdf() -> KdfParams {
    KdfParams::new(256, 1, 1).unwrap()
}

fn source(n: u32, path: PathBuf) -> ContentSource {
    let size = 1000 + u64::from(n);
    let hashes: Vec<Hash> = (0..chunk_count(size)).map(|_| chunk_hash(&n.to_le_bytes())).collect();
    let mut id = [0u8; 32];
    id[..4].copy_from_slice(&n.to_be_bytes());
    ContentSource {
        content_id: ContentId(id),
        path,
        size,
        mtime_ns: 1_700_000_000_000_000_000,
        chunk_list_hash: chunk_list_hash(&hashes),
        chunk_hashes: hashes,
        origin: Origin::Published,
    }
}

fn peer(i: u32) -> PeerAddr {
    PeerAddr::new(std::net::SocketAddr::from(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 7001)), Transport::Tcp)
}

/// Starts this test binary as a child running `role` on `dir`.
fn spawn_child(role: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_entry", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, role)
        .env(DIR_ENV, dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Reads the child's stdout until a line containing `marker`; returns the text after it.
fn wait_for(lines: &mut impl Iterator<Item = std::io::Result<String>>, marker: &str) -> String {
    for line in lines {
        let line = line.unwrap();
        if let Some(i) = line.find(marker) {
            return line[i + marker.len()..].trim().to_string();
        }
    }
    panic!("child ended before printing {marker}");
}

/// The child side of the multi-process tests.
#[test]
fn child_entry() {
    let Ok(role) = std::env::var(CHILD_ENV) else { return };
    let dir = PathBuf::from(std::env::var(DIR_ENV).unwrap());
    let mut out = std::io::stdout();
    match role.as_str() {
        "hold-lock" => {
            let _lock = DataDirLock::acquire(&dir).unwrap();
            writeln!(out, "\nLOCKED").unwrap();
            out.flush().unwrap();
            let mut sink = String::new();
            let _ = std::io::stdin().read_line(&mut sink);
        }
        "reserve-then-crash" => {
            let db = Db::open(&dir).unwrap();
            let id = db.shares().unwrap()[0].share_id;
            let seq = db.reserve_seq(&id).unwrap();
            writeln!(out, "\nRESERVED {seq}").unwrap();
            out.flush().unwrap();
            std::process::abort();
        }
        "write-loop" => {
            let db = Db::open(&dir).unwrap();
            let id = db.shares().unwrap()[0].share_id;
            loop {
                let seq = db.reserve_seq(&id).unwrap();
                db.set_setting("last_seq", &seq).unwrap();
                db.put_manifest(&ManifestId([seq as u8; 32]), &id, seq, &vec![seq as u8; 3000]).unwrap();
                writeln!(out, "\nACK {seq}").unwrap();
                out.flush().unwrap();
            }
        }
        other => panic!("unknown child role {other}"),
    }
}

#[test]
fn everything_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let k = Keypair::from_seed([7; 32]);
    let sub = k.share_id();
    let (node, share, seq, dl_id) = {
        let db = Db::open(&data).unwrap();
        assert!(db.recovery().is_none());
        let node = db.node_key().unwrap().public();
        let (share, _) = db.create_share("Photos").unwrap();
        let seq = db.reserve_seq(&share.share_id).unwrap();
        db.record_revision(&share.share_id, seq, &ManifestId([1; 32])).unwrap();
        db.put_manifest(&ManifestId([1; 32]), &share.share_id, seq, b"manifest").unwrap();
        let opts = SubscribeOptions { share_pubkey: Some(k.public()), trust: Trust::Trusted, ..Default::default() };
        db.subscribe(&sub, &opts).unwrap();
        db.record_sync(&sub, &SyncOutcome::Applied { seq: 9, manifest_id: ManifestId([9; 32]) }).unwrap();
        db.record_head(&ShareHead::sign(&k, 9, ManifestId([9; 32]), 100)).unwrap();
        let c = Keypair::from_seed([8; 32]);
        db.join_community(&c.share_id(), &c.public(), Some("Club"), None).unwrap();
        db.set_setting("port", &7001u16).unwrap();
        db.add_content(&source(1, data.join("f1"))).unwrap();
        let hashes: Vec<Hash> = vec![[3; 32]];
        let d = db
            .create_download(&NewDownload {
                content_id: ContentId([4; 32]),
                share_id: Some(sub),
                item_path: "a/b".into(),
                target_path: data.join("out/b"),
                size: 10,
                chunk_list_hash: chunk_list_hash(&hashes),
            })
            .unwrap();
        db.set_download_bitmap(d.id, &[1]).unwrap();
        db.set_download_state(d.id, DownloadState::Paused, None).unwrap();
        db.save_peers(&[PeerSighting::new(peer(1), PeerSource::Bootstrap)], &PeerLimits::default()).unwrap();
        (node, share, seq, d.id)
    };
    let db = Db::open(&data).unwrap();
    assert!(db.recovery().is_none());
    assert_eq!(db.node_key().unwrap().public(), node);
    let s = db.find_share("photos").unwrap();
    assert_eq!((s.share_id, s.latest.as_ref().map(|r| r.seq)), (share.share_id, Some(seq)));
    assert_eq!(db.share_key(&share.share_id).unwrap().public(), share.pubkey);
    assert_eq!(db.reserve_seq(&share.share_id).unwrap(), seq + 1);
    assert_eq!(db.manifest(&ManifestId([1; 32])).unwrap().unwrap().bytes, b"manifest");
    let got = db.subscription(&sub).unwrap().unwrap();
    assert_eq!((got.trust, got.current_seq, got.share_pubkey), (Trust::Trusted, Some(9), Some(k.public())));
    assert_eq!(db.highest_seq(&sub).unwrap(), Some(9));
    assert_eq!(db.communities().unwrap()[0].name.as_deref(), Some("Club"));
    assert_eq!(db.setting::<u16>("port").unwrap(), Some(7001));
    assert_eq!(db.servable_content_ids().unwrap().len(), 1);
    let d = db.download(dl_id).unwrap().unwrap();
    assert_eq!((d.state, d.verified_chunks()), (DownloadState::Paused, 1));
    assert_eq!(db.peer(&peer(1)).unwrap().unwrap().source, PeerSource::Bootstrap);
    db.integrity_check().unwrap();
}

#[test]
fn head_seq_is_kept_across_unsubscribe_resubscribe_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let k = Keypair::from_seed([2; 32]);
    let id = k.share_id();
    let head = |seq| ShareHead::sign(&k, seq, ManifestId([seq as u8; 32]), 1000 + seq);
    {
        let db = Db::open(dir.path()).unwrap();
        db.subscribe(&id, &SubscribeOptions::default()).unwrap();
        assert!(matches!(db.record_head(&head(10)).unwrap(), HeadUpdate::Advanced { .. }));
        assert!(db.unsubscribe(&id).unwrap());
        assert!(matches!(db.record_head(&head(3)).unwrap(), HeadUpdate::Stale { current_seq: 10, .. }));
    }
    let db = Db::open(dir.path()).unwrap();
    db.subscribe(&id, &SubscribeOptions::default()).unwrap();
    assert_eq!(db.highest_seq(&id).unwrap(), Some(10));
    assert!(matches!(db.record_head(&head(9)).unwrap(), HeadUpdate::Stale { current_seq: 10, .. }));
    assert_eq!(db.head(&id).unwrap().unwrap().head, head(10));
    assert_eq!(db.record_head(&head(11)).unwrap(), HeadUpdate::Advanced { previous_seq: Some(10) });
}

#[cfg(unix)]
#[test]
fn files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("a/b/data");
    let _lock = DataDirLock::acquire(&data).unwrap();
    let db = Db::open(&data).unwrap();
    db.node_key().unwrap();
    let mode = |p: PathBuf| {
        std::fs::metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).permissions().mode() & 0o777
    };
    assert_eq!(mode(data.clone()), 0o700);
    for f in ["trove.db", "trove.db-wal", "trove.db-shm", "lock"] {
        assert_eq!(mode(data.join(f)), 0o600, "{f}");
    }
    // An existing database file with loose permissions is tightened.
    drop(db);
    std::fs::set_permissions(data.join("trove.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let _db = Db::open(&data).unwrap();
    assert_eq!(mode(data.join("trove.db")), 0o600);
}

#[test]
fn second_process_cannot_take_the_lock_and_learns_the_pid() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child("hold-lock", dir.path());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    wait_for(&mut lines, "LOCKED");
    let e = DataDirLock::acquire(dir.path()).unwrap_err();
    assert!(matches!(e, StoreError::Locked(_)), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains(&format!("(pid {})", child.id())), "{msg}");
    assert!(msg.contains("in use by another trove process"), "{msg}");
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    DataDirLock::acquire(dir.path()).unwrap();
}

#[test]
fn a_reserved_seq_is_never_reused_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let db = Db::open(dir.path()).unwrap();
        let (s, _) = db.create_share("S").unwrap();
        assert_eq!(db.reserve_seq(&s.share_id).unwrap(), 1);
        s.share_id
    };
    let mut child = spawn_child("reserve-then-crash", dir.path());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let reserved: u64 = wait_for(&mut lines, "RESERVED ").parse().unwrap();
    assert!(!child.wait().unwrap().success(), "the child aborted");
    assert_eq!(reserved, 2);
    let db = Db::open(dir.path()).unwrap();
    assert_eq!(db.latest_revision(&id).unwrap(), None, "seq 2 was never recorded");
    assert_eq!(db.reserve_seq(&id).unwrap(), 3);
}

#[test]
fn sigkill_mid_write_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let id = {
        let db = Db::open(dir.path()).unwrap();
        db.create_share("S").unwrap().0.share_id
    };
    let mut child = spawn_child("write-loop", dir.path());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut last_ack = 0;
    while last_ack < 150 {
        last_ack = wait_for(&mut lines, "ACK ").parse().unwrap();
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let db = Db::open(dir.path()).unwrap();
    assert!(db.recovery().is_none());
    db.integrity_check().unwrap();
    let last: u64 = db.setting("last_seq").unwrap().unwrap();
    assert!(last >= last_ack, "acknowledged {last_ack}, stored {last}");
    assert!(db.manifest(&ManifestId([last_ack as u8; 32])).unwrap().is_some());
    assert!(db.reserve_seq(&id).unwrap() > last);
}

#[test]
fn passphrase_protects_seeds_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let (node, early, late) = {
        let db = Db::open(data).unwrap();
        let node = db.node_key().unwrap();
        let early = db.generate_share_key().unwrap();
        // Control: without a passphrase the seed is in the file, so the search below works.
        db.checkpoint().unwrap();
        let plain = std::fs::read(data.join("trove.db")).unwrap();
        assert!(plain.windows(32).any(|w| w == node.seed()), "the raw-bytes search finds a plain seed");
        db.set_passphrase("open sesame", fast_kdf()).unwrap();
        let late = db.create_share("Later").unwrap().1;
        db.checkpoint().unwrap();
        (node, early, late)
    };
    let seeds = [node.seed(), early.seed(), late.seed()];
    let assert_absent = |when: &str| {
        for entry in std::fs::read_dir(data).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            for (i, seed) in seeds.iter().enumerate() {
                assert!(
                    !bytes.windows(32).any(|w| w == seed),
                    "{when}: seed {i} found in the clear in {}",
                    path.display()
                );
            }
        }
    };
    assert_absent("after closing");

    let db = Db::open(data).unwrap();
    assert_eq!(db.vault_state().unwrap(), VaultState::Locked);
    assert!(matches!(db.node_key(), Err(StoreError::Passphrase(_))));
    let e = db.unlock("open says me").unwrap_err();
    assert!(matches!(e, StoreError::Passphrase(_)) && e.to_string().contains("wrong passphrase"), "{e}");
    db.unlock("open sesame").unwrap();
    assert_eq!(db.node_key().unwrap().public(), node.public());
    assert_eq!(db.share_key(&early.share_id()).unwrap().seed(), early.seed());
    db.change_passphrase("open sesame", "new words", fast_kdf()).unwrap();
    assert_absent("after changing the passphrase, database open");
    drop(db);

    let db = Db::open(data).unwrap();
    assert!(db.unlock("open sesame").is_err());
    db.unlock("new words").unwrap();
    assert_eq!(db.export_share_key(&late.share_id(), Some("new words")).unwrap(), late.seed());
    db.remove_passphrase("new words").unwrap();
    drop(db);
    let db = Db::open(data).unwrap();
    assert_eq!(db.vault_state().unwrap(), VaultState::Plain);
    assert_eq!(db.share_key(&late.share_id()).unwrap().seed(), late.seed());
}

#[test]
fn restored_publisher_key_continues_above_the_network_head() {
    let dir = tempfile::tempdir().unwrap();
    let old = Keypair::from_seed([5; 32]);
    let db = Db::open(dir.path()).unwrap();
    let info = db.import_share_key(old.seed()).unwrap();
    let share = db.create_share_with_key("Restored", &info.share_id).unwrap();
    assert_eq!(db.raise_seq_floor(&share.share_id, 41).unwrap(), 42);
    assert_eq!(db.reserve_seq(&share.share_id).unwrap(), 42);
    drop(db);
    let db = Db::open(dir.path()).unwrap();
    assert_eq!(db.reserve_seq(&share.share_id).unwrap(), 43);
}

fn corrupt_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".corrupt-"))
        .collect();
    v.sort();
    v
}

#[test]
fn garbage_header_is_moved_aside_and_a_fresh_database_starts() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open(dir.path()).unwrap();
        db.node_key().unwrap();
    }
    let path = dir.path().join("trove.db");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..100].copy_from_slice(&[0x5a; 100]);
    std::fs::write(&path, &bytes).unwrap();

    let db = Db::open(dir.path()).unwrap();
    let rec = db.recovery().expect("recovery reported").clone();
    assert!(rec.moved_to.file_name().unwrap().to_string_lossy().starts_with("trove.db.corrupt-"), "{rec:?}");
    assert_eq!(std::fs::read(&rec.moved_to).unwrap(), bytes, "the damaged file is kept as it was");
    assert!(rec.salvaged.is_empty());
    assert!(!rec.reason.is_empty());
    db.node_key().unwrap();
    db.integrity_check().unwrap();
    drop(db);
    let db = Db::open(dir.path()).unwrap();
    assert!(db.recovery().is_none(), "no crash loop: the fresh database opens normally");
    assert_eq!(corrupt_files(dir.path()).len(), 1);
}

#[test]
fn truncated_database_recovers_and_salvages_the_readable_tables() {
    let dir = tempfile::tempdir().unwrap();
    let (node, share) = {
        let db = Db::open(dir.path()).unwrap();
        let node = db.node_key().unwrap().public();
        let (share, _) = db.create_share("Keep me").unwrap();
        let big = vec![0xabu8; 8 << 20];
        db.put_manifest(&ManifestId([1; 32]), &share.share_id, 1, &big).unwrap();
        (node, share.share_id)
    };
    let path = dir.path().join("trove.db");
    let len = std::fs::metadata(&path).unwrap().len();
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len / 2).unwrap();
    drop(f);

    let db = Db::open(dir.path()).unwrap();
    let rec = db.recovery().expect("recovery reported").clone();
    assert!(rec.salvaged.iter().any(|t| t == "keys"), "{rec:?}");
    assert!(!rec.salvaged.iter().any(|t| t == "manifests"), "{rec:?}");
    assert_eq!(db.node_key().unwrap().public(), node, "the node identity survived");
    assert_eq!(db.find_share("Keep me").unwrap().share_id, share);
    assert_eq!(db.manifest(&ManifestId([1; 32])).unwrap(), None);
    db.integrity_check().unwrap();
}

#[test]
fn an_empty_database_file_is_a_new_database() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("trove.db"), b"").unwrap();
    let db = Db::open(dir.path()).unwrap();
    assert!(db.recovery().is_none());
    assert_eq!(db.schema_version().unwrap(), trove_store::db::SCHEMA_VERSION);
}

#[test]
fn a_newer_schema_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    drop(Db::open(dir.path()).unwrap());
    let path = dir.path().join("trove.db");
    let raw = rusqlite::Connection::open(&path).unwrap();
    raw.pragma_update(None, "user_version", 999).unwrap();
    drop(raw);
    let e = Db::open(dir.path()).unwrap_err();
    assert!(matches!(e, StoreError::Invalid(_)), "{e:?}");
    assert!(e.to_string().contains("schema version 999, newer than"), "{e}");
    assert!(corrupt_files(dir.path()).is_empty(), "a newer database is not mistaken for a corrupt one");
}

#[test]
fn peer_table_is_capped_with_deterministic_eviction() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let limits = PeerLimits::new(10, 100).unwrap();
    let first: Vec<PeerSighting> = (0..10).map(|i| PeerSighting::new(peer(i), PeerSource::Pex)).collect();
    db.save_peers(&first, &limits).unwrap();
    // Peers 0..4 get failures (peer i fails i+1 times); 5..9 succeed.
    for i in 0..5 {
        for _ in 0..=i {
            db.record_peer_failure(&peer(i)).unwrap();
        }
    }
    for i in 5..10 {
        db.record_peer_success(&peer(i), Some(PubKey([i as u8; 32])), None).unwrap();
    }
    let newcomers: Vec<PeerSighting> = (100..103).map(|i| PeerSighting::new(peer(i), PeerSource::Lan)).collect();
    let saved = db.save_peers(&newcomers, &limits).unwrap();
    assert_eq!((saved.written, saved.dropped, saved.evicted), (3, 0, 3));
    assert_eq!(db.peer_count().unwrap(), 10);
    for i in [4, 3, 2] {
        assert!(db.peer(&peer(i)).unwrap().is_none(), "peer {i} had the most failures");
    }
    for i in [0, 1, 5, 9, 100, 102] {
        assert!(db.peer(&peer(i)).unwrap().is_some(), "peer {i} kept");
    }
    let best = db.best_peers(5).unwrap();
    assert!(best.iter().all(|p| p.failures == 0 && p.last_ok.is_some()), "{best:?}");
}

#[test]
fn a_peer_flood_writes_a_bounded_number_of_rows_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let wal = dir.path().join("trove.db-wal");
    let limits = PeerLimits::new(1000, 256).unwrap();
    let flood: Vec<PeerSighting> = (0..20_000).map(|i| PeerSighting::new(peer(i), PeerSource::Pex)).collect();
    let mut wal_bytes = Vec::new();
    for round in 0..6 {
        db.checkpoint().unwrap();
        let offered = &flood[round * 3000..];
        let saved = db.save_peers(offered, &limits).unwrap();
        assert_eq!((saved.written, saved.dropped), (256, offered.len() - 256));
        assert!(db.peer_count().unwrap() <= 1000);
        wal_bytes.push(std::fs::metadata(&wal).unwrap().len());
    }
    assert_eq!(db.peer_count().unwrap(), 1000);
    let max = *wal_bytes.iter().max().unwrap();
    assert!(max <= 256 * 1024, "one save wrote {max} bytes of WAL: {wal_bytes:?}");
}

#[test]
fn a_hundred_thousand_content_rows_in_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let root = dir.path().join("share");
    let sources: Vec<ContentSource> = (0..100_000).map(|i| source(i, root.join(format!("f{i:06}")))).collect();
    db.add_content_batch(&sources).unwrap();
    assert_eq!(db.servable_content_ids().unwrap().len(), 100_000);
    let probe = &sources[77_777];
    let got = db.content_path(&probe.path).unwrap().unwrap();
    assert_eq!((got.content_id, got.size), (probe.content_id, probe.size));
    assert_eq!(
        db.hash_range(trove_store::db::StoredList::Content(probe.content_id), 0, usize::MAX).unwrap().unwrap(),
        probe.chunk_hashes
    );
    // Re-adding the same batch (a re-publish) changes nothing.
    db.add_content_batch(&sources).unwrap();
    assert_eq!(db.content_paths().unwrap().len(), 100_000);
}

#[test]
fn many_handles_share_one_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let (share, _) = db.create_share("S").unwrap();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || (0..25).map(|_| db.reserve_seq(&share.share_id).unwrap()).collect::<Vec<_>>())
        })
        .collect();
    let mut all: Vec<u64> = threads.into_iter().flat_map(|t| t.join().unwrap()).collect();
    all.sort();
    assert_eq!(all, (1..=100).collect::<Vec<_>>(), "every seq handed out exactly once");
}
