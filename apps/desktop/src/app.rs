//! The Tauri application: plugins, the main window (a local "starting" page, then the web UI
//! of the in-process node), `scp2p://` links from the command line, a second start or the
//! operating system, notifications, the tray, and the life cycle: closing the window hides it
//! while seeding goes on (a setting), quitting stops the node gracefully.
//!
//! With `TROVE_DESKTOP_PROBE=1` the app prints what happens on stdout, one line each
//! (`ready <api url>`, `title <document title>`, `link <link>`, `notify <title>: <body>`,
//! `stopped`), runs `--probe-eval=JS` given to a second start in the window, and never
//! touches the desktop's registrations (URL scheme, autostart): the tests drive it that way.

use crate::settings::{self, DesktopSettings};
use crate::{links, node, notify, tray};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tauri::{AppHandle, Manager, RunEvent, WebviewUrl, WebviewWindow, WebviewWindowBuilder, WindowEvent};
use tauri_plugin_deep_link::DeepLinkExt;
use tauri_plugin_notification::NotificationExt;
use trove_cli::daemon::Daemon;

/// The main window's label.
const MAIN: &str = "main";

/// Quiet time after which finished downloads are announced together.
const DOWNLOADS_QUIET: Duration = Duration::from_secs(2);

/// What the app keeps.
pub struct AppState {
    pub dir: PathBuf,
    pub settings: Mutex<DesktopSettings>,
    /// The node and its API, once started.
    pub daemon: Mutex<Option<Daemon>>,
    /// A link that arrived before the node was ready.
    pub pending_link: Mutex<Option<String>>,
    /// Whether a tray icon exists (without one, closing the window quits).
    pub tray: AtomicBool,
    pub probe: bool,
}

/// A line for the tests (probe mode only).
fn probe(app: &AppHandle, line: &str) {
    if app.state::<AppState>().probe {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Probe mode only: `--probe-eval=JS` given to a second start runs JS in the window (the
/// tests check from inside the page that the native features answer).
fn probe_eval(app: &AppHandle, argv: &[String]) {
    if !app.state::<AppState>().probe {
        return;
    }
    for js in argv.iter().filter_map(|a| a.strip_prefix("--probe-eval=")) {
        if let Some(w) = app.get_webview_window(MAIN) {
            let _ = w.eval(js);
        }
    }
}

/// Runs the app until it quits.
pub fn run() {
    let args: Vec<String> = std::env::args().collect();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    let dir = node::data_dir(&args);
    let probe_mode = std::env::var_os("TROVE_DESKTOP_PROBE").is_some_and(|v| v == "1");
    let (desktop, settings_error) = match settings::load(&dir) {
        Ok(s) => (s, None),
        Err(e) => (DesktopSettings::default(), Some(e)),
    };
    let first_link = links::link_in_args(args.iter().skip(1));

    let app = tauri::Builder::default()
        // First: a second start on the same data directory hands its arguments (a link) to
        // this one and exits.
        .plugin(
            tauri_plugin_single_instance::Builder::new()
                .dbus_id(instance_id(&dir))
                .callback(|app, argv, _cwd| {
                    show_window(app);
                    if let Some(link) = links::link_in_args(argv.iter().skip(1)) {
                        open_link(app, link);
                    }
                    probe_eval(app, &argv);
                })
                .build(),
        )
        .plugin(tauri_plugin_deep_link::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_opener::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_autostart::init(tauri_plugin_autostart::MacosLauncher::LaunchAgent, None))
        .manage(AppState {
            dir: dir.clone(),
            settings: Mutex::new(desktop),
            daemon: Mutex::new(None),
            pending_link: Mutex::new(first_link),
            tray: AtomicBool::new(false),
            probe: probe_mode,
        })
        .setup(move |app| {
            let handle = app.handle().clone();
            main_window(&handle)?;
            match tray::create(&handle) {
                Ok(()) => handle.state::<AppState>().tray.store(true, Ordering::Relaxed),
                Err(e) => tracing::warn!("no tray icon ({e}); closing the window quits trove"),
            }
            if let Some(e) = &settings_error {
                tracing::warn!("desktop settings ignored: {e}");
            }
            if !probe_mode {
                // Links opened by the system while running (macOS), and the scheme registered
                // for this executable where that happens at run time (Linux, Windows).
                let h = handle.clone();
                app.deep_link().on_open_url(move |ev| {
                    if let Some(u) = ev.urls().first() {
                        open_link(&h, u.to_string());
                    }
                });
                if let Ok(Some(urls)) = app.deep_link().get_current()
                    && let Some(u) = urls.first()
                {
                    *handle.state::<AppState>().pending_link.lock().expect("link") = Some(u.to_string());
                }
                #[cfg(any(target_os = "linux", windows))]
                if let Err(e) = app.deep_link().register_all() {
                    tracing::warn!("scp2p:// links will not open trove: {e}");
                }
            }
            watch_signals(handle.clone());
            tauri::async_runtime::spawn(start_node(handle, dir.clone()));
            Ok(())
        })
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { api, .. } = event {
                let app = window.app_handle();
                let st = app.state::<AppState>();
                let keep = st.settings.lock().expect("settings").keep_running_in_tray;
                if keep && st.tray.load(Ordering::Relaxed) {
                    api.prevent_close();
                    let _ = window.hide();
                }
            }
        })
        .build(tauri::generate_context!());
    let app = match app {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: trove could not open its window: {e}");
            std::process::exit(1);
        }
    };
    app.run(|app, event| {
        if let RunEvent::Exit = event {
            let d = app.state::<AppState>().daemon.lock().expect("daemon").take();
            if let Some(d) = d {
                tauri::async_runtime::block_on(d.stop());
            }
            probe(app, "stopped");
        }
    });
}

