//! Connections: pages of orders and users, with cursors.

use std::sync::Arc;

use async_graphql::{Object, SimpleObject};
use wirebench_domain::{Order, OrderQuery, Page};

use super::types::{OrderNode, UserNode};

/// Where a page ends.
#[derive(Debug, SimpleObject)]
pub(super) struct PageInfo {
    #[graphql(complexity = 0)]
    has_next_page: bool,
    /// Pass as `after` to get the next page; null on the last page.
    #[graphql(complexity = 0)]
    end_cursor: Option<String>,
}

/// One page of orders, shared (through the DataLoader) without copying.
#[derive(Debug)]
pub(super) struct OrderPage {
    pub(super) nodes: Vec<OrderNode>,
    pub(super) next_cursor: Option<String>,
}

impl From<Page<Order>> for OrderPage {
    fn from(page: Page<Order>) -> Self {
        OrderPage { nodes: page.items.into_iter().map(OrderNode).collect(), next_cursor: page.next_cursor }
    }
}

#[derive(Debug)]
pub(super) struct OrderConnection {
    pub(super) page: Arc<OrderPage>,
    /// The listing the page came from: its sort gives each edge's cursor.
    pub(super) query: OrderQuery,
}

/// A page of orders.
#[Object]
impl OrderConnection {
    async fn edges(&self) -> Vec<OrderEdge<'_>> {
        self.page.nodes.iter().map(|node| OrderEdge { node, query: &self.query }).collect()
    }

    async fn nodes(&self) -> &[OrderNode] {
        &self.page.nodes
    }

    #[graphql(complexity = 0)]
    async fn page_info(&self) -> PageInfo {
        PageInfo { has_next_page: self.page.next_cursor.is_some(), end_cursor: self.page.next_cursor.clone() }
    }
}

#[derive(Debug)]
pub(super) struct OrderEdge<'a> {
    node: &'a OrderNode,
    query: &'a OrderQuery,
}

/// An order and the cursor right after it.
#[Object]
impl OrderEdge<'_> {
    /// Pass as `after` to continue after this order.
    #[graphql(complexity = 0)]
    async fn cursor(&self) -> String {
        self.query.cursor_after(&self.node.0)
    }

    async fn node(&self) -> &OrderNode {
        self.node
    }
}

#[derive(Debug)]
pub(super) struct UserConnection {
    pub(super) nodes: Vec<UserNode>,
    pub(super) next_cursor: Option<String>,
}

/// A page of users, in id order. (No `edges`: the domain issues user cursors only at the
/// end of a page.)
#[Object]
impl UserConnection {
    async fn nodes(&self) -> &[UserNode] {
        &self.nodes
    }

    #[graphql(complexity = 0)]
    async fn page_info(&self) -> PageInfo {
        PageInfo { has_next_page: self.next_cursor.is_some(), end_cursor: self.next_cursor.clone() }
    }
}
