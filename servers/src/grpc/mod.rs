//! gRPC + Protobuf with tonic: the `wirebench.v1.Shop` service in all four call modes, plus
//! the standard health service and server reflection so stock tools (grpcurl, generated
//! clients in any language) work against it. The Shop service also takes JSON messages
//! (`application/grpc+json`, see [`codecs`]) and gRPC-Web over HTTP/1.1 or HTTP/2
//! (`application/grpc-web+proto`, translated by tonic-web), the way browsers reach gRPC.
//!
//! Domain errors map to status codes in [`status`]; a message over the size limit is
//! RESOURCE_EXHAUSTED (tonic's own check); a body that is not valid protobuf is tonic's
//! INTERNAL "failed to decode Protobuf message".

use std::pin::Pin;

use futures::future::BoxFuture;
use futures::{Stream, StreamExt};
use tokio::net::TcpListener;
use tokio_stream::wrappers::BroadcastStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};
use wirebench_domain::store::MAX_BATCH;
use wirebench_domain::{DomainError, Store};
use wirebench_proto::v1 as pb;
use wirebench_proto::v1::shop_server::{Shop, ShopServer};

use crate::pb_ops::{self, OpError};
use crate::{ProtocolServer, ServerContext};

mod codecs;
pub use codecs::ByCodec;

/// The gRPC server.
#[derive(Debug)]
pub struct Grpc;

impl ProtocolServer for Grpc {
    fn name(&self) -> &'static str {
        "grpc"
    }

    fn describe(&self) -> &'static str {
        "gRPC+Protobuf (h2c), all four call modes, health + reflection; JSON codec; gRPC-Web over HTTP/1.1"
    }

    fn url(&self, addr: std::net::SocketAddr) -> String {
        format!("http://{addr}")
    }

    fn serve(
        &self,
        listener: TcpListener,
        ctx: ServerContext,
        shutdown: CancellationToken,
    ) -> BoxFuture<'static, std::io::Result<()>> {
        Box::pin(async move {
            let (health, health_service) = tonic_health::server::health_reporter();
            health.set_serving::<ShopServer<ShopService>>().await;
            // Reflection in both versions: grpcurl and newer clients ask v1, many existing
            // clients (Python's grpcio-reflection, older grpcurl) still ask v1alpha.
            let reflection = || {
                tonic_reflection::server::Builder::configure()
                    .register_encoded_file_descriptor_set(wirebench_proto::FILE_DESCRIPTOR_SET)
                    .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            };
            let reflection_v1 = reflection().build_v1().map_err(std::io::Error::other)?;
            let reflection_v1alpha = reflection().build_v1alpha().map_err(std::io::Error::other)?;
            let routes = tonic::service::Routes::new(health_service)
                .add_service(reflection_v1)
                .add_service(reflection_v1alpha)
                .add_service(tower::Layer::layer(&tonic_web::GrpcWebLayer::new(), by_codec(&ctx)))
                .prepare()
                .into_axum_router()
                .layer(tower::util::MapResponseLayer::new(size_limit_is_resource_exhausted));
            let config = ctx.config.clone();
            crate::http::serve_router(listener, routes, config, crate::http::Flavor::Grpc, shutdown).await
        })
    }
}

/// tonic 0.14 answers a request message over the decoding limit with OUT_OF_RANGE; gRPC's
/// own guidance (and this project's contract) is RESOURCE_EXHAUSTED. Rewrites exactly that
/// answer, which tonic sends as a trailers-only response (status in the headers).
fn size_limit_is_resource_exhausted<B>(mut res: http::Response<B>) -> http::Response<B> {
    let headers = res.headers_mut();
    let too_large = headers.get("grpc-status").is_some_and(|v| v == "11")
        && headers
            .get("grpc-message")
            .and_then(|v| v.to_str().ok())
            // grpc-message is percent-encoded on the wire.
            .is_some_and(|m| m.replace("%20", " ").contains("message length too large"));
    if too_large {
        headers.insert("grpc-status", http::HeaderValue::from_static("8"));
    }
    res
}

/// The Shop service with the configured message size limits.
pub fn service(ctx: &ServerContext) -> ShopServer<ShopService> {
    use tonic::codec::CompressionEncoding::{Gzip, Zstd};
    // Compressed messages both ways, when the client asks (grpc-encoding, grpc-accept-encoding).
    ShopServer::new(ShopService { store: ctx.store.clone() })
        .max_decoding_message_size(ctx.config.max_body_bytes)
        .max_encoding_message_size(usize::MAX)
        .accept_compressed(Gzip)
        .accept_compressed(Zstd)
        .send_compressed(Gzip)
        .send_compressed(Zstd)
}

/// The Shop service with either codec, by the content type a call names.
pub fn by_codec(ctx: &ServerContext) -> ByCodec {
    let json =
        wirebench_proto::json_v1::shop_server::ShopServer::new(ShopService { store: ctx.store.clone() })
            .max_decoding_message_size(ctx.config.max_body_bytes)
            .max_encoding_message_size(usize::MAX);
    ByCodec { protobuf: service(ctx), json }
}

/// Implements `wirebench.v1.Shop` over the shared store.
#[derive(Debug, Clone)]
pub struct ShopService {
    store: std::sync::Arc<Store>,
}

