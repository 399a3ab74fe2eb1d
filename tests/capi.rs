//! The C ABI driven from C (tests/c/anjay_like_client.c, built by build.rs) the
//! way Anjay Lite drives it, against a scripted BG96 written here: it answers the
//! driver's AT commands as modems/bg96/recordings/cold_boot_echo_on.rec shows
//! (boot banner, echo until ATE0), prompts for `AT+QISEND` and echoes every
//! datagram back as a `+QIURC: "recv"` (direct push) or through `AT+QIRD` (buffer
//! mode).
//!
//! The release under test is the build's: plain `cargo test` runs the 3.x client,
//! `cargo test --features capi-beta1` the 1.0.0-beta.1 one (same C file, its
//! `CELLSOCK_TEST_BETA1` branch).
//!
//! A second run puts the simulated BG96 (feature `sim`) behind the same callbacks,
//! with its sockets on real UDP to an echo server on 127.0.0.1.
//!
//! The library has one global driver, so the tests here take turns (`SERIAL`).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant as WallInstant};

use cellsock::capi::{self, global::FEED_CAPACITY, reason, CellsockConfig};
use cellsock::modems::bg96::sim::{Bg96Sim, Bg96SimConfig};
use cellsock::sim::udp::EchoServer;
use cellsock::sim::{HostUart, Line, SimModem};
use cellsock::Instant;

#[link(name = "cellsock_capi_test", kind = "static")]
extern "C" {
    fn run_anjay_like_client(
        host: *const c_char,
        port: *const c_char,
        modem: u32,
        use_feed: c_int,
    ) -> c_int;
    fn capi_test_config_size() -> usize;
    fn capi_test_config_now_ms_offset() -> usize;
    fn capi_test_state_size() -> usize;
}

// ---------------------------------------------------------------------------
// The scripted BG96
// ---------------------------------------------------------------------------

/// A BG96 that answers commands like the recordings show and echoes datagrams.
#[derive(Default)]
struct Bg96Script {
    /// Echo command lines (on at boot, off after ATE0).
    echo: bool,
    pdp_active: bool,
    /// Bytes the modem will send, each with the time it is due.
    out: VecDeque<(u64, u8)>,
    /// The host's current command line.
    line: Vec<u8>,
    /// `AT+QISEND` payload being collected: socket id, length, bytes so far.
    payload: Option<(u8, usize, Vec<u8>)>,
    /// Per socket: open, local port, buffer-mode queue.
    open: [bool; 12],
    local_port: [u16; 12],
    buffer_mode: [bool; 12],
    buffered: [VecDeque<Vec<u8>>; 12],
    next_port: u16,
    /// Every command line, in order.
    log: Vec<String>,
    /// Lines this script has no answer for.
    unknown: Vec<String>,
    /// Datagrams sent by the host.
    datagrams: Vec<Vec<u8>>,
}

impl Bg96Script {
    fn new() -> Self {
        let mut m = Bg96Script {
            echo: true,
            next_port: 50123,
            ..Default::default()
        };
        // Cold boot chatter, as in cold_boot_echo_on.rec.
        m.say(0, 0, b"\r\nRDY\r\n");
        m.say(0, 0, b"\r\nAPP RDY\r\n");
        m.say(
            0,
            0,
            b"\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n\r\n+QUSIM: 1\r\n\r\n+QIND: SMS DONE\r\n",
        );
        m
    }

    /// Queue `bytes` for `now + delay`, never before what is already queued.
    fn say(&mut self, now: u64, delay: u64, bytes: &[u8]) {
        let last = self.out.back().map_or(0, |&(t, _)| t);
        let due = (now + delay).max(last);
        self.out.extend(bytes.iter().map(|&b| (due, b)));
    }

