//! Recovery campaign: long sessions (two virtual days each) of an LwM2M-like
//! application on each simulated modem the end-to-end tests use (BG96 in direct
//! push and buffer mode, nRF91 Serial Modem with automatic reception on the
//! default bearer and in poll mode on a context of its own), with random faults
//! from the simulators' list. After every fault the application keeps doing what
//! Anjay does (send, wait for the answer, and on an error close and connect
//! again), and the campaign measures how long and how many AT commands it takes
//! until a datagram goes out and its echo comes back.
//!
//! Asserted for every fault of every run: the driver is back to sending within a
//! bounded number of commands and virtual time, and every datagram reported sent
//! reached the echo server (real UDP on 127.0.0.1). Anything the application
//! receives is a datagram the server really echoed.
//!
//! The modem, simulator and driver come from the end-to-end tests' rig
//! (`tests/sim_e2e/rig.rs`); each modem is its own test
//! (`recovery_campaign_<modem>`), its sessions seeded 0..`CAMPAIGN_RUNS`.
//! `CAMPAIGN_RUNS=200 cargo test --release --test campaign -- --nocapture` prints
//! the figures in docs/reliability.md; `cargo test` runs a shorter campaign.

use std::collections::{HashMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant as WallInstant};

use cellsock::replay::Rng;
use cellsock::sim::{Fault, SendPoint};
use cellsock::{AddressFamily, Error, Instant, SocketHandle, SocketState};

// The campaign uses part of the rig (the modems, their simulators and stacks, the
// ledger); the rest is for the end-to-end tests.
#[allow(dead_code)]
#[path = "sim_e2e/rig.rs"]
mod rig;

use rig::{Modem, Rig, Setup, SimSetup};

/// Virtual length of one session.
const SESSION_MS: u64 = 2 * 24 * 3600 * 1000;
/// Bounds on one recovery, the same for every modem: the nRF91's longer send
/// timeout (35 s for `AT#XSEND`, against the BG96's 10 s) makes a lost answer
/// cost 37 s there, well inside them.
const MAX_RECOVERY_MS: u64 = 15 * 60 * 1000;
const MAX_RECOVERY_COMMANDS: u64 = 150;
/// How long the application waits for an answer before sending again (CoAP).
const ANSWER_WAIT_MS: u64 = 5_000;
/// Real-time bound of one session.
const WALL_LIMIT: Duration = Duration::from_secs(60);

/// The faults of a campaign. Both simulators play every one of them (the shared
/// [`Fault`]), each in its modem's words; none is left out for either modem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Kind {
    /// BG96: silence, then `RDY` and the boot URCs, echo back on. nRF91: silence,
    /// then `Ready`, the radio off.
    Reboot,
    /// BG96: `+QIURC: "pdpdeact",1`. nRF91: `+CGEV: NW PDN DEACT <cid>`; the
    /// default bearer (cid 0) comes back by itself 500 ms later, a context of one's
    /// own (poll mode, cid 1) needs `AT+CGACT` again.
    PdpDeactivated,
    /// BG96: `+QIURC: "closed",<id>`. nRF91: `#XAPOLL: <h>,16` (POLLHUP); the
    /// handle stays taken until `AT#XCLOSE=<h>`.
    SocketClosed,
    /// `+CEREG: 2`, back to `+CEREG: 1` 5 s to 5 min later (both modems).
    RegistrationLost,
    /// The next command line is lost (no answer).
    IgnoreCommand,
    /// The next command is carried out, its answer lost.
    SwallowAnswer,
    /// The next send is refused after its payload. BG96: `SEND FAIL`. nRF91: `+++`,
    /// `#XDATAMODE: -1`.
    SendFail,
    /// 1 to 200 random bytes to the host between commands.
    Garbage,
    /// A registration URC and a datagram for a socket nobody has, inside the next
    /// send (after the prompt or before the result). The real Serial Modem holds
    /// URCs back in data mode, so on the nRF91 this is stray output at a moment
    /// the firmware would not choose: a harder case, kept.
    UrcInSend,
    /// 1 to 40 bytes to the host lost on the line.
    DropToHost,
    /// 1 to 40 bytes from the host lost on the line.
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
    modem: Modem,
    rig: Rig,
    sock: SocketHandle,
    /// Datagrams the application received (to see an exchange's echo; the rig's
    /// ledger checks them against the server).
    received: HashSet<Vec<u8>>,
    seq: u64,
    seed: u64,
    wall: WallInstant,
    /// `SIM_TRACE` is set: the faults go to stderr with the simulator's trace.
    trace: bool,
}

