//! Transfers between real nodes on loopback: several seeders with one killed mid-transfer
//! (FT-1), uplink-limited seeders sharing a download, v1-shaped seeders and downloaders, and a downloader killed with SIGKILL again and
//! again that resumes every time without losing acknowledged chunks (FT-2), the requests a
//! share of one-chunk files costs, a one-chunk file whose only known peer stalls, and the
//! provider announcement of every finished download, and a stored chunk hash list found
//! damaged when a download resumes.

mod common;

use common::*;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use trove_node::download::get::GetRequest;
use trove_node::{Event, NodeConfig, PublishRequest};
use trove_store::db::Trust;

fn addr_hints(n: &trove_node::Node) -> Vec<String> {
    n.advertised().iter().map(|a| format!("{}://{}", a.transport.as_str(), a.socket_addr())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_seeders_one_killed_mid_transfer() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (content, outs) =
        (tempfile::tempdir().unwrap(), (0..3).map(|_| tempfile::tempdir().unwrap()).collect::<Vec<_>>());
    let data = pattern(12 << 20, 9);
    std::fs::write(content.path().join("movie.mkv"), &data).unwrap();
    let limited = |c: &mut NodeConfig| c.upload_limit_kib = 4 << 10; // 4 MiB/s per seeder
    let a = node_with(dirs[0].path(), limited).await;
    let r = a
        .publish(PublishRequest { paths: vec![content.path().join("movie.mkv")], ..Default::default() })
        .await
        .unwrap();
    // Two more seeders: they download first, then seed.
    let seeder = |c: &mut NodeConfig| {
        c.bootstrap = addr_hints(&a);
        c.upload_limit_kib = 4 << 10;
    };
    let b = node_with(dirs[1].path(), seeder).await;
    let c = node_with(dirs[2].path(), seeder).await;
    for (n, out) in [(&b, &outs[0]), (&c, &outs[1])] {
        n.subscribe(&r.link, None, Trust::Normal).await.unwrap();
        let rep = n
            .get(GetRequest { share: r.link.clone(), out_dir: out.path().into(), ..Default::default() })
            .await
            .unwrap();
        assert!(rep.ok(), "{rep:#?}");
    }
    let mut hints = addr_hints(&a);
    hints.extend(addr_hints(&b));
    hints.extend(addr_hints(&c));
    let d = node_with(dirs[3].path(), |cfg| cfg.bootstrap = hints.clone()).await;
    d.subscribe(&r.link, None, Trust::Normal).await.unwrap();
    let mut events = d.events();
    let get = tokio::spawn({
        let d = d.clone();
        let out = outs[2].path().to_path_buf();
        let link = r.link.clone();
        async move { d.get(GetRequest { share: link, out_dir: out, ..Default::default() }).await }
    });
    // Kill one seeder once a quarter of the file arrived.
    wait_for(
        &mut events,
        |e| matches!(e, Event::DownloadProgress { bytes_done, bytes_total, .. } if *bytes_done * 4 >= *bytes_total),
    )
    .await;
    c.shutdown().await;
    let rep = get.await.unwrap().unwrap();
    assert!(rep.ok(), "{rep:#?}");
    assert_eq!(std::fs::read(outs[2].path().join("movie.mkv")).unwrap(), data);
    println!("downloaded from {} peers", rep.files[0].peers);
    assert!(rep.files[0].peers >= 2, "load was not spread: {rep:#?}");
}

/// Three seeders whose uploads are limited (16 MiB/s each, as uplinks slower than the
/// downloader): the download is spread over all of them, each delivering a fair part, and
/// the report says who delivered what. The file (256 chunks) is long enough for windows to
/// grow to the cap on requests in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uplink_limited_seeders_share_the_download() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let (content, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let data = pattern(64 << 20, 5);
    let file = content.path().join("album.flac");
    std::fs::write(&file, &data).unwrap();
    let mut seeders = Vec::new();
    let mut link = String::new();
    for d in &dirs[..3] {
        // Every seeder publishes the same file, so each can serve every chunk.
        let n = node_with(d.path(), |c| c.upload_limit_kib = 16 << 10).await;
        let r = n.publish(PublishRequest { paths: vec![file.clone()], ..Default::default() }).await.unwrap();
        if link.is_empty() {
            link = r.link;
        }
        seeders.push(n);
    }
    let hints: Vec<String> = seeders.iter().flat_map(addr_hints).collect();
    let d = node_with(dirs[3].path(), |c| c.bootstrap = hints.clone()).await;
    d.subscribe(&link, None, Trust::Normal).await.unwrap();
    let rep = d.get(GetRequest { share: link, out_dir: out.path().into(), ..Default::default() }).await.unwrap();
    assert!(rep.ok(), "{rep:#?}");
    assert_eq!(std::fs::read(out.path().join("album.flac")).unwrap(), data);
    let f = &rep.files[0];
    assert_eq!((f.peers, f.delivered.len()), (3, 3), "{f:#?}");
    let total: u64 = f.delivered.iter().map(|x| x.bytes).sum();
    println!("MiB delivered: {:?}", f.delivered.iter().map(|x| x.bytes >> 20).collect::<Vec<_>>());
    assert!(total >= data.len() as u64, "{f:#?}");
    for x in &f.delivered {
        assert!(x.bytes * 5 >= total, "{} delivered {} of {total} bytes: {f:#?}", x.peer, x.bytes);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_shaped_seeder_and_downloader_interoperate() {
    for (seeder_ext, downloader_ext) in [(false, true), (true, false), (false, false)] {
        let (da, dbb, content, out) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        write_tree(content.path(), &[("x/file.bin", 700_000), ("y.txt", 42)]);
        let a = node_with(da.path(), |c| c.extensions = seeder_ext).await;
        let b = node_with(dbb.path(), |c| c.extensions = downloader_ext).await;
        let r = a.publish(PublishRequest { paths: vec![content.path().into()], ..Default::default() }).await.unwrap();
        let s = b.subscribe(&r.link, None, Trust::Normal).await.unwrap();
        assert_eq!(s.seq, Some(1), "seeder ext {seeder_ext}, downloader ext {downloader_ext}: {s:?}");
        let rep = b
            .get(GetRequest { share: r.link.clone(), out_dir: out.path().into(), ..Default::default() })
            .await
            .unwrap();
        assert!(rep.ok(), "{rep:#?}");
        assert_eq!(
            std::fs::read(out.path().join("x/file.bin")).unwrap(),
            std::fs::read(content.path().join("x/file.bin")).unwrap()
        );
    }
}

/// The child side of the SIGKILL test: downloads and prints progress lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_download() {
    let Ok(spec) = std::env::var("TROVE_TEST_CHILD_DOWNLOAD") else { return };
    let v: serde_json::Value = serde_json::from_str(&spec).unwrap();
    let n = node_with(std::path::Path::new(v["dir"].as_str().unwrap()), |c| {
        c.bootstrap = vec![v["hint"].as_str().unwrap().to_string()];
    })
    .await;
    let mut events = n.events();
    tokio::spawn(async move {
        while let Ok(e) = events.recv().await {
            if let Event::DownloadProgress { bytes_done, .. } = e {
                println!("PROGRESS {bytes_done}");
            }
        }
    });
    let link = v["link"].as_str().unwrap().to_string();
    n.subscribe(&link, None, Trust::Normal).await.unwrap();
    let rep = n
        .get(GetRequest { share: link, out_dir: v["out"].as_str().unwrap().into(), ..Default::default() })
        .await
        .unwrap();
    assert!(rep.ok(), "{rep:#?}");
    println!("DONE resumed={}", rep.files[0].resumed_bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_downloader_resumes_without_losing_acknowledged_chunks() {
    use std::io::BufRead;
    let (da, dchild, content, out) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let data = pattern(16 << 20, 5);
    std::fs::write(content.path().join("big.bin"), &data).unwrap();
    let a = node_with(da.path(), |c| c.upload_limit_kib = 2 << 10).await;
    let r =
        a.publish(PublishRequest { paths: vec![content.path().join("big.bin")], ..Default::default() }).await.unwrap();
    let hashes = trove_proto::content::hash_reader(&data[..]).unwrap().chunk_hashes;
    let spec = serde_json::json!({
        "dir": dchild.path(), "hint": addr_hints(&a)[0], "link": r.link, "out": out.path(),
    })
    .to_string();
    let target = out.path().join("big.bin");
    let mut kills = 0;
    let mut verified_before = 0u64;
    for round in 0..6 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_download", "--nocapture", "--test-threads=1"])
            .env("TROVE_TEST_CHILD_DOWNLOAD", &spec)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut last_reported = 0u64;
        let mut done = false;
        // Let each round progress a little further before the kill.
        let kill_after = (round as u64 + 1) * (2 << 20);
        for line in stdout.lines() {
            let line = line.unwrap();
            // (The test harness prints "test child_download ... " before the first line.)
            if let Some(n) = line.split_once("PROGRESS ").map(|(_, n)| n) {
                last_reported = n.parse().unwrap();
                if round < 5 && last_reported >= verified_before + kill_after.min(4 << 20) {
                    break;
                }
            }
            if line.contains("DONE resumed=") {
                done = true;
                break;
            }
        }
        if done {
            child.wait().unwrap();
            break;
        }
        child.kill().unwrap();
        child.wait().unwrap();
        kills += 1;
        // Every chunk the child reported as written is on disk (verified by re-hashing).
        let part = trove_store::files::PartFile::create_or_open(
            &target,
            data.len() as u64,
            hashes.clone(),
            &trove_store::files::SpaceReserve::new(0),
        )
        .unwrap();
        part.recover().unwrap();
        let verified: u64 = part
            .bitmap()
            .present()
            .map(|i| trove_proto::content::chunk_len(data.len() as u64, i).unwrap() as u64)
            .sum();
        drop(part);
        println!("kill {kills}: child reported {last_reported} bytes, {verified} verified on disk");
        assert!(verified >= last_reported, "acknowledged chunks lost: {verified} < {last_reported}");
        assert!(verified >= verified_before, "progress went backwards");
        verified_before = verified;
    }
    assert!(kills >= 3, "the download finished before enough kills ({kills})");
    // Let the last run finish if it did not.
    if !target.exists() {
        let st = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_download", "--nocapture", "--test-threads=1"])
            .env("TROVE_TEST_CHILD_DOWNLOAD", &spec)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(st.success());
    }
    assert_eq!(std::fs::read(&target).unwrap(), data, "final file wrong");
    assert!(!out.path().join("big.bin.part").exists(), "leftover part file");
}

/// A share of many one-chunk files costs one request per file: the chunk hash list of a
/// one-chunk file is its content id, and the DHT is not asked for providers of each file
/// while the share's peer delivers. The multi-chunk file still fetches its hash list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_files_cost_one_request_each() {
    let (dir, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let b = node(dir.path()).await;
    let fake = FakePeer::start(true).await;
    let key = trove_proto::Keypair::from_seed([7; 32]);
    let chunk = trove_proto::limits::CHUNK_SIZE;
    let mut files: Vec<(String, Vec<u8>)> =
        (0..60).map(|i| (format!("small/f{i:02}.txt"), pattern(100 + i * 50, i as u8))).collect();
    files.push(("big.bin".into(), pattern(3 * chunk + 5, 99)));
    let (_, link) = fake.share_files(&key, &files);
    b.subscribe(&link, None, Trust::Normal).await.unwrap();

    let lookups_before = fake.state.find_value_requests.load(Ordering::SeqCst);
    let rep = b.get(GetRequest { share: link, out_dir: out.path().into(), ..Default::default() }).await.unwrap();
    assert!(rep.ok(), "{rep:#?}");
    for (p, bytes) in &files {
        assert_eq!(&std::fs::read(out.path().join(p)).unwrap(), bytes, "{p}");
    }
    let s = &fake.state;
    let lists = s.hash_requests.load(Ordering::SeqCst) + s.page_requests.load(Ordering::SeqCst);
    assert_eq!(lists, 1, "only the multi-chunk file needs its hash list (one page)");
    let chunks = s.chunk_requests.load(Ordering::SeqCst);
    assert!((64..=68).contains(&chunks), "{chunks} chunk requests for 60 one-chunk files and 4 chunks");
    let lookups = s.find_value_requests.load(Ordering::SeqCst) - lookups_before;
    assert!(lookups <= 8, "{lookups} DHT lookups reached the peer for 61 files");
    b.shutdown().await;
}

/// A download that failed (its only provider sent bad chunks) keeps its chunk hash list,
/// fetched in pages of five. Damaged on disk as a crash in the middle of writing it would
/// leave it, the list fails its check when the download is tried again: it is fetched anew
/// and the download completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_stored_hash_list_is_fetched_again() {
    let (dir, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let fake = FakePeer::start(true).await;
    fake.state.page_limit.store(5, Ordering::SeqCst);
    let key = trove_proto::Keypair::from_seed([8; 32]);
    let data = pattern(12 * trove_proto::limits::CHUNK_SIZE + 7, 5);
    let (_, link) = fake.share_files(&key, &[("f.bin".into(), data.clone())]);
    let req = || GetRequest { share: link.clone(), out_dir: out.path().into(), ..Default::default() };
    fake.state.corrupt.store(true, Ordering::SeqCst);
    let b = node(dir.path()).await;
    b.subscribe(&link, None, Trust::Normal).await.unwrap();
    let rep = b.get(req()).await.unwrap();
    assert!(!rep.ok(), "{rep:#?}");
    assert_eq!(fake.state.page_requests.load(Ordering::SeqCst), 3);
    b.shutdown().await;

    let db = trove_store::db::Db::open(dir.path()).unwrap();
    let dl = db.downloads().unwrap().pop().unwrap();
    let list = trove_store::db::StoredList::Download(dl.id);
    assert_eq!(db.hash_list(list, 100).unwrap().map(|_| ()), Some(()), "the list is kept");
    db.fill_download_list(dl.id, 0, &[[0; 32]]).unwrap();
    drop(db);

    fake.state.corrupt.store(false, Ordering::SeqCst);
    let b = node(dir.path()).await;
    let rep = b.get(req()).await.unwrap();
    assert!(rep.ok(), "{rep:#?}");
    assert_eq!(std::fs::read(out.path().join("f.bin")).unwrap(), data);
    assert_eq!(fake.state.page_requests.load(Ordering::SeqCst), 6, "the damaged list was fetched again");
    b.shutdown().await;
}

/// A file that cannot fit on the disk (here: a free-space reserve larger than any disk) is
/// refused before anything is fetched for it, its chunk hash list included (FT-5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_cannot_fit_is_refused_before_its_hash_list_is_fetched() {
    let (dir, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let fake = FakePeer::start(true).await;
    let key = trove_proto::Keypair::from_seed([9; 32]);
    let data = pattern(3 * trove_proto::limits::CHUNK_SIZE, 2);
    let (_, link) = fake.share_files(&key, &[("f.bin".into(), data)]);
    let b = node_with(dir.path(), |c| c.free_space_reserve_mib = 1 << 40).await;
    b.subscribe(&link, None, Trust::Normal).await.unwrap();
    let rep = b.get(GetRequest { share: link, out_dir: out.path().into(), ..Default::default() }).await.unwrap();
    let err = rep.files[0].error.clone().unwrap_or_default();
    assert!(err.contains("must stay free"), "{rep:#?}");
    assert_eq!(fake.state.page_requests.load(Ordering::SeqCst) + fake.state.hash_requests.load(Ordering::SeqCst), 0);
    assert_eq!(fake.state.chunk_requests.load(Ordering::SeqCst), 0);
    b.shutdown().await;
}

/// `fetch` by content id alone, from a provider that gives the list in pages of five: the
/// list is hashed as it arrives to learn the content (not held), then read again into the
/// database by the download.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_reads_a_paged_hash_list_without_holding_it() {
    let (dir, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let fake = FakePeer::start(true).await;
    fake.state.page_limit.store(5, Ordering::SeqCst);
    let data = pattern(12 * trove_proto::limits::CHUNK_SIZE + 9, 6);
    let id = trove_proto::content::content_id(&data);
    fake.state.files.lock().unwrap().insert(id, data.clone());
    let b = node_with(dir.path(), |c| c.bootstrap = vec![fake.hint()]).await;
    let target = out.path().join("by-id.bin");
    let r = b.fetch(&id, &target, false).await.unwrap();
    assert_eq!((r.status.as_str(), r.size), ("downloaded", data.len() as u64));
    assert_eq!(std::fs::read(&target).unwrap(), data);
    assert_eq!(fake.state.page_requests.load(Ordering::SeqCst), 6, "three pages to learn the list, three to store it");

    b.shutdown().await;
}

/// A one-file share whose link names only `staller` (which serves the head and manifest,
/// holds chunk requests forever, and answers DHT lookups naming `honest` as the provider of
/// the file), subscribed to by a node whose requests would wait 600 s for an answer.
struct StalledShare {
    node: trove_node::Node,
    staller: FakePeer,
    honest: FakePeer,
    link: String,
    data: Vec<u8>,
}

async fn stalled_share(dir: &std::path::Path, seed: u8, name: &str, size: usize) -> StalledShare {
    let node = node_with(dir, |c| c.request_timeout_secs = 600).await;
    let key = trove_proto::Keypair::from_seed([seed; 32]);
    let data = pattern(size, seed);
    let m = manifest_for(&key, 1, &[(name, &data)], now(), None);
    let staller = FakePeer::start(true).await;
    staller.serve_share(&key, &m, std::slice::from_ref(&data));
    staller.state.stall_chunks.store(true, Ordering::SeqCst);
    let honest = FakePeer::start(true).await;
    honest.serve_share(&key, &m, std::slice::from_ref(&data));
    let id = m.items[0].content_id;
    let providers = trove_proto::wire::Providers {
        content_id: id,
        providers: vec![trove_proto::wire::PeerAddr::new(
            honest.endpoint.tcp_addr().unwrap(),
            trove_proto::wire::Transport::Tcp,
        )],
        updated_at: now(),
    };
    staller
        .state
        .values
        .lock()
        .unwrap()
        .insert(trove_proto::dht_key::content_providers(&id), trove_proto::cbor::to_vec(&providers));
    let link = trove_proto::ShareLink::new(key.public(), vec![staller.hint()]).to_string();
    node.subscribe(&link, None, Trust::Normal).await.unwrap();
    StalledShare { node, staller, honest, link, data }
}

impl StalledShare {
    /// Downloads the share into `out`, failing if it waits on the stalled peer.
    async fn get(&self, out: &std::path::Path) {
        let get = self.node.get(GetRequest { share: self.link.clone(), out_dir: out.into(), ..Default::default() });
        let rep = tokio::time::timeout(std::time::Duration::from_secs(120), get)
            .await
            .expect("the download waited on the stalled peer")
            .unwrap();
        assert!(rep.ok(), "{rep:#?}");
    }
}

/// The only known provider of a one-chunk file holds its request without answering: the DHT
/// is asked after a moment, and the provider found there delivers the file long before the
/// stalled request would time out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_chunk_file_is_fetched_from_the_dht_when_the_known_peer_stalls() {
    let (dir, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let s = stalled_share(dir.path(), 8, "note.txt", 5000).await;
    s.get(out.path()).await;
    assert_eq!(std::fs::read(out.path().join("note.txt")).unwrap(), s.data);
    assert_eq!(s.honest.state.chunk_requests.load(Ordering::SeqCst), 1);
    s.node.shutdown().await;
}

/// The only known provider of a file of several chunks (the share's peer, as for a publisher
/// whose QUIC address no longer answers) also holds its hash list request without answering:
/// the DHT lookup runs meanwhile, and the provider found there gives the list and the chunks
/// long before the held request would time out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_list_is_fetched_from_the_dht_while_the_known_peer_stalls() {
    let (dir, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let s = stalled_share(dir.path(), 12, "three-chunks.bin", 700_000).await;
    *s.staller.state.hash_gate.lock().unwrap() = Some(Arc::new(tokio::sync::Semaphore::new(0)));
    s.get(out.path()).await;
    assert_eq!(std::fs::read(out.path().join("three-chunks.bin")).unwrap(), s.data);
    assert_eq!(s.honest.state.page_requests.load(Ordering::SeqCst), 1, "the list came from the provider found");
    assert_eq!(s.staller.state.page_requests.load(Ordering::SeqCst), 0, "the stalled peer never answered");
    s.node.shutdown().await;
}

/// Of a share's two peers, one holds GET_MANIFEST without answering (as a publisher gone
/// offline holds a QUIC connect until its timeout): the manifest comes from the other as soon
/// as it answers, not after the held request would time out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_manifest_comes_from_the_peer_that_answers_while_another_stalls() {
    let (dir, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let b = node_with(dir.path(), |c| c.request_timeout_secs = 600).await;
    let key = trove_proto::Keypair::from_seed([13; 32]);
    let data = pattern(300_000, 13);
    let m = manifest_for(&key, 1, &[("f.bin", &data)], now(), None);
    let staller = FakePeer::start(true).await;
    staller.serve_share(&key, &m, &[]);
    staller.state.stall_manifests.store(true, Ordering::SeqCst);
    let honest = FakePeer::start(true).await;
    honest.serve_share(&key, &m, std::slice::from_ref(&data));
    let link = trove_proto::ShareLink::new(key.public(), vec![staller.hint(), honest.hint()]).to_string();
    let get = b.get(GetRequest { share: link, out_dir: out.path().into(), ..Default::default() });
    let rep = tokio::time::timeout(std::time::Duration::from_secs(120), get)
        .await
        .expect("the manifest waited on the stalled peer")
        .unwrap();
    assert!(rep.ok(), "{rep:#?}");
    assert_eq!(std::fs::read(out.path().join("f.bin")).unwrap(), data);
    b.shutdown().await;
}

/// After a verified download the node seeds the file: every finished file is announced in
/// the DHT (through the announcement queue) with the node's own address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_downloads_are_announced_as_provided() {
    let (dir, out) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let b = node(dir.path()).await;
    let fake = FakePeer::start(true).await;
    fake.state.store_values.store(true, Ordering::SeqCst);
    let key = trove_proto::Keypair::from_seed([9; 32]);
    let files: Vec<(String, Vec<u8>)> =
        (0..6).map(|i| (format!("f{i}.bin"), pattern(1000 + i * 700_000, i as u8))).collect();
    let (m, link) = fake.share_files(&key, &files);
    b.subscribe(&link, None, Trust::Normal).await.unwrap();
    let rep = b.get(GetRequest { share: link, out_dir: out.path().into(), ..Default::default() }).await.unwrap();
    assert!(rep.ok(), "{rep:#?}");

    let mine: Vec<std::net::SocketAddr> = b.advertised().iter().map(|a| a.socket_addr()).collect();
    let announced = |it: &trove_proto::wire::Item| {
        let key = trove_proto::dht_key::content_providers(&it.content_id);
        fake.state.values.lock().unwrap().get(&key).is_some_and(|v| {
            trove_proto::cbor::from_slice::<trove_proto::wire::Providers>(v).is_ok_and(|p| {
                p.content_id == it.content_id && p.providers.iter().any(|a| mine.contains(&a.socket_addr()))
            })
        })
    };
    tokio::time::timeout(std::time::Duration::from_secs(60), async {
        loop {
            let stored = fake.state.stored.notified();
            if m.items.iter().all(announced) {
                break;
            }
            stored.await;
        }
    })
    .await
    .expect("every downloaded file is announced with this node's address");
    b.shutdown().await;
}

/// A seeder answers the v1 chunk hash list and the paged extension from the open file's
/// list: pages cut at the end, an empty page at the end, a start past it refused; a file
/// changed on disk is withdrawn and its list no longer answered (FT-7).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunk_hash_lists_are_served_whole_and_in_pages() {
    use trove_proto::content::{chunk_hash, hash_reader};
    use trove_proto::limits::CHUNK_SIZE;
    use trove_proto::wire::{GetChunkHashes, GetChunkHashesPage, PeerAddr, Transport};
    let (d, content) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let seeder = node(d.path()).await;
    write_tree(content.path(), &[("ten.bin", 10 * CHUNK_SIZE - 7)]);
    let file = content.path().join("ten.bin");
    seeder
        .publish(PublishRequest { paths: vec![file.clone()], name: Some("ten".into()), ..Default::default() })
        .await
        .unwrap();
    let id = hash_reader(std::fs::File::open(&file).unwrap()).unwrap().content_id;
    let bytes = std::fs::read(&file).unwrap();
    let want: Vec<_> = bytes.chunks(CHUNK_SIZE).map(chunk_hash).collect();

    let client = FakePeer::start(true).await;
    let addr = PeerAddr::new(seeder.tcp_addr().unwrap(), Transport::Tcp).with_hint(seeder.node_pubkey());
    let s = client.endpoint.connect(&addr).await.unwrap();
    let whole = s.call(&GetChunkHashes { content_id: id }).await.unwrap();
    assert_eq!(whole.hashes, want);
    let page = |start: u32, count: u32| GetChunkHashesPage { content_id: id, start, count };
    let mut paged = Vec::new();
    for (start, count, len) in [(0, 4, 4), (4, 100, 6), (10, 5, 0)] {
        let p = s.call(&page(start, count)).await.unwrap();
        assert_eq!((p.content_id, p.start, p.total, p.hashes.len()), (id, start, 10, len));
        paged.extend(p.hashes);
    }
    assert_eq!(paged, want);
    let e = s.call(&page(11, 1)).await.unwrap_err().to_string();
    assert!(e.contains("past the end"), "{e}");
    let other = trove_proto::ContentId([7; 32]);
    assert!(s.call(&GetChunkHashesPage { content_id: other, start: 0, count: 1 }).await.is_err());

    // The file changes on disk: the seeder stops answering for it.
    std::fs::write(&file, b"something else").unwrap();
    let e = s.call(&page(0, 4)).await.unwrap_err().to_string();
    assert!(e.contains("not found"), "{e}");
    seeder.shutdown().await;
}
