//! Request framing and decoding for every API a listener advertises.
//!
//! Input: one byte picking the listener (broker, controller or raft-only, see
//! `kraftd_fuzz::Listener`), then the bytes a client sends: size-prefixed frames. Each frame
//! is read as the connection reads it, its header parsed against the listener's table, and
//! its body decoded as the server decodes that API. An Envelope's principal, client address
//! and inner request (against the forwardable APIs) are decoded too.
#![no_main]

use std::future::Future;
use std::pin::pin;
use std::sync::OnceLock;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, EnvelopeRequest};
use kraftd::protocol::request::{self, Parsed, RequestHead};
use kraftd::protocol::{ApiTable, envelope, frame};
use kraftd_fuzz::Listener;
use libfuzzer_sys::fuzz_target;

/// `socket.request.max.bytes` for the fuzzer: more than any input.
const MAX_FRAME: u32 = 1 << 20;
/// Frames read from one input at most.
const MAX_FRAMES: usize = 32;

struct Tables {
    listeners: Vec<ApiTable>,
    envelope: ApiTable,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| Tables {
        listeners: Listener::ALL.iter().map(|l| l.apis()).collect(),
        envelope: kraftd_fuzz::envelope_apis(),
    })
}

/// Reads one frame from `input` (a byte slice never makes the reader wait).
fn read_frame(input: &mut &[u8]) -> Result<Option<Bytes>, frame::FrameError> {
    let mut read = pin!(frame::read_frame(input, MAX_FRAME));
    match read.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(result) => result,
        Poll::Pending => unreachable!("reading a byte slice does not wait"),
    }
}

fn serve(head: &RequestHead) {
    if head.api_key != ApiKey::Envelope {
        let _ = kraftd_fuzz::decode_request(head);
        return;
    }
    let Ok(envelope) = request::decode_body::<EnvelopeRequest>(head) else {
        return;
    };
    let _ = envelope::principal(envelope.request_principal.as_ref());
    let _ = envelope::address(&envelope.client_host_address);
    if let Ok(Parsed::Request(inner)) = request::parse(envelope.request_data, &tables().envelope) {
        let _ = kraftd_fuzz::decode_request(&inner);
    }
}

fuzz_target!(
    init: {
        kraftd_fuzz::write_seeds_if_asked(kraftd_fuzz::seeds::requests);
        // Every advertised API has a decoder here (a missing one panics on first use).
        let tables = tables();
        for table in tables.listeners.iter().chain([&tables.envelope]) {
            for api in table.apis() {
                let frame = kraftd_fuzz::seeds::request_frame(
                    api.key,
                    api.min,
                    &kraftd_fuzz::default_request(api.key)
                        .unwrap_or_else(|| panic!("{:?} has no request type here", api.key)),
                )
                .expect("a default request encodes");
                let Ok(Parsed::Request(head)) = request::parse(Bytes::from(frame).slice(4..), table)
                else {
                    panic!("{:?} v{} does not parse", api.key, api.min);
                };
                serve(&head);
            }
        }
    },
    |data: &[u8]| {
    let Some((&which, mut input)) = data.split_first() else {
        return;
    };
    let table = &tables().listeners[Listener::from_byte(which) as usize];
    for _ in 0..MAX_FRAMES {
        let Ok(Some(frame)) = read_frame(&mut input) else {
            return;
        };
        if let Ok(Parsed::Request(head)) = request::parse(frame, table) {
            serve(&head);
        }
    }
});
