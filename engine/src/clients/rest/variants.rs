//! The REST variants, one static each; what differs between them is in [`Rest`]'s fields.

use wirebench_servers::coding::Coding;

use super::Media;
use crate::clients::Role;

/// A REST variant.
#[derive(Debug)]
pub struct Rest {
    pub(super) name: &'static str,
    pub(super) describe: &'static str,
    pub(super) http2: bool,
    /// Use `include=orders` and `POST /v1/orders/batch` instead of several requests.
    pub(super) fewer_round_trips: bool,
    /// Compress request bodies and ask for compressed answers (`Accept-Encoding`) in this
    /// coding, and decompress them.
    pub(super) coding: Option<Coding>,
    /// Send independent requests at once on one HTTP/2 connection (user-orders' two GETs).
    pub(super) concurrent: bool,
    /// What the bodies are in.
    pub(super) media: Media,
    /// Main for plain REST+JSON over HTTP/1.1; every other REST variant is a variation of it.
    pub(super) role: crate::clients::Role,
}

pub static REST: Rest = Rest {
    name: "rest",
    describe: "REST+JSON over HTTP/1.1 keep-alive; user-orders is two GETs, import is N POSTs",
    http2: false,
    fewer_round_trips: false,
    coding: None,
    concurrent: false,
    media: Media::Json,
    role: Role::Main,
};
pub static REST_H2: Rest = Rest {
    name: "rest-h2",
    describe: "the same REST calls over HTTP/2 cleartext (prior knowledge)",
    http2: true,
    fewer_round_trips: false,
    coding: None,
    concurrent: false,
    media: Media::Json,
    role: Role::Variant,
};
pub static REST_H2_CONCURRENT: Rest = Rest {
    name: "rest-h2-concurrent",
    describe: "REST over HTTP/2 sending independent GETs at once on one connection (user-orders' two, users-orders' N)",
    http2: true,
    fewer_round_trips: false,
    coding: None,
    concurrent: true,
    media: Media::Json,
    role: Role::Variant,
};
pub static REST_INCLUDE: Rest = Rest {
    name: "rest-include",
    describe: "REST over HTTP/1.1 using include=orders (1 GET, also for N users) and the batch endpoint (1 POST)",
    http2: false,
    fewer_round_trips: true,
    coding: None,
    concurrent: false,
    media: Media::Json,
    role: Role::Variant,
};
pub static REST_GZIP: Rest = Rest {
    name: "rest-gzip",
    describe: "REST over HTTP/1.1 with gzip (level 6) bodies both ways: Content-Encoding on requests, Accept-Encoding on answers (a compressed body counts as data)",
    http2: false,
    fewer_round_trips: false,
    coding: Some(Coding::Gzip),
    concurrent: false,
    media: Media::Json,
    role: Role::Variant,
};
pub static REST_BR: Rest = Rest {
    name: "rest-br",
    describe: "REST over HTTP/1.1 with brotli (quality 4) bodies both ways",
    http2: false,
    fewer_round_trips: false,
    coding: Some(Coding::Br),
    concurrent: false,
    media: Media::Json,
    role: Role::Variant,
};
pub static REST_ZSTD: Rest = Rest {
    name: "rest-zstd",
    describe: "REST over HTTP/1.1 with zstd (level 3) bodies both ways",
    http2: false,
    fewer_round_trips: false,
    coding: Some(Coding::Zstd),
    concurrent: false,
    media: Media::Json,
    role: Role::Variant,
};
pub static REST_PROTO: Rest = Rest {
    name: "rest-proto",
    describe: "the same REST calls over HTTP/1.1 with protobuf bodies (Accept and Content-Type application/x-protobuf: gRPC's messages; stream-orders as delimited messages)",
    http2: false,
    fewer_round_trips: false,
    coding: None,
    concurrent: false,
    media: Media::Protobuf,
    role: Role::Variant,
};
pub static REST_PROTO_H2: Rest = Rest {
    name: "rest-proto-h2",
    describe: "REST with protobuf bodies over HTTP/2 cleartext (prior knowledge)",
    http2: true,
    fewer_round_trips: false,
    coding: None,
    concurrent: false,
    media: Media::Protobuf,
    role: Role::Variant,
};
pub static REST_SSE: Rest = Rest {
    name: "rest-sse",
    describe: "REST over HTTP/1.1 with stream-orders as server-sent events (text/event-stream, one data: event per order) instead of NDJSON",
    http2: false,
    fewer_round_trips: false,
    coding: None,
    concurrent: false,
    media: Media::EventStream,
    role: Role::Variant,
};
