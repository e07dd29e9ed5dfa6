//! One function per command: turn the arguments into a request, run it on the backend
//! (daemon or in-process), show progress, and print the result: text for people, or exactly
//! one JSON document on stdout with `--json`.

use crate::api_ext::{SubscriptionUpdate, VisibilityBody};
use crate::args::{Command, CommunityCmd, Global, IdentityCmd, PublishArgs, SearchArgs, TokenCmd};
use crate::backend::Backend;
use crate::community::{CommunityParam, CreateBody, IssueBody, JoinBody, SetTokenBody, StrictBody};
use crate::error::{CliError, CliResult, ErrorKind, kind_of_message};
use crate::local;
use crate::ops::{ExportBody, FetchBody, ImportBody, LsParams, SearchParams, SubscribeBody};
use crate::progress::{Mode, Progress, ProgressTask};
use indicatif::{HumanBytes, HumanDuration};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Duration;
use trove_node::download::get::GetRequest;
use trove_node::publish::PublishRequest;
use trove_proto::ShareId;

/// Prints a result: JSON (pretty, on stdout) or the text `human` renders.
fn emit<T: Serialize>(g: &Global, v: &T, human: impl FnOnce(&T)) {
    if g.json {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into()));
    } else {
        human(v);
    }
}

/// A notice on stderr (not with --quiet).
fn notice(g: &Global, text: &str) {
    if !g.quiet {
        eprintln!("{text}");
    }
}

/// An absolute form of a path the user typed (the daemon has another working directory).
fn absolute(p: &Path) -> CliResult<PathBuf> {
    std::path::absolute(p).map_err(|e| CliError::invalid(format!("{}: {e}", p.display())))
}

/// The canonical form of a path that may not exist yet: its nearest existing ancestor
/// canonicalized, with the rest appended (how the node will name files under it).
fn canonical_lenient(p: &Path) -> PathBuf {
    let mut rest = Vec::new();
    let mut cur = p;
    loop {
        if let Ok(c) = std::fs::canonicalize(cur) {
            return rest.iter().rev().fold(c, |acc: PathBuf, part| acc.join(part));
        }
        match (cur.parent(), cur.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_os_string());
                cur = parent;
            }
            _ => return p.to_path_buf(),
        }
    }
}

/// "1 file", "3 files".
fn files(n: usize) -> String {
    if n == 1 { "1 file".into() } else { format!("{n} files") }
}

/// A duration for people: milliseconds below a second.
fn seconds(s: f64) -> String {
    if s < 1.0 {
        format!("{} ms", (s * 1000.0).round() as u64)
    } else {
        HumanDuration(Duration::from_secs_f64(s)).to_string()
    }
}

/// A short id for tables.
fn short(id: &ShareId) -> String {
    id.to_hex()[..12].to_string()
}

fn or_dash(s: Option<&str>) -> &str {
    s.unwrap_or("-")
}

/// A table's header row.
fn header(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|s| s.to_string()).collect()
}

/// Prints rows as left-aligned columns.
fn table(rows: &[Vec<String>]) {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let widths: Vec<usize> =
        (0..cols).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        println!("{}", line.trim_end());
    }
}

/// Runs `job` while progress from the backend's events is shown.
async fn with_progress<T>(
    b: &Backend,
    g: &Global,
    only_under: Option<PathBuf>,
    job: impl Future<Output = CliResult<T>>,
) -> CliResult<T> {
    let mode = Mode::detect(g.quiet);
    let task =
        if mode == Mode::Off { None } else { ProgressTask::start(b.events().await, Progress::new(mode, only_under)) };
    let r = job.await;
    if let Some(t) = task {
        t.stop().await;
    }
    r
}

