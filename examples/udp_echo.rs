//! UDP echo through the driver: `cargo run --example udp_echo`.
//!
//! With no arguments: a UDP echo server thread on 127.0.0.1, a simulated BG96 (or,
//! with `--modem nrf91`, an nRF91 Serial Modem) on an in-process UART paced at
//! 115200 baud (its sockets are real UDP sockets on 127.0.0.1), and the driver
//! used through its public API only (`NetStack` over the UART end, with a wall
//! clock). It connects, sends datagrams of varied sizes (0, 1, 1460, bytes that
//! look like AT protocol, random binary), checks every echo byte for byte and prints a summary. Any mismatch, loss or error: exit code 1.
//!
//! ```text
//! --count N        datagrams to send (default 20)
//! --size N         every datagram N bytes (default: varied, 0..=1460)
//! --baud B         UART baud rate (default 115200; 0: no pacing)
//! --modem M        bg96 (direct push, default), bg96-buffer (AT+QIRD), nrf91
//!                  (Serial Modem, automatic reception, default bearer) or
//!                  nrf91-poll (#XAPOLL + AT#XRECVFROM)
//! --record FILE    write the run as a recording (replay format) and replay it
//! --serial PATH    drive a real modem on this serial port instead of the simulator
//! --apn APN        APN (default "internet")
//! --host H         echo server host (default: the local echo server, as "localhost")
//! --port P         echo server port (default: the local echo server's)
//! --seed S         seed of the random datagrams (default 1)
//! --trace          print the simulated modem's side of the conversation
//! ```
//!
//! The loop is the application's: it calls the net API, polls the driver, steps the
//! simulator, and sleeps briefly when nothing is due. The library never waits.

use std::process::ExitCode;
use std::time::{Duration, Instant as WallInstant};

use cellsock::modems::bg96::sim::{Bg96Sim, Bg96SimConfig};
use cellsock::modems::bg96::Bg96;
use cellsock::modems::nrf91_slm::sim::{Nrf91Sim, Nrf91SimConfig};
use cellsock::modems::nrf91_slm::Nrf91Slm;
use cellsock::profile::Profile;
use cellsock::replay::{Chunking, Recorder, Recording, RecordingClock, RecordingUart, Rng};
use cellsock::sim::udp::EchoServer;
use cellsock::sim::{Line, SimModem};
use cellsock::{AddressFamily, Clock, Config, Driver, Error, Instant, NetStack, SocketHandle};
use embedded_io::{Read, ReadReady, Write, WriteReady};

/// Sockets and receive ring of the driver.
const SOCKETS: usize = 2;
const RX: usize = 8192;

struct Args {
    count: usize,
    size: Option<usize>,
    baud: u32,
    modem: String,
    record: Option<String>,
    serial: Option<String>,
    apn: String,
    host: Option<String>,
    port: Option<u16>,
    seed: u64,
    trace: bool,
}

const USAGE: &str = "usage: cargo run --example udp_echo -- [--count N] [--size N] [--baud B] \
[--modem bg96|bg96-buffer|nrf91|nrf91-poll] [--record FILE] [--serial PATH --host H --port P] [--apn APN] \
[--seed S] [--trace]";

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        count: 20,
        size: None,
        baud: 115_200,
        modem: "bg96".into(),
        record: None,
        serial: None,
        apn: "internet".into(),
        host: None,
        port: None,
        seed: 1,
        trace: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value\n{USAGE}"));
        let num = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: {v:?} is not a number"))
        };
        match flag.as_str() {
            "--count" => a.count = num(value()?)? as usize,
            "--size" => a.size = Some(num(value()?)? as usize),
            "--baud" => a.baud = num(value()?)? as u32,
            "--modem" => a.modem = value()?,
            "--record" => a.record = Some(value()?),
            "--serial" => a.serial = Some(value()?),
            "--apn" => a.apn = value()?,
            "--host" => a.host = Some(value()?),
            "--port" => a.port = Some(num(value()?)? as u16),
            "--seed" => a.seed = num(value()?)?,
            "--trace" => a.trace = true,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    if a.size.is_some_and(|s| s > 1460) {
        return Err("--size: the modems send at most 1460 bytes per datagram".into());
    }
    Ok(a)
}

/// Milliseconds since the program started.
#[derive(Clone, Copy)]
struct WallClock(WallInstant);

impl Clock for WallClock {
    fn now(&self) -> Instant {
        Instant::from_millis(self.0.elapsed().as_millis() as u64)
    }
}

