//! Inputs the fuzz targets (`fuzz/`, docs/reliability.md "Fuzzing") found, kept as
//! tests in plain terms. A test for a bug not fixed yet is `#[ignore]`d with the
//! reason; it passes once the bug is fixed.

mod common;

use cellsock::framer::Frame;
use cellsock::modems::bg96::Bg96;
use cellsock::modems::nrf91_slm::Nrf91Slm;
use cellsock::profile::{Context, Event, Final, Urc};
use cellsock::replay::{ReplayUart, VirtualClock};
use cellsock::{AddressFamily, Config, Driver, Error, NetStack, Profile, SocketState};
use common::{answer, answer_nrf91, nrf91_answer};

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

/// After a poll with nothing left to do now, `poll_at` must name a later time: a
/// firmware that sleeps until `poll_at` would otherwise spin at full CPU.
fn assert_no_busy_poll(stack: &mut Stack<'_>, what: &str) {
    stack.poll();
    let now = stack.clock.now_ms();
    for _ in 0..3 {
        stack.poll();
        assert!(
            stack.uart.written().is_empty(),
            "{what}: the driver wrote {:?}",
            String::from_utf8_lossy(stack.uart.written())
        );
    }
    let at = stack.driver.poll_at().map(|t| t.as_millis());
    assert!(
        at.is_none_or(|t| t > now),
        "{what}: poll_at() = {at:?} at {now} ms although polling does nothing"
    );
}

/// Found by `driver_nrf91` and `driver_bg96` (crash-de9f40ad, crash-fd216763): a
/// data notification (`+QIURC: "recv",<id>` on the BG96, `#XAPOLL: <h>,1` on the
/// nRF91) for a socket the modem reported closed sets the socket's pending read;
/// `schedule.rs` counts a pending read as work waiting (`work_waiting`), but
/// `choose` only reads Connected/Shutdown sockets, so nothing is started and
/// `poll_at()` answers "now" until the application closes the socket: a busy loop.
/// Fixed in a6cf451 (`schedule.rs`: only a pending read the scheduler can start
/// counts as work).
#[test]
fn data_notification_for_a_lost_socket_is_no_busy_loop() {
    let mut driver: Driver<Bg96, 2, 4096> =
        Driver::new(Bg96::new(), Config::new("internet").unwrap());
    let mut stack = NetStack::new(&mut driver, ReplayUart::new(None), VirtualClock::new());
    let s = connected(&mut stack);
    stack.uart.feed(b"\r\n+QIURC: \"closed\",0\r\n");
    stack.poll();
    let mut buf = [0u8; 16];
    assert_eq!(
        stack.recv(s, &mut buf),
        Err(Error::Failed(cellsock::Reason::SocketClosed))
    );
    assert_no_busy_poll(&mut stack, "closed socket");
    stack.uart.feed(b"\r\n+QIURC: \"recv\",0\r\n");
    assert_no_busy_poll(&mut stack, "data notification after the close");
}

/// Found by `driver_bg96` (crash-fd216763): the same with a socket whose open the
/// BG96 accepted (`OK`) and whose `+QIOPEN` result has not come yet: `poll_at()`
/// answers "now" until the result arrives or its 150 s wait runs out. Fixed in
/// a6cf451 with the one above.
#[test]
fn data_notification_before_the_open_result_is_no_busy_loop() {
    let mut driver: Driver<Bg96, 2, 4096> =
        Driver::new(Bg96::new(), Config::new("internet").unwrap());
    let mut stack = NetStack::new(&mut driver, ReplayUart::new(None), VirtualClock::new());
    let _s0 = connected(&mut stack);
    let s1 = stack.create(AddressFamily::Unspecified).unwrap();
    assert_eq!(
        stack.connect(s1, "192.0.2.1", "5684"),
        Err(Error::InProgress)
    );
    let open = stack.uart.take_written(usize::MAX);
    assert!(open.starts_with(b"AT+QIOPEN=1,1,"), "{open:?}");
    stack.uart.feed(b"\r\nOK\r\n");
    assert_no_busy_poll(&mut stack, "open accepted, result pending");
    stack.uart.feed(b"\r\n+QIURC: \"recv\",1\r\n");
    assert_no_busy_poll(&mut stack, "data notification before the open result");
}