/// The name that makes one app per data directory (apps on different data directories are
/// different nodes and may run side by side).
fn instance_id(dir: &std::path::Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut h);
    format!("org.trove.desktop.d{:016x}", h.finish())
}

/// The window, first with the local "starting" page.
fn main_window(app: &AppHandle) -> tauri::Result<WebviewWindow> {
    WebviewWindowBuilder::new(app, MAIN, WebviewUrl::App("index.html".into()))
        .title("trove")
        .inner_size(1180.0, 800.0)
        .min_inner_size(420.0, 480.0)
        .on_document_title_changed(|w, title| {
            let _ = w.set_title(&title);
            probe(w.app_handle(), &format!("title {title}"));
        })
        .build()
}

/// Shows and focuses the window (recreating it if it was closed).
pub fn show_window(app: &AppHandle) {
    match app.get_webview_window(MAIN) {
        Some(w) => {
            let _ = w.unminimize();
            let _ = w.show();
            let _ = w.set_focus();
        }
        None => {
            if let Ok(w) = main_window(app)
                && let Some(url) = ui_url(app, None)
            {
                navigate(&w, &url);
            }
        }
    }
}

/// The web UI's address with the token, on `route` when given; None before the node runs.
fn ui_url(app: &AppHandle, route: Option<&str>) -> Option<String> {
    let st = app.state::<AppState>();
    let d = st.daemon.lock().expect("daemon");
    d.as_ref().map(|d| links::start_url(d.api_addr(), &d.token, route))
}

fn navigate(w: &WebviewWindow, url: &str) {
    match url.parse() {
        Ok(u) => {
            if let Err(e) = w.navigate(u) {
                tracing::warn!("cannot open the web UI: {e}");
            }
        }
        Err(e) => tracing::warn!("bad web UI address {url}: {e}"),
    }
}

/// Opens the "subscribe to this link?" page, now or once the node runs.
pub fn open_link(app: &AppHandle, link: String) {
    probe(app, &format!("link {link}"));
    let route = links::subscribe_route(&link);
    let ready = app.state::<AppState>().daemon.lock().expect("daemon").is_some();
    if !ready {
        *app.state::<AppState>().pending_link.lock().expect("link") = Some(link);
        return;
    }
    if let Some(w) = app.get_webview_window(MAIN) {
        let js = format!("location.hash = {}", serde_json::Value::String(format!("#{route}")));
        if let Err(e) = w.eval(&js) {
            tracing::warn!("cannot open the link in the window: {e}");
        }
    }
}

