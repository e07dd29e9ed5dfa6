//! The desktop app for real: the `trove-desktop` binary under an X server (run the tests
//! under `xvfb-run`, and `dbus-run-session` for the second-start test), against a temporary
//! data directory, in probe mode (it reports on stdout what its window shows). Checks that
//! the node's API answers with the token the app made, that the window shows the dashboard
//! (its title, found on the X server, and a screenshot), that it quits cleanly on SIGTERM,
//! and that an `scp2p://` link on the command line, or given to a second start, opens the
//! subscribe dialog.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(90);

/// Whether the tests can run; without an X server they say why and pass, except under CI.
fn display_ready() -> bool {
    if std::env::var_os("DISPLAY").is_some() {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("no X server (DISPLAY is unset): run the desktop tests under xvfb-run");
    }
    eprintln!("skipped: no X server (DISPLAY is unset); run under xvfb-run");
    false
}

struct App {
    child: Child,
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl App {
    fn start(data: &Path, home: &Path, args: &[&str]) -> App {
        let mut child = Command::new(env!("CARGO_BIN_EXE_trove-desktop"))
            .args(args)
            .env("TROVE_DATA_DIR", data)
            .env("TROVE_DESKTOP_PROBE", "1")
            .env("HOME", home)
            .env("XDG_DATA_HOME", home.join("share"))
            .env("XDG_CONFIG_HOME", home.join("config"))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the trove-desktop binary starts");
        let out = child.stdout.take().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                eprintln!("[desktop] {line}");
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        App { child, lines: rx, seen: Vec::new() }
    }

    /// Waits for a probe line starting with `prefix`; returns the rest.
    fn expect(&mut self, prefix: &str) -> String {
        if let Some(l) = self.seen.iter().find(|l| l.starts_with(prefix)) {
            return l[prefix.len()..].trim().to_string();
        }
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    assert!(!l.starts_with("failed "), "the node did not start: {l}");
                    self.seen.push(l.clone());
                    if let Some(rest) = l.strip_prefix(prefix) {
                        return rest.trim().to_string();
                    }
                }
                Err(e) => panic!("no '{prefix}' from the app ({e}); it said: {:?}", self.seen),
            }
        }
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let ok = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(ok.success());
        let end = Instant::now() + DEADLINE;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(Instant::now() < end, "the app did not quit after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A data directory whose node listens on loopback only, without LAN discovery.
fn data_dir(root: &Path) -> PathBuf {
    let d = root.join("data");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("config.toml"),
        "listen_tcp = \"127.0.0.1:0\"\nlisten_quic = \"127.0.0.1:0\"\n[lan]\nenabled = false\n",
    )
    .unwrap();
    d
}