impl Session {
    fn new(modem: Modem, seed: u64) -> Session {
        let mut rig = Rig::with(
            modem,
            Setup {
                sim: SimSetup {
                    // Odd seeds: the modem was up before the driver started.
                    running: seed % 2 == 1,
                    ..SimSetup::default()
                },
                ..Setup::new(modem)
            },
        );
        rig.rng = Rng::new(seed);
        let sock = rig.net.create(AddressFamily::Unspecified).expect("socket");
        Session {
            modem,
            rig,
            sock,
            received: HashSet::new(),
            seq: 0,
            seed,
            wall: WallInstant::now(),
            trace: std::env::var_os("SIM_TRACE").is_some(),
        }
    }

    fn now(&self) -> u64 {
        self.rig.now()
    }

    fn commands(&self) -> u64 {
        self.rig.sim.stats().commands
    }

    fn range(&mut self, lo: usize, hi: usize) -> usize {
        self.rig.rng.range(lo, hi)
    }

    /// Let time pass up to `until` (or less, when something is due earlier),
    /// without jumping past a datagram still on its way through the kernel.
    fn tick(&mut self, until: u64) {
        assert!(
            self.wall.elapsed() < WALL_LIMIT,
            "session took too long ({} ms virtual)",
            self.now()
        );
        let rig = &mut self.rig;
        rig.net.poll();
        if !rig.wait_for_the_network() {
            let now = rig.now();
            let next = [rig.net.poll_at(), rig.sim.next_event()]
                .into_iter()
                .flatten()
                .map(|t| t.as_millis())
                .min()
                .unwrap_or(until)
                // At least 5 ms per step (a main loop, not a per-byte interrupt):
                // the driver then takes the bytes of a few milliseconds at once.
                .clamp(now + 5, until.max(now + 5));
            rig.clock.set(next);
            rig.sim.step(Instant::from_millis(next));
        }
        self.drain();
    }

    /// Take what the application would take on its next `recv` calls.
    fn drain(&mut self) {
        while let Ok(d) = self.rig.recv_once(self.sock, false) {
            self.received.insert(d);
        }
    }

    fn idle_until(&mut self, t: u64) {
        while self.now() < t {
            self.tick(t);
        }
    }