/// The datagrams of the run: the edges first, then random ones.
fn datagrams(args: &Args) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(args.seed);
    let mut random = |len: Option<usize>| -> Vec<u8> {
        let len = len.unwrap_or_else(|| rng.range(1, 1460));
        (0..len).map(|_| rng.next_u64() as u8).collect()
    };
    if let Some(size) = args.size {
        return (0..args.count).map(|_| random(Some(size))).collect();
    }
    let mut protocol = b"\r\nOK\r\n> \r\nSEND OK\r\n+QIURC: \"recv\",0,5\r\nERROR\r\n\
#XRECV: 0,0,5\r\n#XDATAMODE: 0\r\n+++\r\nReady\r\n"
        .to_vec();
    protocol.extend_from_slice(&[0x00, 0x1a, 0x1b, 0xff]);
    let edges = [Vec::new(), random(Some(1)), random(Some(1460)), protocol];
    let mut out: Vec<Vec<u8>> = edges.into_iter().take(args.count).collect();
    while out.len() < args.count {
        out.push(random(None));
    }
    out
}

/// How one datagram went.
enum Outcome {
    Echoed,
    /// The driver refused an empty datagram at once (neither modem can send one).
    RefusedEmpty(Error),
    Failed(String),
}

struct App<P: Profile + 'static, U: Read + ReadReady + Write + WriteReady> {
    net: NetStack<'static, P, RecordingUart<U>, RecordingClock<WallClock>, SOCKETS, RX>,
    sim: Option<Box<dyn SimModem>>,
    rec: Recorder,
    clock: WallClock,
}

impl<P: Profile + 'static, U: Read + ReadReady + Write + WriteReady> App<P, U> {
    /// One turn of the loop: the modem acts, the driver polls, and if nothing is due
    /// the program sleeps a little (at most 1 ms: datagrams from the network may
    /// come at any time).
    fn pump(&mut self) {
        let now = self.clock.now();
        if let Some(sim) = self.sim.as_mut() {
            sim.step(now);
        }
        self.net.poll();
        let next = [
            self.net.driver.poll_at(),
            self.sim.as_ref().and_then(|s| s.next_event()),
        ]
        .into_iter()
        .flatten()
        .min();
        let now = self.clock.now();
        let wait = match next {
            Some(t) if t <= now => return std::thread::yield_now(),
            Some(t) => Duration::from_millis(t.since(now)).min(Duration::from_millis(1)),
            None => Duration::from_millis(1),
        };
        std::thread::sleep(wait);
    }

    /// Pump until the modem has said something and gone quiet again (an answer has
    /// probably ended), or a deadline of the driver is reached, so that a call
    /// answering "in progress" is repeated when it may answer something else (and a
    /// recording does not fill up with identical retries).
    fn wait_progress(&mut self) {
        let mut rx = self.net.driver.stats().driver.rx_bytes;
        let mut heard = false;
        // A deadline already passed does not count (the driver may report one while
        // the command it scheduled is still in flight).
        let due = self.net.driver.poll_at().filter(|&t| t > self.clock.now());
        let start = WallInstant::now();
        loop {
            self.pump();
            let now_rx = self.net.driver.stats().driver.rx_bytes;
            if now_rx != rx {
                rx = now_rx;
                heard = true;
            } else if heard {
                return;
            }
            let due = due.is_some_and(|t| self.clock.now() >= t);
            if due || start.elapsed() > Duration::from_millis(50) {
                return;
            }
        }
    }

    fn connect(&mut self, h: SocketHandle, host: &str, port: &str) -> Result<(), Error> {
        loop {
            let r = self.net.connect(h, host, port);
            self.rec.connect(h, host, port, &r);
            match r {
                Err(Error::InProgress) => self.wait_progress(),
                r => return r,
            }
        }
    }

    fn send(&mut self, h: SocketHandle, data: &[u8]) -> Result<usize, Error> {
        loop {
            let r = self.net.send(h, data);
            self.rec.send(h, data, &r);
            match r {
                Err(Error::InProgress) => self.wait_progress(),
                r => return r,
            }
        }
    }

    fn close(&mut self, h: SocketHandle) -> Result<(), Error> {
        loop {
            let r = self.net.close(h);
            self.rec.close(h, &r);
            match r {
                Err(Error::InProgress) => self.wait_progress(),
                r => return r,
            }
        }
    }

    /// Wait for the echo of `sent`, up to `limit`.
    fn echo(&mut self, h: SocketHandle, sent: &[u8], limit: Duration) -> Outcome {
        let mut buf = [0u8; 1500];
        let start = WallInstant::now();
        loop {
            let r = self.net.recv(h, &mut buf);
            self.rec.recv(h, &buf, &r);
            match r {
                Ok(n) if buf[..n] == *sent => return Outcome::Echoed,
                Ok(n) => {
                    return Outcome::Failed(format!(
                        "echo differs: sent {} bytes, got {n} bytes{}",
                        sent.len(),
                        first_difference(sent, &buf[..n])
                    ))
                }
                Err(Error::WouldBlock) if start.elapsed() < limit => self.pump(),
                Err(Error::WouldBlock) => {
                    return Outcome::Failed(format!("no echo within {limit:?}"))
                }
                Err(e) => return Outcome::Failed(format!("recv: {e}")),
            }
        }
    }

    fn exchange(&mut self, h: SocketHandle, data: &[u8], byte_time: Duration) -> Outcome {
        match self.send(h, data) {
            Ok(n) if n == data.len() => {}
            Ok(n) => return Outcome::Failed(format!("send reported {n} of {} bytes", data.len())),
            Err(e @ (Error::NotSupported | Error::MessageSize)) if data.is_empty() => {
                return Outcome::RefusedEmpty(e)
            }
            Err(e) => return Outcome::Failed(format!("send: {e}")),
        }
        // The echo crosses the UART once more: allow for it, plus a margin.
        let limit = Duration::from_secs(5) + byte_time * (data.len() as u32 + 64);
        self.echo(h, data, limit)
    }
}