/// Found by `driver_bg96` (crash-af614849): a command times out (here the first
/// probe), which starts the 300 ms quiet period for late answers; the modem then
/// announces a restart (`RDY`), which makes the next probe due at once. The
/// scheduler may not start it before the quiet period ends, but `poll_at()` already
/// answers "now": a busy loop until the quiet period is over. Fixed in c012655
/// (`schedule.rs`: times a command could start count only once it can).
#[test]
fn restart_during_the_quiet_period_is_no_busy_loop() {
    let mut driver: Driver<Bg96, 2, 4096> =
        Driver::new(Bg96::new(), Config::new("internet").unwrap());
    let mut stack = NetStack::new(&mut driver, ReplayUart::new(None), VirtualClock::new());
    let s = stack.create(AddressFamily::Unspecified).unwrap();
    assert_eq!(
        stack.connect(s, "192.0.2.1", "5683"),
        Err(Error::InProgress)
    );
    assert_eq!(
        stack.uart.take_written(usize::MAX),
        b"AT\r",
        "the first probe"
    );
    // No answer: the probe times out after 500 ms.
    stack.clock.advance(500);
    stack.poll();
    assert_eq!(stack.driver.stats().engine.timeouts, 1);
    assert_no_busy_poll(&mut stack, "probe timed out");
    stack.uart.feed(b"\r\nRDY\r\n");
    assert_no_busy_poll(&mut stack, "restart announced during the quiet period");
    // Once the quiet period is over, the probe goes out.
    stack.clock.advance(300);
    stack.poll();
    assert_eq!(stack.uart.take_written(usize::MAX), b"AT\r");
}

/// Found by `driver_bg96` (crash-9aa1e337): while a command is in flight (here a
/// send whose prompt does not come), the background poll falls due. It cannot
/// start before the command ends, but `recovery_wake_at` offers the poll time to
/// `poll_at()` anyway, so `poll_at()` answers "now" until the command is answered
/// or times out (10 s for a send, 150 s for an open): a busy loop. Fixed in
/// c012655 with the one above.
#[test]
fn background_poll_due_during_a_command_is_no_busy_loop() {
    let mut config = Config::new("internet").unwrap();
    config.poll_interval_ms = 1_000;
    let mut driver: Driver<Bg96, 2, 4096> = Driver::new(Bg96::new(), config);
    let mut stack = NetStack::new(&mut driver, ReplayUart::new(None), VirtualClock::new());
    let s = connected(&mut stack);
    assert_eq!(stack.send(s, b"hello"), Err(Error::InProgress));
    assert_eq!(stack.uart.take_written(usize::MAX), b"AT+QISEND=0,5\r");
    // No prompt. The poll interval passes while the send waits for it.
    stack.clock.advance(1_500);
    assert_no_busy_poll(&mut stack, "background poll due during a send");
}

/// Found by `driver_bg96` (crash-0bfe34d0): a `> ` that arrives while no send
/// waits for a prompt (a stray one, or the late prompt of a send already given up)
/// is no prompt and, having no line end, stays in the receive window as an
/// unfinished line (for up to `rx_gap_ms`). When the next send's command is
/// written within that time, the framer finds the old `> ` at the start of the
/// window and takes it as this send's prompt: the payload goes out before the
/// modem asked for it, into its command parser, and the modem's real prompt then
/// finds nothing (the send times out and is completed with filler).
#[test]
fn stray_prompt_is_not_the_next_sends_prompt() {
    let mut driver: Driver<Bg96, 2, 4096> =
        Driver::new(Bg96::new(), Config::new("internet").unwrap());
    let mut stack = NetStack::new(&mut driver, ReplayUart::new(None), VirtualClock::new());
    let s = connected(&mut stack);
    stack.uart.feed(b"\r\n> ");
    stack.poll();
    assert_eq!(stack.send(s, b"abc"), Err(Error::InProgress));
    stack.poll();
    assert_eq!(
        stack.uart.take_written(usize::MAX),
        b"AT+QISEND=0,3\r",
        "the payload waits for a prompt that comes after the command"
    );
    stack.uart.feed(b"\r\n> ");
    stack.poll();
    assert_eq!(stack.uart.take_written(usize::MAX), b"abc");
}

