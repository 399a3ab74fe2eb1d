//! A simulated modem on a pseudo-terminal: `cargo run --example sim`.
//!
//! Any program that talks to a modem on a serial port (cellsock's `udp_echo
//! --serial`, a firmware built for Linux, a terminal program) can open the tty this
//! prints and talk to a simulated BG96 (or nRF91 Serial Modem) there, whose sockets
//! are real UDP sockets on this machine. A UDP echo server on 127.0.0.1 is started too, so there is
//! something to talk to.
//!
//! The first line on stdout is the tty's path (`/dev/pts/N`), alone, for scripts;
//! everything else goes to stderr. Ctrl-C (or SIGTERM) ends it cleanly: the link
//! is removed, the log is complete and checked, a summary is printed.
//!
//! ```text
//! --modem M        bg96 (default) or nrf91 (Serial Modem 1.99)
//! --profile P      the @profile the log names (default: the modem's, bg96 or
//!                  nrf91; nrf91-poll for a host that polls with #XAPOLL)
//! --baud B         pacing of the simulated UART (default 115200; 0: no pacing)
//! --link PATH      also make PATH a symlink to the tty (removed at the end)
//! --fault SPEC     schedule a fault, WHAT@WHEN (repeatable; below)
//! --log FILE       write everything that crosses the tty as a recording
//! --echo-port P    port of the UDP echo server on 127.0.0.1 (default: any free one)
//! --no-echo        no echo server
//! --running        start booted and registered (default: just powered on, the
//!                  boot banner comes first: BG96 `RDY` after 200 ms, nRF91
//!                  `Ready` after 300 ms)
//! --quick          answer at once (no command, open or send latencies)
//! --duration D     end after D (500ms, 30s, 2m); default: until Ctrl-C
//! --trace          print the modem's side of the conversation to stderr
//! ```
//!
//! Faults (`--fault`, see `cellsock::sim::tty::FaultSpec`):
//!
//! ```text
//! WHAT  reboot | pdpdeact | closed[:ID] | reglost | regained | ignore | swallow
//!       | sendfail | garbage:BYTES | drop-to-host:N | drop-to-modem:N
//! WHEN  TIME (500ms, 30s, 2m after the start) | cmd:PREFIX[#N] (the command line
//!       starting with PREFIX, after N such lines) | send (after the next payload
//!       prompt) | send-result (after the next payload, before its result)
//! e.g.  --fault reboot@30s --fault closed:0@10s --fault sendfail@cmd:AT+QISEND#3
//!       --fault 'garbage:\r\n+JUNK\r\n@send'   (closed@10s:0 is closed:0@10s)
//! ```
//!
//! The log (`--log`) holds `H:` (what the program on the tty wrote), `M:` (what
//! the modem sent) and `T: =<ms>` lines, with `@host-only`: there are no `A:`
//! lines since the application is outside. It replays as a host-only recording
//! (`docs/recordings.md`); this program checks that it does when it ends.

#[cfg(unix)]
fn main() -> std::process::ExitCode {
    unix::main()
}

#[cfg(not(unix))]
fn main() -> std::process::ExitCode {
    eprintln!("sim: pseudo-terminals need a Unix host");
    std::process::ExitCode::from(2)
}

