//! `trove-bench community`: a community of N members and M public shares, simulated as signed
//! records held by one serving node (records are what trove members exchange; N processes
//! are not needed to serve them). A second node joins and measures, over loopback:
//! - browse: the first page of shares (and of members) read directly from the server;
//! - full sync: the whole record stream, every record verified and stored;
//! - refresh: an incremental read after a few records changed at the server;
//! - local views: the first page of the synced share list, and the whole list.

use crate::report::emit;
use serde_json::json;
use std::time::Instant;
use trove_node::community::{BrowseQuery, JoinOptions};
use trove_node::{Node, NodeConfig};
use trove_proto::wire::{MemberRecord, PeerAddr, ShareRecord, Transport};
use trove_proto::{Keypair, ManifestId, ShareId};

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(t: Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

struct Synthetic {
    members: Vec<Keypair>,
    shares: Vec<Keypair>,
}

fn member_record(k: &Keypair, c: ShareId, i: usize, seq: u64, now: u64) -> MemberRecord {
    let addr = PeerAddr::new(([10, (i >> 16) as u8, (i >> 8) as u8, i as u8], 7001).into(), Transport::Tcp)
        .with_hint(k.public());
    MemberRecord::sign(k, c, seq, now, now + 6 * 86_400, false, vec![addr], None)
}

fn share_record(k: &Keypair, publisher: &Keypair, c: ShareId, i: usize, seq: u64, now: u64) -> ShareRecord {
    let title = format!("Synthetic share {i} of the benchmark community");
    ShareRecord::sign(
        k,
        c,
        seq,
        ManifestId([seq as u8; 32]),
        now,
        now + 6 * 86_400,
        false,
        Some(&title),
        Some("a public share bound to the community"),
        Some(publisher.public()),
    )
}

async fn start(dir: &std::path::Path, bootstrap: Vec<String>) -> anyhow::Result<Node> {
    let mut c = NodeConfig::loopback(dir);
    c.listen_quic = None;
    c.bootstrap = bootstrap;
    Ok(Node::start(c).await?)
}

pub async fn run(members: usize, shares: usize, rounds: usize, page: u32) -> anyhow::Result<()> {
    let members = members.max(1);
    let (ds, dc) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let server = start(ds.path(), Vec::new()).await?;
    let info = server.community_create(Some("bench"), false).await?;
    let c = info.share_id;
    let id = c.to_hex();
    let now = trove_store::db::unix_now();

    // Records of N members and M shares, signed by their own keys.
    let t = Instant::now();
    let syn = tokio::task::spawn_blocking(move || Synthetic {
        members: (0..members).map(|_| Keypair::generate()).collect(),
        shares: (0..shares).map(|_| Keypair::generate()).collect(),
    })
    .await?;
    let syn = std::sync::Arc::new(syn);
    let s2 = syn.clone();
    let srv = server.clone();
    let id2 = id.clone();
    let imported = tokio::task::spawn_blocking(move || -> anyhow::Result<usize> {
        let mut n = 0;
        let ms: Vec<MemberRecord> =
            s2.members.iter().enumerate().map(|(i, k)| member_record(k, c, i, 1, now)).collect();
        n += srv.community_import(&id2, ms, vec![])?.accepted;
        for (chunk_i, chunk) in s2.shares.chunks(10_000).enumerate() {
            let rs: Vec<ShareRecord> = chunk
                .iter()
                .enumerate()
                .map(|(j, k)| {
                    let i = chunk_i * 10_000 + j;
                    share_record(k, &s2.members[i % s2.members.len()], c, i, 1, now)
                })
                .collect();
            n += srv.community_import(&id2, vec![], rs)?.accepted;
        }
        Ok(n)
    })
    .await??;
    let setup = t.elapsed().as_secs_f64();
    emit(
        "community",
        "server_import_rate",
        imported as f64 / setup,
        "records/s",
        json!({"members": members, "shares": shares, "seconds": setup, "note": "sign + verify + store"}),
    );

    let hint = format!("tcp://{}", server.tcp_addr().unwrap());
    let client = start(dc.path(), vec![hint]).await?;
    client.community_join(&info.link, None, JoinOptions::default()).await?;
    let at = PeerAddr::new(server.tcp_addr().unwrap(), Transport::Tcp).with_hint(server.node_pubkey());
    let ctx = json!({"members": members, "shares": shares, "page": page, "rounds": rounds});

    // Browse: first pages read straight from the server.
    for (kind, name) in [(2u8, "browse_first_page_shares"), (1u8, "browse_first_page_members")] {
        let mut v = Vec::new();
        for _ in 0..rounds {
            let t = Instant::now();
            let p = client.community_remote_page(&id, &at, kind, None, page).await?;
            v.push(ms(t));
            anyhow::ensure!(p.shares.len() + p.members.len() == page as usize, "short first page");
        }
        emit("community", &format!("{name}_p50"), pct(&mut v, 0.5), "ms", ctx.clone());
        emit("community", &format!("{name}_p95"), pct(&mut v, 0.95), "ms", ctx.clone());
    }

    // Full sync of the record stream.
    let t = Instant::now();
    let full = client.community_sync_from(&id, &at).await?;
    let secs = t.elapsed().as_secs_f64();
    emit(
        "community",
        "full_sync",
        secs * 1000.0,
        "ms",
        json!({"members": members, "shares": shares, "pages": full.pages, "accepted": full.records.accepted,
               "records_per_s": (full.records.received as f64 / secs).round()}),
    );

    // Refresh: 10 shares and 1 member change at the server, then an incremental read.
    let mut v = Vec::new();
    let mut received = 0;
    for r in 0..rounds {
        let seq = 2 + r as u64;
        let changed_s: Vec<ShareRecord> = (0..10)
            .map(|j| {
                let i = (r * 10 + j) % syn.shares.len().max(1);
                share_record(&syn.shares[i], &syn.members[i % members], c, i, seq, now)
            })
            .collect();
        let changed_m = vec![member_record(&syn.members[r % members], c, r % members, seq, now)];
        server.community_import(&id, changed_m, if shares > 0 { changed_s } else { vec![] })?;
        let t = Instant::now();
        let inc = client.community_sync_from(&id, &at).await?;
        v.push(ms(t));
        received += inc.records.received;
    }
    emit("community", "refresh_p50", pct(&mut v, 0.5), "ms", json!({"changed_per_round": 11, "received": received}));
    emit("community", "refresh_p95", pct(&mut v, 0.95), "ms", json!({"changed_per_round": 11, "received": received}));

    // Local views over what was synced.
    let mut v = Vec::new();
    for _ in 0..rounds {
        let t = Instant::now();
        let p = client.community_browse(&id, &BrowseQuery { limit: Some(100), ..Default::default() })?;
        v.push(ms(t));
        anyhow::ensure!(!p.shares.is_empty() || shares == 0, "empty local page");
    }
    emit("community", "local_first_page_p95", pct(&mut v, 0.95), "ms", ctx.clone());
    let t = Instant::now();
    let all = client.community_shares(&id)?;
    emit("community", "local_all_shares", ms(t), "ms", json!({"shares": all.len()}));
    emit(
        "community",
        "peak_rss",
        crate::report::peak_rss_mib(),
        "MiB",
        json!({"processes": "server and client in one"}),
    );
    client.shutdown().await;
    server.shutdown().await;
    Ok(())
}
