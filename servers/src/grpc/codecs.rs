//! One Shop service, two codecs: a call whose `content-type` is `application/grpc+json` goes
//! to the Shop server generated with the JSON codec (`wirebench_proto::json_v1`), every
//! other call to the one with prost's. Both run the same [`ShopService`], so a JSON call does
//! exactly the store work of a protobuf call and differs only in how its messages encode.

use std::convert::Infallible;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tonic::body::Body;
use tonic::{Request, Response, Status, Streaming};
use wirebench_proto::json::CONTENT_TYPE as JSON;
use wirebench_proto::json_v1::shop_server::{Shop as JsonShop, ShopServer as JsonShopServer};
use wirebench_proto::v1 as pb;
use wirebench_proto::v1::shop_server::{Shop, ShopServer};

use super::ShopService;

/// The Shop service behind one name, dispatching on the codec a call names.
#[derive(Debug, Clone)]
pub struct ByCodec {
    pub(super) protobuf: ShopServer<ShopService>,
    pub(super) json: JsonShopServer<ShopService>,
}

impl tonic::server::NamedService for ByCodec {
    const NAME: &'static str = wirebench_proto::v1::shop_server::SERVICE_NAME;
}

fn is_json(req: &http::Request<Body>) -> bool {
    req.headers().get(http::header::CONTENT_TYPE).is_some_and(|v| {
        v.as_bytes().strip_prefix(JSON.as_bytes()).is_some_and(|rest| rest.is_empty() || rest[0] == b';')
    })
}

impl tower::Service<http::Request<Body>> for ByCodec {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<http::Response<Body>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Both generated servers are always ready.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        if !is_json(&req) {
            return self.protobuf.call(req);
        }
        let answer = self.json.call(req);
        Box::pin(async move {
            // tonic names every answer `application/grpc`; this one's messages are JSON.
            let mut res = answer.await?;
            res.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static(JSON));
            Ok(res)
        })
    }
}

/// The JSON-codec server runs the protobuf server's methods: only the codec differs.
#[tonic::async_trait]
impl JsonShop for ShopService {
    async fn get_user(&self, req: Request<pb::GetUserRequest>) -> Result<Response<pb::User>, Status> {
        Shop::get_user(self, req).await
    }

    async fn get_user_orders(
        &self,
        req: Request<pb::GetUserOrdersRequest>,
    ) -> Result<Response<pb::UserOrders>, Status> {
        Shop::get_user_orders(self, req).await
    }

    async fn list_users_orders(
        &self,
        req: Request<pb::ListUsersOrdersRequest>,
    ) -> Result<Response<pb::UsersOrders>, Status> {
        Shop::list_users_orders(self, req).await
    }

    type ListOrdersStream = <ShopService as Shop>::ListOrdersStream;

    async fn list_orders(
        &self,
        req: Request<pb::ListOrdersRequest>,
    ) -> Result<Response<Self::ListOrdersStream>, Status> {
        Shop::list_orders(self, req).await
    }

    async fn create_order(
        &self,
        req: Request<pb::CreateOrderRequest>,
    ) -> Result<Response<pb::CreateOrderResponse>, Status> {
        Shop::create_order(self, req).await
    }

    async fn import_orders(
        &self,
        req: Request<Streaming<pb::CreateOrderRequest>>,
    ) -> Result<Response<pb::ImportSummary>, Status> {
        Shop::import_orders(self, req).await
    }

    type TrackOrdersStream = <ShopService as Shop>::TrackOrdersStream;

    async fn track_orders(
        &self,
        req: Request<Streaming<pb::TrackRequest>>,
    ) -> Result<Response<Self::TrackOrdersStream>, Status> {
        Shop::track_orders(self, req).await
    }

    type WatchOrdersStream = <ShopService as Shop>::WatchOrdersStream;

    async fn watch_orders(
        &self,
        req: Request<pb::WatchOrdersRequest>,
    ) -> Result<Response<Self::WatchOrdersStream>, Status> {
        Shop::watch_orders(self, req).await
    }
}