/// Found by `driver_nrf91` (crash-efb35032): `send` queues the datagram in the
/// driver's one send buffer while another command is in flight; `shutdown` on that
/// socket before the send command is written leaves it queued for good, since the
/// scheduler writes a queued send only for a Connected socket. The buffer stays
/// taken: every other socket's `send` answers "in progress" forever, and
/// `poll_at()` answers "now" (work waiting that never starts).
#[test]
fn shutdown_with_a_queued_send_frees_the_send_buffer() {
    let mut driver: Driver<Bg96, 2, 4096> =
        Driver::new(Bg96::new(), Config::new("internet").unwrap());
    let mut stack = NetStack::new(&mut driver, ReplayUart::new(None), VirtualClock::new());
    let s0 = connected(&mut stack);
    // A second socket's open is in flight (not answered yet)...
    let s1 = stack.create(AddressFamily::Unspecified).unwrap();
    assert_eq!(
        stack.connect(s1, "192.0.2.1", "5684"),
        Err(Error::InProgress)
    );
    let open = stack.uart.take_written(usize::MAX);
    assert!(open.starts_with(b"AT+QIOPEN=1,1,"), "{open:?}");
    // ...when socket 0 queues a datagram and is shut down.
    assert_eq!(stack.send(s0, b"abc"), Err(Error::InProgress));
    assert_eq!(stack.shutdown(s0), Ok(()));
    // The open completes; socket 1 connects and sends.
    stack.uart.feed(b"\r\nOK\r\n\r\n+QIOPEN: 1,0\r\n");
    answer(&mut stack);
    assert_eq!(stack.connect(s1, "192.0.2.1", "5684"), Ok(()));
    let mut sent = Err(Error::InProgress);
    for _ in 0..10 {
        sent = stack.send(s1, b"x");
        if sent != Err(Error::InProgress) {
            break;
        }
        answer(&mut stack);
    }
    assert_eq!(sent, Ok(1), "socket 1 can send");
    assert_no_busy_poll(&mut stack, "after the shutdown");
}

type Nrf91Stack<'d> = NetStack<'d, Nrf91Slm, ReplayUart, VirtualClock, 1, 4096>;

/// An nRF91 socket connected through the scripted answers of `common::answer_nrf91`.
fn connected_nrf91(st: &mut Nrf91Stack<'_>) -> cellsock::SocketHandle {
    let s = st.create(AddressFamily::Unspecified).unwrap();
    for _ in 0..100 {
        match st.connect(s, "192.0.2.1", "5683") {
            Ok(()) => return s,
            Err(Error::InProgress) => {}
            Err(e) => panic!("connect failed: {e:?}"),
        }
        answer_nrf91(st);
    }
    panic!("socket did not connect");
}

/// Found by `driver_nrf91` (crash-26c2d0f1): the Serial Modem hands over datagrams
/// of up to 2048 bytes (`Limits::max_recv`), but the receive window holds 1800
/// (`INGRESS_CAPACITY`), header included. A datagram of about 1760 bytes or more
/// is dropped at its header as a length that cannot fit, and its bytes are then
/// framed as modem lines: a peer's datagram can carry lines the driver takes as
/// the modem's (here a pushed `#XRECV` header and a 5-byte datagram, delivered as
/// if the modem had sent it; a `Ready` or `+CGEV: NW PDN DEACT` would end every
/// socket). In poll mode the same datagram becomes a phantom empty one (the read's
/// `OK` after the dropped bytes reads as a bare OK). Fixed in e0b7bd6 (the framer
/// skips such a payload by count and counts it in `oversized_payloads`).
#[test]
fn nrf91_datagram_larger_than_the_window_is_not_read_as_lines() {
    let mut config = Config::new("").unwrap();
    config.context_id = 0;
    let mut driver: Driver<Nrf91Slm, 1, 4096> = Driver::new(Nrf91Slm::new(), config);
    let mut st = NetStack::new(&mut driver, ReplayUart::new(None), VirtualClock::new());
    let s = connected_nrf91(&mut st);
    // A 1790-byte datagram whose first bytes look like modem output.
    let mut data = b"\r\n#XRECV: 0,0,5\r\nhello\r\n".to_vec();
    data.resize(1790, b'a');
    let mut bytes = b"\r\n#XRECV: 0,0,1790\r\n".to_vec();
    bytes.extend_from_slice(&data);
    bytes.extend_from_slice(b"\r\n");
    st.uart.feed(&bytes);
    let mut buf = [0u8; 2048];
    match st.recv(s, &mut buf) {
        Ok(n) => assert_eq!(&buf[..n], &data[..], "only the whole datagram may come"),
        Err(e) => assert_eq!(e, Error::WouldBlock, "or none (dropped and counted)"),
    }
    assert_eq!(st.recv(s, &mut buf), Err(Error::WouldBlock), "nothing else");
    assert_eq!(st.driver.stats().framer.oversized_payloads, 1);
    assert_eq!(st.driver.stats().driver.unknown_lines, 0);
}

