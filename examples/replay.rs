//! Show a recording as a two-column timeline: what the host wrote on the left,
//! what the modem sent on the right, escapes visible, payloads as hex + ASCII.
//!
//! ```text
//! cargo run --example replay -- FILE [--explain] [--width N]
//! ```
//!
//! With `--explain`, every modem line is followed by the events cellsock's framer
//! and the recording's profile make of the frames that end in it, the op that was
//! in flight, and what an application using cellsock sees because of them (for
//! driver recordings the `A:` lines show the API calls themselves). For an
//! imported recording the observed events are also checked against its `E:`
//! lines.

use std::process::ExitCode;

use cellsock::replay::escape;
use cellsock::replay::ingress::{check, observe_named, Item, Observed, Trace, Transcript};
use cellsock::replay::Chunking;

struct View {
    host_w: usize,
    modem_w: usize,
}

impl View {
    /// Cut escaped text into pieces of at most `w` characters, never inside an
    /// escape sequence.
    fn wrap(text: &str, w: usize) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            let mut token = c.to_string();
            if c == '\\' {
                if let Some(&n) = chars.peek() {
                    token.push(n);
                    chars.next();
                    if n == 'x' {
                        for _ in 0..2 {
                            if let Some(h) = chars.next() {
                                token.push(h);
                            }
                        }
                    }
                }
            }
            if cur.chars().count() + token.chars().count() > w && !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            cur.push_str(&token);
            // Break after a line end: the timeline reads like the modem's lines.
            if token == "\\n" {
                out.push(std::mem::take(&mut cur));
            }
        }
        if !cur.is_empty() || out.is_empty() {
            out.push(cur);
        }
        out
    }

    fn row(&self, line: &str, host: &str, modem: &str) {
        println!(
            "{line:>5} | {host:<hw$} | {modem}",
            hw = self.host_w,
            line = line
        );
    }

    fn host(&self, line: usize, pieces: &[String]) {
        for (i, p) in pieces.iter().enumerate() {
            let l = if i == 0 {
                line.to_string()
            } else {
                String::new()
            };
            self.row(&l, p, "");
        }
    }

    fn modem(&self, line: usize, pieces: &[String]) {
        for (i, p) in pieces.iter().enumerate() {
            let l = if i == 0 {
                line.to_string()
            } else {
                String::new()
            };
            self.row(&l, "", p);
        }
    }

    fn full(&self, line: &str, text: &str) {
        println!("{line:>5} | {text}");
    }
}

/// Mostly not text: shown as hex + ASCII rather than escaped.
fn is_binary(b: &[u8]) -> bool {
    let odd = b
        .iter()
        .filter(|&&c| !(0x20..0x7f).contains(&c) && c != b'\r' && c != b'\n')
        .count();
    odd > 0 && odd * 4 >= b.len()
}

