//! The web UI: plain ES modules, a stylesheet and the vendored UI library, embedded in the
//! binary at compile time and served by `trove serve` on its API address.
//!
//! The files carry no secret, so they are served without the API token; the page reads the
//! token from the URL fragment (`http://127.0.0.1:7080/#token=…`, which browsers never send
//! to a server), keeps it in `sessionStorage` and sends it as `Authorization: Bearer` with
//! every API request. Requests for the UI must name the API by a loopback host (no DNS
//! rebinding), every answer carries a strict Content-Security-Policy, and nothing is fetched
//! from anywhere else: the UI works offline.

use axum::Router;
use axum::extract::{Path as UrlPath, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// One embedded file.
pub struct Asset {
    /// Path below `crates/trove-cli/ui/`.
    pub path: &'static str,
    pub mime: &'static str,
    pub body: &'static [u8],
}

macro_rules! assets {
    ($($path:literal => $mime:expr),* $(,)?) => {
        /// Every file of the UI, embedded at compile time.
        pub const ASSETS: &[Asset] = &[
            $(Asset { path: $path, mime: $mime, body: include_bytes!(concat!("../ui/", $path)) },)*
        ];
    };
}

const JS: &str = "text/javascript; charset=utf-8";

assets! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
    "app.js" => JS,
    "api.js" => JS,
    "format.js" => JS,
    "components.js" => JS,
    "tree.js" => JS,
    "store.js" => JS,
    "pages/dashboard.js" => JS,
    "pages/discover.js" => JS,
    "pages/shares.js" => JS,
    "pages/search.js" => JS,
    "pages/downloads.js" => JS,
    "pages/communities.js" => JS,
    "pages/settings.js" => JS,
    "vendor/htm-preact.mjs" => JS,
    "vendor/uqr.mjs" => JS,
    "vendor/LICENSE-htm" => "text/plain; charset=utf-8",
    "vendor/LICENSE-preact" => "text/plain; charset=utf-8",
    "vendor/LICENSE-uqr" => "text/plain; charset=utf-8",
    "vendor/README.md" => "text/plain; charset=utf-8",
}

/// What every UI answer may load: only this origin; no inline script, no eval, no frames.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// The embedded file at `path` (below `ui/`).
pub fn asset(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The UI routes: `/` (the page) and `/ui/…` (its modules, styles and vendored files),
/// behind the loopback host check. `public`: the API was started with `--api-public`, so
/// any host name is accepted.
pub fn routes<S: Clone + Send + Sync + 'static>(public: bool) -> Router<S> {
    let r = Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/favicon.ico", get(favicon))
        .route("/ui/{*path}", get(file));
    if public { r } else { r.layer(middleware::from_fn(loopback_host)) }
}

async fn index() -> Response {
    serve(asset("index.html").expect("index.html is embedded"))
}

async fn favicon() -> Response {
    serve(asset("favicon.svg").expect("favicon.svg is embedded"))
}

async fn file(UrlPath(path): UrlPath<String>) -> Response {
    match asset(&path) {
        Some(a) => serve(a),
        None => (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "no such UI file")
            .into_response(),
    }
}

fn serve(a: &'static Asset) -> Response {
    let mut r = (StatusCode::OK, a.body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(a.mime));
    security_headers(h);
    r
}

/// Headers of every UI answer.
fn security_headers(h: &mut HeaderMap) {
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-resource-policy", HeaderValue::from_static("same-origin"));
    // The binary carries the files: a new binary must not be answered from an old cache.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
}

/// Whether a `Host` header names this machine: `127.x.y.z`, `[::1]` or `localhost`, with
/// any port.
pub fn is_loopback_host(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, _)) => ip,
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Refuses UI requests whose `Host` is not a loopback name: a web page that rebinds its own
/// DNS name to 127.0.0.1 gets nothing from this server.
async fn loopback_host(req: Request, next: Next) -> Response {
    let ok = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).is_some_and(is_loopback_host);
    if !ok {
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "the trove UI answers only on a loopback address (http://127.0.0.1:PORT/ or http://localhost:PORT/)",
        )
            .into_response();
    }
    next.run(req).await
}