/// Runs one command on a backend.
pub async fn execute(b: &Backend, g: &Global, cmd: Command) -> CliResult<()> {
    match cmd {
        Command::Publish(a) => publish(b, g, a).await,
        Command::Shares => {
            let shares = b.shares().await?;
            emit(g, &shares, |v| {
                if v.is_empty() {
                    println!("no shares yet: `trove publish PATH` creates one");
                    return;
                }
                let mut rows = vec![header(&["NAME", "REV", "FILES", "SIZE", "VISIBILITY", "SHARE ID"])];
                for s in v {
                    rows.push(vec![
                        s.name.clone(),
                        s.seq.map_or("-".into(), |q| q.to_string()),
                        s.items.to_string(),
                        HumanBytes(s.bytes).to_string(),
                        if s.public { "public" } else { "private" }.into(),
                        s.share_id.to_hex(),
                    ]);
                }
                table(&rows);
            });
            Ok(())
        }
        Command::Link { share } => {
            let l = b.link(&share).await?;
            emit(g, &l, |l| println!("{}", l.link));
            Ok(())
        }
        Command::Subscribe { target, pubkey, trust } => {
            let r = b.subscribe(SubscribeBody { target, pubkey, trust: Some(trust) }).await?;
            emit(g, &r, |r| {
                if r.error.is_none() {
                    println!(
                        "subscribed to {} (share {}): revision {}, {}",
                        r.title.as_deref().map(|t| format!("'{t}'")).unwrap_or_else(|| "a share".into()),
                        r.share_id,
                        r.seq.map_or("-".into(), |s| s.to_string()),
                        files(r.items.unwrap_or(0))
                    );
                }
            });
            match r.error {
                None => Ok(()),
                Some(e) => Err(CliError::new(
                    ErrorKind::Unavailable,
                    format!(
                        "subscribed to share {}, but its catalog could not be fetched yet: {e}. The subscription is saved: `trove sync` tries again, and a running `trove serve` keeps trying",
                        r.share_id
                    ),
                )),
            }
        }
        Command::Unsubscribe { share } => {
            let d = b.unsubscribe(&share).await?;
            emit(g, &d, |d| match d.share_id {
                Some(id) => println!("unsubscribed from {id}"),
                None => println!("unsubscribed"),
            });
            Ok(())
        }
        Command::Subscriptions => {
            let subs = b.subscriptions().await?;
            emit(g, &subs, |v| {
                if v.is_empty() {
                    println!("no subscriptions yet: `trove subscribe LINK` follows a share");
                    return;
                }
                let mut rows = vec![header(&["TITLE", "REV", "FILES", "TRUST", "SHARE ID", "LAST ERROR"])];
                for s in v {
                    let mut trust = s.trust.clone();
                    if s.weight != 1.0 {
                        trust.push_str(&format!(" ×{}", s.weight));
                    }
                    if s.blocklist {
                        trust.push_str(" blocklist");
                    }
                    rows.push(vec![
                        or_dash(s.title.as_deref()).to_string(),
                        s.seq.map_or("-".into(), |q| q.to_string()),
                        s.items.map_or("-".into(), |q| q.to_string()),
                        trust,
                        s.share_id.to_hex(),
                        or_dash(s.last_error.as_deref()).to_string(),
                    ]);
                }
                table(&rows);
            });
            Ok(())
        }
        Command::Sync => {
            let reports = b.sync().await?;
            emit(g, &reports, |v| {
                if v.is_empty() {
                    println!("no subscriptions to sync");
                }
                for r in v {
                    let what = match (&r.error, r.updated) {
                        (Some(e), _) => format!("failed: {e}"),
                        (None, true) => format!("updated to revision {}", r.seq.unwrap_or(0)),
                        (None, false) => {
                            format!("up to date at revision {}", r.seq.map_or("-".into(), |s| s.to_string()))
                        }
                    };
                    println!("{} {}: {what}", short(&r.share_id), or_dash(r.title.as_deref()));
                }
            });
            let failed = reports.iter().filter(|r| r.error.is_some()).count();
            if failed > 0 {
                return Err(CliError::new(
                    ErrorKind::Unavailable,
                    format!("{failed} of {} subscriptions could not be synced", reports.len()),
                ));
            }
            Ok(())
        }
        Command::Search(a) => search(b, g, a).await,
        Command::Ls { share, path } => {
            let l = b.ls(&LsParams { share, path }).await?;
            emit(g, &l, |l| {
                println!(
                    "{} (share {}, revision {}){}",
                    l.title.as_deref().unwrap_or("untitled"),
                    short(&l.share_id),
                    l.seq,
                    if l.path.is_empty() { String::new() } else { format!(" /{}", l.path) }
                );
                let mut rows = Vec::new();
                for e in &l.entries {
                    if e.is_dir {
                        rows.push(vec![format!("{}/", e.name), HumanBytes(e.size).to_string(), files(e.files)]);
                    } else {
                        rows.push(vec![
                            e.name.clone(),
                            HumanBytes(e.size).to_string(),
                            e.content_id.map(|c| c.to_hex()).unwrap_or_default(),
                        ]);
                    }
                }
                table(&rows);
            });
            Ok(())
        }
        Command::Get { share, paths, out, overwrite } => {
            let out_dir = absolute(&out)?;
            let req = GetRequest { share, paths, out_dir: out_dir.clone(), overwrite };
            let root = canonical_lenient(&out_dir);
            let report = with_progress(b, g, Some(root), b.get(req)).await?;
            emit(g, &report, |r| {
                for f in &r.files {
                    let from = if f.peers > 1 { format!(", from {} peers", f.peers) } else { String::new() };
                    match f.status.as_str() {
                        "failed" => {}
                        "present" => println!("present     {} ({})", f.target.display(), HumanBytes(f.size)),
                        _ if f.resumed_bytes > 0 => println!(
                            "downloaded  {} ({}, {} resumed{from})",
                            f.target.display(),
                            HumanBytes(f.size),
                            HumanBytes(f.resumed_bytes)
                        ),
                        _ => println!("downloaded  {} ({}{from})", f.target.display(), HumanBytes(f.size)),
                    }
                }
                let ok = r.files.iter().filter(|f| f.status != "failed").count();
                println!(
                    "{ok} of {} in place; {} downloaded in {}",
                    files(r.files.len()),
                    HumanBytes(r.bytes),
                    seconds(r.seconds)
                );
            });
            let failed: Vec<_> = report.files.iter().filter(|f| f.status == "failed").collect();
            if failed.is_empty() {
                return Ok(());
            }
            for f in &failed {
                eprintln!("failed      {}: {}", f.path, f.error.as_deref().unwrap_or("unknown error"));
            }
            let messages: Vec<&str> = failed.iter().map(|f| f.error.as_deref().unwrap_or("")).collect();
            let kind = if messages.iter().any(|m| kind_of_message(m) == ErrorKind::DiskFull) {
                ErrorKind::DiskFull
            } else if messages.iter().all(|m| m.contains("already exists")) {
                ErrorKind::Invalid
            } else {
                ErrorKind::Unavailable
            };
            Err(CliError::new(
                kind,
                format!("{} of {} files could not be downloaded", failed.len(), report.files.len()),
            ))
        }
        Command::Fetch { content_id, out, overwrite } => {
            let out = absolute(&out)?;
            let r =
                with_progress(b, g, Some(canonical_lenient(&out)), b.fetch(FetchBody { content_id, out, overwrite }))
                    .await?;
            emit(g, &r, |r| match r.status.as_str() {
                "present" => println!("present     {} ({})", r.target.display(), HumanBytes(r.size)),
                _ => println!("fetched     {} ({})", r.target.display(), HumanBytes(r.size)),
            });
            Ok(())
        }
        Command::Browse => {
            if !b.is_remote() {
                notice(
                    g,
                    "note: no daemon runs, so only configured and recently seen peers are asked; `trove serve` also finds LAN peers",
                );
            }
            let list = b.browse().await?;
            emit(g, &list, |v| {
                if v.is_empty() {
                    println!("no public shares found at reachable peers");
                }
                for e in v {
                    println!(
                        "{} (revision {}) at {}",
                        e.summary.title.as_deref().unwrap_or("untitled"),
                        e.summary.seq,
                        e.peer
                    );
                    if let Some(d) = &e.summary.description {
                        println!("  {d}");
                    }
                    println!("  {}", e.link);
                }
            });
            Ok(())
        }
        Command::Peers => {
            let peers = b.peers().await?;
            emit(g, &peers, |v| {
                if v.is_empty() {
                    println!("no known peers");
                    return;
                }
                let mut rows = vec![header(&["ADDRESS", "KIND", "SOURCE", "FAILURES"])];
                for p in v {
                    rows.push(vec![
                        p.addr.clone(),
                        if p.trove { "trove" } else { "v1" }.into(),
                        p.source.clone(),
                        p.failures.to_string(),
                    ]);
                }
                table(&rows);
            });
            Ok(())
        }
        Command::Status => {
            let s = b.status().await?;
            emit(g, &s, |s| {
                let n = &s.node;
                let rows = vec![
                    vec!["node id".into(), n.node_id.clone()],
                    vec!["data directory".into(), n.data_dir.clone()],
                    vec![
                        "running as".into(),
                        match &s.daemon {
                            Some(d) => format!("daemon (pid {}, API http://{})", d.pid, d.api),
                            None => "this command only (no daemon)".into(),
                        },
                    ],
                    vec!["listening tcp".into(), or_dash(n.listen_tcp.as_deref()).into()],
                    vec!["listening quic".into(), or_dash(n.listen_quic.as_deref()).into()],
                    vec!["advertised".into(), n.advertised.join(", ")],
                    vec!["extensions".into(), if n.extensions { "on" } else { "off (v1 only)" }.into()],
                    vec!["known peers".into(), n.peers_known.to_string()],
                    vec!["DHT table / records".into(), format!("{} / {}", n.dht_table, n.dht_records)],
                    vec!["shares".into(), n.shares.to_string()],
                    vec!["subscriptions".into(), n.subscriptions.to_string()],
                    vec!["active downloads".into(), n.downloads_active.to_string()],
                ];
                table(&rows);
                if let Some(r) = &n.recovered_database {
                    println!("warning: the database was damaged and rebuilt; the damaged file is at {r}");
                }
            });
            Ok(())
        }
        Command::Identity { action } => identity(b, g, action).await,
        Command::Downloads => {
            let list = b.downloads().await?;
            emit(g, &list, |v| {
                if v.is_empty() {
                    println!("no downloads");
                    return;
                }
                let mut rows = vec![header(&["STATE", "DONE", "SIZE", "TARGET", "ERROR"])];
                for d in v {
                    rows.push(vec![
                        d.state.clone(),
                        HumanBytes(d.verified_bytes).to_string(),
                        HumanBytes(d.size).to_string(),
                        d.target.clone(),
                        or_dash(d.error.as_deref()).into(),
                    ]);
                }
                table(&rows);
            });
            Ok(())
        }
        Command::Visibility { share, visibility } => {
            let public = visibility == "public";
            let r = b.set_visibility(VisibilityBody { share, public }).await?;
            emit(g, &r, |r| {
                println!("{} is now {visibility}: revision {} published", r.name, r.seq);
                println!("{}", r.link);
            });
            Ok(())
        }
        Command::Subscription(a) => {
            if a.trust.is_none() && a.weight.is_none() && a.blocklist.is_none() {
                return Err(CliError::invalid("nothing to change: give --trust, --weight or --blocklist on|off"));
            }
            let body = SubscriptionUpdate { share: a.share, trust: a.trust, blocklist: a.blocklist, weight: a.weight };
            let s = b.update_subscription(body).await?;
            emit(g, &s, |s| {
                println!(
                    "{} ({}): trust {}, weight {}{}",
                    or_dash(s.title.as_deref()),
                    short(&s.share_id),
                    s.trust,
                    s.weight,
                    if s.blocklist { ", blocklist: what it lists is hidden from search" } else { "" }
                )
            });
            Ok(())
        }
        Command::Community { action } => community(b, g, action).await,
        Command::Serve(_) | Command::Relay(_) | Command::Events | Command::Demo(_) | Command::Ui { .. } => {
            Err(CliError::internal("this command does not run on a backend"))
        }
    }
}

