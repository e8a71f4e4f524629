//! Hostile manifests, bounded: mutations of real manifests, arbitrary text and alias-heavy YAML
//! (and TOML) must load or fail without a panic, within 2 s and 256 MiB per case. Its own test
//! binary, so the counting allocator below sees only the parser.
//!
//! The long run: `PROPTEST_CASES=200000 cargo test --release --test fuzz fuzz_long -- --ignored`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ctmux::cli::output::render_manifest;
use ctmux::manifest;
use proptest::prelude::*;

/// Counts each thread's live heap bytes and their peak.
struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: defers to the system allocator; the counters are const thread-locals (they never
// allocate) and `try_with` ignores a thread that is being torn down.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = LIVE.try_with(|l| {
            let now = l.get() + layout.size();
            l.set(now);
            let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
        });
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(layout.size())));
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Per case: no longer than this…
const CASE_TIME: Duration = Duration::from_secs(2);
/// …and no more heap than this at once.
const CASE_MEMORY: usize = 256 << 20;

/// Loads and renders `text` on a fresh thread; the peak heap of that thread, or `None` when it
/// took longer than [`CASE_TIME`] (the thread is left behind: the case has failed anyway).
fn bounded(text: &str, toml: bool) -> Option<usize> {
    let text = text.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        PEAK.with(|p| p.set(LIVE.with(Cell::get)));
        let base = LIVE.with(Cell::get);
        let path = PathBuf::from(if toml { "fuzz.toml" } else { "fuzz.yaml" });
        if let Err(e) = manifest::parse(&text, &path, Path::new("/tmp/fuzz/ctmux.yaml"), &HashMap::new()) {
            let _ = render_manifest(&e, false, 80);
            let _ = e.json_errors();
        }
        let _ = tx.send(PEAK.with(Cell::get).saturating_sub(base));
    });
    rx.recv_timeout(CASE_TIME).ok()
}

fn check(text: &str, toml: bool) -> Result<(), TestCaseError> {
    let started = Instant::now();
    match bounded(text, toml) {
        None => Err(TestCaseError::fail(format!("took more than {CASE_TIME:?}: {text:?}"))),
        Some(peak) if peak > CASE_MEMORY => {
            Err(TestCaseError::fail(format!("{peak} bytes of heap in {:?}: {text:?}", started.elapsed())))
        }
        Some(_) => Ok(()),
    }
}

fn files(dir: &str, exts: &[&str]) -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| exts.iter().any(|x| e == *x)))
        .collect();
    paths.sort();
    paths.iter().map(|p| std::fs::read_to_string(p).unwrap()).filter(|t| t.len() < 64 * 1024).collect()
}

fn seeds() -> Vec<String> {
    let mut v = files("examples", &["yaml", "toml"]);
    v.extend(files("tests/corpus/bad", &["yaml", "toml"]));
    v
}

/// YAML whose anchors alias the level before `width` times, `depth` levels deep: real reuse at
/// small sizes, a bomb at large ones.
fn aliases() -> impl Strategy<Value = String> {
    (1usize..12, 1usize..12, prop_oneof![Just("[{}]"), Just("{{k: [{}]}}")]).prop_map(|(depth, width, shape)| {
        let mut text = String::from("version: 1\nsessions: {a: {panes: {p: 'true'}}}\nx-0: &l0 [lol, lol]\n");
        for level in 1..=depth {
            let items = vec![format!("*l{}", level - 1); width].join(", ");
            text.push_str(&format!("x-{level}: &l{level} {}\n", shape.replace("{}", &items)));
        }
        text
    })
}

/// A manifest whose window layout is `layout` (a name, a mutated layout string, noise).
fn layouts() -> impl Strategy<Value = String> {
    let valid = "aea0,194x33,0,0{100x33,0,0[100x16,0,0,1,100x16,0,17{45x16,0,17,2,54x16,46,17,3}],42x33,101,0,4,25x33,144,0,5,24x33,170,0,6}";
    prop_oneof![
        "(tiled|even-horizontal|main-vertical)[ a-z\t]{0,3}",
        r"[0-9a-f]{4},[0-9x,{}\[\]]{0,120}",
        (any::<usize>(), any::<usize>(), r"[0-9x,{}\[\]]{0,6}").prop_map(move |(at, len, insert)| {
            let cut = at % (valid.len() + 1);
            let end = (cut + len % 12).min(valid.len());
            format!("{}{}{}", &valid[..cut], insert, &valid[end..])
        }),
    ]
    .prop_map(|layout| {
        format!(
            "version: 1\nsessions:\n  s:\n    layout: '{}'\n    panes: {{a: 'true', b: 'true'}}\n",
            layout.replace('\'', "''")
        )
    })
}

