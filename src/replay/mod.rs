//! Serial replay: run a recorded UART transcript against the driver as a test.
//!
//! The driver runs through [`NetStack`] on a [`ReplayUart`] and a [`VirtualClock`].
//! Modem bytes (`M:`) are fed in order, cut into chunks by a [`Chunking`]; host bytes
//! (`H:`) must match what the driver wrote, byte for byte; calls (`A:`) are made and
//! their results compared. Any difference stops the run with the line of the
//! recording and the expected and actual values.

pub mod format;
pub mod generic;
pub mod import;
pub mod ingress;
mod record;
mod uart;

use std::string::{String, ToString};
use std::vec::Vec;

pub use format::{escape, escape_word, unescape, ParseError, Recording, Step};
pub use record::{Recorder, RecordingClock, RecordingUart};
pub use uart::{ReplayUart, VirtualClock};

use crate::error::Error;
use crate::profile::Profile;
use crate::socket::{SocketHandle, SocketState};
use crate::{AddressFamily, Config, Driver, NetStack, Stats};

/// Sockets a replayed driver has.
pub const REPLAY_SOCKETS: usize = 4;
/// Receive ring per socket in a replayed driver.
pub const REPLAY_RX: usize = 4096;

/// The driver type replays run.
pub type ReplayDriver<P> = Driver<P, REPLAY_SOCKETS, REPLAY_RX>;

/// How modem bytes are cut before they reach the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chunking {
    /// Each run of consecutive `M:` lines arrives at once.
    Whole,
    /// Each `M:` line arrives on its own.
    PerLine,
    /// Runs are cut at random points (chunks of 1 byte up to the whole run), and
    /// the UART takes writes in random pieces; reproducible from the seed.
    Random(u64),
}

/// Why a replay failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// 1-based line of the recording (0: after the last line).
    pub line: usize,
    /// What differed.
    pub message: String,
}

impl core::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// A small deterministic generator (splitmix64) so chunkings are reproducible.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        if hi <= lo {
            return lo;
        }
        lo + (self.next_u64() % (hi - lo + 1) as u64) as usize
    }
}

/// The driver configuration a recording asks for in its headers
/// (`@apn`, `@connect-timeout`, `@context`).
pub fn config_of(rec: &Recording) -> Result<Config, Mismatch> {
    let bad = |message: String| Mismatch { line: 0, message };
    let mut config = Config::new(rec.header("apn").unwrap_or(""))
        .map_err(|_| bad("@apn is not a valid APN".into()))?;
    if let Some(t) = rec.header("connect-timeout") {
        config.connect_timeout_ms = t
            .parse()
            .map_err(|_| bad(format!("@connect-timeout {t:?} is not a number of ms")))?;
    }
    if let Some(c) = rec.header("context") {
        config.context_id = c
            .parse()
            .map_err(|_| bad(format!("@context {c:?} is not a context id")))?;
    }
    Ok(config)
}

/// Replay `rec` against a driver for `profile`; returns the driver's counters at the
/// end (which must not depend on the chunking).
pub fn run<P: Profile>(profile: P, rec: &Recording, chunking: Chunking) -> Result<Stats, Mismatch> {
    let mut rng = Rng::new(match chunking {
        Chunking::Random(seed) => seed,
        _ => 0,
    });
    let writes = match chunking {
        Chunking::Random(seed) => Some(Rng::new(seed ^ 0x5eed)),
        _ => None,
    };
    let mut cut = |pieces: &[&[u8]]| -> Vec<Vec<u8>> {
        match chunking {
            Chunking::Whole => vec![pieces.concat()],
            Chunking::PerLine => pieces.iter().map(|p| p.to_vec()).collect(),
            Chunking::Random(_) => {
                let all = pieces.concat();
                let mut out = Vec::new();
                let mut at = 0;
                while at < all.len() {
                    let n = rng.range(1, all.len() - at);
                    // Small chunks are where framing bugs hide: favour them.
                    let n = if rng.range(0, 3) == 0 {
                        n
                    } else {
                        n.min(rng.range(1, 8))
                    };
                    out.push(all[at..at + n].to_vec());
                    at += n;
                }
                out
            }
        }
    };
    run_with(profile, rec, writes, &mut cut)
}

