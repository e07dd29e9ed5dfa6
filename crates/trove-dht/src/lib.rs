//! `trove-dht`: Kademlia for SCP2P as a *sans-io* core. It owns the k-bucket
//! [`RoutingTable`], the iterative [`Lookup`] state machine, keyspace [`validate`]ion and the
//! [`RecordStore`], and the [`Dht`] facade that ties them together and answers FIND_NODE,
//! FIND_VALUE and STORE (SCP2P-WIRE.md §4.2, §8). It opens no sockets, spawns nothing and
//! reads no clock: every call takes `now` (unix seconds) and randomness comes from the caller.
//!
//! # Driving it
//!
//! Serving: decode the envelope, turn it into a [`DhtRequest`] with
//! [`DhtRequest::from_any`], call [`Dht::handle`] with the session's [`Source`] and send
//! [`DhtResponse::to_payload`] under [`DhtResponse::msg_type`], or on error the text
//! [`DhtError::wire_text`] as an error envelope of the request's type. Feed every
//! authenticated session to [`Dht::observe_peer`]; when it answers
//! [`InsertOutcome::PingRequired`], ping that entry (any request with a deadline) and report
//! with [`RoutingTable::report_ping`].
//!
//! Looking up:
//!
//! ```no_run
//! # use trove_dht::*;
//! # async fn send(_: &trove_proto::wire::PeerAddr, _: &QueryRequest) -> Result<(Vec<trove_proto::wire::PeerAddr>, Option<trove_proto::wire::Store>), ()> { Err(()) }
//! # async fn demo(dht: &mut Dht, target: trove_proto::NodeId, now: impl Fn() -> u64) -> LookupResult {
//! let mut lookup = dht.find_node(target, &[], now());
//! loop {
//!     for action in lookup.poll(now()) {
//!         match action {
//!             LookupAction::Query { peer, request } => {
//!                 // A real driver sends these concurrently and reports each as it completes.
//!                 match send(&peer, &request).await {
//!                     Ok((closer, value)) => lookup.on_response(&peer, closer, value, now()),
//!                     Err(()) => lookup.on_failure(&peer),
//!                 }
//!             }
//!             LookupAction::Finished(result) => {
//!                 dht.apply_lookup_result(&result);
//!                 return *result;
//!             }
//!         }
//!     }
//!     // With queries outstanding, wait for an answer or until `lookup.next_deadline()`.
//! }
//! # }
//! ```
//!
//! Share heads: `dht.find_value(ValueTarget::share_head(share_pubkey), &bootstrap, now)`
//! keeps going until the lookup ends and returns the freshest verified head; store it to
//! [`LookupResult::missing_value`]. Any other value: [`ValueTarget::first`].
//!
//! Maintenance: [`Dht::due_republish`] (then a FIND_NODE lookup per record and STOREs to the
//! closest found), [`Dht::expire`], and refresh lookups for
//! [`RoutingTable::buckets_needing_refresh`] with targets from
//! [`RoutingTable::random_id_in_bucket`]. [`Dht::next_republish`] and
//! [`Lookup::next_deadline`] say when to wake up.

pub mod dht;
pub mod distance;
pub mod error;
mod id_cache;
pub mod lookup;
pub mod prefix;
pub mod republish;
pub mod routing_table;
pub mod source;
pub mod store;
pub mod validate;

pub use dht::{Dht, DhtConfig, DhtRequest, DhtResponse};
pub use distance::{BUCKETS, Distance, bucket_index};
pub use error::{DhtError, Result};
pub use lookup::{FoundValue, Lookup, LookupAction, LookupConfig, LookupResult, QueryRequest, ValueMode, ValueTarget};
pub use prefix::IpPrefix;
pub use republish::{RepublishConfig, Republisher};
pub use routing_table::{Entry, FailOutcome, InsertOutcome, Rejection, RoutingConfig, RoutingTable};
pub use source::Source;
pub use store::{EntryPolicy, PutOutcome, RecordStore, StoreConfig, applied_ttl};
pub use validate::{Authenticity, Keyspace, Record, authenticate, validate_value};
