//! Long-lived sessions over a WebSocket. An application registers a socket endpoint
//! ([`crate::Registry::add_socket`]); the node upgrades an authenticated `GET` of it and
//! drives the application's [`Session`]: each text message in, and each move of the commit
//! point, may produce messages out. A message the session does not handle itself runs as
//! a request to the application's HTTP endpoint, with the connection's credentials.

use std::sync::Arc;

use crate::{
    api::{ApiError, Request},
    context::{Ctx, Host},
};

/// What becomes of a message from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound {
    /// This answer goes back on the socket.
    Reply(String),
    /// Run the message as the body of a `POST` to [`SocketApp::request_path`]; its response
    /// body goes back on the socket — with `until_committed`, once the transaction that
    /// answered it (its transaction id header) is committed on this node.
    AsRequest { until_committed: bool },
}

/// One client's session.
pub trait Session: Send {
    /// A text message from the client.
    fn on_message(&mut self, ctx: &mut Ctx<'_>, text: &str) -> Inbound;
    /// What to push now that `committed` is the commit point: messages, and whether more
    /// are ready (a session pushes a bounded amount per call).
    fn on_commit(&mut self, ctx: &mut Ctx<'_>, committed: u64) -> (Vec<String>, bool);
    /// A request this session handed back was answered from the state at `seqno` (maybe on
    /// another node, ahead of this one): the client may have seen everything up to it.
    fn answered_at(&mut self, seqno: u64) {
        let _ = seqno;
    }
}

/// An application's socket endpoint.
pub trait SocketApp: Send + Sync {
    /// A session for the authenticated caller of `ctx`, or why not (e.g. it holds too many).
    fn open(&self, ctx: &mut Ctx<'_>) -> Result<Box<dyn Session>, ApiError>;
    /// The path of the `POST` endpoint that runs the messages a session hands back.
    fn request_path(&self) -> &str;
}

/// A shared socket application.
pub type SocketHandler = Arc<dyn SocketApp>;

/// Run `f` on a read-only view of the current state for `req` (whose caller is
/// authenticated): what a socket session's calls get.
pub fn with_ctx<R>(host: &dyn Host, req: &Request, f: impl FnOnce(&mut Ctx<'_>) -> R) -> R {
    let mut tx = host.begin();
    f(&mut Ctx::new(host, req, &mut tx))
}
