//! The control channel to a `wirebench serve` child, and the checks a run makes through it
//! after each timed cell: store calls counted (less the channel's own), the store's own
//! answers, and disagreements caught — a sampled read that differs, a created record that
//! reads back differently, an imported id the store does not have.

use wirebench::run::checks::verify;
use wirebench_engine::catalog::{OpParams, Operation, Outcome};
use wirebench_engine::load::Samples;

mod common;
use common::ServeChild;

#[test]
fn the_servers_store_answers_counts_its_calls_and_catches_disagreements() {
    let (_server, control) = ServeChild::with_control("tiny");
    let params = OpParams::new(1, 3, vec![1, 2]);
    let before = (control.calls().unwrap(), control.caused());
    let Some(Outcome::User(user)) = control.expect(Operation::GetUser, &params).unwrap() else {
        panic!("get-user is a read with an answer")
    };
    assert_eq!(user.id, 1);
    // One store call, made by the channel's own question.
    assert_eq!((control.calls().unwrap() - before.0, control.caused() - before.1), (1, 1));
    assert_eq!(control.expect(Operation::CreateOrder, &params).unwrap(), None);

    let good = control.expect(Operation::UsersOrders, &params).unwrap().unwrap();
    let Outcome::UsersOrders(mut users) = good.clone() else { panic!("users-orders answers users") };
    users[0].name.push('!');
    let (stored, _) = control.orders(vec![1, 2]).unwrap();
    let (one, two) = (stored[0].clone().unwrap(), stored[1].clone().unwrap());
    let mut changed = two.clone();
    changed.total_cents += 1;
    let samples = Samples {
        reads: vec![good, Outcome::UsersOrders(users)],
        created: vec![one, changed],
        imported: vec![u64::MAX],
        writes_checked: 2,
    };
    let checks = verify(Some(&control), ("rest", Operation::UsersOrders), &params, &samples);
    assert_eq!(checks.unchecked, None);
    assert_eq!((checks.reads_compared, checks.writes_read_back, checks.writes_checked), (2, 3, 2));
    // The renamed user, the changed total, the missing import.
    assert_eq!(checks.mismatches, 3, "{:?}", checks.mismatch);
    assert!(checks.mismatch.unwrap().contains("users-orders"));

    // Without a channel nothing is compared, and the result says why.
    let none = verify(None, ("rest", Operation::GetUser), &params, &Samples::default());
    assert!(none.unchecked.unwrap().contains("no control channel"));
}
