//! End to end: the driver (through `NetStack`) ↔ a simulated BG96 on an in-process
//! UART ↔ real UDP on 127.0.0.1 ↔ an echo server thread.
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

use std::collections::HashMap;
use std::time::{Duration, Instant as WallInstant};

use cellsock::modems::bg96::sim::{Bg96Sim, Bg96SimConfig, Latency, Start};
use cellsock::modems::bg96::Bg96;
use cellsock::replay::{
    Chunking, Recorder, Recording, RecordingClock, RecordingUart, Rng, VirtualClock,
};
use cellsock::sim::udp::EchoServer;
use cellsock::sim::{Fault, HostUart, Line, SendPoint, SimModem};
use cellsock::{
    AddressFamily, Config, Driver, Error, Instant, NetStack, Reason, SocketHandle, SocketState,
};

const RX: usize = 8192;
type Stack = NetStack<'static, Bg96, RecordingUart<HostUart>, RecordingClock<VirtualClock>, 4, RX>;

/// Longest stretch of virtual time one tick skips.
const MAX_JUMP_MS: u64 = 10;
/// How long (real time) a tick waits for a datagram on its way through the kernel.
const ECHO_WAIT: Duration = Duration::from_millis(200);
/// Real-time bound of any wait in these tests.
const WALL_LIMIT: Duration = Duration::from_secs(20);

type Ledger = HashMap<Vec<u8>, usize>;

struct Rig {
    clock: VirtualClock,
    sim: Bg96Sim,
    net: Stack,
    rec: Recorder,
    echo: EchoServer,
    /// Datagrams the driver reported as sent.
    sent: Ledger,
    /// Per socket: datagrams whose echo is expected.
    expect: HashMap<SocketHandle, Ledger>,
    /// Per socket: datagrams received that were not expected (lossy tests).
    unexpected: Vec<(SocketHandle, Vec<u8>)>,
    rng: Rng,
    /// Since when an echo has been on its way (see `tick`).
    in_flight_since: Option<WallInstant>,
}

struct Setup {
    profile: Bg96,
    sim: Bg96SimConfig,
    line: Line,
    config: Config,
    record: bool,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            profile: Bg96::new(),
            // SIM_TRACE=1 cargo test --test sim_bg96 <name> -- --nocapture
            sim: Bg96SimConfig {
                trace: std::env::var_os("SIM_TRACE").is_some(),
                ..Bg96SimConfig::default()
            },
            line: Line::baud(115_200),
            config: Config::new("internet").unwrap(),
            record: false,
        }
    }
}

fn take(set: &mut Ledger, data: &[u8]) -> bool {
    match set.get_mut(data) {
        Some(n) if *n > 1 => {
            *n -= 1;
            true
        }
        Some(_) => {
            set.remove(data);
            true
        }
        None => false,
    }
}

impl Rig {
    fn new(setup: Setup) -> Rig {
        let echo = EchoServer::start().unwrap();
        let (sim, uart) = Bg96Sim::with_line(setup.line, setup.sim);
        let profile_name =
            if setup.profile.access_mode == cellsock::modems::bg96::AccessMode::Buffer {
                "bg96-buffer"
            } else {
                "bg96"
            };
        let rec = if setup.record {
            Recorder::new(profile_name, &setup.config)
        } else {
            Recorder::off()
        };
        let driver: &'static mut Driver<Bg96, 4, RX> =
            Box::leak(Box::new(Driver::new(setup.profile, setup.config)));
        let clock = VirtualClock::new();
        let mut sim = sim;
        sim.step(Instant::ZERO);
        let net = NetStack::new(driver, rec.uart(uart), rec.clock(clock.clone()));
        Rig {
            clock,
            sim,
            net,
            rec,
            echo,
            sent: Ledger::new(),
            expect: HashMap::new(),
            unexpected: Vec::new(),
            rng: Rng::new(0x5eed_cafe),
            in_flight_since: None,
        }
    }

    fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    /// One round: the driver polls, the clock moves on, the modem acts at the new
    /// time (so that what the application writes next is stamped with it).
    ///
    /// The clock jumps to the next thing the driver or the simulator waits for, at
    /// least 1 ms and at most `MAX_JUMP_MS` (an application loop, like Anjay's,
    /// calls in at least that often). It must not run ahead of the real network:
    /// while the simulator has sent more datagrams than the echo server got, or the
    /// server has sent back more than the simulator took in, a datagram is on its
    /// way through the kernel and the clock waits for it (in real time, briefly).
    fn tick(&mut self) {
        self.net.poll();
        let now = self.clock.now_ms();
        let st = self.sim.stats();
        let at_server = self.echo.count() as u64;
        let in_flight =
            st.datagrams_out > at_server || at_server > st.datagrams_in + st.datagrams_lost;
        if in_flight {
            let since = *self.in_flight_since.get_or_insert_with(WallInstant::now);
            if since.elapsed() < ECHO_WAIT {
                std::thread::sleep(Duration::from_micros(20));
                self.sim.step(Instant::from_millis(now));
                return;
            }
            // Gone for good (its socket was closed meanwhile): stop waiting.
        } else {
            self.in_flight_since = None;
        }
        let next = [self.net.driver.poll_at(), self.sim.next_event()]
            .into_iter()
            .flatten()
            .min();
        let next = next.map_or(now + 1, |t| t.as_millis().clamp(now + 1, now + MAX_JUMP_MS));
        self.clock.set(next);
        self.sim.step(Instant::from_millis(next));
    }