    /// Connect until it works (close and retry on errors, as Anjay does).
    fn ensure_connected(&mut self) {
        let port = self.rig.echo.port().to_string();
        loop {
            match self.rig.net.connect(self.sock, "localhost", &port) {
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
            match self.rig.net.close(self.sock) {
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
        let extra = self.range(0, 600);
        data.extend((0..extra).map(|_| self.rig.rng.next_u64() as u8));
        self.rig.expect_echo(self.sock, &data);
        let result = loop {
            match self.rig.net.send(self.sock, &data) {
                Err(Error::InProgress) => {
                    let t = self.now() + 10;
                    self.tick(t);
                }
                r => break r,
            }
        };
        // Into the ledger of sent datagrams, or the echo no longer expected.
        self.rig.settle_send(self.sock, &data, &result);
        match result {
            Ok(_) => {}
            Err(Error::Failed(_)) | Err(Error::WouldBlock) => {
                if self.rig.net.state(self.sock) != Ok(SocketState::Connected) {
                    self.close();
                }
                return false;
            }
            Err(e) => panic!("send: {e:?}"),
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
            Kind::SocketClosed => {
                // Every connected modem socket (the application has one; a socket
                // the driver lost track of goes too).
                let ids = self.rig.sim.connected();
                assert!(!ids.is_empty(), "a socket to close");
                for &id in &ids[1..] {
                    self.rig.sim.inject(Fault::SocketClosed(id));
                }
                Fault::SocketClosed(ids[0])
            }
            Kind::RegistrationLost => {
                // Regained after 5 s to 5 min.
                let back = self.now() + self.range(5_000, 300_000) as u64;
                self.rig
                    .sim
                    .faults()
                    .at(Instant::from_millis(back), Fault::RegistrationRegained);
                Fault::RegistrationLost
            }
            Kind::IgnoreCommand => Fault::IgnoreCommand,
            Kind::SwallowAnswer => Fault::SwallowAnswer,
            Kind::SendFail => Fault::SendFail,
            Kind::Garbage => {
                let n = self.range(1, 200);
                Fault::Garbage((0..n).map(|_| self.rig.rng.next_u64() as u8).collect())
            }
            Kind::UrcInSend => {
                // A registration URC and a datagram for a socket nobody has, in the
                // modem's words.
                let mut urcs = b"\r\n+CEREG: 1\r\n".to_vec();
                urcs.extend(self.modem.push_frame(5, b"xyz"));
                let point = if self.range(0, 1) == 0 {
                    SendPoint::AfterPrompt
                } else {
                    SendPoint::BeforeResult
                };
                Fault::DuringSend(urcs, point)
            }
            Kind::DropToHost => Fault::DropToHost(self.range(1, 40)),
            Kind::DropToModem => Fault::DropToModem(self.range(1, 40)),
        };
        self.rig.sim.inject(fault);
    }
}

/// One session: returns the recoveries.
fn session(modem: Modem, seed: u64) -> Vec<Recovery> {
    let mut s = Session::new(modem, seed);
    let mut recoveries = Vec::new();
    // A fault every 2 to 8 hours of virtual time, in between an exchange every 10
    // to 30 minutes (an LwM2M update), idle polling otherwise.
    let mut next_fault = s.range(1, 4) as u64 * 3_600_000;
    while s.now() < SESSION_MS {
        let update_at = s.now() + s.range(600_000, 1_800_000) as u64;
        if next_fault <= update_at {
            s.idle_until(next_fault);
            let kind = KINDS[s.range(0, KINDS.len() - 1)];
            let (t0, c0) = (s.now(), s.commands());
            if s.trace {
                eprintln!("[{t0} ms] campaign: {kind:?}");
            }
            s.inject(kind);
            // The application goes on: exchanges until one works, backing off like
            // a CoAP client (2 s, doubling, at most 60 s between attempts).
            let mut attempts = 0;
            let mut backoff = 2_000;
            while !s.exchange() {
                attempts += 1;
                assert!(attempts < 100, "no recovery from {kind:?}");
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
                "recovery from {kind:?} took {} ms and {} commands",
                r.ms,
                r.commands
            );
            if s.trace {
                eprintln!("[{} ms] campaign: recovered {r:?}", s.now());
            }
            recoveries.push(r);
            next_fault = s.now() + s.range(2, 8) as u64 * 3_600_000;
        } else {
            s.idle_until(update_at);
            let mut attempts = 0;
            while !s.exchange() {
                attempts += 1;
                assert!(attempts < 10, "exchanges keep failing without a fault");
                let t = s.now() + 2_000;
                s.idle_until(t);
            }
        }
    }
    // Every datagram reported sent reached the server; everything received was
    // echoed by it.
    s.rig.check_sent_reached_server();
    recoveries
}

/// `CAMPAIGN_RUNS` sessions on `modem` (seeds 0, 1, ...), then its figures.
/// `CAMPAIGN_SEED=<n>` runs session `n` alone (with `SIM_TRACE=1`, traced).
fn campaign(modem: Modem) {
    let env = |name| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let seeds = match env("CAMPAIGN_SEED") {
        Some(seed) => seed..seed + 1,
        None => 0..env("CAMPAIGN_RUNS").unwrap_or(12),
    };
    let runs = seeds.end - seeds.start;
    let wall = WallInstant::now();
    let mut all = Vec::new();
    for seed in seeds {
        // A failure names the modem and the seed that reproduces it.
        match catch_unwind(AssertUnwindSafe(|| session(modem, seed))) {
            Ok(r) => all.extend(r),
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| e.downcast_ref::<&str>().copied())
                    .unwrap_or("panic");
                panic!("{}, seed {seed}: {msg}", modem.name());
            }
        }
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
    let mut out = format!(
        "campaign {}: {runs} sessions x {} h virtual, {} faults injected, {} recovered, {:.1} s real\n",
        modem.name(),
        SESSION_MS / 3_600_000,
        all.len(),
        all.len(),
        wall.elapsed().as_secs_f64()
    );
    out += "| fault | injected | recovery s (median / max) | AT commands (median / max) |\n";
    out += "|---|---|---|---|\n";
    for k in kinds {
        let mut v = by_kind[&k].clone();
        v.sort_by_key(|r| r.ms);
        let (med_ms, max_ms) = (v[v.len() / 2].ms, v[v.len() - 1].ms);
        v.sort_by_key(|r| r.commands);
        let (med_c, max_c) = (v[v.len() / 2].commands, v[v.len() - 1].commands);
        out += &format!(
            "| {k:?} | {} | {:.1} / {:.1} | {med_c} / {max_c} |\n",
            v.len(),
            med_ms as f64 / 1000.0,
            max_ms as f64 / 1000.0
        );
    }
    // One print: the modems' tests run in parallel.
    print!("{out}");
}

#[test]
fn recovery_campaign_bg96() {
    campaign(Modem::Bg96);
}

#[test]
fn recovery_campaign_bg96_buffer() {
    campaign(Modem::Bg96Buffer);
}

#[test]
fn recovery_campaign_nrf91() {
    campaign(Modem::Nrf91);
}

#[test]
fn recovery_campaign_nrf91_poll() {
    campaign(Modem::Nrf91Poll);
}