async fn start_node(app: AppHandle, dir: PathBuf) {
    match node::start(dir).await {
        Ok(d) => {
            let events = d.node.events();
            let node = d.node.clone();
            *app.state::<AppState>().daemon.lock().expect("daemon") = Some(d);
            let link = app.state::<AppState>().pending_link.lock().expect("link").take();
            let route = link.as_deref().map(links::subscribe_route);
            if let Some(url) = ui_url(&app, route.as_deref()) {
                probe(&app, &format!("ready {}", url.split('#').next().unwrap_or_default()));
                if let Some(w) = app.get_webview_window(MAIN) {
                    navigate(&w, &url);
                }
            }
            tauri::async_runtime::spawn(notifications(app, node, events));
        }
        Err(message) => {
            tracing::error!("the node could not start: {message}");
            probe(&app, &format!("failed {}", message.replace('\n', " ")));
            if let Some(w) = app.get_webview_window(MAIN) {
                let _ = w.eval(format!("window.troveStartFailed({})", serde_json::Value::String(message)));
            }
        }
    }
}

/// Shows notifications for node events until the node stops.
async fn notifications(
    app: AppHandle,
    node: trove_node::Node,
    mut events: tokio::sync::broadcast::Receiver<trove_node::Event>,
) {
    use tokio::sync::broadcast::error::RecvError;
    let subs = node.subscriptions().unwrap_or_default();
    let mut n = notify::Notifier::new(subs.iter().map(|s| (s.share_id.to_hex(), s.seq)));
    loop {
        let next = if n.pending() {
            match tokio::time::timeout(DOWNLOADS_QUIET, events.recv()).await {
                Ok(r) => r,
                Err(_) => {
                    if let Some(note) = n.flush() {
                        show(&app, &note);
                    }
                    continue;
                }
            }
        } else {
            events.recv().await
        };
        match next {
            Ok(ev) => {
                let title = |id: &str| {
                    node.subscriptions().ok()?.into_iter().find(|s| s.share_id.to_hex() == id).and_then(|s| s.title)
                };
                if let Some(note) = n.event(&ev, title) {
                    show(&app, &note);
                }
            }
            Err(RecvError::Lagged(_)) => continue,
            Err(RecvError::Closed) => return,
        }
    }
}

fn show(app: &AppHandle, note: &notify::Notice) {
    probe(app, &format!("notify {}: {}", note.title, note.body));
    if let Err(e) = app.notification().builder().title(&note.title).body(&note.body).show() {
        tracing::debug!("notification not shown: {e}");
    }
}

/// Quits gracefully on SIGTERM and Ctrl-C (the node saves and says goodbye to peers).
fn watch_signals(app: AppHandle) {
    tauri::async_runtime::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            if let Ok(mut term) = signal(SignalKind::terminate()) {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                app.exit(0);
                return;
            }
        }
        let _ = tokio::signal::ctrl_c().await;
        app.exit(0);
    });
}

/// Changes and saves the desktop settings.
pub fn change_settings(app: &AppHandle, f: impl FnOnce(&mut DesktopSettings)) {
    let st = app.state::<AppState>();
    let mut s = st.settings.lock().expect("settings");
    f(&mut s);
    if let Err(e) = settings::save(&st.dir, &s) {
        tracing::warn!("desktop settings not saved: {e}");
    }
}

/// Registers or removes the login item (not in probe mode).
pub fn apply_start_at_login(app: &AppHandle, on: bool) {
    if app.state::<AppState>().probe {
        return;
    }
    use tauri_plugin_autostart::ManagerExt;
    let r = if on { app.autolaunch().enable() } else { app.autolaunch().disable() };
    if let Err(e) = r {
        tracing::warn!("start at login could not be changed: {e}");
    }
}
