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
    let cases: [(&str, &serde_json::Value, &[&str]); 9] = [
        ("manifest", &s, lower::PROJECT_KEYS),
        ("Session", &defs["Session"], lower::SESSION_KEYS),
        ("Window", &defs["Window"], lower::WINDOW_KEYS),
        ("Gc", &defs["Gc"], lower::GC_KEYS),
        ("Pane", &defs["Pane"], pane::PANE_KEYS),
        ("Health", &defs["Health"], pane::HEALTH_KEYS),
        ("Stop", &defs["Stop"], pane::STOP_KEYS),
        ("Limits", &defs["Limits"], pane::LIMIT_KEYS),
        ("Rule", &defs["Rule"], pane::RULE_KEYS),
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
