//! House rules that keep the code navigable, checked on the source itself:
//!
//! - no source file of a library or binary crate holds more than [`MAX_FILE_LINES`] lines
//!   outside its `#[cfg(test)]` items (its test module);
//! - no function outside tests is longer than [`MAX_FN_LINES`] lines, from its `fn` line to
//!   its closing brace (rustfmt puts that brace at the `fn` line's indentation).

use std::path::{Path, PathBuf};

const MAX_FILE_LINES: usize = 600;
const MAX_FN_LINES: usize = 80;
/// The crates' source folders, from the workspace root.
const SOURCE_DIRS: [&str; 8] = [
    "domain/src",
    "proto/src",
    "servers/src",
    "results/src",
    "wire/src",
    "report/src",
    "engine/src",
    "bench/src",
];

/// The harness's crates, each a floor: a crate may use the ones on lower floors only.
const FLOORS: [(&str, u8); 8] = [
    ("wirebench-domain", 0),
    ("wirebench-proto", 1),
    ("wirebench-results", 1),
    ("wirebench-servers", 2),
    ("wirebench-wire", 2),
    ("wirebench-report", 2),
    ("wirebench-engine", 3),
    ("wirebench", 4),
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("bench/ has a parent").to_owned()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The lines of a file outside its `#[cfg(test)]` items (its test module, test-only imports),
/// wherever they are: code after a test module is counted too.
fn code_lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "#[cfg(test)]" {
            out.push(line);
            continue;
        }
        // The item under the attribute (after any further attributes): one line, or up to
        // the closing brace at its indentation.
        let Some(item) = lines.by_ref().find(|l| !l.trim_start().starts_with("#[")) else { break };
        if item.trim_end().ends_with([';', '}']) {
            continue;
        }
        let indent = item.len() - item.trim_start().len();
        let close = format!("{}}}", " ".repeat(indent));
        lines.by_ref().find(|l| l.starts_with(&close) && l.trim() == "}");
    }
    out
}

/// `(first line number, length)` of every function longer than `max` lines.
fn long_functions(lines: &[&str], max: usize) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        // A declaration without a body (trait methods) ends with `;`.
        if !starts_a_function(trimmed) || trimmed.ends_with(';') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        let close = format!("{}}}", " ".repeat(indent));
        let end = lines[i..].iter().position(|l| l.starts_with(&close) && l.trim() == "}");
        if let Some(len) = end.map(|e| e + 1)
            && len > max
        {
            out.push((i + 1, len));
        }
    }
    out
}

/// True for `fn` after any visibility (`pub`, `pub(crate)`, `pub(in path)`) and qualifiers.
fn starts_a_function(line: &str) -> bool {
    let mut rest = line;
    if let Some(after) = rest.strip_prefix("pub") {
        rest = match after.strip_prefix('(') {
            Some(inner) => inner.split_once(") ").map_or("", |(_, r)| r),
            None => after.trim_start(),
        };
    }
    for qualifier in ["default ", "const ", "async ", "unsafe ", "extern \"C\" "] {
        rest = rest.strip_prefix(qualifier).unwrap_or(rest);
    }
    rest.starts_with("fn ")
}

#[test]
fn no_source_file_or_function_outgrows_the_house_rules() {
    let root = workspace();
    let mut files = Vec::new();
    for dir in SOURCE_DIRS {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 20, "found only {} source files under {SOURCE_DIRS:?}", files.len());
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let lines = code_lines(&text);
        let name = file.strip_prefix(&root).unwrap().display();
        if lines.len() > MAX_FILE_LINES {
            problems
                .push(format!("{name}: {} lines besides its tests (at most {MAX_FILE_LINES})", lines.len()));
        }
        for (line, len) in long_functions(&lines, MAX_FN_LINES) {
            problems.push(format!("{name}:{line}: a function of {len} lines (at most {MAX_FN_LINES})"));
        }
    }
    assert!(problems.is_empty(), "{} house rule(s) broken:\n{}", problems.len(), problems.join("\n"));
}

#[test]
fn the_function_measure_counts_from_fn_to_its_closing_brace() {
    let src =
        "fn a() {\n    x;\n}\n\n    pub async fn b(\n        y: u8,\n    ) {\n        {\n        }\n    }\n";
    let lines: Vec<&str> = src.lines().collect();
    assert_eq!(long_functions(&lines, 2), vec![(1, 3), (5, 6)]);
    assert!(long_functions(&lines, 6).is_empty());
    assert_eq!(code_lines("a\n#[cfg(test)]\nmod tests {}\n"), vec!["a"]);
    let after =
        "a\n#[cfg(test)]\n#[allow(x)]\nmod tests {\n    fn t() {\n    }\n}\nb\n#[cfg(test)]\nuse c;\nd\n";
    assert_eq!(code_lines(after), vec!["a", "b", "d"]);
    for yes in [
        "fn a() {",
        "pub(in crate::report) fn a(",
        "pub(super) async fn a(",
        "pub const fn a(",
        "unsafe extern \"C\" fn a(",
    ] {
        assert!(starts_a_function(yes), "{yes}");
    }
    for no in ["fnord", "pub struct Fn {", "// fn a() {", "let f = fn_ptr;"] {
        assert!(!starts_a_function(no), "{no}");
    }
}

