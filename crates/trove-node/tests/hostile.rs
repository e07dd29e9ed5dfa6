//! Hostile peers against real nodes (TEST-MATRIX IN-6, IN-7, FT-4, FT-7, TR-6): forged,
//! rolled-back, expired and oversized heads and manifests, corrupted chunks, hostile paths,
//! a tarpit provider, a published file changed on disk, and a provider lying in its paged
//! chunk hash list or sending a page past its end.

mod common;

use common::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::time::Instant;
use trove_node::download::get::GetRequest;
use trove_node::{NodeError, PublishRequest};
use trove_proto::wire::ShareHead;
use trove_proto::{Keypair, ManifestId, ShareLink, cbor, dht_key};
use trove_store::db::Trust;

fn link(key: &Keypair, hints: &[String]) -> String {
    ShareLink::new(key.public(), hints.to_vec()).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_expired_heads_and_manifests_are_rejected_and_nothing_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let b = node(dir.path()).await;
    let fake = FakePeer::start(true).await;
    let key = Keypair::from_seed([42; 32]);

    // A head with a bad signature and a huge seq.
    let m = manifest_for(&key, 1, &[("a.txt", b"hello")], now(), None);
    let mut forged = ShareHead::sign(&key, 1 << 40, m.manifest_id(), now());
    forged.sig[0] ^= 1;
    fake.state.values.lock().unwrap().insert(dht_key::share_head(&key.share_id()), cbor::to_vec(&forged));
    fake.state.manifests.lock().unwrap().insert(m.manifest_id(), m.to_bytes());
    let r = b.subscribe(&link(&key, &[fake.hint()]), None, Trust::Normal).await.unwrap();
    assert!(r.error.is_some() && r.seq.is_none(), "{r:?}");
    assert!(b.db().head(&key.share_id()).unwrap().is_none(), "forged head stored");

    // An expired manifest behind a valid head.
    let key2 = Keypair::from_seed([43; 32]);
    let expired = manifest_for(&key2, 1, &[("a.txt", b"x")], now() - 1000, Some(now() - 10));
    fake.serve_share(&key2, &expired, &[]);
    let r = b.subscribe(&link(&key2, &[fake.hint()]), None, Trust::Normal).await.unwrap();
    let e = r.error.clone().unwrap_or_default();
    assert!(e.contains("expired"), "{r:?}");
    assert!(b.db().manifest(&expired.manifest_id()).unwrap().is_none());

    // Manifest bytes that do not hash to the id the head names.
    let key3 = Keypair::from_seed([44; 32]);
    let good = manifest_for(&key3, 1, &[("a.txt", b"x")], now(), None);
    fake.serve_share(&key3, &good, &[]);
    let mut tampered = good.clone();
    tampered.items[0].size += 1;
    fake.state.manifests.lock().unwrap().insert(good.manifest_id(), tampered.to_bytes());
    let r = b.subscribe(&link(&key3, &[fake.hint()]), None, Trust::Normal).await.unwrap();
    assert!(r.error.unwrap_or_default().contains("hash to"), "tampered manifest accepted");

    // An oversized manifest: declares 2,000,000 items.
    let key4 = Keypair::from_seed([45; 32]);
    let small = manifest_for(&key4, 1, &[("a.txt", b"x")], now(), None);
    fake.serve_share(&key4, &small, &[]);
    let mut bytes = small.to_bytes();
    let pos = bytes.windows(6).position(|w| w == b"\x65items").unwrap() + 6;
    bytes.splice(pos..pos + 1, [0x9a, 0x00, 0x1e, 0x84, 0x80]);
    fake.state.manifests.lock().unwrap().insert(small.manifest_id(), bytes);
    let r = b.subscribe(&link(&key4, &[fake.hint()]), None, Trust::Normal).await.unwrap();
    let e = r.error.unwrap_or_default();
    assert!(e.contains("2000000") || e.contains("limit"), "{e}");
    for k in [&key, &key2, &key3, &key4] {
        let s = b.db().subscription(&k.share_id()).unwrap().unwrap();
        assert_eq!(s.current_seq, None);
        assert!(s.last_error.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolled_back_head_never_replaces_a_newer_one() {
    let (da, dbb, content) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_tree(content.path(), &[("f.txt", 10)]);
    let a = node(da.path()).await;
    let b = node(dbb.path()).await;
    let r1 = a
        .publish(PublishRequest { paths: vec![content.path().into()], name: Some("s".into()), ..Default::default() })
        .await
        .unwrap();
    write_tree(content.path(), &[("g.txt", 10)]);
    let r2 = a
        .publish(PublishRequest { paths: vec![content.path().into()], share: Some("s".into()), ..Default::default() })
        .await
        .unwrap();
    // The fake peer replays the validly signed seq-1 head and its manifest.
    let seed = a.export_share_key("s", None).unwrap();
    let key = Keypair::from_seed(hex::decode(seed).unwrap().try_into().unwrap());
    let old = trove_node::views::manifest(a.db(), &r1.manifest_id).unwrap().unwrap();
    let fake = FakePeer::start(true).await;
    fake.serve_share(&key, &old, &[]);
    let report = b.subscribe(&r2.link, None, Trust::Normal).await.unwrap();
    assert_eq!(report.seq, Some(2));
    // Syncing through the replaying peer only keeps seq 2, also after resubscribing.
    b.subscribe(&link(&key, &[fake.hint()]), None, Trust::Normal).await.unwrap();
    assert_eq!(b.db().subscription(&key.share_id()).unwrap().unwrap().current_seq, Some(2));
    b.unsubscribe(&r2.share_id.to_hex()).await.unwrap();
    let again = b.subscribe(&link(&key, &[fake.hint()]), None, Trust::Normal).await.unwrap();
    assert_ne!(again.seq, Some(1), "rolled back after resubscribe: {again:?}");
    assert_eq!(b.db().highest_seq(&key.share_id()).unwrap(), Some(2));
}

/// The chunk hash list of a file arrives in pages of five hashes, each stored as it comes.
/// The provider that answers first lies in its last page: the list fails the manifest's
/// list hash, is read again from the other provider (held back until then), and the
/// download completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paged_hash_list_with_a_lie_is_read_again_from_another_provider() {
    let (dir, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let b = node(dir.path()).await;
    let key = Keypair::from_seed([51; 32]);
    let data = pattern(12 * trove_proto::limits::CHUNK_SIZE + 100, 3);
    let m = manifest_for(&key, 1, &[("paged.bin", &data)], now(), None);
    let (liar, honest) = (FakePeer::start(true).await, FakePeer::start(true).await);
    for f in [&liar, &honest] {
        f.serve_share(&key, &m, std::slice::from_ref(&data));
        f.state.page_limit.store(5, Ordering::SeqCst);
    }
    liar.state.lie_in_lists.store(true, Ordering::SeqCst);
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    *honest.state.hash_gate.lock().unwrap() = Some(gate.clone());
    let l = link(&key, &[liar.hint(), honest.hint()]);
    b.subscribe(&l, None, Trust::Normal).await.unwrap();

    let release_honest = async {
        // The liar answers all three pages of its 13-hash list first.
        tokio::time::timeout(std::time::Duration::from_secs(30), async {
            loop {
                let served = liar.state.page_served.notified();
                tokio::pin!(served);
                served.as_mut().enable();
                if liar.state.page_requests.load(Ordering::SeqCst) >= 3 {
                    break;
                }
                served.await;
            }
        })
        .await
        .expect("the liar was never asked for its whole list");
        gate.add_permits(100);
    };
    let (report, ()) =
        tokio::join!(b.get(GetRequest { share: l, out_dir: out.path().into(), ..Default::default() }), release_honest);
    let report = report.unwrap();
    assert!(report.ok(), "{report:#?}");
    assert_eq!(std::fs::read(out.path().join("paged.bin")).unwrap(), data);
    assert_eq!(liar.state.page_requests.load(Ordering::SeqCst), 3);
    assert_eq!(honest.state.page_requests.load(Ordering::SeqCst), 3, "the list was read again, a page at a time");
    b.shutdown().await;
}

/// A provider whose last hash page runs past the end of the list is refused at that page,
/// with a clear error, and nothing of the file is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_page_running_past_the_list_is_refused() {
    let (dir, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let b = node(dir.path()).await;
    let key = Keypair::from_seed([52; 32]);
    let data = pattern(12 * trove_proto::limits::CHUNK_SIZE + 1, 4);
    let m = manifest_for(&key, 1, &[("padded.bin", &data)], now(), None);
    let fake = FakePeer::start(true).await;
    fake.serve_share(&key, &m, std::slice::from_ref(&data));
    fake.state.page_limit.store(5, Ordering::SeqCst);
    fake.state.pad_pages.store(true, Ordering::SeqCst);
    let l = link(&key, &[fake.hint()]);
    b.subscribe(&l, None, Trust::Normal).await.unwrap();
    let report = b.get(GetRequest { share: l, out_dir: out.path().into(), ..Default::default() }).await.unwrap();
    let err = report.files[0].error.clone().unwrap_or_default();
    assert!(err.contains("inconsistent hash page"), "{report:#?}");
    assert_eq!(fake.state.chunk_requests.load(Ordering::SeqCst), 0);
    assert!(!out.path().join("padded.bin").exists());
    b.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupting_seeder_is_dropped_and_the_download_completes() {
    let (dbb, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let b = node(dbb.path()).await;
    let key = Keypair::from_seed([50; 32]);
    let data = pattern(3_000_000, 7);
    let m = manifest_for(&key, 1, &[("big.bin", &data)], now(), None);
    let honest = FakePeer::start(true).await;
    let liar = FakePeer::start(true).await;
    honest.serve_share(&key, &m, std::slice::from_ref(&data));
    liar.serve_share(&key, &m, std::slice::from_ref(&data));
    liar.state.corrupt.store(true, Ordering::SeqCst);
    let l = link(&key, &[liar.hint(), honest.hint()]);
    b.subscribe(&l, None, Trust::Normal).await.unwrap();
    let report =
        b.get(GetRequest { share: l.clone(), out_dir: out.path().into(), ..Default::default() }).await.unwrap();
    assert!(report.ok(), "{report:#?}");
    assert_eq!(std::fs::read(out.path().join("big.bin")).unwrap(), data);
    let after = liar.state.requests_after_corrupt.load(Ordering::SeqCst);
    println!(
        "liar got {} chunk requests, {after} after its first bad chunk",
        liar.state.chunk_requests.load(Ordering::SeqCst)
    );
    // Requests already in flight when the first bad chunk arrived (the initial window) are the
    // only ones the liar still sees.
    assert!(after <= 4, "bad peer kept getting requests: {after}");

    // With only liars, the download fails clearly and leaves no final file.
    let out2 = tempfile::tempdir().unwrap();
    let only_liar = link(&key, &[liar.hint()]);
    let liar2 = FakePeer::start(true).await;
    liar2.serve_share(&key, &m, std::slice::from_ref(&data));
    liar2.state.corrupt.store(true, Ordering::SeqCst);
    let dir2 = tempfile::tempdir().unwrap();
    let c = node(dir2.path()).await;
    c.subscribe(&only_liar, None, Trust::Normal).await.unwrap();
    let report =
        c.get(GetRequest { share: only_liar, out_dir: out2.path().into(), ..Default::default() }).await.unwrap();
    assert!(!report.ok());
    let err = report.files[0].error.clone().unwrap();
    assert!(err.contains("failed verification") || err.contains("failed"), "{err}");
    assert!(!out2.path().join("big.bin").exists(), "a final file from bad data");
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, Option<std::time::SystemTime>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                stack.push(e.path());
            }
            out.insert(e.path(), (m.len(), m.modified().ok()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_paths_never_write_outside_the_target() {
    let (dbb, parent) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let out = parent.path().join("target");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(parent.path().join("victim.txt"), b"keep me").unwrap();
    std::fs::write(out.join("existing.txt"), b"user data").unwrap();
    let b = node(dbb.path()).await;
    let key = Keypair::from_seed([60; 32]);
    let hostile = [
        "../victim.txt",
        "a/../../victim.txt",
        "/etc/passwd",
        "C:\\x",
        "C:x",
        "\\\\srv\\share\\x",
        ".. ",
        "...",
        "x.",
        "CON",
        "nul.txt",
        "COM1",
        "a:b",
        "ctl\u{1}.txt",
        "existing.txt",
    ];
    let bodies: Vec<Vec<u8>> = hostile.iter().enumerate().map(|(i, _)| pattern(100 + i, i as u8)).collect();
    let items: Vec<(&str, &[u8])> = hostile.iter().zip(&bodies).map(|(p, b)| (*p, b.as_slice())).collect();
    let m = manifest_for(&key, 1, &items, now(), None);
    let fake = FakePeer::start(true).await;
    fake.serve_share(&key, &m, &bodies);
    let l = link(&key, &[fake.hint()]);
    b.subscribe(&l, None, Trust::Normal).await.unwrap();
    let before = snapshot(parent.path());
    let report = b.get(GetRequest { share: l, out_dir: out.clone(), ..Default::default() }).await.unwrap();
    let after = snapshot(parent.path());
    for (p, meta) in &before {
        if !p.starts_with(&out) {
            assert_eq!(after.get(p), Some(meta), "{} changed", p.display());
        }
    }
    for p in after.keys() {
        assert!(p.starts_with(&out) || before.contains_key(p), "created outside the target: {}", p.display());
    }
    assert_eq!(std::fs::read(parent.path().join("victim.txt")).unwrap(), b"keep me");
    assert_eq!(std::fs::read(out.join("existing.txt")).unwrap(), b"user data", "existing file overwritten");
    let written = report.files.iter().filter(|f| f.status == "downloaded").count();
    let refused = report.files.iter().filter(|f| f.status == "failed").count();
    println!("hostile paths: {written} written inside the target, {refused} refused");
    assert!(written > 0 && refused > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tarpit_provider_does_not_stall_the_download() {
    let (dbb, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let b = node(dbb.path()).await;
    let key = Keypair::from_seed([70; 32]);
    let data = pattern(1_500_000, 3);
    let m = manifest_for(&key, 1, &[("f.bin", &data)], now(), None);
    let honest = FakePeer::start(true).await;
    honest.serve_share(&key, &m, std::slice::from_ref(&data));
    // Accepts TCP, never speaks TLS.
    let tarpit = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let tarpit_hint = format!("tcp://{}", tarpit.local_addr().unwrap());
    let l = link(&key, &[tarpit_hint, honest.hint()]);
    b.subscribe(&l, None, Trust::Normal).await.unwrap();
    let start = Instant::now();
    let report = b.get(GetRequest { share: l, out_dir: out.path().into(), ..Default::default() }).await.unwrap();
    println!("download with a tarpit provider took {:?}", start.elapsed());
    assert!(report.ok(), "{report:#?}");
    assert_eq!(std::fs::read(out.path().join("f.bin")).unwrap(), data);
    drop(tarpit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_file_changed_on_disk_is_never_served_wrong() {
    let (da, dbb, content, out) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    write_tree(content.path(), &[("doc.bin", 600_000)]);
    let a = node(da.path()).await;
    let b = node(dbb.path()).await;
    let r = a.publish(PublishRequest { paths: vec![content.path().into()], ..Default::default() }).await.unwrap();
    b.subscribe(&r.link, None, Trust::Normal).await.unwrap();
    // Edit in place, same size, and restore the modification time.
    let p = content.path().join("doc.bin");
    let mtime = std::fs::metadata(&p).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    bytes[300_000] ^= 0xff;
    std::fs::write(&p, &bytes).unwrap();
    std::fs::File::options().write(true).open(&p).unwrap().set_modified(mtime).unwrap();
    let report =
        b.get(GetRequest { share: r.link.clone(), out_dir: out.path().into(), ..Default::default() }).await.unwrap();
    assert!(!report.ok(), "a changed file was served: {report:#?}");
    assert!(!out.path().join("doc.bin").exists(), "no final file from a changed source");
    // The publisher withdrew it.
    assert!(a.db().content_paths().unwrap().is_empty(), "changed file still advertised");
    let _: Option<NodeError> = None;
    let _ = ManifestId([0; 32]);
}
