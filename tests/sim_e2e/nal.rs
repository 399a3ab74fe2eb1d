//! embedded-nal's `UdpFullStack` and `Dns` used the way a third-party crate (a CoAP
//! server, a resolver-using client) uses them, against each simulated modem: an
//! unconnected socket bound to a port answers requests from two peers on
//! 127.0.0.1 and talks to the echo server with `send_to`, and host names resolve
//! through the modem's own resolver (BG96 `AT+QIDNSGIP`, nRF91 `AT#XGETADDRINFO`),
//! including the modem's DNS errors.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use cellsock::sim::Fault;
use cellsock::{Error, Reason, SocketState};
use embedded_nal::AddrType;

use crate::rig::{Modem, Rig};

/// A port nobody uses right now on 127.0.0.1.
fn free_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

/// A peer on 127.0.0.1 (a CoAP client, say).
fn peer() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_nonblocking(true).unwrap();
    s
}

per_modem!(full_stack_answers_two_peers_and_the_echo_server);
fn full_stack_answers_two_peers_and_the_echo_server(m: Modem) {
    let mut rig = Rig::new(m);
    let port = free_port();
    let mut sock = rig.net.nal().socket().unwrap();
    // bind only starts the open (embedded-nal's bind cannot say "in progress").
    rig.net.nal().bind(&mut sock, port).unwrap();
    let h = sock.handle();
    rig.until("bind", 600_000, |rig| {
        (rig.net.state(h) == Ok(SocketState::Connected)).then_some(())
    });
    let server = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
    let peers = [peer(), peer()];
    const ROUNDS: usize = 5;
    for round in 0..ROUNDS {
        for (i, p) in peers.iter().enumerate() {
            p.send_to(format!("req {i} {round}").as_bytes(), server)
                .unwrap();
        }
    }
    // The server: every request is answered to its sender; and one datagram to
    // the echo server, whose echo must come back from the echo server's address.
    let echo = rig.echo.addr();
    let mut out: VecDeque<(SocketAddr, Vec<u8>)> = VecDeque::new();
    out.push_back((echo, b"to the echo server".to_vec()));
    let mut answers: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    let mut echoed = false;
    let mut buf = [0u8; 1500];
    rig.until("serve", 600_000, |rig| {
        loop {
            match rig.net.nal().receive(&mut sock, &mut buf) {
                Ok((n, from)) => {
                    let text = String::from_utf8(buf[..n].to_vec()).unwrap();
                    if from == echo {
                        assert_eq!(text, "to the echo server");
                        echoed = true;
                        continue;
                    }
                    let i = peers
                        .iter()
                        .position(|p| p.local_addr().unwrap() == from)
                        .unwrap_or_else(|| panic!("a datagram from {from}, no peer of ours"));
                    assert!(
                        text.starts_with(&format!("req {i} ")),
                        "{text} from peer {i}"
                    );
                    out.push_back((from, text.replace("req", "resp").into_bytes()));
                }
                Err(nb::Error::WouldBlock) => break,
                Err(nb::Error::Other(e)) => panic!("receive: {e:?}"),
            }
        }
        if let Some((to, data)) = out.front().cloned() {
            match rig.net.nal().send_to(&mut sock, to, &data) {
                Ok(()) => {
                    out.pop_front();
                }
                Err(nb::Error::WouldBlock) => {}
                Err(nb::Error::Other(e)) => panic!("send_to {to}: {e:?}"),
            }
        }
        for (i, p) in peers.iter().enumerate() {
            let mut b = [0u8; 64];
            while let Ok((n, from)) = p.recv_from(&mut b) {
                assert_eq!(from, server, "answers come from the bound port");
                answers[i].push(String::from_utf8(b[..n].to_vec()).unwrap());
            }
        }
        let done = answers.iter().all(|a| a.len() == ROUNDS) && echoed && out.is_empty();
        done.then_some(())
    });
    for (i, a) in answers.iter().enumerate() {
        let want: Vec<String> = (0..ROUNDS).map(|r| format!("resp {i} {r}")).collect();
        assert_eq!(a, &want, "peer {i} got its answers, in order");
    }
    // A bound socket has no remote: the connected-socket send is refused.
    assert_eq!(
        rig.net.nal().send(&mut sock, b"x"),
        Err(nb::Error::Other(Error::Failed(Reason::InvalidState)))
    );
    rig.net.nal().close(sock).unwrap();
}

/// `get_host_by_name` until it stops answering `WouldBlock`.
fn resolve(rig: &mut Rig, host: &str, t: AddrType) -> Result<IpAddr, Error> {
    let host = host.to_string();
    rig.until("resolve", 600_000, |rig| {
        match rig.net.nal().get_host_by_name(&host, t.clone()) {
            Ok(ip) => Some(Ok(ip)),
            Err(nb::Error::WouldBlock) => None,
            Err(nb::Error::Other(e)) => Some(Err(e)),
        }
    })
}

per_modem!(dns_through_the_modem);
fn dns_through_the_modem(m: Modem) {
    let mut rig = Rig::new(m);
    // A bad name is refused before anything reaches the modem (not even bring-up).
    let before = rig.sim.stats().commands;
    assert_eq!(
        rig.net.nal().get_host_by_name("bad name", AddrType::Either),
        Err(nb::Error::Other(Error::Failed(Reason::InvalidHost)))
    );
    rig.wait(100);
    assert_eq!(rig.sim.stats().commands, before, "nothing was written");
    // The simulators resolve with the host's resolver.
    let ip = resolve(&mut rig, "localhost", AddrType::Either).unwrap();
    assert_eq!(ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
    assert_eq!(
        resolve(&mut rig, "localhost", AddrType::IPv4),
        Ok(IpAddr::V4(Ipv4Addr::LOCALHOST))
    );
    assert_eq!(
        resolve(&mut rig, "nowhere.invalid", AddrType::Either),
        Err(Error::Failed(Reason::DnsFailed))
    );
    // The modem's own DNS error, on request.
    rig.sim.inject(Fault::DnsFail);
    assert_eq!(
        resolve(&mut rig, "localhost", AddrType::Either),
        Err(Error::Failed(Reason::DnsFailed))
    );
    assert!(resolve(&mut rig, "localhost", AddrType::Either).is_ok());
    // Reverse lookups: neither modem has one.
    let mut name = [0u8; 64];
    assert_eq!(
        rig.net.nal().get_host_by_address(ip, &mut name),
        Err(nb::Error::Other(Error::NotSupported))
    );
    // The resolved address is usable: a connected socket to the echo server on it.
    let remote = SocketAddr::new(ip, rig.echo.port());
    let mut sock = rig.net.nal().socket().unwrap();
    rig.net.nal().connect(&mut sock, remote).unwrap();
    rig.until("send", 600_000, |rig| {
        match rig.net.nal().send(&mut sock, b"resolved") {
            Ok(()) => Some(()),
            Err(nb::Error::WouldBlock) => None,
            Err(nb::Error::Other(e)) => panic!("send: {e:?}"),
        }
    });
    let mut buf = [0u8; 64];
    let (n, from) = rig.until("receive", 600_000, |rig| {
        match rig.net.nal().receive(&mut sock, &mut buf) {
            Ok(r) => Some(r),
            Err(nb::Error::WouldBlock) => None,
            Err(nb::Error::Other(e)) => panic!("receive: {e:?}"),
        }
    });
    assert_eq!(&buf[..n], b"resolved");
    assert_eq!(from, remote);
}
