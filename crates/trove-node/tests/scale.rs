//! Scale and durability of the share life cycle: five subscribers converging on a new
//! revision, a 100,000-file share published and synced between trove nodes (paged
//! manifests), and a publisher killed with SIGKILL mid-publish leaving a consistent database.

mod common;

use common::*;
use std::process::Command;
use std::time::Instant;
use trove_node::{Event, PublishRequest};
use trove_store::db::Trust;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_subscribers_converge_on_every_revision() {
    let dirs: Vec<_> = (0..6).map(|_| tempfile::tempdir().unwrap()).collect();
    let content = tempfile::tempdir().unwrap();
    write_tree(content.path(), &[("a.txt", 100)]);
    let a = node(dirs[0].path()).await;
    let r1 = a
        .publish(PublishRequest { paths: vec![content.path().into()], name: Some("s".into()), ..Default::default() })
        .await
        .unwrap();
    let mut subs = Vec::new();
    for d in &dirs[1..] {
        let n = node(d.path()).await;
        assert_eq!(n.subscribe(&r1.link, None, Trust::Normal).await.unwrap().seq, Some(1));
        subs.push(n);
    }
    let mut streams: Vec<_> = subs.iter().map(|n| n.events()).collect();
    write_tree(content.path(), &[("b.txt", 200)]);
    let start = Instant::now();
    let r2 = a
        .publish(PublishRequest { paths: vec![content.path().into()], share: Some("s".into()), ..Default::default() })
        .await
        .unwrap();
    for rx in &mut streams {
        wait_for(rx, |e| matches!(e, Event::ManifestUpdated { seq: 2, .. })).await;
    }
    println!("revision 2 reached 5 subscribers in {:?} (pushed)", start.elapsed());
    for n in &subs {
        let s = n.db().subscription(&r1.share_id).unwrap().unwrap();
        assert_eq!((s.current_seq, s.manifest_id), (Some(2), Some(r2.manifest_id)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_thousand_file_share_publishes_and_syncs() {
    let (da, dbb, content) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let n = 100_000;
    let t = Instant::now();
    for d in 0..100 {
        let dir = content.path().join(format!("d{d:03}"));
        std::fs::create_dir(&dir).unwrap();
        for f in 0..n / 100 {
            std::fs::write(dir.join(format!("file-{f:04}.txt")), format!("{d}/{f}")).unwrap();
        }
    }
    println!("created {n} files in {:?}", t.elapsed());
    let a = node(da.path()).await;
    let b = node(dbb.path()).await;
    let t = Instant::now();
    let r = a.publish(PublishRequest { paths: vec![content.path().into()], ..Default::default() }).await.unwrap();
    println!("published {} items in {:?}", r.items, t.elapsed());
    assert_eq!(r.items, n);
    let t = Instant::now();
    let s = b.subscribe(&r.link, None, Trust::Normal).await.unwrap();
    println!("synced in {:?}", t.elapsed());
    assert_eq!(s.items, Some(n), "{s:?}");
    let m = b.db().manifest(&r.manifest_id).unwrap().unwrap();
    println!("manifest is {} bytes", m.bytes.len());
    assert!(m.bytes.len() > 1 << 20, "too small to have needed paging");
    // A file from the middle downloads.
    let out = tempfile::tempdir().unwrap();
    let rep = b
        .get(trove_node::download::get::GetRequest {
            share: r.link.clone(),
            paths: vec!["d050/file-0500.txt".into()],
            out_dir: out.path().into(),
            overwrite: false,
        })
        .await
        .unwrap();
    assert!(rep.ok(), "{rep:#?}");
    assert_eq!(std::fs::read_to_string(out.path().join("d050/file-0500.txt")).unwrap(), "50/500");
}

/// The child side of the kill test: publishes revisions in a loop, printing each seq.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn child_publish_loop() {
    let Ok(spec) = std::env::var("TROVE_TEST_CHILD_PUBLISH") else { return };
    let v: serde_json::Value = serde_json::from_str(&spec).unwrap();
    let n = node(std::path::Path::new(v["dir"].as_str().unwrap())).await;
    let content = std::path::PathBuf::from(v["content"].as_str().unwrap());
    loop {
        let r = n
            .publish(PublishRequest {
                paths: vec![content.clone()],
                name: Some("s".into()),
                share: v["share"].as_str().map(String::from),
                ..Default::default()
            })
            .await;
        let r = match r {
            Ok(r) => r,
            Err(_) => n
                .publish(PublishRequest { paths: vec![content.clone()], share: Some("s".into()), ..Default::default() })
                .await
                .unwrap(),
        };
        println!("PUBLISHED {}", r.seq);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_publish_leaves_a_consistent_database() {
    use std::io::BufRead;
    let (dir, content) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_tree(content.path(), &[("x/a.bin", 300_000), ("b.txt", 10), ("c/d/e.txt", 3)]);
    let spec = serde_json::json!({"dir": dir.path(), "content": content.path()}).to_string();
    let mut acknowledged = 0u64;
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_publish_loop", "--nocapture", "--test-threads=1"])
            .env("TROVE_TEST_CHILD_PUBLISH", &spec)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let out = std::io::BufReader::new(child.stdout.take().unwrap());
        for line in out.lines() {
            let line = line.unwrap();
            if let Some(seq) = line.strip_prefix("PUBLISHED ") {
                acknowledged = seq.parse().unwrap();
                if acknowledged >= (round + 1) * 3 {
                    break;
                }
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        // The database opens cleanly, passes its integrity check, and holds every
        // acknowledged revision with its manifest; the next seq is above all of them.
        let db = trove_store::db::Db::open(dir.path()).unwrap();
        assert!(db.recovery().is_none(), "database needed recovery after SIGKILL");
        db.integrity_check().unwrap();
        let share = db.find_share("s").unwrap();
        let latest = db.latest_revision(&share.share_id).unwrap().unwrap();
        assert!(latest.seq >= acknowledged, "acknowledged seq {acknowledged} lost (latest {})", latest.seq);
        assert!(db.manifest(&latest.manifest_id).unwrap().is_some());
        assert!(share.next_seq > latest.seq);
        println!("round {round}: acknowledged {acknowledged}, stored {}", latest.seq);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_reaches_a_subscriber_through_the_dht_alone() {
    let (ds, dp, du, content) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    write_tree(content.path(), &[("a.txt", 100)]);
    let s = node(ds.path()).await;
    let boot: Vec<String> =
        s.advertised().iter().map(|a| format!("{}://{}", a.transport.as_str(), a.socket_addr())).collect();
    let p = node_with(dp.path(), |c| c.bootstrap = boot.clone()).await;
    let u = node_with(du.path(), |c| c.bootstrap = boot.clone()).await;
    let r1 = p
        .publish(PublishRequest { paths: vec![content.path().into()], name: Some("s".into()), ..Default::default() })
        .await
        .unwrap();
    // Wait until the storage node holds the head (the publisher announces in the background).
    let head_key = trove_proto::dht_key::share_head(&r1.share_id);
    let deadline = Instant::now() + std::time::Duration::from_secs(30);
    while !s.dht_has(&head_key)
        || !s.dht_has(&trove_proto::dht_key::content_providers(&trove_proto::ContentId(r1.share_id.0)))
    {
        assert!(Instant::now() < deadline, "head never reached the storage node");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    // Subscribe by id and key only: no link hints, no direct contact with the publisher.
    let t = Instant::now();
    let sub = u.subscribe(&r1.share_id.to_hex(), Some(r1.share_pubkey), Trust::Normal).await.unwrap();
    assert_eq!(sub.seq, Some(1), "{sub:?}");
    println!("subscribe took {:?}", t.elapsed());
    let mut events = u.events();
    write_tree(content.path(), &[("b.txt", 100)]);
    let start = Instant::now();
    p.publish(PublishRequest { paths: vec![content.path().into()], share: Some("s".into()), ..Default::default() })
        .await
        .unwrap();
    wait_for(&mut events, |e| matches!(e, Event::ManifestUpdated { seq: 2, .. })).await;
    println!("revision 2 reached the subscriber through the DHT in {:?}", start.elapsed());
}
