//! Where the node keeps the search index in step with manifests: own shares on publish,
//! subscriptions on sync, removal on unsubscribe.

use crate::node::Inner;
use trove_proto::ShareId;
use trove_proto::wire::Manifest;
use trove_store::db::Subscription;

/// Indexes a revision of one of our own shares.
pub(crate) fn index_own(_inner: &Inner, _share: &ShareId, _manifest: &Manifest) {}

/// Indexes a subscription's new manifest.
pub(crate) fn index_subscription(_inner: &Inner, _sub: &Subscription, _manifest: &Manifest) {}

/// Removes a share from the index.
pub(crate) fn remove_share(_inner: &Inner, _share: &ShareId) {}
