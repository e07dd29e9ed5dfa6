//! End-to-end tests of the `trove` commands around communities, share visibility,
//! subscription settings and relaying, with real `trove` processes in temporary data
//! directories on loopback (ephemeral ports, no LAN):
//! - `community create|join|list|members|browse|refresh|token issue|token set|strict|leave`
//!   between three daemons: members see each other and the public shares bound to the
//!   community (never the private ones), outsiders are refused, mismatched keys and tokens
//!   are refused with clear messages, leaving reaches the creator;
//! - `visibility SHARE public|private`: a new revision each time, bad values are usage errors;
//! - `subscription SHARE --trust/--weight/--blocklist`: search honours the trust tier, bad
//!   values are refused, `subscriptions --json` shows the settings;
//! - `trove relay`: its startup JSON, its refusals of bad flags, and a publisher reachable
//!   only through it whose link lets a third node subscribe and download a multi-chunk file.

#![cfg(unix)]

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// A string field of a JSON value (panics with the value when it is missing).
fn text(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap_or_else(|| panic!("no string '{field}' in {v}")).to_string()
}

/// The node public key of a data directory (through its daemon when one runs).
fn node_key(dir: &Path) -> String {
    let id = run(dir, &["--json", "identity"]).ok_json();
    let key = text(&id, "node_pubkey");
    assert_eq!(key.len(), 64, "{id}");
    key
}

/// Asserts a failed run: exit code 1 and a JSON error whose message contains `needle`.
fn fails_with(r: &Run, needle: &str) -> Value {
    assert_eq!(r.code, 1, "{r:#?}");
    assert_eq!(r.stdout, "", "nothing on stdout on failure: {r:#?}");
    let e = r.json_error();
    assert!(e["message"].as_str().unwrap_or("").contains(needle), "expected '{needle}' in {e}");
    e
}

/// The share ids of a community browse page.
fn page_ids(page: &Value) -> BTreeSet<String> {
    page["shares"]
        .as_array()
        .unwrap_or_else(|| panic!("no shares in {page}"))
        .iter()
        .map(|e| text(e, "share_id"))
        .collect()
}

/// Refreshes community `c` on `dir` and returns its whole browse list.
fn refresh_and_browse(dir: &Path, c: &str) -> Value {
    run(dir, &["--json", "community", "refresh", c]).ok_json();
    run(dir, &["--json", "community", "browse", c, "--limit", "1000"]).ok_json()
}

