//! Kafka wire glue with no business logic: size-prefixed framing, request headers, the one
//! table of supported API versions, and error-code names. Message bodies are the
//! `kafka-protocol` crate's types.

pub mod api_versions;
pub mod envelope;
pub mod error_code;
pub mod frame;
pub mod request;
pub mod response;

pub use api_versions::{ApiRange, ApiTable};
pub use frame::FrameError;
pub use request::{RequestError, RequestHead};
pub use response::EncodedResponse;