    /// Tick until `f` gives an answer; bounded in real time and in virtual time.
    fn until<T>(&mut self, what: &str, max_ms: u64, mut f: impl FnMut(&mut Rig) -> Option<T>) -> T {
        let wall = WallInstant::now();
        let start = self.now();
        loop {
            if let Some(v) = f(self) {
                return v;
            }
            if wall.elapsed() > WALL_LIMIT || self.now() - start > max_ms {
                panic!(
                    "{what}: no result after {} ms virtual, {:?} real",
                    self.now() - start,
                    wall.elapsed()
                );
            }
            self.tick();
        }
    }

    fn create(&mut self) -> SocketHandle {
        let r = self.net.create(AddressFamily::Unspecified);
        self.rec.create(&r);
        r.unwrap()
    }

    fn connect_to(&mut self, h: SocketHandle, host: &str, port: &str) -> Result<(), Error> {
        let (host, port) = (host.to_string(), port.to_string());
        self.until("connect", 600_000, |rig| {
            let r = rig.net.connect(h, &host, &port);
            rig.rec.connect(h, &host, &port, &r);
            (r != Err(Error::InProgress)).then_some(r)
        })
    }

    fn connect(&mut self, h: SocketHandle) -> Result<(), Error> {
        let port = self.echo.port().to_string();
        self.connect_to(h, "localhost", &port)
    }

    fn close(&mut self, h: SocketHandle) -> Result<(), Error> {
        self.until("close", 600_000, |rig| {
            let r = rig.net.close(h);
            rig.rec.close(h, &r);
            (r != Err(Error::InProgress)).then_some(r)
        })
    }

    /// A datagram handed to `send` on `h`: its echo may come back (even before the
    /// send reports its result, since the modem puts the datagram on the network
    /// before it says `SEND OK`).
    fn expect_echo(&mut self, h: SocketHandle, data: &[u8]) {
        *self
            .expect
            .entry(h)
            .or_default()
            .entry(data.to_vec())
            .or_default() += 1;
    }

    /// The result of a send: an `Ok` goes into the ledger of sent datagrams, an
    /// error withdraws the expected echo.
    fn settle_send(&mut self, h: SocketHandle, data: &[u8], r: &Result<usize, Error>) {
        match r {
            Ok(n) => {
                assert_eq!(*n, data.len(), "a datagram is sent whole");
                *self.sent.entry(data.to_vec()).or_default() += 1;
            }
            Err(_) => {
                take(self.expect.entry(h).or_default(), data);
            }
        }
    }

    /// Send until the driver gives a result.
    fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, Error> {
        self.expect_echo(h, data);
        let r = self.until("send", 600_000, |rig| {
            let r = rig.net.send(h, data);
            rig.rec.send(h, data, &r);
            (r != Err(Error::InProgress)).then_some(r)
        });
        self.settle_send(h, data, &r);
        r
    }

    /// One `recv` call; a datagram must be one this socket expects.
    fn recv_once(&mut self, h: SocketHandle, strict: bool) -> Result<Vec<u8>, Error> {
        let mut buf = [0u8; 1500];
        let r = self.net.recv(h, &mut buf);
        self.rec.recv(h, &buf, &r);
        let n = r?;
        let data = buf[..n].to_vec();
        let ok = take(self.expect.entry(h).or_default(), &data);
        if !ok {
            assert!(
                !strict,
                "socket {h:?} received a datagram it did not expect ({} bytes)",
                data.len()
            );
            self.unexpected.push((h, data.clone()));
        }
        Ok(data)
    }

    /// Receive until a datagram or an error comes.
    fn recv(&mut self, h: SocketHandle) -> Result<Vec<u8>, Error> {
        self.until("recv", 600_000, |rig| match rig.recv_once(h, true) {
            Err(Error::WouldBlock) => None,
            r => Some(r),
        })
    }

    fn echo_ok(&mut self, h: SocketHandle, data: &[u8]) {
        assert_eq!(self.send(h, data), Ok(data.len()));
        assert_eq!(self.recv(h).unwrap(), data);
    }

    fn random_datagram(&mut self, min: usize, max: usize) -> Vec<u8> {
        let len = self.rng.range(min, max);
        (0..len).map(|_| self.rng.next_u64() as u8).collect()
    }

    fn outstanding(&self, h: SocketHandle) -> usize {
        self.expect.get(&h).map_or(0, |m| m.values().sum())
    }

