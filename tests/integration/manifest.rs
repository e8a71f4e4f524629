//! Manifest diagnostics: a corpus of bad manifests, each with a snapshot of what the user sees;
//! the `config` round trip; and limits on hostile input (the fuzz run is `tests/fuzz.rs`).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use ctmux::cli::output::render_manifest;
use ctmux::manifest::{self, config};
use proptest::prelude::*;

fn corpus() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/bad");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
}

fn no_env() -> HashMap<String, String> {
    HashMap::new()
}

/// Loads `file` shown under a relative name so snapshots do not depend on where the repo is.
fn load_relative(file: &Path) -> Result<manifest::Loaded, manifest::ManifestError> {
    let shown = Path::new("tests/corpus/bad").join(file.file_name().unwrap());
    let text = std::fs::read_to_string(file).unwrap();
    manifest::parse(&text, &shown, &std::path::absolute(file).unwrap(), &no_env())
}

#[test]
fn every_bad_manifest_is_reported_with_a_location_and_a_snapshot() {
    let files = corpus();
    assert!(files.len() >= 25, "the corpus shrank to {}", files.len());
    for file in files {
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let err = match load_relative(&file) {
            Ok(_) => panic!("{name} loaded without problems"),
            Err(e) => e,
        };
        assert!(!err.problems.is_empty(), "{name}: no problems");
        if name != "missing_env_file" {
            assert!(err.problems.iter().all(|p| p.span.is_some()), "{name}: a problem without a location");
        }
        insta::assert_snapshot!(name, render_manifest(&err, false, 100));
    }
}

#[test]
fn a_file_with_several_problems_reports_them_all_in_one_run() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/bad/many_problems.yaml");
    let err = load_relative(&file).unwrap_err();
    let codes: Vec<&str> = err.problems.iter().map(|p| p.code).collect();
    assert_eq!(
        codes,
        [
            "unknown_key",
            "invalid_value",
            "invalid_duration",
            "invalid_condition",
            "unknown_dependency",
            "invalid_regex"
        ]
    );
}

#[test]
fn the_binary_exits_2_with_the_json_error_shape() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/bad/unknown_pane_key.yaml");
    let out =
        Command::new(env!("CARGO_BIN_EXE_ctmux")).arg("-f").arg(&file).args(["validate", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let mut doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["error"]["location"]["file"] = "unknown_pane_key.yaml".into();
    for e in doc["errors"].as_array_mut().unwrap() {
        e["location"]["file"] = "unknown_pane_key.yaml".into();
    }
    insta::assert_json_snapshot!("json_error_shape", doc);
    for file in corpus() {
        let out = Command::new(env!("CARGO_BIN_EXE_ctmux")).arg("-f").arg(&file).arg("validate").output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", file.display());
    }
}

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "toml"))
        .collect();
    v.sort();
    v
}

/// `config` output, loaded again from `dir`, gives the same project.
fn round_trip(project: &manifest::model::Project, dir: &Path) {
    let text = config::to_yaml(project);
    let path = dir.join("ctmux.yaml");
    let again = manifest::parse(&text, &path, &path, &no_env())
        .unwrap_or_else(|e| panic!("config output does not load:\n{text}\n{}", render_manifest(&e, false, 100)));
    let mut again = again.project;
    again.file = project.file.clone();
    assert_eq!(&again, project, "config output:\n{text}");
}

#[test]
fn config_output_reloads_to_the_same_model_for_every_example() {
    let dir = tempfile::tempdir().unwrap();
    for file in examples() {
        let loaded = manifest::load(&file, &no_env()).unwrap();
        round_trip(&loaded.project, dir.path());
    }
}

#[test]
fn yaml_and_toml_quickstarts_are_the_same_model() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let yaml = manifest::load(&dir.join("quickstart.yaml"), &no_env()).unwrap().project;
    let mut toml = manifest::load(&dir.join("quickstart.toml"), &no_env()).unwrap().project;
    toml.file = yaml.file.clone();
    assert_eq!(yaml, toml);
}

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,6}"
}

fn text() -> impl Strategy<Value = String> {
    // Quotes, `$`, `#`, backslashes, unicode and newlines: everything YAML and interpolation care about.
    proptest::collection::vec(
        prop_oneof!["[ -~]", Just("$".to_string()), Just("ü🚀".to_string()), Just("\n".to_string())],
        0..20,
    )
    .prop_map(|v| v.concat())
}

