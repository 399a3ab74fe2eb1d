//! Target `framer`: arbitrary modem bytes, cut into arbitrary chunks, through the
//! receive window and the framer of the driver, with every profile.
//!
//! Input: `[profile, first op, seed hi, seed lo, stream...]`. The stream is framed
//! three times — fed whole, one byte at a time, and in chunks drawn from the seed —
//! with the op in flight following the frames as in the driver (a prompt ends the
//! wait for it, a final result ends the op and the next op of a fixed cycle
//! starts), so the three runs must see the same frames.
//!
//! Invariants: no panic; a frame never uses more bytes than it was shown; the
//! window never fills up with the framer still asking for more (a stall); lines are
//! non-empty, trimmed, shorter than `MAX_LINE`, without CR or LF; a prompt only
//! while a send waits for one; a payload is exactly as long as its header says and
//! within the modem's limit; a datagram goes to the handle its header names (read
//! in full, not truncated to a byte) or, for `+QIRD`, to the read in flight; the
//! frames and the framer's counters do not depend on the chunking.

use cellsock::framer::{Frame, Framer, FramerStats, Ingress, MAX_LINE};
use cellsock::modems::bg96::Bg96;
use cellsock::modems::nrf91_slm::Nrf91Slm;
use cellsock::profile::{Context, Event, Op};
use cellsock::replay::generic::LineOnly;
use cellsock::replay::Rng;
use cellsock::{Profile, INGRESS_CAPACITY};

use crate::reference::{header, Dialect};

/// The ops the context cycles through.
const OPS: [Option<Op>; 10] = [
    None,
    Some(Op::Send { handle: 0, len: 5 }),
    Some(Op::Read { handle: 0 }),
    Some(Op::Open { handle: 0, step: 0 }),
    Some(Op::Registration),
    Some(Op::SimStatus),
    Some(Op::PdpStatus),
    Some(Op::Send { handle: 1, len: 1 }),
    Some(Op::Read { handle: 3 }),
    Some(Op::Close { handle: 0 }),
];