#[cfg(unix)]
mod unix {
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant as WallInstant};

    use cellsock::modems::bg96::sim::{self as bg96, Bg96Sim, Bg96SimConfig};
    use cellsock::modems::nrf91_slm::sim::{self as nrf91, Nrf91Sim, Nrf91SimConfig};
    use cellsock::replay::ingress::{replay_host_only, Transcript};
    use cellsock::sim::tty::{parse_duration_ms, FaultSpec, Pty, PtyModem, TtyLog};
    use cellsock::sim::udp::EchoServer;
    use cellsock::sim::{HostUart, Line, SimModem};
    use cellsock::Instant;

    const USAGE: &str = "usage: cargo run --example sim -- [--modem bg96|nrf91] [--profile P] \
[--baud B] [--link PATH] [--fault WHAT@WHEN]... [--log FILE] [--echo-port P | --no-echo] [--running] \
[--quick] [--duration D] [--trace]";

    /// Modems this program can simulate.
    const MODEMS: &[&str] = &["bg96", "nrf91"];

    struct Args {
        modem: String,
        profile: Option<String>,
        baud: u32,
        link: Option<PathBuf>,
        faults: Vec<FaultSpec>,
        log: Option<PathBuf>,
        echo_port: Option<u16>,
        echo: bool,
        running: bool,
        quick: bool,
        duration: Option<Duration>,
        trace: bool,
    }

    fn parse_args() -> Result<Args, String> {
        let mut a = Args {
            modem: "bg96".into(),
            profile: None,
            baud: 115_200,
            link: None,
            faults: Vec::new(),
            log: None,
            echo_port: None,
            echo: true,
            running: false,
            quick: false,
            duration: None,
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
                "--modem" => a.modem = value()?,
                "--profile" => a.profile = Some(value()?),
                "--baud" => {
                    a.baud = u32::try_from(num(value()?)?).map_err(|_| "--baud: too large")?
                }
                "--link" => a.link = Some(value()?.into()),
                "--fault" => a.faults.push(FaultSpec::parse(&value()?)?),
                "--log" => a.log = Some(value()?.into()),
                "--echo-port" => {
                    a.echo_port =
                        Some(u16::try_from(num(value()?)?).map_err(|_| "--echo-port: too large")?)
                }
                "--no-echo" => a.echo = false,
                "--running" => a.running = true,
                "--quick" => a.quick = true,
                "--duration" => {
                    let v = value()?;
                    let ms = parse_duration_ms(&v)
                        .ok_or(format!("--duration: {v:?} is not a time (500ms, 30s, 2m)"))?;
                    a.duration = Some(Duration::from_millis(ms));
                }
                "--trace" => a.trace = true,
                "-h" | "--help" => return Err(USAGE.into()),
                other => return Err(format!("unknown option {other:?}\n{USAGE}")),
            }
        }
        if !MODEMS.contains(&a.modem.as_str()) {
            return Err(format!(
                "--modem: {:?} is not simulated here (available: {})",
                a.modem,
                MODEMS.join(", ")
            ));
        }
        Ok(a)
    }

    /// The simulated modem, its line's host end, and the `@profile` its bytes are
    /// read with.
    fn make_sim(args: &Args) -> (Box<dyn SimModem + Send>, HostUart, String) {
        let line = match args.baud {
            0 => Line::instant(),
            b => Line::baud(b),
        };
        let profile = |default: &str| args.profile.clone().unwrap_or(default.to_string());
        if args.modem == "nrf91" {
            let mut cfg = Nrf91SimConfig {
                trace: args.trace,
                ..Nrf91SimConfig::default()
            };
            if args.running {
                cfg.start = nrf91::Start::Running;
            }
            if args.quick {
                cfg.latency = nrf91::Latency::ZERO;
            }
            let (sim, uart) = Nrf91Sim::with_line(line, cfg);
            return (Box::new(sim), uart, profile("nrf91"));
        }
        let mut cfg = Bg96SimConfig {
            trace: args.trace,
            ..Bg96SimConfig::default()
        };
        if args.running {
            cfg.start = bg96::Start::Running;
        }
        if args.quick {
            cfg.latency = bg96::Latency::ZERO;
        }
        let (sim, uart) = Bg96Sim::with_line(line, cfg);
        (Box::new(sim), uart, profile("bg96"))
    }

    /// Make `link` a symlink to `target`, replacing an old symlink (never a file).
    fn make_link(link: &Path, target: &str) -> Result<(), String> {
        if let Ok(meta) = std::fs::symlink_metadata(link) {
            if !meta.file_type().is_symlink() {
                return Err(format!(
                    "{}: exists and is not a symlink; not replacing it",
                    link.display()
                ));
            }
            std::fs::remove_file(link).map_err(|e| format!("{}: {e}", link.display()))?;
        }
        std::os::unix::fs::symlink(target, link).map_err(|e| format!("{}: {e}", link.display()))
    }

    pub fn main() -> ExitCode {
        let args = match parse_args() {
            Ok(a) => a,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        match run(&args) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => {
                eprintln!("sim: {e}");
                ExitCode::FAILURE
            }
        }
    }

    fn run(args: &Args) -> Result<bool, String> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
            .map_err(|e| format!("cannot catch Ctrl-C: {e}"))?;

        let echo = match (args.echo, args.echo_port) {
            (false, _) => None,
            (true, port) => {
                let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port.unwrap_or(0)));
                Some(
                    EchoServer::start_on(addr)
                        .map_err(|e| format!("echo server on {addr}: {e}"))?,
                )
            }
        };
        let pty = Pty::open().map_err(|e| format!("cannot make a pseudo-terminal: {e}"))?;
        let path = pty.path().to_string();
        let (mut sim, uart, profile) = make_sim(args);
        for f in &args.faults {
            f.schedule(sim.as_mut());
        }
        let mut modem = PtyModem::new(sim, uart, pty);
        if let Some(file) = &args.log {
            let source = format!(
                "Written by examples/sim.rs: a simulated {} on {path}, {}.",
                args.modem,
                match args.baud {
                    0 => "unpaced".to_string(),
                    b => format!("{b} baud"),
                }
            );
            let log = TtyLog::create(file, &profile, &source)
                .map_err(|e| format!("{}: {e}", file.display()))?;
            modem.set_log(log);
        }
        if let Some(link) = &args.link {
            make_link(link, &path)?;
        }

        // The path alone on stdout, for scripts; the rest on stderr.
        println!("{path}");
        let shown = match &args.link {
            Some(l) => format!("{} (-> {path})", l.display()),
            None => path.clone(),
        };
        let pacing = match args.baud {
            0 => "unpaced".to_string(),
            b => format!("{b} baud"),
        };
        eprintln!("sim: simulated {} on {shown}, {pacing}", args.modem);
        if let Some(server) = &echo {
            eprintln!("sim: UDP echo server on {}", server.addr());
            eprintln!(
                "sim: try  cargo run --example udp_echo -- --serial {shown_path} --modem {modem} --baud {baud} --host 127.0.0.1 --port {port}",
                modem = args.modem,
                shown_path = args
                    .link
                    .as_ref()
                    .map_or(path.clone(), |l| l.display().to_string()),
                baud = args.baud,
                port = server.port(),
            );
        }
        for f in &args.faults {
            eprintln!("sim: scheduled {:?} on {:?}", f.fault, f.trigger);
        }
        eprintln!("sim: Ctrl-C ends it");

        let start = WallInstant::now();
        let tick = Duration::from_millis(1);
        let result = (|| -> std::io::Result<()> {
            while !stop.load(Ordering::Relaxed) {
                if args.duration.is_some_and(|d| start.elapsed() >= d) {
                    break;
                }
                let now = Instant::from_millis(start.elapsed().as_millis() as u64);
                modem.step(now)?;
                modem.wait(now, tick)?;
            }
            modem.step(Instant::from_millis(start.elapsed().as_millis() as u64))
        })();

        if let Some(link) = &args.link {
            let _ = std::fs::remove_file(link);
        }
        let st = modem.sim().stats();
        let tty = modem.stats();
        eprintln!(
            "sim: {:.1} s: {} command lines, {} datagrams out ({} bytes), {} in ({} bytes), \
{} delivered, {} reboots; tty: {} bytes from the program, {} to it{}",
            start.elapsed().as_secs_f64(),
            st.commands,
            st.datagrams_out,
            st.bytes_out,
            st.datagrams_in,
            st.bytes_in,
            st.datagrams_delivered,
            st.reboots,
            tty.from_tty,
            tty.to_tty,
            if tty.dropped > 0 {
                format!(", {} dropped (nobody read)", tty.dropped)
            } else {
                String::new()
            }
        );
        let fired = modem.sim().faults().fired().len();
        let pending = modem.sim().faults().pending();
        if fired + pending > 0 {
            eprintln!("sim: faults: {fired} fired, {pending} never triggered");
        }
        let mut ok = true;
        if let Err(e) = &result {
            eprintln!("sim: tty: {e}");
            ok = false;
        }
        if let (Some(mut log), Some(file)) = (modem.take_log(), &args.log) {
            if let Err(e) = log.flush() {
                eprintln!("sim: {}: {e}", file.display());
                return Ok(false);
            }
            ok &= check_log(file);
        }
        drop(echo);
        Ok(ok)
    }

    /// Replay the log as a host-only recording and say how it went.
    fn check_log(file: &Path) -> bool {
        let shown = file.display();
        let checked = std::fs::read_to_string(file)
            .map_err(|e| e.to_string())
            .and_then(|text| Transcript::parse(&text).map_err(|m| m.to_string()))
            .and_then(|t| replay_host_only(&t, 5).map_err(|m| m.to_string()));
        match checked {
            Ok(trace) => {
                eprintln!(
                    "sim: logged to {shown}; it replays green ({} modem events, {} datagrams)",
                    trace.events.len(),
                    trace
                        .events
                        .iter()
                        .filter(|e| e.text.starts_with("Datagram"))
                        .count()
                );
                true
            }
            Err(e) => {
                eprintln!("sim: the log in {shown} does not replay: {e}");
                false
            }
        }
    }
}