/// Mapped (visible) X windows whose title contains `name`.
fn visible_windows(name: &str) -> Vec<String> {
    let out = Command::new("xdotool")
        .args(["search", "--onlyvisible", "--name", name])
        .output()
        .expect("xdotool is installed");
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

/// X windows whose title contains `name`.
fn x_windows(name: &str) -> Vec<String> {
    let out = Command::new("xdotool").args(["search", "--name", name]).output().expect("xdotool is installed");
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn screenshot(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/desktop-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    let st = Command::new("import").args(["-window", "root"]).arg(&p).status().expect("imagemagick is installed");
    assert!(st.success(), "screenshot failed");
    p
}

/// Distinct colours in an image (a blank or black window has one or two).
fn colours(p: &Path) -> u64 {
    let out = Command::new("convert").arg(p).args(["-format", "%k", "info:"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// The page as painted: screenshots until the window shows more than the loading text (the
/// title changes before WebKit paints). A rendered dashboard has about a thousand colours, the
/// loading page a few dozen.
fn rendered(name: &str) -> (PathBuf, u64) {
    let end = Instant::now() + DEADLINE;
    loop {
        let shot = screenshot(name);
        let n = colours(&shot);
        if n >= 400 {
            return (shot, n);
        }
        assert!(Instant::now() < end, "the screenshot {} has {n} colours: the page did not render", shot.display());
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// One app window at a time on the X server (screenshots show the whole screen).
static SCREEN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What every window test starts with: the X server to itself, a fresh home folder, and a
/// data directory in it. None (the test is skipped) only without an X server outside CI.
fn stage() -> Option<(std::sync::MutexGuard<'static, ()>, tempfile::TempDir, PathBuf)> {
    if !display_ready() {
        return None;
    }
    let screen = SCREEN.lock().unwrap_or_else(|e| e.into_inner());
    let t = tempfile::tempdir().unwrap();
    let data = data_dir(t.path());
    Some((screen, t, data))
}

#[test]
fn starts_a_node_shows_the_dashboard_and_quits_cleanly() {
    let Some((_screen, t, data)) = stage() else { return };
    let mut app = App::start(&data, t.path(), &[]);
    let ui = app.expect("ready ");
    assert_eq!(app.expect("title Dashboard"), "· trove");

    // The node's API answers with the fresh token the app wrote, and the CLI can find it.
    let token = std::fs::read_to_string(data.join("api-token")).unwrap().trim().to_string();
    assert_eq!(token.len(), 64);
    let addr: std::net::SocketAddr = ui.trim_start_matches("http://").trim_end_matches('/').parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = trove_cli::client::ApiClient::new(addr, Some(token.clone()));
    let status: serde_json::Value = rt.block_on(client.get("/api/status")).unwrap();
    assert!(status["node_pubkey"].as_str().is_some_and(|s| s.len() == 64), "{status}");
    assert_eq!(status["data_dir"].as_str(), data.to_str());
    let daemon: serde_json::Value = serde_json::from_slice(&std::fs::read(data.join("daemon.json")).unwrap()).unwrap();
    assert_eq!(daemon["pid"].as_u64(), Some(app.child.id() as u64));
    let refused = rt.block_on(
        trove_cli::client::ApiClient::new(addr, Some("0".repeat(64))).get::<serde_json::Value>("/api/status"),
    );
    assert!(refused.is_err(), "a wrong token must be refused");

    // The window on the X server carries the page's title, and shows more than a blank.
    eventually("the window titled 'Dashboard · trove'", || !x_windows("Dashboard · trove").is_empty());
    let (shot, n) = rendered("dashboard.png");
    eprintln!("screenshot {} ({n} colours)", shot.display());

    // SIGTERM: the node stops gracefully and the daemon file goes away.
    let st = app.terminate();
    assert!(st.success(), "exit status {st}");
    app.expect("stopped");
    assert!(!data.join("daemon.json").exists(), "daemon.json was left behind");
    // The data directory is free again: a second run starts on it.
    let mut again = App::start(&data, t.path(), &[]);
    again.expect("ready ");
    assert!(again.terminate().success());
}

/// Starts the app again on `data` with `arg`: it hands the argument to the running app and exits.
fn second_start(data: &Path, home: &Path, arg: &str) -> std::process::ExitStatus {
    Command::new(env!("CARGO_BIN_EXE_trove-desktop"))
        .arg(arg)
        .env("TROVE_DATA_DIR", data)
        .env("TROVE_DESKTOP_PROBE", "1")
        .env("HOME", home)
        .stdout(Stdio::null())
        .status()
        .unwrap()
}

#[test]
fn a_link_on_the_command_line_opens_the_subscribe_dialog() {
    let Some((_screen, t, data)) = stage() else { return };
    let key = trove_proto::keys::Keypair::generate();
    let link = trove_proto::ShareLink::new(key.public(), vec!["tcp://127.0.0.1:9".into()]).to_string();
    let mut app = App::start(&data, t.path(), &[&link]);
    app.expect("ready ");
    assert_eq!(app.expect("title Subscribe"), "· trove");
    eventually("the window titled 'Subscribe · trove'", || !x_windows("Subscribe · trove").is_empty());
    rendered("subscribe-dialog.png");

    // A second start with another link hands it to the running app and exits (needs the
    // D-Bus session bus the single-instance plugin uses).
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
        let other = trove_proto::ShareLink::new(trove_proto::keys::Keypair::generate().public(), vec![]).to_string();
        let st = second_start(&data, t.path(), &other);
        assert!(st.success(), "the second start failed: {st}");
        assert_eq!(app.expect(&format!("link {other}")), "");

        // Inside the page, the native features are there and the IPC to them is allowed
        // for the UI's loopback origin (the title carries the answer out).
        let js = "(async () => { const t = window.__TAURI__ || {}; \
            const have = ['dialog', 'opener'].filter((k) => t[k]).join('+'); \
            let ipc; try { await t.core.invoke('plugin:deep-link|get_current'); ipc = 'ok'; } catch (e) { ipc = 'refused ' + e; } \
            document.title = 'native ' + have + ' ipc ' + ipc; })()";
        assert!(second_start(&data, t.path(), &format!("--probe-eval={js}")).success());
        assert_eq!(app.expect("title native "), "dialog+opener ipc ok");

        // Closing the window hides it (keep seeding is on by default): the node still
        // answers, and a second start shows the window again.
        let close = "document.title = 'Closing · trove'; window.__TAURI__.window.getCurrentWindow().close()";
        assert!(second_start(&data, t.path(), &format!("--probe-eval={close}")).success());
        assert_eq!(app.expect("title Closing"), "· trove");
        eventually("the window to be hidden", || visible_windows("Closing · trove").is_empty());
        let token = std::fs::read_to_string(data.join("api-token")).unwrap().trim().to_string();
        let addr: std::net::SocketAddr = std::fs::read_to_string(data.join("daemon.json"))
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v["api"].as_str().and_then(|a| a.parse().ok()))
            .expect("daemon.json names the API");
        let rt = tokio::runtime::Runtime::new().unwrap();
        let status: serde_json::Value =
            rt.block_on(trove_cli::client::ApiClient::new(addr, Some(token)).get("/api/status")).unwrap();
        assert!(status["node_pubkey"].is_string(), "the node stopped with the window: {status}");
        assert!(app.child.try_wait().unwrap().is_none(), "the app quit when its window closed");
        assert!(second_start(&data, t.path(), "--show").success());
        eventually("the window to show again", || !visible_windows("Closing · trove").is_empty());
    } else if std::env::var_os("CI").is_some() {
        panic!("no D-Bus session bus: run the desktop tests under dbus-run-session");
    } else {
        eprintln!("second-start check skipped: no D-Bus session bus (run under dbus-run-session)");
    }
    assert!(app.terminate().success());
}

#[test]
fn notifications_for_a_finished_download_and_a_new_revision() {
    let Some((_screen, t, data)) = stage() else { return };
    // A publisher node in this process, on loopback.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let content = t.path().join("content");
    std::fs::create_dir_all(&content).unwrap();
    std::fs::write(content.join("song.ogg"), vec![7u8; 300_000]).unwrap();
    let publisher =
        rt.block_on(trove_node::Node::start(trove_node::NodeConfig::loopback(&t.path().join("publisher")))).unwrap();
    let publish = |title: &str| {
        rt.block_on(publisher.publish(trove_node::PublishRequest {
            paths: vec![content.clone()],
            title: Some(title.into()),
            share: if title == "Album" { None } else { Some("album".into()) },
            name: if title == "Album" { Some("album".into()) } else { None },
            ..Default::default()
        }))
        .unwrap()
    };
    let first = publish("Album");

    let mut app = App::start(&data, t.path(), &[]);
    let ui = app.expect("ready ");
    let addr: std::net::SocketAddr = ui.trim_start_matches("http://").trim_end_matches('/').parse().unwrap();
    let token = std::fs::read_to_string(data.join("api-token")).unwrap().trim().to_string();
    let api = trove_cli::client::ApiClient::new(addr, Some(token));
    let sub: serde_json::Value =
        rt.block_on(api.post("/api/subscribe", &serde_json::json!({"target": first.link}))).unwrap();
    assert_eq!(sub["seq"].as_u64(), Some(1), "{sub}");
    // Subscribing is what the user asked for: no notification. Downloading, once finished: one.
    let out = t.path().join("out");
    let got: serde_json::Value = rt
        .block_on(api.post(
            "/api/get",
            &serde_json::json!({"share": first.link, "paths": [], "out_dir": out, "overwrite": false}),
        ))
        .unwrap();
    assert!(got["files"][0]["status"] == "downloaded", "{got}");
    assert_eq!(app.expect("notify Download finished:"), "song.ogg");
    // A new revision, pushed to the app's node, is news.
    std::fs::write(content.join("bonus.ogg"), b"bonus").unwrap();
    let second = publish("Album, deluxe");
    assert_eq!(second.seq, 2);
    let note = app.expect("notify New revision of");
    assert!(note.starts_with("Album") && note.ends_with(": Revision 2: 2 files"), "{note}");
    assert!(!app.seen.iter().any(|l| l.contains("New revision") && l.contains("Revision 1")));
    assert!(app.terminate().success());
    rt.block_on(publisher.shutdown());
}