async fn publish(b: &Backend, g: &Global, a: PublishArgs) -> CliResult<()> {
    if a.paths.is_empty() && a.text.is_none() {
        return Err(CliError::invalid("nothing to publish: give files or folders, or --text TEXT"));
    }
    let mut paths = Vec::new();
    for p in &a.paths {
        if !p.exists() {
            return Err(CliError::invalid(format!("{} does not exist", p.display())));
        }
        paths.push(absolute(p)?);
    }
    let mut communities = Vec::new();
    for c in &a.communities {
        communities.push(
            ShareId::from_hex(c.trim())
                .map_err(|_| CliError::invalid(format!("--community '{c}' is not a community id (64 hex digits)")))?,
        );
    }
    let req = PublishRequest {
        paths,
        text: a.text,
        text_name: a.text_name,
        title: a.title,
        description: a.description,
        tags: a.tags,
        public: if a.public {
            Some(true)
        } else if a.private {
            Some(false)
        } else {
            None
        },
        share: a.share,
        name: a.name,
        communities,
    };
    let r = with_progress(b, g, None, b.publish(req)).await?;
    emit(g, &r, |r| {
        println!("published '{}' revision {}: {}, {}", r.name, r.seq, files(r.items), HumanBytes(r.bytes));
        println!("share id  {}", r.share_id);
        println!("link      {}", r.link);
    });
    if !b.is_remote() {
        notice(
            g,
            "note: no trove daemon runs for this data directory; peers can fetch the share while `trove serve` runs (then `trove link` prints a link with its addresses)",
        );
    }
    Ok(())
}

