//! Helpers of the end-to-end tests: run the built `trove` binary in temporary data
//! directories, always on loopback with ephemeral ports and without LAN discovery; start
//! and stop `trove serve` children; generate content.

#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use trove_cli::client::ApiClient;

/// Network flags every trove process of the tests gets.
pub const NET: [&str; 5] = ["--listen-tcp", "127.0.0.1:0", "--listen-quic", "127.0.0.1:0", "--no-lan"];

/// How long anything may take before a test gives up.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// A finished trove run.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout as JSON (the whole of it must be one document).
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self:#?}"))
    }

    /// Asserts success and returns stdout as JSON.
    pub fn ok_json(&self) -> Value {
        assert_eq!(self.code, 0, "trove failed: {self:#?}");
        self.json()
    }

    /// The JSON error object on stderr (with `--json`).
    pub fn json_error(&self) -> Value {
        let line = self
            .stderr
            .lines()
            .rev()
            .find(|l| l.starts_with('{'))
            .unwrap_or_else(|| panic!("no JSON error: {self:#?}"));
        serde_json::from_str::<Value>(line).unwrap()["error"].clone()
    }
}

/// A `trove` command for `data_dir` with the loopback network flags.
pub fn trove(data_dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trove"));
    c.arg("--data-dir").arg(data_dir).args(NET).env_remove("TROVE_DATA_DIR").env_remove("RUST_LOG");
    c
}

/// Runs trove to completion.
pub fn run(data_dir: &Path, args: &[&str]) -> Run {
    let out = trove(data_dir).args(args).stdin(Stdio::null()).output().expect("running trove");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Sends SIGINT (what Ctrl-C sends).
pub fn interrupt(child: &Child) {
    // SAFETY: kill(2) with a pid we own and a valid signal number.
    let r = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(r, 0, "kill failed");
}

/// Waits for a child to exit, up to the deadline.
pub fn wait(child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            panic!("trove did not exit in time");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `trove serve` child process.
pub struct Daemon {
    pub child: Child,
    pub dir: PathBuf,
    pub api: ApiClient,
    pub info: trove_cli::runfiles::DaemonInfo,
    log: PathBuf,
}

impl Daemon {
    /// Starts `trove serve` on `dir` (API on an ephemeral loopback port) and waits until its
    /// API answers with its pid.
    pub fn start(dir: &Path, rt: &tokio::runtime::Runtime) -> Daemon {
        Self::start_with_env(dir, rt, &[])
    }

    /// [`Daemon::start`] with extra environment variables for the daemon.
    pub fn start_with_env(dir: &Path, rt: &tokio::runtime::Runtime, envs: &[(&str, &str)]) -> Daemon {
        Self::start_with_args(dir, rt, &["serve", "--api", "127.0.0.1:0"], envs)
    }

    /// [`Daemon::start`] with `config.toml` in `dir` holding `config` first.
    pub fn start_with_config(dir: &Path, rt: &tokio::runtime::Runtime, config: &str) -> Daemon {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("config.toml"), config).unwrap();
        Self::start(dir, rt)
    }

    /// A daemon started with other arguments than `serve --api 127.0.0.1:0` (`relay …`; the
    /// API address must be ephemeral too).
    pub fn start_with_args(dir: &Path, rt: &tokio::runtime::Runtime, args: &[&str], envs: &[(&str, &str)]) -> Daemon {
        std::fs::create_dir_all(dir).unwrap();
        let log = dir.with_extension("serve.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = trove(dir)
            .envs(envs.iter().copied())
            .args(args)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("starting trove serve");
        let mut d = Daemon {
            child,
            dir: dir.to_path_buf(),
            api: ApiClient::new("127.0.0.1:1".parse().unwrap(), None),
            info: trove_cli::runfiles::DaemonInfo {
                pid: 0,
                api: "127.0.0.1:1".parse().unwrap(),
                node_id: String::new(),
                listen_tcp: None,
                listen_quic: None,
                started_at: 0,
                version: String::new(),
            },
            log,
        };
        let start = Instant::now();
        loop {
            if let Some(s) = d.child.try_wait().unwrap() {
                panic!("trove serve exited with {s}: {}", d.log_text());
            }
            if let Some(c) = rt.block_on(ApiClient::discover(dir)) {
                let info = c.daemon().cloned().expect("discovered daemon info");
                assert_eq!(info.pid, d.child.id(), "the API answers with the child's pid");
                d.api = c;
                d.info = info;
                return d;
            }
            assert!(start.elapsed() < DEADLINE, "trove serve did not come up: {}", d.log_text());
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// What the daemon printed so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The daemon's TCP address as a bootstrap string.
    pub fn tcp(&self) -> String {
        format!("tcp://{}", self.info.listen_tcp.as_deref().expect("tcp listener"))
    }

    /// Stops it with SIGINT and checks it exits cleanly and removes daemon.json.
    pub fn stop(mut self) {
        interrupt(&self.child);
        let status = wait(&mut self.child);
        assert!(status.success(), "trove serve exited with {status}: {}", self.log_text());
        assert!(!self.dir.join("daemon.json").exists(), "daemon.json is removed on shutdown");
        assert!(self.log_text().contains("stopped"), "{}", self.log_text());
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Deterministic bytes that do not repeat per chunk.
pub fn bytes(len: usize, seed: u64) -> Vec<u8> {
    trove_cli::demo::filler(len, seed.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Writes files under `root`.
pub fn write_tree(root: &Path, files: &[(&str, usize)]) {
    for (i, (rel, len)) in files.iter().enumerate() {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes(*len, i as u64 + 1)).unwrap();
    }
}

/// Asserts that every file of `src` is in `dst` with the same bytes.
pub fn assert_same_tree(src: &Path, dst: &Path, files: &[(&str, usize)]) {
    for (rel, _) in files {
        let a = std::fs::read(src.join(rel)).unwrap();
        let b = std::fs::read(dst.join(rel)).unwrap_or_else(|e| panic!("{rel} missing in {}: {e}", dst.display()));
        assert!(a == b, "{rel} differs");
        assert!(!dst.join(format!("{rel}.part")).exists(), "{rel}.part left behind");
    }
}

/// Polls `f` until it returns Some, up to the deadline.
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}
