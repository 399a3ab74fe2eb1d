//! Run inputs through a target, outside libFuzzer: for reading a crash
//! (`CELLSOCK_FUZZ_TRACE=1 cargo run --bin replay -- driver_bg96 artifacts/driver_bg96/crash-...`)
//! and for replaying the kept findings (`fuzz/regressions/<target>/`, a directory
//! is replayed file by file; `.ci/run` does this on every run).

use std::path::{Path, PathBuf};

fn inputs(path: &Path) -> Vec<PathBuf> {
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .expect("read the directory")
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [target, paths @ ..] = args.as_slice() else {
        eprintln!("usage: replay <framer|driver_bg96|driver_nrf91> FILE|DIR...");
        std::process::exit(2);
    };
    let run: fn(&[u8]) = match target.as_str() {
        "framer" => cellsock_fuzz::framer,
        "driver_bg96" => cellsock_fuzz::driver_bg96,
        "driver_nrf91" => cellsock_fuzz::driver_nrf91,
        other => {
            eprintln!("unknown target {other}");
            std::process::exit(2);
        }
    };
    for file in paths.iter().flat_map(|p| inputs(Path::new(p))) {
        let data = std::fs::read(&file).expect("read the input");
        run(&data);
        println!("{}: passes", file.display());
    }
}
