//! Every protocol tells the same truth: for each catalog operation and each protocol
//! variant, a real client over a real socket decodes the answer to domain types and it
//! equals the store's own answer. Writes through one protocol are visible through the
//! others, and idempotent replay behaves the same everywhere.

use std::collections::HashMap;
use std::net::SocketAddr;

use wirebench_engine::catalog::{OpParams, Operation, Outcome};

use wirebench::serve::{ServeArgs, Started, start};
use wirebench_engine::clients::{
    Call, Client, ClientError, Connection, Operations, PROTOCOLS, Protocol, stand_ins,
};
use wirebench_engine::equivalence::{Reference, Verdict, verify_isolated};
use wirebench_wire::{Dial, WireCounters};

async fn servers() -> (Started, HashMap<&'static str, SocketAddr>) {
    let args = ServeArgs::ephemeral("small", 42);
    let started = start(&args).await.unwrap();
    let addrs = started.servers.iter().map(|s| (s.name, s.addr)).collect();
    (started, addrs)
}

fn params(key: Option<String>) -> OpParams {
    let mut p = OpParams::new(3, 5, vec![4, 1, 250, 17]);
    p.idempotency_key = key;
    p
}

/// [`params`] with the message sizes floor-echo replays, from the server's own store.
async fn sized(store: &wirebench_domain::Store, key: Option<String>) -> OpParams {
    let mut p = params(key.clone());
    let key_of = move |_: &str| key.clone();
    p.stand_ins = std::sync::Arc::new(stand_ins(PROTOCOLS, store, &p, &key_of).await.unwrap());
    p
}

fn addr_of(addrs: &HashMap<&'static str, SocketAddr>, p: &dyn Protocol) -> SocketAddr {
    *addrs.get(p.server()).unwrap_or_else(|| panic!("no server {} for {}", p.server(), p.name()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_protocol_agrees_with_the_store_on_every_operation() {
    let (started, addrs) = servers().await;
    let mut failures = Vec::new();
    let mut agreed = 0;
    for protocol in PROTOCOLS {
        for op in Operation::ALL {
            let key = op.writes().then(|| format!("eq-{}-{op}", protocol.name()));
            let p = sized(&started.store, key).await;
            let verdict = tokio::task::block_in_place(|| {
                verify_isolated(
                    *protocol,
                    &addr_of(&addrs, *protocol).into(),
                    op,
                    &p,
                    Reference::Local(&started.store),
                )
            });
            match verdict {
                Verdict::Agrees => agreed += 1,
                Verdict::Unsupported(reason) => assert!(!reason.is_empty()),
                Verdict::Fails(why) => failures.push(format!("{} {op}: {why}", protocol.name())),
            }
        }
    }
    assert!(failures.is_empty(), "disagreements:\n{}", failures.join("\n"));
    assert!(agreed >= PROTOCOLS.len() * 2, "too few checks ran: {agreed}");
    started.stop().await.expect("the servers stop cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_through_one_protocol_is_visible_through_all_and_replays_everywhere() {
    let (started, addrs) = servers().await;
    let with = |op| PROTOCOLS.iter().filter(move |p| p.carries_records() && p.unsupported(op).is_none());
    let writers: Vec<_> = with(Operation::CreateOrder).collect();
    let readers: Vec<_> = with(Operation::TrackOrders).collect();
    assert!(writers.len() >= 3 && readers.len() >= 3);

    for writer in &writers {
        // Create with a key, then repeat it on a fresh connection: a replay of the same order.
        let p = params(Some(format!("visible-{}", writer.name())));
        let addr = addr_of(&addrs, **writer);
        let mut conn = writer.connect(addr.into(), Operation::CreateOrder).await.unwrap();
        let Outcome::Created { order, replayed } =
            conn.call(Operation::CreateOrder, &p).await.unwrap().outcome
        else {
            panic!("create returned something else")
        };
        assert!(!replayed, "{}", writer.name());
        let mut again = writer.connect(addr.into(), Operation::CreateOrder).await.unwrap();
        let repeat = again.call(Operation::CreateOrder, &p).await.unwrap().outcome;
        assert_eq!(repeat, Outcome::Created { order: order.clone(), replayed: true }, "{}", writer.name());
        assert_eq!(started.store.get_order(order.id).await.unwrap(), order);

        // Every protocol reads the new order back identically.
        let track = OpParams::new(1, 1, vec![order.id]);
        for reader in &readers {
            let mut conn =
                reader.connect(addr_of(&addrs, **reader).into(), Operation::TrackOrders).await.unwrap();
            let got = conn.call(Operation::TrackOrders, &track).await.unwrap().outcome;
            assert_eq!(
                got,
                Outcome::Orders(vec![order.clone()]),
                "{} wrote, {} read",
                writer.name(),
                reader.name()
            );
        }
    }

    // One key shared across protocols: the first creates, every other replays that order.
    let shared = params(Some("shared-across-protocols".into()));
    let mut first = None;
    for writer in &writers {
        let mut conn =
            writer.connect(addr_of(&addrs, **writer).into(), Operation::CreateOrder).await.unwrap();
        let Outcome::Created { order, replayed } =
            conn.call(Operation::CreateOrder, &shared).await.unwrap().outcome
        else {
            panic!("create returned something else")
        };
        match &first {
            None => {
                assert!(!replayed);
                first = Some(order);
            }
            Some(o) => assert_eq!((&order, replayed), (o, true), "{} did not replay", writer.name()),
        }
    }

    // The same key with other parameters is refused by every protocol, naming the key.
    let mut other = shared.clone();
    other.new_order.items[0].quantity += 1;
    for writer in &writers {
        let mut conn =
            writer.connect(addr_of(&addrs, **writer).into(), Operation::CreateOrder).await.unwrap();
        let err = conn.call(Operation::CreateOrder, &other).await.unwrap_err().to_string();
        assert!(err.contains("shared-across-protocols"), "{}: {err}", writer.name());
    }
    started.stop().await.expect("the servers stop cleanly");
}

/// REST's client, claiming one round trip more than it makes: a client whose own count is
/// wrong.
#[derive(Debug)]
struct Miscounting;

impl Protocol for Miscounting {
    fn name(&self) -> &'static str {
        "miscounting"
    }

    fn describe(&self) -> &'static str {
        "rest, declaring one round trip too many"
    }

    fn server(&self) -> &'static str {
        "rest"
    }

    fn encoding(&self) -> &'static str {
        "json"
    }

    fn transport(&self) -> wirebench_engine::clients::Transport {
        wirebench_engine::clients::Transport::Http1
    }

    fn family(&self) -> &'static str {
        "REST"
    }

    fn role(&self) -> wirebench_engine::clients::Role {
        wirebench_engine::clients::Role::Variant
    }
}

