//! Import a real capture or field log as a recording, and bless imported
//! recordings with the events cellsock observes.
//!
//! ```text
//! cargo run --example import -- --from case IN.case OUT.rec [--profile bg96]
//! cargo run --example import -- --from log IN.log OUT.rec [--markers send-recv]
//!       [--host-marker S --modem-marker S] [--render escapes|angle|lines]
//!       [--eol crlf|lf|cr] [--host-eol crlf|lf|cr] [--ignore-counts]
//! cargo run --example import -- --from saleae IN.csv OUT.rec --host TX --modem RX
//! cargo run --example import -- --from digital IN.csv OUT.rec --baud 115200
//!       --host-channel "Channel 0" --modem-channel "Channel 1"
//! cargo run --example import -- --bless FILE...   (writes the observed E: lines)
//! cargo run --example import -- --check FILE...   (what the captures test does)
//! ```
//!
//! Common options: `--profile NAME` (`@profile`, default `generic`), `--source TEXT`
//! (`@imported`, default the input's file name), `--gap-us N` (saleae, digital),
//! `--bless` after `--from ...` blesses the new file at once. Output files are
//! written through a temporary file and a rename: an error never leaves half a
//! file behind.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use cellsock::replay::import::{
    import, parse_eol, write_atomic, DigitalOptions, Format, LogOptions, Render, TableOptions,
    LOG_PRESETS,
};
use cellsock::replay::ingress::{observe_named, replay, Trace, Transcript};
use cellsock::replay::Chunking;

/// Random chunkings a blessed file must agree with (as the captures test runs).
const CHUNKINGS: u64 = 50;

fn usage() -> String {
    let presets: Vec<String> = LOG_PRESETS
        .iter()
        .map(|(n, h, m)| format!("{n} ({h} / {m})"))
        .collect();
    format!(
        "usage:\n  import --from case|log|saleae|digital [options] IN OUT [--bless]\n  import --bless FILE...\n  import --check FILE...\n\
         options: --profile NAME  --source TEXT\n\
         log:     --markers PRESET | --host-marker S --modem-marker S, --render escapes|angle|lines, --eol E, --host-eol E, --ignore-counts\n\
         \x20        presets: {}\n\
         saleae:  --host NAME --modem NAME [--gap-us N]\n\
         digital: --baud N --host-channel NAME --modem-channel NAME [--gap-us N]",
        presets.join(", ")
    )
}

struct Args {
    words: Vec<String>,
}

impl Args {
    /// The value after `flag`, removed from the words.
    fn value(&mut self, flag: &str) -> Result<Option<String>, String> {
        let Some(i) = self.words.iter().position(|w| w == flag) else {
            return Ok(None);
        };
        if i + 1 >= self.words.len() {
            return Err(format!("{flag} needs a value"));
        }
        let v = self.words.remove(i + 1);
        self.words.remove(i);
        Ok(Some(v))
    }

    fn flag(&mut self, flag: &str) -> bool {
        match self.words.iter().position(|w| w == flag) {
            Some(i) => {
                self.words.remove(i);
                true
            }
            None => false,
        }
    }
}