/// Chunk boundaries chosen by the caller (property tests): the modem's bytes are
/// cut into reads of `reads[0]`, `reads[1]`, ... bytes, cycling through the list
/// across the whole recording (0 counts as 1; an empty list feeds each run of `M:`
/// lines whole; a read never spans two runs), and with `write_seed` the UART takes
/// the driver's writes in random pieces as under [`Chunking::Random`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cuts {
    /// Read sizes, cycled.
    pub reads: Vec<usize>,
    /// Seed for partial writes; `None`: whole writes.
    pub write_seed: Option<u64>,
}

/// Replay `rec` with the modem's bytes cut as `cuts` says; see [`run`].
pub fn run_cuts<P: Profile>(profile: P, rec: &Recording, cuts: &Cuts) -> Result<Stats, Mismatch> {
    let mut next = 0;
    let mut cut = |pieces: &[&[u8]]| -> Vec<Vec<u8>> {
        let all = pieces.concat();
        if cuts.reads.is_empty() {
            return vec![all];
        }
        let mut out = Vec::new();
        let mut at = 0;
        while at < all.len() {
            let n = cuts.reads[next % cuts.reads.len()].clamp(1, all.len() - at);
            next += 1;
            out.push(all[at..at + n].to_vec());
            at += n;
        }
        out
    };
    run_with(profile, rec, cuts.write_seed.map(Rng::new), &mut cut)
}

/// Turns a run of `M:` lines into the reads the driver sees.
type Cutter<'a> = dyn FnMut(&[&[u8]]) -> Vec<Vec<u8>> + 'a;

/// The replay itself: `writes` splits the driver's writes, `cut` cuts the modem's
/// bytes into reads.
fn run_with<P: Profile>(
    profile: P,
    rec: &Recording,
    writes: Option<Rng>,
    cut: &mut Cutter<'_>,
) -> Result<Stats, Mismatch> {
    if rec.header("host-only").is_some() {
        return Err(Mismatch {
            line: 0,
            message: "a @host-only recording has no calls to drive the driver with: replay it \
with replay::ingress::replay_host_only (docs/recordings.md)"
                .into(),
        });
    }
    let config = config_of(rec)?;
    let mut driver: ReplayDriver<P> = Driver::new(profile, config);
    let clock = VirtualClock::new();
    let uart = ReplayUart::new(writes);
    let mut stack = NetStack::new(&mut driver, uart, clock.clone());
    let mut sockets: Vec<SocketHandle> = Vec::new();
    let steps = &rec.steps;
    let mut i = 0;
    while i < steps.len() {
        let (line, step) = &steps[i];
        let line = *line;
        let fail = |message: String| Mismatch { line, message };
        match step {
            Step::Modem(_) => {
                // A run of consecutive modem lines, cut as the chunking says.
                let mut pieces: Vec<&[u8]> = Vec::new();
                while let Some((_, Step::Modem(b))) = steps.get(i) {
                    pieces.push(b);
                    i += 1;
                }
                for chunk in cut(&pieces) {
                    stack.uart.feed(&chunk);
                    stack.poll();
                }
                continue;
            }
            Step::Host(expected) => {
                stack.poll();
                let written = stack.uart.take_written(expected.len());
                if written != *expected {
                    let at = written
                        .iter()
                        .zip(expected.iter())
                        .position(|(a, b)| a != b)
                        .unwrap_or(written.len().min(expected.len()));
                    return Err(fail(format!(
                        "the driver wrote the wrong bytes (first difference at byte {at})\n  expected H: {}\n  actual   H: {}",
                        shorten(&escape(expected)),
                        shorten(&escape(&written))
                    )));
                }
            }
            Step::Advance(ms) => {
                clock.advance(*ms);
                stack.poll();
            }
            Step::At(ms) => {
                if *ms < clock.now_ms() {
                    return Err(fail(format!("T: ={ms} goes back in time")));
                }
                clock.set(*ms);
                stack.poll();
            }
            Step::Call { args, expect } => {
                let actual = call(&mut stack, &mut sockets, args).map_err(&fail)?;
                let is_poll = args.first().map(|a| a.as_slice()) == Some(b"poll");
                if !(is_poll && expect.is_empty()) && words(expect) != words(&actual) {
                    let call: Vec<String> = args.iter().map(|a| escape_word(a)).collect();
                    return Err(fail(format!(
                        "call `{}`\n  expected => {}\n  actual   => {}",
                        shorten(&call.join(" ")),
                        shorten(expect),
                        shorten(&actual)
                    )));
                }
            }
        }
        i += 1;
    }
    stack.poll();
    let left = stack.uart.take_written(usize::MAX);
    if !left.is_empty() {
        return Err(Mismatch {
            line: 0,
            message: format!(
                "the driver wrote bytes the recording does not expect at its end\n  actual   H: {}",
                escape(&left)
            ),
        });
    }
    Ok(stack.driver.stats())
}

