//! Listing parameters shared by every protocol: sort, status filter, keyset cursor, limit.
//!
//! Cursors are keyset cursors (the sort key and id of the last item returned), so a page
//! never repeats or skips an item when orders are created between requests. They are opaque
//! to clients (URL-safe base64) and bound to the sort they were issued for.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::DomainError;
use crate::model::{Id, Order, OrderStatus};

/// Largest page any listing returns.
pub const MAX_LIMIT: u32 = 1000;
/// Page size when the client names none.
pub const DEFAULT_LIMIT: u32 = 20;

/// A field orders can be sorted by. All are integers, which keeps cursors simple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    Id,
    CreatedAt,
    TotalCents,
}

/// A sort: key and direction, written `created_at` or `-created_at` (descending).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

impl Default for Sort {
    /// Oldest first, by id.
    fn default() -> Self {
        Sort { key: SortKey::Id, descending: false }
    }
}

impl Sort {
    /// Newest first: the "recent orders" of the catalog.
    pub const NEWEST_FIRST: Sort = Sort { key: SortKey::CreatedAt, descending: true };

    /// Every sort, ascending then descending per key (the values a contract lists).
    pub const ALL: [Sort; 6] = [
        Sort { key: SortKey::Id, descending: false },
        Sort { key: SortKey::Id, descending: true },
        Sort { key: SortKey::CreatedAt, descending: false },
        Sort::NEWEST_FIRST,
        Sort { key: SortKey::TotalCents, descending: false },
        Sort { key: SortKey::TotalCents, descending: true },
    ];

    fn key_of(self, order: &Order) -> i64 {
        match self.key {
            SortKey::Id => order.id as i64,
            SortKey::CreatedAt => order.created_at.timestamp_millis(),
            SortKey::TotalCents => order.total_cents,
        }
    }

    /// Sorts orders by this sort, ties broken by id in the same direction.
    pub fn apply(self, orders: &mut [Order]) {
        orders.sort_by(|a, b| {
            let ord = (self.key_of(a), a.id).cmp(&(self.key_of(b), b.id));
            if self.descending { ord.reverse() } else { ord }
        });
    }

    /// True when `order` comes after the cursor position in this sort.
    fn is_after(self, order: &Order, cursor: &Cursor) -> bool {
        let here = (self.key_of(order), order.id);
        let there = (cursor.key, cursor.id);
        if self.descending { here < there } else { here > there }
    }
}

impl std::str::FromStr for Sort {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (descending, name) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let key = match name {
            "id" => SortKey::Id,
            "created_at" => SortKey::CreatedAt,
            "total_cents" => SortKey::TotalCents,
            _ => {
                return Err(DomainError::Invalid(format!(
                    "cannot sort by {name:?}: use id, created_at or total_cents, \
                     with a leading - for descending"
                )));
            }
        };
        Ok(Sort { key, descending })
    }
}

impl std::fmt::Display for Sort {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.key {
            SortKey::Id => "id",
            SortKey::CreatedAt => "created_at",
            SortKey::TotalCents => "total_cents",
        };
        write!(f, "{}{name}", if self.descending { "-" } else { "" })
    }
}

/// A position in a listing: the sort key and id of the last item returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    sort: String,
    key: i64,
    id: Id,
}

impl Cursor {
    /// The opaque text form handed to clients.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}|{}", self.sort, self.key, self.id))
    }

    /// Parses a cursor and checks it was issued for `sort`.
    pub fn decode(text: &str, sort: Sort) -> Result<Cursor, DomainError> {
        let bad = |why: &str| DomainError::InvalidCursor(format!("{text:?}: {why}"));
        let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad("not a cursor this server issued"))?;
        let raw = String::from_utf8(raw).map_err(|_| bad("not a cursor this server issued"))?;
        let mut parts = raw.split('|');
        let (Some(s), Some(k), Some(i), None) = (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("not a cursor this server issued"));
        };
        if s != sort.to_string() {
            return Err(bad(&format!("issued for sort {s}, used with sort {sort}")));
        }
        let key = k.parse().map_err(|_| bad("not a cursor this server issued"))?;
        let id = i.parse().map_err(|_| bad("not a cursor this server issued"))?;
        Ok(Cursor { sort: s.to_owned(), key, id })
    }

    /// Id of the last item the cursor's page returned.
    pub(crate) fn last_id(&self) -> Id {
        self.id
    }

    fn after(order: &Order, sort: Sort) -> Cursor {
        Cursor { sort: sort.to_string(), key: sort.key_of(order), id: order.id }
    }
}

