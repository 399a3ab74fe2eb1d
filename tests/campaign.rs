//! Recovery campaign: long sessions (two virtual days each) of an LwM2M-like
//! application on the simulated BG96, with random faults from the simulator's
//! list. After every fault the application keeps doing what Anjay does (send, wait
//! for the answer, and on an error close and connect again), and the campaign
//! measures how long and how many AT commands it takes until a datagram goes out
//! and its echo comes back.
//!
//! Asserted for every fault of every run: the driver is back to sending within a
//! bounded number of commands and virtual time, and every datagram reported sent
//! reached the echo server (real UDP on 127.0.0.1). Anything the application
//! receives is a datagram the server really echoed.
//!
//! `CAMPAIGN_RUNS=200 cargo test --release --test campaign -- --nocapture` prints
//! the figures in docs/reliability.md; `cargo test` runs a shorter campaign.

use std::collections::HashMap;
use std::time::{Duration, Instant as WallInstant};

use cellsock::modems::bg96::sim::{Bg96Sim, Bg96SimConfig, Start};
use cellsock::modems::bg96::Bg96;
use cellsock::replay::{Rng, VirtualClock};
use cellsock::sim::udp::EchoServer;
use cellsock::sim::{Fault, HostUart, Line, SendPoint, SimModem};
use cellsock::{AddressFamily, Config, Driver, Error, Instant, NetStack, SocketHandle};

type Stack = NetStack<'static, Bg96, HostUart, VirtualClock, 2, 4096>;

/// Virtual length of one session.
const SESSION_MS: u64 = 2 * 24 * 3600 * 1000;
/// Bounds on one recovery.
const MAX_RECOVERY_MS: u64 = 15 * 60 * 1000;
const MAX_RECOVERY_COMMANDS: u64 = 150;
/// How long the application waits for an answer before sending again (CoAP).
const ANSWER_WAIT_MS: u64 = 5_000;
/// Real-time bound of one session.
const WALL_LIMIT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    Reboot,
    PdpDeactivated,
    SocketClosed,
    RegistrationLost,
    IgnoreCommand,
    SwallowAnswer,
    SendFail,
    Garbage,
    UrcInSend,
    DropToHost,
    DropToModem,
}

const KINDS: [Kind; 11] = [
    Kind::Reboot,
    Kind::PdpDeactivated,
    Kind::SocketClosed,
    Kind::RegistrationLost,
    Kind::IgnoreCommand,
    Kind::SwallowAnswer,
    Kind::SendFail,
    Kind::Garbage,
    Kind::UrcInSend,
    Kind::DropToHost,
    Kind::DropToModem,
];

/// One fault and what recovering from it cost.
#[derive(Clone, Copy, Debug)]
struct Recovery {
    kind: Kind,
    ms: u64,
    commands: u64,
}

struct Session {
    clock: VirtualClock,
    sim: Bg96Sim,
    net: Stack,
    echo: EchoServer,
    rng: Rng,
    sock: SocketHandle,
    /// Datagrams the driver reported as sent.
    sent: HashMap<Vec<u8>, usize>,
    /// Datagrams the application received.
    received: Vec<Vec<u8>>,
    seq: u64,
    seed: u64,
    in_flight_since: Option<WallInstant>,
    wall: WallInstant,
}

