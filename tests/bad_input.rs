//! Every bad input listed in docs/reliability.md ("Bad input"), with the error it
//! gets and, for the modem's side, the counter that records it. Against the
//! scripted BG96 of `tests/common` (and the nRF91 profile where it differs).

mod common;

use cellsock::modems::bg96::Bg96;
use cellsock::modems::nrf91_slm::Nrf91Slm;
use cellsock::replay::{ReplayUart, VirtualClock};
use cellsock::{
    parse_port, validate_host, AddressFamily, Config, Driver, Error, NetStack, PdpType, Profile,
    Reason, SocketHandle,
};
use common::answer;

type Stack<'d> = NetStack<'d, Bg96, ReplayUart, VirtualClock, 2, 4096>;

fn driver() -> Driver<Bg96, 2, 4096> {
    Driver::new(Bg96::new(), Config::new("internet").unwrap())
}

fn stack(d: &mut Driver<Bg96, 2, 4096>) -> Stack<'_> {
    NetStack::new(d, ReplayUart::new(None), VirtualClock::new())
}

fn connected(stack: &mut Stack<'_>) -> SocketHandle {
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

fn failed(r: Reason) -> Error {
    Error::Failed(r)
}

#[test]
fn bad_hosts_are_invalid_host_and_nothing_is_written() {
    let mut d = driver();
    let mut st = stack(&mut d);
    let s = st.create(AddressFamily::Unspecified).unwrap();
    let long = "a".repeat(129);
    for host in [
        "",
        "evil\"host",
        "a\rb",
        "a\nb",
        "a\r\nAT+QPOWD",
        "host,1",
        "a b",
        "host\0",
        "h\u{e9}te",
        "[2001:db8::1",
        "[]",
        long.as_str(),
    ] {
        assert_eq!(
            st.connect(s, host, "5683"),
            Err(failed(Reason::InvalidHost)),
            "{host:?}"
        );
        assert!(st.uart.written().is_empty(), "{host:?}: bytes were written");
    }
    // Letters, digits, `.-_:` and one pair of IPv6 brackets are fine; 128 bytes is
    // the BG96's limit (the nRF91's is 127, see below).
    assert_eq!(validate_host("[2001:db8::1]", 128), Ok("2001:db8::1"));
    assert_eq!(
        validate_host("lwm2m-server_1.example", 128),
        Ok("lwm2m-server_1.example")
    );
    assert!(validate_host(&"a".repeat(128), 128).is_ok());
    assert_eq!(
        validate_host(&"a".repeat(128), 127),
        Err(failed(Reason::InvalidHost))
    );
}

#[test]
fn bad_ports_are_invalid_port() {
    for port in [
        "", "0", "65536", "99999", "-1", "+1", "56a", "123456", " 1", "1 ", "0x50",
    ] {
        assert_eq!(
            parse_port(port),
            Err(failed(Reason::InvalidPort)),
            "{port:?}"
        );
    }
    assert_eq!(parse_port("1"), Ok(1));
    assert_eq!(parse_port("65535"), Ok(65535));
    assert_eq!(
        parse_port("00080"),
        Ok(80),
        "leading zeros are decimal digits"
    );
    let mut d = driver();
    let mut st = stack(&mut d);
    let s = st.create(AddressFamily::Unspecified).unwrap();
    assert_eq!(
        st.connect(s, "192.0.2.1", "0"),
        Err(failed(Reason::InvalidPort))
    );
    // The host is checked first.
    assert_eq!(st.connect(s, "a b", "0"), Err(failed(Reason::InvalidHost)));
    assert!(st.uart.written().is_empty());
}

#[test]
fn bad_apn_is_refused_by_config() {
    for apn in ["a\"b", "a b", "a\r", &"a".repeat(64)] {
        assert_eq!(
            Config::new(apn).map(|_| ()),
            Err(failed(Reason::InvalidHost)),
            "{apn:?}"
        );
    }
    assert!(Config::new("").is_ok(), "empty: the network's default APN");
}

#[test]
fn datagram_over_the_mtu_is_message_size_and_empty_is_not_supported() {
    let mut d = driver();
    let mut st = stack(&mut d);
    let s = connected(&mut st);
    assert_eq!(st.inner_mtu(s), Ok(1460));
    assert_eq!(st.send(s, &[0x55; 1461]), Err(Error::MessageSize));
    // AT+QISEND=<id>,0 is a counter query on the BG96, not a send.
    assert_eq!(st.send(s, b""), Err(Error::NotSupported));
    assert!(
        st.uart.written().is_empty(),
        "nothing was written for either"
    );
    assert_eq!(st.send(s, &[0x55; 1460]), Err(Error::InProgress));

    // The nRF91 cannot send an empty datagram either (data mode would never end):
    // the same ENOTSUP, proven end to end by modems/nrf91_slm/recordings/send_failures.rec.
    assert!(!Nrf91Slm::new().can_send_empty());
    assert_eq!(Nrf91Slm::new().limits().max_send, 1460);
}

#[test]
fn receive_buffer_too_small_is_message_size_and_the_datagram_is_dropped() {
    let mut d = driver();
    let mut st = stack(&mut d);
    let s = connected(&mut st);
    st.uart
        .feed(b"\r\n+QIURC: \"recv\",0,5\r\nfirst\r\n\r\n+QIURC: \"recv\",0,2\r\nok\r\n");
    let mut small = [0u8; 4];
    assert_eq!(st.recv(s, &mut small), Err(Error::MessageSize));
    assert_eq!(st.recv(s, &mut small), Ok(2), "the next one is intact");
    assert_eq!(&small[..2], b"ok");
    let stats = st.driver.socket_stats(s).unwrap();
    assert_eq!(stats.dropped_too_large, 1);
    assert_eq!(stats.bytes_received, 2);
}

#[test]
fn calls_after_cleanup_are_bad_handle() {
    let mut d = driver();
    let mut st = stack(&mut d);
    let s = st.create(AddressFamily::Unspecified).unwrap();
    assert_eq!(
        st.cleanup(s),
        Ok(()),
        "nothing open in the modem: done at once"
    );
    let bad = Err(failed(Reason::BadHandle));
    assert_eq!(st.connect(s, "192.0.2.1", "5683"), bad);
    assert_eq!(st.send(s, b"x").map(|_| ()), bad);
    assert_eq!(st.recv(s, &mut [0u8; 8]).map(|_| ()), bad);
    assert_eq!(st.shutdown(s), bad);
    assert_eq!(st.close(s), bad);
    assert_eq!(st.cleanup(s), bad);
    assert_eq!(st.state(s).map(|_| ()), bad);
    assert_eq!(st.inner_mtu(s).map(|_| ()), bad);
    assert_eq!(st.reuse_last_port(s), bad);
    assert_eq!(st.queue_mode_rx_off(s), bad);
    let d = &mut *st.driver;
    assert_eq!(d.local_port(s).map(|_| ()), bad);
    assert_eq!(d.bytes_sent(s).map(|_| ()), bad);
    assert_eq!(d.bytes_received(s).map(|_| ()), bad);
    assert_eq!(d.socket_stats(s).map(|_| ()), bad);
    assert_eq!(d.system_socket(s).map(|_| ()), bad);
    assert_eq!(d.release(s), bad);
}

#[test]
fn calls_in_the_wrong_state_are_invalid_state() {
    let mut d = driver();
    let mut st = stack(&mut d);
    let s = st.create(AddressFamily::Unspecified).unwrap();
    let invalid = Err(failed(Reason::InvalidState));
    // Not connected yet.
    assert_eq!(st.send(s, b"x").map(|_| ()), invalid);
    assert_eq!(st.recv(s, &mut [0u8; 8]).map(|_| ()), invalid);
    assert_eq!(st.shutdown(s), invalid);
    assert_eq!(st.reuse_last_port(s), invalid, "never connected");
    // Connected: connecting elsewhere, and sending after shutdown.
    let s = {
        st.cleanup(s).unwrap();
        connected(&mut st)
    };
    assert_eq!(st.connect(s, "192.0.2.99", "5683"), invalid);
    assert_eq!(
        st.connect(s, "192.0.2.1", "5683"),
        Ok(()),
        "the same target: Ok"
    );
    assert_eq!(st.shutdown(s), Ok(()));
    assert_eq!(st.send(s, b"x").map(|_| ()), invalid);
    // The nRF91 cannot bind a chosen local port at all.
    let mut n: Driver<Nrf91Slm, 1, 2048> = Driver::new(Nrf91Slm::new(), Config::new("").unwrap());
    let s = n.create(AddressFamily::Unspecified).unwrap();
    assert_eq!(n.reuse_last_port(s), Err(Error::NotSupported));
}

#[test]
fn no_free_slot_and_unsupported_families_are_refused_at_create() {
    let mut d = driver();
    let a = d.create(AddressFamily::Unspecified).unwrap();
    let _b = d.create(AddressFamily::Ipv4).unwrap();
    assert_eq!(
        d.create(AddressFamily::Unspecified),
        Err(failed(Reason::NoFreeSocket))
    );
    d.cleanup(a).unwrap();
    // An IPv4 context cannot carry an IPv6 socket, nor an IPv6 context an IPv4 one.
    assert_eq!(d.create(AddressFamily::Ipv6), Err(Error::NotSupported));
    let mut config = Config::new("internet").unwrap();
    config.pdp_type = PdpType::Ipv6;
    let mut d6: Driver<Bg96, 2, 4096> = Driver::new(Bg96::new(), config);
    assert_eq!(d6.create(AddressFamily::Ipv4), Err(Error::NotSupported));
    assert!(d6.create(AddressFamily::Ipv6).is_ok());
}

#[test]
fn bad_modem_output_is_dropped_and_counted() {
    let mut d = driver();
    let mut st = stack(&mut d);
    let s = connected(&mut st);
    let before = st.driver.stats();
    let long = [b'Z'; 300];
    let mut junk = Vec::new();
    // A length the modem cannot mean (over 1500): header dropped, framing goes on.
    junk.extend_from_slice(b"\r\n+QIURC: \"recv\",0,1501\r\n");
    // A line longer than 256 bytes.
    junk.extend_from_slice(b"\r\n");
    junk.extend_from_slice(&long);
    junk.extend_from_slice(b"\r\n");
    // A line nobody knows, a final result nobody waits for, a datagram for a
    // connectID no socket owns.
    junk.extend_from_slice(b"\r\nWHAT IS THIS\r\n\r\nOK\r\n");
    junk.extend_from_slice(b"\r\n+QIURC: \"recv\",5,2\r\nxx\r\n");
    // And a good datagram after all of it.
    junk.extend_from_slice(b"\r\n+QIURC: \"recv\",0,4\r\ngood\r\n");
    st.uart.feed(&junk);
    let mut buf = [0u8; 64];
    assert_eq!(st.recv(s, &mut buf), Ok(4));
    assert_eq!(&buf[..4], b"good");
    let after = st.driver.stats();
    assert_eq!(after.framer.bad_lengths, before.framer.bad_lengths + 1);
    assert_eq!(
        after.framer.overlong_lines,
        before.framer.overlong_lines + 1
    );
    assert!(after.driver.unknown_lines > before.driver.unknown_lines);
    assert_eq!(after.engine.stray_finals, before.engine.stray_finals + 1);
    assert_eq!(
        after.driver.stray_datagrams,
        before.driver.stray_datagrams + 1
    );

    // Half a line and then silence for rx_gap_ms (1 s): thrown away, counted.
    st.uart.feed(b"\r\n+QIURC: \"re");
    st.poll();
    st.clock.advance(1_000);
    st.poll();
    assert_eq!(
        st.driver.stats().framer.stale_flushes,
        after.framer.stale_flushes + 1
    );
    st.uart.feed(b"\r\n+QIURC: \"recv\",0,2\r\nok\r\n");
    assert_eq!(st.recv(s, &mut buf), Ok(2), "framing starts afresh");

    // A full receive ring drops the new datagram and counts it.
    let big = [0x42u8; 1500];
    for _ in 0..3 {
        let mut d = b"\r\n+QIURC: \"recv\",0,1500\r\n".to_vec();
        d.extend_from_slice(&big);
        d.extend_from_slice(b"\r\n");
        st.uart.feed(&d);
        st.poll();
    }
    assert_eq!(
        st.driver.stats().driver.dropped_ring_full,
        1,
        "4096-byte ring"
    );
    assert_eq!(st.driver.socket_stats(s).unwrap().dropped_ring_full, 1);
}

#[test]
fn bad_names_and_addresses_for_the_resolver_and_send_to() {
    let mut d = driver();
    // Refused before anything is queued: no command at all.
    assert_eq!(
        d.resolve("bad,name", AddressFamily::Unspecified),
        Err(failed(Reason::InvalidHost))
    );
    assert_eq!(
        d.resolve("", AddressFamily::Unspecified),
        Err(failed(Reason::InvalidHost))
    );
    // A literal is answered at once; of the other family it is a failed lookup.
    assert_eq!(
        d.resolve("192.0.2.99", AddressFamily::Unspecified),
        Ok("192.0.2.99".parse().unwrap())
    );
    assert_eq!(
        d.resolve("192.0.2.99", AddressFamily::Ipv6),
        Err(failed(Reason::DnsFailed))
    );
    assert_eq!(
        d.resolve("[2001:db8::1]", AddressFamily::Ipv4),
        Err(failed(Reason::DnsFailed))
    );
    // send_to port 0 is refused whatever the socket.
    let s = d.create(AddressFamily::Unspecified).unwrap();
    assert_eq!(
        d.send_to(s, "192.0.2.7:0".parse().unwrap(), b"x"),
        Err(failed(Reason::InvalidPort))
    );
    assert_eq!(d.stats().engine.commands, 0, "nothing was written");
}

#[test]
fn reverse_lookup_is_not_supported() {
    use embedded_nal::Dns;
    let mut d = driver();
    let mut st = stack(&mut d);
    let mut name = [0u8; 64];
    assert!(matches!(
        st.get_host_by_address("192.0.2.1".parse().unwrap(), &mut name),
        Err(nb::Error::Other(Error::NotSupported))
    ));
    assert!(st.uart.written().is_empty());
}
