//! The framer's CPU cost against atat's stock `AtDigester`, on the same bytes.
//!
//! The input is every BG96 recording's modem output (`M:` lines) in file order,
//! delivered in 64-byte reads (`common::bg96_stream`, `common::CHUNK`). Four ways of
//! digesting it, side by side in one run:
//!
//! * `cellsock/Framer::next`: the driver's own path (framer over cellsock's window);
//! * `cellsock/Framer::next+classify`: the same, each frame also classified by the
//!   BG96 profile (what `Driver::poll` does with it);
//! * `cellsock/FramerDigester`: the framer behind atat's `Digester` trait, fed by a
//!   copy of atat's `Ingress` loop;
//! * `atat/AtDigester`: atat 0.25's `AtDigester<Bg96Urc>` (URC parser derived with
//!   `#[derive(AtatUrc)]` for the BG96's URCs), fed by the same loop.
//!
//! The last two are the like-for-like pair. `AtDigester` is run on the part of the
//! stream it survives without panicking (`common::at_digester_survivors`); today that
//! is all of it, and the bench says so if that changes.

#[path = "common/mod.rs"]
mod common;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

fn framer(c: &mut Criterion) {
    let all = common::bg96_stream();
    let (survived, panicked) = common::at_digester_survivors(&all);
    for (s, msg) in &panicked {
        eprintln!(
            "note: atat AtDigester panics on {} ({} bytes): {msg}; benched without it",
            s.file,
            s.bytes.len()
        );
    }
    let mut g = c.benchmark_group("bg96_stream");
    g.throughput(Throughput::Bytes(common::total_bytes(&survived) as u64));
    g.bench_function("cellsock/Framer::next", |b| {
        b.iter(|| black_box(common::run_framer(black_box(&survived), false)))
    });
    g.bench_function("cellsock/Framer::next+classify", |b| {
        b.iter(|| black_box(common::run_framer(black_box(&survived), true)))
    });
    g.bench_function("cellsock/FramerDigester", |b| {
        b.iter(|| black_box(common::run_framer_digester(black_box(&survived))))
    });
    g.bench_function("atat/AtDigester", |b| {
        b.iter(|| black_box(common::run_at_digester(black_box(&survived))))
    });
    g.finish();
}

criterion_group!(benches, framer);
criterion_main!(benches);