#[test]
fn communities_among_three_daemons() {
    let t = tempfile::tempdir().unwrap();
    let (a, b, c) = (t.path().join("a"), t.path().join("b"), t.path().join("c"));
    let content = t.path().join("content");
    for (dir, file) in [("one", "club-film.bin"), ("two", "club-music.bin"), ("secret", "diary.txt")] {
        write_tree(&content.join(dir), &[(file, 5_000)]);
    }
    let rt = rt();
    let da = Daemon::start(&a, &rt);
    let db = Daemon::start(&b, &rt);
    let (key_a, key_b, key_c) = (node_key(&a), node_key(&b), node_key(&c));

    // A creates the community: it holds the key and a token for itself.
    let club = run(&a, &["--json", "community", "create", "club"]).ok_json();
    let (id, link) = (text(&club, "share_id"), text(&club, "link"));
    assert!(link.starts_with("scp2p://s/"), "{club}");
    assert_eq!((club["name"].as_str(), club["owner"].as_bool()), (Some("club"), Some(true)), "{club}");
    assert_eq!(club["token"]["member"].as_str(), Some(key_a.as_str()), "the creator holds a token: {club}");

    // B joins by link, under a local name.
    let j = run(&b, &["--json", "community", "join", &link, "--name", "theclub"]).ok_json();
    assert_eq!(text(&j, "share_id"), id);
    assert_eq!((j["owner"].as_bool(), j["name"].as_str()), (Some(false), Some("theclub")), "{j}");
    assert!(j["token"].is_null(), "{j}");

    // A key that is not the community's is refused, by id and by link; nothing is joined.
    fails_with(&run(&c, &["--json", "community", "join", &id, "--pubkey", &key_c]), "does not match public key");
    fails_with(
        &run(&c, &["--json", "community", "join", &link, "--pubkey", &key_c]),
        "differs from the key in the link",
    );
    fails_with(&run(&c, &["--json", "community", "join", &id]), "needs its public key");
    assert_eq!(run(&c, &["--json", "community", "list"]).ok_json(), serde_json::json!([]));
    // C is no member: browsing the community fails clearly.
    let e = fails_with(&run(&c, &["--json", "community", "browse", &id]), "is not joined");
    assert_eq!(e["kind"], "not_found", "{e}");
    let r = run(&c, &["community", "members", &id]);
    assert!(r.code == 1 && r.stderr.contains("is not joined"), "{r:#?}");

    // A publishes two public shares and a private one, all bound to the community.
    let publish = |dir: &str, name: &str, vis: &str| {
        let p = s(&content.join(dir)).to_string();
        let r = run(&a, &["--json", "publish", &p, vis, "--community", &id, "--name", name]).ok_json();
        text(&r, "share_id")
    };
    let one = publish("one", "club-one", "--public");
    let two = publish("two", "club-two", "--public");
    let secret = publish("secret", "club-secret", "--private");

    // B sees the public ones after a refresh, never the private one.
    let page = eventually("B lists A's public shares", || {
        let p = refresh_and_browse(&b, &id);
        page_ids(&p).is_superset(&BTreeSet::from([one.clone(), two.clone()])).then_some(p)
    });
    assert_eq!(page_ids(&page), BTreeSet::from([one.clone(), two.clone()]), "only the public shares: {page}");
    for e in page["shares"].as_array().unwrap() {
        assert_eq!(e["publisher"].as_str(), Some(key_a.as_str()), "{e}");
        assert_eq!(e["is_own"].as_bool(), Some(false), "{e}");
    }
    // The creator's own view lists them as its own.
    let own = run(&a, &["--json", "community", "browse", "club"]).ok_json();
    assert_eq!(page_ids(&own), BTreeSet::from([one.clone(), two.clone()]), "{own}");
    assert!(own["shares"].as_array().unwrap().iter().all(|e| e["is_own"] == true), "{own}");
    // Paged: one share per page, the pages add up to the list.
    let mut paged = BTreeSet::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let mut args = vec!["--json", "community", "browse", "theclub", "--limit", "1"];
        if let Some(c) = &cursor {
            args.extend(["--cursor", c.as_str()]);
        }
        let p = run(&b, &args).ok_json();
        assert!(p["shares"].as_array().unwrap().len() <= 1, "{p}");
        paged.extend(page_ids(&p));
        cursor = p["next"].as_str().map(String::from);
        if cursor.is_none() {
            break;
        }
    }
    assert!(cursor.is_none(), "browse did not end within 5 pages");
    assert_eq!(paged, BTreeSet::from([one.clone(), two.clone()]));
    let r = run(&b, &["--json", "community", "browse", "theclub", "--cursor", "00ff"]);
    assert_eq!(r.code, 1, "a forged cursor is refused: {r:#?}");
    assert!(!page_ids(&page).contains(&secret));

    // The listed link is enough to subscribe.
    let entry = page["shares"].as_array().unwrap().iter().find(|e| e["share_id"] == one.as_str()).unwrap();
    let sub = run(&b, &["--json", "subscribe", &text(entry, "link")]).ok_json();
    assert_eq!((sub["seq"].as_u64(), sub["items"].as_u64()), (Some(1), Some(1)), "{sub}");
    assert!(sub["error"].is_null(), "{sub}");

    // Members in B's view: A and B, B being itself.
    let members = run(&b, &["--json", "community", "members", &id]).ok_json();
    let mut seen = BTreeSet::new();
    for m in members.as_array().unwrap() {
        let k = text(m, "node_pubkey");
        assert_eq!(m["is_self"].as_bool(), Some(k == key_b), "{m}");
        seen.insert(k);
    }
    assert_eq!(seen, BTreeSet::from([key_a.clone(), key_b.clone()]), "{members}");

    // Tokens: only the creator issues them.
    fails_with(&run(&b, &["--json", "community", "token", "issue", &id, &key_b]), "only its creator can issue tokens");
    fails_with(&run(&a, &["--json", "community", "token", "issue", &id, &key_b, "--days", "0"]), "makes no sense");
    fails_with(&run(&a, &["--json", "community", "token", "issue", &id, "not-a-key"]), "not a node public key");
    let tok = run(&a, &["--json", "community", "token", "issue", &id, &key_b, "--days", "30"]).ok_json();
    assert_eq!(tok["member"].as_str(), Some(key_b.as_str()), "{tok}");
    assert_eq!(tok["expires_at"].as_u64().unwrap() - tok["issued_at"].as_u64().unwrap(), 30 * 86_400, "{tok}");
    let hex = text(&tok, "hex");
    // A token issued to C is of no use to B.
    let for_c = run(&a, &["--json", "community", "token", "issue", &id, &key_c]).ok_json();
    fails_with(
        &run(&b, &["--json", "community", "token", "set", &id, &text(&for_c, "hex")]),
        "cannot be used by this node",
    );
    fails_with(&run(&b, &["--json", "community", "token", "set", &id, "zz"]), "hex");
    let set = run(&b, &["--json", "community", "token", "set", "theclub", &hex]).ok_json();
    assert_eq!(set["token"]["member"].as_str(), Some(key_b.as_str()), "{set}");
    let list = run(&b, &["--json", "community", "list"]).ok_json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["token"]["hex"].as_str(), Some(hex.as_str()), "{list}");
    assert_eq!(list[0]["share_id"].as_str(), Some(id.as_str()));

    // Strict mode switches on and off.
    let st = run(&a, &["--json", "community", "strict", &id, "on"]).ok_json();
    assert_eq!(st["strict"].as_bool(), Some(true), "{st}");
    let st = run(&a, &["--json", "community", "strict", &id, "off"]).ok_json();
    assert_eq!(st["strict"].as_bool(), Some(false), "{st}");
    let r = run(&a, &["community", "strict", &id, "maybe"]);
    assert_eq!(r.code, 2, "{r:#?}");

    // A share made private disappears from the community (a new revision).
    let v = run(&a, &["--json", "visibility", "club-two", "private"]).ok_json();
    assert_eq!((v["share_id"].as_str(), v["seq"].as_u64()), (Some(two.as_str()), Some(2)), "{v}");
    eventually("B no longer lists the share made private", || {
        let p = refresh_and_browse(&b, &id);
        let ids = page_ids(&p);
        (ids.contains(&one) && !ids.contains(&two)).then_some(())
    });

    // B leaves: its list is empty, and A's view loses B.
    let l = run(&b, &["--json", "community", "leave", &id]).ok_json();
    assert_eq!(l["ok"].as_bool(), Some(true), "{l}");
    assert_eq!(run(&b, &["--json", "community", "list"]).ok_json(), serde_json::json!([]));
    let e = fails_with(&run(&b, &["--json", "community", "leave", &id]), "not a member");
    assert_eq!(e["kind"], "not_found");
    fails_with(&run(&b, &["--json", "community", "browse", &id]), "is not joined");
    eventually("A's members no longer list B", || {
        run(&a, &["--json", "community", "refresh", &id]).ok_json();
        let m = run(&a, &["--json", "community", "members", &id]).ok_json();
        let keys: BTreeSet<String> = m.as_array().unwrap().iter().map(|m| text(m, "node_pubkey")).collect();
        (keys == BTreeSet::from([key_a.clone()])).then_some(())
    });
    db.stop();
    da.stop();
}

