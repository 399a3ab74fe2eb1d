//! Real serial ports: the simulated BG96 (and nRF91) on a pseudo-terminal (`PtyModem`, in a
//! thread stepping it with the wall clock), the driver on the other end through
//! the serial transport (`TtyUart`: raw mode, non-blocking, poll(2)), and real UDP
//! to an echo server on 127.0.0.1 behind the modem.
//!
//! Every wait is bounded by the wall clock, so a hang fails the test instead of
//! blocking the run.
#![cfg(unix)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant as WallInstant};

use cellsock::modems::bg96::sim::{Bg96Sim, Bg96SimConfig, Latency};
use cellsock::modems::bg96::Bg96;
use cellsock::modems::nrf91_slm::sim::{self as nrf91, Nrf91Sim, Nrf91SimConfig};
use cellsock::modems::nrf91_slm::Nrf91Slm;
use cellsock::profile::Profile;
use cellsock::replay::ingress::{replay_host_only, Item, Transcript};
use cellsock::replay::{Chunking, Recorder, Recording, RecordingClock, RecordingUart, Rng, Step};
use cellsock::sim::tty::{FaultSpec, Pty, PtyModem, TtyLog, TtyUart};
use cellsock::sim::udp::EchoServer;
use cellsock::sim::{Fault, HostUart, Line, SimModem};
use cellsock::{
    AddressFamily, Clock, Config, Driver, Error, Instant, NetStack, Reason, SocketHandle,
};
use embedded_io::{Read, ReadReady, Write, WriteReady};

const RX: usize = 8192;

/// Milliseconds since a start.
#[derive(Clone, Copy, Debug)]
struct Wall(WallInstant);

impl Clock for Wall {
    fn now(&self) -> Instant {
        Instant::from_millis(self.0.elapsed().as_millis() as u64)
    }
}

/// The simulator on a pty, stepped by its own thread until `finish`.
struct SimThread {
    path: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<std::io::Result<PtyModem>>>,
}

impl SimThread {
    fn start(line: Line, cfg: Bg96SimConfig, faults: &[&str], log: bool) -> SimThread {
        let (sim, uart) = Bg96Sim::with_line(line, cfg);
        Self::start_sim(Box::new(sim), uart, faults, log.then_some("bg96"))
    }

    /// `sim` on a new pty; `log`: keep a log naming this `@profile`.
    fn start_sim(
        sim: Box<dyn SimModem + Send>,
        uart: HostUart,
        faults: &[&str],
        log: Option<&str>,
    ) -> SimThread {
        let pty = Pty::open().expect("a pseudo-terminal");
        let path = pty.path().to_string();
        let mut modem = PtyModem::new(sim, uart, pty);
        for f in faults {
            FaultSpec::parse(f).unwrap().schedule(modem.sim());
        }
        if let Some(profile) = log {
            modem.set_log(TtyLog::memory(profile, "tests/pty.rs"));
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("pty-sim".into())
            .spawn(move || {
                modem
                    .run(WallInstant::now(), Duration::from_millis(1), &flag)
                    .map(|()| modem)
            })
            .unwrap();
        SimThread {
            path,
            stop,
            thread: Some(thread),
        }
    }

    /// Stop the thread (after a last step) and take the simulator back.
    fn finish(mut self) -> PtyModem {
        self.stop.store(true, Ordering::Relaxed);
        let t = self.thread.take().unwrap();
        t.join()
            .expect("sim thread")
            .expect("sim thread: tty error")
    }
}

impl Drop for SimThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

type Net<P> = NetStack<'static, P, RecordingUart<TtyUart>, RecordingClock<Wall>, 2, RX>;

/// The application: the driver through `NetStack` on the tty, with a wall clock.
struct Client<P: Profile + 'static = Bg96> {
    net: Net<P>,
    rec: Recorder,
    wall: Wall,
    deadline: WallInstant,
}

impl Client<Bg96> {
    fn open(path: &str, baud: u32, record: bool, limit: Duration) -> Client<Bg96> {
        Client::with_profile(Bg96::new(), "bg96", path, baud, record, limit)
    }
}