/// The address of the UI, with the token in the fragment (never sent to the server).
pub fn url(api: std::net::SocketAddr, token: Option<&str>) -> String {
    let host = match api.ip() {
        ip if ip.is_unspecified() => {
            if ip.is_ipv4() {
                "127.0.0.1".to_string()
            } else {
                "[::1]".to_string()
            }
        }
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        std::net::IpAddr::V4(ip) => ip.to_string(),
    };
    match token {
        Some(t) => format!("http://{host}:{}/#token={t}", api.port()),
        None => format!("http://{host}:{}/", api.port()),
    }
}

/// Opens `target` (a URL or a folder) with the desktop's default program: `xdg-open` (or
/// `gio open`) on Linux and the BSDs, `open` on macOS, `start` on Windows. Returns an error
/// naming what was tried when none worked. `TROVE_NO_OPEN` in the environment switches it
/// off (headless machines, tests).
pub fn open_with_desktop(target: &str) -> Result<(), String> {
    if std::env::var_os("TROVE_NO_OPEN").is_some() {
        return Err("opening programs is switched off (TROVE_NO_OPEN is set)".into());
    }
    let candidates: &[(&str, &[&str])] = if cfg!(target_os = "macos") {
        &[("open", &[])]
    } else if cfg!(windows) {
        &[("cmd", &["/C", "start", ""])]
    } else {
        &[("xdg-open", &[]), ("gio", &["open"])]
    };
    let mut tried = Vec::new();
    for (cmd, pre) in candidates {
        let r = std::process::Command::new(cmd)
            .args(*pre)
            .arg(target)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        match r {
            Ok(s) if s.success() => return Ok(()),
            Ok(s) => tried.push(format!("{cmd} exited with {s}")),
            Err(e) => tried.push(format!("{cmd}: {e}")),
        }
    }
    Err(tried.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ui_file_is_embedded_and_nothing_else() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
        let mut on_disk = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    on_disk.push(p.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/"));
                }
            }
        }
        on_disk.sort();
        let mut embedded: Vec<String> = ASSETS.iter().map(|a| a.path.to_string()).collect();
        embedded.sort();
        assert_eq!(on_disk, embedded, "ui/ and the ASSETS list must name the same files");
    }

    #[test]
    fn modules_import_only_embedded_files() {
        // Every relative import of every module resolves to an embedded file: the page never
        // asks for a file the binary does not carry (and never for one elsewhere).
        for a in ASSETS.iter().filter(|a| a.mime == JS) {
            let text = std::str::from_utf8(a.body).unwrap();
            for line in text.lines() {
                let t = line.trim_start();
                if !(t.starts_with("import ") || t.starts_with("export ") && t.contains(" from ")) {
                    continue;
                }
                let Some(spec) = t.split(['\'', '"']).nth(1) else { continue };
                if !spec.starts_with('.') {
                    assert!(!spec.contains("://"), "{}: imports {spec} from the network", a.path);
                    continue;
                }
                let base = std::path::Path::new(a.path).parent().unwrap();
                let mut parts: Vec<&str> = base.iter().map(|s| s.to_str().unwrap()).collect();
                for seg in spec.split('/') {
                    match seg {
                        "." => {}
                        ".." => {
                            parts.pop();
                        }
                        s => parts.push(s),
                    }
                }
                let resolved = parts.join("/");
                assert!(asset(&resolved).is_some(), "{} imports {spec} ({resolved}), which is not embedded", a.path);
            }
        }
    }

    #[test]
    fn loopback_hosts() {
        for ok in ["127.0.0.1:7080", "127.0.0.1", "localhost:1", "LOCALHOST", "[::1]:7080", "127.4.5.6:80"] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in ["example.com", "evil.localhost.example:7080", "192.168.1.2:7080", "[::2]:1", "[::1", ""] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn urls_keep_the_token_in_the_fragment() {
        let u = url("127.0.0.1:7080".parse().unwrap(), Some("ab12"));
        assert_eq!(u, "http://127.0.0.1:7080/#token=ab12");
        assert_eq!(url("0.0.0.0:9".parse().unwrap(), None), "http://127.0.0.1:9/");
        assert_eq!(url("[::1]:9".parse().unwrap(), None), "http://[::1]:9/");
    }
}
