//! Boundary tests: every module of `src/` imports only modules of lower layers (the table in
//! `src/lib.rs`, shown in `docs/ARCHITECTURE.md`), and the sans-IO modules (`src/raft/`,
//! `src/metadata/`) do not reach for IO, clocks, thread RNGs or hash-ordered collections.
// Tests measure real time and wait with deadlines (clippy.toml).
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

const FORBIDDEN: &[(&str, &str)] = &[
    ("tokio::", "no async runtime in sans-IO code"),
    ("std::fs", "no file system"),
    ("std::net", "no network"),
    ("Instant::now", "time only comes from the `now` argument"),
    ("SystemTime", "time only comes from the `now` argument"),
    ("thread_rng", "randomness only from the injected seeded RNG"),
    ("rand::rng", "randomness only from the injected seeded RNG"),
    ("ThreadRng", "randomness only from the injected seeded RNG"),
    ("OsRng", "randomness only from the injected seeded RNG"),
    (
        "from_entropy",
        "randomness only from the injected seeded RNG",
    ),
    (
        "from_os_rng",
        "randomness only from the injected seeded RNG",
    ),
    ("std::thread", "no threads or sleeps in sans-IO code"),
    (
        "HashMap",
        "iteration order varies per process: use BTreeMap",
    ),
    (
        "HashSet",
        "iteration order varies per process: use BTreeSet",
    ),
    (
        "crate::broker",
        "sans-IO modules do not depend on the broker",
    ),
    (
        "crate::controller",
        "sans-IO modules do not depend on the controller",
    ),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn violations(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for module in ["src/raft", "src/metadata", "src/group"] {
        rust_files(&root.join(module), &mut files);
    }
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for (needle, why) in FORBIDDEN {
                if code.contains(needle) {
                    found.push(format!("{}:{}: `{needle}`: {why}", file.display(), n + 1));
                }
            }
            // Grouped imports such as `use std::{fs, net::TcpStream}`.
            if code.contains("std::{") {
                for module in ["fs", "net", "thread"] {
                    let grouped = code
                        .split(['{', '}', ',', ' '])
                        .any(|part| part == module || part.starts_with(&format!("{module}::")));
                    if grouped {
                        found.push(format!(
                            "{}:{}: grouped `std::{module}` import",
                            file.display(),
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    found
}

#[test]
fn sans_io_modules_stay_pure() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(root.join("src/raft/mod.rs").exists());
    let found = violations(root);
    assert!(
        found.is_empty(),
        "boundary violations:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scanner_finds_a_planted_violation() {
    let dir = std::env::temp_dir().join(format!("kraftd-arch-{}", std::process::id()));
    let raft = dir.join("src/raft");
    std::fs::create_dir_all(&raft).unwrap();
    std::fs::write(
        raft.join("bad.rs"),
        "use std::collections::HashMap;\n// tokio:: in a comment is fine\nuse std::{fs, io};\n",
    )
    .unwrap();
    let found = violations(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].contains("HashMap"));
    assert!(found[1].contains("grouped `std::fs`"));
}

/// The layer table of `src/lib.rs`: module name → layer number.
fn layers(lib_rs: &str) -> std::collections::BTreeMap<String, u32> {
    let mut out = std::collections::BTreeMap::new();
    for line in lib_rs.lines() {
        let Some(rest) = line.trim_start_matches("//!").trim().strip_prefix("layer ") else {
            continue;
        };
        let Some((n, modules)) = rest.split_once(':') else {
            continue;
        };
        let n: u32 = n.trim().parse().expect("a layer number");
        // Module names come first; two spaces start the description.
        let modules = modules.trim().split("  ").next().unwrap_or("");
        for m in modules.split(',') {
            out.insert(m.trim().to_string(), n);
        }
    }
    out
}

/// The top-level module a file of `src/` belongs to (`src/broker/api/fetch.rs` → `broker`).
fn module_of(root: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(root.join("src")).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_string())
}

/// Every `crate::X` path in `src/` whose module `X` is not on a lower layer than the file's.
/// Test files (`tests.rs`, `tests/`) are exempt: they may build fixtures from any layer.
fn layer_violations(root: &Path) -> Vec<String> {
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let layers = layers(&lib);
    assert!(!layers.is_empty(), "no layer table in src/lib.rs");
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    let mut found = Vec::new();
    for file in files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let is_test = name == "tests.rs" || file.components().any(|c| c.as_os_str() == "tests");
        let Some(module) = module_of(root, &file) else {
            continue;
        };
        if is_test || module == "lib" || module == "main" {
            continue;
        }
        let Some(&own) = layers.get(&module) else {
            found.push(format!(
                "{}: module `{module}` is not in the layer table",
                file.display()
            ));
            continue;
        };
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for (i, _) in code.match_indices("crate::") {
                let target: String = code[i + 7..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if target == module {
                    continue;
                }
                match layers.get(&target) {
                    Some(&t) if t < own => {}
                    Some(&t) => found.push(format!(
                        "{}:{}: `{module}` (layer {own}) imports `{target}` (layer {t})",
                        file.display(),
                        n + 1
                    )),
                    None => found.push(format!(
                        "{}:{}: `crate::{target}` is not in the layer table",
                        file.display(),
                        n + 1
                    )),
                }
            }
        }
    }
    found
}

#[test]
fn modules_import_only_lower_layers() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let found = layer_violations(root);
    assert!(found.is_empty(), "layer violations:\n{}", found.join("\n"));
}

#[test]
fn the_architecture_document_shows_the_layer_table_of_lib_rs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = std::fs::read_to_string(root.join("src/lib.rs")).unwrap();
    let doc = std::fs::read_to_string(root.join("docs/ARCHITECTURE.md")).unwrap();
    let table: Vec<&str> = lib
        .lines()
        .map(|l| l.trim_start_matches("//!").trim())
        .filter(|l| l.starts_with("layer "))
        .collect();
    for row in &table {
        assert!(
            doc.lines().any(|l| l.trim() == *row),
            "docs/ARCHITECTURE.md lacks the layer row `{row}` of src/lib.rs"
        );
    }
}

#[test]
fn the_layer_check_finds_a_planted_upward_import() {
    let dir = std::env::temp_dir().join(format!("kraftd-layers-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("src/network")).unwrap();
    std::fs::write(
        dir.join("src/lib.rs"),
        "//! layer 2: broker  roles\n//! layer 1: network  no role\n//! layer 0: protocol\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("src/network/bad.rs"),
        "use crate::protocol::frame;\n// crate::broker in a comment is fine\nuse crate::broker::api::BrokerContext;\n",
    )
    .unwrap();
    let found = layer_violations(&dir);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(
        found[0].contains("`network` (layer 1) imports `broker` (layer 2)"),
        "{found:?}"
    );
}