impl Session {
    fn new(seed: u64) -> Session {
        let echo = EchoServer::start().expect("echo server");
        let (mut sim, uart) = Bg96Sim::with_line(
            Line::baud(115_200),
            Bg96SimConfig {
                start: if seed % 2 == 0 {
                    Start::PowerOn
                } else {
                    Start::Running
                },
                ..Bg96SimConfig::default()
            },
        );
        sim.step(Instant::ZERO);
        let driver: &'static mut Driver<Bg96, 2, 4096> = Box::leak(Box::new(Driver::new(
            Bg96::new(),
            Config::new("internet").expect("apn"),
        )));
        let clock = VirtualClock::new();
        let mut net = NetStack::new(driver, uart, clock.clone());
        let sock = net.create(AddressFamily::Unspecified).expect("socket");
        Session {
            clock,
            sim,
            net,
            echo,
            rng: Rng::new(seed),
            sock,
            sent: HashMap::new(),
            received: Vec::new(),
            seq: 0,
            seed,
            in_flight_since: None,
            wall: WallInstant::now(),
        }
    }

    fn now(&self) -> u64 {
        self.clock.now_ms()
    }

    fn commands(&self) -> u64 {
        self.sim.stats().commands
    }

    /// Let time pass up to `until` (or less, when something is due earlier),
    /// without jumping past a datagram still on its way through the kernel.
    fn tick(&mut self, until: u64) {
        assert!(
            self.wall.elapsed() < WALL_LIMIT,
            "seed {}: session took too long ({} ms virtual)",
            self.seed,
            self.now()
        );
        self.net.poll();
        let now = self.now();
        let st = self.sim.stats();
        let at_server = self.echo.count() as u64;
        let in_flight =
            st.datagrams_out > at_server || at_server > st.datagrams_in + st.datagrams_lost;
        if in_flight {
            let since = *self.in_flight_since.get_or_insert_with(WallInstant::now);
            if since.elapsed() < Duration::from_millis(200) {
                std::thread::sleep(Duration::from_micros(20));
                self.sim.step(Instant::from_millis(now));
                self.drain();
                return;
            }
            // Gone for good (its socket was closed meanwhile): time moves on.
        } else {
            self.in_flight_since = None;
        }
        let next = [self.net.driver.poll_at(), self.sim.next_event()]
            .into_iter()
            .flatten()
            .map(|t| t.as_millis())
            .min()
            .unwrap_or(until)
            // At least 5 ms per step (a main loop, not a per-byte interrupt): the
            // driver then takes the bytes of a few milliseconds at once.
            .clamp(now + 5, until.max(now + 5));
        self.clock.set(next);
        self.sim.step(Instant::from_millis(next));
        self.drain();
    }

    /// Take what the application would take on its next `recv` calls.
    fn drain(&mut self) {
        let mut buf = [0u8; 1500];
        while let Ok(n) = self.net.recv(self.sock, &mut buf) {
            self.received.push(buf[..n].to_vec());
        }
    }

    fn idle_until(&mut self, t: u64) {
        while self.now() < t {
            self.tick(t);
        }
    }

    /// Connect until it works (close and retry on errors, as Anjay does).
    fn ensure_connected(&mut self) {
        let port = self.echo.port().to_string();
        loop {
            match self.net.connect(self.sock, "localhost", &port) {
                Ok(()) => return,
                Err(Error::InProgress) => {
                    let t = self.now() + 10;
                    self.tick(t);
                }
                Err(_) => {
                    self.close();
                    let t = self.now() + 1_000;
                    self.idle_until(t);
                }
            }
        }
    }

    fn close(&mut self) {
        loop {
            match self.net.close(self.sock) {
                Err(Error::InProgress) => {
                    let t = self.now() + 10;
                    self.tick(t);
                }
                _ => return,
            }
        }
    }

    /// One exchange: send a fresh datagram and wait for its echo. False if
    /// anything failed (the caller tries again).
    fn exchange(&mut self) -> bool {
        self.ensure_connected();
        self.seq += 1;
        let mut data = format!("seed {} seq {} ", self.seed, self.seq).into_bytes();
        let extra = self.rng.range(0, 600);
        data.extend((0..extra).map(|_| self.rng.next_u64() as u8));
        let result = loop {
            match self.net.send(self.sock, &data) {
                Err(Error::InProgress) => {
                    let t = self.now() + 10;
                    self.tick(t);
                }
                r => break r,
            }
        };
        match result {
            Ok(n) => {
                assert_eq!(
                    n,
                    data.len(),
                    "seed {}: a datagram is sent whole",
                    self.seed
                );
                *self.sent.entry(data.clone()).or_default() += 1;
            }
            Err(Error::Failed(_)) | Err(Error::WouldBlock) => {
                if self.net.state(self.sock) != Ok(cellsock::SocketState::Connected) {
                    self.close();
                }
                return false;
            }
            Err(e) => panic!("seed {}: send: {e:?}", self.seed),
        }
        let deadline = self.now() + ANSWER_WAIT_MS;
        while self.now() < deadline {
            if self.received.contains(&data) {
                return true;
            }
            self.tick(deadline);
        }
        false
    }

    fn inject(&mut self, kind: Kind) {
        let fault = match kind {
            Kind::Reboot => Fault::Reboot,
            Kind::PdpDeactivated => Fault::PdpDeactivated,
            Kind::SocketClosed => Fault::SocketClosed(0),
            Kind::RegistrationLost => {
                // Regained after 5 s to 5 min.
                let back = self.now() + self.rng.range(5_000, 300_000) as u64;
                self.sim
                    .faults()
                    .at(Instant::from_millis(back), Fault::RegistrationRegained);
                Fault::RegistrationLost
            }
            Kind::IgnoreCommand => Fault::IgnoreCommand,
            Kind::SwallowAnswer => Fault::SwallowAnswer,
            Kind::SendFail => Fault::SendFail,
            Kind::Garbage => {
                let n = self.rng.range(1, 200);
                Fault::Garbage((0..n).map(|_| self.rng.next_u64() as u8).collect())
            }
            Kind::UrcInSend => Fault::DuringSend(
                b"\r\n+CEREG: 1\r\n\r\n+QIURC: \"recv\",5,3\r\nxyz\r\n".to_vec(),
                if self.rng.range(0, 1) == 0 {
                    SendPoint::AfterPrompt
                } else {
                    SendPoint::BeforeResult
                },
            ),
            Kind::DropToHost => Fault::DropToHost(self.rng.range(1, 40)),
            Kind::DropToModem => Fault::DropToModem(self.rng.range(1, 40)),
        };
        self.sim.inject(fault);
    }

    /// Every datagram reported sent reached the server; everything received was
    /// echoed by it.
    fn check_ledger(&self) {
        let wall = WallInstant::now();
        let want: usize = self.sent.values().sum();
        while self.echo.count() < want && wall.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(1));
        }
        let mut got: HashMap<Vec<u8>, usize> = HashMap::new();
        for d in self.echo.received() {
            *got.entry(d).or_default() += 1;
        }
        for (d, n) in &self.sent {
            let have = got.get(d).copied().unwrap_or(0);
            assert!(
                have >= *n,
                "seed {}: a datagram reported sent {n} time(s) reached the server {have} time(s)",
                self.seed
            );
        }
        for d in &self.received {
            assert!(
                got.contains_key(d),
                "seed {}: received {} bytes the server never sent",
                self.seed,
                d.len()
            );
        }
    }
}

