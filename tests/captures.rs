//! Real captures as tests, and the importers that make them.
//!
//! * Every imported recording under `modems/*/captures/*.rec` is replayed through
//!   cellsock's framer and its profile's `classify` (ingress replay): the modem's
//!   bytes fed whole, one `M:` line at a time and under 50 seeded random
//!   chunkings; every run must give exactly the `E:` lines written in the file.
//! * Each of those files must still hold the bytes of the capture it was imported
//!   from (`tests/data/import/cases/`, copies of `shared/captures/*.case`).
//! * The importers turn real-format samples (`tests/data/import/`) into the
//!   recordings under `tests/data/import/expected/`, and refuse malformed or
//!   ambiguous ones with the line and what was expected.

use std::path::{Path, PathBuf};

use cellsock::replay::import::{
    import, write_atomic, DigitalOptions, Format, ImportError, LogOptions, Render, TableOptions,
};
use cellsock::replay::ingress::{replay, Item, Trace, Transcript};
use cellsock::replay::Chunking;
use libtest_mimic::{Arguments, Failed, Trial};

/// Random chunkings per capture.
const CHUNKINGS: u64 = 50;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn data(name: &str) -> PathBuf {
    root().join("tests/data/import").join(name)
}

fn captures() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for modem in std::fs::read_dir(root().join("modems")).expect("modems/ exists") {
        let dir = modem.expect("readable").path().join("captures");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.expect("readable").path();
            if p.extension().is_some_and(|x| x == "rec") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn read(path: &Path) -> Result<Transcript, Failed> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Transcript::parse(&text).map_err(|m| format!("{}:{m}", path.display()).into())
}

fn texts(t: &Trace) -> Vec<(usize, String)> {
    t.events.iter().map(|e| (e.item, e.text.clone())).collect()
}

/// Whole, per line and 50 random chunkings: all match the `E:` lines and each
/// other.
fn replay_all_chunkings(path: &Path) -> Result<(), Failed> {
    let rec = read(path)?;
    let shown = path.display();
    if !rec.is_imported() {
        return Err(format!("{shown}: a capture must carry @imported <source>").into());
    }
    let whole = replay(&rec, Chunking::Whole)
        .map_err(|m| format!("{shown}:{m}\n  (modem bytes fed whole)"))?;
    let mut runs = vec![(Chunking::PerLine, String::from("one modem line at a time"))];
    for seed in 0..CHUNKINGS {
        runs.push((
            Chunking::Random(seed),
            format!("random chunking, seed {seed}"),
        ));
    }
    for (chunking, what) in runs {
        let t = replay(&rec, chunking).map_err(|m| format!("{shown}:{m}\n  ({what})"))?;
        if texts(&t) != texts(&whole) || t.framer != whole.framer || t.leftover != whole.leftover {
            return Err(
                format!("{shown}: {what} observed other events than the whole feed").into(),
            );
        }
    }
    Ok(())
}

/// The host and modem bytes of a transcript, in order, with the `M:`/`H:` lines
/// of one direction that follow each other joined (chunking is not content).
fn traffic(t: &Transcript) -> Vec<(char, Vec<u8>)> {
    let mut out: Vec<(char, Vec<u8>)> = Vec::new();
    for (_, item) in &t.items {
        let (dir, bytes) = match item {
            Item::Host(b) => ('H', b),
            Item::Modem(b) => ('M', b),
            _ => continue,
        };
        match out.last_mut() {
            Some((d, acc)) if *d == dir => acc.extend_from_slice(bytes),
            _ => out.push((dir, bytes.clone())),
        }
    }
    out
}

/// The `.case` copy a capture was imported from, if it names one we keep.
fn source_case(path: &Path) -> Option<PathBuf> {
    let text = std::fs::read_to_string(path).ok()?;
    let rec = Transcript::parse(&text).ok()?;
    let name = Path::new(rec.header("imported")?).file_name()?.to_owned();
    let case = data("cases").join(name);
    case.is_file().then_some(case)
}

/// Every shared capture kept under `cases/` is imported somewhere.
fn every_case_imported(files: &[PathBuf]) -> Result<(), Failed> {
    let used: Vec<PathBuf> = files.iter().filter_map(|f| source_case(f)).collect();
    for e in std::fs::read_dir(data("cases")).map_err(|e| e.to_string())? {
        let p = e.map_err(|e| e.to_string())?.path();
        if p.extension().is_some_and(|x| x == "case") && !used.contains(&p) {
            return Err(
                format!("{} is imported by no modems/*/captures/*.rec", p.display()).into(),
            );
        }
    }
    Ok(())
}

