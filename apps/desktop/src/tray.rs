//! The tray icon: open the window, the two desktop settings as check items (keep seeding
//! when the window closes, start at login), and quit.

use crate::app::{self, AppState};
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Manager};

/// Creates the tray icon. Fails where the desktop has no tray (the app then quits when its
/// window closes).
pub fn create(app: &AppHandle) -> tauri::Result<()> {
    let st = app.state::<AppState>();
    let s = st.settings.lock().expect("settings").clone();
    let open = MenuItem::with_id(app, "open", "Open trove", true, None::<&str>)?;
    let keep = CheckMenuItem::with_id(
        app,
        "keep",
        "Keep seeding when the window closes",
        true,
        s.keep_running_in_tray,
        None::<&str>,
    )?;
    let login = CheckMenuItem::with_id(app, "login", "Start at login", true, s.start_at_login, None::<&str>)?;
    let quit = MenuItem::with_id(app, "quit", "Quit trove", true, None::<&str>)?;
    let menu = Menu::with_items(
        app,
        &[&open, &PredefinedMenuItem::separator(app)?, &keep, &login, &PredefinedMenuItem::separator(app)?, &quit],
    )?;
    let mut b = TrayIconBuilder::with_id("main").tooltip("trove").menu(&menu);
    if let Some(icon) = app.default_window_icon() {
        b = b.icon(icon.clone());
    }
    b.on_menu_event(move |app, ev| match ev.id().as_ref() {
        "open" => app::show_window(app),
        "keep" => app::change_settings(app, |s| s.keep_running_in_tray = keep.is_checked().unwrap_or(true)),
        "login" => {
            let on = login.is_checked().unwrap_or(false);
            app::change_settings(app, |s| s.start_at_login = on);
            app::apply_start_at_login(app, on);
        }
        "quit" => app.exit(0),
        _ => {}
    })
    .build(app)?;
    Ok(())
}
