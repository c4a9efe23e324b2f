//! The README's figures are the committed sample's: `make sample` writes them, this test
//! fails when someone edits one without the other.

use std::path::Path;

#[test]
fn the_readme_figures_are_the_committed_samples() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let results = wirebench_results::Results::read(&root.join(wirebench_report::sample::SAMPLE))
        .expect("docs/sample/results.json is a results file of this version (run `make sample`)");
    let expected =
        wirebench_report::sample::block(&results).expect("the sample has the cells the README quotes");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let shown = wirebench_report::sample::current(&readme).expect("README.md has the sample markers");
    assert_eq!(
        shown,
        expected.trim_matches('\n'),
        "README.md differs from docs/sample/results.json: run `make sample`"
    );
}
