//! Fixed work for instruction counts (wall time is noisy on a shared machine).
//!
//! ```sh
//! cargo bench --bench icount -- info             # the stream, and where AtDigester panics
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null \
//!     target/release/deps/icount-* WORK ITERATIONS
//! ```
//!
//! WORK is `framer`, `framer-classify`, `framer-digester`, `at-digester` (each one
//! pass over the recorded BG96 stream per iteration; the last two on the part of the
//! stream `AtDigester` survives, see `info`) or `roundtrip-<N>` (one send + one
//! receive of an N-byte datagram through the driver per iteration). Running the same
//! WORK with two iteration counts and dividing the difference of the totals by the
//! difference of the counts gives the instructions of one iteration, free of start-up
//! and set-up; `scripts/perf.sh` does that and divides by the UART bytes.

#[path = "common/mod.rs"]
mod common;
#[path = "common/roundtrip.rs"]
mod roundtrip;

use std::hint::black_box;

fn main() {
    // `cargo bench` passes `--bench`; ignore flags.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let work = args.first().map(String::as_str).unwrap_or("info");
    let iterations: usize = args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1);
    let all = common::bg96_stream();
    let (survived, panicked) = common::at_digester_survivors(&all);
    match work {
        "info" => info(&all, &survived, &panicked),
        "framer" => repeat(iterations, || common::run_framer(&all, false).frames),
        "framer-classify" => repeat(iterations, || common::run_framer(&all, true).frames),
        "framer-digester" => repeat(iterations, || common::run_framer_digester(&survived).frames),
        "framer-survived" => repeat(iterations, || common::run_framer(&survived, false).frames),
        "at-digester" => repeat(iterations, || common::run_at_digester(&survived).frames),
        w if w.starts_with("roundtrip-") => {
            let n: usize = w["roundtrip-".len()..].parse().expect("roundtrip-<bytes>");
            let mut rt = roundtrip::RoundTrip::new(n);
            println!(
                "uart_bytes_per_iteration {}",
                rt.uart_bytes_per_round_trip()
            );
            repeat(iterations, || rt.once())
        }
        other => panic!("unknown work {other:?}"),
    }
}

fn repeat(iterations: usize, mut f: impl FnMut() -> usize) {
    let mut sum = 0;
    for _ in 0..iterations {
        sum += black_box(f());
    }
    println!("done {sum}");
}

fn info(
    all: &[common::Segment],
    survived: &[common::Segment],
    panicked: &[(common::Segment, String)],
) {
    println!("stream_bytes {}", common::total_bytes(all));
    println!("stream_segments {}", all.len());
    println!("survived_bytes {}", common::total_bytes(survived));
    println!("survived_segments {}", survived.len());
    for (s, msg) in panicked {
        println!(
            "at_digester_panics {} ({} bytes): {msg}",
            s.file,
            s.bytes.len()
        );
    }
    println!("framer_tally_all {:?}", common::run_framer(all, false));
    println!(
        "framer_tally_survived {:?}",
        common::run_framer(survived, false)
    );
    println!(
        "framer_digester_tally {:?}",
        common::run_framer_digester(survived)
    );
    println!("at_digester_tally {:?}", common::run_at_digester(survived));
}
