//! End to end: the driver (through `NetStack`) ↔ a simulated modem on an in-process
//! UART ↔ real UDP on 127.0.0.1 ↔ an echo server thread, for every modem profile.
//!
//! Each test is a function of a [`Modem`]; `per_modem!` instantiates it once per
//! modem as `<test>::bg96`, `<test>::bg96_buffer`, `<test>::nrf91` and
//! `<test>::nrf91_poll` (`cargo test --test sim_e2e nrf91` runs the nRF91 ones).
//! The few tests that only make sense for some modems list those and say why.
//!
//! The driver and the simulator run on a virtual clock that jumps to the next thing
//! either of them waits for, so latencies, baud rates and timeouts cost no real time;
//! only the UDP round trips are real, and every wait for them is a bounded loop. No
//! assertion depends on timing.
//!
//! Every test keeps the contract's ledger: each datagram the driver reported as
//! sent must have reached the echo server, and each datagram handed to the
//! application must be one the server echoed (never corrupted, never on the wrong
//! socket).

mod at_bg96;
mod at_nrf91;
#[macro_use]
mod macros {
    /// `per_modem!(test)`: `test(Modem)` once per modem. `per_modem!(test: bg96,
    /// #[ignore = "..."] nrf91)`: only for those, with attributes per instance.
    macro_rules! per_modem {
        ($test:ident) => {
            per_modem!($test: bg96, bg96_buffer, nrf91, nrf91_poll);
        };
        ($test:ident: $($(#[$attr:meta])* $modem:ident),+ $(,)?) => {
            mod $test {
                $(
                    #[test]
                    $(#[$attr])*
                    fn $modem() {
                        super::$test(super::Modem::named(stringify!($modem)))
                    }
                )+
            }
        };
    }
}
mod nal;
mod rig;
mod terminal;

use std::time::{Duration, Instant as WallInstant};

use cellsock::replay::{Chunking, Recording};
use cellsock::sim::{Fault, Line, SendPoint};
use cellsock::{Error, Instant, Reason, SocketHandle, SocketState};

use rig::{Modem, Rig, Setup, SimSetup, Speed};

fn config_with(m: Modem, f: impl FnOnce(&mut cellsock::Config)) -> cellsock::Config {
    let mut c = m.config();
    f(&mut c);
    c
}

// ----- traffic ------------------------------------------------------------------

/// `count` datagrams of random sizes over `sockets` sockets at once, up to
/// `window` in flight per socket; every echo checked byte for byte, on its socket.
fn traffic(
    rig: &mut Rig,
    socks: &[SocketHandle],
    count: usize,
    window: usize,
    sizes: (usize, usize),
) {
    let mut sent = 0;
    let mut pending: Vec<Option<Vec<u8>>> = vec![None; socks.len()];
    let wall = WallInstant::now();
    loop {
        let mut busy = false;
        for (i, &h) in socks.iter().enumerate() {
            if pending[i].is_none() && sent < count && rig.outstanding(h) < window {
                let d = rig.random_datagram(sizes.0, sizes.1);
                rig.expect_echo(h, &d);
                pending[i] = Some(d);
                sent += 1;
            }
            if let Some(d) = pending[i].clone() {
                let r = rig.net.send(h, &d);
                match r {
                    Err(Error::InProgress) => {}
                    Ok(_) => {
                        rig.settle_send(h, &d, &r);
                        pending[i] = None;
                    }
                    // Neither modem can send an empty datagram: refused at once.
                    Err(Error::NotSupported) if d.is_empty() => {
                        rig.settle_send(h, &d, &r);
                        pending[i] = None;
                    }
                    Err(e) => panic!("send of {} bytes on {h:?}: {e:?}", d.len()),
                }
            }
            loop {
                match rig.recv_once(h, true) {
                    Ok(_) => {}
                    Err(Error::WouldBlock) => break,
                    Err(e) => panic!("recv on {h:?}: {e:?}"),
                }
            }
            busy |= pending[i].is_some() || rig.outstanding(h) > 0;
        }
        if !busy && sent >= count {
            break;
        }
        assert!(
            wall.elapsed() < Duration::from_secs(60),
            "traffic stalled: {sent} of {count} sent"
        );
        rig.tick();
    }
}

per_modem!(thousand_random_datagrams_over_two_sockets);
fn thousand_random_datagrams_over_two_sockets(m: Modem) {
    let mut rig = Rig::with(
        m,
        Setup {
            line: Line::instant(),
            ..Setup::new(m)
        },
    );
    let a = rig.create();
    let b = rig.create();
    assert_eq!(rig.connect(a), Ok(()));
    assert_eq!(rig.connect(b), Ok(()));
    // The edges first, then random sizes.
    assert_eq!(rig.send(a, b""), Err(Error::NotSupported));
    // What either modem's framing could mistake for its own.
    let mut payload_with_protocol = b"\r\nOK\r\n> \r\n+QIURC: \"recv\",0,4\r\nSEND OK\r\n\
\r\n#XRECV: 0,0,4\r\n#XDATAMODE: 0\r\n+++\r\nReady\r\n#XAPOLL: 0,16\r\n"
        .to_vec();
    payload_with_protocol.extend_from_slice(&[0, 0x1a, 0x1b, 0xff]);
    rig.echo_ok(a, &[0x42]);
    rig.echo_ok(b, &vec![0xa5; 1460]);
    rig.echo_ok(a, &payload_with_protocol);
    traffic(&mut rig, &[a, b], 996, 3, (0, 1460));
    rig.check_sent_reached_server();
    let server_bytes = rig.echo.bytes();
    let sent = rig.net.bytes_sent(a).unwrap() + rig.net.bytes_sent(b).unwrap();
    let received = rig.net.bytes_received(a).unwrap() + rig.net.bytes_received(b).unwrap();
    assert_eq!(
        sent, server_bytes,
        "bytes_sent counts exactly what the server got"
    );
    assert_eq!(
        received, server_bytes,
        "bytes_received counts exactly the echoes"
    );
    // 1000 datagrams offered; the empty ones refused.
    let n = rig.sent.values().sum::<usize>() as u64;
    assert!(n >= 990, "{n}");
    assert_eq!(rig.echo.count() as u64, n);
    let stats = rig.sim.stats();
    assert_eq!(stats.datagrams_out, n);
    assert_eq!(stats.datagrams_in, n);
    assert_eq!(stats.datagrams_delivered, n);
}

per_modem!(paced_at_115200_baud);
fn paced_at_115200_baud(m: Modem) {
    let mut rig = Rig::new(m);
    let a = rig.create();
    let b = rig.create();
    assert_eq!(rig.connect(a), Ok(()));
    assert_eq!(rig.connect(b), Ok(()));
    traffic(&mut rig, &[a, b], 100, 2, (1, 1460));
    rig.check_sent_reached_server();
    assert_eq!(rig.echo.count(), 100);
    // 100 datagrams of ~730 bytes each way at 11520 bytes/s take > 12 s on the wire.
    assert!(rig.now() > 12_000, "pacing applies: {} ms", rig.now());
}

per_modem!(cold_boot_then_connect);
fn cold_boot_then_connect(m: Modem) {
    let mut rig = Rig::new(m);
    let a = rig.create();
    assert_eq!(rig.net.state(a), Ok(SocketState::Closed));
    assert_eq!(rig.connect(a), Ok(()));
    assert_eq!(rig.net.state(a), Ok(SocketState::Connected));
    // The BG96 boots with echo on, the Serial Modem with echo off: off either way.
    assert!(!rig.sim.echo(), "echo is off");
    assert!(rig.sim.context_active(rig.cid));
    let id = rig.id(a);
    if m.is_bg96() {
        assert_eq!(
            rig.net.local_port(a).unwrap(),
            rig.sim.local_port(id),
            "the local port the driver read is the real UDP port"
        );
    } else {
        // The Serial Modem has no command that reports a socket's local port.
        assert_eq!(rig.net.local_port(a), Ok(None));
    }
    assert_eq!(rig.net.inner_mtu(a), Ok(1460));
    rig.echo_ok(a, b"hello");
    rig.check_sent_reached_server();
}

per_modem!(mcu_reset_with_a_running_modem);
fn mcu_reset_with_a_running_modem(m: Modem) {
    // The modem was up before the driver started: no banner; the nRF91 still holds
    // three sockets of the earlier run.
    let mut rig = Rig::with(
        m,
        Setup {
            sim: SimSetup {
                running: true,
                leftover_sockets: 3,
                ..SimSetup::default()
            },
            ..Setup::new(m)
        },
    );
    let a = rig.create();
    assert_eq!(rig.connect(a), Ok(()));
    rig.echo_ok(a, b"after reset");
    assert_eq!(rig.sim.stats().reboots, 0);
    if !m.is_bg96() {
        assert_eq!(rig.id(a), 0, "the leftovers were closed: handle 0 is free");
        assert!(!rig.sim.socket_in_use(1) && !rig.sim.socket_in_use(2));
    }
}

per_modem!(dns_failure_is_reported_then_a_good_host_connects);
fn dns_failure_is_reported_then_a_good_host_connects(m: Modem) {
    let mut rig = Rig::new(m);
    let a = rig.create();
    assert_eq!(
        rig.connect_to(a, "no-such-host.invalid", "5683"),
        Err(Error::Failed(m.dns_failure()))
    );
    assert_eq!(rig.net.state(a), Ok(SocketState::Closed));
    assert_eq!(rig.connect(a), Ok(()));
    rig.echo_ok(a, b"resolved");
}

per_modem!(bind_failure_of_a_reused_port);
fn bind_failure_of_a_reused_port(m: Modem) {
    let mut rig = Rig::new(m);
    let a = rig.create();
    assert_eq!(rig.connect(a), Ok(()));
    if !m.is_bg96() {
        // The nRF91 profile cannot learn a socket's local port, so it cannot reuse
        // one (README "Not done"): the request is refused, the socket unharmed.
        assert_eq!(rig.net.reuse_last_port(a), Err(Error::NotSupported));
        rig.echo_ok(a, b"still here");
        return;
    }
    let port = rig.net.local_port(a).unwrap().unwrap();
    assert_eq!(rig.close(a), Ok(()));
    // Someone else takes the port meanwhile.
    let thief = std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap();
    assert_eq!(rig.net.reuse_last_port(a), Ok(()));
    let r = rig.connect(a);
    assert_eq!(r, Err(Error::Failed(Reason::OpenFailed(556))));
    drop(thief);
    assert_eq!(rig.net.reuse_last_port(a), Ok(()));
    assert_eq!(rig.connect(a), Ok(()));
    assert_eq!(rig.net.local_port(a), Ok(Some(port)));
    rig.echo_ok(a, b"same port");
}

// ----- faults ---------------------------------------------------------------------

fn two_connected(m: Modem) -> (Rig, SocketHandle, SocketHandle) {
    let mut rig = Rig::new(m);
    let a = rig.create();
    let b = rig.create();
    assert_eq!(rig.connect(a), Ok(()));
    assert_eq!(rig.connect(b), Ok(()));
    rig.echo_ok(a, b"warm-up a");
    rig.echo_ok(b, b"warm-up b");
    (rig, a, b)
}

/// After a loss: recv and send report `reason`, the state is CLOSED; close and
/// connect again bring the socket back.
fn lost_then_recovers(rig: &mut Rig, h: SocketHandle, reason: Reason) {
    let r = rig.until("loss reported", 600_000, |rig| {
        match rig.recv_once(h, true) {
            Err(Error::WouldBlock) => None,
            r => Some(r),
        }
    });
    assert_eq!(r, Err(Error::Failed(reason)));
    assert_eq!(rig.net.send(h, b"x"), Err(Error::Failed(reason)));
    assert_eq!(rig.net.state(h), Ok(SocketState::Closed));
    assert_eq!(rig.close(h), Ok(()));
    assert_eq!(rig.connect(h), Ok(()));
    assert_eq!(rig.net.state(h), Ok(SocketState::Connected));
    rig.echo_ok(h, format!("back after {reason:?}").as_bytes());
}

per_modem!(fault_socket_closed_by_the_network);
fn fault_socket_closed_by_the_network(m: Modem) {
    let (mut rig, a, b) = two_connected(m);
    rig.sim.inject(Fault::SocketClosed(rig.id(a)));
    lost_then_recovers(&mut rig, a, Reason::SocketClosed);
    assert_eq!(rig.net.state(b), Ok(SocketState::Connected));
    rig.echo_ok(b, b"the other socket never noticed");
    rig.check_sent_reached_server();
}

per_modem!(fault_pdp_deactivated:
    bg96,
    bg96_buffer,
    nrf91,
    nrf91_poll,
);
fn fault_pdp_deactivated(m: Modem) {
    let (mut rig, a, b) = two_connected(m);
    rig.sim.inject(Fault::PdpDeactivated);
    lost_then_recovers(&mut rig, a, Reason::PdpDeactivated);
    lost_then_recovers(&mut rig, b, Reason::PdpDeactivated);
    assert!(rig.sim.context_active(rig.cid));
    rig.check_sent_reached_server();
}

per_modem!(fault_modem_reboot_mid_session);
fn fault_modem_reboot_mid_session(m: Modem) {
    let (mut rig, a, b) = two_connected(m);
    rig.sim.inject(Fault::Reboot);
    lost_then_recovers(&mut rig, a, Reason::ModemRebooted);
    lost_then_recovers(&mut rig, b, Reason::ModemRebooted);
    assert!(!rig.sim.echo(), "echo off again after the reboot");
    assert_eq!(rig.sim.stats().reboots, 1);
    rig.check_sent_reached_server();
}

per_modem!(fault_modem_reboot_during_a_send);
fn fault_modem_reboot_during_a_send(m: Modem) {
    let (mut rig, a, _b) = two_connected(m);
    rig.sim.faults().on_command(m.send_cmd(), Fault::Reboot);
    assert_eq!(
        rig.send(a, b"lost in the reboot"),
        Err(Error::Failed(Reason::ModemRebooted))
    );
    assert_eq!(rig.net.state(a), Ok(SocketState::Closed));
    assert_eq!(rig.close(a), Ok(()));
    assert_eq!(rig.connect(a), Ok(()));
    rig.echo_ok(a, b"after the reboot");
    rig.check_sent_reached_server();
    assert!(!rig
        .echo
        .received()
        .iter()
        .any(|d| d == b"lost in the reboot"));
}

per_modem!(fault_registration_lost_briefly_keeps_the_sockets);
fn fault_registration_lost_briefly_keeps_the_sockets(m: Modem) {
    let (mut rig, a, _b) = two_connected(m);
    rig.sim.inject(Fault::RegistrationLost);
    rig.until("URC seen", 1_000, |rig| {
        (rig.net.registered() == Some(false)).then_some(())
    });
    // The modem cannot send without the network: the driver must not claim it did.
    assert_eq!(
        rig.send(a, b"no network"),
        Err(Error::Failed(Reason::SendFailed))
    );
    assert_eq!(rig.net.state(a), Ok(SocketState::Connected));
    assert_eq!(
        rig.recv_once(a, true),
        Err(Error::WouldBlock),
        "no error for a short outage"
    );
    rig.sim.inject(Fault::RegistrationRegained);
    rig.echo_ok(a, b"network is back");
    rig.check_sent_reached_server();
}

per_modem!(fault_registration_lost_for_long_loses_the_sockets);
fn fault_registration_lost_for_long_loses_the_sockets(m: Modem) {
    let mut rig = Rig::with(
        m,
        Setup {
            config: config_with(m, |c| c.registration_grace_ms = 5_000),
            ..Setup::new(m)
        },
    );
    let a = rig.create();
    assert_eq!(rig.connect(a), Ok(()));
    rig.echo_ok(a, b"before");
    rig.sim.inject(Fault::RegistrationLost);
    let t = rig.now();
    rig.sim.faults().at(
        Instant::from_millis(t + 20_000),
        Fault::RegistrationRegained,
    );
    lost_then_recovers(&mut rig, a, Reason::RegistrationLost);
    rig.check_sent_reached_server();
}

per_modem!(fault_command_never_answered);
fn fault_command_never_answered(m: Modem) {
    let (mut rig, a, _b) = two_connected(m);
    rig.sim
        .faults()
        .on_command(m.send_cmd(), Fault::IgnoreCommand);
    assert_eq!(rig.send(a, b"ignored"), Err(Error::Failed(Reason::Timeout)));
    rig.echo_ok(a, b"the next one goes");
    rig.check_sent_reached_server();
}

per_modem!(fault_open_answer_swallowed);
fn fault_open_answer_swallowed(m: Modem) {
    for &cmd in m.open_cmds() {
        let mut rig = Rig::new(m);
        let a = rig.create();
        rig.sim.faults().on_command(cmd, Fault::SwallowAnswer);
        // The driver may retry the open itself; if it reports the timeout, a second
        // connect must succeed.
        match rig.connect(a) {
            Ok(()) => {}
            Err(Error::Failed(Reason::Timeout)) => assert_eq!(rig.connect(a), Ok(()), "{cmd}"),
            Err(e) => panic!("connect with {cmd} swallowed: {e:?}"),
        }
        rig.echo_ok(a, b"opened after all");
        rig.check_sent_reached_server();
    }
}

// BG96 only: the nRF91 profile never asks for the local port (the Serial Modem has
// no command that reports it).
per_modem!(fault_local_port_answer_swallowed: bg96, bg96_buffer);
fn fault_local_port_answer_swallowed(m: Modem) {
    let mut rig = Rig::new(m);
    let a = rig.create();
    rig.sim
        .faults()
        .on_command("AT+QISTATE", Fault::SwallowAnswer);
    match rig.connect(a) {
        Ok(()) => {}
        Err(Error::Failed(Reason::Timeout)) => assert_eq!(rig.connect(a), Ok(())),
        Err(e) => panic!("connect: {e:?}"),
    }
    rig.echo_ok(a, b"no local port needed");
    rig.check_sent_reached_server();
}

per_modem!(fault_send_fail);
fn fault_send_fail(m: Modem) {
    let (mut rig, a, _b) = two_connected(m);
    rig.sim.inject(Fault::SendFail);
    assert_eq!(
        rig.send(a, b"refused"),
        Err(Error::Failed(Reason::SendFailed))
    );
    assert_eq!(rig.net.state(a), Ok(SocketState::Connected));
    rig.echo_ok(a, b"accepted");
    rig.check_sent_reached_server();
    assert!(!rig.echo.received().iter().any(|d| d == b"refused"));
}

per_modem!(fault_garbage_between_exchanges);
fn fault_garbage_between_exchanges(m: Modem) {
    let (mut rig, a, b) = two_connected(m);
    let mut junk: Vec<Vec<u8>> = vec![
        b"\xff\xfe\x00\x1a".to_vec(),
        b"\r\n+XYZZY: 1,2\r\n\x07".to_vec(),
        b"\r\nRANDOM LINE\r\n".to_vec(),
        // A datagram for a socket nobody has.
        m.push_frame(7, b"abc"),
    ];
    if m.is_bg96() {
        junk.push(b"\r\n+QIURC: \"incoming full\"\r\n".to_vec());
    } else {
        junk.push(b"\r\n#XAPOLL: 7,16\r\n".to_vec());
        junk.push(b"\r\n#XAPOLL: 6,4\r\n".to_vec());
    }
    let t = rig.now();
    for (i, j) in junk.into_iter().enumerate() {
        let at = Instant::from_millis(t + 5 + 37 * i as u64);
        rig.sim.faults().at(at, Fault::Garbage(j));
    }
    traffic(&mut rig, &[a, b], 40, 2, (1, 300));
    rig.check_sent_reached_server();
}

per_modem!(fault_urcs_inside_a_send);
fn fault_urcs_inside_a_send(m: Modem) {
    let (mut rig, a, b) = two_connected(m);
    rig.sim.inject(Fault::DuringSend(
        b"\r\n+CEREG: 1\r\n".to_vec(),
        SendPoint::AfterPrompt,
    ));
    let before_result = m.push_frame(rig.id(b), b"for b\r\nOK");
    rig.sim
        .inject(Fault::DuringSend(before_result, SendPoint::BeforeResult));
    *rig.expect
        .entry(b)
        .or_default()
        .entry(b"for b\r\nOK".to_vec())
        .or_default() += 1;
    rig.echo_ok(a, &vec![0x5a; 1000]);
    assert_eq!(rig.recv(b).unwrap(), b"for b\r\nOK");
    assert_eq!(rig.recv_once(b, true), Err(Error::WouldBlock));
    // The injected datagram never went through the server; take it off the books.
    rig.unexpected.clear();
    rig.check_sent_reached_server();
}

/// After a fault: wait until `h` reports it, then close and connect again.
fn reconnect_if_lost(rig: &mut Rig, h: SocketHandle) {
    if rig.net.state(h) == Ok(SocketState::Connected) {
        return;
    }
    let r = rig.until("loss reported", 60_000, |rig| {
        match rig.recv_once(h, false) {
            Err(Error::WouldBlock) | Ok(_) => None,
            r => Some(r),
        }
    });
    assert!(matches!(r, Err(Error::Failed(_))), "{r:?}");
    assert_eq!(rig.close(h), Ok(()));
    assert_eq!(rig.connect(h), Ok(()));
}

per_modem!(fault_inside_a_send);
fn fault_inside_a_send(m: Modem) {
    use SendPoint::{AfterPrompt, BeforeResult};
    // The nRF91 holds URCs back until #XDATAMODE: a socket or context lost inside
    // the send shows first as the send's failure, the loss itself right after.
    let lost = |reason| {
        if m.holds_urcs_in_send() {
            Reason::SendFailed
        } else {
            reason
        }
    };
    let cases = [
        (Some(Reason::SocketClosed), AfterPrompt),
        (Some(Reason::SocketClosed), BeforeResult),
        (Some(Reason::PdpDeactivated), AfterPrompt),
        (Some(Reason::PdpDeactivated), BeforeResult),
        (Some(Reason::ModemRebooted), AfterPrompt),
        (Some(Reason::ModemRebooted), BeforeResult),
        (Some(Reason::RegistrationLost), BeforeResult),
        (None, AfterPrompt),
        (None, BeforeResult),
    ];
    for (what, point) in cases {
        let (mut rig, a, b) = two_connected(m);
        let (fault, reason) = match what {
            Some(Reason::SocketClosed) => {
                (Fault::SocketClosed(rig.id(a)), lost(Reason::SocketClosed))
            }
            Some(Reason::PdpDeactivated) => (Fault::PdpDeactivated, lost(Reason::PdpDeactivated)),
            Some(Reason::ModemRebooted) => (Fault::Reboot, Reason::ModemRebooted),
            Some(_) => (Fault::RegistrationLost, Reason::SendFailed),
            None => (Fault::SendFail, Reason::SendFailed),
        };
        rig.sim.faults().in_next_send(point, fault.clone());
        let data = vec![0x77; 1000];
        assert_eq!(
            rig.send(a, &data),
            Err(Error::Failed(reason)),
            "{fault:?} at {point:?}"
        );
        // A URC held back until the send's end comes right after it.
        rig.wait(100);
        if m == Modem::Nrf91 && fault == Fault::PdpDeactivated {
            // Give the modem time to bring the default bearer back: the driver
            // does not wait for it (see `fault_pdp_deactivated::nrf91`).
            rig.wait(1_000);
        }
        rig.sim.inject(Fault::RegistrationRegained);
        reconnect_if_lost(&mut rig, a);
        reconnect_if_lost(&mut rig, b);
        rig.forget_expected();
        rig.echo_ok(a, b"a after the fault");
        rig.echo_ok(b, b"b after the fault");
        rig.check_sent_reached_server();
        assert!(
            !rig.echo.received().contains(&data),
            "{fault:?} at {point:?}: the failed datagram went out"
        );
    }
}

per_modem!(fault_reboot_at_each_bring_up_step);
fn fault_reboot_at_each_bring_up_step(m: Modem) {
    for &step in m.bring_up_cmds() {
        reboot_at_bring_up_step(m, step);
    }
}

per_modem!(fault_reboot_during_the_context_query:
    bg96,
    bg96_buffer,
    nrf91,
    nrf91_poll,
);
/// A modem reboot while the context query is in flight (this once failed the
/// connect with `PdpActivationFailed`: the interrupted query was taken for a failed
/// activation): bring-up starts again and the connect succeeds.
fn fault_reboot_during_the_context_query(m: Modem) {
    reboot_at_bring_up_step(m, m.context_query_cmd());
}

fn reboot_at_bring_up_step(m: Modem, step: &str) {
    let mut rig = Rig::new(m);
    let a = rig.create();
    rig.sim.faults().on_command(step, Fault::Reboot);
    match rig.connect(a) {
        Ok(()) => {}
        Err(Error::Failed(Reason::ModemRebooted | Reason::Timeout)) => {
            assert_eq!(rig.connect(a), Ok(()), "reboot at {step}")
        }
        Err(e) => panic!("reboot at {step}: connect {e:?}"),
    }
    assert_eq!(rig.sim.faults().pending(), 0, "{step} was sent");
    rig.echo_ok(a, step.as_bytes());
    rig.check_sent_reached_server();
}

per_modem!(partial_writes_at_9600_baud);
fn partial_writes_at_9600_baud(m: Modem) {
    // A 16-byte transmit FIFO: every command and payload goes out in pieces.
    let mut line = Line::baud(9600);
    line.host_tx_fifo = 16;
    let mut rig = Rig::with(
        m,
        Setup {
            line,
            ..Setup::new(m)
        },
    );
    let a = rig.create();
    let b = rig.create();
    assert_eq!(rig.connect(a), Ok(()));
    assert_eq!(rig.connect(b), Ok(()));
    traffic(&mut rig, &[a, b], 30, 2, (0, 1460));
    rig.check_sent_reached_server();
}

per_modem!(four_sockets_on_an_instant_modem);
fn four_sockets_on_an_instant_modem(m: Modem) {
    let mut rig = Rig::with(
        m,
        Setup {
            sim: SimSetup {
                speed: Speed::Instant,
                ..SimSetup::default()
            },
            line: Line::instant(),
            ..Setup::new(m)
        },
    );
    let socks: Vec<_> = (0..4).map(|_| rig.create()).collect();
    for &h in &socks {
        assert_eq!(rig.connect(h), Ok(()));
    }
    traffic(&mut rig, &socks, 200, 3, (0, 1460));
    rig.check_sent_reached_server();
}

per_modem!(close_with_a_send_in_flight_then_cleanup_and_reuse);
fn close_with_a_send_in_flight_then_cleanup_and_reuse(m: Modem) {
    let (mut rig, a, b) = two_connected(m);
    rig.expect_echo(a, b"in flight");
    assert_eq!(rig.net.send(a, b"in flight"), Err(Error::InProgress));
    assert_eq!(rig.close(a), Ok(()));
    assert_eq!(rig.net.state(a), Ok(SocketState::Closed));
    rig.forget_expected();
    assert_eq!(rig.connect(a), Ok(()));
    rig.echo_ok(a, b"again");
    let id_b = rig.id(b);
    let r = rig.until("cleanup", 60_000, |rig| {
        let r = rig.net.cleanup(b);
        (r != Err(Error::InProgress)).then_some(r)
    });
    assert_eq!(r, Ok(()));
    assert!(!rig.sim.socket_in_use(id_b), "the modem socket was closed");
    let c = rig.create();
    assert_eq!(rig.connect(c), Ok(()));
    rig.echo_ok(c, b"a new socket");
    rig.check_sent_reached_server();
}

/// Faults that lose bytes or whole answers: echoes may be missing, but nothing is
/// reported sent that did not go out, nothing corrupt is delivered, and the
/// sockets work again afterwards (reconnecting if the driver gave them up).
fn lossy_then_recovers(mut rig: Rig, socks: &[SocketHandle], faults: Vec<(u64, Fault)>) {
    let t0 = rig.now();
    for (dt, f) in faults {
        rig.sim.faults().at(Instant::from_millis(t0 + dt), f);
    }
    let mut sent = 0;
    while rig.sim.faults().pending() > 0 || sent < 30 {
        for &h in socks {
            let d = rig.random_datagram(1, 600);
            sent += 1;
            match rig.send(h, &d) {
                Ok(_) | Err(Error::Failed(_)) => {}
                Err(e) => panic!("send: {e:?}"),
            }
            for _ in 0..20 {
                match rig.recv_once(h, false) {
                    Ok(_) | Err(Error::WouldBlock) => {}
                    Err(Error::Failed(_)) => break,
                    Err(e) => panic!("recv: {e:?}"),
                }
                rig.tick();
            }
        }
        assert!(sent < 2_000, "faults never fired");
    }
    // Let the driver settle, then every socket must work again.
    rig.wait(30_000);
    rig.forget_expected();
    for &h in socks {
        while rig.recv_once(h, false).is_ok() {}
        if rig.net.state(h) != Ok(SocketState::Connected) {
            assert_eq!(rig.close(h), Ok(()));
            assert_eq!(rig.connect(h), Ok(()));
        }
        let d = rig.random_datagram(1, 1460);
        rig.until("a clean echo after the faults", 600_000, |rig| {
            let r = rig.send(h, &d);
            if r.is_err() {
                // A late failure from the faulty stretch: try again.
                return None;
            }
            for _ in 0..200 {
                match rig.recv_once(h, false) {
                    Ok(got) if got == d => return Some(()),
                    _ => rig.tick(),
                }
            }
            None
        });
    }
    rig.check_sent_reached_server();
}

per_modem!(fault_bytes_lost_to_the_host);
fn fault_bytes_lost_to_the_host(m: Modem) {
    let (rig, a, b) = two_connected(m);
    lossy_then_recovers(
        rig,
        &[a, b],
        vec![
            (10, Fault::DropToHost(1)),
            (400, Fault::DropToHost(7)),
            (900, Fault::DropToHost(30)),
        ],
    );
}

per_modem!(fault_bytes_lost_to_the_modem);
fn fault_bytes_lost_to_the_modem(m: Modem) {
    let (rig, a, b) = two_connected(m);
    lossy_then_recovers(
        rig,
        &[a, b],
        vec![(10, Fault::DropToModem(1)), (700, Fault::DropToModem(5))],
    );
}

per_modem!(fault_send_prompt_swallowed);
fn fault_send_prompt_swallowed(m: Modem) {
    let (mut rig, a, b) = two_connected(m);
    rig.sim
        .faults()
        .on_command(m.send_cmd(), Fault::SwallowAnswer);
    lossy_then_recovers(rig, &[a, b], vec![]);
}

// ----- limits -----------------------------------------------------------------------

per_modem!(over_the_mtu_is_refused_before_the_modem);
fn over_the_mtu_is_refused_before_the_modem(m: Modem) {
    let (mut rig, a, _b) = two_connected(m);
    assert_eq!(rig.net.send(a, &vec![1u8; 1461]), Err(Error::MessageSize));
    rig.echo_ok(a, &vec![2u8; 1460]);
}

per_modem!(zero_length_datagram_is_sent_or_refused_at_once);
fn zero_length_datagram_is_sent_or_refused_at_once(m: Modem) {
    let (mut rig, a, _b) = two_connected(m);
    let t = rig.now();
    let r = rig.send(a, b"");
    assert!(
        rig.now() - t < 1_000,
        "an empty datagram must not stall the socket ({} ms, {r:?})",
        rig.now() - t
    );
    match r {
        Ok(0) => assert_eq!(rig.recv(a).unwrap(), b""),
        Err(Error::NotSupported | Error::MessageSize) => {}
        other => panic!("empty datagram: {other:?}"),
    }
    rig.echo_ok(a, b"after the empty one");
    rig.check_sent_reached_server();
}

// ----- queue mode -------------------------------------------------------------------

per_modem!(queue_mode_rx_off_hints_once_per_idle_period);
fn queue_mode_rx_off_hints_once_per_idle_period(m: Modem) {
    // rx_off answers at once; where the modem has release assistance (nRF91) it
    // gets one hint per queue-mode period (RAI_NO_DATA), none for repeated calls;
    // traffic ends the period. The BG96 gets nothing.
    let mut rig = Rig::new(m);
    let a = rig.create();
    let b = rig.create();
    assert_eq!(rig.connect(a), Ok(()));
    assert_eq!(rig.connect(b), Ok(()));
    rig.echo_ok(a, b"register");
    let (ia, ib) = (rig.id(a), rig.id(b));
    assert_eq!(rig.rx_off(a), Ok(()));
    assert_eq!(rig.rx_off(a), Ok(()));
    rig.wait(1_000);
    assert_eq!(rig.rx_off(a), Ok(()));
    rig.wait(1_000);
    let hint = |id: u8| if m.is_bg96() { vec![] } else { vec![(id, 1)] };
    assert_eq!(rig.sim.release_assistance(), hint(ia));
    // Queue mode survives the idle time; the next exchange ends it.
    assert_eq!(rig.net.state(a), Ok(SocketState::Connected));
    rig.echo_ok(a, b"update");
    rig.echo_ok(b, b"other socket");
    assert_eq!(rig.rx_off(b), Ok(()));
    assert_eq!(rig.rx_off(a), Ok(()));
    rig.wait(1_000);
    // One each, in either order (a read may still be in flight when `b` asks).
    let want = rig.sim.release_assistance();
    let first = hint(ia);
    assert_eq!(&want[..first.len()], &first[..]);
    let mut second = want[first.len()..].to_vec();
    second.sort();
    let mut each = [hint(ia), hint(ib)].concat();
    each.sort();
    assert_eq!(second, each, "one hint per socket in the second period");
    rig.echo_ok(a, b"still works");
    // A closed socket gets no hint.
    assert_eq!(rig.close(b), Ok(()));
    assert_eq!(rig.rx_off(b), Ok(()));
    rig.wait(1_000);
    assert_eq!(rig.sim.release_assistance(), want);
    rig.check_sent_reached_server();
}

// ----- recordings -------------------------------------------------------------------

per_modem!(a_recorded_session_replays_green);
fn a_recorded_session_replays_green(m: Modem) {
    let mut rig = Rig::with(
        m,
        Setup {
            record: true,
            ..Setup::new(m)
        },
    );
    let a = rig.create();
    let b = rig.create();
    assert_eq!(rig.connect(a), Ok(()));
    assert_eq!(rig.connect(b), Ok(()));
    let mut binary: Vec<u8> = (0..=255u8).collect();
    binary.extend_from_slice(b" => \"\" \r\nOK\r\n> #XDATAMODE: 0\r\n+++");
    rig.echo_ok(a, &binary);
    rig.echo_ok(b, b"\"\"");
    rig.echo_ok(a, &vec![0x3d; 1460]);
    // Queue mode on `a` (on the nRF91 the idle hint goes out and is replayed too).
    assert_eq!(rig.rx_off(a), Ok(()));
    rig.wait(50);
    rig.sim.inject(Fault::SocketClosed(rig.id(b)));
    lost_then_recovers(&mut rig, b, Reason::SocketClosed);
    rig.echo_ok(b, b"x");
    let text = rig.rec.to_text();
    let rec = Recording::parse(&text).unwrap();
    assert!(rec.steps.len() > 50, "{text}");
    assert_eq!(rec.header("profile"), Some(m.name()));
    let whole = cellsock::modems::replay(&rec, Chunking::Whole)
        .unwrap_or_else(|e| panic!("{e}\n--- recording ---\n{text}"));
    for chunking in [Chunking::PerLine, Chunking::Random(1), Chunking::Random(2)] {
        let stats = cellsock::modems::replay(&rec, chunking)
            .unwrap_or_else(|e| panic!("{chunking:?}: {e}\n--- recording ---\n{text}"));
        assert_eq!(stats, whole, "{chunking:?}");
    }
}

// ----- driver bugs the simulator found (fixed in the driver; kept as regressions) ---

per_modem!(poll_at_is_not_due_while_a_bring_up_command_waits);
fn poll_at_is_not_due_while_a_bring_up_command_waits(m: Modem) {
    // A slow modem: 300 ms per answer.
    let mut rig = Rig::with(
        m,
        Setup {
            sim: SimSetup {
                speed: Speed::SlowAnswers(300),
                ..SimSetup::default()
            },
            ..Setup::new(m)
        },
    );
    let a = rig.create();
    let port = rig.echo.port().to_string();
    let (mut polls, mut busy) = (0, 0);
    while rig.net.connect(a, "localhost", &port) == Err(Error::InProgress) {
        rig.net.poll();
        polls += 1;
        // Right after a poll nothing can be due now: the driver did what it could.
        if rig.net.poll_at() == Some(Instant::from_millis(rig.now())) {
            busy += 1;
        }
        rig.tick();
        assert!(polls < 100_000);
    }
    assert_eq!(rig.net.state(a), Ok(SocketState::Connected));
    assert!(
        busy <= 2,
        "{busy} of {polls} polls were told to poll again at once"
    );
}

per_modem!(lost_send_prompt_recovers_within_a_minute);
fn lost_send_prompt_recovers_within_a_minute(m: Modem) {
    let (mut rig, a, _b) = two_connected(m);
    // The prompt never reaches the host; the modem waits for 1460 bytes.
    rig.sim
        .faults()
        .on_command(m.send_cmd(), Fault::DropToHost(m.prompt_len()));
    let r = rig.send(a, &vec![0x11; 1460]);
    assert!(r.is_err(), "{r:?}");
    let t = rig.now();
    rig.forget_expected();
    let mut back = false;
    while rig.now() - t < 60_000 && !back {
        if rig.net.state(a) != Ok(SocketState::Connected) {
            let _ = rig.close(a);
            let _ = rig.connect(a);
            continue;
        }
        if rig.send(a, b"are you there").is_ok() {
            for _ in 0..200 {
                match rig.recv_once(a, false) {
                    Ok(d) if d == b"are you there" => back = true,
                    _ => rig.tick(),
                }
                if back {
                    break;
                }
            }
        }
    }
    let text = m.socket_cmd_text();
    let leaked = rig
        .echo
        .received()
        .iter()
        .any(|d| d.windows(text.len()).any(|w| w == text));
    assert!(!leaked, "AT command text reached the peer as a datagram");
    assert!(back, "the socket did not work again within 60 s");
    rig.check_sent_reached_server();
}

per_modem!(socket_lost_while_a_send_waits_for_its_prompt);
/// The loss of a socket (closed by the network, or its context deactivated) is
/// reported while its send waits for the payload prompt: the URC crosses the send
/// command on the line, so the modem, which took the command first, still asks
/// for the payload (the nRF91 enters data mode for a handle it has not closed).
/// The driver must still write the payload it owes, and the send end at once, not
/// at its timeout (35 s on the nRF91). The campaign found it: the loss freed the
/// payload, the driver wrote nothing after the prompt, and the modem sat in data
/// mode until the send timed out.
fn socket_lost_while_a_send_waits_for_its_prompt(m: Modem) {
    for lost in [Reason::SocketClosed, Reason::PdpDeactivated] {
        let (mut rig, a, b) = two_connected(m);
        let fault = match lost {
            Reason::SocketClosed => Fault::SocketClosed(rig.id(a)),
            _ => Fault::PdpDeactivated,
        };
        rig.sim.faults().on_command(m.send_cmd(), fault);
        let t = rig.now();
        assert_eq!(
            rig.send(a, b"crossed by the loss"),
            Err(Error::Failed(lost)),
            "{lost:?}"
        );
        rig.wait(1_000);
        reconnect_if_lost(&mut rig, a);
        reconnect_if_lost(&mut rig, b);
        rig.forget_expected();
        rig.echo_ok(a, b"a after the loss");
        rig.echo_ok(b, b"b after the loss");
        assert!(
            rig.now() - t < 5_000,
            "{lost:?}: back after {} ms (the send ran into its timeout)",
            rig.now() - t
        );
        rig.check_sent_reached_server();
    }
}
