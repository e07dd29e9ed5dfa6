//! End-to-end tests of the `trove` binary: separate processes in temporary data directories
//! on loopback (ephemeral ports, no LAN): publish → link → subscribe → search → get, with
//! and without daemons; JSON output; clear errors that leave state intact; Ctrl-C during a
//! download and a resuming rerun; the API token; the event stream.

#![cfg(unix)]

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::Stdio;

/// The published tree: a multi-chunk file, a small one in a folder, an empty one.
const FILES: [(&str, usize); 3] =
    [("video/holiday-clip.bin", 1_300_000), ("notes/readme.txt", 2_000), ("empty.dat", 0)];

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

fn is_hex64(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()))
}

#[test]
fn publish_link_subscribe_search_get_without_a_daemon_on_the_subscriber() {
    let t = tempfile::tempdir().unwrap();
    let (a, b, content, out) = (t.path().join("a"), t.path().join("b"), t.path().join("content"), t.path().join("out"));
    write_tree(&content, &FILES);

    // Publish in-process (no daemon yet): the JSON result carries everything scripts need.
    let content_s = content.to_str().unwrap();
    let p =
        run(&a, &["--json", "publish", content_s, "--title", "Holiday things", "--tag", "family", "--name", "holiday"])
            .ok_json();
    assert!(p["link"].as_str().unwrap().starts_with("scp2p://s/"), "{p}");
    assert!(is_hex64(&p["share_id"]) && is_hex64(&p["share_pubkey"]) && is_hex64(&p["manifest_id"]), "{p}");
    assert_eq!((p["seq"].as_u64(), p["items"].as_u64(), p["name"].as_str()), (Some(1), Some(3), Some("holiday")));
    let share_id = p["share_id"].as_str().unwrap().to_string();

    let shares = run(&a, &["--json", "shares"]).ok_json();
    assert_eq!(shares.as_array().unwrap().len(), 1);
    assert_eq!(shares[0]["share_id"].as_str(), Some(share_id.as_str()));
    assert_eq!(shares[0]["seq"].as_u64(), Some(1));
    // An own share's link, asked by its id as well as by its name.
    let by_id = run(&a, &["--json", "link", &share_id]).ok_json();
    let by_name = run(&a, &["--json", "link", "holiday"]).ok_json();
    assert!(by_id["link"].as_str().is_some_and(|l| l.starts_with("scp2p://s/")), "{by_id}");
    let key_part = |v: &Value| v["link"].as_str().unwrap().split('?').next().unwrap().to_string();
    assert_eq!(key_part(&by_id), key_part(&by_name), "the same share (the ports of in-process nodes differ)");

    // The publisher's daemon serves the share; `link` through it carries its addresses.
    let rt = rt();
    let da = Daemon::start(&a, &rt);
    let status = run(&a, &["--json", "status"]).ok_json();
    assert_eq!(
        status["daemon"]["pid"].as_u64(),
        Some(da.child.id() as u64),
        "status went through the daemon: {status}"
    );
    let link = run(&a, &["--json", "link", "holiday"]).ok_json();
    let link = link["link"].as_str().unwrap().to_string();
    let port = da.info.listen_tcp.as_deref().unwrap().rsplit(':').next().unwrap().to_string();
    assert!(link.contains(&format!("%3A{port}")), "link {link} names the daemon's port {port}");

    // The subscriber has no daemon: every command runs in-process.
    let s = run(&b, &["--json", "subscribe", &link]).ok_json();
    assert_eq!((s["seq"].as_u64(), s["items"].as_u64()), (Some(1), Some(3)), "{s}");
    assert_eq!(s["title"].as_str(), Some("Holiday things"));
    assert!(s["error"].is_null());
    let subs = run(&b, &["--json", "subscriptions"]).ok_json();
    assert_eq!(subs[0]["share_id"].as_str(), Some(share_id.as_str()));
    assert_eq!(subs[0]["seq"].as_u64(), Some(1));

    let ls = run(&b, &["--json", "ls", &share_id]).ok_json();
    let names: Vec<&str> = ls["entries"].as_array().unwrap().iter().map(|e| e["path"].as_str().unwrap()).collect();
    assert_eq!(names, ["notes", "video", "empty.dat"], "folders first: {ls}");
    let ls = run(&b, &["--json", "ls", &share_id, "video"]).ok_json();
    assert_eq!(ls["entries"][0]["size"].as_u64(), Some(1_300_000));
    let clip_id = ls["entries"][0]["content_id"].as_str().unwrap().to_string();

    let found = run(&b, &["--json", "search", "holiday"]);
    if found.code == 0 {
        let hits = found.json();
        assert_eq!(hits["hits"][0]["content_id"].as_str(), Some(clip_id.as_str()), "{hits}");
        // The size filter drops the 1.3 MB clip; anything left matched through the share's
        // title and is small.
        let small = run(&b, &["--json", "search", "holiday", "--max-size", "1k"]).ok_json();
        for h in small["hits"].as_array().unwrap() {
            assert!(h["size"].as_u64().unwrap() <= 1000, "{small}");
            assert_ne!(h["content_id"].as_str(), Some(clip_id.as_str()), "{small}");
        }
    } else {
        assert!(found.stderr.contains("search is not available"), "{found:#?}");
    }

    // Download everything; the report is JSON; the files are byte-identical.
    let out_s = out.to_str().unwrap();
    let g = run(&b, &["--json", "get", &share_id, "-o", out_s]).ok_json();
    let files = g["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    assert!(files.iter().all(|f| f["status"] == "downloaded"), "{g}");
    assert_eq!(g["bytes"].as_u64(), Some(1_302_000));
    assert_same_tree(&content, &out, &FILES);
    // A rerun finds everything in place and downloads nothing.
    let again = run(&b, &["--json", "get", &share_id, "-o", out_s]).ok_json();
    assert!(again["files"].as_array().unwrap().iter().all(|f| f["status"] == "present"), "{again}");
    assert_eq!(again["bytes"].as_u64(), Some(0));
    // One selected path, human output.
    let one = run(&b, &["get", &share_id, "notes", "-o", t.path().join("out-notes").to_str().unwrap()]);
    assert_eq!(one.code, 0, "{one:#?}");
    assert!(one.stdout.contains("1 of 1 file in place"), "{one:#?}");
    assert!(t.path().join("out-notes/notes/readme.txt").exists() && !t.path().join("out-notes/empty.dat").exists());

    // Fetch by content id alone, from the publisher given as a bootstrap peer.
    let target = t.path().join("fetched/clip.bin");
    let f = run(&b, &["--json", "--bootstrap", &da.tcp(), "fetch", &clip_id, "-o", target.to_str().unwrap()]).ok_json();
    assert_eq!((f["status"].as_str(), f["size"].as_u64()), (Some("downloaded"), Some(1_300_000)), "{f}");
    assert_eq!(std::fs::read(&target).unwrap(), std::fs::read(content.join(FILES[0].0)).unwrap());

    let downloads = run(&b, &["--json", "downloads"]).ok_json();
    assert!(downloads.as_array().unwrap().iter().all(|d| d["state"] == "complete"), "{downloads}");
    da.stop();
}

#[test]
fn commands_go_through_daemons_and_the_event_stream_reports_updates() {
    let t = tempfile::tempdir().unwrap();
    let (a, b, content, out) = (t.path().join("a"), t.path().join("b"), t.path().join("content"), t.path().join("out"));
    write_tree(&content, &FILES);
    let rt = rt();
    let da = Daemon::start(&a, &rt);
    let db = Daemon::start(&b, &rt);

    // B's event stream, opened before anything happens.
    let mut events = rt.block_on(db.api.events()).unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<Value>();
    rt.spawn(async move {
        while let Some(ev) = events.next().await {
            if tx.send(ev).is_err() {
                return;
            }
        }
    });
    let wait_event = |f: &dyn Fn(&Value) -> bool| -> Value {
        let deadline = std::time::Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let ev = rx.recv_timeout(left).expect("event did not arrive");
            if f(&ev) {
                return ev;
            }
        }
    };

    let p = run(&a, &["--json", "publish", content.to_str().unwrap(), "--public", "--name", "pub"]).ok_json();
    let share_id = p["share_id"].as_str().unwrap().to_string();
    // Published through the daemon: its link already names the daemon's addresses.
    assert!(p["link"].as_str().unwrap().contains(da.info.listen_tcp.as_deref().unwrap().rsplit(':').next().unwrap()));

    let s = run(&b, &["--json", "subscribe", p["link"].as_str().unwrap(), "--trust", "trusted"]).ok_json();
    assert_eq!(s["seq"].as_u64(), Some(1), "{s}");
    let ev = wait_event(&|e| e["type"] == "manifest_updated");
    assert_eq!(
        (ev["share_id"].as_str(), ev["seq"].as_u64(), ev["items"].as_u64()),
        (Some(share_id.as_str()), Some(1), Some(3))
    );
    let subs = run(&b, &["--json", "subscriptions"]).ok_json();
    assert_eq!(subs[0]["trust"].as_str(), Some("trusted"));

    // A download through B's daemon (paths are sent absolute; progress never reaches stdout).
    let g = run(&b, &["--json", "get", &share_id, "-o", out.to_str().unwrap()]).ok_json();
    assert!(g["files"].as_array().unwrap().iter().all(|f| f["status"] == "downloaded"), "{g}");
    assert_same_tree(&content, &out, &FILES);
    let ev = wait_event(&|e| e["type"] == "download_complete");
    assert!(ev["path"].as_str().unwrap().starts_with(out.canonicalize().unwrap().to_str().unwrap()), "{ev}");

    // A new revision reaches B's daemon by itself (pushed), and the stream says so.
    std::fs::write(content.join("notes/new.txt"), "a new file").unwrap();
    let p2 = run(&a, &["--json", "publish", content.to_str().unwrap(), "--share", "pub", "--public"]).ok_json();
    assert_eq!((p2["seq"].as_u64(), p2["share_id"].as_str()), (Some(2), Some(share_id.as_str())));
    let ev = wait_event(&|e| e["type"] == "manifest_updated" && e["seq"] == 2);
    assert_eq!(ev["items"].as_u64(), Some(4));

    // Browse finds A's public share (A is a known peer of B by now).
    let br = run(&b, &["--json", "browse"]).ok_json();
    let entry = br.as_array().unwrap().iter().find(|e| e["share_id"] == share_id.as_str()).cloned();
    assert_eq!(entry.as_ref().and_then(|e| e["seq"].as_u64()), Some(2), "{br}");

    // The API refuses requests without the token or with a wrong one.
    let api = db.api.addr();
    let (code, body) = rt
        .block_on(trove_cli::client::ApiClient::new(api, None).send(hyper::Method::GET, "/api/shares", None))
        .unwrap();
    assert_eq!(code.as_u16(), 401);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"]["kind"], "unauthorized");
    let wrong = trove_cli::client::ApiClient::new(api, Some("0".repeat(64)));
    let (code, _) = rt.block_on(wrong.send(hyper::Method::GET, "/api/subscriptions", None)).unwrap();
    assert_eq!(code.as_u16(), 401);
    let e = rt.block_on(wrong.events()).err().expect("the event stream needs the token too");
    assert_eq!(e.kind, trove_cli::error::ErrorKind::Unauthorized);
    let (code, body) = rt.block_on(db.api.send(hyper::Method::GET, "/api/subscriptions", None)).unwrap();
    assert_eq!(code.as_u16(), 200, "{}", String::from_utf8_lossy(&body));
    // Relative paths make no sense to a daemon: refused with a reason.
    let e = rt
        .block_on(db.api.post::<_, Value>(
            "/api/get",
            &serde_json::json!({"share": share_id, "paths": [], "out_dir": "rel", "overwrite": false}),
        ))
        .unwrap_err();
    assert!(e.message.contains("not an absolute path"), "{e:?}");

    db.stop();
    // The event stream ends when the daemon stops.
    loop {
        match rx.recv_timeout(DEADLINE) {
            Ok(_) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("the event stream did not end with the daemon: {e}"),
        }
    }
    da.stop();
}

