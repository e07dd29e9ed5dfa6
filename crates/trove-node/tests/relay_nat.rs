//! A firewalled node behind real address translation (TEST-MATRIX LD-7, port-restricted
//! NAT): three network namespaces the test creates and removes, joined by veth pairs.
//!
//! ```text
//!  ns "public"  10.231.1.1 ── veth ── 10.231.1.254  ns "nat"  10.231.2.254 ── veth ── 10.231.2.1  ns "private"
//!  relay R, dialer D                   MASQUERADE for 10.231.2.0/24;                  firewalled node F
//!                                      new connections toward 10.231.2.0/24 dropped    (listening, unreachable)
//! ```
//!
//! Each node runs in its own process (`ip netns exec <ns> <this test binary> nat_child`).
//! F registers a tunnel at R (R sees it come from the NAT's address), publishes; D fails to
//! reach F directly, then subscribes and downloads through R. Needs root, `ip` and
//! `iptables`; without them the test prints why and passes. To run it alone:
//! `cargo test -p trove-node --test relay_nat -- --nocapture` (as root).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;
use trove_node::relay::{RelaySettings, RelayUse};
use trove_node::{Event, Node, NodeConfig, PublishRequest};
use trove_store::db::Trust;

const PUBLIC_IP: &str = "10.231.1.1";
const NAT_PUBLIC_IP: &str = "10.231.1.254";
const PRIVATE_IP: &str = "10.231.2.1";

/// Runs a command; Err with its output when it fails.
fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0]).args(&args[1..]).output().map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()))
    }
}

/// The namespaces and the processes in them; dropping it kills the processes and deletes the
/// namespaces (which removes the veth pairs with them).
struct Lab {
    ns: [String; 3],
    children: Vec<Child>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for n in &self.ns {
            let _ = run(&["ip", "netns", "del", n]);
        }
    }
}

impl Lab {
    fn build() -> Result<Lab, String> {
        let tag = format!("trv{}", std::process::id() % 100_000);
        let lab = Lab { ns: [format!("{tag}p"), format!("{tag}n"), format!("{tag}f")], children: Vec::new() };
        let [p, n, f] = [lab.ns[0].as_str(), lab.ns[1].as_str(), lab.ns[2].as_str()];
        for ns in [p, n, f] {
            run(&["ip", "netns", "add", ns])?;
            run(&["ip", "-n", ns, "link", "set", "lo", "up"])?;
        }
        // The veth pairs are created inside the namespaces, never in the host's.
        run(&["ip", "-n", p, "link", "add", "pub0", "type", "veth", "peer", "name", "nat0", "netns", n])?;
        run(&["ip", "-n", n, "link", "add", "nat1", "type", "veth", "peer", "name", "priv0", "netns", f])?;
        for (ns, dev, addr) in [
            (p, "pub0", format!("{PUBLIC_IP}/24")),
            (n, "nat0", format!("{NAT_PUBLIC_IP}/24")),
            (n, "nat1", "10.231.2.254/24".to_string()),
            (f, "priv0", format!("{PRIVATE_IP}/24")),
        ] {
            run(&["ip", "-n", ns, "addr", "add", &addr, "dev", dev])?;
            run(&["ip", "-n", ns, "link", "set", dev, "up"])?;
        }
        run(&["ip", "-n", f, "route", "add", "default", "via", "10.231.2.254"])?;
        // The public side knows the way to the private network: only the NAT stops it.
        run(&["ip", "-n", p, "route", "add", "10.231.2.0/24", "via", NAT_PUBLIC_IP])?;
        run(&["ip", "netns", "exec", n, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"])?;
        let ipt = |rule: &str| {
            let mut a = vec!["ip", "netns", "exec", n, "iptables"];
            a.extend(rule.split(' '));
            run(&a)
        };
        ipt("-t nat -A POSTROUTING -s 10.231.2.0/24 -o nat0 -j MASQUERADE")?;
        ipt("-A FORWARD -i nat0 -o nat1 -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT")?;
        ipt("-A FORWARD -i nat0 -o nat1 -j DROP")?;
        Ok(lab)
    }

    /// Starts this test binary's `nat_child` in namespace `ns` with a role; returns the
    /// receiver of its stdout lines.
    fn spawn(&mut self, ns: usize, role: &str, env: &[(&str, String)]) -> mpsc::Receiver<String> {
        let exe = std::env::current_exe().unwrap();
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns[ns]])
            .arg(exe)
            .args(["--exact", "nat_child", "--nocapture", "--test-threads", "1"])
            .env("TROVE_NAT_ROLE", role)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let rx = lines(child.stdout.take().unwrap());
        self.children.push(child);
        rx
    }
}

fn lines(out: ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            println!("  child: {l}");
            if tx.send(l).is_err() {
                return;
            }
        }
    });
    rx
}

/// The first line starting with `prefix` (its rest).
fn expect(rx: &mpsc::Receiver<String>, prefix: &str) -> String {
    loop {
        let l = rx.recv_timeout(Duration::from_secs(120)).unwrap_or_else(|e| panic!("no '{prefix}' line: {e}"));
        // (libtest may print "test nat_child ... " on the same line first.)
        if let Some(i) = l.find(&format!("{prefix} ")) {
            return l[i + prefix.len()..].trim().to_string();
        }
    }
}