/// A result's words with escapes decoded, so `\x41` and `A` compare equal.
fn words(text: &str) -> Vec<Vec<u8>> {
    text.split_whitespace()
        .map(|w| match w {
            "\"\"" => Vec::new(),
            w => unescape(w).unwrap_or_else(|_| w.as_bytes().to_vec()),
        })
        .collect()
}

/// Long values (a 1500-byte datagram) cut for the failure message.
fn shorten(s: &str) -> String {
    const MAX: usize = 300;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}... ({} chars in all)", &s[..i], s.chars().count()),
        None => s.to_string(),
    }
}

/// The result text of an API call, as recordings write it.
pub fn result_text<T>(r: &Result<T, Error>, ok: impl FnOnce(&T) -> String) -> String {
    match r {
        Ok(v) => {
            let v = ok(v);
            if v.is_empty() {
                "OK".into()
            } else {
                format!("OK {v}")
            }
        }
        Err(Error::WouldBlock) => "EAGAIN".into(),
        Err(Error::InProgress) => "EINPROGRESS".into(),
        Err(Error::MessageSize) => "EMSGSIZE".into(),
        Err(Error::NotSupported) => "ENOTSUP".into(),
        Err(Error::Failed(reason)) => format!("ERR {reason:?}"),
    }
}

fn state_text(s: &SocketState) -> String {
    match s {
        SocketState::Closed => "CLOSED",
        SocketState::Shutdown => "SHUTDOWN",
        SocketState::Connected => "CONNECTED",
    }
    .to_string()
}

