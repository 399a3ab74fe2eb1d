//! Inputs the fuzz targets (`fuzz/`, docs/reliability.md "Fuzzing") found, kept as
//! tests in plain terms. A test for a bug not fixed yet is `#[ignore]`d with the
//! reason; it passes once the bug is fixed.

mod common;

use cellsock::framer::Frame;
use cellsock::modems::bg96::Bg96;
use cellsock::profile::{Context, Event, Final, Urc};
use cellsock::replay::{ReplayUart, VirtualClock};
use cellsock::{AddressFamily, Config, Driver, Error, NetStack, Profile, SocketState};
use common::answer;

type Stack<'d> = NetStack<'d, Bg96, ReplayUart, VirtualClock, 2, 4096>;

fn connected(stack: &mut Stack<'_>) -> cellsock::SocketHandle {
    let s = stack.create(AddressFamily::Unspecified).unwrap();
    for _ in 0..50 {
        match stack.connect(s, "192.0.2.1", "5683") {
            Ok(()) => return s,
            Err(Error::InProgress) => {
                answer(stack);
            }
            Err(e) => panic!("connect failed: {e:?}"),
        }
    }
    panic!("socket did not connect");
}

/// Found by `framer` (crash-c1503df8): `+QIURC: "recv",40000,...` was delivered to
/// connectID 64 (40000 truncated to a byte); `256` would have gone to socket 0.
/// Every id and code the BG96 profile reads is now range-checked.
#[test]
fn bg96_ids_that_are_no_byte_name_no_socket() {
    let p = Bg96::new();
    let ctx = Context::default();
    for header in [&b"+QIURC: \"recv\",256,3"[..], b"+QIURC: \"recv\",40000,3"] {
        let e = p.classify(
            Frame::Payload {
                header,
                data: b"abc",
            },
            &ctx,
        );
        assert_eq!(e, Event::Unknown, "{}", String::from_utf8_lossy(header));
    }
    let line = |l: &'static [u8]| p.classify(Frame::Line(l), &ctx);
    assert_eq!(line(b"+QIURC: \"closed\",256"), Event::Unknown);
    assert_eq!(line(b"+QIURC: \"pdpdeact\",257"), Event::Unknown);
    assert_eq!(line(b"+QIURC: \"recv\",256"), Event::Unknown);
    assert_eq!(line(b"+CEREG: 257"), Event::Unknown);
    assert_eq!(
        line(b"+CME ERROR: 65537"),
        Event::Final(Final::CmeError(0)),
        "a code no u16 holds is unknown (0), not 1"
    );
    assert_eq!(line(b"+QIURC: \"closed\",0"), Event::Urc(Urc::Closed(0)));

    // The same through the driver: socket 0 is not touched by connectID 256.
    let mut driver: Driver<Bg96, 2, 4096> =
        Driver::new(Bg96::new(), Config::new("internet").unwrap());
    let mut stack = NetStack::new(&mut driver, ReplayUart::new(None), VirtualClock::new());
    let s = connected(&mut stack);
    stack
        .uart
        .feed(b"\r\n+QIURC: \"recv\",256,3\r\nabc\r\n\r\n+QIURC: \"closed\",256\r\n");
    let mut buf = [0u8; 16];
    assert_eq!(stack.recv(s, &mut buf), Err(Error::WouldBlock));
    assert_eq!(stack.state(s), Ok(SocketState::Connected));
    assert_eq!(stack.driver.profile().name(), "bg96");
}
