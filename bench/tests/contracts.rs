//! The contracts committed in schema/ must be exactly what the code generates.

use std::path::Path;

#[test]
fn committed_contracts_match_the_code() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schema");
    let drifted = wirebench::contracts::drifted(&dir);
    assert!(drifted.is_empty(), "schema/ is out of date for {drifted:?}: run `make schemas` and commit");
}

#[test]
fn every_contract_is_written_and_then_matches() {
    let dir = std::env::temp_dir().join(format!("wirebench-contracts-{}", std::process::id()));
    let written = wirebench::contracts::write(&dir).unwrap();
    assert!(written.contains(&"openapi.json"));
    assert!(wirebench::contracts::drifted(&dir).is_empty());
    // A changed file is caught.
    std::fs::write(dir.join("openapi.json"), "{}").unwrap();
    assert_eq!(wirebench::contracts::drifted(&dir), ["openapi.json"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