fn context(i: usize) -> Context {
    let op = OPS[i % OPS.len()];
    Context {
        op,
        awaiting_prompt: matches!(op, Some(Op::Send { .. })),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Owned {
    Line(Vec<u8>),
    Prompt,
    Payload(Vec<u8>, Vec<u8>),
}

#[derive(Debug, PartialEq, Eq)]
struct Run {
    frames: Vec<Owned>,
    stats: FramerStats,
    leftover: usize,
}

fn check_line(line: &[u8]) {
    assert!(!line.is_empty(), "empty line frame");
    assert!(line.len() < MAX_LINE, "line of {} bytes kept", line.len());
    assert!(
        !line.iter().any(|&b| b == b'\r' || b == b'\n'),
        "line frame holds a line end: {line:?}"
    );
    assert!(
        !line[0].is_ascii_whitespace() && !line[line.len() - 1].is_ascii_whitespace(),
        "line frame not trimmed: {line:?}"
    );
}

fn run<P: Profile>(
    p: &P,
    dialect: Option<Dialect>,
    stream: &[u8],
    chunks: &mut dyn FnMut(usize) -> usize,
    first_op: usize,
) -> Run {
    let mut ingress: Ingress<INGRESS_CAPACITY> = Ingress::new();
    let mut framer = Framer::new();
    let mut op_index = first_op;
    let mut ctx = context(op_index);
    let mut frames = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let n = chunks(stream.len() - at).clamp(1, stream.len() - at);
        let chunk = &stream[at..at + n];
        at += n;
        let mut taken = 0;
        while taken < chunk.len() {
            let pushed = ingress.push(&chunk[taken..]);
            taken += pushed;
            loop {
                let data = ingress.data();
                let (frame, used) = framer.next(data, INGRESS_CAPACITY, p, &ctx);
                assert!(
                    used <= data.len(),
                    "framer used {used} of {} bytes",
                    data.len()
                );
                let Some(frame) = frame else {
                    if used == 0 {
                        break;
                    }
                    ingress.consume(used);
                    continue;
                };
                match frame {
                    Frame::Line(line) => {
                        check_line(line);
                        frames.push(Owned::Line(line.to_vec()));
                    }
                    Frame::Prompt => {
                        assert!(ctx.awaiting_prompt, "prompt while no send waits for one");
                        frames.push(Owned::Prompt);
                    }
                    Frame::Payload { header: h, data: d } => {
                        check_line(h);
                        assert_eq!(
                            p.payload_length(h, &ctx),
                            Some(d.len()),
                            "payload not as long as its header says"
                        );
                        assert!(d.len() <= p.limits().max_recv, "payload over the limit");
                        frames.push(Owned::Payload(h.to_vec(), d.to_vec()));
                    }
                }
                match p.classify(frame, &ctx) {
                    Event::Prompt => ctx.awaiting_prompt = false,
                    Event::Final(_) => {
                        op_index += 1;
                        ctx = context(op_index);
                    }
                    Event::Datagram {
                        handle, data: d, ..
                    } => {
                        let Frame::Payload { header: h, .. } = frame else {
                            panic!("a datagram from a frame that is not a payload");
                        };
                        let Some(dialect) = dialect else {
                            panic!("a datagram from a line-only profile");
                        };
                        match header(dialect, h) {
                            Some((Some(id), n)) => {
                                assert_eq!(
                                    id,
                                    u32::from(handle),
                                    "datagram for handle {id} delivered to handle {handle} ({:?})",
                                    String::from_utf8_lossy(h)
                                );
                                assert_eq!(n, d.len());
                            }
                            Some((None, n)) => {
                                assert_eq!(ctx.op, Some(Op::Read { handle }), "read payload");
                                assert_eq!(n, d.len());
                            }
                            None => panic!(
                                "datagram from a header the modem documentation does not have: {:?}",
                                String::from_utf8_lossy(h)
                            ),
                        }
                    }
                    _ => {}
                }
                ingress.consume(used);
            }
            assert!(
                pushed > 0 || ingress.len() < ingress.capacity(),
                "receive window full and the framer waits for more: stall"
            );
        }
    }
    Run {
        frames,
        stats: framer.stats,
        leftover: ingress.len(),
    }
}

fn check<P: Profile>(p: P, dialect: Option<Dialect>, first_op: usize, seed: u64, stream: &[u8]) {
    let whole = run(&p, dialect, stream, &mut |rest| rest, first_op);
    let bytes = run(&p, dialect, stream, &mut |_| 1, first_op);
    assert_eq!(whole, bytes, "whole vs one byte at a time");
    let mut rng = Rng::new(seed);
    let mut random = |rest: usize| {
        let n = rng.range(1, rest);
        if rng.range(0, 3) == 0 {
            n
        } else {
            n.min(rng.range(1, 8))
        }
    };
    let chunked = run(&p, dialect, stream, &mut random, first_op);
    assert_eq!(whole, chunked, "whole vs random chunks (seed {seed})");

    // atat's Digester shape over the same bytes: never panics, never over-consumes.
    use atat::digest::Digester;
    let mut dig = cellsock::framer::FramerDigester::new(p, INGRESS_CAPACITY);
    dig.set_context(context(first_op));
    let mut rest = stream;
    loop {
        let (_, used) = dig.digest(rest);
        assert!(used <= rest.len(), "digester used more than it was shown");
        if used == 0 {
            break;
        }
        rest = &rest[used..];
    }
}

/// One fuzz input.
pub fn framer(data: &[u8]) {
    let [profile, op, hi, lo, stream @ ..] = data else {
        return;
    };
    let seed = u64::from(u16::from_be_bytes([*hi, *lo]));
    let op = *op as usize;
    match profile % 5 {
        0 => check(Bg96::new(), Some(Dialect::Bg96), op, seed, stream),
        1 => check(Bg96::buffered(), Some(Dialect::Bg96), op, seed, stream),
        2 => check(Nrf91Slm::new(), Some(Dialect::Nrf91), op, seed, stream),
        3 => check(Nrf91Slm::polled(), Some(Dialect::Nrf91), op, seed, stream),
        _ => check(LineOnly, None, op, seed, stream),
    }
}
