//! Boundary test: the sans-IO modules (`src/raft/`, `src/metadata/`) must not reach for IO,
//! clocks, thread RNGs, hash-ordered collections or the layers above them.

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
    for module in ["src/raft", "src/metadata"] {
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