    /// Bytes due by `now`, at most `max`.
    fn take_due(&mut self, now: u64, max: usize) -> Vec<u8> {
        let mut v = Vec::new();
        while v.len() < max {
            match self.out.front() {
                Some(&(t, b)) if t <= now => {
                    v.push(b);
                    self.out.pop_front();
                }
                _ => break,
            }
        }
        v
    }

    /// Bytes the driver wrote.
    fn host_bytes(&mut self, now: u64, bytes: &[u8]) {
        for &b in bytes {
            if let Some((id, len, mut data)) = self.payload.take() {
                data.push(b);
                if data.len() < len {
                    self.payload = Some((id, len, data));
                } else {
                    self.sent(now, id, data);
                }
                continue;
            }
            if b == b'\r' {
                let line = String::from_utf8_lossy(&self.line).into_owned();
                self.line.clear();
                self.command(now, &line);
            } else if b != b'\n' {
                self.line.push(b);
            }
        }
    }

    fn ok(&mut self, now: u64, delay: u64) {
        self.say(now, delay, b"\r\nOK\r\n");
    }

    fn command(&mut self, now: u64, line: &str) {
        self.log.push(line.to_string());
        if self.echo {
            self.say(now, 0, format!("{line}\r").as_bytes());
        }
        let id_of = |s: &str| s.split(',').next().and_then(|x| x.parse::<usize>().ok());
        match line {
            "AT" => self.ok(now, 5),
            "ATE0" => {
                self.echo = false;
                self.ok(now, 5);
            }
            "AT+CMEE=1" | "AT+CEREG=1" => self.ok(now, 5),
            l if l.starts_with("AT+QICSGP=1,1,\"internet\"") => self.ok(now, 5),
            "AT+CPIN?" => self.say(now, 5, b"\r\n+CPIN: READY\r\n\r\nOK\r\n"),
            "AT+CEREG?" => self.say(now, 5, b"\r\n+CEREG: 1,1\r\n\r\nOK\r\n"),
            "AT+CSQ" => self.say(now, 5, b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n"),
            "AT+QIACT?" if self.pdp_active => {
                self.say(now, 5, b"\r\n+QIACT: 1,1,1,\"10.11.32.148\"\r\n\r\nOK\r\n")
            }
            "AT+QIACT?" => self.ok(now, 5),
            "AT+QIACT=1" => {
                self.pdp_active = true;
                self.ok(now, 100);
            }
            l if l.starts_with("AT+QIOPEN=1,") => {
                // AT+QIOPEN=1,<id>,"UDP","<host>",<port>,<local port>,<access mode>
                let f: Vec<&str> = l["AT+QIOPEN=1,".len()..].split(',').collect();
                let id = f.first().and_then(|x| x.parse::<usize>().ok());
                let lport = f.get(4).and_then(|x| x.parse::<u16>().ok());
                let mode = f.get(5).and_then(|x| x.parse::<u8>().ok());
                match (id, lport, mode) {
                    (Some(id), Some(lport), Some(mode)) if id < 12 && !self.open[id] => {
                        self.open[id] = true;
                        self.buffer_mode[id] = mode == 0;
                        self.buffered[id].clear();
                        self.local_port[id] = if lport != 0 {
                            lport
                        } else {
                            self.next_port += 1;
                            self.next_port - 1
                        };
                        self.ok(now, 5);
                        self.say(now, 300, format!("\r\n+QIOPEN: {id},0\r\n").as_bytes());
                    }
                    (Some(id), Some(_), Some(_)) if id < 12 => {
                        self.ok(now, 5);
                        self.say(now, 300, format!("\r\n+QIOPEN: {id},563\r\n").as_bytes());
                    }
                    _ => self.unknown(now, line),
                }
            }
            l if l.starts_with("AT+QISTATE=1,") => match id_of(&l["AT+QISTATE=1,".len()..]) {
                Some(id) if id < 12 && self.open[id] => {
                    let reply = format!(
                        "\r\n+QISTATE: {id},\"UDP\",\"203.0.113.7\",5683,{},2,1,{id},{},\"uart1\"\r\n\r\nOK\r\n",
                        self.local_port[id],
                        if self.buffer_mode[id] { 0 } else { 1 },
                    );
                    self.say(now, 5, reply.as_bytes());
                }
                Some(_) => self.ok(now, 5),
                None => self.unknown(now, line),
            },
            l if l.starts_with("AT+QISEND=") => {
                let mut f = l["AT+QISEND=".len()..].split(',');
                let id = f.next().and_then(|x| x.parse::<usize>().ok());
                let len = f.next().and_then(|x| x.parse::<usize>().ok());
                match (id, len) {
                    (Some(id), Some(len)) if id < 12 && self.open[id] && len > 0 => {
                        self.say(now, 5, b"\r\n> ");
                        self.payload = Some((id as u8, len, Vec::new()));
                    }
                    _ => self.unknown(now, line),
                }
            }
            l if l.starts_with("AT+QIRD=") => match id_of(&l["AT+QIRD=".len()..]) {
                Some(id) if id < 12 => match self.buffered[id].pop_front() {
                    Some(d) => {
                        let mut reply =
                            format!("\r\n+QIRD: {},\"203.0.113.7\",5683\r\n", d.len()).into_bytes();
                        reply.extend_from_slice(&d);
                        reply.extend_from_slice(b"\r\n\r\nOK\r\n");
                        self.say(now, 5, &reply);
                    }
                    None => self.say(now, 5, b"\r\n+QIRD: 0\r\n\r\nOK\r\n"),
                },
                _ => self.unknown(now, line),
            },
            l if l.starts_with("AT+QICLOSE=") => match id_of(&l["AT+QICLOSE=".len()..]) {
                Some(id) if id < 12 => {
                    self.open[id] = false;
                    self.buffered[id].clear();
                    self.ok(now, 50);
                }
                _ => self.unknown(now, line),
            },
            _ => self.unknown(now, line),
        }
    }

    fn unknown(&mut self, now: u64, line: &str) {
        self.unknown.push(line.to_string());
        self.say(now, 5, b"\r\nERROR\r\n");
    }

    /// A whole datagram after the prompt: accepted, and echoed back a little later.
    fn sent(&mut self, now: u64, id: u8, data: Vec<u8>) {
        self.say(now, 5, b"\r\nSEND OK\r\n");
        let i = id as usize;
        if self.buffer_mode[i] {
            self.buffered[i].push_back(data.clone());
            self.say(now, 50, format!("\r\n+QIURC: \"recv\",{id}\r\n").as_bytes());
        } else {
            let mut urc = format!("\r\n+QIURC: \"recv\",{id},{}\r\n", data.len()).into_bytes();
            urc.extend_from_slice(&data);
            self.say(now, 50, &urc);
        }
        self.datagrams.push(data);
    }
}

// ---------------------------------------------------------------------------
// The integrator's callbacks, backed by the script and a virtual clock
// ---------------------------------------------------------------------------

static SERIAL: Mutex<()> = Mutex::new(());
static MODEM: Mutex<Option<Bg96Script>> = Mutex::new(None);
static NOW: AtomicU64 = AtomicU64::new(0);
/// Feed mode: modem bytes go through `cellsock_uart_rx` instead of `uart_read`.
static FEED_MODE: AtomicBool = AtomicBool::new(false);
/// Set: the next write callback calls back into cellsock and stores the answer.
static REENTER: AtomicBool = AtomicBool::new(false);
static REENTERED: AtomicI32 = AtomicI32::new(i32::MIN);

fn modem() -> MutexGuard<'static, Option<Bg96Script>> {
    MODEM.lock().unwrap_or_else(|e| e.into_inner())
}