#[test]
fn visibility_publishes_a_new_revision() {
    let t = tempfile::tempdir().unwrap();
    let (a, content) = (t.path().join("a"), t.path().join("content"));
    write_tree(&content, &[("photo.jpg", 4_000)]);
    let p = run(&a, &["--json", "publish", s(&content), "--public", "--name", "album"]).ok_json();
    let id = text(&p, "share_id");
    let listed = |name: &str| -> Value {
        let shares = run(&a, &["--json", "shares"]).ok_json();
        shares.as_array().unwrap().iter().find(|s| s["name"] == name).cloned().unwrap_or_else(|| panic!("{shares}"))
    };
    assert_eq!(listed("album")["public"].as_bool(), Some(true));

    let v = run(&a, &["--json", "visibility", "album", "private"]).ok_json();
    assert_eq!((v["share_id"].as_str(), v["seq"].as_u64(), v["items"].as_u64()), (Some(id.as_str()), Some(2), Some(1)));
    let sh = listed("album");
    assert_eq!((sh["public"].as_bool(), sh["seq"].as_u64()), (Some(false), Some(2)), "{sh}");
    // By id, back to public: revision 3; the human output says so.
    let r = run(&a, &["visibility", &id, "public"]);
    assert_eq!(r.code, 0, "{r:#?}");
    assert!(r.stdout.contains("album is now public: revision 3"), "{r:#?}");
    let sh = listed("album");
    assert_eq!((sh["public"].as_bool(), sh["seq"].as_u64()), (Some(true), Some(3)), "{sh}");

    // Usage errors exit 2 and name the value; an unknown share is not found.
    let r = run(&a, &["visibility", "album", "bogus"]);
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(r.stderr.contains("bogus") && r.stderr.contains("public"), "{r:#?}");
    assert_eq!(r.stdout, "");
    let e = fails_with(&run(&a, &["--json", "visibility", "no-such-share", "private"]), "no-such-share");
    assert_eq!(e["kind"], "not_found", "{e}");
    assert_eq!(listed("album")["seq"].as_u64(), Some(3), "failed commands publish nothing");
}

