//! The parser and the diagnostic renderer on mutated experiment files: whatever the bytes, `load` returns an
//! experiment or an error with a place, and the error renders. The seeds are the files of `experiments/`
//! and of `tests/fixtures/bad/`; each case applies a few mutations (bytes replaced, inserted, removed, or a
//! token that once broke something: CRLF, control characters, huge numbers, long lines, bytes that are not
//! UTF-8). `PROPTEST_CASES` sets the number of cases (256 by default); see `docs/experiment-format.md`.

use std::path::{Path, PathBuf};

use harness_sdk::protocol::OptionSpec;
use proptest::prelude::*;

use crate::plugin::{PluginInfo, Registry};

/// Tokens spliced into the files.
const TOKENS: &[&str] = &[
    "\r\n",
    "\n",
    "\t",
    "\u{1b}[31m",
    "\\n",
    "\\u0000",
    "é",
    "\"",
    "'",
    "[",
    "]",
    "{",
    "}",
    "=",
    ",",
    "#",
    "${",
    "${x}",
    "}}",
    "0",
    "-1",
    "4294967295",
    "18446744073709551616",
    "9223372036854775807",
    "1e308",
    "nan",
    "inf",
    "300000000000y",
    "1y",
    "2000GiB",
    "[matrix]",
    "[[charts]]",
    "[ci.thresholds]",
    "run_s = { increse = \"1%\" }",
    "include = [{}]",
    "exclude = [{ executor = [] }]",
    "a = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]",
];

fn seeds() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in [root.join("../experiments"), root.join("tests/fixtures/bad")] {
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        paths.sort();
        files.extend(paths.iter().map(|p| std::fs::read(p).unwrap()));
    }
    assert!(files.len() > 20, "the seed files are missing");
    files
}

/// Executors as the registry describes them: the parser needs their names and options, not their code.
fn registry() -> Registry {
    let mut registry = Registry::default();
    let executors = [
        ("sync", vec![]),
        ("threaded", vec![OptionSpec::choice("pool", &["rayon", "std"], "rayon", "pool")]),
        (
            "async",
            vec![
                OptionSpec::choice("flavor", &["current_thread", "multi_thread"], "current_thread", "flavor"),
                OptionSpec::integer("concurrency", 1, None, "concurrency"),
                OptionSpec::bool("offload_cpu", false, "offload"),
            ],
        ),
        ("multiprocess", vec![OptionSpec::integer("batch", 1, None, "batch")]),
    ];
    for (name, options) in executors {
        let info = PluginInfo {
            name: name.to_owned(),
            version: "0".to_owned(),
            abi_version: harness_sdk::abi::ABI_VERSION,
            path: PathBuf::from(format!("lib{name}.so")),
            description: String::new(),
            options,
            model: None,
            multiplexes: name == "async",
        };
        registry.insert(name.to_owned(), info);
    }
    registry
}

#[derive(Debug, Clone)]
enum Mutation {
    Replace(usize, u8),
    Insert(usize, usize),
    Remove(usize, usize),
    Repeat(usize, usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Replace(at, byte)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Mutation::Insert(at, token)),
        (any::<usize>(), 1usize..64).prop_map(|(at, length)| Mutation::Remove(at, length)),
        (any::<usize>(), 1usize..16, 1usize..5000).prop_map(|(at, length, times)| Mutation::Repeat(at, length, times)),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let at = |i: usize| if bytes.is_empty() { 0 } else { i % (bytes.len() + 1) };
        match *m {
            Mutation::Replace(i, byte) if !bytes.is_empty() => {
                let i = i % bytes.len();
                bytes[i] = byte;
            }
            Mutation::Replace(..) => {}
            Mutation::Insert(i, token) => {
                let i = at(i);
                bytes.splice(i..i, TOKENS[token].bytes());
            }
            Mutation::Remove(i, length) => {
                let i = at(i);
                let end = (i + length).min(bytes.len());
                bytes.drain(i..end);
            }
            Mutation::Repeat(i, length, times) => {
                let i = at(i);
                let piece: Vec<u8> = bytes[i..(i + length).min(bytes.len())].to_vec();
                let copies: Vec<u8> = piece.iter().copied().cycle().take(piece.len() * times).collect();
                bytes.splice(i..i, copies);
            }
        }
    }
    bytes
}

proptest! {
    #[test]
    fn any_mutated_file_loads_or_gets_an_error_with_a_place(
        seed in any::<prop::sample::Index>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let seeds = seeds();
        let bytes = mutate(seeds[seed.index(seeds.len())].clone(), &mutations);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fuzz.toml");
        std::fs::write(&path, &bytes).unwrap();
        // [plugins] entries are not followed: a mutated path would probe whatever it names.
        let text = String::from_utf8_lossy(&bytes);
        prop_assume!(!text.contains("[plugins"));
        let mut registry = registry();
        if let Err(error) = super::load(&path, &mut registry) {
            let rendered = error.to_string();
            prop_assert!(error.file.is_some(), "no file: {rendered}");
            prop_assert!(error.line_column().is_some(), "no line and column: {rendered}");
            prop_assert!(rendered.contains("fuzz.toml:"), "{rendered}");
        }
        // The outline, what reading a result folder uses, holds to the same.
        if let Err(error) = super::outline(&path) {
            prop_assert!(error.line_column().is_some(), "no line and column: {error}");
        }
    }
}
