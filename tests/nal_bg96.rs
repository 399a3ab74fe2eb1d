//! `embedded_nal::UdpClientStack` over the BG96 profile, against the scripted
//! modem: what a Rust CoAP client would do.

mod common;

use core::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use cellsock::modems::bg96::Bg96;
use cellsock::replay::{ReplayUart, VirtualClock};
use cellsock::{Config, Driver, Error, NetStack, Reason};
use common::answer;
use embedded_nal::UdpClientStack;

fn stack(
    driver: &mut Driver<Bg96, 2, 4096>,
) -> NetStack<'_, Bg96, ReplayUart, VirtualClock, 2, 4096> {
    NetStack::new(driver, ReplayUart::new(None), VirtualClock::new())
}

#[test]
fn connect_send_receive_close_through_embedded_nal() {
    let mut driver = Driver::new(Bg96::new(), Config::new("internet").unwrap());
    let mut net = stack(&mut driver);
    let mut sock = UdpClientStack::socket(&mut net).unwrap();
    let remote = SocketAddr::new(Ipv4Addr::new(192, 0, 2, 1).into(), 5683);
    UdpClientStack::connect(&mut net, &mut sock, remote).unwrap();

    // send answers WouldBlock while the modem comes up and opens the socket.
    let mut tries = 0;
    loop {
        match UdpClientStack::send(&mut net, &mut sock, b"\x40\x01\x00\x01") {
            Ok(()) => break,
            Err(nb::Error::WouldBlock) => {
                answer(&mut net);
                tries += 1;
                assert!(tries < 100, "send never completed");
            }
            Err(nb::Error::Other(e)) => panic!("send failed: {e:?}"),
        }
    }
    assert_eq!(net.driver.bytes_sent(sock.handle()).unwrap(), 4);

    let mut buf = [0u8; 64];
    assert!(matches!(
        UdpClientStack::receive(&mut net, &mut sock, &mut buf),
        Err(nb::Error::WouldBlock)
    ));
    net.uart
        .feed(b"\r\n+QIURC: \"recv\",0,4\r\n\x60\x45\x00\x01\r\n");
    let (n, from) = UdpClientStack::receive(&mut net, &mut sock, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"\x60\x45\x00\x01");
    assert_eq!(from, remote);

    UdpClientStack::close(&mut net, sock).unwrap();
    answer(&mut net);
    assert!(net.uart.written().is_empty());
}

#[test]
fn ipv6_remote_is_passed_as_a_literal() {
    let mut driver = Driver::new(Bg96::new(), Config::new("internet").unwrap());
    let mut net = stack(&mut driver);
    let mut sock = UdpClientStack::socket(&mut net).unwrap();
    let remote = SocketAddr::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).into(), 5684);
    UdpClientStack::connect(&mut net, &mut sock, remote).unwrap();
    let mut lines = Vec::new();
    for _ in 0..10 {
        lines.extend(answer(&mut net));
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("AT+QIOPEN=") && l.contains(",\"2001:db8::1\",5684,")),
        "{lines:?}"
    );
}

#[test]
fn failed_connect_is_reported_by_send() {
    let mut config = Config::new("internet").unwrap();
    config.connect_timeout_ms = 5_000;
    let mut driver = Driver::new(Bg96::new(), config);
    let mut net = stack(&mut driver);
    let mut sock = UdpClientStack::socket(&mut net).unwrap();
    UdpClientStack::connect(
        &mut net,
        &mut sock,
        SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 5683),
    )
    .unwrap();
    // The modem never answers: probes time out until the connect deadline.
    let clock = net.clock.clone();
    let mut result = UdpClientStack::send(&mut net, &mut sock, b"x");
    for _ in 0..100 {
        if !matches!(result, Err(nb::Error::WouldBlock)) {
            break;
        }
        clock.advance(500);
        net.uart.take_written(usize::MAX);
        result = UdpClientStack::send(&mut net, &mut sock, b"x");
    }
    assert!(
        matches!(
            result,
            Err(nb::Error::Other(Error::Failed(Reason::ModemNotReady)))
        ),
        "{result:?}"
    );
}