#[test]
fn errors_are_clear_and_leave_state_intact() {
    let t = tempfile::tempdir().unwrap();
    let (a, b, content) = (t.path().join("a"), t.path().join("b"), t.path().join("content"));
    write_tree(&content, &FILES);
    let content_s = content.to_str().unwrap();

    // Bad arguments.
    let r = run(&b, &["get", "x"]);
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(r.stderr.contains("--out"), "{r:#?}");
    let r = run(&b, &["publish"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("nothing to publish"), "{r:#?}");
    let r = run(&b, &["publish", t.path().join("missing").to_str().unwrap()]);
    assert!(r.code == 1 && r.stderr.contains("does not exist"), "{r:#?}");
    let r = run(&b, &["subscribe", &"ab".repeat(32), "--trust", "maybe"]);
    assert!(r.code == 1 && r.stderr.contains("unknown trust level"), "{r:#?}");
    let r = run(&b, &["search", "x", "--min-size", "lots"]);
    assert!(r.code == 2 && r.stderr.contains("not a size"), "{r:#?}");
    let r = run(&b, &["serve", "--api", "0.0.0.0:0"]);
    assert!(r.code == 1 && r.stderr.contains("not a loopback address"), "{r:#?}");

    // Unknown shares: JSON errors on stderr, nothing on stdout.
    let r = run(&b, &["--json", "ls", "no-such-share"]);
    assert_eq!(r.code, 1);
    assert_eq!(r.stdout, "");
    let e = r.json_error();
    assert_eq!(e["kind"], "not_found");
    assert!(e["message"].as_str().unwrap().contains("no-such-share") && e["hint"].is_string(), "{e}");
    let r = run(&b, &["link", "no-such-share"]);
    assert!(r.code == 1 && r.stderr.contains("hint:"), "{r:#?}");

    // Unreachable peers: the publisher's in-process node is gone when the command ends.
    let dead = run(&t.path().join("gone"), &["--json", "publish", content_s]).ok_json();
    let dead_link = dead["link"].as_str().unwrap();
    let r = run(&b, &["subscribe", dead_link]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(r.stderr.contains("could not be fetched yet") && r.stderr.contains("subscription is saved"), "{r:#?}");
    let out = t.path().join("out-dead");
    let r = run(&b, &["get", dead_link, "-o", out.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(r.stderr.contains("no peer or DHT node knows share"), "{r:#?}");
    assert!(!out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(), "nothing written");
    let subs = run(&b, &["--json", "subscriptions"]).ok_json();
    assert_eq!(subs.as_array().unwrap().len(), 1, "the subscription was kept: {subs}");
    assert!(subs[0]["last_error"].is_string());

    // A live publisher for the rest.
    let rt = rt();
    let da = Daemon::start(&a, &rt);
    let p = run(&a, &["--json", "publish", content_s, "--name", "live"]).ok_json();
    let link = p["link"].as_str().unwrap();

    // A full disk: the configured reserve is larger than the free space.
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(b.join("config.toml"), format!("free_space_reserve_mib = {}\n", 1u64 << 40)).unwrap();
    let out = t.path().join("out-full");
    let r = run(&b, &["get", link, "-o", out.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(r.stderr.contains("disk full"), "{r:#?}");
    assert!(r.stderr.contains("free_space_reserve_mib"), "the hint names the setting: {r:#?}");
    assert!(!out.join(FILES[0].0).exists());
    // With the reserve back to normal the same command succeeds.
    std::fs::write(b.join("config.toml"), "free_space_reserve_mib = 0\n").unwrap();
    let g = run(&b, &["--json", "get", link, "-o", out.to_str().unwrap()]).ok_json();
    assert!(g["files"].as_array().unwrap().iter().all(|f| f["status"] == "downloaded"), "{g}");
    assert_same_tree(&content, &out, &FILES);
    // An existing different file is never overwritten without --overwrite.
    std::fs::write(out.join("notes/readme.txt"), "mine").unwrap();
    let r = run(&b, &["get", link, "notes", "-o", out.to_str().unwrap()]);
    assert!(r.code == 1 && r.stderr.contains("--overwrite"), "{r:#?}");
    assert_eq!(std::fs::read_to_string(out.join("notes/readme.txt")).unwrap(), "mine");
    // A file where the target folder should be is named, and left alone.
    let r = run(&b, &["get", link, "-o", out.join("notes/readme.txt").to_str().unwrap()]);
    assert!(r.code == 1 && r.stderr.contains("readme.txt is a file, not a folder"), "{r:#?}");
    assert_eq!(std::fs::read_to_string(out.join("notes/readme.txt")).unwrap(), "mine");
    // A path the share does not have: the hint says how to list the share.
    let r = run(&b, &["get", link, "no/such/path", "-o", out.to_str().unwrap()]);
    assert!(r.code == 1 && r.stderr.contains("'no/such/path' is not a file or folder"), "{r:#?}");
    assert!(r.stderr.contains("`trove ls SHARE`"), "{r:#?}");

    // A broken config file is named.
    std::fs::write(b.join("config.toml"), "no_such_setting = 1\n").unwrap();
    let r = run(&b, &["shares"]);
    assert!(r.code == 1 && r.stderr.contains("config.toml") && r.stderr.contains("no_such_setting"), "{r:#?}");
    std::fs::remove_file(b.join("config.toml")).unwrap();

    // A second process on a data directory in use: a clear error naming the holder.
    let r = run(&a, &["serve", "--api", "127.0.0.1:0"]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(r.stderr.contains(&format!("in use by another trove process (pid {})", da.child.id())), "{r:#?}");
    assert!(r.stderr.contains("hint:"), "{r:#?}");
    // Without daemon.json the CLI cannot find the daemon, and the lock still protects the data.
    let saved = std::fs::read(a.join("daemon.json")).unwrap();
    std::fs::remove_file(a.join("daemon.json")).unwrap();
    let r = run(&a, &["shares"]);
    assert!(r.code == 1 && r.stderr.contains("in use by another trove process"), "{r:#?}");
    std::fs::write(a.join("daemon.json"), saved).unwrap();
    let shares = run(&a, &["--json", "shares"]).ok_json();
    assert_eq!(shares[0]["seq"].as_u64(), Some(1), "state intact: {shares}");
    da.stop();

    // A daemon.json left by a dead daemon does not confuse the CLI.
    let stale = trove_cli::runfiles::DaemonInfo {
        pid: 999_999,
        api: "127.0.0.1:9".parse().unwrap(),
        node_id: "00".into(),
        listen_tcp: None,
        listen_quic: None,
        started_at: 0,
        version: "0".into(),
    };
    trove_cli::runfiles::write_daemon(&a, &stale).unwrap();
    let shares = run(&a, &["--json", "shares"]).ok_json();
    assert_eq!(shares.as_array().unwrap().len(), 1, "{shares}");
    assert!(!a.join("daemon.json").exists(), "the stale file is cleaned up");
}

#[test]
fn ctrl_c_during_a_download_and_a_rerun_resumes_it() {
    let t = tempfile::tempdir().unwrap();
    let (a, b, content, out) = (t.path().join("a"), t.path().join("b"), t.path().join("content"), t.path().join("out"));
    const SIZE: usize = 12 << 20;
    write_tree(&content, &[("big.bin", SIZE)]);
    let rt = rt();
    let da = Daemon::start(&a, &rt);
    let p = run(&a, &["--json", "publish", content.join("big.bin").to_str().unwrap()]).ok_json();
    let link = p["link"].as_str().unwrap().to_string();

    // The downloader is limited to 2 MiB/s so the interrupt lands mid-download.
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(b.join("config.toml"), "download_limit_kib = 2048\n").unwrap();
    let mut child = trove(&b)
        .args(["get", &link, "-o", out.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).unwrap();
        assert!(n > 0, "trove get ended before reporting progress: {seen}");
        seen.push_str(&line);
        if line.starts_with("progress: big.bin") {
            // The node's rate, the one provider it is connected to, and the time left.
            assert!(line.contains("/s, 1 peer, ETA "), "{line}");
            break;
        }
    }
    interrupt(&child);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    let status = wait(&mut child);
    assert_eq!(status.code(), Some(130), "{seen}{rest}");
    assert!(rest.contains("interrupted"), "{rest}");
    assert!(!out.join("big.bin").exists(), "not renamed into place before it is complete");
    assert!(out.join("big.bin.part").exists());

    // The rerun (without the limit) resumes: the verified bytes are not fetched again.
    std::fs::remove_file(b.join("config.toml")).unwrap();
    let g = run(&b, &["--json", "get", &link, "-o", out.to_str().unwrap()]).ok_json();
    let f = &g["files"][0];
    assert_eq!(f["status"], "downloaded", "{g}");
    let resumed = f["resumed_bytes"].as_u64().unwrap();
    assert!(resumed > 0 && resumed < SIZE as u64, "resumed {resumed} of {SIZE}: {g}");
    assert_eq!(g["bytes"].as_u64(), Some(SIZE as u64 - resumed));
    assert_eq!(std::fs::read(out.join("big.bin")).unwrap(), std::fs::read(content.join("big.bin")).unwrap());
    assert!(!out.join("big.bin.part").exists());
    let dl = run(&b, &["--json", "downloads"]).ok_json();
    assert_eq!(dl[0]["state"], "complete");
    assert_eq!(dl[0]["verified_bytes"].as_u64(), Some(SIZE as u64));
    da.stop();
}
