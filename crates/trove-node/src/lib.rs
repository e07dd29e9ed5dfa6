//! `trove-node`: the running node. Publishing, subscribing and following revisions, the
//! download swarm and seeding, the DHT driver, peer discovery; the Rust API that the CLI,
//! the HTTP API and the UIs use.

pub mod alloc;
pub mod api;
pub mod community;
pub mod config;
pub mod content;
mod dht_driver;
pub mod discovery;
pub mod download;
pub mod error;
pub mod events;
pub mod heads;
pub mod lan;
mod maintenance;
pub mod mime;
pub mod node;
pub mod peers;
pub mod publish;
pub mod relay;
mod search_hooks;
pub mod serve;
pub mod serve_buffers;
pub mod settings;
pub mod share_ref;
pub mod sync;
pub mod throttle;
pub mod views;
mod wait;

pub use config::NodeConfig;
pub use error::{NodeError, Result};
pub use events::Event;
pub use node::Node;
pub use publish::{PublishRequest, PublishResult};
pub use sync::SyncReport;
