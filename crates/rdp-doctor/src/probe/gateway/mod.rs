//! The RD Gateway path: the phases a check runs against the gateway before the target's
//! phases run inside its tunnel.

pub mod channel;
pub mod client;
