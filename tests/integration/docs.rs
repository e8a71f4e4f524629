//! The docs and the schema cannot drift from the code: the checked-in schema is current, every key
//! of the schema is documented, every manifest in the docs loads, and the schema's keys are the
//! keys lowering accepts.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use ctmux::manifest::{lower, pane, schema};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_checked_in_schema_is_current() {
    let on_disk = std::fs::read_to_string(root().join("schema/ctmux.schema.json")).unwrap_or_default();
    assert!(
        on_disk == schema::schema_json(),
        "schema/ctmux.schema.json is stale: run `cargo run -- config --schema > schema/ctmux.schema.json`"
    );
}

fn schema_value() -> serde_json::Value {
    serde_json::from_str(&schema::schema_json()).unwrap()
}

fn properties(def: &serde_json::Value) -> BTreeSet<String> {
    def["properties"].as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

#[test]
fn schema_objects_have_exactly_the_keys_lowering_accepts() {
    let s = schema_value();
    let defs = &s["definitions"];
    let cases: [(&str, &serde_json::Value, &[&str]); 12] = [
        ("manifest", &s, lower::PROJECT_KEYS),
        ("Session", &defs["Session"], lower::SESSION_KEYS),
        ("Window", &defs["Window"], lower::WINDOW_KEYS),
        ("Gc", &defs["Gc"], lower::GC_KEYS),
        ("Snapshots", &defs["Snapshots"], lower::SNAPSHOTS_KEYS),
        ("Pane", &defs["Pane"], pane::PANE_KEYS),
        ("Health", &defs["Health"], pane::HEALTH_KEYS),
        ("Stop", &defs["Stop"], pane::STOP_KEYS),
        ("Limits", &defs["Limits"], pane::LIMIT_KEYS),
        ("Rule", &defs["Rule"], pane::RULE_KEYS),
        ("Hooks", &defs["Hooks"], ctmux::manifest::hooks::HOOK_KEYS),
        ("WatchLong", &defs["WatchLong"], ctmux::manifest::watch::WATCH_KEYS),
    ];
    for (name, def, keys) in cases {
        let want: BTreeSet<String> = keys.iter().map(|k| k.to_string()).collect();
        assert_eq!(properties(def), want, "schema and lowering disagree on the keys of {name}");
        assert_eq!(def["additionalProperties"], false, "{name} must reject unknown keys");
    }
    let keyed: BTreeSet<String> = pane::ACTION_KEYS.iter().map(|k| k.to_string()).collect();
    assert_eq!(properties(&defs["KeyedAction"]), keyed);
}

#[test]
fn every_schema_key_is_documented() {
    let doc = std::fs::read_to_string(root().join("docs/manifest.md")).unwrap();
    let s = schema_value();
    let mut keys = properties(&s);
    for def in s["definitions"].as_object().unwrap().values() {
        keys.extend(properties(def));
    }
    let missing: Vec<&String> = keys.iter().filter(|k| !doc.contains(&format!("`{k}`"))).collect();
    assert!(missing.is_empty(), "docs/manifest.md does not document: {missing:?}");
}

#[test]
fn every_manifest_in_the_docs_loads() {
    let env: HashMap<String, String> = HashMap::new();
    let dir = tempfile::tempdir().unwrap();
    for doc in ["docs/manifest.md", "README.md"] {
        let text = std::fs::read_to_string(root().join(doc)).unwrap();
        let blocks: Vec<&str> = text.split("```yaml\n").skip(1).filter_map(|b| b.split("```").next()).collect();
        let manifests: Vec<&&str> = blocks.iter().filter(|b| b.lines().any(|l| l == "version: 1")).collect();
        assert!(!manifests.is_empty(), "{doc}: no example manifests found");
        for (i, block) in manifests.iter().enumerate() {
            let path = dir.path().join(format!("doc{i}.yaml"));
            if let Err(e) = ctmux::manifest::parse(block, &path, &path, &env) {
                panic!("{doc} example {i} does not load:\n{}", ctmux::cli::output::render_manifest(&e, false, 100));
            }
        }
    }
}

#[test]
fn every_example_validates_against_the_schema() {
    let schema = schema_value();
    let validator = jsonschema::draft7::new(&schema).expect("the schema compiles");
    let dir = root().join("examples");
    let mut checked = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let value: serde_json::Value = match path.extension().and_then(|e| e.to_str()) {
            Some("yaml") => serde_saphyr::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap(),
            Some("toml") => toml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap(),
            _ => continue,
        };
        let errors: Vec<String> =
            validator.iter_errors(&value).map(|e| format!("{} at {}", e, e.instance_path())).collect();
        assert!(errors.is_empty(), "{} does not match the schema: {errors:#?}", path.display());
        checked += 1;
    }
    assert!(checked >= 4);
}

