//! A hostile BG96: after a normal bring-up, seeded random runs mix real datagrams
//! (for known and unknown sockets, with protocol-looking bytes) with junk lines,
//! stray final results and prompts, lying length headers and overlong lines, all
//! fed in random chunks, while the application sends and receives.
//!
//! Invariants checked on every run: nothing panics; every datagram delivered is
//! byte-identical to one the modem sent, delivered once, to the socket it was
//! addressed to; every datagram sent for a known socket is either delivered or
//! counted as dropped; the driver still completes a send at the end.

use std::collections::HashMap;

mod common;

use cellsock::modems::bg96::Bg96;
use cellsock::replay::{ReplayUart, Rng, VirtualClock};
use cellsock::{AddressFamily, Config, Driver, Error, NetStack, SocketHandle};
use common::answer;

type Stack<'d> = NetStack<'d, Bg96, ReplayUart, VirtualClock, 3, 8192>;

fn connect_all(stack: &mut Stack<'_>) -> Vec<SocketHandle> {
    let socks: Vec<SocketHandle> = (0..3)
        .map(|_| stack.create(AddressFamily::Unspecified).unwrap())
        .collect();
    for _ in 0..50 {
        let mut all = true;
        for &s in &socks {
            match stack.connect(s, "192.0.2.1", "5683") {
                Ok(()) => {}
                Err(Error::InProgress) => all = false,
                Err(e) => panic!("connect failed: {e:?}"),
            }
            answer(stack);
        }
        if all {
            return socks;
        }
    }
    panic!("sockets did not connect");
}

/// One hostile session; returns (datagrams generated for known sockets, delivered).
fn session(seed: u64) -> (usize, usize) {
    let mut rng = Rng::new(seed);
    let mut driver: Driver<Bg96, 3, 8192> =
        Driver::new(Bg96::new(), Config::new("internet").unwrap());
    let clock = VirtualClock::new();
    let mut stack: Stack<'_> = NetStack::new(&mut driver, ReplayUart::new(None), clock.clone());
    let socks = connect_all(&mut stack);

    let mut sent: HashMap<u16, (u8, Vec<u8>)> = HashMap::new();
    let mut seq: u16 = 0;
    let mut delivered = 0;
    let mut stream = Vec::new();
    for _ in 0..300 {
        match rng.range(0, 9) {
            0..=3 => {
                // A real datagram for socket 0..2, or for connectID 7 (nobody's).
                let id = [0u8, 1, 2, 7][rng.range(0, 3)];
                let len = rng.range(4, 1500);
                let mut data = vec![0xA5, id, (seq >> 8) as u8, seq as u8];
                while data.len() < len {
                    let pick = rng.range(0, 5);
                    data.extend_from_slice(
                        [
                            &b"\r\nOK\r\n"[..],
                            b"> ",
                            b"\x00",
                            b"\x1a",
                            b"\r\n+QIURC: \"closed\",0\r\n",
                            &[rng.range(0, 255) as u8],
                        ][pick],
                    );
                }
                data.truncate(len);
                stream.extend_from_slice(format!("\r\n+QIURC: \"recv\",{id},{len}\r\n").as_bytes());
                stream.extend_from_slice(&data);
                stream.extend_from_slice(b"\r\n");
                if id < 3 {
                    sent.insert(seq, (id, data));
                }
                seq += 1;
            }
            4 => {
                // A junk line of printable bytes.
                let n = rng.range(1, 40);
                let junk: Vec<u8> = (0..n).map(|_| rng.range(0x20, 0x7e) as u8).collect();
                stream.extend_from_slice(b"\r\n");
                stream.extend_from_slice(&junk);
                stream.extend_from_slice(b"\r\n");
            }
            5 => {
                let stray: [&[u8]; 4] = [
                    b"\r\nOK\r\n",
                    b"\r\nERROR\r\n",
                    b"\r\nSEND OK\r\n",
                    b"\r\n> ",
                ];
                stream.extend_from_slice(stray[rng.range(0, 3)]);
                stream.extend_from_slice(b"\r\n");
            }
            6 => stream.extend_from_slice(b"\r\n+QIURC: \"recv\",1,99999\r\n"),
            7 => {
                stream.extend_from_slice(b"\r\n");
                stream.extend(std::iter::repeat_n(b'Z', rng.range(257, 600)));
                stream.extend_from_slice(b"\r\n");
            }
            _ => {
                // Flush what the modem said so far, in random chunks, then let the
                // application receive.
                let mut at = 0;
                while at < stream.len() {
                    let n = rng.range(1, (stream.len() - at).min(64));
                    stack.uart.feed(&stream[at..at + n]);
                    stack.poll();
                    at += n;
                }
                stream.clear();
                for (i, &s) in socks.iter().enumerate() {
                    let mut buf = [0u8; 1500];
                    loop {
                        match stack.recv(s, &mut buf) {
                            Ok(n) => {
                                let got = &buf[..n];
                                assert!(
                                    n >= 4 && got[0] == 0xA5,
                                    "seed {seed}: corrupted datagram delivered"
                                );
                                let tag = u16::from_be_bytes([got[2], got[3]]);
                                let (id, want) = sent.remove(&tag).unwrap_or_else(|| {
                                    panic!(
                                        "seed {seed}: datagram {tag} delivered twice or never sent"
                                    )
                                });
                                assert_eq!(
                                    id as usize, i,
                                    "seed {seed}: datagram for socket {id} went to {i}"
                                );
                                assert_eq!(got, &want[..], "seed {seed}: datagram {tag} altered");
                                delivered += 1;
                            }
                            Err(Error::WouldBlock) => break,
                            Err(e) => panic!("seed {seed}: recv failed: {e:?}"),
                        }
                    }
                }
                clock.advance(10);
            }
        }
    }
    // Everything still unread: flush and drain once more.
    stack.uart.feed(&stream);
    stack.poll();
    for &s in &socks {
        let mut buf = [0u8; 1500];
        while let Ok(n) = stack.recv(s, &mut buf) {
            let tag = u16::from_be_bytes([buf[2], buf[3]]);
            let (_, want) = sent.remove(&tag).expect("delivered once");
            assert_eq!(&buf[..n], &want[..]);
            delivered += 1;
        }
    }
    let generated = delivered + sent.len();
    let dropped = stack.driver.stats().driver.dropped_ring_full as usize;
    assert_eq!(
        sent.len(),
        dropped,
        "seed {seed}: every datagram is delivered or counted as dropped"
    );

    // The driver still works: a send completes.
    clock.advance(1_000);
    let s = socks[0];
    let mut result = stack.send(s, b"still alive");
    for _ in 0..10 {
        if result != Err(Error::InProgress) {
            break;
        }
        answer(&mut stack);
        result = stack.send(s, b"still alive");
    }
    assert!(
        matches!(result, Ok(11) | Err(Error::Failed(_))),
        "seed {seed}: send ends, got {result:?}"
    );
    (generated, delivered)
}

#[test]
fn hostile_modem_never_corrupts_or_misdelivers() {
    let (mut generated, mut delivered) = (0, 0);
    for seed in 0..40 {
        let (g, d) = session(seed);
        generated += g;
        delivered += d;
    }
    assert!(
        generated > 1_000,
        "the campaign must exercise many datagrams"
    );
    assert!(
        delivered * 10 >= generated * 9,
        "most datagrams get through: {delivered}/{generated}"
    );
}