impl Client for Miscounting {
    type Conn = Overstated;

    async fn open(&'static self, dial: Dial, op: Operation) -> Result<Overstated, ClientError> {
        Ok(Overstated(wirebench_engine::clients::protocol("rest").unwrap().connect(dial, op).await?))
    }
}

struct Overstated(Box<dyn Connection>);

impl Overstated {
    async fn overstated(&mut self, op: Operation, p: &OpParams) -> Result<Call, ClientError> {
        let call = self.0.call(op, p).await?;
        let declared = call.declared_round_trips + 1;
        Ok(call.round_trips(declared))
    }
}

impl Operations for Overstated {
    fn counters(&self) -> &WireCounters {
        self.0.counters()
    }
    async fn get_user(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.overstated(Operation::GetUser, p).await
    }
    async fn user_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.overstated(Operation::UserOrders, p).await
    }
    async fn users_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.overstated(Operation::UsersOrders, p).await
    }
    async fn list_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.overstated(Operation::ListOrders, p).await
    }
    async fn stream_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.overstated(Operation::StreamOrders, p).await
    }
    async fn create_order(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.overstated(Operation::CreateOrder, p).await
    }
    async fn import_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.overstated(Operation::ImportOrders, p).await
    }
    async fn track_orders(&mut self, p: &OpParams) -> Result<Call, ClientError> {
        self.overstated(Operation::TrackOrders, p).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_round_trip_count_is_wrong_is_caught_by_the_gate() {
    static MISCOUNTING: Miscounting = Miscounting;
    let (started, addrs) = servers().await;
    let addr = addrs["rest"];
    for (op, measured) in [(Operation::GetUser, 1), (Operation::UserOrders, 2)] {
        let verdict = tokio::task::block_in_place(|| {
            verify_isolated(&MISCOUNTING, &addr.into(), op, &params(None), Reference::Local(&started.store))
        });
        let Verdict::Fails(why) = verdict else { panic!("{op}: the gate let {verdict:?} through") };
        let want = format!(
            "the client declared {} round trip(s), the socket shows {measured} request wave(s)",
            measured + 1
        );
        assert_eq!(why, want, "{op}");
    }
    // The honest client passes the same gate.
    let rest = wirebench_engine::clients::protocol("rest").unwrap();
    let honest = tokio::task::block_in_place(|| {
        verify_isolated(
            rest,
            &addr.into(),
            Operation::UserOrders,
            &params(None),
            Reference::Local(&started.store),
        )
    });
    assert_eq!(honest, Verdict::Agrees);
    started.stop().await.expect("the servers stop cleanly");
}
