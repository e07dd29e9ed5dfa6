//! The large DHT simulation: N in-process nodes (default 10,000) join by self-lookups, then
//! measure lookup accuracy against brute force, with 20% of the nodes offline, and with 20%
//! of them hostile (garbage, forgeries, wrong keys, far-away peers). Virtual time, fixed
//! seed: the same arguments print the same numbers.
//!
//! ```text
//! cargo run --release -p trove-dht --example sim -- [--nodes 10000] [--lookups 1000] [--seed 1]
//! ```
//!
//! Prints one line per phase: lookup success rate (the exact 20 closest live nodes found;
//! in the hostile phase, closest among the nodes that answer well-formed), recall, mean and
//! 95th-percentile hop count and queries per lookup, and the share of stored values (signed
//! share heads, looked up from random honest nodes) found.

#[path = "../tests/support/simnet.rs"]
mod simnet;

use simnet::{Behaviour, SimNet, mean_p95};
use std::time::Instant;
use trove_dht::DhtConfig;
use trove_proto::NodeId;

struct Args {
    nodes: usize,
    lookups: usize,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args { nodes: 10_000, lookups: 1_000, seed: 1 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let n: u64 = value.parse().map_err(|_| format!("{flag}: '{value}' is not a number"))?;
        match flag.as_str() {
            "--nodes" => a.nodes = n as usize,
            "--lookups" => a.lookups = n as usize,
            "--seed" => a.seed = n,
            _ => return Err(format!("unknown flag {flag}; use --nodes, --lookups, --seed")),
        }
    }
    if a.nodes < 30 {
        return Err("--nodes must be at least 30".into());
    }
    Ok(a)
}

/// Runs `lookups` FIND_NODE lookups from random live honest nodes and compares each result
/// with the true 20 closest nodes that answer FIND_NODE well-formed (`answers`); returns
/// (exact, recall, hops, queries).
fn node_lookups(net: &mut SimNet, lookups: usize, answers: fn(Behaviour) -> bool) -> (usize, f64, Vec<u32>, Vec<u32>) {
    let live = net.online_honest();
    let (mut exact, mut found, mut hops, mut queries) = (0, 0, Vec::new(), Vec::new());
    for _ in 0..lookups {
        let from = live[net.rng.below(live.len())];
        let target = NodeId(net.rng.bytes());
        let mut truth = {
            let n = &*net;
            n.true_closest(&target, 20, &|i| i != from && answers(n.nodes[i].behaviour))
        };
        truth.sort_unstable();
        let r = net.find_node(from, target);
        let mut got: Vec<usize> = r.closest.iter().filter_map(|p| net.index_of(p)).collect();
        got.sort_unstable();
        found += got.iter().filter(|i| truth.binary_search(i).is_ok()).count();
        exact += (got == truth) as usize;
        hops.push(r.hops);
        queries.push(r.queried as u32);
    }
    (exact, found as f64 / (20 * lookups.max(1)) as f64, hops, queries)
}

fn report(phase: &str, lookups: usize, (exact, recall, hops, queries): (usize, f64, Vec<u32>, Vec<u32>)) {
    let (mh, ph) = mean_p95(&hops);
    let (mq, pq) = mean_p95(&queries);
    println!(
        "{phase}: success (exact 20 closest) {:.2}% ({exact}/{lookups}), recall {:.2}%, hops mean {mh:.2} p95 {ph}, \
         queries mean {mq:.1} p95 {pq}",
        100.0 * exact as f64 / lookups.max(1) as f64,
        100.0 * recall
    );
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("sim: {e}");
            std::process::exit(2);
        }
    };
    let n = args.nodes;
    let t = Instant::now();
    let mut net = SimNet::bootstrap(args.seed, n, DhtConfig::default());
    let tables: Vec<u32> = net.nodes.iter().map(|x| x.dht.table().len() as u32).collect();
    println!(
        "bootstrap: {n} nodes joined in {:.1} s wall, {} queries, table size mean {:.0} (log2 N = {:.1})",
        t.elapsed().as_secs_f64(),
        net.stats.queries,
        mean_p95(&tables).0,
        (n as f64).log2()
    );
    let live = |b| b != Behaviour::Offline;
    report("honest", args.lookups, node_lookups(&mut net, args.lookups, live));

    // Values stored before trouble starts, looked up afterwards.
    let values = (args.lookups / 10).max(10);
    let mut shares = Vec::new();
    for _ in 0..values {
        let (share, store) = net.new_share_head(1);
        let from = net.rng.below(n);
        net.publish(from, &store);
        shares.push((share, store));
    }
    let base = net.clone();

    for i in net.rng.sample(n, n / 5) {
        net.nodes[i].behaviour = Behaviour::Offline;
    }
    report("churn 20% offline", args.lookups, node_lookups(&mut net, args.lookups, live));
    let found = values_found(&mut net, &shares);
    println!("churn 20% offline: values found {found}/{values}");

    let mut net = base;
    let kinds = [Behaviour::Garbage, Behaviour::Forger, Behaviour::WrongKey, Behaviour::FarPeers];
    for (k, i) in net.rng.sample(n, n / 5).into_iter().enumerate() {
        net.nodes[i].behaviour = kinds[k % kinds.len()];
    }
    // Forgers, wrong-key and far-peer nodes answer FIND_NODE well-formed, so they count as
    // legitimate results there; garbage nodes do not.
    let well_formed = |b| !matches!(b, Behaviour::Offline | Behaviour::Garbage);
    report("hostile 20%", args.lookups, node_lookups(&mut net, args.lookups, well_formed));
    let found = values_found(&mut net, &shares);
    println!("hostile 20%: genuine values found {found}/{values}");
}

fn values_found(net: &mut SimNet, shares: &[(trove_proto::Keypair, trove_proto::wire::Store)]) -> usize {
    let live = net.online_honest();
    let mut found = 0;
    for (share, store) in shares {
        let from = live[net.rng.below(live.len())];
        let r = net.find_head(from, share.public());
        found += r.value.is_some_and(|v| v.store.value == store.value) as usize;
    }
    found
}