#[test]
fn subscription_settings_steer_search() {
    let t = tempfile::tempdir().unwrap();
    let (a, b, content) = (t.path().join("a"), t.path().join("b"), t.path().join("content"));
    write_tree(&content, &[("aurora-borealis.txt", 3_000), ("misc/other.bin", 1_000)]);
    let rt = rt();
    let da = Daemon::start(&a, &rt);
    let p = run(&a, &["--json", "publish", s(&content), "--name", "sky"]).ok_json();
    let (id, link) = (text(&p, "share_id"), text(&p, "link"));

    let sub = run(&b, &["--json", "subscribe", &link]).ok_json();
    assert_eq!(sub["seq"].as_u64(), Some(1), "{sub}");
    let hits = |extra: &[&str]| -> Vec<Value> {
        let mut args = vec!["--json", "search", "aurora"];
        args.extend_from_slice(extra);
        let r = run(&b, &args).ok_json();
        r["hits"].as_array().unwrap_or_else(|| panic!("{r}")).clone()
    };
    let found = eventually("the share's files are searchable", || {
        let h = hits(&[]);
        (!h.is_empty()).then_some(h)
    });
    assert!(found.iter().all(|h| h["share_id"] == id.as_str()), "{found:?}");
    assert!(found.iter().any(|h| h["path"] == "aurora-borealis.txt"), "{found:?}");

    // Untrusted: out of default searches, back with --trust untrusted.
    let u = run(&b, &["--json", "subscription", &id, "--trust", "untrusted"]).ok_json();
    assert_eq!((u["trust"].as_str(), u["share_id"].as_str()), (Some("untrusted"), Some(id.as_str())), "{u}");
    assert!(hits(&[]).is_empty(), "an untrusted share is not searched by default");
    assert!(hits(&["--trust", "trusted", "--trust", "normal"]).is_empty());
    assert!(!hits(&["--trust", "untrusted"]).is_empty(), "asked for explicitly, it is searched");
    let u = run(&b, &["--json", "subscription", &id, "--trust", "trusted"]).ok_json();
    assert_eq!(u["trust"].as_str(), Some("trusted"), "{u}");
    assert!(!hits(&[]).is_empty(), "trusted again: searched by default");
    assert!(hits(&["--trust", "untrusted"]).is_empty(), "no longer untrusted");

    // Weight and blocklist round trips; the link prefix works as the share.
    fails_with(&run(&b, &["--json", "subscription", &id, "--weight", "0"]), "out of range");
    fails_with(&run(&b, &["--json", "subscription", &id, "--weight", "101"]), "out of range");
    fails_with(&run(&b, &["--json", "subscription", &id, "--weight", "NaN"]), "out of range");
    // The upper limit itself is allowed.
    let u = run(&b, &["--json", "subscription", &id, "--weight", "100"]).ok_json();
    assert_eq!(u["weight"].as_f64(), Some(100.0), "{u}");
    let u = run(&b, &["--json", "subscription", &id[..12], "--weight", "2.5", "--blocklist", "on"]).ok_json();
    assert_eq!((u["weight"].as_f64(), u["blocklist"].as_bool()), (Some(2.5), Some(true)), "{u}");
    let subs = run(&b, &["--json", "subscriptions"]).ok_json();
    assert_eq!(subs.as_array().unwrap().len(), 1, "{subs}");
    assert_eq!(
        (subs[0]["weight"].as_f64(), subs[0]["blocklist"].as_bool(), subs[0]["trust"].as_str()),
        (Some(2.5), Some(true), Some("trusted")),
        "{subs}"
    );
    let u = run(&b, &["--json", "subscription", &link, "--blocklist", "off"]).ok_json();
    assert_eq!((u["weight"].as_f64(), u["blocklist"].as_bool()), (Some(2.5), Some(false)), "{u}");
    assert!(!hits(&[]).is_empty(), "no longer a blocklist: its files are found again");
    let subs = run(&b, &["--json", "subscriptions"]).ok_json();
    assert_eq!((subs[0]["weight"].as_f64(), subs[0]["blocklist"].as_bool()), (Some(2.5), Some(false)), "{subs}");

    // Nothing to change, bad values, unknown shares.
    fails_with(&run(&b, &["--json", "subscription", &id]), "nothing to change");
    fails_with(&run(&b, &["--json", "subscription", &id, "--trust", "maybe"]), "unknown trust level");
    let r = run(&b, &["subscription", &id, "--blocklist", "perhaps"]);
    assert!(r.code == 2 && r.stderr.contains("neither on nor off"), "{r:#?}");
    let e = fails_with(&run(&b, &["--json", "subscription", &"ab".repeat(32), "--weight", "2"]), "not subscribed");
    assert_eq!(e["kind"], "not_found");
    da.stop();
}

