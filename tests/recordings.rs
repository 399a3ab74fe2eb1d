//! Every recording under `modems/*/recordings/` is a test: replayed whole, one modem
//! line at a time, and under 50 seeded random chunkings of the modem's bytes (with
//! random partial writes on the host side). All runs must pass and end with the same
//! counters. A new `.rec` file is a new test; no Rust needed.

use std::path::{Path, PathBuf};

use cellsock::replay::{Chunking, Recording};
use libtest_mimic::{Arguments, Failed, Trial};

/// Random chunkings per recording.
const CHUNKINGS: u64 = 50;

fn recordings() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("modems");
    let mut files = Vec::new();
    for modem in std::fs::read_dir(&root).expect("modems/ exists") {
        let dir = modem.expect("readable").path().join("recordings");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.expect("readable").path();
            if p.extension().is_some_and(|x| x == "rec") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn replay_all_chunkings(path: &Path) -> Result<(), Failed> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let rec = Recording::parse(&text).map_err(|e| format!("{}:{e}", path.display()))?;
    let shown = path.display();
    let whole = cellsock::modems::replay(&rec, Chunking::Whole)
        .map_err(|m| format!("{shown}:{m}\n  (modem bytes fed whole)"))?;
    let mut runs = vec![(Chunking::PerLine, String::from("one modem line at a time"))];
    for seed in 0..CHUNKINGS {
        runs.push((
            Chunking::Random(seed),
            format!("random chunking, seed {seed}"),
        ));
    }
    for (chunking, what) in runs {
        let stats = cellsock::modems::replay(&rec, chunking)
            .map_err(|m| format!("{shown}:{m}\n  ({what})"))?;
        if stats != whole {
            return Err(format!(
                "{shown}: counters differ from the whole-feed run ({what})\n  whole: {whole:?}\n  this:  {stats:?}"
            )
            .into());
        }
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let files = recordings();
    assert!(
        !files.is_empty(),
        "no recordings found under modems/*/recordings/"
    );
    let trials = files
        .into_iter()
        .map(|path| {
            let modem = path
                .parent()
                .and_then(Path::parent)
                .and_then(Path::file_name)
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let name = path
                .file_stem()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            Trial::test(format!("{modem}::{name}"), move || {
                replay_all_chunkings(&path)
            })
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
}