async fn search(b: &Backend, g: &Global, a: SearchArgs) -> CliResult<()> {
    let join = |v: &[String]| (!v.is_empty()).then(|| v.join(","));
    let p = SearchParams {
        q: a.query.join(" "),
        share: join(&a.shares),
        trust: join(&a.trust),
        kind: a.kind,
        min_size: a.min_size,
        max_size: a.max_size,
        limit: Some(a.limit),
        cursor: a.cursor,
    };
    let r = b.search(&p).await?;
    emit(g, &r, |r| {
        if r.hits.is_empty() {
            println!("no matches in the shares you follow or publish");
            return;
        }
        let mut rows = Vec::new();
        for h in &r.hits {
            rows.push(vec![h.path.clone(), HumanBytes(h.size).to_string(), short(&h.share_id), h.content_id.to_hex()]);
        }
        table(&rows);
        println!("{} of {} matches", r.hits.len(), r.total);
        if let Some(c) = &r.next_cursor {
            println!("more: --cursor {c}");
        }
    });
    Ok(())
}

async fn identity(b: &Backend, g: &Global, action: Option<IdentityCmd>) -> CliResult<()> {
    match action {
        None => {
            let id = b.identity().await?;
            emit(g, &id, |id| {
                println!("node id      {}", id.node_id);
                println!("node key     {}", id.node_pubkey);
                println!("data dir     {}", id.data_dir);
                for s in &id.shares {
                    println!("share key    {} ({})", s.name, s.share_id);
                }
            });
        }
        Some(IdentityCmd::Export { share, passphrase }) => {
            let k = b.export_key(ExportBody { share, passphrase }).await?;
            emit(g, &k, |k| println!("{}", k.key));
            notice(g, "keep this key secret: whoever has it can publish revisions of the share");
        }
        Some(IdentityCmd::Import { key, name }) => {
            let s = b.import_key(ImportBody { key, name }).await?;
            emit(g, &s, |s| {
                println!("imported share '{}' ({})", s.name, s.share_id);
                println!("publish a new revision with: trove publish PATH --share '{}'", s.name);
            });
        }
    }
    Ok(())
}

