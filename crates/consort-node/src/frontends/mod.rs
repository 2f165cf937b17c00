//! The node's own frontends, registered next to the applications' endpoints: `node`
//! (`/node/*`, `/app/receipt`, OpenAPI), `gov` (CCF's governance API) and `join` (the join
//! service). Each gets, besides a handler's context, only the small state it names.

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
) -> Registry {
    let mut r = apps.clone();
    node::register(&mut r, node_frontend.clone());
    join::register(&mut r, join);
    quotes::register(&mut r);
    gov::register(&mut r, apps);
    let _ = node_frontend.registry.set(r.clone());
    r
}
