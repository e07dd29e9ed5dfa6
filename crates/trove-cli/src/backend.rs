//! Where a command runs: through the running daemon of the data directory (HTTP API) when
//! there is one, otherwise in-process on a node started for this command (which takes the
//! data-directory lock, so a second process gets a clear error). Both sides end in
//! [`crate::ops`], so results and errors are the same.

use crate::api_ext::{SubscriptionUpdate, VisibilityBody};
use crate::args::Global;
use crate::client::{ApiClient, EventStream};
use crate::community::{self as comm, CommunityParam, CreateBody, IssueBody, JoinBody, Left, SetTokenBody, StrictBody};
use crate::error::CliResult;
use crate::local;
use crate::ops::{self, *};
use crate::runfiles;
use tokio::sync::broadcast;
use trove_node::api::{BrowseEntry, DownloadView, Listing, PeerView, ShareInfo, SubscriptionInfo};
use trove_node::community::{BrowsePage, CommunityInfo, MemberView, RefreshReport, TokenView};
use trove_node::download::get::{GetReport, GetRequest};
use trove_node::publish::{PublishRequest, PublishResult};
use trove_node::sync::SyncReport;
use trove_node::{Event, Node};

/// The node a command talks to.
pub enum Backend {
    /// A node started in this process.
    Local(Node),
    /// The daemon's API.
    Remote(ApiClient),
}

/// Events from either kind of backend, as JSON objects tagged by `type`.
pub enum EventSource {
    Local(broadcast::Receiver<Event>),
    Remote(EventStream),
}

impl EventSource {
    /// The next event; None when the source ended.
    pub async fn next(&mut self) -> Option<serde_json::Value> {
        match self {
            EventSource::Local(rx) => loop {
                match rx.recv().await {
                    Ok(e) => return serde_json::to_value(&e).ok(),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            },
            EventSource::Remote(s) => s.next().await,
        }
    }
}

impl Backend {
    /// The daemon if one runs for the data directory, else a node in this process (one that
    /// contacts nobody when `local_only`, see [`trove_node::NodeConfig::local_only`]).
    pub async fn connect(g: &Global, local_only: bool) -> CliResult<Backend> {
        let dir = local::data_dir(g);
        if let Some(c) = ApiClient::discover(&dir).await {
            tracing::debug!("using the daemon at {}", c.addr());
            return Ok(Backend::Remote(c));
        }
        let mut cfg = local::node_config(g)?;
        cfg.local_only = local_only;
        let node = local::start_node(cfg, true, g.quiet).await?;
        // This process holds the data-directory lock: a daemon.json here is a dead daemon's.
        runfiles::remove_daemon(&dir, None);
        Ok(Backend::Local(node))
    }

    /// Stops an in-process node (saving what needs saving).
    pub async fn close(self) {
        if let Backend::Local(n) = self {
            n.shutdown().await;
        }
    }

    /// Whether commands go through a daemon.
    pub fn is_remote(&self) -> bool {
        matches!(self, Backend::Remote(_))
    }

    /// The node's events from now on (None if the daemon's stream cannot be opened).
    pub async fn events(&self) -> Option<EventSource> {
        match self {
            Backend::Local(n) => Some(EventSource::Local(n.events())),
            Backend::Remote(c) => match c.events().await {
                Ok(s) => Some(EventSource::Remote(s)),
                Err(e) => {
                    tracing::debug!("no event stream: {e}");
                    None
                }
            },
        }
    }

    pub async fn publish(&self, req: PublishRequest) -> CliResult<PublishResult> {
        match self {
            Backend::Local(n) => ops::publish(n, req).await,
            Backend::Remote(c) => c.post("/api/publish", &req).await,
        }
    }

    pub async fn shares(&self) -> CliResult<Vec<ShareInfo>> {
        match self {
            Backend::Local(n) => ops::shares(n),
            Backend::Remote(c) => c.get("/api/shares").await,
        }
    }

    pub async fn link(&self, share: &str) -> CliResult<LinkView> {
        match self {
            Backend::Local(n) => ops::link(n, share),
            Backend::Remote(c) => c.get_query("/api/link", &ShareParam { share: share.into() }).await,
        }
    }

    pub async fn subscribe(&self, body: SubscribeBody) -> CliResult<SyncReport> {
        match self {
            Backend::Local(n) => ops::subscribe(n, body).await,
            Backend::Remote(c) => c.post("/api/subscribe", &body).await,
        }
    }

    pub async fn unsubscribe(&self, share: &str) -> CliResult<Done> {
        match self {
            Backend::Local(n) => ops::unsubscribe(n, share).await,
            Backend::Remote(c) => c.post("/api/unsubscribe", &ShareParam { share: share.into() }).await,
        }
    }

    pub async fn subscriptions(&self) -> CliResult<Vec<SubscriptionInfo>> {
        match self {
            Backend::Local(n) => ops::subscriptions(n),
            Backend::Remote(c) => c.get("/api/subscriptions").await,
        }
    }

    pub async fn sync(&self) -> CliResult<Vec<SyncReport>> {
        match self {
            Backend::Local(n) => ops::sync(n).await,
            Backend::Remote(c) => c.post("/api/sync", &serde_json::json!({})).await,
        }
    }

    pub async fn search(&self, p: &SearchParams) -> CliResult<SearchView> {
        match self {
            Backend::Local(n) => ops::search(n, p).await,
            Backend::Remote(c) => c.get_query("/api/search", p).await,
        }
    }

