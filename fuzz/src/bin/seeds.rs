//! Write the seed corpora: `cargo run --bin seeds -- [OUT]` (default
//! `fuzz/seeds`), one directory per target. With `--check`, also run every seed
//! through its target (they must all pass).

use std::path::{Path, PathBuf};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = args.iter().any(|a| a == "--check");
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| fuzz_dir.join("seeds"));
    let root = fuzz_dir.parent().expect("fuzz/ is inside the repository");
    let seeds = cellsock_fuzz::seeds::all(root);
    let mut count = std::collections::BTreeMap::new();
    let mut failed = Vec::new();
    for (target, name, bytes) in &seeds {
        let dir = out.join(target);
        std::fs::create_dir_all(&dir).expect("create the seed directory");
        std::fs::write(dir.join(name), bytes).expect("write a seed");
        *count.entry(*target).or_insert(0) += 1;
        if check {
            let run = std::panic::catch_unwind(|| match *target {
                "framer" => cellsock_fuzz::framer(bytes),
                "driver_bg96" => cellsock_fuzz::driver_bg96(bytes),
                _ => cellsock_fuzz::driver_nrf91(bytes),
            });
            if run.is_err() {
                failed.push(format!("{target}/{name}"));
            }
        }
    }
    for (target, n) in count {
        println!("{n:4} seeds for {target} in {}", out.join(target).display());
    }
    if !failed.is_empty() {
        eprintln!("{} seeds fail their target:", failed.len());
        for f in &failed {
            eprintln!("  {f}");
        }
        std::process::exit(1);
    }
}