/// The simulated BG96 with its UART end and the echo server its sockets talk to.
struct SimRig {
    sim: Bg96Sim,
    uart: HostUart,
    echo: EchoServer,
}

impl SimRig {
    /// A datagram is on its way through the kernel (to the echo server or back).
    fn in_flight(&self) -> bool {
        let st = self.sim.stats();
        let at_server = self.echo.count() as u64;
        st.datagrams_out > at_server || at_server > st.datagrams_in + st.datagrams_lost
    }
}

thread_local! {
    /// Set: the callbacks talk to the simulator instead of the script.
    static SIM: RefCell<Option<SimRig>> = const { RefCell::new(None) };
}

fn with_sim<R>(f: impl FnOnce(&mut SimRig) -> R) -> Option<R> {
    SIM.with(|s| s.borrow_mut().as_mut().map(f))
}

#[no_mangle]
extern "C" fn capi_test_uart_read(_user: *mut c_void, buf: *mut u8, len: usize) -> i32 {
    // SAFETY: the driver passes a buffer valid for `len` bytes.
    let out = unsafe { std::slice::from_raw_parts_mut(buf, len) };
    if let Some(r) = with_sim(|rig| embedded_io::Read::read(&mut rig.uart, out)) {
        return r.map_or(-1, |n| n as i32);
    }
    let now = NOW.load(Ordering::SeqCst);
    let bytes = match modem().as_mut() {
        Some(m) => m.take_due(now, len.min(64)),
        None => return -1,
    };
    // SAFETY: the driver passes a buffer valid for `len` bytes; we write fewer.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len()) };
    bytes.len() as i32
}