prop_compose! {
    fn project()(sessions in proptest::collection::btree_map(name(), proptest::collection::btree_map(name(), (text(), text(), any::<bool>()), 1..4), 1..4),
                 env in proptest::collection::btree_map("[A-Z][A-Z0-9_]{0,5}", text(), 0..3))
                 -> serde_json::Value {
        let mut s = serde_json::Map::new();
        let mut prev: Option<String> = None;
        for (sname, panes) in sessions {
            let mut p = serde_json::Map::new();
            for (pname, (cmd, val, argv)) in panes {
                let escaped = cmd.replace('$', "$$");
                let command = if argv { serde_json::json!([escaped, val.replace('$', "$$")]) } else { serde_json::json!(escaped) };
                p.insert(pname, serde_json::json!({ "command": command, "env": { "V": val.replace('$', "$$") } }));
            }
            let mut session = serde_json::json!({ "panes": p });
            if let Some(prev) = &prev {
                session["depends_on"] = serde_json::json!({ prev.clone(): "healthy" });
            }
            prev = Some(sname.clone());
            s.insert(sname, session);
        }
        let env: serde_json::Map<String, serde_json::Value> = env.into_iter().map(|(k, v)| (k, v.replace('$', "$$").into())).collect();
        serde_json::json!({ "version": 1, "name": "prop", "env": env, "sessions": s })
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn generated_manifests_round_trip_through_config(doc in project()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ctmux.yaml");
        let text = serde_saphyr::to_string(&doc).unwrap();
        let loaded = manifest::parse(&text, &path, &path, &no_env())
            .unwrap_or_else(|e| panic!("generated manifest does not load:\n{text}\n{}", render_manifest(&e, false, 100)));
        round_trip(&loaded.project, dir.path());
    }
}

/// Loads generated `text` and returns how long loading and rendering its problems took.
fn timed_load(text: &str) -> (Result<manifest::Loaded, manifest::ManifestError>, std::time::Duration) {
    let started = std::time::Instant::now();
    let path = Path::new("/tmp/limits/ctmux.yaml");
    let result = manifest::parse(text, Path::new("limits.yaml"), path, &no_env());
    if let Err(e) = &result {
        let _ = render_manifest(e, false, 100);
        let _ = e.json_errors();
    }
    (result, started.elapsed())
}

// The bounds below are ~10× what these take in a debug build on a loaded 2-core machine; the
// quadratic steps they guard against took 13 s (100k env), 16 s (10k cycle) and minutes (100k
// problems) in a release build.

#[test]
fn a_100k_entry_env_loads_in_linear_time() {
    let env: String = (0..100_000).map(|i| format!("          K{i}: v{i}\n")).collect();
    let text =
        format!("version: 1\nsessions:\n  s:\n    panes:\n      p:\n        command: \"true\"\n        env:\n{env}");
    let (result, took) = timed_load(&text);
    let loaded = result.unwrap_or_else(|e| panic!("{}", render_manifest(&e, false, 100)));
    assert_eq!(loaded.project.pane("s/p").unwrap().env.len(), 100_000);
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
}

#[test]
fn a_10k_session_cycle_is_reported_in_linear_time_with_a_short_message() {
    let sessions: String = (0..10_000)
        .map(|i| format!("  s{i}:\n    depends_on: [s{}]\n    panes:\n      p: \"true\"\n", (i + 1) % 10_000))
        .collect();
    let (result, took) = timed_load(&format!("version: 1\nsessions:\n{sessions}"));
    let err = result.expect_err("a cycle is an error");
    assert_eq!(err.problems.len(), 1);
    assert!(
        err.problems[0].message.starts_with("dependency cycle of 10000 panes: s0/p → s1/p"),
        "{}",
        err.problems[0].message
    );
    assert!(err.problems[0].message.len() < 300 && err.problems[0].extra.len() <= 8);
    assert!(took < std::time::Duration::from_secs(10), "took {took:?}");
}

#[test]
fn a_100k_problem_manifest_reports_the_first_100_and_counts_the_rest() {
    let keys: String = (0..100_000).map(|i| format!("        K{i}: v{i}\n")).collect();
    let text = format!("version: 1\nsessions:\n  s:\n    panes:\n      p:\n        command: \"true\"\n{keys}");
    let (result, took) = timed_load(&text);
    let err = result.expect_err("unknown keys are errors");
    assert_eq!(err.total, 100_000);
    assert_eq!(err.problems.len(), 101);
    assert_eq!(err.problems[100].message, "and 99900 more problems, not shown (the first 100 are)");
    assert!(render_manifest(&err, false, 100).ends_with("100000 problems in limits.yaml; nothing was applied\n"));
    assert!(took < std::time::Duration::from_secs(30), "took {took:?}");
}

#[test]
fn env_files_are_capped_at_1_mib() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.env"), "A=".to_string() + &"x".repeat(1024 * 1024)).unwrap();
    std::fs::write(dir.path().join("ok.env"), "A=1\n").unwrap();
    let manifest = dir.path().join("ctmux.yaml");
    let load = |file: &str| {
        let text = format!("version: 1\nenv_file: {file}\nsessions:\n  a: echo $$A\n");
        manifest::parse(&text, &manifest, &manifest, &no_env())
    };
    let err = load("big.env").expect_err("a 1 MiB + 2 byte env file is refused");
    assert_eq!(err.problems[0].message, "cannot read env_file `big.env`: larger than 1024 KiB");
    assert!(load("ok.env").is_ok());
    let err = load(dir.path().to_str().unwrap()).expect_err("a directory is refused");
    assert!(err.problems[0].message.ends_with("not a regular file"), "{}", err.problems[0].message);
}
