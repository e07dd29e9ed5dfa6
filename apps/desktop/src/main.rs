//! trove-desktop: trove as a window. A node runs in this process with its local HTTP API on a
//! loopback port and a fresh token; the window shows the web UI that API serves, with native
//! file dialogs, "reveal in file manager", notifications, `scp2p://` links and a tray icon.
//!
//! Files: `app` (the Tauri application: windows, plugins, life cycle), `node` (starting and
//! stopping the in-process node), `links` (`scp2p://` links to UI routes), `notify` (node
//! events to OS notifications), `settings` (`desktop.toml`), `tray` (the tray icon and menu).

#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod app;
mod links;
mod node;
mod notify;
mod settings;
mod tray;

fn main() {
    trove_node::alloc::tune_allocator();
    app::run();
}
