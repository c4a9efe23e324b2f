//! The roots: queries, mutations and subscriptions.

use async_graphql::{Context, ID, Object, Result, Subscription};
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use std::sync::Arc;
use tokio_stream::wrappers::BroadcastStream;
use wirebench_domain::{BatchItem, MAX_LIMIT, OrderQuery, Sort};

use super::errors::{GqlResult, bad_input, connection_cost, nullable, page_size, parse_id, store};
use super::inputs::{ImportOrderInput, NewOrderInput};
use super::types::{
    CreateOrderPayload, ImportSummaryNode, OrderConnection, OrderEventNode, OrderNode, OrderStatusGql,
    UserConnection, UserNode,
};

/// Reads.
#[derive(Debug)]
pub struct QueryRoot;

#[Object(name = "Query")]
impl QueryRoot {
    /// One user; null (with a NOT_FOUND error) when there is none.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Option<UserNode> {
        let result: Result<UserNode> = async {
            let id = parse_id(&id, "id")?;
            Ok(UserNode(store(ctx).get_user(id).await.gql()?))
        }
        .await;
        nullable(ctx, result)
    }

    /// Users in id order.
    #[graphql(complexity = "connection_cost(first, child_complexity)")]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
    ) -> Option<UserConnection> {
        let result: Result<UserConnection> = async {
            let page = store(ctx).list_users(after.as_deref(), page_size(first)?).await.gql()?;
            let nodes = page.items.into_iter().map(UserNode).collect();
            Ok(UserConnection { nodes, next_cursor: page.next_cursor })
        }
        .await;
        nullable(ctx, result)
    }

    /// One order; null (with a NOT_FOUND error) when there is none.
    async fn order(&self, ctx: &Context<'_>, id: ID) -> Option<OrderNode> {
        let result: Result<OrderNode> = async {
            let id = parse_id(&id, "id")?;
            Ok(OrderNode(store(ctx).get_order(id).await.gql()?))
        }
        .await;
        nullable(ctx, result)
    }

    /// All orders. `sort` is `id`, `created_at` or `total_cents`, with a leading `-` for
    /// descending.
    #[graphql(complexity = "connection_cost(first, child_complexity)")]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 20)] first: i32,
        after: Option<String>,
        status: Option<OrderStatusGql>,
        #[graphql(default_with = "String::from(\"id\")")] sort: String,
    ) -> Option<OrderConnection> {
        let result: Result<OrderConnection> = async {
            let sort: Sort = sort.parse().gql()?;
            let query =
                OrderQuery { status: status.map(Into::into), sort, cursor: after, limit: page_size(first)? };
            let page = store(ctx).list_orders(&query).await.gql()?;
            Ok(OrderConnection { page: Arc::new(page.into()), query })
        }
        .await;
        nullable(ctx, result)
    }
}

/// Writes.
#[derive(Debug)]
pub struct MutationRoot;

#[Object(name = "Mutation")]
impl MutationRoot {
    /// Creates an order. With an idempotency key, a repeat replays the first answer
    /// (`replayed: true`); the same key with another input is IDEMPOTENCY_KEY_REUSED.
    async fn create_order(
        &self,
        ctx: &Context<'_>,
        input: NewOrderInput,
        idempotency_key: Option<String>,
    ) -> Option<CreateOrderPayload> {
        let result: Result<CreateOrderPayload> = async {
            let new = input.into_domain()?;
            let created = store(ctx).create_order(idempotency_key.as_deref(), new).await.gql()?;
            Ok(CreateOrderPayload { order: OrderNode(created.order), replayed: created.replayed })
        }
        .await;
        nullable(ctx, result)
    }

    /// Creates many orders in one store call; each item succeeds or fails on its own.
    async fn import_orders(
        &self,
        ctx: &Context<'_>,
        orders: Vec<ImportOrderInput>,
    ) -> Option<ImportSummaryNode> {
        let result: Result<ImportSummaryNode> = async {
            // Inputs that do not convert fail on their own; the rest go to the store in one call.
            let converted: Vec<_> = orders
                .into_iter()
                .map(|item| {
                    let key = item.idempotency_key;
                    item.order.into_domain().map(|order| BatchItem { idempotency_key: key, order })
                })
                .collect();
            let batch = converted.iter().filter_map(|c| c.as_ref().ok().cloned()).collect();
            let mut outcomes = store(ctx).create_orders(batch).await.gql()?.into_iter();
            let mut summary = wirebench_domain::ImportSummary::default();
            for (i, c) in converted.iter().enumerate() {
                match c {
                    Ok(_) => summary.record(i, &outcomes.next().expect("one outcome per stored item")),
                    Err(e) => summary.fail(i, &e.message),
                }
            }
            Ok(ImportSummaryNode(summary))
        }
        .await;
        nullable(ctx, result)
    }

    /// Moves an order to `status`. Delivered and cancelled orders are final (CONFLICT).
    async fn update_order_status(
        &self,
        ctx: &Context<'_>,
        id: ID,
        status: OrderStatusGql,
    ) -> Option<OrderNode> {
        let result: Result<OrderNode> = async {
            let id = parse_id(&id, "id")?;
            Ok(OrderNode(store(ctx).update_order_status(id, status.into()).await.gql()?))
        }
        .await;
        nullable(ctx, result)
    }
}

/// Pushes, over graphql-transport-ws.
#[derive(Debug)]
pub struct SubscriptionRoot;

#[Subscription(name = "Subscription")]
impl SubscriptionRoot {
    /// Every change to an order from now on. A subscriber that falls too far behind skips
    /// the events it missed (watch `seq`) and stays subscribed.
    async fn order_events(&self, ctx: &Context<'_>) -> BoxStream<'static, OrderEventNode> {
        BroadcastStream::new(store(ctx).subscribe())
            .filter_map(|event| std::future::ready(event.ok().map(OrderEventNode::from)))
            .boxed()
    }

    /// The first `first` orders in id order, one message each, then `complete`.
    async fn stream_orders(
        &self,
        ctx: &Context<'_>,
        first: i32,
        status: Option<OrderStatusGql>,
    ) -> Result<BoxStream<'static, Result<OrderNode>>> {
        let Some(total) = u32::try_from(first).ok().filter(|&n| n > 0) else {
            return Err(bad_input(format!("first must be positive, got {first}")));
        };
        let store = store(ctx).clone();
        let query = OrderQuery { status: status.map(Into::into), ..OrderQuery::default() };
        // One store call per page of up to MAX_LIMIT orders, fetched as the stream is read.
        let pages = stream::try_unfold((store, query, total), |(store, mut query, left)| async move {
            if left == 0 {
                return Ok(None);
            }
            query.limit = left.min(MAX_LIMIT);
            let page = store.list_orders(&query).await?;
            let left = match page.next_cursor.clone() {
                Some(cursor) => {
                    query.cursor = Some(cursor);
                    left.saturating_sub(u32::try_from(page.items.len()).unwrap_or(u32::MAX))
                }
                None => 0,
            };
            Ok(Some((stream::iter(page.items.into_iter().map(Ok)), (store, query, left))))
        });
        Ok(pages.try_flatten().map(|order| order.map(OrderNode).gql()).boxed())
    }
}
