//! One file per format, each with the same `bench(name, c, data)` that benchmarks both
//! datasets through [`measure`]. Adding a format is one file here and one name in
//! [`formats!`].

use std::fmt::Debug;
use std::hint::black_box;
use std::io::Write;
use std::sync::Arc;

use criterion::{BenchmarkId, Criterion, Throughput};
use wirebench_domain::{Order, OrderQuery, Page, PayloadProfile, Store, StoreConfig, User, generate};
use wirebench_report::codecs::{self, ORDERS_PAGE, SizeRecord};
use wirebench_servers::{ServerConfig, ServerContext};

/// Declares the format modules and [`FORMATS`], in the order they run.
macro_rules! formats {
    ($($name:ident),+ $(,)?) => {
        $(pub mod $name;)+

        /// Every format: its name (the module's) and its bench function.
        pub static FORMATS: &[(&str, BenchFn)] = &[$((stringify!($name), $name::bench)),+];
    };
}

formats!(json, protobuf, graphql, ws);

/// A format's benchmarks of one payload: both datasets, one size record each.
pub type BenchFn = fn(&'static str, &mut Criterion, &Data) -> Vec<SizeRecord>;

/// The datasets of one payload profile, and a store that serves them.
pub struct Data {
    /// Payload profile name: the benchmark parameter.
    pub payload: String,
    /// `user`: the first user, in full.
    pub user: User,
    /// `orders`: the first page of [`ORDERS_PAGE`] orders in id order, exactly as the store
    /// lists it (with its `next_cursor`, which is `None` when the profile has no more).
    pub orders: Page<Order>,
    /// A store loaded with the profile's whole fixtures (for formats that execute queries).
    pub ctx: ServerContext,
}

impl Data {
    /// The profile's fixtures (seed [`codecs::FIXTURE_SEED`]) and its datasets.
    pub fn new(profile: &PayloadProfile) -> Data {
        let fixtures = generate(profile, codecs::FIXTURE_SEED);
        let user = fixtures.users[0].clone();
        let first: Vec<Order> = fixtures.orders.iter().take(ORDERS_PAGE as usize).cloned().collect();
        let store = Arc::new(Store::with_fixtures(StoreConfig::default(), fixtures));
        let query = OrderQuery { limit: ORDERS_PAGE, ..OrderQuery::default() };
        let orders = runtime().block_on(store.list_orders(&query)).expect("the first page of orders");
        assert_eq!(orders.items, first, "the store lists the first orders in id order");
        let ctx = ServerContext { store, config: ServerConfig::default() };
        Data { payload: profile.name.clone(), user, orders, ctx }
    }
}

/// A current-thread runtime, for formats that run async code inside a benchmark.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
}

/// Checks and measures one format on one dataset of one payload:
///
/// 1. asserts `decode(encode(prepared)) == original` (once, before anything is timed);
/// 2. measures the encoded size raw, gzipped (default level) and with zstd level 3;
/// 3. times `encode` and `decode` as `codec/{format}/{dataset}` / `encode|decode` /
///    `{payload}`, with the raw size as criterion's byte throughput.
///
/// `prepared` is what the format encodes from, built by the caller outside the timed part
/// (e.g. the prost message); `decode` must return domain values. Both timed closures
/// include dropping what they return.
#[allow(clippy::too_many_arguments, reason = "one call per format and dataset reads best flat")]
pub fn measure<T, P, E>(
    c: &mut Criterion,
    format: &str,
    dataset: &str,
    data: &Data,
    original: &T,
    prepared: &P,
    mut encode: impl FnMut(&P) -> E,
    mut decode: impl FnMut(&E) -> T,
) -> SizeRecord
where
    T: PartialEq + Debug,
    E: AsRef<[u8]>,
{
    let payload = data.payload.as_str();
    let encoded = encode(prepared);
    let decoded = decode(&encoded);
    assert!(
        decoded == *original,
        "{format}/{dataset}/{payload}: decode(encode(data)) differs from data; first 2000 chars of \
         what was decoded: {:.2000}",
        format!("{decoded:?}")
    );

    let bytes = encoded.as_ref();
    let size = SizeRecord {
        format: format.to_owned(),
        dataset: dataset.to_owned(),
        payload: payload.to_owned(),
        raw_bytes: bytes.len() as u64,
        gzip_bytes: gzip_len(bytes),
        zstd_bytes: zstd::bulk::compress(bytes, 3).expect("zstd compresses").len() as u64,
    };

    let mut group = c.benchmark_group(codecs::group_name(format, dataset));
    group.throughput(Throughput::Bytes(size.raw_bytes));
    group.bench_with_input(BenchmarkId::new("encode", payload), prepared, |b, p| {
        b.iter(|| encode(black_box(p)));
    });
    group.bench_with_input(BenchmarkId::new("decode", payload), &encoded, |b, e| {
        b.iter(|| decode(black_box(e)));
    });
    group.finish();
    size
}

fn gzip_len(bytes: &[u8]) -> u64 {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).expect("gzip writes to memory");
    gz.finish().expect("gzip finishes").len() as u64
}