/// The capture file still holds exactly the bytes of the `.case` it came from.
fn same_bytes_as_source(path: &Path, case: &Path) -> Result<(), Failed> {
    let rec = read(path)?;
    let source = rec.header("imported").unwrap_or_default();
    let bytes = std::fs::read(case).map_err(|e| format!("{}: {e}", case.display()))?;
    let fresh = import(&Format::Case, &bytes, source, None)
        .map_err(|e| format!("{}: {e}", case.display()))?;
    if traffic(&fresh) != traffic(&rec) {
        return Err(format!(
            "{}: its H:/M: bytes differ from {} (a capture's bytes are never edited: fix the code, note doubts in comments)",
            path.display(),
            case.display()
        )
        .into());
    }
    Ok(())
}

fn log(o: LogOptions) -> Format {
    Format::Log(o)
}

fn table(host: &str, modem: &str) -> Format {
    Format::SaleaeTable(TableOptions {
        host: Some(host.into()),
        modem: Some(modem.into()),
        ..TableOptions::default()
    })
}

fn digital(baud: u32) -> Format {
    Format::Digital(DigitalOptions {
        host: Some("Channel 0".into()),
        modem: Some("Channel 1".into()),
        baud,
        gap_us: 5000,
    })
}

/// Importer samples that must import to the file under `expected/`.
fn good_samples() -> Vec<(&'static str, Format, Option<&'static str>)> {
    vec![
        // Real: the byte-exact BG96 trace of capture 01 as published; one count
        // was edited by the reporter (masked address), kept with a note.
        (
            "ewf_bg96_send_recv.log",
            log(LogOptions {
                ignore_counts: true,
                ..LogOptions::default()
            }),
            Some("bg96"),
        ),
        // Real: the Particle Device OS trace of capture 08 (C escapes, quoted,
        // counted); the IP in the command was edited, so one count differs.
        (
            "particle_sara_r410m.log",
            log(LogOptions {
                ignore_counts: true,
                ..LogOptions::default()
            }),
            None,
        ),
        // TX:/RX: with <CR>/<LF> (capture 10's bytes, binary payload not included).
        ("tx_rx_angle_sim7080.log", log(LogOptions::default()), None),
        // >>/<< with one log line per line of bytes.
        (
            "arrows_lines_sara.log",
            log(LogOptions {
                render: Some(Render::Lines),
                eol: Some(b"\r\n".to_vec()),
                host_eol: Some(b"\r".to_vec()),
                ..LogOptions::default()
            }),
            None,
        ),
        // Logic 2 data table, analyzers "TX" (the host's) and "RX".
        (
            "saleae_bg95_table.csv",
            table("TX", "RX"),
            Some("bg96-buffer"),
        ),
        // Analyzers named host/modem need no option.
        (
            "saleae_host_modem.csv",
            Format::SaleaeTable(TableOptions::default()),
            None,
        ),
        // Logic 2 raw digital export, 8N1 at 115200.
        ("digital_bg96_115200.csv", digital(115_200), Some("bg96")),
    ]
}

/// Inputs that must be refused: (file, format, line, words the message has).
fn bad_samples() -> Vec<(&'static str, Format, usize, &'static str)> {
    vec![
        ("bad_tag.case", Format::Case, 4, "expected `H: <bytes>`"),
        ("bad_escape.case", Format::Case, 2, "unknown escape `\\t`"),
        (
            "ewf_bg96_send_recv.log",
            log(LogOptions::default()),
            44,
            "the log says 54 bytes but the entry decodes to 56",
        ),
        (
            "particle_sara_r410m.log",
            log(LogOptions::default()),
            2,
            "the log says 36 bytes but the entry decodes to 35",
        ),
        (
            "count_mismatch.log",
            log(LogOptions::default()),
            2,
            "the log says 10 bytes",
        ),
        (
            "dots_bg77.log",
            log(LogOptions::default()),
            2,
            "rendered as '.'",
        ),
        (
            "ambiguous_markers.log",
            log(LogOptions::default()),
            0,
            "ambiguous direction markers",
        ),
        (
            "ambiguous_render.log",
            log(LogOptions::default()),
            3,
            "ambiguous rendering",
        ),
        (
            "bad_escape.log",
            log(LogOptions::default()),
            2,
            "unknown escape `\\q`",
        ),
        (
            "no_line_ends.log",
            log(LogOptions::default()),
            0,
            "--render lines --eol crlf",
        ),
        (
            "arrows_lines_sara.log",
            log(LogOptions {
                render: Some(Render::Lines),
                ..LogOptions::default()
            }),
            0,
            "needs --eol",
        ),
        (
            "saleae_bg95_table.csv",
            Format::SaleaeTable(TableOptions::default()),
            0,
            "which analyzer is the host",
        ),
        (
            "saleae_ascii_radix.csv",
            table("TX", "RX"),
            2,
            "hexadecimal display radix",
        ),
        (
            "saleae_bad_header.csv",
            table("TX", "RX"),
            1,
            "name,type,start_time,duration,data",
        ),
        (
            "saleae_framing_error.csv",
            table("TX", "RX"),
            7,
            "\"framing\"",
        ),
        ("saleae_unsorted.csv", table("TX", "RX"), 7, "goes back"),
        (
            "digital_framing_error.csv",
            digital(115_200),
            17,
            "stop bit is low",
        ),
        (
            "digital_no_data.csv",
            digital(115_200),
            2,
            "expected 0 or 1",
        ),
        ("digital_bg96_115200.csv", digital(9600), 6, "not 9600 baud"),
    ]
}