/// What to list: filter, sort, position and page size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderQuery {
    /// Only this status, when set.
    pub status: Option<OrderStatus>,
    pub sort: Sort,
    /// Opaque cursor from a previous page's `next_cursor`.
    pub cursor: Option<String>,
    pub limit: u32,
}

impl Default for OrderQuery {
    fn default() -> Self {
        OrderQuery { status: None, sort: Sort::default(), cursor: None, limit: DEFAULT_LIMIT }
    }
}

impl OrderQuery {
    /// The first `limit` orders, newest first: "a user's recent orders".
    pub fn recent(limit: u32) -> Self {
        OrderQuery { sort: Sort::NEWEST_FIRST, limit, ..OrderQuery::default() }
    }

    /// The cursor that continues this listing right after `order` (per-item cursors, as in
    /// a GraphQL connection's edges).
    pub fn cursor_after(&self, order: &Order) -> String {
        Cursor::after(order, self.sort).encode()
    }

    /// Checks the limit; decodes the cursor.
    pub(crate) fn validate(&self) -> Result<Option<Cursor>, DomainError> {
        check_limit(self.limit)?;
        self.cursor.as_deref().map(|c| Cursor::decode(c, self.sort)).transpose()
    }

    /// Filters, sorts and pages `orders` (any order in, page order out).
    pub(crate) fn page(&self, mut orders: Vec<Order>) -> Result<Page<Order>, DomainError> {
        let cursor = self.validate()?;
        orders.retain(|o| {
            self.status.is_none_or(|s| o.status == s)
                && cursor.as_ref().is_none_or(|c| self.sort.is_after(o, c))
        });
        self.sort.apply(&mut orders);
        let more = orders.len() > self.limit as usize;
        orders.truncate(self.limit as usize);
        let next_cursor =
            if more { orders.last().map(|o| Cursor::after(o, self.sort).encode()) } else { None };
        Ok(Page { items: orders, next_cursor })
    }
}

/// Checks a page size is within 1..=[`MAX_LIMIT`].
pub fn check_limit(limit: u32) -> Result<(), DomainError> {
    if limit == 0 || limit > MAX_LIMIT {
        return Err(DomainError::Invalid(format!("limit must be between 1 and {MAX_LIMIT}, got {limit}")));
    }
    Ok(())
}

/// A cursor for a listing of users, which is always in id order.
pub(crate) fn user_cursor(last_id: Id) -> String {
    Cursor { sort: "user".into(), key: 0, id: last_id }.encode()
}

/// Decodes a cursor issued by [`user_cursor`] to the last id it saw.
pub(crate) fn decode_user_cursor(text: &str) -> Result<Id, DomainError> {
    let bad = || DomainError::InvalidCursor(format!("{text:?}: not a user cursor this server issued"));
    let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
    let raw = String::from_utf8(raw).map_err(|_| bad())?;
    raw.strip_prefix("user|0|").and_then(|id| id.parse().ok()).ok_or_else(bad)
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Present when more items follow; pass it back as the cursor to get them.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_parses_and_prints_back() {
        let names = ["id", "-id", "created_at", "-created_at", "total_cents", "-total_cents"];
        for s in names {
            assert_eq!(s.parse::<Sort>().unwrap().to_string(), s);
        }
        assert_eq!(Sort::ALL.map(|s| s.to_string()), names);
        assert!("name".parse::<Sort>().is_err());
    }

    #[test]
    fn cursor_is_bound_to_its_sort_and_rejects_garbage() {
        let c = Cursor { sort: "-created_at".into(), key: 5, id: 9 }.encode();
        assert!(Cursor::decode(&c, Sort::NEWEST_FIRST).is_ok());
        assert!(matches!(Cursor::decode(&c, Sort::default()), Err(DomainError::InvalidCursor(_))));
        for junk in ["", "!!!", "bm9wZQ"] {
            assert!(matches!(Cursor::decode(junk, Sort::default()), Err(DomainError::InvalidCursor(_))));
        }
        assert!(decode_user_cursor(&c).is_err());
        assert_eq!(decode_user_cursor(&user_cursor(42)).unwrap(), 42);
    }
}
