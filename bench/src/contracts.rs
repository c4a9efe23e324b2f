//! Contracts in `schema/`: generated from the code, written by `make schemas`
//! (`wirebench schemas`), and compared with the committed files by a test.

use std::path::Path;

/// Every generated contract: `(file name in schema/, contents)`.
pub fn all() -> Vec<(&'static str, String)> {
    let mut all: Vec<_> = wirebench_servers::SERVERS.iter().flat_map(|s| s.contracts()).collect();
    all.push(("results.schema.json", wirebench_results::schema_json()));
    all
}

/// Writes every contract into `dir`.
pub fn write(dir: &Path) -> std::io::Result<Vec<&'static str>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (name, text) in all() {
        std::fs::write(dir.join(name), text)?;
        written.push(name);
    }
    Ok(written)
}

/// Names of the contracts in `dir` that differ from (or are missing next to) the code.
pub fn drifted(dir: &Path) -> Vec<&'static str> {
    all()
        .into_iter()
        .filter(|(name, text)| std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(text))
        .map(|(name, _)| name)
        .collect()
}
