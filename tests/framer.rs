//! Table-driven framer tests with the BG96 profile: rows of input bytes and the
//! frames they must give, each fed whole and in 1, 2, 3 and 7 byte pieces.

use cellsock::framer::{Frame, Framer, FramerDigester, FramerStats, Ingress, MAX_LINE};
use cellsock::modems::bg96::Bg96;
use cellsock::profile::{Context, Op};

/// What a frame looks like in a table row.
#[derive(Debug, PartialEq, Eq)]
enum F {
    Line(&'static [u8]),
    Prompt,
    Payload(&'static [u8], &'static [u8]),
}

/// A frame as owned data: (line or header, payload, kind).
type Owned = (Vec<u8>, Vec<u8>, u8);

fn own(frame: Frame<'_>) -> Owned {
    match frame {
        Frame::Line(l) => (l.to_vec(), vec![], 0),
        Frame::Prompt => (vec![], vec![], 1),
        Frame::Payload { header, data } => (header.to_vec(), data.to_vec(), 2),
    }
}

fn want(f: &F) -> Owned {
    match f {
        F::Line(l) => (l.to_vec(), vec![], 0),
        F::Prompt => (vec![], vec![], 1),
        F::Payload(h, d) => (h.to_vec(), d.to_vec(), 2),
    }
}

/// Frame `input` completely, offering it `step` bytes at a time.
fn frames(input: &[u8], step: usize, ctx: &Context) -> (Vec<Owned>, FramerStats) {
    let mut framer = Framer::new();
    let mut ingress: Ingress<2048> = Ingress::new();
    let mut out = Vec::new();
    for chunk in input.chunks(step.max(1)) {
        assert_eq!(ingress.push(chunk), chunk.len());
        loop {
            let (frame, used) = framer.next(ingress.data(), 2048, &Bg96::new(), ctx);
            if let Some(f) = frame {
                out.push(own(f));
            } else if used == 0 {
                break;
            }
            ingress.consume(used);
        }
    }
    (out, framer.stats)
}

const SEND: Context = Context {
    op: Some(Op::Send { handle: 0, len: 4 }),
    awaiting_prompt: true,
};
const IDLE: Context = Context {
    op: None,
    awaiting_prompt: false,
};

#[test]
fn table_whole_and_byte_by_byte() {
    let rows: &[(&[u8], Context, &[F])] = &[
        (b"\r\nOK\r\n", IDLE, &[F::Line(b"OK")]),
        (b"AT\r\r\nOK\r\n", IDLE, &[F::Line(b"AT"), F::Line(b"OK")]),
        (b"\r\n> ", SEND, &[F::Prompt]),
        (b"\r\n>", SEND, &[F::Prompt]),
        (
            b"\r\n>  \r\nSEND OK\r\n",
            SEND,
            &[F::Prompt, F::Line(b"SEND OK")],
        ),
        // Not awaiting a prompt: "> " is just the start of a line.
        (b"\r\n> x\r\n", IDLE, &[F::Line(b"> x")]),
        (
            b"\r\n+QIURC: \"recv\",0,6\r\n\r\nOK\r\n\r\n",
            IDLE,
            &[F::Payload(b"+QIURC: \"recv\",0,6", b"\r\nOK\r\n")],
        ),
        (
            b"\r\n+QIURC: \"recv\",1,3\r\n> \x00\r\n+QIURC: \"closed\",1\r\n",
            SEND,
            &[
                F::Payload(b"+QIURC: \"recv\",1,3", b"> \x00"),
                F::Line(b"+QIURC: \"closed\",1"),
            ],
        ),
        (
            b"+QIRD: 4\r\nab\r\n\r\n\r\nOK\r\n",
            IDLE,
            &[F::Payload(b"+QIRD: 4", b"ab\r\n"), F::Line(b"OK")],
        ),
        (
            b"\r\n+QIRD: 0\r\n\r\nOK\r\n",
            IDLE,
            &[F::Line(b"+QIRD: 0"), F::Line(b"OK")],
        ),
        (b"\r\n+QIRD: 5,5,0\r\n", IDLE, &[F::Line(b"+QIRD: 5,5,0")]),
        (
            b"\r\n+QIURC: \"recv\",0,0\r\n\r\n",
            IDLE,
            &[F::Payload(b"+QIURC: \"recv\",0,0", b"")],
        ),
    ];
    for (input, ctx, expected) in rows {
        let expected: Vec<_> = expected.iter().map(want).collect();
        for step in [input.len(), 1, 2, 3, 7] {
            let (got, _) = frames(input, step, ctx);
            assert_eq!(got, expected, "input {:?} fed {} at a time", input, step);
        }
    }
}

#[test]
fn lying_length_is_dropped_and_framing_goes_on() {
    let input = b"\r\n+QIURC: \"recv\",0,60000\r\nOK\r\n";
    for step in [input.len(), 1] {
        let (got, stats) = frames(input, step, &IDLE);
        assert_eq!(got, vec![want(&F::Line(b"OK"))]);
        assert_eq!(stats.bad_lengths, 1);
    }
}

#[test]
fn overlong_line_is_discarded_up_to_its_end() {
    let mut input = vec![b'x'; MAX_LINE + 10];
    input.extend_from_slice(b"\r\nOK\r\n");
    for step in [input.len(), 1, 5] {
        let (got, stats) = frames(&input, step, &IDLE);
        assert_eq!(got, vec![want(&F::Line(b"OK"))], "step {step}");
        assert_eq!(stats.overlong_lines, 1, "step {step}");
    }
}

#[test]
fn digester_adapter_maps_frames_to_atat_results() {
    use atat::digest::{DigestResult, Digester};
    let mut d = FramerDigester::new(Bg96::new(), 2048);
    assert_eq!(
        d.digest(b"\r\nOK\r\n"),
        (DigestResult::Response(Ok(b"OK")), 5)
    );
    assert_eq!(
        d.digest(b"\r\n+QIURC: \"closed\",0\r\n"),
        (DigestResult::Urc(b"+QIURC: \"closed\",0"), 21)
    );
    let buf = b"+QIURC: \"recv\",0,2\r\nhi";
    assert_eq!(d.digest(buf), (DigestResult::Urc(&buf[..]), buf.len()));
    assert_eq!(
        d.digest(b"\r\nERROR\r\n").0,
        DigestResult::Response(Err(atat::InternalError::Error))
    );
    d.set_context(SEND);
    assert_eq!(d.digest(b"> "), (DigestResult::Prompt(b'>'), 2));
    assert_eq!(d.digest(b"\r\nOK"), (DigestResult::None, 2));
}

#[test]
fn payload_larger_than_the_window_is_skipped_by_count_not_read_as_lines() {
    // A real datagram (within the modem's 1500-byte limit) that a small receive
    // window cannot hold: its bytes, which look like protocol here, must never
    // become lines; the line after it must still frame.
    let mut payload = Vec::new();
    while payload.len() < 300 {
        payload.extend_from_slice(b"\r\nOK\r\n> \r\n+QIURC: \"closed\",0\r\n");
    }
    payload.truncate(300);
    let mut input = b"\r\n+QIURC: \"recv\",0,300\r\n".to_vec();
    input.extend_from_slice(&payload);
    input.extend_from_slice(b"\r\nSEND OK\r\n");
    for step in [input.len(), 1, 7, 64] {
        let mut framer = Framer::new();
        let mut ingress: Ingress<128> = Ingress::new();
        let mut out = Vec::new();
        for chunk in input.chunks(step) {
            let mut fed = 0;
            while fed < chunk.len() {
                fed += ingress.push(&chunk[fed..]);
                loop {
                    let (frame, used) = framer.next(ingress.data(), 128, &Bg96::new(), &IDLE);
                    if let Some(f) = frame {
                        out.push(own(f));
                    } else if used == 0 {
                        break;
                    }
                    ingress.consume(used);
                }
            }
        }
        assert_eq!(out, vec![want(&F::Line(b"SEND OK"))], "step {step}");
        assert_eq!(framer.stats.oversized_payloads, 1, "step {step}");
        assert_eq!(framer.stats.bad_lengths, 0, "step {step}");
    }
}