#[no_mangle]
extern "C" fn capi_test_uart_write(_user: *mut c_void, buf: *const u8, len: usize) -> i32 {
    if REENTER.swap(false, Ordering::SeqCst) {
        // A callback calling back into cellsock: must be refused, not deadlock or
        // alias the driver.
        REENTERED.store(capi::cellsock_poll(), Ordering::SeqCst);
    }
    // SAFETY: the driver passes a buffer valid for `len` bytes.
    let all = unsafe { std::slice::from_raw_parts(buf, len) };
    if let Some(r) = with_sim(|rig| embedded_io::Write::write(&mut rig.uart, all)) {
        return r.map_or(-1, |n| n as i32);
    }
    let now = NOW.load(Ordering::SeqCst);
    // Partial writes: the driver must offer the rest later.
    let n = len.min(40);
    // SAFETY: the driver passes a buffer valid for `len` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(buf, n) };
    match modem().as_mut() {
        Some(m) => m.host_bytes(now, bytes),
        None => return -1,
    }
    n as i32
}

#[no_mangle]
extern "C" fn capi_test_now_ms(_user: *mut c_void) -> u64 {
    NOW.load(Ordering::SeqCst)
}

#[no_mangle]
extern "C" fn capi_test_sleep_ms(ms: u32) {
    let before = NOW.load(Ordering::SeqCst);
    let simulated = with_sim(|rig| {
        // Virtual time must not run ahead of the real network: while a datagram
        // is on its way through the kernel, wait for it (briefly, in real time).
        let wall = WallInstant::now();
        while rig.in_flight() && wall.elapsed() < Duration::from_millis(200) {
            std::thread::sleep(Duration::from_micros(20));
            rig.sim.step(Instant::from_millis(before));
        }
        rig.sim.step(Instant::from_millis(before + ms as u64));
    });
    let now = NOW.fetch_add(ms as u64, Ordering::SeqCst) + ms as u64;
    if simulated.is_some() {
        return;
    }
    if FEED_MODE.load(Ordering::SeqCst) {
        // The UART interrupt: hand over what arrived, a few bytes at a time.
        loop {
            let bytes = match modem().as_mut() {
                Some(m) => m.take_due(now, 16),
                None => break,
            };
            if bytes.is_empty() {
                break;
            }
            // SAFETY: a valid buffer of bytes.len() bytes.
            let taken = unsafe { capi::cellsock_uart_rx(bytes.as_ptr(), bytes.len()) };
            assert_eq!(taken, bytes.len(), "the feed overflowed");
        }
    }
}