/// The status code a domain error maps to.
pub fn status_code(e: &DomainError) -> tonic::Code {
    match e {
        DomainError::NotFound { .. } => tonic::Code::NotFound,
        DomainError::Invalid(_) | DomainError::InvalidCursor(_) => tonic::Code::InvalidArgument,
        DomainError::TooLarge(_) => tonic::Code::ResourceExhausted,
        DomainError::Conflict(_) => tonic::Code::FailedPrecondition,
        DomainError::IdempotencyMismatch { .. } => tonic::Code::AlreadyExists,
        DomainError::IdempotencyInFlight { .. } => tonic::Code::Aborted,
        DomainError::Unavailable { .. } => tonic::Code::Unavailable,
        DomainError::Overloaded { .. } => tonic::Code::ResourceExhausted,
    }
}

/// gRPC A6's trailer with the time a retry should wait, in milliseconds.
pub const PUSHBACK: &str = "grpc-retry-pushback-ms";

/// The status a failed operation answers with.
pub fn status(e: OpError) -> Status {
    match e {
        OpError::Domain(e) => {
            let mut status = Status::new(status_code(&e), e.to_string());
            // gRPC A6's server pushback: how long the client's retry should wait.
            if let Some(d) = e.retry_after() {
                status.metadata_mut().insert(PUSHBACK, d.as_millis().to_string().parse().expect("digits"));
            }
            status
        }
        OpError::Convert(e) => Status::invalid_argument(e.0),
    }
}

/// The canonical name of a domain error's status code, as grpcurl and the gRPC docs spell it.
fn code_name(e: &DomainError) -> String {
    let name = match status_code(e) {
        tonic::Code::NotFound => "NOT_FOUND",
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
        tonic::Code::AlreadyExists => "ALREADY_EXISTS",
        tonic::Code::Aborted => "ABORTED",
        tonic::Code::Unavailable => "UNAVAILABLE",
        _ => "UNKNOWN",
    };
    name.to_owned()
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

#[tonic::async_trait]
impl Shop for ShopService {
    async fn get_user(&self, req: Request<pb::GetUserRequest>) -> Result<Response<pb::User>, Status> {
        pb_ops::get_user(&self.store, req.into_inner()).await.map(Response::new).map_err(status)
    }

    async fn get_user_orders(
        &self,
        req: Request<pb::GetUserOrdersRequest>,
    ) -> Result<Response<pb::UserOrders>, Status> {
        pb_ops::user_orders(&self.store, req.into_inner()).await.map(Response::new).map_err(status)
    }

    async fn list_users_orders(
        &self,
        req: Request<pb::ListUsersOrdersRequest>,
    ) -> Result<Response<pb::UsersOrders>, Status> {
        pb_ops::users_orders(&self.store, req.into_inner()).await.map(Response::new).map_err(status)
    }

    type ListOrdersStream = BoxStream<pb::Order>;

    async fn list_orders(
        &self,
        req: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<Self::ListOrdersStream>, Status> {
        let page = pb_ops::list_orders(&self.store, req.into_inner()).await.map_err(status)?;
        Ok(Response::new(Box::pin(futures::stream::iter(page.orders.into_iter().map(Ok)))))
    }

    async fn create_order(
        &self,
        req: Request<pb::CreateOrderRequest>,
    ) -> Result<Response<pb::CreateOrderResponse>, Status> {
        pb_ops::create_order(&self.store, req.into_inner()).await.map(Response::new).map_err(status)
    }

    async fn import_orders(
        &self,
        req: Request<Streaming<pb::CreateOrderRequest>>,
    ) -> Result<Response<pb::ImportSummary>, Status> {
        let mut inbound = req.into_inner();
        let mut items = Vec::new();
        while let Some(msg) = inbound.next().await {
            if items.len() == MAX_BATCH {
                return Err(Status::resource_exhausted(format!(
                    "an import holds at most {MAX_BATCH} orders"
                )));
            }
            items.push(pb_ops::batch_item(msg?).map_err(|e| Status::invalid_argument(e.0))?);
        }
        pb_ops::import(&self.store, items).await.map(Response::new).map_err(status)
    }

    type TrackOrdersStream = BoxStream<pb::TrackReply>;

    async fn track_orders(
        &self,
        req: Request<Streaming<pb::TrackRequest>>,
    ) -> Result<Response<Self::TrackOrdersStream>, Status> {
        let store = self.store.clone();
        // One reply per request, in order; a bad id is an error reply, not the end.
        let replies = req.into_inner().then(move |msg| {
            let store = store.clone();
            async move { Ok(pb_ops::track(&store, msg?, code_name).await) }
        });
        Ok(Response::new(Box::pin(replies)))
    }

    type WatchOrdersStream = BoxStream<pb::OrderEvent>;

    async fn watch_orders(
        &self,
        _: Request<pb::WatchOrdersRequest>,
    ) -> Result<Response<Self::WatchOrdersStream>, Status> {
        // A subscriber that falls behind skips the events it missed rather than failing.
        let events = BroadcastStream::new(self.store.subscribe())
            .filter_map(|e| futures::future::ready(e.ok().map(|e| Ok(e.into()))));
        Ok(Response::new(Box::pin(events)))
    }
}