/// `trove events`: the daemon's event stream, one line per event, until Ctrl-C.
pub async fn events(g: &Global) -> CliResult<()> {
    let dir = local::data_dir(g);
    let Some(c) = crate::client::ApiClient::discover(&dir).await else {
        return Err(CliError::invalid(format!(
            "no trove daemon runs for {}; start one with `trove serve` first (events come from the daemon)",
            dir.display()
        )));
    };
    let mut stream = c.events().await?;
    while let Some(ev) = stream.next().await {
        if g.json {
            println!("{ev}");
        } else {
            let kind = ev["type"].as_str().unwrap_or("event").to_string();
            let fields: Vec<String> = ev
                .as_object()
                .map(|o| o.iter().filter(|(k, _)| *k != "type").map(|(k, v)| format!("{k}={v}")).collect())
                .unwrap_or_default();
            println!("{kind} {}", fields.join(" "));
        }
    }
    Err(CliError::new(ErrorKind::Unavailable, "the daemon stopped"))
}

/// `trove ui`: the address of the running daemon's web UI, with the token in the fragment,
/// opened in the default browser (or printed when that fails or with `--no-open`).
pub async fn open_ui(g: &Global, no_open: bool) -> CliResult<()> {
    let dir = local::data_dir(g);
    let client = crate::client::ApiClient::discover(&dir).await.ok_or_else(|| {
        CliError::invalid(format!(
            "no daemon runs for {}: start it with `trove serve` (the web UI is served by the daemon), then run `trove ui` again",
            dir.display()
        ))
    })?;
    let token = crate::runfiles::read_token(&dir)
        .map_err(|e| CliError::internal(format!("cannot read the API token in {}: {e}", dir.display())))?
        .ok_or_else(|| CliError::internal(format!("the daemon for {} has no API token file", dir.display())))?;
    let url = crate::ui::url(client.addr(), Some(&token));
    let opened = if no_open { Err("--no-open".to_string()) } else { crate::ui::open_with_desktop(&url) };
    if g.json {
        println!("{}", serde_json::json!({ "url": url, "opened": opened.is_ok() }));
        return Ok(());
    }
    match opened {
        Ok(()) => {
            if !g.quiet {
                eprintln!("opened the trove UI in your browser");
            }
        }
        Err(why) => {
            if !no_open && !g.quiet {
                eprintln!("notice: could not open a browser ({why}); open this address yourself:");
            }
            println!("{url}");
        }
    }
    Ok(())
}