/// Rows of the tables in `doc` whose header's first cell is `header`: each row's first cell.
fn first_cells<'a>(doc: &'a str, header: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in doc.lines() {
        if !line.starts_with('|') {
            inside = false;
            continue;
        }
        let first = line.split('|').nth(1).unwrap_or_default().trim();
        if first == header {
            inside = true;
        } else if inside && !first.starts_with("---") {
            // `\|` is a pipe inside a cell.
            out.push(line.split(" | ").next().unwrap_or_default().trim_start_matches('|').trim());
        }
    }
    out
}

/// The backticked parts of a cell.
fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

fn schema_keys() -> BTreeSet<String> {
    let s = schema_value();
    let mut keys = properties(&s);
    for def in s["definitions"].as_object().unwrap().values() {
        keys.extend(properties(def));
    }
    keys
}

#[test]
fn the_manifest_docs_and_the_schema_have_the_same_keys() {
    let doc = std::fs::read_to_string(root().join("docs/manifest.md")).unwrap();
    let documented: BTreeSet<String> = first_cells(&doc, "key")
        .into_iter()
        .flat_map(code_spans)
        .flat_map(|span| span.split(','))
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty())
        .collect();
    let schema = schema_keys();
    let unknown: Vec<&String> = documented.difference(&schema).collect();
    assert!(unknown.is_empty(), "docs/manifest.md documents keys the schema does not have: {unknown:?}");
    let undocumented: Vec<&String> = schema.difference(&documented).collect();
    assert!(undocumented.is_empty(), "docs/manifest.md has no table row for: {undocumented:?}");
}

/// Every verb path clap knows (`pane meta set`), leaves and verbs that run on their own, hidden ones left out; with
/// `aliases`, their aliases too.
fn help_verbs(aliases: bool) -> BTreeSet<String> {
    fn walk(cmd: &clap::Command, prefix: &str, aliases: bool, out: &mut BTreeSet<String>) {
        for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
            let mut names = vec![sub.get_name().to_string()];
            if aliases {
                names.extend(sub.get_all_aliases().map(String::from));
            }
            for name in names {
                let path = if prefix.is_empty() { name } else { format!("{prefix} {name}") };
                if sub.has_subcommands() {
                    // A verb that runs on its own too (`gc` beside `gc status`, `snapshot` beside
                    // `snapshot ls`).
                    if !sub.is_subcommand_required_set() || sub.is_args_conflicts_with_subcommands_set() {
                        out.insert(path.clone());
                    }
                    walk(sub, &path, aliases, out);
                } else {
                    out.insert(path);
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(&<ctmux::cli::args::Cli as clap::CommandFactory>::command(), "", aliases, &mut out);
    out
}

/// Verb paths named in docs/cli.md's verb tables: `pane meta set T K V` / `get T [K]` gives
/// `pane meta set` and `pane meta get`; `daemon start\|stop` gives both.
fn doc_verbs() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(root().join("docs/cli.md")).unwrap();
    let top: BTreeSet<String> = help_verbs(true).iter().map(|p| p.split(' ').next().unwrap().to_string()).collect();
    let mut out = BTreeSet::new();
    for cell in first_cells(&doc, "verb") {
        let mut previous: Vec<String> = Vec::new();
        for span in code_spans(cell) {
            let words: Vec<&str> = span
                .split_whitespace()
                .take_while(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '-' || c == '\\' || c == '|'))
                .filter(|w| !w.starts_with('-'))
                .collect();
            let Some(first) = words.first() else { continue };
            let mut path: Vec<String> = if top.contains(*first) || first.contains("\\|") && previous.is_empty() {
                Vec::new()
            } else {
                previous[..previous.len().saturating_sub(1)].to_vec()
            };
            path.extend(words.iter().map(|w| w.to_string()));
            let last = path.pop().unwrap_or_default();
            for alternative in last.split("\\|") {
                out.insert([path.clone(), vec![alternative.to_string()]].concat().join(" "));
            }
            path.push(last);
            previous = path;
        }
    }
    out
}

#[test]
fn every_verb_in_the_cli_docs_is_in_help_and_the_other_way_round() {
    let documented = doc_verbs();
    for sample in
        ["validate", "status", "ps", "pane meta get", "daemon logs", "group kill", "completions", "unsubscribe"]
    {
        assert!(documented.contains(sample), "the docs reader missed `{sample}`: {documented:?}");
    }
    let known = help_verbs(true);
    let unknown: Vec<&String> = documented.iter().filter(|v| !known.contains(*v)).collect();
    assert!(unknown.is_empty(), "docs/cli.md documents verbs that --help does not have: {unknown:?}");
    let undocumented: Vec<String> = help_verbs(false).into_iter().filter(|v| !documented.contains(v)).collect();
    assert!(undocumented.is_empty(), "docs/cli.md has no row for: {undocumented:?}");
}
