//! Kafka-protocol listeners: accept connections, read size-prefixed frames, dispatch each
//! request to the listener's handler and write responses in request order. Only undecodable
//! or unsupported requests close a connection; other connections are unaffected.

pub mod client;
pub mod connection;
pub mod dispatch;
pub mod listener;

pub use dispatch::{Dispatcher, ListenerKind};
pub use listener::BoundListener;
