//! Communities between real nodes on loopback: ten nodes in two communities (one of them a
//! v1-shaped node) each see exactly the members and public shares of the communities they
//! joined; joining with a mismatched id and key fails; leaving and visibility changes reach
//! the others; a stolen membership token is refused in strict mode; the record stream pages,
//! resumes incrementally and refuses tampered cursors.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::sync::Arc;
use trove_net::{Endpoint, Handler, MemoryPins, NetConfig, PeerInfo, Reply, ReplyFuture};
use trove_node::community::{BrowseQuery, JoinOptions};
use trove_node::{Event, Node, PublishRequest};
use trove_proto::wire::*;
use trove_proto::{Keypair, ManifestId, PubKey, ShareId};
use trove_store::db::Trust;

fn hints(n: &Node) -> Vec<String> {
    n.advertised().iter().map(|a| format!("{}://{}", a.transport.as_str(), a.socket_addr())).collect()
}

fn tcp(n: &Node) -> PeerAddr {
    PeerAddr::new(n.tcp_addr().unwrap(), Transport::Tcp).with_hint(n.node_pubkey())
}

async fn publish(n: &Node, root: &std::path::Path, name: &str, public: bool, communities: Vec<ShareId>) -> ShareId {
    write_tree(root, &[(&format!("{name}.txt"), 10 + name.len())]);
    let r = n
        .publish(PublishRequest {
            paths: vec![root.join(format!("{name}.txt"))],
            name: Some(name.into()),
            title: Some(name.into()),
            public: Some(public),
            communities,
            ..Default::default()
        })
        .await
        .unwrap();
    r.share_id
}

fn member_set(n: &Node, c: &ShareId) -> BTreeSet<PubKey> {
    n.community_members(&c.to_hex()).unwrap().into_iter().map(|m| m.node_pubkey).collect()
}

fn share_set(n: &Node, c: &ShareId) -> BTreeSet<ShareId> {
    n.community_shares(&c.to_hex()).unwrap().into_iter().map(|s| s.share_id).collect()
}