/// The variants named as string literals on `line` (comments aside).
fn named_variants<'a>(line: &str, names: &[&'a str]) -> Vec<&'a str> {
    let trimmed = line.trim_start();
    if trimmed.starts_with("//") {
        return Vec::new();
    }
    let code = line.find(" //").map_or(line, |at| &line[..at]);
    names.iter().copied().filter(|n| code.contains(&format!("\"{n}\""))).collect()
}

/// ARCHITECTURE.md's invariant: outside its own client files and the registry (all under
/// `engine/src/clients/`), no harness crate names a variant. What the engine and the report need
/// of a variant is a capability it declares (family, role, encoding, transport, the messages
/// it stands in with, the path a shard reads the server's clock from), so a new protocol is
/// its own files and one registry line. (`claims.toml`, an input, names the variants its
/// claims are about.)
#[test]
fn no_variant_is_named_outside_its_own_files_and_the_registry() {
    let names: Vec<&str> = wirebench_engine::clients::PROTOCOLS.iter().map(|p| p.name()).collect();
    assert!(names.contains(&"floor-echo") && names.len() > 10, "{names:?}");
    let root = workspace();
    let mut files = Vec::new();
    for dir in ["results/src", "wire/src", "report/src", "engine/src", "bench/src"] {
        rust_files(&root.join(dir), &mut files);
    }
    files.retain(|f| !f.starts_with(root.join("engine/src/clients")));
    let mut problems = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        for (i, line) in code_lines(&text).iter().enumerate() {
            for n in named_variants(line, &names) {
                problems.push(format!(
                    "{}: line {} of its code names {n}",
                    file.strip_prefix(&root).unwrap().display(),
                    i + 1
                ));
            }
        }
    }
    let template = std::fs::read_to_string(root.join("report/templates/report.html")).unwrap();
    for n in &names {
        if template.contains(&format!("<code>{n}</code>")) || template.contains(&format!("\"{n}\"")) {
            problems.push(format!("report/templates/report.html names {n}"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn a_variant_named_in_code_is_found_and_one_in_a_comment_is_not() {
    let names = ["rest", "rest-h2", "grpc"];
    assert_eq!(named_variants(r#"    if p == "rest-h2" {"#, &names), ["rest-h2"]);
    assert_eq!(named_variants(r#"let a = ("grpc", "rest");"#, &names), ["rest", "grpc"]);
    assert!(named_variants(r#"    // like "grpc" does"#, &names).is_empty());
    assert!(named_variants(r#"let x = 1; // "rest" aside"#, &names).is_empty());
    assert!(named_variants(r#"let s = "rest-ish";"#, &names).is_empty());
}

/// The crates point one way: each manifest's wirebench dependencies sit on lower floors than
/// the crate itself (so results and the report never compile the engine), and every member
/// of the workspace has a floor.
#[test]
fn the_crates_depend_one_way() {
    let root = workspace();
    let floor = |name: &str| FLOORS.iter().find(|(n, _)| *n == name).map(|(_, f)| *f);
    let manifest: toml::Table = std::fs::read_to_string(root.join("Cargo.toml")).unwrap().parse().unwrap();
    let members = manifest["workspace"]["members"].as_array().expect("members");
    let mut problems = Vec::new();
    for member in members {
        let dir = member.as_str().expect("a member is a path");
        let own: toml::Table =
            std::fs::read_to_string(root.join(dir).join("Cargo.toml")).unwrap().parse().unwrap();
        let name = own["package"]["name"].as_str().expect("name");
        let Some(mine) = floor(name) else {
            problems.push(format!("{name} has no floor in FLOORS"));
            continue;
        };
        let deps = own.get("dependencies").and_then(|d| d.as_table()).cloned().unwrap_or_default();
        for dep in deps.keys().filter(|d| d.starts_with("wirebench")) {
            match floor(dep) {
                Some(theirs) if theirs < mine => {}
                _ => problems.push(format!("{name} (floor {mine}) depends on {dep}")),
            }
        }
    }
    assert!(members.len() >= FLOORS.len(), "{members:?}");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `wirebench run`'s arguments become one `Plan` at the edge: only the command line, the
/// entry point and the planner (the plan and its setup) name `RunArgs`.
#[test]
fn run_arguments_are_read_once_into_the_plan() {
    let root = workspace();
    let mut files = Vec::new();
    rust_files(&root.join("bench/src"), &mut files);
    let allowed =
        ["bench/src/main.rs", "bench/src/run/mod.rs", "bench/src/run/plan.rs", "bench/src/run/setup.rs"];
    let readers: Vec<String> = files
        .iter()
        .filter(|f| std::fs::read_to_string(f).unwrap().contains("RunArgs"))
        .map(|f| f.strip_prefix(&root).unwrap().display().to_string())
        .filter(|f| !allowed.contains(&f.as_str()))
        .collect();
    assert!(readers.is_empty(), "RunArgs read outside the planner: {readers:?}");
    let entry = std::fs::read_to_string(root.join("bench/src/run/mod.rs")).unwrap();
    assert_eq!(entry.matches("args.").count(), 0, "run/mod.rs reads an argument past Plan::new");
}
