//! `scp2p://` links that open the app, from its command line (a first start, or a second
//! start forwarded to the running app) or from the operating system (deep links): each
//! becomes the web UI's page that offers to subscribe.

/// The first `scp2p://` link among command-line arguments.
pub fn link_in_args<I, S>(args: I) -> Option<String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    args.into_iter().map(|a| a.as_ref().trim().to_string()).find(|a| is_link(a))
}

/// Whether `s` is an `scp2p://` address (scheme case-insensitive).
pub fn is_link(s: &str) -> bool {
    s.get(..8).is_some_and(|p| p.eq_ignore_ascii_case("scp2p://"))
}

/// The web UI route (after `#`) that asks whether to subscribe to `link`.
pub fn subscribe_route(link: &str) -> String {
    format!("/discover/{}", encode_component(link))
}

/// The address that opens the web UI at `api` with `token`, on `route` when given.
pub fn start_url(api: std::net::SocketAddr, token: &str, route: Option<&str>) -> String {
    let base = trove_cli::ui::url(api, Some(token));
    match route {
        Some(r) => format!("{base}&go={}", encode_component(r)),
        None => base,
    }
}

/// Percent-encodes like JavaScript's `encodeURIComponent`.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_in_arguments() {
        assert_eq!(link_in_args(["trove-desktop"]), None);
        assert_eq!(
            link_in_args(["trove-desktop", "--flag", "SCP2P://s/AbC?bp=x", "scp2p://s/other"]),
            Some("SCP2P://s/AbC?bp=x".to_string())
        );
        assert!(!is_link("scp2p:/s/x") && !is_link("http://x") && !is_link("scp"));
    }

    #[test]
    fn routes_and_urls_survive_the_hash() {
        let link = "scp2p://s/AbC-_9?bp=tcp%3A%2F%2F1.2.3.4%3A7001";
        let r = subscribe_route(link);
        assert_eq!(r, "/discover/scp2p%3A%2F%2Fs%2FAbC-_9%3Fbp%3Dtcp%253A%252F%252F1.2.3.4%253A7001");
        let api = "127.0.0.1:4567".parse().unwrap();
        assert_eq!(start_url(api, "ab12", None), "http://127.0.0.1:4567/#token=ab12");
        // The page splits on "&go=" and decodes once: the route comes back whole.
        let u = start_url(api, "ab12", Some(&r));
        let go = u.split("&go=").nth(1).unwrap();
        assert!(!go.contains('&') && !go.contains('#'));
        assert_eq!(encode_component("é /"), "%C3%A9%20%2F");
    }
}