async fn refresh_all(nodes: &[&Node], c: &ShareId) {
    for n in nodes {
        let r = n.community_refresh(&c.to_hex()).await.unwrap();
        assert!(r.errors.is_empty(), "refresh errors: {:?}", r.errors);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_nodes_two_communities_exact_views() {
    let dirs: Vec<_> = (0..10).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = node(dirs[0].path()).await;
    let boot = hints(&first);
    let mut nodes = vec![first];
    for (i, d) in dirs.iter().enumerate().skip(1) {
        // Node 9 is v1-shaped: no extensions at all.
        nodes.push(
            node_with(d.path(), |c| {
                c.bootstrap = boot.clone();
                c.extensions = i != 9;
            })
            .await,
        );
    }
    let a_members = [0usize, 1, 2, 3, 4, 9];
    let b_members = [4usize, 5, 6, 7, 8];

    // Communities are shares: their creators hold the keys.
    let a = nodes[0].community_create(Some("Alpha"), false).await.unwrap();
    let b = nodes[5].community_create(Some("Beta"), false).await.unwrap();
    assert!(a.owner && a.token.is_some());
    let (ca, cb) = (a.share_id, b.share_id);

    // Joining with a key that is not the community's fails clearly, and joins nothing.
    let wrong = Keypair::generate().public();
    let e = nodes[1].community_join(&ca.to_hex(), Some(wrong), JoinOptions::default()).await.unwrap_err().to_string();
    assert!(e.contains("does not match public key"), "{e}");
    assert!(nodes[1].communities().unwrap().is_empty());
    let e = nodes[1].community_join(&ca.to_hex(), None, JoinOptions::default()).await.unwrap_err().to_string();
    assert!(e.contains("needs its public key"), "{e}");

    for &i in &a_members[1..] {
        nodes[i].community_join(&a.link, None, JoinOptions::default()).await.unwrap();
    }
    for &i in &b_members {
        if i != 5 {
            nodes[i]
                .community_join(&b.link, None, JoinOptions { name: Some("B".into()), ..Default::default() })
                .await
                .unwrap();
        }
    }

    // Every node publishes a public share bound to its communities, a private one bound to
    // them too (never listed), and a public one bound to none (listed on the LAN only).
    let content = tempfile::tempdir().unwrap();
    let root = content.path();
    let mut public_in_a = BTreeSet::new();
    let mut public_in_b = BTreeSet::new();
    let mut private = BTreeSet::new();
    let mut pub_share = Vec::new();
    let mut lan_share = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let mut bound = Vec::new();
        if a_members.contains(&i) {
            bound.push(ca);
        }
        if b_members.contains(&i) {
            bound.push(cb);
        }
        let p = publish(n, root, &format!("pub-{i}"), true, bound.clone()).await;
        pub_share.push(p);
        if bound.contains(&ca) {
            public_in_a.insert(p);
        }
        if bound.contains(&cb) {
            public_in_b.insert(p);
        }
        private.insert(publish(n, root, &format!("priv-{i}"), false, bound.clone()).await);
        lan_share.push(publish(n, root, &format!("lan-{i}"), true, vec![]).await);
    }
    // One more, bound to Beta only, from the node in both.
    public_in_b.insert(publish(&nodes[4], root, "beta-only-4", true, vec![cb]).await);

    let in_a: Vec<&Node> = a_members.iter().map(|&i| &nodes[i]).collect();
    let in_b: Vec<&Node> = b_members.iter().map(|&i| &nodes[i]).collect();
    for _ in 0..2 {
        refresh_all(&in_a, &ca).await;
        refresh_all(&in_b, &cb).await;
    }

    let keys_a: BTreeSet<PubKey> = a_members.iter().map(|&i| nodes[i].node_pubkey()).collect();
    let keys_b: BTreeSet<PubKey> = b_members.iter().map(|&i| nodes[i].node_pubkey()).collect();
    for (i, n) in nodes.iter().enumerate() {
        if a_members.contains(&i) {
            assert_eq!(member_set(n, &ca), keys_a, "node {i}: members of Alpha");
            assert_eq!(share_set(n, &ca), public_in_a, "node {i}: shares of Alpha");
        } else {
            assert!(n.community_members(&ca.to_hex()).is_err(), "node {i} is not in Alpha");
        }
        if b_members.contains(&i) {
            assert_eq!(member_set(n, &cb), keys_b, "node {i}: members of Beta");
            assert_eq!(share_set(n, &cb), public_in_b, "node {i}: shares of Beta");
        } else {
            assert!(n.community_shares(&cb.to_hex()).is_err(), "node {i} is not in Beta");
        }
    }
    assert!(public_in_a.is_disjoint(&private) && public_in_b.is_disjoint(&private));
    // Public shares bound to no community are listed on the LAN (LIST_PUBLIC_SHARES, here
    // over loopback); private ones never.
    let lan: BTreeSet<ShareId> = nodes[1].browse().await.unwrap().iter().map(|e| e.summary.share_id).collect();
    assert!(lan.contains(&lan_share[0]) && lan.contains(&pub_share[0]), "node 0's public shares");
    assert!(lan.is_disjoint(&private));
    for set in [&public_in_a, &public_in_b] {
        assert!(lan_share.iter().all(|l| !set.contains(l)), "unbound shares are in no community");
    }
    // The v1-shaped member is seen through the v1 messages, and sees the others that way.
    let v9 = nodes[0].community_members(&ca.to_hex()).unwrap();
    let m9 = v9.iter().find(|m| m.node_pubkey == nodes[9].node_pubkey()).unwrap();
    assert!(m9.v1 && !m9.is_self);
    let from9 = nodes[9].community_members(&ca.to_hex()).unwrap();
    assert!(from9.iter().all(|m| m.v1 || m.is_self), "a v1 node only knows v1 listings");

    // Subscribe straight from the listing: the link carries the publisher's addresses.
    let s2 = nodes[1]
        .community_shares(&ca.to_hex())
        .unwrap()
        .into_iter()
        .find(|s| s.publisher == Some(nodes[2].node_pubkey()))
        .unwrap();
    let rep = nodes[1].subscribe(&s2.link, None, Trust::Normal).await.unwrap();
    assert_eq!((rep.seq, rep.error.as_deref()), (Some(1), None), "{rep:?}");
    // The v1 member's share came from LIST_COMMUNITY_PUBLIC_SHARES; it subscribes too.
    let s9 = nodes[1].community_shares(&ca.to_hex()).unwrap().into_iter().find(|s| s.v1).unwrap();
    assert_eq!(nodes[1].subscribe(&s9.link, None, Trust::Normal).await.unwrap().seq, Some(1));

    // Paged browse: two shares per page, the pages add up to the whole list.
    let mut got = BTreeSet::new();
    let mut q = BrowseQuery { limit: Some(2), ..Default::default() };
    let mut pages = 0;
    loop {
        let p = nodes[2].community_browse(&ca.to_hex(), &q).unwrap();
        pages += 1;
        got.extend(p.shares.iter().map(|s| s.share_id));
        match p.next {
            Some(n) => q.cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(got, public_in_a);
    assert!(pages >= 3, "{pages} pages");

    // Making a share private publishes a revision; it leaves every listing. Public again:
    // it comes back with the newer revision.
    let pub1 = pub_share[1];
    let r = nodes[1].set_visibility(&pub1.to_hex(), false).await.unwrap();
    assert_eq!(r.seq, 2);
    refresh_all(&[&nodes[0], &nodes[9]], &ca).await;
    assert!(!share_set(&nodes[0], &ca).contains(&pub1));
    assert!(!share_set(&nodes[9], &ca).contains(&pub1), "v1 listings follow the manifest");
    nodes[1].set_visibility(&pub1.to_hex(), true).await.unwrap();
    refresh_all(&[&nodes[0]], &ca).await;
    let back = nodes[0].community_shares(&ca.to_hex()).unwrap().into_iter().find(|s| s.share_id == pub1).unwrap();
    assert_eq!(back.seq, 3);

    // Leaving removes the member and its shares from everyone's view (trove and v1).
    let mut ev = nodes[0].events();
    let leaver = nodes[3].node_pubkey();
    assert!(nodes[3].community_leave(&ca.to_hex()).await.unwrap());
    assert!(!nodes[3].community_leave(&ca.to_hex()).await.unwrap(), "already left");
    let pub3 = pub_share[3];
    let remaining: Vec<&Node> = [0usize, 1, 2, 4, 9].iter().map(|&i| &nodes[i]).collect();
    refresh_all(&remaining, &ca).await;
    wait_for(
        &mut ev,
        |e| matches!(e, Event::CommunityMemberLeft { node_pubkey, .. } if *node_pubkey == leaver.to_hex()),
    )
    .await;
    for n in &remaining {
        assert!(!member_set(n, &ca).contains(&leaver));
        assert!(!share_set(n, &ca).contains(&pub3));
        assert_eq!(member_set(n, &ca).len(), 5);
    }
    assert!(nodes[3].community_members(&ca.to_hex()).is_err());
    // Rejoining at once: the new record outranks the tombstone the others hold.
    nodes[3].community_join(&a.link, None, JoinOptions::default()).await.unwrap();
    refresh_all(&[&nodes[0]], &ca).await;
    assert!(member_set(&nodes[0], &ca).contains(&leaver));
    assert!(share_set(&nodes[0], &ca).contains(&pub3));
    for n in nodes {
        n.shutdown().await;
    }
}

/// A handler for client-only endpoints.
struct Refuse;

impl Handler for Refuse {
    fn handle(&self, _peer: Arc<PeerInfo>, req: Envelope) -> ReplyFuture {
        Box::pin(async move { Reply::Respond(Envelope::error(req.msg_type, req.req_id, "nothing here")) })
    }
}

async fn client(key: &Keypair, extensions: bool) -> Endpoint {
    let mut c = NetConfig::new(key.clone());
    c.extensions = extensions;
    if extensions {
        c.features.push("community".into());
    }
    Endpoint::bind(c, Arc::new(Refuse), Arc::new(MemoryPins::default())).await.unwrap()
}

fn list_req(
    c: &trove_node::community::CommunityInfo,
    requester: PubKey,
    proof: Option<Vec<u8>>,
) -> ListCommunityPublicShares {
    ListCommunityPublicShares {
        community_share_id: c.share_id,
        community_share_pubkey: c.share_pubkey,
        max_entries: 64,
        requester_node_pubkey: Some(requester),
        requester_membership_proof: proof,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_checks_tokens_against_the_session_identity() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let owner = node(dirs[0].path()).await;
    let s = owner.community_create(Some("Strict"), true).await.unwrap();
    let content = tempfile::tempdir().unwrap();
    let shared = publish(&owner, content.path(), "strict-share", true, vec![s.share_id]).await;
    let target = tcp(&owner);

    let (ka, kb) = (Keypair::generate(), Keypair::generate());
    let token_a = owner.community_issue_token(&s.share_id.to_hex(), ka.public(), None).unwrap();
    let token_a_bytes = hex::decode(&token_a.hex).unwrap();

    // A presents its own token: listed (v1 message and record stream).
    let ea = client(&ka, true).await;
    let sa = ea.connect(&target).await.unwrap();
    let list = sa.call(&list_req(&s, ka.public(), Some(token_a_bytes.clone()))).await.unwrap();
    assert_eq!(list.shares.iter().map(|x| x.share_id).collect::<Vec<_>>(), vec![shared]);
    let get = |token: Option<Vec<u8>>| GetCommunityRecords {
        community: s.share_id,
        community_pubkey: s.share_pubkey,
        kinds: 3,
        cursor: None,
        limit: 100,
        token,
    };
    let recs = sa.call(&get(Some(token_a_bytes.clone()))).await.unwrap();
    assert_eq!((recs.members.len(), recs.shares.len()), (1, 1));

    // B presents A's token, claiming to be A or not: refused either way, on both paths.
    let eb = client(&kb, true).await;
    let sb = eb.connect(&target).await.unwrap();
    let e = sb.call(&list_req(&s, ka.public(), Some(token_a_bytes.clone()))).await.unwrap_err().to_string();
    assert!(e.contains("not the identity of this session"), "{e}");
    let e = sb.call(&list_req(&s, kb.public(), Some(token_a_bytes.clone()))).await.unwrap_err().to_string();
    assert!(e.contains("issued to node"), "{e}");
    let e = sb.call(&get(Some(token_a_bytes.clone()))).await.unwrap_err().to_string();
    assert!(e.contains("issued to node"), "{e}");
    let e = sb.call(&list_req(&s, kb.public(), None)).await.unwrap_err().to_string();
    assert!(e.contains("token is required"), "{e}");
    // The same theft from a v1-shaped client (the v1 strict check would have let it in). A
    // fresh key: B's key is pinned as a trove peer now, so B without the extension is refused.
    let ev1 = client(&Keypair::generate(), false).await;
    let sv1 = ev1.connect(&target).await.unwrap();
    assert!(sv1.call(&list_req(&s, ka.public(), Some(token_a_bytes.clone()))).await.is_err());

    // A node cannot install another node's token; with its own it joins and sees the owner.
    let n = node_with(dirs[1].path(), |c| c.bootstrap = hints(&owner)).await;
    let stolen = JoinOptions { strict: true, token: Some(token_a.hex.clone()), ..Default::default() };
    let e = n.community_join(&s.link, None, stolen).await.unwrap_err().to_string();
    assert!(e.contains("cannot be used by this node") && e.contains("issued to node"), "{e}");
    let own = owner.community_issue_token(&s.share_id.to_hex(), n.node_pubkey(), Some(3600)).unwrap();
    n.community_join(&s.link, None, JoinOptions { strict: true, token: Some(own.hex), ..Default::default() })
        .await
        .unwrap();
    // A member without a token is refused by the others and sees nobody.
    let m = node_with(dirs[2].path(), |c| c.bootstrap = hints(&owner)).await;
    m.community_join(&s.link, None, JoinOptions { strict: true, ..Default::default() }).await.unwrap();
    for x in [&n, &m, &owner] {
        x.community_refresh(&s.share_id.to_hex()).await.unwrap();
    }
    let keys = |x: &Node| member_set(x, &s.share_id);
    assert_eq!(keys(&n), BTreeSet::from([owner.node_pubkey(), n.node_pubkey()]));
    assert_eq!(keys(&owner), BTreeSet::from([owner.node_pubkey(), n.node_pubkey()]));
    assert_eq!(share_set(&n, &s.share_id), BTreeSet::from([shared]));
    assert_eq!(keys(&m), BTreeSet::from([m.node_pubkey()]));
    assert!(share_set(&m, &s.share_id).is_empty());
    for x in [n, m, owner] {
        x.shutdown().await;
    }
}

/// Synthetic members and shares signed by fresh keys.
fn synthetic(c: ShareId, members: usize, shares: usize, now: u64) -> (Vec<MemberRecord>, Vec<ShareRecord>) {
    let keys: Vec<Keypair> = (0..members).map(|_| Keypair::generate()).collect();
    let m = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let addr = PeerAddr::new(([10, 9, (i >> 8) as u8, i as u8], 7001).into(), Transport::Tcp);
            MemberRecord::sign(k, c, 1, now, now + 86_400, false, vec![addr], None)
        })
        .collect();
    let s = (0..shares)
        .map(|i| {
            let sk = Keypair::generate();
            let title = format!("synthetic share {i}");
            ShareRecord::sign(
                &sk,
                c,
                1,
                ManifestId([1; 32]),
                now,
                now + 86_400,
                false,
                Some(&title),
                None,
                Some(keys[i % members].public()),
            )
        })
        .collect();
    (m, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_stream_pages_resumes_and_refuses_tampered_cursors() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let server = node(dirs[0].path()).await;
    let c = server.community_create(Some("Big"), false).await.unwrap();
    let id = c.share_id.to_hex();
    let now = now();
    let (members, shares) = synthetic(c.share_id, 1_500, 3_000, now);
    let rep = server.community_import(&id, members, shares).unwrap();
    assert_eq!((rep.accepted, rep.invalid), (4_500, 0));
    // A forged record (signature over other bytes) is refused.
    let (mut bad, _) = synthetic(c.share_id, 1, 0, now);
    bad[0].seq += 1;
    assert_eq!(server.community_import(&id, bad, vec![]).unwrap().invalid, 1);

    let client = node_with(dirs[1].path(), |x| x.bootstrap = hints(&server)).await;
    client.community_join(&c.link, None, JoinOptions::default()).await.unwrap();
    let at = tcp(&server);
    let full = client.community_sync_from(&id, &at).await.unwrap();
    // 4,500 synthetic records, the server's own member record and the client's own (pushed
    // at join, then served back: not newer).
    assert!(full.pages >= 5, "{full:?}");
    assert_eq!(full.records.accepted, 4_501, "{full:?}");
    assert_eq!(client.community_members(&id).unwrap().len(), 1_502);
    assert_eq!(client.community_shares(&id).unwrap().len(), 3_000);

    // Changes since: ten new shares and one member leaving; only those travel.
    let (more_m, more_s) = synthetic(c.share_id, 1, 10, now);
    let leaver = &more_m[0];
    server.community_import(&id, more_m.clone(), more_s).unwrap();
    let k = Keypair::generate();
    let gone = MemberRecord::sign(&k, c.share_id, 1, now, now + 86_400, false, vec![], None);
    server.community_import(&id, vec![gone.clone()], vec![]).unwrap();
    let tomb = MemberRecord::sign(&k, c.share_id, 2, now, now + 86_400, true, vec![], None);
    server.community_import(&id, vec![tomb], vec![]).unwrap();
    let inc = client.community_sync_from(&id, &at).await.unwrap();
    assert_eq!(inc.pages, 1, "{inc:?}");
    assert_eq!(inc.records.received, 12, "{inc:?}");
    let members = client.community_members(&id).unwrap();
    assert!(members.iter().any(|m| m.node_pubkey == leaver.member));
    assert!(!members.iter().any(|m| m.node_pubkey == k.public()), "the tombstone replaced the record");
    assert_eq!(client.community_shares(&id).unwrap().len(), 3_010);

    // Direct pages: at most the limit, and a tampered cursor is refused.
    let p1 = client.community_remote_page(&id, &at, 2, None, 500).await.unwrap();
    assert_eq!(p1.shares.len(), 500);
    assert!(p1.more);
    let p2 = client.community_remote_page(&id, &at, 2, Some(&p1.next), 500).await.unwrap();
    assert!(p2.shares.iter().all(|s| !p1.shares.iter().any(|x| x.share_id == s.share_id)));
    let mut t = hex::decode(&p1.next).unwrap();
    let last = t.len() - 1;
    t[last] ^= 1;
    let e = client.community_remote_page(&id, &at, 2, Some(&hex::encode(&t)), 500).await.unwrap_err().to_string();
    assert!(e.contains("invalid or expired community cursor"), "{e}");
    // A cursor for shares cannot read members.
    let e = client.community_remote_page(&id, &at, 1, Some(&p1.next), 500).await.unwrap_err().to_string();
    assert!(e.contains("other record kinds"), "{e}");
    client.shutdown().await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn membership_and_tokens_survive_a_restart() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let owner = node(dirs[0].path()).await;
    let c = owner.community_create(Some("Keep"), true).await.unwrap();
    let first = node_with(dirs[1].path(), |x| x.bootstrap = hints(&owner)).await;
    let me = first.node_pubkey();
    let token = owner.community_issue_token(&c.share_id.to_hex(), me, None).unwrap();
    let opts = JoinOptions { name: Some("kept".into()), strict: true, token: Some(token.hex.clone()) };
    first.community_join(&c.link, None, opts).await.unwrap();
    first.shutdown().await;
    drop(first);

    // Same data directory, new ports: the membership, its mode and its token are still there,
    // and the member record is re-signed with the new addresses.
    let again = node_with(dirs[1].path(), |x| x.bootstrap = hints(&owner)).await;
    let info = again.community("kept").unwrap();
    assert!(info.strict);
    assert_eq!(info.token.map(|t| t.hex), Some(token.hex));
    again.community_refresh(&c.share_id.to_hex()).await.unwrap();
    owner.community_refresh(&c.share_id.to_hex()).await.unwrap();
    let seen = owner.community_members(&c.share_id.to_hex()).unwrap();
    let m = seen.iter().find(|m| m.node_pubkey == me).expect("the restarted member is seen");
    let port = again.tcp_addr().unwrap().port();
    assert!(m.has_token && m.addrs.iter().any(|a| a.ends_with(&format!(":{port}"))), "{m:?}");
    assert_eq!(member_set(&again, &c.share_id), BTreeSet::from([owner.node_pubkey(), me]));
    again.shutdown().await;
    owner.shutdown().await;
}
