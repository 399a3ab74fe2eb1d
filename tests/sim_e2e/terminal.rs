//! A terminal on a simulated modem, without the driver: type a line, read what
//! comes back (the simulators' own tests, at the AT level).

use std::time::{Duration, Instant as WallInstant};

use cellsock::sim::{HostUart, SimModem};
use cellsock::Instant;
use embedded_io::{Read, ReadReady, Write};

pub struct Terminal<S: SimModem> {
    pub sim: S,
    pub uart: HostUart,
    pub t: u64,
}

impl<S: SimModem> Terminal<S> {
    pub fn new(sim: S, uart: HostUart) -> Self {
        Terminal { sim, uart, t: 0 }
    }

    fn read_all(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while self.uart.read_ready().unwrap() {
            let n = self.uart.read(&mut buf).unwrap();
            out.extend_from_slice(&buf[..n]);
        }
        out
    }

    /// Write `bytes`, then step until the output ends with one of `until` (a
    /// `+CME ERROR: <n>` line counts as `ERROR\r\n`), or 2 s pass.
    pub fn io(&mut self, bytes: &[u8], until: &[&str]) -> String {
        self.uart.write_all(bytes).unwrap();
        let mut out = Vec::new();
        let wall = WallInstant::now();
        loop {
            self.t += 1;
            self.sim.step(Instant::from_millis(self.t));
            out.extend(self.read_all());
            let text = String::from_utf8_lossy(&out).into_owned();
            let cme = text.ends_with("\r\n")
                && until.contains(&"ERROR\r\n")
                && text
                    .trim_end()
                    .rsplit("\r\n")
                    .next()
                    .is_some_and(|l| l.starts_with("+CME ERROR:"));
            if until.iter().any(|u| text.ends_with(u)) || cme {
                return text;
            }
            if wall.elapsed() > Duration::from_secs(2) {
                eprintln!("terminal: no {until:?} after 2 s; got {text:?}");
                return text;
            }
            std::thread::sleep(Duration::from_micros(50));
        }
    }

    /// A command line; what came back up to its final answer (or prompt).
    pub fn at(&mut self, line: &str) -> String {
        let finals = ["OK\r\n", "ERROR\r\n", "> ", "FAIL\r\n"];
        self.io(format!("{line}\r").as_bytes(), &finals)
    }

    /// Step `ms` milliseconds; what came out.
    pub fn steps(&mut self, ms: u64) -> String {
        let mut out = Vec::new();
        for _ in 0..ms {
            self.t += 1;
            self.sim.step(Instant::from_millis(self.t));
            out.extend(self.read_all());
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Wait for unsolicited output ending with `until`.
    pub fn wait(&mut self, until: &str) -> String {
        self.io(b"", &[until])
    }
}