fn expected_name(input: &str) -> String {
    let stem = Path::new(input)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!("expected/{stem}.rec")
}

fn good(input: &str, format: &Format, profile: Option<&str>) -> Result<(), Failed> {
    let bytes = std::fs::read(data(input)).map_err(|e| format!("{input}: {e}"))?;
    let rec = import(format, &bytes, input, profile).map_err(|e| format!("{input}: {e}"))?;
    let golden = data(&expected_name(input));
    let want =
        std::fs::read_to_string(&golden).map_err(|e| format!("{}: {e}", golden.display()))?;
    if rec.to_text() != want {
        return Err(format!(
            "{input}: the import differs from {}\n--- got:\n{}",
            golden.display(),
            rec.to_text()
        )
        .into());
    }
    // What an importer writes reads back as the same transcript.
    let again = Transcript::parse(&want).map_err(|m| format!("{}:{m}", golden.display()))?;
    if traffic(&again) != traffic(&rec) {
        return Err(format!("{input}: the written file does not read back the same bytes").into());
    }
    Ok(())
}

fn bad(input: &str, format: &Format, line: usize, words: &str) -> Result<(), Failed> {
    let bytes = std::fs::read(data(input)).map_err(|e| format!("{input}: {e}"))?;
    match import(format, &bytes, input, None) {
        Ok(_) => Err(format!("{input}: imported, but must be refused ({words})").into()),
        Err(ImportError { line: l, message }) if l == line && message.contains(words) => Ok(()),
        Err(e) => Err(format!(
            "{input}: refused with the wrong line or message\n  expected line {line} with {words:?}\n  actual   {e}"
        )
        .into()),
    }
}

/// A failed import never leaves an output file; a good one replaces the old file
/// through a rename, leaving no temporary file behind.
fn atomic_output() -> Result<(), Failed> {
    let dir = std::env::temp_dir().join(format!("cellsock-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let out = dir.join("out.rec");
    let input = std::fs::read(data("bad_tag.case")).map_err(|e| e.to_string())?;
    let r = import(&Format::Case, &input, "bad_tag.case", None)
        .map(|rec| write_atomic(&out, &rec.to_text()));
    if r.is_ok() || out.exists() {
        return Err("a malformed input produced an output file".into());
    }
    std::fs::write(&out, "old").map_err(|e| e.to_string())?;
    let input = std::fs::read(data("cases/01-bg96-bytelevel-echo-qiact.case"))
        .map_err(|e| e.to_string())?;
    let rec = import(&Format::Case, &input, "01", None).map_err(|e| e.to_string())?;
    write_atomic(&out, &rec.to_text()).map_err(|e| e.to_string())?;
    let written = std::fs::read_to_string(&out).map_err(|e| e.to_string())?;
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .filter(|e| e.file_name() != "out.rec")
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    if written != rec.to_text() || !leftovers.is_empty() {
        return Err("write_atomic left a temporary file or wrote other bytes".into());
    }
    Ok(())
}

fn main() {
    let args = Arguments::from_args();
    let files = captures();
    assert!(
        files.len() >= 10,
        "the ten shared captures are imported under modems/*/captures/"
    );
    let mut trials = Vec::new();
    let all = files.clone();
    trials.push(Trial::test("every_shared_capture_imported", move || {
        every_case_imported(&all)
    }));
    for path in files {
        let modem = path
            .parent()
            .and_then(Path::parent)
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let name = path
            .file_stem()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let p = path.clone();
        trials.push(Trial::test(format!("{modem}::{name}"), move || {
            replay_all_chunkings(&p)
        }));
        if let Some(case) = source_case(&path) {
            trials.push(Trial::test(
                format!("{modem}::{name}::source_bytes"),
                move || same_bytes_as_source(&path, &case),
            ));
        }
    }
    for (input, format, profile) in good_samples() {
        trials.push(Trial::test(format!("import::{input}"), move || {
            good(input, &format, profile)
        }));
    }
    for (input, format, line, words) in bad_samples() {
        let name = format!("import::refuses::{input}::{}", format.name());
        trials.push(Trial::test(name, move || bad(input, &format, line, words)));
    }
    trials.push(Trial::test("import::atomic_output", atomic_output));
    libtest_mimic::run(&args, trials).exit();
}