/// Hex + ASCII dump lines fitting `w` characters (4 to 16 bytes a line).
fn hexdump(data: &[u8], w: usize) -> Vec<String> {
    let per = (w.saturating_sub(9) / 4 / 4 * 4).clamp(4, 16);
    data.chunks(per)
        .enumerate()
        .map(|(i, chunk)| {
            let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
            let ascii: String = chunk
                .iter()
                .map(|&b| {
                    if (0x20..0x7f).contains(&b) {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            format!(
                "{:04x}  {:<hw$}  |{ascii}|",
                i * per,
                hex.join(" "),
                hw = per * 3 - 1
            )
        })
        .collect()
}

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let explain = match args.iter().position(|a| a == "--explain") {
        Some(i) => {
            args.remove(i);
            true
        }
        None => false,
    };
    let mut width = 120usize;
    if let Some(i) = args.iter().position(|a| a == "--width") {
        if i + 1 < args.len() {
            width = args.remove(i + 1).parse().unwrap_or(120).max(60);
        }
        args.remove(i);
    }
    let [file] = args.as_slice() else {
        eprintln!("usage: replay FILE [--explain] [--width N]");
        return ExitCode::FAILURE;
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("replay: {file}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rec = match Transcript::parse(&text) {
        Ok(r) => r,
        Err(m) => {
            eprintln!("replay: {file}:{m}");
            return ExitCode::FAILURE;
        }
    };
    // Framing is needed for payloads even without --explain.
    let trace = match observe_named(&rec, Chunking::Whole) {
        Ok(t) => Some(t),
        Err(m) => {
            eprintln!("replay: cannot frame the modem bytes ({m}); showing them as written");
            None
        }
    };
    show(&rec, trace.as_ref(), explain, width);
    if explain && rec.is_imported() {
        if let Some(t) = &trace {
            match check(&rec, t) {
                Ok(()) => println!(
                    "\nall {} E: lines match what cellsock observes",
                    rec.expectations()
                ),
                Err(m) => println!("\nE: lines and observation differ: line {m}"),
            }
        }
    }
    ExitCode::SUCCESS
}

fn show(rec: &Transcript, trace: Option<&Trace>, explain: bool, width: usize) {
    let modem_w = (width.saturating_sub(10)) * 3 / 5;
    let host_w = width.saturating_sub(10) - modem_w;
    let view = View { host_w, modem_w };
    let events = |item: usize| -> Vec<&Observed> {
        trace
            .map(|t| t.events.iter().filter(|e| e.item == item).collect())
            .unwrap_or_default()
    };
    let mut headers = Vec::new();
    for (_, item) in &rec.items {
        if let Item::Header(n, v) = item {
            headers.push(format!("@{n} {v}"));
        }
    }
    println!("{}", headers.join("   "));
    view.row("line", "host", "modem");
    println!("{}", "-".repeat(width));
    let mut last_event_prompt = false;
    for (i, (line, item)) in rec.items.iter().enumerate() {
        match item {
            Item::Header(..) | Item::Blank => {}
            Item::Comment(c) => view.full(&line.to_string(), c),
            Item::Other('A', t) => view.full(&line.to_string(), &format!("app: {t}")),
            Item::Other('T', t) => view.full(&line.to_string(), &format!("time {t} ms")),
            Item::Other(tag, t) => view.full(&line.to_string(), &format!("{tag}: {t}")),
            Item::Expect(e) => {
                if !explain {
                    view.row("", "", &format!("  E: {e}"));
                }
            }
            Item::Host(b) => {
                if (last_event_prompt || is_binary(b)) && !b.is_empty() {
                    let what = if last_event_prompt {
                        "payload"
                    } else {
                        "binary"
                    };
                    let mut rows = vec![format!("{what}, {} bytes:", b.len())];
                    rows.extend(hexdump(b, view.host_w));
                    view.host(*line, &rows);
                    last_event_prompt = false;
                } else {
                    view.host(*line, &View::wrap(&escape(b), view.host_w));
                }
            }
            Item::Modem(b) => {
                let here = events(i);
                let payloads: Vec<&&Observed> = here
                    .iter()
                    .filter(|e| {
                        e.text.starts_with("Datagram") || e.text.starts_with("UnknownPayload")
                    })
                    .collect();
                let escaped = escape(b);
                if payloads.is_empty() || escaped.chars().count() <= view.modem_w {
                    view.modem(*line, &View::wrap(&escaped, view.modem_w));
                } else {
                    let head: String = escaped
                        .chars()
                        .take(view.modem_w.saturating_sub(20))
                        .collect();
                    view.modem(*line, &[format!("{head}... ({} bytes)", b.len())]);
                }
                for p in &payloads {
                    let mut rows = vec![format!("payload, {} bytes:", p.data.len())];
                    rows.extend(hexdump(&p.data, view.modem_w.saturating_sub(2)));
                    for r in rows {
                        view.row("", "", &format!("  {r}"));
                    }
                }
                if explain {
                    for e in &here {
                        let op = match e.op {
                            Some(op) => format!("in flight: {op:?}"),
                            None => "nothing in flight".into(),
                        };
                        let text = if e.text.starts_with("Datagram") {
                            e.text.split(' ').take(2).collect::<Vec<_>>().join(" ")
                                + &format!(" ({} bytes)", e.data.len())
                        } else {
                            e.text.clone()
                        };
                        view.row("", "", &format!("  -> {text}   [{op}]"));
                        view.row("", "", &format!("     API: {}", e.meaning));
                    }
                }
                if let Some(last) = here.last() {
                    last_event_prompt = last.text == "Prompt";
                }
            }
        }
    }
    if let Some(t) = trace {
        if explain {
            for l in t.end_lines() {
                view.row("", "", &format!("  end: {l}"));
            }
        }
    }
}
