//! Kafka-protocol listeners, for any role: accept connections (counted and capped), read
//! size-prefixed frames, hand each request with its connection's [`Session`] to the
//! listener's [`Service`] and write responses in request order. Only undecodable or
//! unsupported requests close a connection; other connections are unaffected.
//!
//! This module knows no role: brokers, controllers and the raft quorum each bring a
//! [`Service`] built from their own [`RouteTable`].

pub mod client;
pub mod connection;
pub mod connection_quotas;
pub mod listener;
pub mod service;
pub mod session;

pub use connection::ConnectionSettings;
pub use connection_quotas::ConnectionQuotas;
pub use listener::BoundListener;
pub use service::{Handled, Route, RouteTable, RoutedService, Service};
pub use session::Session;
