//! DHT simulation in one process (TEST-MATRIX §4c): 1,000 nodes, each a `Dht`, joined by
//! self-lookups through a few earlier nodes; lookups answered by calling the target
//! node's handler directly, in virtual time, from fixed seeds. Checks lookup accuracy
//! against brute force, churn, hostile nodes (DH-1), a sybil cluster around a key (DH-3)
//! and storage fill (DH-5). Every test prints the numbers it measured.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use support::simnet::{Behaviour, SimNet, mean_p95};
use trove_dht::{
    BUCKETS, Dht, DhtConfig, DhtRequest, DhtResponse, IpPrefix, Lookup, LookupConfig, Record, Source, StoreConfig,
    ValueTarget,
};
use trove_proto::wire::{FindValue, PeerAddr, Providers, ShareHead, Store, Transport};
use trove_proto::{ContentId, DhtKey, NodeId, PubKey, dht_key};

/// Nodes in the simulated network: 1,000 in CI; `TROVE_SIM_NODES=10000` for the large run
/// (`TROVE_SIM_NODES=10000 cargo test --release -p trove-dht --test sim -- --nocapture`).
fn nodes() -> usize {
    std::env::var("TROVE_SIM_NODES").ok().and_then(|v| v.parse().ok()).filter(|&n| n >= 100).unwrap_or(1_000)
}

/// The honest network, built once and cloned by each test.
fn network() -> SimNet {
    static NET: OnceLock<SimNet> = OnceLock::new();
    NET.get_or_init(|| SimNet::bootstrap(0x5eed_0001, nodes(), DhtConfig::default())).clone()
}

fn sorted(mut v: Vec<usize>) -> Vec<usize> {
    v.sort_unstable();
    v
}

#[test]
fn lookups_find_the_true_k_closest() {
    let mut net = network();
    let tables: Vec<usize> = net.nodes.iter().map(|n| n.dht.table().len()).collect();
    let lookups = 200;
    let (mut exact, mut found_total, mut hops, mut queries) = (0, 0, Vec::new(), Vec::new());
    for _ in 0..lookups {
        let from = net.rng.below(nodes());
        let target = NodeId(net.rng.bytes());
        let truth = sorted(net.true_closest(&target, 20, &|i| i != from));
        let r = net.find_node(from, target);
        let got = sorted(r.closest.iter().filter_map(|p| net.index_of(p)).collect());
        found_total += got.iter().filter(|i| truth.binary_search(i).is_ok()).count();
        exact += (got == truth) as usize;
        hops.push(r.hops);
        queries.push(r.queried as u32);
    }
    let (mean_hops, p95_hops) = mean_p95(&hops);
    let (mean_q, p95_q) = mean_p95(&queries);
    let (mean_table, _) = mean_p95(&tables.iter().map(|t| *t as u32).collect::<Vec<_>>());
    println!(
        "honest N={}: exact K-closest {exact}/{lookups} ({:.1}%), recall {:.2}%, hops mean {mean_hops:.2} p95 {p95_hops} \
         (log2 N = {:.1}), queries mean {mean_q:.1} p95 {p95_q}, table size mean {mean_table:.0}",
        nodes(),
        100.0 * exact as f64 / lookups as f64,
        100.0 * found_total as f64 / (20 * lookups) as f64,
        (nodes() as f64).log2()
    );
    assert!(exact * 100 >= lookups * 99, "exact K-closest in {exact} of {lookups} lookups");
    assert!(
        mean_hops <= (nodes() as f64).log2() && p95_hops as f64 <= (nodes() as f64).log2(),
        "hops {mean_hops} / {p95_hops}"
    );
}

