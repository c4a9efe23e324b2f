//! Deterministic fixtures: the same profile and seed give the same shop, byte for byte, on
//! every machine. That is what lets two runs (or two protocols) be compared.
//!
//! `ChaCha8Rng` is used because its output is specified and stable across versions and
//! platforms, unlike `StdRng`.

use chrono::{DateTime, Duration, TimeZone, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::model::{Address, LineItem, Order, OrderStatus, Preferences, User};
use crate::profile::PayloadProfile;

/// Users and orders generated for one profile and seed. Orders are in id order.
#[derive(Debug, Clone)]
pub struct Fixtures {
    pub users: Vec<User>,
    pub orders: Vec<Order>,
}

const FIRST: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Barbara",
    "Edsger",
    "Frances",
    "Donald",
    "Margaret",
    "Ken",
    "Radia",
    "Dennis",
    "Sophie",
    "Linus",
    "Hedy",
    "John",
    "Katherine",
];
const LAST: &[&str] = &[
    "Lovelace", "Hopper", "Turing", "Liskov", "Dijkstra", "Allen", "Knuth", "Hamilton", "Thompson",
    "Perlman", "Ritchie", "Wilson", "Torvalds", "Lamarr", "Backus", "Johnson",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("Berlin", "BE", "DE"),
    ("Lisbon", "LI", "PT"),
    ("Portland", "OR", "US"),
    ("Osaka", "27", "JP"),
    ("Toronto", "ON", "CA"),
    ("Nairobi", "30", "KE"),
    ("Melbourne", "VIC", "AU"),
    ("Valparaíso", "VS", "CL"),
];
const STREETS: &[&str] = &["Main St", "Harbour Rd", "Elm Ave", "Rua Augusta", "Kastanienallee"];
const COMPANIES: &[&str] = &["Initech", "Globex", "Umbrella", "Hooli", "Vandelay", "Soylent"];
const TAGS: &[&str] = &[
    "vip",
    "newsletter",
    "wholesale",
    "beta",
    "returning",
    "eu",
    "mobile",
    "gift",
    "b2b",
    "loyalty",
    "student",
    "priority",
    "referral",
    "partner",
];
const WORDS: &[&str] = &[
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "do",
    "eiusmod",
    "tempor",
    "incididunt",
    "ut",
    "labore",
    "et",
    "dolore",
    "magna",
    "aliqua",
];
const CURRENCIES: &[&str] = &["EUR", "USD", "JPY", "GBP"];
const THEMES: &[&str] = &["light", "dark", "system"];
const CHANNELS: &[&str] = &["email", "sms", "push"];

/// Fixed epoch for generated timestamps, so fixtures do not depend on the clock.
fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("valid date")
}

fn pick<'a>(rng: &mut ChaCha8Rng, items: &[&'a str]) -> &'a str {
    items[rng.random_range(0..items.len())]
}

/// Words joined by spaces, cut to exactly `chars` characters.
fn text(rng: &mut ChaCha8Rng, chars: u32) -> String {
    let chars = chars as usize;
    let mut out = String::with_capacity(chars + 16);
    while out.chars().count() < chars {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(pick(rng, WORDS));
    }
    out.chars().take(chars).collect()
}

fn address(rng: &mut ChaCha8Rng) -> Address {
    let (city, region, country) = CITIES[rng.random_range(0..CITIES.len())];
    let has_line2 = rng.random_bool(0.3);
    Address {
        line1: format!("{} {}", rng.random_range(1..400u32), pick(rng, STREETS)),
        line2: if has_line2 { format!("Apt {}", rng.random_range(1..90u32)) } else { String::new() },
        city: city.to_owned(),
        region: region.to_owned(),
        postal_code: format!("{:05}", rng.random_range(1000..99999u32)),
        country: country.to_owned(),
    }
}

/// Generates the shop for `profile` from `seed`. Pure: no clock, no global state.
pub fn generate(profile: &PayloadProfile, seed: u64) -> Fixtures {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let users: Vec<User> = (1..=u64::from(profile.users)).map(|uid| user(&mut rng, profile, uid)).collect();

    // Orders are generated user by user but their ids follow the order they were placed in,
    // so id order and created_at order agree, as in a real shop.
    let mut placed: Vec<Order> = Vec::with_capacity(users.len() * profile.orders_per_user as usize);
    for user in &users {
        for _ in 0..profile.orders_per_user {
            placed.push(order(&mut rng, profile, user));
        }
    }
    placed.sort_by_key(|order| (order.created_at, order.user_id));
    let orders =
        placed.into_iter().enumerate().map(|(i, order)| Order { id: i as u64 + 1, ..order }).collect();
    Fixtures { users, orders }
}