    /// The contract's ledger: every datagram reported sent reached the server.
    fn check_sent_reached_server(&self) {
        let wall = WallInstant::now();
        let want: usize = self.sent.values().sum();
        while self.echo.count() < want && wall.elapsed() < WALL_LIMIT {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut got = Ledger::new();
        for d in self.echo.received() {
            *got.entry(d).or_default() += 1;
        }
        for (d, n) in &self.sent {
            let have = got.get(d).copied().unwrap_or(0);
            assert!(
                have >= *n,
                "the driver reported a {}-byte datagram sent {n} time(s), the server got it {have} time(s)",
                d.len()
            );
        }
        for (h, d) in &self.unexpected {
            assert!(
                got.contains_key(d),
                "socket {h:?} received {} bytes the server never echoed",
                d.len()
            );
        }
    }

    /// Drop expectations (after a fault made echoes uncertain).
    fn forget_expected(&mut self) {
        self.expect.clear();
    }
}

fn config_with(f: impl FnOnce(&mut Config)) -> Config {
    let mut c = Config::new("internet").unwrap();
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
                    // The BG96 cannot send an empty datagram: refused at once.
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

#[test]
fn thousand_random_datagrams_over_two_sockets() {
    let mut rig = Rig::new(Setup {
        line: Line::instant(),
        ..Setup::default()
    });
    let a = rig.create();
    let b = rig.create();
    assert_eq!(rig.connect(a), Ok(()));
    assert_eq!(rig.connect(b), Ok(()));
    // The edges first, then random sizes.
    assert_eq!(rig.send(a, b""), Err(Error::NotSupported));
    let mut payload_with_protocol = b"\r\nOK\r\n> \r\n+QIURC: \"recv\",0,4\r\nSEND OK\r\n".to_vec();
    payload_with_protocol.extend_from_slice(&[0, 0x1a, 0x1b, 0xff]);
    rig.echo_ok(a, &[0x42]);
    rig.echo_ok(b, &vec![0xa5; 1460]);
    rig.echo_ok(a, &payload_with_protocol);
    traffic(&mut rig, &[a, b], 996, 3, (0, 1460));
    rig.check_sent_reached_server();
    let server_bytes = rig.echo.bytes();
    let sent = rig.net.driver.bytes_sent(a).unwrap() + rig.net.driver.bytes_sent(b).unwrap();
    let received =
        rig.net.driver.bytes_received(a).unwrap() + rig.net.driver.bytes_received(b).unwrap();
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

#[test]
fn paced_at_115200_baud_with_buffer_mode() {
    let mut rig = Rig::new(Setup {
        profile: Bg96::buffered(),
        ..Setup::default()
    });
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

#[test]
fn cold_boot_with_echo_on_then_connect() {
    let mut rig = Rig::new(Setup::default());
    let a = rig.create();
    assert_eq!(rig.net.state(a), Ok(SocketState::Closed));
    assert_eq!(rig.connect(a), Ok(()));
    assert_eq!(rig.net.state(a), Ok(SocketState::Connected));
    assert!(!rig.sim.echo(), "the driver turned echo off");
    assert!(rig.sim.pdp_active());
    assert_eq!(
        rig.net.driver.local_port(a).unwrap(),
        rig.sim.local_port(0),
        "the local port the driver read is the real UDP port"
    );
    assert_eq!(rig.net.inner_mtu(a), Ok(1460));
    rig.echo_ok(a, b"hello");
    rig.check_sent_reached_server();
}

#[test]
fn mcu_reset_with_a_running_modem() {
    // The modem was up before the driver started: no banner, echo on.
    let mut rig = Rig::new(Setup {
        sim: Bg96SimConfig {
            start: Start::Running,
            ..Bg96SimConfig::default()
        },
        ..Setup::default()
    });
    let a = rig.create();
    assert_eq!(rig.connect(a), Ok(()));
    rig.echo_ok(a, b"after reset");
}

#[test]
fn dns_failure_is_reported_then_a_good_host_connects() {
    let mut rig = Rig::new(Setup::default());
    let a = rig.create();
    assert_eq!(
        rig.connect_to(a, "no-such-host.invalid", "5683"),
        Err(Error::Failed(Reason::DnsFailed))
    );
    assert_eq!(rig.net.state(a), Ok(SocketState::Closed));
    assert_eq!(rig.connect(a), Ok(()));
    rig.echo_ok(a, b"resolved");
}

#[test]
fn bind_failure_of_a_reused_port() {
    let mut rig = Rig::new(Setup::default());
    let a = rig.create();
    assert_eq!(rig.connect(a), Ok(()));
    let port = rig.net.driver.local_port(a).unwrap().unwrap();
    assert_eq!(rig.close(a), Ok(()));
    // Someone else takes the port meanwhile.
    let thief = std::net::UdpSocket::bind(("127.0.0.1", port)).unwrap();
    assert_eq!(rig.net.reuse_last_port(a), Ok(()));
    let r = rig.connect(a);
    assert_eq!(r, Err(Error::Failed(Reason::OpenFailed(556))));
    drop(thief);
    assert_eq!(rig.net.reuse_last_port(a), Ok(()));
    assert_eq!(rig.connect(a), Ok(()));
    assert_eq!(rig.net.driver.local_port(a), Ok(Some(port)));
    rig.echo_ok(a, b"same port");
}

// ----- faults ---------------------------------------------------------------------

fn two_connected() -> (Rig, SocketHandle, SocketHandle) {
    two_connected_with(Bg96::new())
}

fn two_connected_with(profile: Bg96) -> (Rig, SocketHandle, SocketHandle) {
    let mut rig = Rig::new(Setup {
        profile,
        ..Setup::default()
    });
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

#[test]
fn fault_socket_closed_by_the_network() {
    let (mut rig, a, b) = two_connected();
    rig.sim.inject(Fault::SocketClosed(0));
    lost_then_recovers(&mut rig, a, Reason::SocketClosed);
    assert_eq!(rig.net.state(b), Ok(SocketState::Connected));
    rig.echo_ok(b, b"the other socket never noticed");
    rig.check_sent_reached_server();
}

#[test]
fn fault_pdp_deactivated() {
    let (mut rig, a, b) = two_connected();
    rig.sim.inject(Fault::PdpDeactivated);
    lost_then_recovers(&mut rig, a, Reason::PdpDeactivated);
    lost_then_recovers(&mut rig, b, Reason::PdpDeactivated);
    assert!(rig.sim.pdp_active());
    rig.check_sent_reached_server();
}

#[test]
fn fault_modem_reboot_mid_session() {
    let (mut rig, a, b) = two_connected();
    rig.sim.inject(Fault::Reboot);
    lost_then_recovers(&mut rig, a, Reason::ModemRebooted);
    lost_then_recovers(&mut rig, b, Reason::ModemRebooted);
    assert!(!rig.sim.echo(), "echo turned off again after the reboot");
    assert_eq!(rig.sim.stats().reboots, 1);
    rig.check_sent_reached_server();
}

#[test]
fn fault_modem_reboot_during_a_send() {
    let (mut rig, a, _b) = two_connected();
    rig.sim.faults().on_command("AT+QISEND", Fault::Reboot);
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

#[test]
fn fault_registration_lost_briefly_keeps_the_sockets() {
    let (mut rig, a, _b) = two_connected();
    rig.sim.inject(Fault::RegistrationLost);
    rig.until("URC seen", 1_000, |rig| {
        (rig.net
            .driver
            .network()
            .registration
            .map(|(s, _)| s.is_registered())
            == Some(false))
        .then_some(())
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

#[test]
fn fault_registration_lost_for_long_loses_the_sockets() {
    let mut rig = Rig::new(Setup {
        config: config_with(|c| c.registration_grace_ms = 5_000),
        ..Setup::default()
    });
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

#[test]
fn fault_command_never_answered() {
    let (mut rig, a, _b) = two_connected();
    rig.sim
        .faults()
        .on_command("AT+QISEND", Fault::IgnoreCommand);
    assert_eq!(rig.send(a, b"ignored"), Err(Error::Failed(Reason::Timeout)));
    rig.echo_ok(a, b"the next one goes");
    rig.check_sent_reached_server();
}

#[test]
fn fault_open_ok_swallowed() {
    let mut rig = Rig::new(Setup::default());
    let a = rig.create();
    rig.sim
        .faults()
        .on_command("AT+QIOPEN", Fault::SwallowAnswer);
    // The driver may retry the open itself; if it reports the timeout, a second
    // connect must succeed.
    match rig.connect(a) {
        Ok(()) => {}
        Err(Error::Failed(Reason::Timeout)) => assert_eq!(rig.connect(a), Ok(())),
        Err(e) => panic!("connect: {e:?}"),
    }
    rig.echo_ok(a, b"opened after all");
    rig.check_sent_reached_server();
}

#[test]
fn fault_local_port_answer_swallowed() {
    let mut rig = Rig::new(Setup::default());
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

#[test]
fn fault_send_fail() {
    let (mut rig, a, _b) = two_connected();
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

#[test]
fn fault_garbage_between_exchanges() {
    let (mut rig, a, b) = two_connected();
    let junk: &[&[u8]] = &[
        b"\xff\xfe\x00\x1a",
        b"\r\n+QIURC: \"incoming full\"\r\n",
        b"\r\n+XYZZY: 1,2\r\n\x07",
        b"\r\n+QIURC: \"recv\",7,3\r\nabc",
        b"\r\nRANDOM LINE\r\n",
    ];
    let t = rig.now();
    for (i, j) in junk.iter().enumerate() {
        let at = Instant::from_millis(t + 5 + 37 * i as u64);
        rig.sim.faults().at(at, Fault::Garbage(j.to_vec()));
    }
    traffic(&mut rig, &[a, b], 40, 2, (1, 300));
    rig.check_sent_reached_server();
}

#[test]
fn fault_urcs_inside_a_send() {
    let (mut rig, a, b) = two_connected();
    rig.sim.inject(Fault::DuringSend(
        b"\r\n+CEREG: 1\r\n".to_vec(),
        SendPoint::AfterPrompt,
    ));
    rig.sim.inject(Fault::DuringSend(
        b"\r\n+QIURC: \"recv\",1,9\r\nfor b\r\nOK".to_vec(),
        SendPoint::BeforeResult,
    ));
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

#[test]
fn fault_inside_a_send() {
    use SendPoint::{AfterPrompt, BeforeResult};
    let cases = [
        (Fault::SocketClosed(0), AfterPrompt, Reason::SocketClosed),
        (Fault::SocketClosed(0), BeforeResult, Reason::SocketClosed),
        (Fault::PdpDeactivated, AfterPrompt, Reason::PdpDeactivated),
        (Fault::PdpDeactivated, BeforeResult, Reason::PdpDeactivated),
        (Fault::Reboot, AfterPrompt, Reason::ModemRebooted),
        (Fault::Reboot, BeforeResult, Reason::ModemRebooted),
        (Fault::RegistrationLost, BeforeResult, Reason::SendFailed),
        (Fault::SendFail, AfterPrompt, Reason::SendFailed),
        (Fault::SendFail, BeforeResult, Reason::SendFailed),
    ];
    for (profile, (fault, point, reason)) in [Bg96::new(), Bg96::buffered()]
        .into_iter()
        .flat_map(|p| cases.clone().into_iter().map(move |c| (p, c)))
    {
        let (mut rig, a, b) = two_connected_with(profile);
        rig.sim.faults().in_next_send(point, fault.clone());
        let data = vec![0x77; 1000];
        assert_eq!(
            rig.send(a, &data),
            Err(Error::Failed(reason)),
            "{fault:?} at {point:?}, {:?}",
            profile.access_mode
        );
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

#[test]
fn fault_reboot_at_each_bring_up_step() {
    let steps = [
        "ATE0",
        "AT+CMEE",
        "AT+CPIN",
        "AT+CEREG?",
        "AT+QIACT=1",
        "AT+QIOPEN",
        "AT+QISTATE",
    ];
    for step in steps {
        let mut rig = Rig::new(Setup::default());
        let a = rig.create();
        rig.sim.faults().on_command(step, Fault::Reboot);
        match rig.connect(a) {
            Ok(()) => {}
            Err(Error::Failed(Reason::ModemRebooted | Reason::Timeout)) => {
                assert_eq!(rig.connect(a), Ok(()), "reboot at {step}")
            }
            Err(e) => panic!("reboot at {step}: connect {e:?}"),
        }
        rig.echo_ok(a, step.as_bytes());
        rig.check_sent_reached_server();
    }
}

#[test]
fn partial_writes_at_9600_baud() {
    // A 16-byte transmit FIFO: every command and payload goes out in pieces.
    let mut line = Line::baud(9600);
    line.host_tx_fifo = 16;
    let mut rig = Rig::new(Setup {
        line,
        ..Setup::default()
    });
    let a = rig.create();
    let b = rig.create();
    assert_eq!(rig.connect(a), Ok(()));
    assert_eq!(rig.connect(b), Ok(()));
    traffic(&mut rig, &[a, b], 30, 2, (0, 1460));
    rig.check_sent_reached_server();
}

#[test]
fn four_sockets_on_an_instant_modem() {
    let mut rig = Rig::new(Setup {
        sim: Bg96SimConfig {
            latency: Latency::ZERO,
            ..Bg96SimConfig::default()
        },
        line: Line::instant(),
        ..Setup::default()
    });
    let socks: Vec<_> = (0..4).map(|_| rig.create()).collect();
    for &h in &socks {
        assert_eq!(rig.connect(h), Ok(()));
    }
    traffic(&mut rig, &socks, 200, 3, (0, 1460));
    rig.check_sent_reached_server();
}

#[test]
fn close_with_a_send_in_flight_then_cleanup_and_reuse() {
    let (mut rig, a, b) = two_connected();
    rig.expect_echo(a, b"in flight");
    assert_eq!(rig.net.send(a, b"in flight"), Err(Error::InProgress));
    assert_eq!(rig.close(a), Ok(()));
    assert_eq!(rig.net.state(a), Ok(SocketState::Closed));
    rig.forget_expected();
    assert_eq!(rig.connect(a), Ok(()));
    rig.echo_ok(a, b"again");
    let r = rig.until("cleanup", 60_000, |rig| {
        let r = rig.net.cleanup(b);
        (r != Err(Error::InProgress)).then_some(r)
    });
    assert_eq!(r, Ok(()));
    assert!(!rig.sim.socket_in_use(1), "the modem socket was closed");
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
    let settle = rig.now() + 30_000;
    rig.until("settle", 60_000, |rig| (rig.now() >= settle).then_some(()));
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

#[test]
fn fault_bytes_lost_to_the_host() {
    let (rig, a, b) = two_connected();
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

#[test]
fn fault_bytes_lost_to_the_modem() {
    let (rig, a, b) = two_connected();
    lossy_then_recovers(
        rig,
        &[a, b],
        vec![(10, Fault::DropToModem(1)), (700, Fault::DropToModem(5))],
    );
}

#[test]
fn fault_send_prompt_swallowed() {
    let (mut rig, a, b) = two_connected();
    rig.sim
        .faults()
        .on_command("AT+QISEND", Fault::SwallowAnswer);
    lossy_then_recovers(rig, &[a, b], vec![]);
}

// ----- limits of the BG96 ------------------------------------------------------------

#[test]
fn over_the_mtu_is_refused_before_the_modem() {
    let (mut rig, a, _b) = two_connected();
    assert_eq!(rig.net.send(a, &vec![1u8; 1461]), Err(Error::MessageSize));
    rig.echo_ok(a, &vec![2u8; 1460]);
}

#[test]
fn zero_length_datagram_is_sent_or_refused_at_once() {
    let (mut rig, a, _b) = two_connected();
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

// ----- recordings -------------------------------------------------------------------

#[test]
fn a_recorded_session_replays_green() {
    let mut rig = Rig::new(Setup {
        record: true,
        ..Setup::default()
    });
    let a = rig.create();
    let b = rig.create();
    assert_eq!(rig.connect(a), Ok(()));
    assert_eq!(rig.connect(b), Ok(()));
    let mut binary: Vec<u8> = (0..=255u8).collect();
    binary.extend_from_slice(b" => \"\" \r\nOK\r\n> ");
    rig.echo_ok(a, &binary);
    rig.echo_ok(b, b"\"\"");
    rig.echo_ok(a, &vec![0x3d; 1460]);
    rig.sim.inject(Fault::SocketClosed(1));
    lost_then_recovers(&mut rig, b, Reason::SocketClosed);
    rig.echo_ok(b, b"x");
    let text = rig.rec.to_text();
    let rec = Recording::parse(&text).unwrap();
    assert!(rec.steps.len() > 50, "{text}");
    let whole = cellsock::modems::replay(&rec, Chunking::Whole)
        .unwrap_or_else(|m| panic!("{m}\n--- recording ---\n{text}"));
    for chunking in [Chunking::PerLine, Chunking::Random(1), Chunking::Random(2)] {
        let stats = cellsock::modems::replay(&rec, chunking)
            .unwrap_or_else(|m| panic!("{chunking:?}: {m}\n--- recording ---\n{text}"));
        assert_eq!(stats, whole, "{chunking:?}");
    }
}

// ----- driver bugs the simulator found (fixed in the driver; kept as regressions) ---

#[test]
fn poll_at_is_not_due_while_a_bring_up_command_waits() {
    // A slow modem: 300 ms per answer.
    let mut rig = Rig::new(Setup {
        sim: Bg96SimConfig {
            latency: Latency {
                response_ms: 300,
                ..Latency::default()
            },
            ..Bg96SimConfig::default()
        },
        ..Setup::default()
    });
    let a = rig.create();
    let port = rig.echo.port().to_string();
    let (mut polls, mut busy) = (0, 0);
    while rig.net.connect(a, "localhost", &port) == Err(Error::InProgress) {
        rig.net.poll();
        polls += 1;
        // Right after a poll nothing can be due now: the driver did what it could.
        if rig.net.driver.poll_at() == Some(Instant::from_millis(rig.now())) {
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

#[test]
fn lost_send_prompt_recovers_within_a_minute() {
    let (mut rig, a, _b) = two_connected();
    // The 4 bytes of "\r\n> " never reach the host; the modem waits for 1460 bytes.
    rig.sim
        .faults()
        .on_command("AT+QISEND", Fault::DropToHost(4));
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
    let leaked = rig
        .echo
        .received()
        .iter()
        .any(|d| d.windows(5).any(|w| w == b"AT+QI"));
    assert!(!leaked, "AT command text reached the peer as a datagram");
    assert!(back, "the socket did not work again within 60 s");
}

// ----- the simulator itself, at the AT level (no driver) ------------------------------

/// A terminal on the simulated modem: type a line, read what comes back.
struct Terminal {
    sim: Bg96Sim,
    uart: HostUart,
    t: u64,
}

impl Terminal {
    fn new() -> Terminal {
        let cfg = Bg96SimConfig {
            start: Start::Running,
            // Answers at once; the open result a little later, as a separate URC.
            latency: Latency {
                open_ms: 5,
                ..Latency::ZERO
            },
            ..Bg96SimConfig::default()
        };
        let (sim, uart) = Bg96Sim::with_line(Line::instant(), cfg);
        Terminal { sim, uart, t: 0 }
    }

    fn read_all(&mut self) -> Vec<u8> {
        use embedded_io::{Read, ReadReady};
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while self.uart.read_ready().unwrap() {
            let n = self.uart.read(&mut buf).unwrap();
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    /// Write `bytes`, then step until the output ends with `until` (or 2 s pass).
    fn io(&mut self, bytes: &[u8], until: &[&str]) -> String {
        use embedded_io::Write;
        self.uart.write_all(bytes).unwrap();
        let mut out = Vec::new();
        let wall = WallInstant::now();
        loop {
            self.t += 1;
            self.sim.step(Instant::from_millis(self.t));
            out.extend(self.read_all());
            let text = String::from_utf8_lossy(&out).into_owned();
            if until.iter().any(|u| text.ends_with(u)) || wall.elapsed() > Duration::from_secs(2) {
                return text;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    fn at(&mut self, line: &str) -> String {
        let finals = ["OK\r\n", "ERROR\r\n", "> ", "FAIL\r\n"];
        self.io(format!("{line}\r").as_bytes(), &finals)
    }

    /// Step `ms` milliseconds; what came out.
    fn steps(&mut self, ms: u64) -> String {
        let mut out = Vec::new();
        for _ in 0..ms {
            self.t += 1;
            self.sim.step(Instant::from_millis(self.t));
            out.extend(self.read_all());
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Wait for unsolicited output ending with `until`.
    fn wait(&mut self, until: &str) -> String {
        self.io(b"", &[until])
    }
}

#[test]
fn sim_answers_as_the_manual_says() {
    let echo = EchoServer::start().unwrap();
    let port = echo.port();
    let mut m = Terminal::new();
    assert_eq!(m.at("AT"), "AT\r\r\nOK\r\n", "echo is on");
    assert_eq!(m.at("ATE0"), "ATE0\r\r\nOK\r\n", "ATE0 itself is echoed");
    assert_eq!(m.at("AT"), "\r\nOK\r\n");
    assert_eq!(m.at("AT+FOO"), "\r\nERROR\r\n");
    assert_eq!(m.at("AT+CMEE=1"), "\r\nOK\r\n");
    assert_eq!(m.at("AT+CPIN?"), "\r\n+CPIN: READY\r\n\r\nOK\r\n");
    assert_eq!(m.at("AT+CEREG=1"), "\r\nOK\r\n");
    assert_eq!(m.at("AT+CEREG?"), "\r\n+CEREG: 1,1\r\n\r\nOK\r\n");
    assert_eq!(m.at("AT+CSQ"), "\r\n+CSQ: 20,99\r\n\r\nOK\r\n");
    assert_eq!(m.at("AT+QICSGP=1,1,\"iot\",\"\",\"\",0"), "\r\nOK\r\n");
    assert_eq!(
        m.at("AT+QICSGP=1"),
        "\r\n+QICSGP: 1,\"iot\",\"\",\"\",0\r\n\r\nOK\r\n"
    );
    assert_eq!(m.at("AT+QIACT?"), "\r\nOK\r\n", "no context: a bare OK");
    assert_eq!(m.at("AT+QIACT=1"), "\r\nOK\r\n");
    assert_eq!(m.at("AT+QIACT=1"), "\r\nERROR\r\n", "already active");
    assert_eq!(
        m.at("AT+QIACT?"),
        "\r\n+QIACT: 1,1,1,\"127.0.0.1\"\r\n\r\nOK\r\n"
    );

    let open = format!("AT+QIOPEN=1,0,\"UDP\",\"127.0.0.1\",{port},0,1");
    assert_eq!(m.at(&open), "\r\nOK\r\n");
    assert_eq!(m.wait("\r\n"), "\r\n+QIOPEN: 0,0\r\n");
    assert_eq!(m.at(&open), "\r\nOK\r\n");
    assert_eq!(m.wait("\r\n"), "\r\n+QIOPEN: 0,563\r\n", "id in use");
    assert_eq!(
        m.at("AT+QIOPEN=1,1,\"UDP\",\"nowhere.invalid\",5683,0,1"),
        "\r\nOK\r\n"
    );
    assert_eq!(m.wait("\r\n"), "\r\n+QIOPEN: 1,565\r\n", "DNS failure");
    assert_eq!(
        m.at("AT+QIOPEN=1,12,\"UDP\",\"127.0.0.1\",7,0,1"),
        "\r\nERROR\r\n"
    );
    let lport = m.sim.local_port(0).unwrap();
    assert_eq!(
        m.at("AT+QISTATE=1,0"),
        format!(
            "\r\n+QISTATE: 0,\"UDP\",\"127.0.0.1\",{port},{lport},2,1,0,1,\"uart1\"\r\n\r\nOK\r\n"
        )
    );

    assert_eq!(m.at("AT+QISEND=0,1461"), "\r\nERROR\r\n", "over 1460");
    assert_eq!(
        m.at("AT+QISEND=0,0"),
        "\r\n+QISEND: 0,0,0\r\n\r\nOK\r\n",
        "len 0 is the counter query"
    );
    assert_eq!(m.at("AT+QISEND=0,7"), "\r\n> ");
    // ESC and Ctrl-Z are payload in a fixed-length send; then the echo is pushed
    // with its length.
    assert_eq!(
        m.io(b"a\r\nOK\x1b\x1a", &["OK\x1b\x1a"]),
        "\r\nSEND OK\r\n\r\n+QIURC: \"recv\",0,7\r\na\r\nOK\x1b\x1a"
    );
    assert_eq!(echo.received(), vec![b"a\r\nOK\x1b\x1a".to_vec()]);
    assert_eq!(m.at("AT+QISEND=0,0"), "\r\n+QISEND: 7,7,0\r\n\r\nOK\r\n");
    assert_eq!(
        m.at("AT+QIRD=0,1500"),
        "\r\nERROR\r\n",
        "no reads in direct push"
    );

    m.sim.inject(Fault::SocketClosed(0));
    assert_eq!(m.wait("\r\n"), "\r\n+QIURC: \"closed\",0\r\n");
    assert_eq!(m.at("AT+QISEND=0,1"), "\r\nERROR\r\n", "closed socket");
    assert_eq!(m.at("AT+QICLOSE=0"), "\r\nOK\r\n");
    assert_eq!(
        m.at("AT+QICLOSE=5"),
        "\r\nOK\r\n",
        "closing an unused id is fine"
    );
    assert_eq!(m.at("AT+QISTATE=1,0"), "\r\nOK\r\n");

    // Buffer mode.
    let open = format!("AT+QIOPEN=1,3,\"UDP\",\"localhost\",{port},0,0");
    assert_eq!(m.at(&open), "\r\nOK\r\n");
    assert_eq!(m.wait("\r\n"), "\r\n+QIOPEN: 3,0\r\n");
    assert_eq!(m.at("AT+QISEND=3,5"), "\r\n> ");
    assert_eq!(
        m.io(b"hello", &["\"recv\",3\r\n"]),
        "\r\nSEND OK\r\n\r\n+QIURC: \"recv\",3\r\n"
    );
    assert_eq!(
        m.at("AT+QIRD=3,1500"),
        "\r\n+QIRD: 5\r\nhello\r\n\r\nOK\r\n"
    );
    assert_eq!(m.at("AT+QIRD=3,1500"), "\r\n+QIRD: 0\r\n\r\nOK\r\n");
    assert_eq!(m.at("AT+QIRD=3,0"), "\r\n+QIRD: 5,5,0\r\n\r\nOK\r\n");

    m.sim.inject(Fault::PdpDeactivated);
    assert_eq!(m.wait("\r\n"), "\r\n+QIURC: \"pdpdeact\",1\r\n");
    assert_eq!(m.at("AT+QIACT=1"), "\r\nERROR\r\n", "deactivate first");
    assert_eq!(m.at("AT+QIDEACT=1"), "\r\nOK\r\n");
    assert_eq!(m.at("AT+QIACT=1"), "\r\nOK\r\n");

    m.sim.inject(Fault::RegistrationLost);
    assert_eq!(m.wait("\r\n"), "\r\n+CEREG: 2\r\n");
    m.sim.inject(Fault::Reboot);
    {
        use embedded_io::Write;
        m.uart.write_all(b"AT\r").unwrap();
    }
    assert_eq!(m.steps(50), "", "deaf while booting");
    let banner = m.wait("APP RDY\r\n");
    assert!(banner.starts_with("\r\nRDY\r\n"), "{banner:?}");
    assert_eq!(m.at("AT"), "AT\r\r\nOK\r\n", "echo is back on");
    assert_eq!(
        m.at("AT+QIACT?"),
        "AT+QIACT?\r\r\nOK\r\n",
        "the context is gone"
    );
}

#[test]
fn sim_paces_bytes_at_the_baud_rate() {
    use embedded_io::Write;
    let (mut sim, mut uart) = Bg96Sim::with_line(
        Line::baud(9600),
        Bg96SimConfig {
            start: Start::Running,
            latency: Latency::ZERO,
            ..Bg96SimConfig::default()
        },
    );
    uart.write_all(b"AT\r").unwrap();
    // A byte takes 1.04 ms at 9600 baud. The modem echoes each byte as it arrives
    // ('A' at 1.04 ms is back at 2.08 ms) and answers "\r\nOK\r\n" once the '\r'
    // is in (3.13 ms), behind the echo: the 9th byte arrives at 10.4 ms.
    sim.step(Instant::from_millis(2));
    assert_eq!(uart.pending(), 0);
    sim.step(Instant::from_millis(3));
    assert_eq!(uart.pending(), 1);
    sim.step(Instant::from_millis(10));
    assert_eq!(uart.pending(), 8);
    sim.step(Instant::from_millis(11));
    assert_eq!(uart.pending(), 9);
}