/// Found by `driver_nrf91` (crash-26c2d0f1, again after e0b7bd6): in poll mode the
/// oversized datagram comes as the answer to a read (`#XRECVFROM` header, the
/// bytes, `OK`). The framer now skips the bytes by count, but the read then ends
/// in `OK` with no datagram seen, which the nRF91 profile defines as a zero-length
/// datagram (`bare_read_is_empty_datagram`): the application receives an empty
/// datagram that was never sent, in place of the dropped one.
#[test]
fn nrf91_oversized_datagram_in_a_read_is_no_empty_datagram() {
    let mut config = Config::new("").unwrap();
    config.context_id = 0;
    let mut driver: Driver<Nrf91Slm, 1, 4096> = Driver::new(Nrf91Slm::polled(), config);
    let mut st = NetStack::new(&mut driver, ReplayUart::new(None), VirtualClock::new());
    let s = connected_nrf91(&mut st);
    // Data waits; the driver reads it, and the modem hands over 1790 bytes.
    st.uart.feed(b"\r\n#XAPOLL: 0,1\r\n");
    st.poll();
    assert_eq!(st.uart.take_written(usize::MAX), b"AT#XRECVFROM=0,0,64,1\r");
    let mut answer = b"\r\n#XRECVFROM: 0,0,1790,\"192.0.2.1\",5683\r\n".to_vec();
    answer.extend_from_slice(&[b'a'; 1790]);
    answer.extend_from_slice(b"\r\nOK\r\n");
    st.uart.feed(&answer);
    st.poll();
    // It reads again: nothing left.
    assert_eq!(st.uart.take_written(usize::MAX), b"AT#XRECVFROM=0,0,64,1\r");
    st.uart.feed(b"\r\nERROR\r\n");
    st.poll();
    assert_eq!(st.driver.stats().framer.oversized_payloads, 1);
    let mut buf = [0u8; 2048];
    assert_eq!(
        st.recv(s, &mut buf),
        Err(Error::WouldBlock),
        "the skipped datagram is counted, not replaced by an empty one"
    );
}

/// Found by `driver_nrf91` (crash-05e4ff12): a socket's connect deadline
/// (`Config::connect_timeout_ms`, here 20 s) passes while its own open command is
/// in flight (`AT#XCONNECT`, which may take 65 s). `check_deadlines` rightly lets
/// the command's completion decide, but `wake_at` still offers the passed deadline,
/// so `poll_at()` answers "now" until the command ends: a busy loop of up to 45 s
/// here (on the BG96 when a connect's 240 s run out during its 150 s open).
#[test]
fn connect_deadline_during_its_own_command_is_no_busy_loop() {
    let mut config = Config::new("").unwrap();
    config.context_id = 0;
    config.connect_timeout_ms = 20_000;
    let mut driver: Driver<Nrf91Slm, 1, 4096> = Driver::new(Nrf91Slm::new(), config);
    let mut st = NetStack::new(&mut driver, ReplayUart::new(None), VirtualClock::new());
    let s = st.create(AddressFamily::Unspecified).unwrap();
    assert_eq!(st.connect(s, "192.0.2.1", "5683"), Err(Error::InProgress));
    // Everything answered but the connect step.
    for _ in 0..50 {
        st.poll();
        while let Some(end) = st.uart.written().iter().position(|&b| b == b'\r') {
            let line = st.uart.take_written(end + 1);
            if !line.starts_with(b"AT#XCONNECT=") {
                st.uart.feed(nrf91_answer(&line[..end]));
                st.poll();
            }
        }
    }
    st.clock.set(20_000);
    st.poll();
    for _ in 0..3 {
        st.poll();
    }
    assert!(st.uart.written().is_empty());
    let at = st.driver.poll_at().map(|t| t.as_millis());
    assert!(
        at.is_none_or(|t| t > 20_000),
        "poll_at() = {at:?} at 20000 ms while the open command is in flight"
    );
}
