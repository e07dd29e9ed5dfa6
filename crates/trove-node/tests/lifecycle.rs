//! Share life cycle between real nodes on loopback: publish, subscribe by link, a new
//! revision pushed to the subscriber, restart keeps everything.

use std::path::Path;
use std::time::Duration;
use trove_node::{Event, Node, NodeConfig, PublishRequest};
use trove_store::db::Trust;

fn write_tree(root: &Path, files: &[(&str, usize)]) {
    for (rel, len) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, (0..*len).map(|i| (i % 251) as u8).collect::<Vec<u8>>()).unwrap();
    }
}

async fn node(dir: &Path) -> Node {
    Node::start(NodeConfig::loopback(dir)).await.unwrap()
}

/// Waits for an event matching `f`.
async fn wait_for(rx: &mut tokio::sync::broadcast::Receiver<Event>, f: impl Fn(&Event) -> bool) -> Event {
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match rx.recv().await {
                Ok(e) if f(&e) => return e,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    })
    .await
    .expect("event did not arrive in time")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_subscribe_and_follow_a_revision() {
    let (da, dbb, content) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_tree(content.path(), &[("a.txt", 10), ("sub/b.bin", 300_000), ("sub/deeper/c.iso", 0)]);
    let a = node(da.path()).await;
    let b = node(dbb.path()).await;

    let r1 = a
        .publish(PublishRequest {
            paths: vec![content.path().to_path_buf()],
            title: Some("Test share".into()),
            public: Some(true),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((r1.seq, r1.items), (1, 3));
    assert!(r1.link.starts_with("scp2p://s/"));

    let report = b.subscribe(&r1.link, None, Trust::Normal).await.unwrap();
    assert!(report.updated, "{report:?}");
    assert_eq!(report.seq, Some(1));
    assert_eq!(report.items, Some(3));
    assert_eq!(report.title.as_deref(), Some("Test share"));

    // Revision 2 reaches the subscriber by push, without a manual sync.
    let mut events = b.events();
    write_tree(content.path(), &[("new.txt", 5)]);
    let r2 = a
        .publish(PublishRequest {
            paths: vec![content.path().to_path_buf()],
            share: Some(r1.name.clone()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!((r2.share_id, r2.seq, r2.items), (r1.share_id, 2, 4));
    let e = wait_for(&mut events, |e| matches!(e, Event::ManifestUpdated { seq: 2, .. })).await;
    assert!(matches!(e, Event::ManifestUpdated { items: 4, .. }));
    let sub = b.db().subscription(&r1.share_id).unwrap().unwrap();
    assert_eq!(sub.current_seq, Some(2));
    assert_eq!(sub.manifest_id, Some(r2.manifest_id));

    // Restart both: state survives.
    a.shutdown().await;
    b.shutdown().await;
    drop((a, b));
    let b = node(dbb.path()).await;
    let sub = b.db().subscription(&r1.share_id).unwrap().unwrap();
    assert_eq!(sub.current_seq, Some(2));
    assert!(b.db().manifest(&r2.manifest_id).unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_downloads_a_share_verified() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let (da, dbb, content, out) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    write_tree(content.path(), &[("one.bin", 1_000_000), ("dir/two.txt", 17), ("empty", 0)]);
    let a = node(da.path()).await;
    let b = node(dbb.path()).await;
    let r =
        a.publish(PublishRequest { paths: vec![content.path().to_path_buf()], ..Default::default() }).await.unwrap();
    let t = std::time::Instant::now();
    b.subscribe(&r.link, None, Trust::Normal).await.unwrap();
    println!("subscribe took {:?}", t.elapsed());
    let t = std::time::Instant::now();
    let report = b
        .get(trove_node::download::get::GetRequest {
            share: r.link.clone(),
            out_dir: out.path().to_path_buf(),
            ..Default::default()
        })
        .await
        .unwrap();
    println!("get took {:?}", t.elapsed());
    assert!(report.ok(), "{report:#?}");
    assert_eq!(report.files.len(), 3);
    for rel in ["one.bin", "dir/two.txt", "empty"] {
        assert_eq!(
            std::fs::read(out.path().join(rel)).unwrap(),
            std::fs::read(content.path().join(rel)).unwrap(),
            "{rel}"
        );
        assert!(!out.path().join(format!("{rel}.part")).exists());
    }
    // A second get finds everything present and downloads nothing.
    let again = b
        .get(trove_node::download::get::GetRequest {
            share: r.link.clone(),
            out_dir: out.path().to_path_buf(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(again.files.iter().all(|f| f.status == "present"), "{again:#?}");
    assert_eq!(again.bytes, 0);
}

/// A node for a command that only reads local state (`trove link`, `trove shares` without a
/// daemon) serves what is stored but contacts nobody: an ordinary node started after it with
/// the same kind of bootstrap peer contacts its peer, and by then the local-only node has not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_only_node_reads_its_state_and_contacts_nobody() {
    let (da, dc, content) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_tree(content.path(), &[("a.txt", 10)]);
    let a = node(da.path()).await;
    let r = a.publish(PublishRequest { paths: vec![content.path().into()], ..Default::default() }).await.unwrap();
    a.shutdown().await;
    drop(a);

    let (boot_local, boot_control) =
        (std::net::TcpListener::bind("127.0.0.1:0").unwrap(), std::net::TcpListener::bind("127.0.0.1:0").unwrap());
    let with_boot = |dir: &Path, boot: &std::net::TcpListener, local_only: bool| {
        let mut c = NodeConfig::loopback(dir);
        c.bootstrap = vec![format!("tcp://{}", boot.local_addr().unwrap())];
        c.local_only = local_only;
        c
    };
    let local = Node::start(with_boot(da.path(), &boot_local, true)).await.unwrap();
    let control = Node::start(with_boot(dc.path(), &boot_control, false)).await.unwrap();
    assert_eq!(local.shares().unwrap().len(), 1, "local state is served");
    assert_eq!(local.link(&r.share_id.to_hex()).unwrap().split('?').next(), r.link.split('?').next());
    // The ordinary node reaches its bootstrap peer...
    let contacted = tokio::task::spawn_blocking(move || boot_control.accept().map(|_| ()));
    tokio::time::timeout(Duration::from_secs(30), contacted)
        .await
        .expect("the control node contacts its peer")
        .unwrap()
        .unwrap();
    local.shutdown().await;
    control.shutdown().await;
    // ...and the local-only node, started before it and running until now, never tried.
    boot_local.set_nonblocking(true).unwrap();
    match boot_local.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("the local-only node contacted its bootstrap peer: {other:?}"),
    }
}
