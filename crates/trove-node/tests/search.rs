//! Search through the node: what is published and followed is found, unsubscribing removes
//! it, trust tiers filter it, a blocklist share hides what it lists, and a deleted index is
//! rebuilt from the database at the next start.

mod common;

use common::*;
use trove_node::PublishRequest;
use trove_proto::wire::BlocklistRules;
use trove_store::db::Trust;
use trove_store::search::SearchQuery;

fn q(text: &str) -> SearchQuery {
    SearchQuery { text: text.into(), ..Default::default() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_search_block_unsubscribe_rebuild() {
    let (da, dbb, c1, c2) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    write_tree(
        c1.path(),
        &[("Ubuntu Server 24.04.iso", 1000), ("Résumé final.pdf", 10), ("notes/holiday plan.txt", 5)],
    );
    let a = node(da.path()).await;
    let b = node(dbb.path()).await;
    let r = a
        .publish(PublishRequest {
            paths: vec![c1.path().into()],
            title: Some("Linux stuff".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    // The publisher finds its own files.
    assert_eq!(a.search(q("ubuntu iso")).await.unwrap().total, 1);
    b.subscribe(&r.link, None, Trust::Normal).await.unwrap();
    let hits = b.search(q("ubuntu iso")).await.unwrap();
    assert_eq!(hits.total, 1, "{hits:?}");
    assert_eq!(hits.hits[0].name, "Ubuntu Server 24.04.iso");
    assert_eq!(b.search(q("resume")).await.unwrap().total, 1, "diacritics");
    assert_eq!(b.search(q("holi")).await.unwrap().total, 1, "prefix of the last word");

    // Untrusted shares are hidden by default and shown when asked for.
    b.subscribe(&r.link, None, Trust::Untrusted).await.unwrap();
    tokio::task::yield_now().await;
    let wait = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while b.search(q("ubuntu")).await.unwrap().total != 0 {
        assert!(std::time::Instant::now() < wait, "trust change not applied");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let all = SearchQuery { text: "ubuntu".into(), trust: vec![Trust::Untrusted], ..Default::default() };
    assert_eq!(b.search(all).await.unwrap().total, 1);
    b.subscribe(&r.link, None, Trust::Normal).await.unwrap();

    // A blocklist share listing the ISO's content hides it.
    let iso =
        a.resolve_manifest(&r.link).await.unwrap().0.items.into_iter().find(|i| i.name.ends_with(".iso")).unwrap();
    let rules = BlocklistRules { blocked_share_ids: vec![], blocked_content_ids: vec![iso.content_id] };
    std::fs::write(c2.path().join("blocklist"), trove_proto::cbor::to_vec(&rules)).unwrap();
    let bl = a
        .publish(PublishRequest {
            paths: vec![c2.path().join("blocklist")],
            name: Some("bl".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    b.subscribe(&bl.link, None, Trust::Normal).await.unwrap();
    b.set_blocklist(&bl.link, true).await.unwrap();
    let wait = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while b.search(q("ubuntu")).await.unwrap().total != 0 {
        assert!(std::time::Instant::now() < wait, "blocklist not applied");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(b.search(q("resume")).await.unwrap().total, 1, "other items stay");

    // Unsubscribing removes the share's hits.
    b.unsubscribe(&r.link).await.unwrap();
    let wait = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while b.search(q("resume")).await.unwrap().total != 0 {
        assert!(std::time::Instant::now() < wait, "unsubscribed share still found");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }

    // A deleted index is rebuilt from the database at the next start.
    a.shutdown().await;
    drop(a);
    std::fs::remove_dir_all(da.path().join("index")).unwrap();
    let a = node(da.path()).await;
    let wait = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while a.search(q("ubuntu iso")).await.unwrap().total != 1 {
        assert!(std::time::Instant::now() < wait, "index not rebuilt");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
