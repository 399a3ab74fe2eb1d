//! The driver's CPU cost per datagram round trip: one `send` (command, prompt,
//! payload, `SEND OK`) and one `recv` of a pushed datagram of the same size, through
//! `NetStack` on the replay transport (`common::roundtrip`). The modem's bytes are
//! pre-built, so the time is the driver's plus the in-memory UART's.

#[path = "common/roundtrip.rs"]
mod roundtrip;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;

fn round_trip(c: &mut Criterion) {
    let mut g = c.benchmark_group("round_trip");
    for len in [16usize, 128, 1000] {
        let mut rt = roundtrip::RoundTrip::new(len);
        g.throughput(Throughput::Bytes(rt.uart_bytes_per_round_trip() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(len), &len, |b, _| {
            b.iter(|| black_box(rt.once()))
        });
    }
    g.finish();
}

criterion_group!(benches, round_trip);
criterion_main!(benches);