fn first_difference(a: &[u8], b: &[u8]) -> String {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!(", first difference at byte {i}"),
        None => String::new(),
    }
}

struct Summary {
    datagrams: usize,
    echoed: usize,
    refused_empty: Option<Error>,
    failures: Vec<String>,
    payload: u64,
    commands: u32,
    bringup_commands: u32,
    uart_bytes: u64,
    elapsed: Duration,
    traffic_time: Duration,
}

fn run<P: Profile + 'static, U: Read + ReadReady + Write + WriteReady>(
    args: &Args,
    profile: P,
    uart: U,
    sim: Option<Box<dyn SimModem>>,
    host: &str,
    port: &str,
) -> Result<(Summary, Recorder), String> {
    let start = WallInstant::now();
    let mut config = Config::new(&args.apn).map_err(|_| format!("bad APN {:?}", args.apn))?;
    if args.modem.starts_with("nrf91") {
        // The default bearer, as the nRF91 README recommends.
        config.context_id = 0;
    }
    let rec = if args.record.is_some() {
        Recorder::new(&args.modem, &config)
    } else {
        Recorder::off()
    };
    let driver: &'static mut Driver<P, SOCKETS, RX> =
        Box::leak(Box::new(Driver::new(profile, config)));
    let clock = WallClock(start);
    let net = NetStack::new(driver, rec.uart(uart), rec.clock(clock));
    let mut app = App {
        net,
        sim,
        rec: rec.clone(),
        clock,
    };

    let created = app.net.create(AddressFamily::Unspecified);
    app.rec.create(&created);
    let h = created.map_err(|e| format!("create: {e}"))?;
    app.connect(h, host, port)
        .map_err(|e| format!("connect to {host}:{port}: {e}"))?;
    let mtu = app.net.inner_mtu(h);
    app.rec.mtu(h, &mtu);

    let bringup = app.net.driver.stats();
    let traffic_start = WallInstant::now();
    let byte_time = match args.baud {
        0 => Duration::ZERO,
        b => Duration::from_nanos(10_000_000_000 / b as u64),
    };
    let list = datagrams(args);
    let mut summary = Summary {
        datagrams: list.len(),
        echoed: 0,
        refused_empty: None,
        failures: Vec::new(),
        payload: 0,
        commands: 0,
        bringup_commands: bringup.engine.commands,
        uart_bytes: 0,
        elapsed: Duration::ZERO,
        traffic_time: Duration::ZERO,
    };
    for (i, data) in list.iter().enumerate() {
        match app.exchange(h, data, byte_time) {
            Outcome::Echoed => {
                summary.echoed += 1;
                summary.payload += data.len() as u64;
            }
            Outcome::RefusedEmpty(e) => summary.refused_empty = Some(e),
            Outcome::Failed(why) => {
                let msg = format!("datagram {} ({} bytes): {why}", i + 1, data.len());
                eprintln!("udp_echo: {msg}");
                summary.failures.push(msg);
            }
        }
    }
    let end = app.net.driver.stats();
    summary.traffic_time = traffic_start.elapsed();
    summary.commands = end.engine.commands - bringup.engine.commands;
    summary.uart_bytes = (end.driver.rx_bytes + end.driver.tx_bytes)
        - (bringup.driver.rx_bytes + bringup.driver.tx_bytes);
    let closed = app.close(h);
    if let Err(e) = closed {
        summary.failures.push(format!("close: {e}"));
    }
    summary.elapsed = start.elapsed();
    Ok((summary, rec))
}