fn main() -> ExitCode {
    let mut args = Args {
        words: std::env::args().skip(1).collect(),
    };
    match run(&mut args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("import: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &mut Args) -> Result<(), String> {
    if args.flag("--help") || args.flag("-h") || args.words.is_empty() {
        println!("{}", usage());
        return Ok(());
    }
    let from = args.value("--from")?;
    let bless_flag = args.flag("--bless");
    let check_flag = args.flag("--check");
    let Some(from) = from else {
        let files: Vec<PathBuf> = args.words.iter().map(PathBuf::from).collect();
        if files.is_empty() || !(bless_flag || check_flag) {
            return Err(usage());
        }
        for f in &files {
            if bless_flag {
                bless(f)?;
            } else {
                check(f)?;
            }
        }
        return Ok(());
    };
    let profile = args.value("--profile")?;
    let source = args.value("--source")?;
    let gap_us = args
        .value("--gap-us")?
        .map(|g| {
            g.parse::<u64>()
                .map_err(|_| format!("--gap-us {g:?} is not a number"))
        })
        .transpose()?;
    let format = match from.as_str() {
        "case" => Format::Case,
        "log" => {
            let markers = match (
                args.value("--markers")?,
                args.value("--host-marker")?,
                args.value("--modem-marker")?,
            ) {
                (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                    return Err("give --markers or --host-marker/--modem-marker, not both".into())
                }
                (Some(p), None, None) => {
                    let Some((_, h, m)) = LOG_PRESETS.iter().find(|(n, _, _)| *n == p) else {
                        return Err(format!("unknown marker preset {p:?}\n{}", usage()));
                    };
                    Some((h.to_string(), m.to_string()))
                }
                (None, Some(h), Some(m)) => Some((h, m)),
                (None, None, None) => None,
                _ => return Err("--host-marker and --modem-marker go together".into()),
            };
            let render = match args.value("--render")?.as_deref() {
                None => None,
                Some("escapes") => Some(Render::Escapes),
                Some("angle") => Some(Render::Angle),
                Some("lines") => Some(Render::Lines),
                Some(r) => return Err(format!("--render {r:?}: escapes, angle or lines")),
            };
            let eol = args.value("--eol")?.map(|e| parse_eol(&e)).transpose()?;
            let host_eol = args
                .value("--host-eol")?
                .map(|e| parse_eol(&e))
                .transpose()?;
            Format::Log(LogOptions {
                markers,
                render,
                eol,
                host_eol,
                ignore_counts: args.flag("--ignore-counts"),
            })
        }
        "saleae" => {
            let mut o = TableOptions {
                host: args.value("--host")?,
                modem: args.value("--modem")?,
                ..TableOptions::default()
            };
            if let Some(g) = gap_us {
                o.gap_us = g;
            }
            Format::SaleaeTable(o)
        }
        "digital" => {
            let baud = args
                .value("--baud")?
                .ok_or("--from digital needs --baud N")?;
            let baud: u32 = baud
                .parse()
                .map_err(|_| format!("--baud {baud:?} is not a number"))?;
            Format::Digital(DigitalOptions {
                host: args.value("--host-channel")?,
                modem: args.value("--modem-channel")?,
                baud,
                gap_us: gap_us.unwrap_or(5000),
            })
        }
        other => return Err(format!("unknown format {other:?}\n{}", usage())),
    };
    if let Some(unknown) = args.words.iter().find(|w| w.starts_with("--")) {
        return Err(format!("unknown option {unknown}\n{}", usage()));
    }
    let [input, output] = args.words.as_slice() else {
        return Err(format!("expected IN and OUT\n{}", usage()));
    };
    let (input, output) = (Path::new(input), Path::new(output));
    let bytes = std::fs::read(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let source = source.unwrap_or_else(|| {
        input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let rec = import(&format, &bytes, &source, profile.as_deref())
        .map_err(|e| format!("{}: {e}", input.display()))?;
    write_atomic(output, &rec.to_text()).map_err(|e| format!("{}: {e}", output.display()))?;
    println!("{}: imported ({} format)", output.display(), format.name());
    if bless_flag {
        bless(output)?;
    }
    Ok(())
}

fn read(path: &Path) -> Result<Transcript, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Transcript::parse(&text).map_err(|m| format!("{}:{m}", path.display()))
}

fn same(a: &Trace, b: &Trace) -> bool {
    let texts = |t: &Trace| -> Vec<(usize, String)> {
        t.events.iter().map(|e| (e.item, e.text.clone())).collect()
    };
    texts(a) == texts(b) && a.framer == b.framer && a.leftover == b.leftover
}

/// Write the observed events into `path`, after checking that every chunking
/// observes the same.
fn bless(path: &Path) -> Result<(), String> {
    let rec = read(path)?;
    if !rec.is_imported() {
        return Err(format!(
            "{}: not an imported recording (no @imported header); driver recordings are written by hand",
            path.display()
        ));
    }
    let whole =
        observe_named(&rec, Chunking::Whole).map_err(|m| format!("{}:{m}", path.display()))?;
    let mut runs = vec![Chunking::PerLine];
    runs.extend((0..CHUNKINGS).map(Chunking::Random));
    for c in runs {
        let t = observe_named(&rec, c).map_err(|m| format!("{}:{m}", path.display()))?;
        if !same(&whole, &t) {
            return Err(format!(
                "{}: the events depend on how the modem bytes are cut ({c:?} differs from the whole feed): a framing bug, not blessed",
                path.display()
            ));
        }
    }
    let old: Vec<String> = rec
        .items
        .iter()
        .filter_map(|(_, i)| match i {
            cellsock::replay::ingress::Item::Expect(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    let blessed = rec.blessed(&whole);
    write_atomic(path, &blessed.to_text()).map_err(|e| format!("{}: {e}", path.display()))?;
    let new: Vec<String> = blessed
        .items
        .iter()
        .filter_map(|(_, i)| match i {
            cellsock::replay::ingress::Item::Expect(e) => Some(e.clone()),
            _ => None,
        })
        .collect();
    let changed = old != new;
    println!(
        "{}: blessed, {} E: lines{}",
        path.display(),
        new.len(),
        if changed {
            " (changed: review with git diff)"
        } else {
            " (unchanged)"
        }
    );
    Ok(())
}

/// Run an imported recording as the captures test does.
fn check(path: &Path) -> Result<(), String> {
    let rec = read(path)?;
    let whole = replay(&rec, Chunking::Whole)
        .map_err(|m| format!("{}:{m}\n  (modem bytes fed whole)", path.display()))?;
    let mut runs = vec![Chunking::PerLine];
    runs.extend((0..CHUNKINGS).map(Chunking::Random));
    for c in runs {
        let t = replay(&rec, c).map_err(|m| format!("{}:{m}\n  ({c:?})", path.display()))?;
        if !same(&whole, &t) {
            return Err(format!(
                "{}: {c:?} differs from the whole feed",
                path.display()
            ));
        }
    }
    println!(
        "{}: ok ({} events, 52 chunkings)",
        path.display(),
        whole.events.len()
    );
    Ok(())
}