impl<P: Profile + 'static> Client<P> {
    fn with_profile(
        profile: P,
        name: &str,
        path: &str,
        baud: u32,
        record: bool,
        limit: Duration,
    ) -> Client<P> {
        let config = Config::new("internet").unwrap();
        let rec = if record {
            Recorder::new(name, &config)
        } else {
            Recorder::off()
        };
        let uart = TtyUart::open(path, baud).expect("open the tty");
        let driver: &'static mut Driver<P, 2, RX> =
            Box::leak(Box::new(Driver::new(profile, config)));
        let wall = Wall(WallInstant::now());
        Client {
            net: NetStack::new(driver, rec.uart(uart), rec.clock(wall)),
            rec,
            wall,
            deadline: WallInstant::now() + limit,
        }
    }

    fn check_deadline(&self, what: &str) {
        assert!(
            WallInstant::now() < self.deadline,
            "wall-clock limit reached while {what}"
        );
    }

    /// Poll, then sleep until bytes arrive on the tty or the driver's next deadline
    /// (at most 10 ms: nothing else can wake the driver).
    fn pump(&mut self) {
        self.net.poll();
        let now = self.wall.now();
        let wait = match self.net.driver.poll_at() {
            Some(t) if t <= now => return,
            Some(t) => Duration::from_millis(t.since(now)).min(Duration::from_millis(10)),
            None => Duration::from_millis(10),
        };
        self.net.uart.inner().wait_readable(wait).expect("poll(2)");
    }

    /// Pump until the modem has said something or a deadline of the driver is
    /// reached (so an "in progress" call is repeated when it may answer something
    /// else, and the recording does not fill up with identical retries).
    fn wait_progress(&mut self) {
        let rx = self.net.driver.stats().driver.rx_bytes;
        let due = self.net.driver.poll_at().filter(|&t| t > self.wall.now());
        let start = WallInstant::now();
        loop {
            self.check_deadline("waiting for the modem");
            self.pump();
            if self.net.driver.stats().driver.rx_bytes != rx
                || due.is_some_and(|t| self.wall.now() >= t)
                || start.elapsed() > Duration::from_millis(50)
            {
                return;
            }
        }
    }

    fn create(&mut self) -> SocketHandle {
        let r = self.net.create(AddressFamily::Unspecified);
        self.rec.create(&r);
        r.expect("create")
    }

    fn connect(&mut self, h: SocketHandle, port: u16) -> Result<(), Error> {
        let port = port.to_string();
        loop {
            let r = self.net.connect(h, "127.0.0.1", &port);
            self.rec.connect(h, "127.0.0.1", &port, &r);
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

    /// The next datagram (or error) on `h`, within `limit`.
    fn recv(&mut self, h: SocketHandle, limit: Duration) -> Result<Vec<u8>, Error> {
        let mut buf = [0u8; 1500];
        let start = WallInstant::now();
        loop {
            let r = self.net.recv(h, &mut buf);
            self.rec.recv(h, &buf, &r);
            match r {
                Ok(n) => return Ok(buf[..n].to_vec()),
                Err(Error::WouldBlock) if start.elapsed() < limit => {
                    self.check_deadline("waiting for an echo");
                    self.pump();
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Send `data` and check that it comes back intact. `Ok(false)`: refused as
    /// empty (the BG96 cannot send an empty datagram).
    fn echo(&mut self, h: SocketHandle, data: &[u8]) -> Result<bool, String> {
        match self.send(h, data) {
            Ok(n) if n == data.len() => {}
            Err(Error::NotSupported) if data.is_empty() => return Ok(false),
            r => return Err(format!("send of {} bytes: {r:?}", data.len())),
        }
        match self.recv(h, Duration::from_secs(5)) {
            Ok(got) if got == data => Ok(true),
            Ok(got) => Err(format!(
                "echo of {} bytes came back as {} bytes, first difference at {:?}",
                data.len(),
                got.len(),
                data.iter().zip(&got).position(|(a, b)| a != b)
            )),
            Err(e) => Err(format!("no echo of {} bytes: {e:?}", data.len())),
        }
    }
}

fn random_datagram(rng: &mut Rng, max: usize) -> Vec<u8> {
    let len = rng.range(0, max);
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

/// A quick modem: short boot, no answer latencies.
fn quick() -> Bg96SimConfig {
    Bg96SimConfig {
        latency: Latency::ZERO,
        boot_ms: 20,
        app_ready_ms: 5,
        register_ms: 20,
        trace: std::env::var_os("SIM_TRACE").is_some(),
        ..Bg96SimConfig::default()
    }
}

/// The bytes of one direction of a recording's text, in order.
fn stream(text: &str, host: bool) -> Vec<u8> {
    let rec = Recording::parse(text).expect("the recording parses");
    let mut out = Vec::new();
    for (_, step) in rec.steps {
        match step {
            Step::Host(b) if host => out.extend(b),
            Step::Modem(b) if !host => out.extend(b),
            _ => {}
        }
    }
    out
}

#[test]
fn tty_uart_never_blocks_and_tells_readiness() {
    let mut pty = Pty::open().unwrap();
    let mut uart = TtyUart::open(pty.path(), 115_200).unwrap();
    let mut buf = [0u8; 64];

    // Nothing there: not ready, and a read answers at once with nothing.
    assert!(!uart.read_ready().unwrap());
    let t = WallInstant::now();
    assert_eq!(uart.read(&mut buf).unwrap(), 0);
    assert!(!uart.wait_readable(Duration::from_millis(20)).unwrap());
    assert!(t.elapsed() < Duration::from_secs(1));

    // Bytes from the other side, raw: no CR/LF translation, no echo, NUL and ^C
    // and ^Z pass.
    let raw = b"\r\nOK\r\n\x00\x03\x1a\x1b\xff> ";
    assert_eq!(pty.write(raw).unwrap(), raw.len());
    assert!(uart.wait_readable(Duration::from_secs(2)).unwrap());
    assert!(uart.read_ready().unwrap());
    let mut got = Vec::new();
    let t = WallInstant::now();
    while got.len() < raw.len() && t.elapsed() < Duration::from_secs(2) {
        let n = uart.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, raw);
    assert!(!uart.read_ready().unwrap());

    // The other way, raw too.
    assert!(uart.write_ready().unwrap());
    let cmd = b"AT+X=1\r\n\x00\x1a";
    assert_eq!(uart.write(cmd).unwrap(), cmd.len());
    let mut got = Vec::new();
    let t = WallInstant::now();
    while got.len() < cmd.len() && t.elapsed() < Duration::from_secs(2) {
        pty.wait(true, false, Duration::from_millis(10)).unwrap();
        let n = pty.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got, cmd);
    let mut none = [0u8; 8];
    assert_eq!(pty.read(&mut none).unwrap(), 0, "no echo from the tty");

    // Nobody reads the other side: writes are taken until the buffers are full,
    // then refused (0 bytes, `write_ready` false), and no call waits. (The kernel
    // moves bytes between the pty's buffers in the background, so room may come
    // back for a while before the buffers are full for good.)
    let chunk = [0x55u8; 4096];
    let mut taken = 0usize;
    let t = WallInstant::now();
    loop {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "the writes never filled up"
        );
        let call = WallInstant::now();
        let n = uart.write(&chunk).unwrap();
        assert!(call.elapsed() < Duration::from_secs(1), "a write waited");
        taken += n;
        assert!(taken < 64 << 20, "the tty takes bytes forever");
        if n == 0 {
            if !uart.write_ready().unwrap() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert!(taken > 0);

    // The other side goes away: the transport says so instead of hanging.
    drop(pty);
    let t = WallInstant::now();
    let gone = loop {
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "no error after the pty went away"
        );
        match uart.read_ready() {
            Err(e) => break e,
            Ok(true) => {
                if let Err(e) = uart.read(&mut buf) {
                    break e;
                }
            }
            Ok(false) => {}
        }
    };
    assert_eq!(gone, embedded_io::ErrorKind::BrokenPipe);
}

#[test]
fn echo_1000_datagrams_across_a_pty() {
    let echo = EchoServer::start().unwrap();
    // Unpaced: the pty is the only line; the modem answers at once. The whole run
    // takes a few seconds.
    let sim = SimThread::start(Line::instant(), quick(), &[], true);
    let mut app = Client::open(&sim.path, 921_600, false, Duration::from_secs(120));
    let h = app.create();
    app.connect(h, echo.port()).expect("connect across the pty");

    let mut rng = Rng::new(0x9e);
    let (mut echoed, mut refused, mut payload) = (0usize, 0usize, 0u64);
    for i in 0..1000 {
        let data = random_datagram(&mut rng, 1460);
        match app.echo(h, &data) {
            Ok(true) => {
                echoed += 1;
                payload += data.len() as u64;
            }
            Ok(false) => refused += 1,
            Err(e) => panic!("datagram {i}: {e}"),
        }
    }
    assert_eq!(echoed + refused, 1000);
    assert_eq!(app.close(h), Ok(()));
    assert_eq!(
        echo.count(),
        echoed,
        "every datagram reached the server once"
    );
    assert_eq!(app.net.driver.stats().driver.uart_errors, 0);

    let mut modem = sim.finish();
    let stats = modem.sim().stats();
    assert_eq!(stats.datagrams_out as usize, echoed);
    assert_eq!(stats.bytes_out, payload);
    assert_eq!(stats.datagrams_delivered as usize, echoed);
    let tty = modem.stats();
    assert_eq!(tty.dropped, 0);

    // Everything that crossed the tty is in the log, and the log replays.
    let log = modem.take_log().unwrap();
    let text = log.text().unwrap();
    assert_eq!(log.bytes(), (tty.from_tty, tty.to_tty));
    let t = Transcript::parse(text).unwrap();
    let trace = replay_host_only(&t, 0).unwrap_or_else(|m| panic!("the log does not replay: {m}"));
    let datagrams = trace
        .events
        .iter()
        .filter(|e| e.text.starts_with("Datagram 0 "))
        .count();
    assert_eq!(datagrams, echoed);
}

#[test]
fn the_log_replays_and_holds_every_byte_at_115200() {
    let echo = EchoServer::start().unwrap();
    // Paced at 115200 baud with the default latencies and a power-on boot.
    let cfg = Bg96SimConfig {
        trace: std::env::var_os("SIM_TRACE").is_some(),
        ..Bg96SimConfig::default()
    };
    let sim = SimThread::start(Line::baud(115_200), cfg, &[], true);
    let mut app = Client::open(&sim.path, 115_200, true, Duration::from_secs(60));
    let h = app.create();
    app.connect(h, echo.port()).expect("connect across the pty");
    let mut rng = Rng::new(7);
    let mut echoed = 0;
    let mut sizes = vec![0, 1, 1460];
    sizes.extend((0..17).map(|_| rng.range(1, 400)));
    for (i, size) in sizes.into_iter().enumerate() {
        let mut data: Vec<u8> = (0..size).map(|_| rng.next_u64() as u8).collect();
        if i == 3 {
            // Bytes that look like the modem's protocol.
            data = b"\r\nOK\r\n> \r\nSEND OK\r\n+QIURC: \"recv\",0,5\r\n\x00\x1a\x1b".to_vec();
        }
        match app.echo(h, &data) {
            Ok(true) => echoed += 1,
            Ok(false) => assert!(data.is_empty()),
            Err(e) => panic!("datagram {i}: {e}"),
        }
    }
    assert_eq!(app.close(h), Ok(()));
    // Let the simulator take the last bytes before it stops.
    std::thread::sleep(Duration::from_millis(50));
    let mut modem = sim.finish();
    let log = modem.take_log().unwrap();
    let text = log.text().unwrap().to_string();

    // The log: H: and M: lines with T: stamps, @host-only, no A: lines.
    let rec = Recording::parse(&text).unwrap();
    assert_eq!(rec.header("profile"), Some("bg96"));
    assert!(rec.header("host-only").is_some());
    assert!(rec.steps.iter().any(|(_, s)| matches!(s, Step::At(_))));
    assert!(!rec
        .steps
        .iter()
        .any(|(_, s)| matches!(s, Step::Call { .. })));
    // The driver replay has nothing to drive it with, and says so.
    let refused = cellsock::modems::replay(&rec, Chunking::Whole).unwrap_err();
    assert!(refused.message.contains("host-only"), "{refused}");

    // Round trip: what the simulator logged is what the driver wrote and read.
    let client = app.rec.to_text();
    assert_eq!(stream(&text, true), stream(&client, true), "host bytes");
    let sim_m = stream(&text, false);
    let app_m = stream(&client, false);
    assert!(
        sim_m.starts_with(&app_m),
        "the driver read what the modem sent ({} of {} bytes)",
        app_m.len(),
        sim_m.len()
    );

    // The log replays as a host-only recording: the modem's bytes framed and
    // classified the same under every chunking, nothing lost, every echo seen.
    let t = Transcript::parse(&text).unwrap();
    let trace = replay_host_only(&t, 20).unwrap_or_else(|m| panic!("{m}\n{text}"));
    let datagrams = trace
        .events
        .iter()
        .filter(|e| e.text.starts_with("Datagram 0 "))
        .count();
    assert_eq!(datagrams, echoed);
    assert!(trace.events.iter().any(|e| e.text == "Urc(Boot)"));
    assert!(t.items.iter().any(|(_, i)| matches!(i, Item::Host(_))));

    // And the driver's own recording of the same run (with its calls) replays
    // green through the driver.
    let own = Recording::parse(&client).unwrap();
    cellsock::modems::replay(&own, Chunking::Whole)
        .unwrap_or_else(|m| panic!("the client's recording does not replay: {m}"));
}

#[test]
fn a_reboot_across_the_pty_is_survived() {
    let echo = EchoServer::start().unwrap();
    // The third send command reboots the modem before it is answered.
    let sim = SimThread::start(
        Line::baud(921_600),
        quick(),
        &[
            "reboot@cmd:AT+QISEND=#2",
            "garbage:\\r\\n+JUNK: 1\\r\\n@send",
        ],
        true,
    );
    let mut app = Client::open(&sim.path, 921_600, false, Duration::from_secs(60));
    let h = app.create();
    app.connect(h, echo.port()).unwrap();
    assert_eq!(app.echo(h, b"one"), Ok(true));
    assert_eq!(app.echo(h, b"two"), Ok(true));
    match app.send(h, b"three") {
        Err(Error::Failed(Reason::ModemRebooted | Reason::Timeout)) => {}
        r => panic!("send across a reboot: {r:?}"),
    }
    assert_eq!(app.close(h), Ok(()));
    app.connect(h, echo.port())
        .expect("connect after the reboot");
    assert_eq!(app.echo(h, b"back"), Ok(true));
    assert_eq!(app.close(h), Ok(()));

    let mut modem = sim.finish();
    assert_eq!(modem.sim().stats().reboots, 1);
    let fired: Vec<Fault> = modem
        .sim()
        .faults()
        .fired()
        .iter()
        .map(|(_, f)| f.clone())
        .collect();
    assert_eq!(
        fired,
        vec![Fault::Garbage(b"\r\n+JUNK: 1\r\n".to_vec()), Fault::Reboot]
    );
    let log = modem.take_log().unwrap();
    let text = log.text().unwrap();
    assert!(text.contains("# fault at "), "faults are noted in the log");
    let t = Transcript::parse(text).unwrap();
    replay_host_only(&t, 5).unwrap_or_else(|m| panic!("{m}"));
}

#[test]
fn nrf91_across_a_pty() {
    let echo = EchoServer::start().unwrap();
    let cfg = Nrf91SimConfig {
        latency: nrf91::Latency::ZERO,
        boot_ms: 20,
        sim_ready_ms: 5,
        register_ms: 20,
        pdn_ms: 5,
        trace: std::env::var_os("SIM_TRACE").is_some(),
        ..Nrf91SimConfig::default()
    };
    let (sim, uart) = Nrf91Sim::with_line(Line::instant(), cfg);
    let sim = SimThread::start_sim(Box::new(sim), uart, &[], Some("nrf91"));
    let mut app = Client::with_profile(
        Nrf91Slm::new(),
        "nrf91",
        &sim.path,
        921_600,
        false,
        Duration::from_secs(60),
    );
    let h = app.create();
    app.connect(h, echo.port()).expect("connect across the pty");
    let mut rng = Rng::new(91);
    let (mut echoed, mut refused) = (0usize, 0usize);
    for i in 0..100 {
        let data = random_datagram(&mut rng, 1460);
        match app.echo(h, &data) {
            Ok(true) => echoed += 1,
            Ok(false) => refused += 1,
            Err(e) => panic!("datagram {i}: {e}"),
        }
    }
    assert_eq!(echoed + refused, 100);
    assert_eq!(app.close(h), Ok(()));
    assert_eq!(echo.count(), echoed);

    let mut modem = sim.finish();
    assert_eq!(modem.sim().name(), "nrf91");
    let log = modem.take_log().unwrap();
    let t = Transcript::parse(log.text().unwrap()).unwrap();
    let trace = replay_host_only(&t, 5).unwrap_or_else(|m| panic!("{m}"));
    let datagrams = trace
        .events
        .iter()
        .filter(|e| e.text.starts_with("Datagram "))
        .count();
    assert_eq!(datagrams, echoed);
}