#[test]
fn lookups_survive_twenty_percent_churn() {
    let mut net = network();
    // Values stored before the churn.
    let mut shares = Vec::new();
    for _ in 0..20 {
        let (share, store) = net.new_share_head(1);
        let from = net.rng.below(nodes());
        net.publish(from, &store);
        shares.push((share, store));
    }
    for i in net.rng.sample(nodes(), nodes() / 5) {
        net.nodes[i].behaviour = Behaviour::Offline;
    }
    let online = net.online_honest();
    let lookups = 100;
    let (mut exact, mut recall, mut hops, mut timeouts) = (0, 0, Vec::new(), 0);
    for _ in 0..lookups {
        let from = online[net.rng.below(online.len())];
        let target = NodeId(net.rng.bytes());
        let truth = {
            let n = &net;
            sorted(n.true_closest(&target, 20, &|i| i != from && n.nodes[i].behaviour == Behaviour::Honest))
        };
        let r = net.find_node(from, target);
        let got = sorted(r.closest.iter().filter_map(|p| net.index_of(p)).collect());
        recall += got.iter().filter(|i| truth.binary_search(i).is_ok()).count();
        exact += (got == truth) as usize;
        hops.push(r.hops);
        timeouts += r.unresponsive.len();
    }
    let mut found = 0;
    for (share, store) in &shares {
        let from = online[net.rng.below(online.len())];
        let r = net.find_head(from, share.public());
        found += r.value.is_some_and(|v| v.store.value == store.value) as usize;
    }
    let (mean_hops, p95_hops) = mean_p95(&hops);
    let recall = recall as f64 / (20 * lookups) as f64;
    println!(
        "churn 20% offline: every lookup completed; recall of the 20 closest online nodes {:.2}%, exact set \
         {exact}/{lookups}, timeouts per lookup {:.1}, hops mean {mean_hops:.2} p95 {p95_hops}, values stored before \
         the churn found {found}/{}",
        100.0 * recall,
        timeouts as f64 / lookups as f64,
        shares.len()
    );
    assert!(recall >= 0.98, "recall {recall}");
    assert!(exact * 100 >= lookups * 85, "exact in {exact} of {lookups}");
    assert_eq!(found, shares.len());
}

#[test]
fn dh1_hostile_nodes_cannot_hide_or_forge_values() {
    let mut net = network();
    // 20% turn hostile after joining: garbage, forgeries, wrong keys, far-away peers.
    let kinds = [Behaviour::Garbage, Behaviour::Forger, Behaviour::WrongKey, Behaviour::FarPeers];
    let hostile = net.rng.sample(nodes(), nodes() / 5);
    for (n, i) in hostile.iter().enumerate() {
        net.nodes[*i].behaviour = kinds[n % kinds.len()];
    }
    let honest = net.online_honest();
    let mut shares = Vec::new();
    for _ in 0..30 {
        let (share, store) = net.new_share_head(3);
        let from = honest[net.rng.below(honest.len())];
        let kept = net.publish(from, &store);
        shares.push((share, store, kept));
    }
    // Hostile STOREs of forged, garbage or wrongly keyed records: refused wherever the
    // share key is known (every node holding the genuine head) and everywhere in strict
    // mode. A node that never saw the share key cannot tell a forged v1 head (no extension
    // key) from a genuine one; it keeps it only until the first verified head arrives.
    let mut strict = Dht::new(
        PubKey([0xcc; 32]),
        DhtConfig { store: StoreConfig { require_verified_heads: true, ..Default::default() }, ..Default::default() },
    );
    let (mut attempts, mut accepted, mut strict_accepted, mut elsewhere, mut elsewhere_accepted) = (0, 0, 0, 0, 0);
    for (share, store, _) in shares.iter().take(10) {
        let genuine = ShareHead::from_payload_checked(&store.value);
        let mut forged = genuine.clone();
        forged.latest_seq = u64::MAX;
        let wrong_key = shares.iter().find(|(s, ..)| s.public() != share.public()).map(|(_, st, _)| st.value.clone());
        let bad_values = [
            forged.to_payload_bytes(),
            forged.without_extension().to_payload_bytes(),
            wrong_key.unwrap_or_default(),
            vec![0xa1, 0x00, 0x01],
        ];
        let holders: Vec<usize> =
            honest.iter().copied().filter(|i| net.nodes[*i].dht.store().contains(&store.key)).collect();
        let others: Vec<usize> = honest.iter().copied().filter(|i| !holders.contains(i)).take(20).collect();
        for (n, bad) in bad_values.iter().enumerate() {
            let h = hostile[n % hostile.len()];
            let src = Source::new(net.nodes[h].id(), net.nodes[h].addr.ip);
            let req = DhtRequest::Store(Store { key: store.key, value: bad.clone(), ttl_secs: 1 << 62 });
            let now = net.now;
            for j in &holders {
                attempts += 1;
                accepted += net.nodes[*j].dht.handle(&req, &src, now).is_ok() as usize;
            }
            for j in &others {
                elsewhere += 1;
                elsewhere_accepted += net.nodes[*j].dht.handle(&req, &src, now).is_ok() as usize;
            }
            strict_accepted += strict.handle(&req, &src, now).is_ok() as usize;
        }
    }
    let lookups = 100;
    let (mut found, mut hops, mut misbehaving) = (0, Vec::new(), 0);
    for n in 0..lookups {
        let (share, store, _) = &shares[n % shares.len()];
        let from = honest[net.rng.below(honest.len())];
        let r = net.find_head(from, share.public());
        misbehaving += r.misbehaving.len();
        hops.push(r.hops);
        if let Some(v) = r.value
            && v.store.value == store.value
            && v.authenticity.is_verified()
        {
            found += 1;
        }
    }
    let (mean_hops, p95_hops) = mean_p95(&hops);
    let kept: Vec<u32> = shares.iter().map(|s| s.2 as u32).collect();
    println!(
        "DH-1 20% hostile: bad STOREs accepted by nodes holding the genuine head {accepted}/{attempts}, by a strict \
         node {strict_accepted}/40, by nodes that never saw the share key {elsewhere_accepted}/{elsewhere} (forged \
         v1 heads only); genuine head found {found}/{lookups} ({:.1}%), honest replicas per value mean {:.1}, \
         misbehaving peers flagged {misbehaving}, hops mean {mean_hops:.2} p95 {p95_hops}",
        100.0 * found as f64 / lookups as f64,
        mean_p95(&kept).0
    );
    assert_eq!((accepted, strict_accepted), (0, 0));
    assert!(elsewhere_accepted <= elsewhere / 4, "only the keyless v1 forgery can pass there");
    assert!(found * 100 >= lookups * 99, "found {found} of {lookups}");
}