/// Take the test lock, start a fresh modem and clock.
fn fresh(feed: bool) -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    *modem() = Some(Bg96Script::new());
    NOW.store(1_000, Ordering::SeqCst);
    FEED_MODE.store(feed, Ordering::SeqCst);
    guard
}

fn run_client(modem_kind: u32, feed: bool) -> Bg96Script {
    let _guard = fresh(feed);
    // SAFETY: NUL-terminated strings; the C client only calls the library and the
    // callbacks above.
    let line = unsafe {
        run_anjay_like_client(
            c"lwm2m.example.com".as_ptr(),
            c"5683".as_ptr(),
            modem_kind,
            c_int::from(feed),
        )
    };
    let m = modem().take().expect("modem");
    assert_eq!(
        line, 0,
        "the C client failed at tests/c/anjay_like_client.c:{line}; commands: {:#?}",
        m.log
    );
    assert!(m.unknown.is_empty(), "unanswered commands: {:?}", m.unknown);
    m
}

fn count(m: &Bg96Script, prefix: &str) -> usize {
    m.log.iter().filter(|l| l.starts_with(prefix)).count()
}

fn opens(m: &Bg96Script) -> Vec<&String> {
    m.log
        .iter()
        .filter(|l| l.starts_with("AT+QIOPEN="))
        .collect()
}