/// `run` with the profile `--modem` names.
fn run_modem<U: Read + ReadReady + Write + WriteReady>(
    args: &Args,
    uart: U,
    sim: Option<Box<dyn SimModem>>,
    host: &str,
    port: &str,
) -> Result<(Summary, Recorder), String> {
    match args.modem.as_str() {
        "bg96-buffer" => run(args, Bg96::buffered(), uart, sim, host, port),
        "nrf91" => run(args, Nrf91Slm::new(), uart, sim, host, port),
        "nrf91-poll" => run(args, Nrf91Slm::polled(), uart, sim, host, port),
        _ => run(args, Bg96::new(), uart, sim, host, port),
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if !matches!(
        args.modem.as_str(),
        "bg96" | "bg96-buffer" | "nrf91" | "nrf91-poll"
    ) {
        eprintln!(
            "udp_echo: modem {:?} is not available (bg96, bg96-buffer, nrf91, nrf91-poll)",
            args.modem
        );
        return ExitCode::from(2);
    }

    let mut _echo_server = None;
    let result = if let Some(path) = &args.serial {
        let (Some(host), Some(port)) = (&args.host, args.port) else {
            eprintln!(
                "udp_echo: --serial needs --host and --port of an echo server the modem can reach"
            );
            return ExitCode::from(2);
        };
        #[cfg(unix)]
        {
            match cellsock::sim::tty::TtyUart::open(path, args.baud) {
                Ok(tty) => run_modem(&args, tty, None, host, &port.to_string()),
                Err(e) => Err(format!("{path}: {e}")),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = (path, host, port);
            Err("--serial needs a Unix host".to_string())
        }
    } else {
        let server = match EchoServer::start() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("udp_echo: echo server: {e}");
                return ExitCode::FAILURE;
            }
        };
        let host = args.host.clone().unwrap_or_else(|| "localhost".into());
        let port = args.port.unwrap_or(server.port()).to_string();
        _echo_server = Some(server);
        let line = match args.baud {
            0 => Line::instant(),
            b => Line::baud(b),
        };
        let (sim, uart): (Box<dyn SimModem>, _) = if args.modem.starts_with("nrf91") {
            let cfg = Nrf91SimConfig {
                trace: args.trace,
                ..Nrf91SimConfig::default()
            };
            let (sim, uart) = Nrf91Sim::with_line(line, cfg);
            (Box::new(sim), uart)
        } else {
            let cfg = Bg96SimConfig {
                trace: args.trace,
                ..Bg96SimConfig::default()
            };
            let (sim, uart) = Bg96Sim::with_line(line, cfg);
            (Box::new(sim), uart)
        };
        run_modem(&args, uart, Some(sim), &host, &port)
    };

    let (s, rec) = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("udp_echo: {e}");
            return ExitCode::FAILURE;
        }
    };
    let link = match (&args.serial, args.baud) {
        (Some(p), b) => format!("{} on {p} at {b} baud", args.modem),
        (None, 0) => format!("{} simulated, unpaced", args.modem),
        (None, b) => format!("{} simulated at {b} baud", args.modem),
    };
    let exchanged = s.datagrams - usize::from(s.refused_empty.is_some());
    println!(
        "udp_echo: {link}: {}/{} datagrams echoed intact, {} payload bytes each way, \
{:.2} AT commands per datagram (+{} for bring-up), {:.2} UART bytes per payload byte, \
{:.2} s ({:.2} s of traffic)",
        s.echoed,
        exchanged,
        s.payload,
        s.commands as f64 / exchanged.max(1) as f64,
        s.bringup_commands,
        s.uart_bytes as f64 / (2 * s.payload).max(1) as f64,
        s.elapsed.as_secs_f64(),
        s.traffic_time.as_secs_f64(),
    );
    if let Some(e) = s.refused_empty {
        println!("udp_echo: the empty datagram was refused by the driver ({e}): the modem cannot send one");
    }

    let mut ok = s.failures.is_empty() && s.echoed == exchanged;
    if let Some(path) = &args.record {
        let text = rec.to_text();
        if let Err(e) = std::fs::write(path, &text) {
            eprintln!("udp_echo: {path}: {e}");
            return ExitCode::FAILURE;
        }
        let replayed = Recording::parse(&text)
            .map_err(|e| e.to_string())
            .and_then(|r| {
                cellsock::modems::replay(&r, Chunking::Whole)
                    .map(|_| r.steps.len())
                    .map_err(|m| m.to_string())
            });
        match replayed {
            Ok(steps) => println!("udp_echo: recorded {steps} steps to {path}; it replays green"),
            Err(e) => {
                eprintln!("udp_echo: the recording in {path} does not replay: {e}");
                ok = false;
            }
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        eprintln!("udp_echo: FAILED ({} problem(s))", s.failures.len().max(1));
        ExitCode::FAILURE
    }
}