/// One session: returns the recoveries.
fn session(seed: u64) -> Vec<Recovery> {
    let mut s = Session::new(seed);
    let mut recoveries = Vec::new();
    // A fault every 2 to 8 hours of virtual time, in between an exchange every 10
    // to 30 minutes (an LwM2M update), idle polling otherwise.
    let mut next_fault = s.rng.range(1, 4) as u64 * 3_600_000;
    while s.now() < SESSION_MS {
        let update_at = s.now() + s.rng.range(600_000, 1_800_000) as u64;
        if next_fault <= update_at {
            s.idle_until(next_fault);
            let kind = KINDS[s.rng.range(0, KINDS.len() - 1)];
            let (t0, c0) = (s.now(), s.commands());
            s.inject(kind);
            // The application goes on: exchanges until one works, backing off like
            // a CoAP client (2 s, doubling, at most 60 s between attempts).
            let mut attempts = 0;
            let mut backoff = 2_000;
            while !s.exchange() {
                attempts += 1;
                assert!(attempts < 100, "seed {seed}: no recovery from {kind:?}");
                let t = s.now() + backoff;
                s.idle_until(t);
                backoff = (backoff * 2).min(60_000);
            }
            let r = Recovery {
                kind,
                ms: s.now() - t0,
                commands: s.commands() - c0,
            };
            assert!(
                r.ms <= MAX_RECOVERY_MS && r.commands <= MAX_RECOVERY_COMMANDS,
                "seed {seed}: recovery from {kind:?} took {} ms and {} commands",
                r.ms,
                r.commands
            );
            recoveries.push(r);
            next_fault = s.now() + s.rng.range(2, 8) as u64 * 3_600_000;
        } else {
            s.idle_until(update_at);
            let mut attempts = 0;
            while !s.exchange() {
                attempts += 1;
                assert!(
                    attempts < 10,
                    "seed {seed}: exchanges keep failing without a fault"
                );
                let t = s.now() + 2_000;
                s.idle_until(t);
            }
        }
    }
    s.check_ledger();
    recoveries
}

#[test]
fn recovery_campaign() {
    let runs: u64 = std::env::var("CAMPAIGN_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    let wall = WallInstant::now();
    let mut all = Vec::new();
    for seed in 0..runs {
        all.extend(session(seed));
    }
    assert!(
        all.len() as u64 >= runs * 4,
        "each session injects several faults"
    );
    // The figures for docs/reliability.md.
    let mut by_kind: HashMap<Kind, Vec<Recovery>> = HashMap::new();
    for r in &all {
        by_kind.entry(r.kind).or_default().push(*r);
    }
    let mut kinds: Vec<_> = by_kind.keys().copied().collect();
    kinds.sort();
    println!(
        "campaign: {runs} sessions x {} h virtual, {} faults injected, {} recovered, {:.1} s real",
        SESSION_MS / 3_600_000,
        all.len(),
        all.len(),
        wall.elapsed().as_secs_f64()
    );
    println!("| fault | injected | recovery s (median / max) | AT commands (median / max) |");
    println!("|---|---|---|---|");
    for k in kinds {
        let mut v = by_kind[&k].clone();
        v.sort_by_key(|r| r.ms);
        let (med_ms, max_ms) = (v[v.len() / 2].ms, v[v.len() - 1].ms);
        v.sort_by_key(|r| r.commands);
        let (med_c, max_c) = (v[v.len() / 2].commands, v[v.len() - 1].commands);
        println!(
            "| {k:?} | {} | {:.1} / {:.1} | {med_c} / {max_c} |",
            v.len(),
            med_ms as f64 / 1000.0,
            max_ms as f64 / 1000.0
        );
    }
}