#[test]
fn dh3_sybil_cluster_around_a_key() {
    // 800 honest nodes, then 200 sybils whose ids share 8 leading bits with the target key
    // (the honest node closest to a key shares about 10), drawn from 8 attacker /24s.
    let mut net = SimNet::bootstrap(0x5eed_0003, 800, DhtConfig::default());
    let (share, store) = net.new_share_head(5);
    let target = store.key.target();
    let nets: Vec<[u8; 2]> = (0..8).map(|_| net.rng.bytes()).collect();
    let sybils: Vec<usize> = (0..200)
        .map(|i| {
            let [a, b] = nets[i % nets.len()];
            net.add_sybil_near(&target, 8, std::net::Ipv4Addr::new(172, a, b, (i / nets.len()) as u8 + 1))
        })
        .collect();
    for s in &sybils {
        let seeds = net.rng.sample(800, 3);
        net.join(*s, &seeds);
    }
    let honest = net.online_honest();
    let publisher = honest[net.rng.below(honest.len())];
    let kept = net.publish(publisher, &store);
    let truth_closest_sybils = net.true_closest(&target, 20, &|_| true).iter().filter(|i| sybils.contains(i)).count();

    // Lookups from random honest nodes, with forging sybils and then with sybils that hide
    // (no value, only each other as closer peers), with and without the per-network limit.
    let run = |net: &mut SimNet, paths: usize, prefix_limit: Option<usize>| {
        let lookups = 60;
        let mut found = 0;
        for _ in 0..lookups {
            let from = honest[net.rng.below(honest.len())];
            let dht = &net.nodes[from].dht;
            let cfg =
                LookupConfig { disjoint_paths: paths, max_per_prefix: prefix_limit, ..dht.config().lookup.clone() };
            let seeds: Vec<PeerAddr> = dht.table().closest(&target, 20).into_iter().map(|e| e.addr.clone()).collect();
            let lookup = Lookup::find_value(ValueTarget::share_head(share.public()), &seeds, Some(dht.local_id()), cfg);
            let r = net.run_lookup(from, lookup);
            found += r.value.is_some_and(|v| v.store.value == store.value) as usize;
        }
        (found, lookups)
    };
    let forging_1 = run(&mut net, 1, Some(2));
    let forging_3 = run(&mut net, 3, Some(2));
    for s in &sybils {
        net.nodes[*s].behaviour = Behaviour::Eclipse;
    }
    let hiding_1 = run(&mut net, 1, Some(2));
    let hiding_3 = run(&mut net, 3, Some(2));
    let hiding_unlimited = run(&mut net, 3, None);
    // No routing table bucket holds more than 2 nodes of one /24.
    let mut worst = 0;
    for n in &net.nodes {
        if n.behaviour != Behaviour::Honest {
            continue;
        }
        for b in 0..BUCKETS {
            let mut per: HashMap<IpPrefix, usize> = HashMap::new();
            for e in n.dht.table().bucket(b) {
                *per.entry(IpPrefix::of(&e.addr.ip)).or_default() += 1;
            }
            worst = worst.max(per.values().copied().max().unwrap_or(0));
        }
    }
    let sybils_in_tables: usize = honest
        .iter()
        .map(|h| {
            net.nodes[*h]
                .dht
                .table()
                .entries()
                .filter(|e| net.index_of(&e.addr).is_some_and(|i| sybils.contains(&i)))
                .count()
        })
        .sum();
    let pct = |(f, n): (usize, usize)| format!("{f}/{n}");
    println!(
        "DH-3 sybils 200/1000 within 8 bits of the key from 8 /24s: {truth_closest_sybils} of the true 20 closest are \
         sybils; genuine head stored on {kept} honest nodes; genuine head found: forging sybils 1 path {}, 3 disjoint \
         paths {}; hiding sybils 1 path {}, 3 disjoint paths {}, 3 paths without the per-/24 limit {}; max nodes of \
         one /24 in a bucket: {worst}; sybil entries in honest tables {sybils_in_tables}",
        pct(forging_1),
        pct(forging_3),
        pct(hiding_1),
        pct(hiding_3),
        pct(hiding_unlimited)
    );
    assert!(truth_closest_sybils >= 18, "the sybils really surround the key");
    for (found, n) in [forging_3, hiding_3] {
        assert!(found * 100 >= n * 95, "disjoint paths found {found} of {n}");
    }
    assert!(worst <= 2);
}