/// A manifest with a `ready_when` regex built to be expensive: long, nested, counted repetition.
fn regexes() -> impl Strategy<Value = String> {
    prop_oneof![
        (1usize..400_000).prop_map(|n| "a".repeat(n)),
        (1u32..2000, 1u32..2000).prop_map(|(a, b)| format!("(\\w{{{a}}}){{{b}}}")),
        "[()|*+?{}0-9a-z\\\\\\[\\]^$.]{0,200}",
    ]
    .prop_map(|re| {
        format!(
            "version: 1\nsessions:\n  s:\n    panes:\n      a:\n        command: 'true'\n        ready_when: '{}'\n",
            re.replace('\'', "''")
        )
    })
}

fn strategy() -> impl Strategy<Value = (String, bool)> {
    let seeds = seeds();
    let n = seeds.len();
    prop_oneof![
        layouts().prop_map(|t| (t, false)),
        regexes().prop_map(|t| (t, false)),
        (any::<String>(), any::<bool>()),
        ("[ -~\n\t:{}\\[\\],'\"&*!|>%@`$#-]{0,200}", any::<bool>()),
        aliases().prop_map(|t| (t, false)),
        // Long lines, so problems land past the columns miette can pad to (65,535).
        (0..n, any::<usize>(), 300usize..80_000, any::<bool>()).prop_map({
            let seeds = seeds.clone();
            move |(i, at, width, toml)| {
                let s = &seeds[i];
                let mut cut = at % (s.len() + 1);
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                (format!("{}{}{}", &s[..cut], " ".repeat(width), &s[cut..]), toml)
            }
        }),
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
    fn fuzz_parsing_never_panics_hangs_or_balloons((text, toml) in strategy()) {
        check(&text, toml)?;
    }
}

/// The bounds hold for the worst of the alias family: each level nine copies of the one before.
#[test]
fn the_bounds_catch_an_alias_bomb() {
    let mut text = String::from(
        "version: 1\nsessions: {a: {panes: {p: 'true'}}}\nx-0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n",
    );
    for level in 1..=9 {
        text.push_str(&format!("x-{level}: &l{level} [{}]\n", vec![format!("*l{}", level - 1); 9].join(", ")));
    }
    assert!(text.len() < 600);
    let peak = bounded(&text, false).expect("a 9-level alias bomb is refused within 2 s");
    assert!(peak < 16 << 20, "the refused bomb still took {peak} bytes");
    // And the meter works: a real 64 MiB allocation shows.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let v = vec![1u8; 64 << 20];
        let _ = tx.send((PEAK.with(Cell::get), v.len()));
    });
    let (peak, _) = rx.recv().unwrap();
    assert!(peak >= 64 << 20, "{peak}");
}

/// Every layout the loader accepts is one tmux 3.3a's parser accepts (a crash otherwise):
/// names exactly, strings whose checksum matches.
#[test]
fn accepted_layouts_are_names_or_checksummed_strings() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(2000));
    runner
        .run(&layouts(), |text| {
            if let Ok(loaded) =
                manifest::parse(&text, Path::new("l.yaml"), Path::new("/tmp/fuzz/ctmux.yaml"), &HashMap::new())
            {
                for w in loaded.project.sessions.values().flat_map(|s| s.windows.values()) {
                    let l = w.layout.clone().unwrap_or_default();
                    let named = ctmux::tmux::layout::NAMES.contains(&l.as_str());
                    let summed = l.len() > 5
                        && u16::from_str_radix(&l[..4], 16).ok() == Some(ctmux::tmux::layout::checksum(&l[5..]));
                    prop_assert!(named || summed, "accepted {l:?}");
                }
            }
            Ok(())
        })
        .unwrap();
}

/// An `env_file` that is a FIFO (no writer) fails at once, like any non-regular file.
#[test]
fn a_fifo_env_file_is_refused_within_the_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = std::ffi::CString::new(dir.path().join("pipe").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let text = "version: 1\nenv_file: [pipe]\nsessions: {a: {panes: {p: 'true'}}}\n".to_string();
    let at = dir.path().join("ctmux.yaml");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = manifest::parse(&text, Path::new("ctmux.yaml"), &at, &HashMap::new()).map(|_| ());
        let _ = tx.send(r.map_err(|e| render_manifest(&e, false, 100)));
    });
    let result = rx.recv_timeout(CASE_TIME).expect("a FIFO env_file hung the loader");
    let err = result.expect_err("a FIFO env_file loaded");
    assert!(err.contains("not a regular file"), "{err}");
}

/// The long run (see the module doc).
#[test]
#[ignore]
fn fuzz_long() {
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::default());
    runner.run(&strategy(), |(text, toml)| check(&text, toml)).unwrap();
}
