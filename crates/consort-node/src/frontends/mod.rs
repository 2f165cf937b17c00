//! The node's own frontends, registered next to the applications' endpoints: `node`
//! (`/node/*`, `/app/receipt`, OpenAPI), `gov` (CCF's governance API), `join` (the join
//! service) and `files` (snapshots and ledger chunks for other nodes). Each gets, besides a handler's context, only the small state it names.

pub mod files;
pub mod gov;
pub mod join;
pub mod node;
pub mod quotes;

use std::sync::Arc;

use consort_endpoints::Registry;

/// The full registry of a node: the applications' endpoints (`apps`), then the node's
/// frontends.
pub(crate) fn registry(
    apps: Registry,
    node_frontend: Arc<node::NodeFrontend>,
    join: Arc<join::JoinService>,
    files: Arc<files::FileService>,
) -> Registry {
    let mut r = apps.clone();
    node::register(&mut r, node_frontend.clone());
    join::register(&mut r, join);
    files::register(&mut r, files);
    quotes::register(&mut r);
    gov::register(&mut r, apps);
    let _ = node_frontend.registry.set(r.clone());
    r
}
