//! Applications shipped with the node.

pub mod logging;
