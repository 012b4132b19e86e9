//! The operator kit stays honest: alert rules pass promtool and their unit tests, every alert
//! has a runbook with the required sections and a firing and a quiet test case, every runbook
//! belongs to an alert or is a procedure, dashboards follow the conventions, every metric a
//! dashboard or rule queries exists in the catalogue, docs/metrics.md says which dashboards
//! and alerts use each metric, and every `kraftd` command a runbook shows parses.
// Tests measure real time and wait with deadlines (clippy.toml).
#![allow(clippy::disallowed_methods)]

#[path = "../common/mod.rs"]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use common::require_tool;
use yaml_rust2::{Yaml, YamlLoader};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &str, suffix: &str) -> Vec<PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(root().join(dir))
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    out.sort();
    out
}

fn rule_files() -> Vec<PathBuf> {
    files("alerts", ".rules.yml")
}

fn test_files() -> Vec<PathBuf> {
    files("alerts/tests", ".test.yml")
}

fn yaml(path: &Path) -> Yaml {
    let text = std::fs::read_to_string(path).unwrap();
    YamlLoader::load_from_str(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .remove(0)
}

/// Every alerting rule: (name, rule).
fn alert_rules() -> Vec<(String, Yaml)> {
    let mut out = Vec::new();
    for f in rule_files() {
        for group in yaml(&f)["groups"].as_vec().unwrap() {
            for rule in group["rules"].as_vec().unwrap() {
                if let Some(name) = rule["alert"].as_str() {
                    out.push((name.to_string(), rule.clone()));
                }
            }
        }
    }
    out
}

fn run_promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new(require_tool("promtool"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn promtool_checks_the_rules() {
    let rules: Vec<String> = rule_files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert!(!rules.is_empty());
    let mut args = vec!["check", "rules"];
    args.extend(rules.iter().map(String::as_str));
    let (ok, out) = run_promtool(&args);
    assert!(
        ok && !out.contains("WARNING"),
        "promtool check rules:\n{out}"
    );
}

#[test]
fn promtool_unit_tests_pass() {
    let tests: Vec<String> = test_files()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let mut args = vec!["test", "rules"];
    args.extend(tests.iter().map(String::as_str));
    let (ok, out) = run_promtool(&args);
    assert!(ok, "promtool test rules:\n{out}");
}

#[test]
fn prometheus_example_config_is_valid() {
    let (ok, out) = run_promtool(&[
        "check",
        "config",
        "--syntax-only",
        "deploy/prometheus/prometheus.yml",
    ]);
    assert!(ok, "{out}");
}

#[test]
fn alertmanager_example_config_is_valid() {
    let out = Command::new(require_tool("amtool"))
        .args(["check-config", "alerts/alertmanager.example.yml"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "amtool check-config:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const RUNBOOK_URL_PREFIX: &str = "file:///usr/share/doc/kraftd/runbooks/";
const SECTIONS: &[&str] = &[
    "## Meaning",
    "## Impact",
    "## Diagnosis",
    "## Mitigation",
    "## Verification",
    "## Escalation",
    "## Related alerts",
];

/// Parses the `---` front matter of a runbook into key → value.
fn front_matter(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.lines();
    if lines.next() != Some("---") {
        return out;
    }
    for line in lines.by_ref() {
        if line == "---" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            out.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    out
}

/// Alert names exercised by promtool tests: name → (has a firing case, has a quiet case).
fn tested_alerts() -> BTreeMap<String, (bool, bool)> {
    let mut out: BTreeMap<String, (bool, bool)> = BTreeMap::new();
    for f in test_files() {
        for test in yaml(&f)["tests"].as_vec().unwrap() {
            for case in test["alert_rule_test"].as_vec().into_iter().flatten() {
                let name = case["alertname"].as_str().unwrap().to_string();
                let firing = case["exp_alerts"].as_vec().is_some_and(|v| !v.is_empty());
                let entry = out.entry(name).or_default();
                entry.0 |= firing;
                entry.1 |= !firing;
            }
        }
    }
    out
}

#[test]
fn every_alert_is_linted_linked_and_tested() {
    let tested = tested_alerts();
    let dashboards: BTreeSet<String> = files("dashboards", ".json")
        .iter()
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut problems = Vec::new();
    let rules = alert_rules();
    assert!(!rules.is_empty());
    for (name, rule) in &rules {
        let watchdog = name == "Watchdog";
        let camel = name.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && name.chars().all(|c| c.is_ascii_alphanumeric());
        if !(camel && (watchdog || name.starts_with("Kafka") || name.starts_with("KRaft"))) {
            problems.push(format!(
                "{name}: not a CamelCase name prefixed Kafka or KRaft"
            ));
        }
        let severity = rule["labels"]["severity"].as_str().unwrap_or("");
        let allowed: &[&str] = if watchdog {
            &["none"]
        } else {
            &["critical", "warning"]
        };
        if !allowed.contains(&severity) {
            problems.push(format!("{name}: severity {severity:?} not in {allowed:?}"));
        }
        for key in ["summary", "description", "runbook_url", "dashboard_url"] {
            if rule["annotations"][key].as_str().is_none_or(str::is_empty) {
                problems.push(format!("{name}: missing annotation {key}"));
            }
        }
        let runbook_url = rule["annotations"]["runbook_url"].as_str().unwrap_or("");
        if runbook_url != format!("{RUNBOOK_URL_PREFIX}{name}.md") {
            problems.push(format!(
                "{name}: runbook_url {runbook_url:?} is not {RUNBOOK_URL_PREFIX}{name}.md"
            ));
        }
        match std::fs::read_to_string(root().join("runbooks").join(format!("{name}.md"))) {
            Err(_) => problems.push(format!("{name}: runbooks/{name}.md does not exist")),
            Ok(text) => {
                let fm = front_matter(&text);
                if fm.get("alert") != Some(name) {
                    problems.push(format!(
                        "{name}: runbook front matter lacks `alert: {name}`"
                    ));
                }
                if fm.get("severity").map(String::as_str) != Some(severity) {
                    problems.push(format!(
                        "{name}: runbook severity differs from the rule's {severity}"
                    ));
                }
                match fm.get("test") {
                    Some(t) if root().join(t).is_file() => {}
                    other => {
                        problems.push(format!("{name}: runbook `test:` {other:?} is not a file"))
                    }
                }
                for s in SECTIONS {
                    if !text.contains(s) {
                        problems.push(format!("{name}: runbook lacks section {s:?}"));
                    }
                }
            }
        }
        let dashboard_url = rule["annotations"]["dashboard_url"].as_str().unwrap_or("");
        let uid = dashboard_url.strip_prefix("/d/").unwrap_or("");
        if !dashboards.contains(uid) {
            problems.push(format!(
                "{name}: dashboard_url {dashboard_url:?} names no dashboard in dashboards/"
            ));
        }
        match tested.get(name) {
            None => problems.push(format!("{name}: no promtool test case")),
            Some((firing, quiet)) => {
                if !firing {
                    problems.push(format!("{name}: no firing test case"));
                }
                if !quiet && !watchdog {
                    problems.push(format!("{name}: no non-firing test case"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "alert lint:\n{}", problems.join("\n"));
}

#[test]
fn every_runbook_belongs_to_an_alert_or_is_a_procedure() {
    let alerts: BTreeSet<String> = alert_rules().into_iter().map(|(n, _)| n).collect();
    let mut problems = Vec::new();
    for path in files("runbooks", ".md") {
        let text = std::fs::read_to_string(&path).unwrap();
        let fm = front_matter(&text);
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        match (fm.get("alert"), fm.get("procedure")) {
            (Some(a), _) if alerts.contains(a) && *a == stem => {}
            (None, Some(_)) => {}
            _ => problems.push(format!(
                "runbooks/{stem}.md: no matching alert rule and not a procedure"
            )),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Metric names a PromQL expression reads (our prefixes plus `up`).
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes: Vec<char> = expr.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == '_' || bytes[i] == ':')
            {
                i += 1;
            }
            let word: String = bytes[start..i].iter().collect();
            let in_quotes = bytes[..start].iter().filter(|c| **c == '"').count() % 2 == 1;
            let is_label = bytes[i..]
                .iter()
                .find(|c| !c.is_whitespace())
                .is_some_and(|c| *c == '=' || *c == '!' || *c == '~');
            if !in_quotes
                && !is_label
                && (word.starts_with("kafka_")
                    || word.starts_with("kraftd_")
                    || word.starts_with("process_")
                    || word == "up")
            {
                out.insert(word);
            }
        } else {
            i += 1;
        }
    }
    out
}

fn catalogue() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    for d in kraftd::observability::Metrics::new().definitions() {
        names.insert(d.name.clone());
        if d.kind == kraftd::observability::metrics::MetricKind::Histogram {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{}{suffix}", d.name));
            }
        }
    }
    // The standard process collector and Prometheus's own `up`.
    for p in [
        "process_cpu_seconds_total",
        "process_max_fds",
        "process_open_fds",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "process_threads",
        "process_virtual_memory_bytes",
        "up",
    ] {
        names.insert(p.to_string());
    }
    names
}

/// Every PromQL expression in the dashboards, with where it is.
fn dashboard_exprs() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for path in files("dashboards", ".json") {
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push((
                    format!("{file}: {}", p["title"]),
                    t["expr"].as_str().unwrap().to_string(),
                ));
            }
        }
        for v in d["templating"]["list"].as_array().unwrap() {
            if let Some(q) = v["definition"].as_str() {
                out.push((format!("{file}: variable {}", v["name"]), q.to_string()));
            }
        }
    }
    out
}

#[test]
fn every_metric_queried_exists_in_the_catalogue() {
    let known = catalogue();
    let mut problems = Vec::new();
    let mut exprs = dashboard_exprs();
    for (name, rule) in alert_rules() {
        exprs.push((
            format!("alert {name}"),
            rule["expr"].as_str().unwrap().to_string(),
        ));
    }
    for (where_, expr) in &exprs {
        for m in metric_names(expr) {
            if !known.contains(&m) {
                problems.push(format!("{where_}: unknown metric {m}"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn metric_name_extraction_ignores_labels_and_strings() {
    let names = metric_names(
        r#"sum by (instance) (rate(kafka_network_requests_total{request="kafka_x", instance=~"$instance"}[$__rate_interval])) / on(instance) process_max_fds"#,
    );
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        vec![
            "kafka_network_requests_total".to_string(),
            "process_max_fds".into()
        ]
    );
}

#[test]
fn dashboards_follow_the_conventions() {
    let mut problems = Vec::new();
    let mut uids = BTreeSet::new();
    for path in files("dashboards", ".json") {
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let uid = d["uid"].as_str().unwrap_or("");
        if uid != stem || !uids.insert(uid.to_string()) {
            problems.push(format!(
                "{stem}: uid {uid:?} must equal the file name and be unique"
            ));
        }
        if !d["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t == "kraftd"))
        {
            problems.push(format!("{stem}: missing tag kraftd"));
        }
        let vars: BTreeSet<&str> = d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["name"].as_str())
            .collect();
        for v in ["datasource", "cluster", "instance", "role"] {
            if !vars.contains(v) {
                problems.push(format!("{stem}: missing variable ${v}"));
            }
        }
        if d.to_string().contains("\"uid\":\"prometheus\"") {
            problems.push(format!("{stem}: hard-coded datasource uid"));
        }
        for p in d["panels"].as_array().unwrap() {
            if p["type"] == "row" {
                continue;
            }
            let title = p["title"].as_str().unwrap_or("");
            if title.is_empty() || p["description"].as_str().is_none_or(str::is_empty) {
                problems.push(format!(
                    "{stem}: panel {title:?} needs a title and a description"
                ));
            }
            if p["fieldConfig"]["defaults"]["unit"].as_str().is_none() {
                problems.push(format!("{stem}: panel {title:?} has no unit"));
            }
            if p["datasource"]["uid"] != "${datasource}" {
                problems.push(format!("{stem}: panel {title:?} does not use $datasource"));
            }
            for t in p["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"].as_str().unwrap_or("");
                for func in ["rate(", "irate(", "increase("] {
                    for (i, _) in expr.match_indices(func) {
                        let preceded = i > 0
                            && expr[..i].ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
                        if preceded {
                            continue;
                        }
                        let window = expr[i..]
                            .split_once('[')
                            .map(|(_, w)| w.split(']').next().unwrap_or(""));
                        if window != Some("$__rate_interval") {
                            problems.push(format!(
                                "{stem}: panel {title:?}: {func}...) without [$__rate_interval]"
                            ));
                        }
                    }
                }
                if !expr.contains("$instance") && !expr.starts_with("count(up") {
                    problems.push(format!("{stem}: panel {title:?} ignores $instance: {expr}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// `kraftd …` commands in runbooks and the README, with placeholders filled in.
fn documented_commands() -> Vec<(String, Vec<String>)> {
    let mut docs = files("runbooks", ".md");
    docs.push(root().join("README.md"));
    let mut out = Vec::new();
    for path in docs {
        let text = std::fs::read_to_string(&path).unwrap();
        // Odd chunks between backticks are code (inline spans and fenced blocks alike).
        for chunk in text.split('`').skip(1).step_by(2) {
            for line in chunk.lines() {
                let line = line.trim().trim_start_matches("$ ");
                let Some(rest) = line
                    .strip_prefix("kraftd ")
                    .or_else(|| line.strip_prefix("./target/release/kraftd "))
                else {
                    continue;
                };
                let cleaned = rest
                    .split('#')
                    .next()
                    .unwrap()
                    .replace("<cluster-id>", "MkU3OEVBNTcwNTJENDM2Qk")
                    .replace("\"$id\"", "MkU3OEVBNTcwNTJENDM2Qk")
                    .replace("<name>", "node1")
                    .replace("<controller>", "127.0.0.1")
                    .replace("$n", "1");
                let mut args = vec!["kraftd".to_string()];
                args.extend(
                    cleaned
                        .split_whitespace()
                        .map(|s| s.trim_end_matches([')', '&']).to_string()),
                );
                args.retain(|a| !a.is_empty() && a != "|" && a != "&");
                out.push((
                    format!("{}: {line}", path.file_name().unwrap().to_string_lossy()),
                    args,
                ));
            }
        }
    }
    out
}

#[test]
fn every_documented_kraftd_command_parses() {
    let commands = documented_commands();
    assert!(
        commands.len() >= 5,
        "found only {} commands",
        commands.len()
    );
    let mut problems = Vec::new();
    for (where_, args) in commands {
        if let Err(e) = kraftd::cli::args::Cli::try_parse_from(&args) {
            use clap::error::ErrorKind;
            // Naming a command group (e.g. `kraftd storage`) shows its help: that is fine.
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                continue;
            }
            problems.push(format!(
                "{where_}\n  {args:?}\n  {}",
                e.to_string().lines().next().unwrap_or("")
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Panel titles quoted after `→` ("Quorum dashboard → "Elections" and "Epoch"") in the
/// runbooks and docs/dashboards.md, whitespace collapsed because references wrap lines.
fn referenced_panels() -> Vec<(String, String)> {
    let mut docs = files("runbooks", ".md");
    docs.push(root().join("docs/dashboards.md"));
    let mut out = Vec::new();
    for path in docs {
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for (i, _) in text.match_indices('→') {
            let mut rest = text[i + '→'.len_utf8()..].trim_start();
            while let Some(quoted) = rest.strip_prefix('"') {
                let Some((name, after)) = quoted.split_once('"') else {
                    break;
                };
                out.push((file.clone(), name.to_string()));
                rest = after
                    .trim_start_matches([',', ' ', '/'])
                    .trim_start_matches("and ");
            }
        }
    }
    out
}

#[test]
fn panels_named_in_runbooks_exist() {
    let mut titles = BTreeSet::new();
    for path in files("dashboards", ".json") {
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for p in d["panels"].as_array().unwrap() {
            if let Some(t) = p["title"].as_str() {
                titles.insert(t.to_string());
            }
        }
    }
    let refs = referenced_panels();
    assert!(
        refs.len() >= 10,
        "found only {} panel references",
        refs.len()
    );
    // A reference may name a family of panels by its prefix ("Per-voter lag").
    let problems: Vec<String> = refs
        .iter()
        .filter(|(_, name)| !titles.iter().any(|t| t.starts_with(name.as_str())))
        .map(|(file, name)| format!("{file}: no dashboard panel titled {name:?}"))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The metric a queried series name belongs to: `…_bucket`, `…_sum` and `…_count` of a
/// histogram count as the histogram.
fn base_metric(name: &str, histograms: &BTreeSet<String>) -> String {
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix)
            && histograms.contains(base)
        {
            return base.to_string();
        }
    }
    name.to_string()
}

/// The "used by" table of docs/metrics.md: every catalogue metric (in catalogue order), then
/// the process and scrape metrics the kit uses, with the dashboards (by uid) and alerts that
/// query each.
fn usage_table() -> String {
    let defs = kraftd::observability::Metrics::new().definitions().to_vec();
    let histograms: BTreeSet<String> = defs
        .iter()
        .filter(|d| d.kind == kraftd::observability::metrics::MetricKind::Histogram)
        .map(|d| d.name.clone())
        .collect();
    let mut used: BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)> = BTreeMap::new();
    for path in files("dashboards", ".json") {
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let uid = d["uid"].as_str().unwrap().to_string();
        let mut exprs = Vec::new();
        for p in d["panels"].as_array().unwrap() {
            for t in p["targets"].as_array().into_iter().flatten() {
                exprs.push(t["expr"].as_str().unwrap().to_string());
            }
        }
        for v in d["templating"]["list"].as_array().unwrap() {
            if let Some(q) = v["definition"].as_str() {
                exprs.push(q.to_string());
            }
        }
        for e in exprs {
            for m in metric_names(&e) {
                let entry = used.entry(base_metric(&m, &histograms)).or_default();
                entry.0.insert(uid.clone());
            }
        }
    }
    for (name, rule) in alert_rules() {
        for m in metric_names(rule["expr"].as_str().unwrap()) {
            let entry = used.entry(base_metric(&m, &histograms)).or_default();
            entry.1.insert(name.clone());
        }
    }
    let cell = |set: Option<&BTreeSet<String>>| match set {
        Some(s) if !s.is_empty() => s.iter().cloned().collect::<Vec<_>>().join(", "),
        _ => "—".to_string(),
    };
    let mut out = String::from("| Metric | Dashboards | Alerts |\n|---|---|---|\n");
    let mut names: Vec<String> = defs.iter().map(|d| d.name.clone()).collect();
    names.extend(
        used.keys()
            .filter(|k| !defs.iter().any(|d| &d.name == *k))
            .cloned(),
    );
    for name in names {
        let u = used.get(&name);
        out.push_str(&format!(
            "| `{name}` | {} | {} |\n",
            cell(u.map(|u| &u.0)),
            cell(u.map(|u| &u.1))
        ));
    }
    out
}

#[test]
fn docs_metrics_says_where_each_metric_is_used() {
    let doc = std::fs::read_to_string(root().join("docs/metrics.md")).unwrap();
    let table = usage_table();
    assert!(
        doc.contains(&table),
        "docs/metrics.md is out of date; its \"used by\" table must be exactly:\n{table}"
    );
}