fn call<P: Profile>(
    stack: &mut NetStack<'_, P, ReplayUart, VirtualClock, REPLAY_SOCKETS, REPLAY_RX>,
    sockets: &mut Vec<SocketHandle>,
    args: &[Vec<u8>],
) -> Result<String, String> {
    let word = |i: usize| -> Result<&str, String> {
        let a = args.get(i).ok_or_else(|| format!("argument {i} missing"))?;
        core::str::from_utf8(a).map_err(|_| format!("argument {i} is not text"))
    };
    let sock = |i: usize| -> Result<SocketHandle, String> {
        let name = word(i)?;
        let n: usize = name
            .strip_prefix('s')
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("{name:?} is not a socket name (s0, s1, ...)"))?;
        sockets
            .get(n)
            .copied()
            .ok_or_else(|| format!("socket {name} was never created"))
    };
    let none = |_: &()| String::new();
    let number = |v: &u64| v.to_string();
    Ok(match word(0)? {
        "poll" => {
            stack.poll();
            String::new()
        }
        "create" => {
            let family = match args.get(1).map(|a| a.as_slice()) {
                None => AddressFamily::Unspecified,
                Some(b"ipv4") => AddressFamily::Ipv4,
                Some(b"ipv6") => AddressFamily::Ipv6,
                Some(_) => return Err("create takes ipv4 or ipv6".into()),
            };
            let r = stack.create(family);
            if let Ok(h) = r {
                // Names follow creation order; a freed slot may be handed out again.
                sockets.push(h);
            }
            let n = sockets.len().saturating_sub(1);
            result_text(&r, |_| format!("s{n}"))
        }
        "connect" => {
            let s = sock(1)?;
            let (host, port) = (
                args.get(2).cloned().unwrap_or_default(),
                word(3)?.to_string(),
            );
            // The host goes in as raw bytes: injection tests put quotes and CR in it.
            let host = String::from_utf8_lossy(&host).into_owned();
            result_text(&stack.connect(s, &host, &port), none)
        }
        "send" => {
            let s = sock(1)?;
            let data = args.get(2).cloned().unwrap_or_default();
            result_text(&stack.send(s, &data), |n| n.to_string())
        }
        "recv" => {
            let s = sock(1)?;
            let len: usize = word(2)?.parse().map_err(|_| "recv takes a buffer length")?;
            let mut buf = vec![0u8; len];
            let r = stack.recv(s, &mut buf);
            result_text(&r, |n| escape_word(&buf[..*n]))
        }
        "bind" => {
            let s = sock(1)?;
            let port: u16 = word(2)?.parse().map_err(|_| "bind takes a port (0: any)")?;
            result_text(&stack.bind(s, port), none)
        }
        "sendto" => {
            let s = sock(1)?;
            let to: std::net::SocketAddr = word(2)?
                .parse()
                .map_err(|_| "sendto takes IP:PORT ([v6]:PORT) and bytes")?;
            let data = args.get(3).cloned().unwrap_or_default();
            result_text(&stack.send_to(s, to, &data), |n| n.to_string())
        }
        "recvfrom" => {
            let s = sock(1)?;
            let len: usize = word(2)?
                .parse()
                .map_err(|_| "recvfrom takes a buffer length")?;
            let mut buf = vec![0u8; len];
            let r = stack.recv_from(s, &mut buf);
            result_text(&r, |(n, from)| {
                let from = from.map_or("none".to_string(), |a| a.to_string());
                format!("{} {from}", escape_word(&buf[..*n]))
            })
        }
        "resolve" => {
            let host =
                String::from_utf8_lossy(&args.get(1).cloned().unwrap_or_default()).into_owned();
            let family = match args.get(2).map(|a| a.as_slice()) {
                None => AddressFamily::Unspecified,
                Some(b"ipv4") => AddressFamily::Ipv4,
                Some(b"ipv6") => AddressFamily::Ipv6,
                Some(_) => return Err("resolve takes HOST [ipv4|ipv6]".into()),
            };
            result_text(&stack.resolve(&host, family), |ip| ip.to_string())
        }
        "shutdown" => result_text(&stack.shutdown(sock(1)?), none),
        "close" => result_text(&stack.close(sock(1)?), none),
        "cleanup" => result_text(&stack.cleanup(sock(1)?), none),
        "mtu" => result_text(&stack.inner_mtu(sock(1)?), |n| n.to_string()),
        "state" => result_text(&stack.state(sock(1)?), state_text),
        "reuse_last_port" => result_text(&stack.reuse_last_port(sock(1)?), none),
        "rx_off" => result_text(&stack.queue_mode_rx_off(sock(1)?), none),
        "bytes_sent" => result_text(&stack.driver.bytes_sent(sock(1)?), number),
        "bytes_received" => result_text(&stack.driver.bytes_received(sock(1)?), number),
        "local_port" => result_text(&stack.driver.local_port(sock(1)?), |p| match p {
            Some(p) => p.to_string(),
            None => "none".into(),
        }),
        "net" => {
            let st = format!("{:?}", stack.driver.network().state);
            let name = st.split([' ', '(', '{']).next().unwrap_or("").to_string();
            format!("OK {name}")
        }
        "event" => match stack.driver.next_event() {
            Some(e) => format!("OK {e:?}"),
            None => "OK none".into(),
        },
        "signal" => match stack.driver.network().signal {
            Some(((rssi, ber), _)) => format!("OK {rssi},{ber}"),
            None => "OK none".into(),
        },
        "ip" => match &stack.driver.network().local_ip {
            Some((ip, _)) => format!("OK {ip}"),
            None => "OK none".into(),
        },
        "stat" => format!(
            "OK {}",
            stat(&stack.driver.stats(), stack.driver, word(1)?)?
        ),
        other => return Err(format!("unknown call {other:?}")),
    })
}

fn stat<P: Profile>(s: &Stats, d: &ReplayDriver<P>, name: &str) -> Result<u64, String> {
    Ok(match name {
        "unknown_lines" => s.driver.unknown_lines.into(),
        "echo_lines" => s.driver.echo_lines.into(),
        "stray_datagrams" => s.driver.stray_datagrams.into(),
        "dropped_ring_full" => s.driver.dropped_ring_full.into(),
        "idle_hints_refused" => s.driver.idle_hints_refused.into(),
        "commands" => s.engine.commands.into(),
        "timeouts" => s.engine.timeouts.into(),
        "stray_finals" => s.engine.stray_finals.into(),
        "stray_prompts" => s.engine.stray_prompts.into(),
        "bad_lengths" => s.framer.bad_lengths.into(),
        "overlong_lines" => s.framer.overlong_lines.into(),
        "stale_flushes" => s.framer.stale_flushes.into(),
        "oversized_payloads" => s.framer.oversized_payloads.into(),
        "reboots" => d.network().reboots.into(),
        other => return Err(format!("unknown stat {other:?}")),
    })
}