/// A community for people: name (or short id), strict mark, owner mark.
fn community_line(c: &trove_node::community::CommunityInfo) -> String {
    let mut s = format!("{} ({})", c.name.as_deref().unwrap_or("unnamed"), short(&c.share_id));
    if c.owner {
        s.push_str(", yours");
    }
    if c.strict {
        s.push_str(", strict");
    }
    s
}

fn param(community: String) -> CommunityParam {
    CommunityParam { community, cursor: None, limit: None }
}

async fn community(b: &Backend, g: &Global, action: CommunityCmd) -> CliResult<()> {
    match action {
        CommunityCmd::Create { name, strict } => {
            let c = b.community_create(CreateBody { name, strict }).await?;
            emit(g, &c, |c| {
                println!("created and joined {}", community_line(c));
                println!("others join with: trove community join {}", c.link);
            });
        }
        CommunityCmd::Join { target, pubkey, name, token, strict } => {
            let body = JoinBody { link: Some(target), share_pubkey: pubkey, name, token, strict, share_id: None };
            let c = b.community_join(body).await?;
            emit(g, &c, |c| {
                println!("joined {}", community_line(c));
                println!("`trove community browse {}` lists its public shares", short(&c.share_id));
            });
        }
        CommunityCmd::Leave { community } => {
            let l = b.community_leave(param(community.clone())).await?;
            if !l.ok {
                return Err(CliError::not_found(format!("not a member of community '{community}'")));
            }
            emit(g, &l, |_| println!("left {community}"));
        }
        CommunityCmd::List => {
            let list = b.communities().await?;
            emit(g, &list, |v| {
                if v.is_empty() {
                    println!(
                        "no communities joined: `trove community join LINK` joins one, `trove community create` makes one"
                    );
                    return;
                }
                let mut rows = vec![header(&["NAME", "ID", "ROLE", "MODE", "TOKEN"])];
                for c in v {
                    rows.push(vec![
                        or_dash(c.name.as_deref()).into(),
                        c.share_id.to_hex(),
                        if c.owner { "owner" } else { "member" }.into(),
                        if c.strict { "strict" } else { "open" }.into(),
                        if c.token.is_some() { "yes" } else { "-" }.into(),
                    ]);
                }
                table(&rows);
            });
        }
        CommunityCmd::Members { community } => {
            let list = b.community_members(param(community)).await?;
            emit(g, &list, |v| {
                if v.is_empty() {
                    println!("no members known yet: `trove community refresh` asks the network");
                    return;
                }
                let mut rows = vec![header(&["NODE", "KIND", "TOKEN", "ADDRESSES"])];
                for m in v {
                    let mut node = m.node_id[..16.min(m.node_id.len())].to_string();
                    if m.is_self {
                        node.push_str(" (you)");
                    }
                    rows.push(vec![
                        node,
                        if m.v1 { "v1" } else { "trove" }.into(),
                        if m.has_token { "yes" } else { "-" }.into(),
                        m.addrs.join(", "),
                    ]);
                }
                table(&rows);
            });
        }
        CommunityCmd::Browse { community, limit, cursor } => {
            let page = b.community_browse(CommunityParam { community, cursor, limit: Some(limit) }).await?;
            emit(g, &page, |p| {
                if p.shares.is_empty() {
                    println!("no public shares in this view yet: `trove community refresh` asks the members");
                }
                for s in &p.shares {
                    println!(
                        "{} (revision {}){}",
                        s.title.as_deref().unwrap_or("untitled"),
                        s.seq,
                        if s.is_own { ", yours" } else { "" }
                    );
                    if let Some(d) = &s.description {
                        println!("  {d}");
                    }
                    println!("  {}", s.link);
                }
                if let Some(n) = &p.next {
                    println!("more: --cursor {n}");
                }
            });
        }
        CommunityCmd::Refresh { community } => {
            let r = b.community_refresh(param(community)).await?;
            emit(g, &r, |r| {
                println!(
                    "asked {} peers ({} trove, {} v1): {} members, {} public shares in view",
                    r.candidates, r.trove_peers, r.v1_members, r.members, r.shares
                );
                for e in &r.errors {
                    println!("  {e}");
                }
            });
        }
        CommunityCmd::Token { action: TokenCmd::Issue { community, member, days } } => {
            let t = b.community_issue_token(IssueBody { community, member, days: Some(days) }).await?;
            emit(g, &t, |t| println!("{}", t.hex));
        }
        CommunityCmd::Token { action: TokenCmd::Set { community, token } } => {
            let c = b.community_set_token(SetTokenBody { community, token }).await?;
            emit(g, &c, |c| println!("token installed for {}", community_line(c)));
        }
        CommunityCmd::Strict { community, on } => {
            let c = b.community_set_strict(StrictBody { community, strict: on }).await?;
            emit(g, &c, |c| println!("{}: {}", community_line(c), if c.strict { "strict" } else { "open" }));
        }
    }
    Ok(())
}