    pub async fn ls(&self, p: &LsParams) -> CliResult<Listing> {
        match self {
            Backend::Local(n) => ops::ls(n, p).await,
            Backend::Remote(c) => c.get_query("/api/ls", p).await,
        }
    }

    pub async fn get(&self, req: GetRequest) -> CliResult<GetReport> {
        match self {
            Backend::Local(n) => ops::get(n, req).await,
            Backend::Remote(c) => c.post("/api/get", &req).await,
        }
    }

    pub async fn fetch(&self, body: FetchBody) -> CliResult<FetchView> {
        match self {
            Backend::Local(n) => ops::fetch(n, body).await,
            Backend::Remote(c) => c.post("/api/fetch", &body).await,
        }
    }

    pub async fn browse(&self) -> CliResult<Vec<BrowseEntry>> {
        match self {
            Backend::Local(n) => ops::browse(n).await,
            Backend::Remote(c) => c.get("/api/browse").await,
        }
    }

    pub async fn peers(&self) -> CliResult<Vec<PeerView>> {
        match self {
            Backend::Local(n) => Ok(ops::peers(n)),
            Backend::Remote(c) => c.get("/api/peers").await,
        }
    }

    pub async fn status(&self) -> CliResult<StatusView> {
        match self {
            Backend::Local(n) => ops::status(n, None),
            Backend::Remote(c) => c.get("/api/status").await,
        }
    }

    pub async fn identity(&self) -> CliResult<IdentityView> {
        match self {
            Backend::Local(n) => ops::identity(n),
            Backend::Remote(c) => c.get("/api/identity").await,
        }
    }

    pub async fn export_key(&self, body: ExportBody) -> CliResult<KeyExport> {
        match self {
            Backend::Local(n) => ops::export_key(n, &body),
            Backend::Remote(c) => c.post("/api/identity/export", &body).await,
        }
    }

    pub async fn import_key(&self, body: ImportBody) -> CliResult<ShareInfo> {
        match self {
            Backend::Local(n) => ops::import_key(n, &body),
            Backend::Remote(c) => c.post("/api/identity/import", &body).await,
        }
    }

    pub async fn downloads(&self) -> CliResult<Vec<DownloadView>> {
        match self {
            Backend::Local(n) => ops::downloads(n),
            Backend::Remote(c) => c.get("/api/downloads").await,
        }
    }

    pub async fn set_visibility(&self, body: VisibilityBody) -> CliResult<PublishResult> {
        match self {
            Backend::Local(n) => Ok(n.set_visibility(&body.share, body.public).await?),
            Backend::Remote(c) => c.post("/api/shares/visibility", &body).await,
        }
    }

    pub async fn update_subscription(&self, body: SubscriptionUpdate) -> CliResult<SubscriptionInfo> {
        match self {
            Backend::Local(n) => ops::update_subscription(n, &body).await,
            Backend::Remote(c) => c.post("/api/subscriptions/update", &body).await,
        }
    }

    pub async fn communities(&self) -> CliResult<Vec<CommunityInfo>> {
        match self {
            Backend::Local(n) => comm::list(n),
            Backend::Remote(c) => c.get("/api/communities").await,
        }
    }

    pub async fn community_create(&self, body: CreateBody) -> CliResult<CommunityInfo> {
        match self {
            Backend::Local(n) => comm::create(n, &body).await,
            Backend::Remote(c) => c.post("/api/communities/create", &body).await,
        }
    }

    pub async fn community_join(&self, body: JoinBody) -> CliResult<CommunityInfo> {
        match self {
            Backend::Local(n) => comm::join(n, &body).await,
            Backend::Remote(c) => c.post("/api/communities/join", &body).await,
        }
    }

    pub async fn community_leave(&self, p: CommunityParam) -> CliResult<Left> {
        match self {
            Backend::Local(n) => comm::leave(n, &p).await,
            Backend::Remote(c) => c.post("/api/communities/leave", &p).await,
        }
    }

    pub async fn community_refresh(&self, p: CommunityParam) -> CliResult<RefreshReport> {
        match self {
            Backend::Local(n) => comm::refresh(n, &p).await,
            Backend::Remote(c) => c.post("/api/communities/refresh", &p).await,
        }
    }

    pub async fn community_members(&self, p: CommunityParam) -> CliResult<Vec<MemberView>> {
        match self {
            Backend::Local(n) => comm::members(n, &p),
            Backend::Remote(c) => c.get_query("/api/communities/members", &p).await,
        }
    }

    pub async fn community_browse(&self, p: CommunityParam) -> CliResult<BrowsePage> {
        match self {
            Backend::Local(n) => comm::browse(n, &p),
            Backend::Remote(c) => c.get_query("/api/communities/browse", &p).await,
        }
    }

    pub async fn community_issue_token(&self, body: IssueBody) -> CliResult<TokenView> {
        match self {
            Backend::Local(n) => comm::issue_token(n, &body),
            Backend::Remote(c) => c.post("/api/communities/token/issue", &body).await,
        }
    }

    pub async fn community_set_token(&self, body: SetTokenBody) -> CliResult<CommunityInfo> {
        match self {
            Backend::Local(n) => comm::set_token(n, &body).await,
            Backend::Remote(c) => c.post("/api/communities/token/set", &body).await,
        }
    }

    pub async fn community_set_strict(&self, body: StrictBody) -> CliResult<CommunityInfo> {
        match self {
            Backend::Local(n) => comm::set_strict(n, &body),
            Backend::Remote(c) => c.post("/api/communities/strict", &body).await,
        }
    }
}
