//! Manifest diagnostics: a corpus of bad manifests, each with a snapshot of what the user sees;
//! the `config` round trip; and a fuzz target that must never panic.

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

/// Mutations of real manifests and arbitrary text: parsing and rendering must never panic.
fn fuzz_one(text: &str, toml: bool) {
    let path = PathBuf::from(if toml { "fuzz.toml" } else { "fuzz.yaml" });
    if let Err(e) = manifest::parse(text, &path, Path::new("/tmp/fuzz/ctmux.yaml"), &no_env()) {
        let _ = render_manifest(&e, false, 80);
        let _ = e.json_errors();
    }
}

fn seeds() -> Vec<String> {
    let mut v: Vec<String> = examples().iter().map(|p| std::fs::read_to_string(p).unwrap()).collect();
    v.extend(corpus().iter().map(|p| std::fs::read_to_string(p).unwrap()));
    v
}

fn fuzz_strategy() -> impl Strategy<Value = (String, bool)> {
    let seeds = seeds();
    let n = seeds.len();
    prop_oneof![
        (any::<String>(), any::<bool>()),
        ("[ -~\n\t:{}\\[\\],'\"&*!|>%@`$#-]{0,200}", any::<bool>()),
        (0..n, any::<usize>(), any::<usize>(), "[ -~\n]{0,12}", any::<bool>()).prop_map(
            move |(i, at, len, insert, toml)| {
                let s = &seeds[i];
                let mut cut = at % (s.len() + 1);
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                let mut end = (cut + len % 40).min(s.len());
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                (format!("{}{}{}", &s[..cut], insert, &s[end..]), toml)
            }
        ),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn fuzz_parsing_never_panics((text, toml) in fuzz_strategy()) {
        fuzz_one(&text, toml);
    }
}

/// The long fuzz run: `PROPTEST_CASES=200000 cargo test --release --test integration fuzz_long -- --ignored`.
#[test]
#[ignore]
fn fuzz_long() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::default());
    runner
        .run(&fuzz_strategy(), |(text, toml)| {
            fuzz_one(&text, toml);
            Ok(())
        })
        .unwrap();
}