/// User `uid`, its text sized by `profile`.
fn user(rng: &mut ChaCha8Rng, profile: &PayloadProfile, uid: u64) -> User {
    let first = pick(rng, FIRST);
    let last = pick(rng, LAST);
    let created_at = epoch() + Duration::minutes(rng.random_range(0..60 * 24 * 90));
    let mut tags: Vec<String> = Vec::with_capacity(profile.tags_per_user as usize);
    for i in 0..profile.tags_per_user as usize {
        // Cycle through the tag list from a random start so tags are distinct while the
        // list lasts; beyond it they are numbered.
        let offset = rng.random_range(0..TAGS.len());
        let base = TAGS[(offset + i) % TAGS.len()];
        tags.push(if i < TAGS.len() { base.to_owned() } else { format!("{base}-{i}") });
    }
    let notifications = CHANNELS.iter().filter(|_| rng.random_bool(0.5)).map(|c| (*c).to_owned()).collect();
    User {
        id: uid,
        name: format!("{first} {last}"),
        email: format!("{}.{}{uid}@example.com", first.to_lowercase(), last.to_lowercase()),
        phone: format!("+1-555-{:04}-{:03}", rng.random_range(0..10_000u32), uid % 1000),
        address: address(rng),
        company: format!("{} {}", pick(rng, COMPANIES), pick(rng, &["Inc", "GmbH", "Ltd"])),
        avatar_url: format!("https://avatars.example.com/u/{uid}.png?s=256"),
        bio: text(rng, profile.bio_chars),
        preferences: Preferences {
            language: pick(rng, &["en-US", "de-DE", "pt-PT", "ja-JP"]).to_owned(),
            currency: pick(rng, CURRENCIES).to_owned(),
            newsletter: rng.random_bool(0.4),
            theme: pick(rng, THEMES).to_owned(),
            notifications,
        },
        tags,
        created_at,
        updated_at: created_at + Duration::minutes(rng.random_range(0..60 * 24 * 30)),
    }
}

/// One order of `user`, placed after the user signed up; its id is assigned later.
fn order(rng: &mut ChaCha8Rng, profile: &PayloadProfile, user: &User) -> Order {
    let items: Vec<LineItem> = (0..profile.items_per_order)
        .map(|_| {
            let sku_n = rng.random_range(0..100_000u32);
            LineItem {
                sku: format!("SKU-{sku_n:06}"),
                name: text(rng, profile.item_name_chars),
                quantity: rng.random_range(1..6),
                unit_price_cents: rng.random_range(99..50_000),
            }
        })
        .collect();
    let created_at = user.created_at + Duration::seconds(rng.random_range(60..60 * 60 * 24 * 200));
    let status = OrderStatus::ALL[rng.random_range(0..OrderStatus::ALL.len())];
    let shipping_address = if rng.random_bool(0.8) { user.address.clone() } else { address(rng) };
    Order {
        id: 0,
        user_id: user.id,
        status,
        total_cents: crate::model::order_total(&items),
        items,
        currency: user.preferences.currency.clone(),
        shipping_address,
        created_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profiles;

    #[test]
    fn same_seed_same_shop_other_seed_other_shop() {
        let profiles = Profiles::builtin();
        let small = profiles.get("small").unwrap();
        let a = generate(small, 7);
        let b = generate(small, 7);
        let c = generate(small, 8);
        assert_eq!(a.users, b.users);
        assert_eq!(a.orders, b.orders);
        assert_ne!(a.users, c.users);
    }

    #[test]
    fn sizes_follow_the_profile() {
        let profiles = Profiles::builtin();
        for profile in profiles.iter() {
            let f = generate(profile, 1);
            assert_eq!(f.users.len(), profile.users as usize);
            assert_eq!(f.orders.len(), (profile.users * profile.orders_per_user) as usize);
            let user = &f.users[0];
            assert_eq!(user.bio.chars().count(), profile.bio_chars as usize);
            assert_eq!(user.tags.len(), profile.tags_per_user as usize);
            for order in &f.orders {
                assert_eq!(order.items.len(), profile.items_per_order as usize);
                assert_eq!(order.total_cents, crate::model::order_total(&order.items));
            }
        }
    }

    #[test]
    fn order_ids_follow_creation_time() {
        let f = generate(Profiles::builtin().get("small").unwrap(), 3);
        for pair in f.orders.windows(2) {
            assert!(pair[0].created_at <= pair[1].created_at);
            assert_eq!(pair[0].id + 1, pair[1].id);
        }
    }
}