fn check_common(m: &Bg96Script) {
    // Bring-up once, as in the recording.
    assert_eq!(count(m, "ATE0"), 1);
    assert_eq!(count(m, "AT+QIACT=1"), 1);
    assert_eq!(
        opens(m)[0],
        "AT+QIOPEN=1,0,\"UDP\",\"lwm2m.example.com\",5683,0,1",
        "first open as in cold_boot_echo_on.rec"
    );
    // Every datagram the client sent reached the modem whole.
    assert!(m.datagrams.iter().any(|d| d == b"hello from C"));
    assert!(m.datagrams.iter().any(|d| d.len() == 1460));
    assert!(m.datagrams.iter().all(|d| d.len() <= 1460));
    assert!(count(m, "AT+QICLOSE=0") >= 1);
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn c_client_over_bg96_direct_push() {
    let m = run_client(capi::CELLSOCK_MODEM_BG96, false);
    check_common(&m);
    assert_eq!(count(&m, "AT+QIRD"), 0, "direct push needs no reads");
    if cfg!(feature = "capi-beta1") {
        // reuse_last_port: the second open binds the port the first one got.
        let o = opens(&m);
        assert_eq!(o.len(), 2, "{o:?}");
        assert!(o[1].ends_with(",5683,50123,1"), "{}", o[1]);
        assert!(m.datagrams.iter().any(|d| d == b"same port"));
    } else {
        // Closed and connected again (a fresh local port), queue mode passed.
        assert_eq!(opens(&m).len(), 2);
        assert!(m.datagrams.iter().any(|d| d == b"back from queue mode"));
        assert!(m.datagrams.iter().any(|d| d == b"reconnected"));
    }
}

#[test]
fn c_client_over_bg96_buffer_mode() {
    let m = run_client(capi::CELLSOCK_MODEM_BG96_BUFFER, false);
    assert!(opens(&m)[0].ends_with(",0,0"), "buffer access mode");
    assert!(count(&m, "AT+QIRD=0") >= m.datagrams.len());
    assert!(m.datagrams.iter().any(|d| d == b"hello from C"));
}

#[test]
fn c_client_with_uart_bytes_from_an_interrupt() {
    let m = run_client(capi::CELLSOCK_MODEM_BG96, true);
    check_common(&m);
}

/// The same C client against the simulated BG96, whose sockets are real UDP
/// sockets talking to an echo server on 127.0.0.1.
#[test]
fn c_client_over_simulated_bg96_and_real_udp() {
    let _guard = fresh(false);
    *modem() = None;
    let echo = EchoServer::start().expect("echo server");
    let port = CString::new(echo.port().to_string()).expect("port");
    let (mut sim, uart) = Bg96Sim::with_line(Line::baud(115_200), Bg96SimConfig::default());
    sim.step(Instant::from_millis(NOW.load(Ordering::SeqCst)));
    SIM.with(|s| *s.borrow_mut() = Some(SimRig { sim, uart, echo }));
    // SAFETY: NUL-terminated strings; the C client only calls the library and the
    // callbacks above.
    let line = unsafe {
        run_anjay_like_client(
            c"127.0.0.1".as_ptr(),
            port.as_ptr(),
            capi::CELLSOCK_MODEM_BG96,
            0,
        )
    };
    let rig = SIM.with(|s| s.borrow_mut().take()).expect("simulator");
    assert_eq!(
        line, 0,
        "the C client failed at tests/c/anjay_like_client.c:{line} against the simulator"
    );
    let st = rig.sim.stats();
    assert!(st.datagrams_out >= 5, "{st:?}");
    assert_eq!(
        rig.echo.count() as u64,
        st.datagrams_out,
        "every datagram reached the echo server"
    );
    assert_eq!(st.datagrams_in, st.datagrams_out, "and came back: {st:?}");
}

#[test]
fn header_struct_and_enum_layout_match_the_library() {
    let _guard = fresh(false);
    // SAFETY: plain C functions without arguments.
    let (size, offset, state) = unsafe {
        (
            capi_test_config_size(),
            capi_test_config_now_ms_offset(),
            capi_test_state_size(),
        )
    };
    assert_eq!(size, std::mem::size_of::<CellsockConfig>());
    assert_eq!(offset, std::mem::offset_of!(CellsockConfig, now_ms));
    assert_eq!(state, std::mem::size_of::<capi::AnjEnum>());
}

/// Every number include/cellsock.h defines is the library's.
#[test]
fn header_numbers_match_the_library() {
    let header = include_str!("../include/cellsock.h");
    let mut defines = std::collections::HashMap::new();
    for line in header.lines() {
        let mut w = line.split_whitespace();
        if let (Some("#define"), Some(name), Some(value)) = (w.next(), w.next(), w.next()) {
            let v = value.trim_start_matches('(').trim_end_matches(')');
            let v = v.trim_end_matches('u');
            if let Ok(n) = v.parse::<i64>() {
                defines.insert(name.to_string(), n);
            }
        }
    }
    let want: &[(&str, i64)] = &[
        ("CELLSOCK_ANJ_NET_API_3X", capi::release::RELEASE_3X.into()),
        (
            "CELLSOCK_ANJ_NET_API_1_0_0_BETA1",
            capi::release::RELEASE_1_0_0_BETA1.into(),
        ),
        ("CELLSOCK_MAX_SOCKETS", capi::MAX_SOCKETS as i64),
        ("CELLSOCK_FEED_CAPACITY", FEED_CAPACITY as i64),
        ("CELLSOCK_OK", capi::CELLSOCK_OK.into()),
        ("CELLSOCK_IDLE", capi::CELLSOCK_IDLE.into()),
        ("CELLSOCK_ERR_ARG", capi::CELLSOCK_ERR_ARG.into()),
        ("CELLSOCK_ERR_BUSY", capi::CELLSOCK_ERR_BUSY.into()),
        (
            "CELLSOCK_ERR_NOT_INITIALISED",
            capi::CELLSOCK_ERR_NOT_INITIALISED.into(),
        ),
        ("CELLSOCK_ERR_RELEASE", capi::CELLSOCK_ERR_RELEASE.into()),
        ("CELLSOCK_ERR_CONFIG", capi::CELLSOCK_ERR_CONFIG.into()),
        ("CELLSOCK_MODEM_BG96", capi::CELLSOCK_MODEM_BG96.into()),
        (
            "CELLSOCK_MODEM_BG96_BUFFER",
            capi::CELLSOCK_MODEM_BG96_BUFFER.into(),
        ),
        ("CELLSOCK_PDP_IPV4", capi::CELLSOCK_PDP_IPV4.into()),
        ("CELLSOCK_PDP_IPV6", capi::CELLSOCK_PDP_IPV6.into()),
        ("CELLSOCK_PDP_IPV4V6", capi::CELLSOCK_PDP_IPV4V6.into()),
        ("CELLSOCK_REASON_NONE", reason::NONE.into()),
        (
            "CELLSOCK_REASON_INVALID_STATE",
            reason::INVALID_STATE.into(),
        ),
        ("CELLSOCK_REASON_BAD_HANDLE", reason::BAD_HANDLE.into()),
        (
            "CELLSOCK_REASON_NO_FREE_SOCKET",
            reason::NO_FREE_SOCKET.into(),
        ),
        ("CELLSOCK_REASON_INVALID_HOST", reason::INVALID_HOST.into()),
        ("CELLSOCK_REASON_INVALID_PORT", reason::INVALID_PORT.into()),
        ("CELLSOCK_REASON_TIMEOUT", reason::TIMEOUT.into()),
        (
            "CELLSOCK_REASON_MODEM_NOT_READY",
            reason::MODEM_NOT_READY.into(),
        ),
        (
            "CELLSOCK_REASON_SIM_NOT_READY",
            reason::SIM_NOT_READY.into(),
        ),
        (
            "CELLSOCK_REASON_NOT_REGISTERED",
            reason::NOT_REGISTERED.into(),
        ),
        (
            "CELLSOCK_REASON_PDP_ACTIVATION_FAILED",
            reason::PDP_ACTIVATION_FAILED.into(),
        ),
        ("CELLSOCK_REASON_DNS_FAILED", reason::DNS_FAILED.into()),
        ("CELLSOCK_REASON_OPEN_FAILED", reason::OPEN_FAILED.into()),
        ("CELLSOCK_REASON_MODEM_ERROR", reason::MODEM_ERROR.into()),
        ("CELLSOCK_REASON_SEND_FAILED", reason::SEND_FAILED.into()),
        (
            "CELLSOCK_REASON_SOCKET_CLOSED",
            reason::SOCKET_CLOSED.into(),
        ),
        (
            "CELLSOCK_REASON_PDP_DEACTIVATED",
            reason::PDP_DEACTIVATED.into(),
        ),
        (
            "CELLSOCK_REASON_MODEM_REBOOTED",
            reason::MODEM_REBOOTED.into(),
        ),
        (
            "CELLSOCK_REASON_REGISTRATION_LOST",
            reason::REGISTRATION_LOST.into(),
        ),
        ("CELLSOCK_REASON_MESSAGE_SIZE", reason::MESSAGE_SIZE.into()),
        (
            "CELLSOCK_REASON_NOT_SUPPORTED",
            reason::NOT_SUPPORTED.into(),
        ),
        (
            "CELLSOCK_REASON_SOCKET_IN_USE",
            reason::SOCKET_IN_USE.into(),
        ),
        ("CELLSOCK_REASON_BAD_ARGUMENT", reason::BAD_ARGUMENT.into()),
        ("CELLSOCK_REASON_BUSY", reason::BUSY.into()),
        (
            "CELLSOCK_REASON_NOT_INITIALISED",
            reason::NOT_INITIALISED.into(),
        ),
    ];
    for (name, value) in want {
        assert_eq!(
            defines.get(*name),
            Some(value),
            "{name} in include/cellsock.h"
        );
    }
    let reasons = defines
        .keys()
        .filter(|k| k.starts_with("CELLSOCK_REASON_"))
        .count();
    assert_eq!(reasons, 25, "every reason in the header is checked above");
    for (_, code) in want
        .iter()
        .filter(|(n, _)| n.starts_with("CELLSOCK_REASON_"))
    {
        let name = unsafe { CStr::from_ptr(capi::cellsock_reason_name(*code as i32)) };
        assert_ne!(name.to_str(), Ok("unknown"), "reason {code} has a name");
    }
}

#[test]
fn a_callback_calling_back_into_cellsock_is_refused() {
    let _guard = fresh(false);
    let config = CellsockConfig {
        anj_net_api: capi::BUILT.id,
        modem: capi::CELLSOCK_MODEM_BG96,
        apn: c"internet".as_ptr(),
        max_sockets: 0,
        pdp_type: 0,
        context_id: 0,
        connect_timeout_ms: 0,
        user: std::ptr::null_mut(),
        uart_read: Some(capi_test_uart_read),
        uart_write: Some(capi_test_uart_write),
        now_ms: Some(capi_test_now_ms),
    };
    // SAFETY: a valid config whose callbacks live for the whole test binary.
    assert_eq!(unsafe { capi::cellsock_init(&config) }, capi::CELLSOCK_OK);
    let mut ctx: *mut capi::AnjNetCtx = std::ptr::null_mut();
    // SAFETY: valid out pointer, NULL config.
    let rc = unsafe { capi::anj_udp_create_ctx(&mut ctx, std::ptr::null()) };
    assert_eq!(rc, capi::BUILT.codes.ok);
    REENTER.store(true, Ordering::SeqCst);
    // The connect writes the first command; the write callback calls cellsock_poll.
    // SAFETY: a context from create and NUL-terminated strings.
    let rc = unsafe { capi::anj_udp_connect(ctx, c"example.com".as_ptr(), c"5683".as_ptr()) };
    assert_eq!(rc, capi::BUILT.codes.inprogress);
    assert!(!REENTER.load(Ordering::SeqCst), "the callback ran");
    assert_eq!(REENTERED.load(Ordering::SeqCst), capi::CELLSOCK_ERR_BUSY);
    // SAFETY: no arguments.
    assert_eq!(
        unsafe { capi::cellsock_last_reason(std::ptr::null_mut()) },
        reason::BUSY
    );
    // The outer call released the guard: the next call works.
    assert_eq!(capi::cellsock_poll(), capi::CELLSOCK_OK);
    *modem() = None;
}

// ---------------------------------------------------------------------------
// Driver behaviour the C ABI depends on
// ---------------------------------------------------------------------------

mod common;

/// `Driver::cleanup` answers `InProgress` while the modem closes the socket and
/// `Ok` on the repeated call (Anjay Lite repeats `anj_udp_cleanup_ctx` until OK).
/// Found through the C ABI: the close used to free the slot inside a poll, so the
/// repeat got `BadHandle` and `Ok` never came.
#[test]
fn driver_cleanup_in_progress_then_ok() {
    use cellsock::modems::bg96::Bg96;
    use cellsock::replay::{ReplayUart, VirtualClock};
    use cellsock::{AddressFamily, Config, Driver, Error, NetStack};

    let mut driver: Driver<Bg96, 2, 1024> =
        Driver::new(Bg96::new(), Config::new("internet").expect("apn"));
    let clock = VirtualClock::new();
    let mut stack = NetStack::new(&mut driver, ReplayUart::new(None), clock.clone());
    let h = stack.create(AddressFamily::Unspecified).expect("socket");
    let mut connected = false;
    for _ in 0..1000 {
        match stack.connect(h, "192.0.2.1", "5683") {
            Ok(()) => {
                connected = true;
                break;
            }
            Err(Error::InProgress) => {}
            Err(e) => panic!("connect: {e}"),
        }
        common::answer(&mut stack);
        clock.advance(10);
    }
    assert!(connected);
    assert_eq!(stack.cleanup(h), Err(Error::InProgress));
    common::answer(&mut stack); // the modem closes the socket
    assert_eq!(stack.cleanup(h), Ok(()), "the repeated cleanup finishes");
}