fn unavailable() -> Option<String> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let root = status.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    if !root {
        return Some("not running as root".into());
    }
    for tool in ["ip", "iptables"] {
        if Command::new(tool).arg("-V").output().is_err() && Command::new(tool).arg("--version").output().is_err() {
            return Some(format!("'{tool}' is not installed"));
        }
    }
    None
}

#[test]
fn a_node_behind_nat_is_reached_through_a_relay() {
    if let Some(why) = unavailable() {
        println!("skipping the NAT test: {why}");
        return;
    }
    let mut lab = match Lab::build() {
        Ok(l) => l,
        Err(why) => {
            println!("skipping the NAT test: cannot build the namespaces: {why}");
            return;
        }
    };
    let relay = lab.spawn(0, "relay", &[]);
    let boot = expect(&relay, "RELAY");
    let fw = lab.spawn(2, "firewalled", &[("TROVE_NAT_BOOT", boot.clone())]);
    // The relay sees the tunnel come from the NAT's public address: real translation.
    let remote = expect(&relay, "TUNNEL");
    assert!(remote.starts_with(&format!("{NAT_PUBLIC_IP}:")), "tunnel from {remote}");
    let direct = expect(&fw, "DIRECT");
    let link = expect(&fw, "LINK");
    let dialer = lab.spawn(0, "dialer", &[("TROVE_NAT_LINK", link), ("TROVE_NAT_DIRECT", direct)]);
    assert_eq!(expect(&dialer, "DIRECT"), "unreachable");
    let done = expect(&dialer, "DONE");
    println!("downloaded through the relay across the NAT: {done}");
}

/// The processes of the NAT test (does nothing unless started by it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nat_child() {
    let Ok(role) = std::env::var("TROVE_NAT_ROLE") else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = |ip: &str, port: u16| {
        let mut c = NodeConfig::loopback(dir.path());
        c.listen_tcp = Some(format!("{ip}:{port}").parse().unwrap());
        c.listen_quic = Some(format!("{ip}:{}", port.saturating_sub(1)).parse().unwrap());
        c.relay.probe_secs = 2;
        c
    };
    // The parent ends the test by closing stdin (or killing the process).
    std::thread::spawn(|| {
        let _ = std::io::stdin().lines().count();
        std::process::exit(0);
    });
    match role.as_str() {
        "relay" => {
            let mut c = cfg(PUBLIC_IP, 7001);
            c.relay = RelaySettings::server();
            let r = Node::start(c).await.unwrap();
            let mut ev = r.events();
            println!("RELAY tcp://{}@{}", r.tcp_addr().unwrap(), r.node_pubkey().to_hex());
            loop {
                if let Ok(Event::RelayTunnelRegistered { remote, .. }) = ev.recv().await {
                    println!("TUNNEL {remote}");
                }
            }
        }
        "firewalled" => {
            let mut c = cfg(PRIVATE_IP, 7001);
            c.bootstrap = vec![std::env::var("TROVE_NAT_BOOT").unwrap()];
            c.relay.client = RelayUse::Always;
            let f = Node::start(c).await.unwrap();
            let mut ev = f.events();
            if f.relay_route().is_none_or(|r| !r.up) {
                common::wait_for(&mut ev, |e| matches!(e, Event::RelayTunnelUp { .. })).await;
            }
            let content = dir.path().join("share");
            common::write_tree(&content, &[("movie.bin", 1_200_000)]);
            let p = f.publish(PublishRequest { paths: vec![content], ..Default::default() }).await.unwrap();
            println!("DIRECT {}", f.tcp_addr().unwrap());
            println!("LINK {}", p.link);
            std::future::pending::<()>().await;
        }
        "dialer" => {
            let direct: std::net::SocketAddr = std::env::var("TROVE_NAT_DIRECT").unwrap().parse().unwrap();
            let probe = tokio::time::timeout(Duration::from_secs(3), tokio::net::TcpStream::connect(direct)).await;
            println!("DIRECT {}", if matches!(probe, Ok(Ok(_))) { "reachable" } else { "unreachable" });
            let d = Node::start(cfg(PUBLIC_IP, 0)).await.unwrap();
            let link = std::env::var("TROVE_NAT_LINK").unwrap();
            // The publisher announces in the background; sync until its records are there.
            let mut s = d.subscribe(&link, None, Trust::Normal).await.unwrap();
            for _ in 0..50 {
                if s.seq.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
                s = d.sync_all().await.unwrap().remove(0);
            }
            assert_eq!(s.seq, Some(1), "{s:?}");
            let out = dir.path().join("out");
            let rep = d
                .get(trove_node::download::get::GetRequest { share: link, out_dir: out.clone(), ..Default::default() })
                .await
                .unwrap();
            assert!(rep.ok(), "{rep:#?}");
            let got = std::fs::read(out.join("movie.bin")).unwrap();
            assert_eq!(got, common::pattern(1_200_000, "movie.bin".len() as u8));
            println!("DONE {} bytes", got.len());
        }
        other => panic!("unknown role {other}"),
    }
}