#[test]
fn dh5_storage_fill_is_bounded_and_deterministic() {
    let by_count = DhtConfig {
        store: StoreConfig { max_values: 2_000, max_bytes: 1 << 20, source_share_percent: 5, ..Default::default() },
        ..Default::default()
    };
    let by_bytes = DhtConfig {
        store: StoreConfig { max_values: 100_000, max_bytes: 200_000, source_share_percent: 5, ..Default::default() },
        ..Default::default()
    };
    let fill = |cfg: &DhtConfig| {
        let mut dht = Dht::new(PubKey([0xee; 32]), cfg.clone());
        let mut refused = 0;
        let mut max_ttl = 0;
        let now = 1_700_000_000u64;
        for i in 0..6_000u32 {
            let source = i % 100;
            let ip = format!("10.{}.{}.7", source / 200, source % 200);
            let src = Source::new(PubKey([source as u8; 32]).node_id(), ip.parse().unwrap());
            let mut c = [0u8; 32];
            c[..4].copy_from_slice(&i.to_be_bytes());
            let entries = vec![PeerAddr::new(format!("{ip}:7001").parse().unwrap(), Transport::Tcp)];
            let p = Providers { content_id: ContentId(c), providers: entries, updated_at: now };
            // Half ask for TTL 2^63, the rest for spread TTLs.
            let ttl = if i % 2 == 0 { 1 << 63 } else { 86_400 + (i as u64 * 37) % 500_000 };
            let key = dht_key::content_providers(&p.content_id);
            let req = DhtRequest::Store(Store { key, value: p.to_payload_bytes(), ttl_secs: ttl });
            if dht.handle(&req, &src, now + i as u64 / 10).is_err() {
                refused += 1;
            }
            if let Ok(DhtResponse::FindValue(r)) =
                dht.handle(&DhtRequest::FindValue(FindValue { key }), &src, now + 700)
                && let Some(v) = r.value
            {
                max_ttl = max_ttl.max(v.ttl_secs);
            }
        }
        let mut keys: Vec<DhtKey> = (0..6_000u32)
            .map(|i| {
                let mut c = [0u8; 32];
                c[..4].copy_from_slice(&i.to_be_bytes());
                dht_key::content_providers(&ContentId(c))
            })
            .filter(|k| dht.store().contains(k))
            .collect();
        keys.sort();
        (dht, keys, refused, max_ttl)
    };
    for (name, cfg, max_values, max_bytes) in
        [("2000-value", &by_count, 2_000, 1 << 20), ("200 kB", &by_bytes, 100_000, 200_000)]
    {
        let (dht, keys, refused, max_ttl) = fill(cfg);
        let (_, keys2, refused2, _) = fill(cfg);
        let per_source_max = (0..100u8).map(|s| dht.store().usage_of(&PubKey([s; 32]).node_id()).0).max().unwrap_or(0);
        println!(
            "DH-5 fill: 6000 STOREs into a {name} store: kept {} values, {} bytes, refused {refused}, max TTL served \
             {max_ttl}, most values held by one source {per_source_max}",
            dht.store().len(),
            dht.store().bytes()
        );
        assert!(dht.store().len() <= max_values && dht.store().bytes() <= max_bytes);
        assert!(dht.store().len() >= max_values.min(6_000) / 2 || dht.store().bytes() >= max_bytes / 2, "it filled up");
        assert!(max_ttl <= 604_800, "TTL 2^63 is clamped to 7 days");
        assert!(per_source_max <= max_values * 5 / 100, "at most 5% per source");
        assert_eq!((keys, refused), (keys2, refused2), "eviction is deterministic");
    }

    // No one can extend another node's entry: B re-storing the same list does not keep A's
    // entry alive past A's own expiry.
    let mut dht = Dht::new(PubKey([0xee; 32]), DhtConfig::default());
    let now = 1_700_000_000u64;
    let a_addr = PeerAddr::new("10.0.0.1:7001".parse().unwrap(), Transport::Tcp);
    let b_addr = PeerAddr::new("10.0.1.1:7001".parse().unwrap(), Transport::Tcp);
    let content = ContentId([9; 32]);
    let key = dht_key::content_providers(&content);
    let list = Providers { content_id: content, providers: vec![a_addr.clone(), b_addr.clone()], updated_at: now };
    let store = Store { key, value: list.to_payload_bytes(), ttl_secs: 86_400 };
    let a = Source::new(PubKey([1; 32]).node_id(), a_addr.ip);
    let b = Source::new(PubKey([2; 32]).node_id(), b_addr.ip);
    dht.handle(&DhtRequest::Store(store.clone()), &a, now).unwrap();
    dht.handle(&DhtRequest::Store(Store { ttl_secs: 1 << 63, ..store }), &b, now + 80_000).unwrap();
    let served = |dht: &mut Dht, t: u64| match dht.handle(&DhtRequest::FindValue(FindValue { key }), &b, t) {
        Ok(DhtResponse::FindValue(r)) => r.value.map(|v| Providers::from_payload_bytes(&v.value).providers),
        _ => None,
    };
    assert_eq!(served(&mut dht, now + 80_001), Some(vec![b_addr.clone(), a_addr.clone()]));
    assert_eq!(served(&mut dht, now + 86_400), Some(vec![b_addr]), "A's entry expired on A's schedule");
}

/// Small conveniences over the `Payload` trait for this file.
trait PayloadExt: Sized {
    fn to_payload_bytes(&self) -> Vec<u8>;
    fn from_payload_checked(b: &[u8]) -> Self;
    fn from_payload_bytes(b: &[u8]) -> Self {
        Self::from_payload_checked(b)
    }
}

impl<T: trove_proto::wire::Payload> PayloadExt for T {
    fn to_payload_bytes(&self) -> Vec<u8> {
        self.to_payload()
    }
    fn from_payload_checked(b: &[u8]) -> Self {
        T::from_payload(b).expect("test value decodes")
    }
}

#[test]
fn records_found_are_the_ones_stored() {
    // A sanity check of the harness itself: a stored head comes back decoded and verified.
    let mut net = network();
    let (share, store) = net.new_share_head(2);
    let kept = net.publish(7, &store);
    let r = net.find_head(500, share.public());
    let v = r.value.expect("found");
    assert!(kept >= 15, "kept on {kept}");
    let Record::ShareHead(h) = v.record else { panic!("not a head") };
    assert_eq!(h.latest_seq, 2);
    let unique: HashSet<_> = r.closest.iter().collect();
    assert_eq!(unique.len(), r.closest.len());
}