#[test]
fn relay_carries_a_firewalled_publisher() {
    let t = tempfile::tempdir().unwrap();
    let (r, p, sub) = (t.path().join("relay"), t.path().join("publisher"), t.path().join("subscriber"));
    let (content, out) = (t.path().join("content"), t.path().join("out"));
    const FILES: [(&str, usize); 2] = [("film/part1.bin", 700_000), ("notes.txt", 300)];
    write_tree(&content, &FILES);

    // Bad flags are refused before anything starts.
    let bad = t.path().join("bad");
    let e = run(&bad, &["relay", "--api", "127.0.0.1:0", "--max-tunnels", "0"]);
    assert!(e.code == 1 && e.stderr.contains("--max-tunnels") && e.stderr.contains("at least 1"), "{e:#?}");
    let e = run(&bad, &["--json", "relay", "--api", "127.0.0.1:0", "--max-per-ip", "0"]);
    fails_with(&e, "must be at least 1");
    let e = run(&bad, &["relay", "--api", "127.0.0.1:0", "--announce", "garbage"]);
    assert!(e.code == 1 && e.stderr.contains("--announce 'garbage'"), "{e:#?}");
    let e = run(&bad, &["relay", "--bandwidth", "huge"]);
    assert!(e.code == 2 && e.stderr.contains("huge"), "{e:#?}");
    assert!(!bad.join("daemon.json").exists());

    // The relay: like `serve --json`, plus its relay settings.
    let rt = rt();
    let dr = Daemon::start_with_args(
        &r,
        &rt,
        &["--json", "relay", "--api", "127.0.0.1:0", "--max-tunnels", "8", "--max-per-ip", "4", "--bandwidth", "high"],
        &[],
    );
    let started = eventually("the relay's startup JSON", || {
        dr.log_text().lines().find(|l| l.starts_with('{')).and_then(|l| serde_json::from_str::<Value>(l).ok())
    });
    assert_eq!(started["pid"].as_u64(), Some(dr.child.id() as u64), "{started}");
    assert_eq!(started["listen_tcp"].as_str(), dr.info.listen_tcp.as_deref(), "{started}");
    assert!(started["api"].as_str().unwrap().starts_with("http://127.0.0.1:"), "{started}");
    let relay = &started["relay"];
    assert_eq!(
        (relay["max_tunnels"].as_u64(), relay["max_per_ip"].as_u64(), relay["content"].as_bool()),
        (Some(8), Some(4), Some(true)),
        "{started}"
    );
    let r_key = node_key(&r);
    assert_eq!(started["node_id"].as_str(), Some(dr.info.node_id.as_str()));
    let r_tcp = dr.info.listen_tcp.clone().unwrap();
    // Both of the relay's addresses (each with its key), as it advertises them: a bootstrap
    // host given with one transport is also tried at the paired v1 port of the other, which
    // on ephemeral ports is closed and costs a QUIC connect timeout per announcement.
    let r_addrs: Vec<String> =
        started["advertised"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
    assert_eq!(r_addrs.len(), 2, "{started}");
    assert!(r_addrs.contains(&format!("tcp://{r_tcp}@{r_key}")), "{started}");
    let r_list = serde_json::to_string(&r_addrs).unwrap();

    // The publisher advertises an address nobody can reach (as behind NAT) and always uses
    // the relay.
    let config = format!(
        "advertise = [\"tcp://127.0.0.1:1\"]\nbootstrap = {r_list}\n\n[relay]\nclient = \"always\"\nrelays = {r_list}\n"
    );
    let dp = Daemon::start_with_config(&p, &rt, &config);
    let reach = eventually("the publisher's tunnel at the relay", || {
        let d: Value = rt.block_on(dp.api.get("/api/dashboard")).ok()?;
        (d["reachability"]["mode"] == "relayed").then(|| d["reachability"].clone())
    });
    assert!(reach["relay"]["relay"].as_str().unwrap().contains(&r_key), "{reach}");
    let pub_port = dp.info.listen_tcp.as_deref().unwrap().rsplit(':').next().unwrap().to_string();

    let pr = run(&p, &["--json", "publish", s(&content), "--title", "behind NAT"]).ok_json();
    let link = text(&pr, "link");
    let r_port = r_tcp.rsplit(':').next().unwrap();
    assert!(link.contains(&format!("%3A{r_port}%40{r_key}")), "the link names the relay ({r_port}): {link}");
    assert!(!link.contains(&format!("%3A{pub_port}")), "the link does not name the publisher: {link}");

    // A third node subscribes and downloads through the relay (the publisher's DHT records
    // may take a moment to reach the relay). It runs as a daemon: short-lived in-process
    // nodes would linger in the relay's routing table as dead peers, and every STORE of the
    // publisher's announcements sent to one waits for a connect timeout.
    let ds = Daemon::start(&sub, &rt);
    let s1 = eventually("subscribing through the relay", || {
        let r = run(&sub, &["--json", "subscribe", &link]);
        (r.code == 0).then(|| r.json())
    });
    assert_eq!(
        (s1["seq"].as_u64(), s1["items"].as_u64(), s1["title"].as_str()),
        (Some(1), Some(2), Some("behind NAT"))
    );
    let g = run(&sub, &["--json", "get", &link, "-o", s(&out)]).ok_json();
    assert!(g["files"].as_array().unwrap().iter().all(|f| f["status"] == "downloaded"), "{g}");
    assert_eq!(g["bytes"].as_u64(), Some(700_300), "{g}");
    assert_same_tree(&content, &out, &FILES);

    // Still relayed afterwards.
    let d: Value = rt.block_on(dp.api.get("/api/dashboard")).unwrap();
    assert_eq!(d["reachability"]["mode"], "relayed", "{d}");
    ds.stop();
    dp.stop();
    dr.stop();
}
