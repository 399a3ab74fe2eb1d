//! A scripted modem for the driver targets: answers each command line the driver
//! writes like a healthy BG96 or nRF91 Serial Modem, except where a fault says
//! otherwise, and keeps what the driver cannot see (which handle belongs to which
//! socket, datagrams waiting to be read) so the targets can check routing.

use std::collections::VecDeque;

use crate::reference::{self, Dialect};

/// Handles the model keeps (BG96 connectIDs 0..=11, nRF91 handles 0..=7).
pub const HANDLES: usize = 16;

/// What the modem holds under a handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HState {
    /// Nothing.
    Free,
    /// nRF91: `#XSOCKET` gave it out, not connected yet.
    Allocated,
    /// Open for the driver slot its open command named (by port).
    Open(usize),
    /// Held, but gone (closed URC, context lost, open without result): a close is
    /// owed, no data comes.
    Dead,
}

/// How the next command is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Healthily.
    None,
    /// Not at all (the driver times out).
    Silence,
    /// `ERROR`.
    Error,
    /// `+CME ERROR: <n>`.
    Cme(u32),
    /// The modem restarted without a banner: it echoes the command line (echo
    /// is on again) and answers as a fresh modem.
    Echo,
    /// A junk line before the answer.
    Garbage(u8),
    /// The answer cut in two; the rest comes after the next passage of time.
    Cut(u8),
    /// The whole answer comes after the next passage of time.
    Late,
    /// A second final result right after the answer.
    Double,
    /// Sends: the payload is taken and refused (`SEND FAIL`, `#XDATAMODE: -1`).
    SendFail,
    /// BG96 opens: `OK`, then `+QIOPEN: <id>,<err>`.
    OpenErr(u32),
    /// BG96 opens: `OK`, the socket opens, its result URC is lost.
    NoUrc,
}

impl Fault {
    /// From two fuzz bytes.
    pub fn from(kind: u8, arg: u8) -> Fault {
        const CODES: [u32; 8] = [3, 4, 50, 563, 565, 65_535, 65_536, 99_999];
        match kind % 12 {
            0 => Fault::None,
            1 => Fault::Silence,
            2 => Fault::Error,
            3 => Fault::Cme(CODES[arg as usize % CODES.len()]),
            4 => Fault::Echo,
            5 => Fault::Garbage(arg),
            6 => Fault::Cut(arg),
            7 => Fault::Late,
            8 => Fault::Double,
            9 => Fault::SendFail,
            10 => Fault::OpenErr(CODES[arg as usize % CODES.len()]),
            _ => Fault::NoUrc,
        }
    }
}

/// An address as the modem prints it: IP text and port.
pub type Peer = (String, u16);

/// A payload the modem waits for after its prompt.
#[derive(Clone, Debug)]
pub struct PayloadWait {
    /// Handle the send named.
    pub handle: usize,
    /// Bytes announced.
    pub len: usize,
    /// Refuse it once taken.
    pub fail: bool,
    /// The destination the send named (unconnected sockets).
    pub to: Option<Peer>,
}

/// The modem's answer to one command line.
#[derive(Debug, Default)]
pub struct Answer {
    /// Information lines (and data), before the final result.
    pub body: Vec<u8>,
    /// The final result (or the prompt), fed last.
    pub fin: Vec<u8>,
    /// The answer holds a length-counted payload.
    pub has_payload: bool,
}

/// What the checks need to hear from the modem.
#[derive(Debug)]
pub enum Note {
    /// A datagram read out of the modem for this slot (expected at that socket),
    /// with its sender where the socket is unconnected.
    Read(usize, Vec<u8>, Option<Peer>),
    /// The modem took a payload on a handle (owner slot, bytes, accepted, the
    /// destination the send named).
    Payload(Option<usize>, Vec<u8>, bool, Option<Peer>),
    /// A command line the modem does not know (the driver wrote garbage).
    Unknown(Vec<u8>),
    /// An open or connect named a host that is not one the application gave.
    BadHost(Vec<u8>),
}

/// The modem.
pub struct Modem {
    /// Its dialect.
    pub dialect: Dialect,
    /// What each handle holds.
    pub handles: [HState; HANDLES],
    /// Datagrams waiting to be read, per handle, with their senders.
    pub queues: [VecDeque<(Vec<u8>, Peer)>; HANDLES],
    /// Unconnected sockets ("UDP SERVICE", `#XBIND` without `#XCONNECT`).
    pub unconnected: [bool; HANDLES],
    /// Local port of each handle.
    pub lports: [u16; HANDLES],
    /// Registration status answered to `+CEREG?`.
    pub reg: u8,
    /// Packet data context active.
    pub pdp: bool,
    /// Faults for the next commands, in order.
    pub faults: VecDeque<Fault>,
    /// A payload is expected next.
    pub payload: Option<PayloadWait>,
    /// A command was left unanswered and the driver has not moved on yet.
    pub silenced: bool,
    /// Error codes the modem has sent (a reported code must be one of them).
    pub codes: Vec<u32>,
    /// Host names the application connected to (brackets removed).
    pub hosts: Vec<String>,
    /// Notes for the checks.
    pub notes: Vec<Note>,
    /// The handle last opened for each slot (a slot may leave an older one behind
    /// when its close got no answer).
    pub latest: [Option<usize>; HANDLES],
    /// The slot whose open command last named each handle, whatever its result.
    pub openers: [Option<usize>; HANDLES],
}

/// Port the driver slot `slot` connects to with variant `v` (`1000 + 10 slot + v`).
pub fn slot_port(slot: usize, v: u8) -> u16 {
    1000 + 10 * slot as u16 + u16::from(v % 10)
}

/// Local port the driver slot `slot` binds with variant `v` (`20000 + 10 slot + v`).
pub fn slot_local_port(slot: usize, v: u8) -> u16 {
    20000 + 10 * slot as u16 + u16::from(v % 10)
}

fn port_slot(port: u32) -> Option<usize> {
    (1000..1000 + 10 * 16)
        .contains(&port)
        .then(|| (port as usize - 1000) / 10)
}

fn local_slot(port: u32) -> Option<usize> {
    (20000..20000 + 10 * 16)
        .contains(&port)
        .then(|| (port as usize - 20000) / 10)
}

/// The answer of the modem's resolver for a name: its addresses, IPv4 first (none:
/// the name does not resolve).
pub fn dns(name: &[u8]) -> &'static [&'static str] {
    match name {
        b"example.com" => &["192.0.2.10", "2001:db8::10"],
        b"v4only.example" => &["192.0.2.20"],
        b"v6only.example" => &["2001:db8::20"],
        _ => &[],
    }
}

fn field(params: &[u8], i: usize) -> Option<&[u8]> {
    cellsock::text::fields(params).nth(i)
}

fn num(params: &[u8], i: usize) -> Option<u32> {
    field(params, i).and_then(cellsock::text::number)
}

fn ok() -> Vec<u8> {
    b"\r\nOK\r\n".to_vec()
}

impl Modem {
    /// A healthy modem, nothing open.
    pub fn new(dialect: Dialect) -> Self {
        Modem {
            dialect,
            handles: [HState::Free; HANDLES],
            queues: Default::default(),
            unconnected: [false; HANDLES],
            lports: [0; HANDLES],
            reg: 1,
            pdp: false,
            faults: VecDeque::new(),
            payload: None,
            silenced: false,
            codes: Vec::new(),
            hosts: Vec::new(),
            notes: Vec::new(),
            latest: [None; HANDLES],
            openers: [None; HANDLES],
        }
    }

    /// The slot a handle's data goes to, if it is open.
    pub fn owner(&self, handle: u32) -> Option<usize> {
        match self.handles.get(handle as usize) {
            Some(HState::Open(s)) => Some(*s),
            _ => None,
        }
    }

    /// The slot a datagram for `handle` may reach: the socket it is open for, or,
    /// while the modem still holds the handle (its open result unknown or lost,
    /// closed but not released), the socket whose open last named it.
    pub fn expect_owner(&self, handle: u32) -> Option<usize> {
        match self.handles.get(handle as usize)? {
            HState::Open(s) => Some(*s),
            HState::Free => None,
            HState::Allocated | HState::Dead => self.openers[handle as usize],
        }
    }

    /// True when `handle` is an open unconnected socket.
    pub fn is_unconnected(&self, handle: u32) -> bool {
        self.owner(handle).is_some() && self.unconnected.get(handle as usize) == Some(&true)
    }

    /// The handle open for `slot`, if any (the latest one).
    pub fn handle_of(&self, slot: usize) -> Option<usize> {
        self.latest
            .get(slot)
            .copied()
            .flatten()
            .filter(|&h| self.handles.get(h) == Some(&HState::Open(slot)))
            .or_else(|| self.handles.iter().position(|h| *h == HState::Open(slot)))
    }

    fn opened(&mut self, handle: usize, slot: Option<usize>) {
        self.handles[handle] = slot.map_or(HState::Dead, HState::Open);
        self.queues[handle].clear();
        self.unconnected[handle] = false;
        if let Some(l) = slot.and_then(|s| self.latest.get_mut(s)) {
            *l = Some(handle);
        }
    }

    /// The modem restarted: everything is gone.
    pub fn reboot(&mut self) {
        self.handles = [HState::Free; HANDLES];
        self.openers = [None; HANDLES];
        self.unconnected = [false; HANDLES];
        self.queues = Default::default();
        self.pdp = false;
        self.payload = None;
        self.silenced = false;
    }

    /// The context went away: every socket on it is gone.
    pub fn pdp_lost(&mut self) {
        self.pdp = false;
        for h in self.handles.iter_mut() {
            if let HState::Open(_) = h {
                *h = HState::Dead;
            }
        }
        self.queues = Default::default();
    }

    /// The socket under `handle` is closed by the network.
    pub fn closed(&mut self, handle: usize) {
        if let Some(h @ HState::Open(_)) = self.handles.get_mut(handle) {
            *h = HState::Dead;
        }
        if let Some(q) = self.queues.get_mut(handle) {
            q.clear();
        }
    }

    fn error(&mut self, fault: Fault) -> Answer {
        let fin = match fault {
            Fault::Cme(code) => {
                self.codes.push(code);
                format!("\r\n+CME ERROR: {code}\r\n").into_bytes()
            }
            _ => b"\r\nERROR\r\n".to_vec(),
        };
        Answer {
            fin,
            ..Answer::default()
        }
    }

    fn check_host(&mut self, host: &[u8]) {
        let known = std::str::from_utf8(host)
            .ok()
            .and_then(|h| reference::host(h, 128))
            .is_some_and(|h| self.hosts.iter().any(|k| k == h));
        if !known {
            self.notes.push(Note::BadHost(host.to_vec()));
        }
    }

    /// Answer one command line (`None`: no answer at all).
    pub fn answer(&mut self, line: &[u8]) -> Option<Answer> {
        self.silenced = false;
        let fault = self.faults.pop_front().unwrap_or(Fault::None);
        if fault == Fault::Silence {
            self.silenced = true;
            return None;
        }
        if fault == Fault::Echo {
            // Echo comes back on only when the modem restarted (silently, or with
            // a banner the line lost): it answers this line as a fresh modem.
            self.reboot();
        }
        let refused = matches!(fault, Fault::Error | Fault::Cme(_));
        let answer = match self.dialect {
            Dialect::Bg96 => self.bg96(line, fault, refused),
            Dialect::Nrf91 => self.nrf91(line, fault, refused),
        };
        if answer.is_none() {
            if fault != Fault::Late {
                // A line of ours the modem could not read: garbage from the driver.
                self.notes.push(Note::Unknown(line.to_vec()));
            }
            self.silenced = true;
        }
        answer
    }

    fn bg96(&mut self, line: &[u8], fault: Fault, refused: bool) -> Option<Answer> {
        if refused {
            return Some(self.error(fault));
        }
        let plain = |body: &[u8]| {
            Some(Answer {
                body: body.to_vec(),
                fin: ok(),
                has_payload: false,
            })
        };
        match line {
            b"AT" | b"ATE0" | b"AT+CMEE=1" | b"AT+CEREG=1" => return plain(b""),
            b"AT+CPIN?" => return plain(b"\r\n+CPIN: READY\r\n"),
            b"AT+CSQ" => return plain(b"\r\n+CSQ: 20,99\r\n"),
            b"AT+CEREG?" => return plain(format!("\r\n+CEREG: 1,{}\r\n", self.reg).as_bytes()),
            b"AT+QIACT?" if self.pdp => return plain(b"\r\n+QIACT: 1,1,1,\"10.0.0.2\"\r\n"),
            b"AT+QIACT?" => return plain(b""),
            b"AT+QIACT=1" => {
                self.pdp = true;
                return plain(b"");
            }
            b"AT+QIDEACT=1" => {
                self.pdp_lost();
                return plain(b"");
            }
            _ => {}
        }
        if line.starts_with(b"AT+QICSGP=") {
            return plain(b"");
        }
        if let Some(p) = line.strip_prefix(b"AT+QIOPEN=") {
            // 1,<id>,"UDP"|"UDP SERVICE","<host>",<port>,<local port>,<mode>
            let id = num(p, 1)? as usize;
            let service = field(p, 2) == Some(b"UDP SERVICE");
            let host = field(p, 3).unwrap_or(b"").to_vec();
            let lport = num(p, 5).unwrap_or(0);
            let slot = if service {
                if host != b"127.0.0.1" || num(p, 4) != Some(0) {
                    self.notes.push(Note::BadHost(host.clone()));
                }
                local_slot(lport)
            } else {
                self.check_host(&host);
                num(p, 4).and_then(port_slot)
            };
            let mut fin = ok();
            let free = self.handles.get(id) == Some(&HState::Free);
            if let Some(o) = self.openers.get_mut(id) {
                *o = slot;
            }
            match fault {
                Fault::NoUrc => {
                    // Opened, but the result URC is lost on the way.
                    if free && id < 12 {
                        self.opened(id, slot);
                        self.lports[id] = 40000 + id as u16;
                    }
                }
                Fault::OpenErr(code) => {
                    self.codes.push(code);
                    fin.extend_from_slice(format!("\r\n+QIOPEN: {id},{code}\r\n").as_bytes());
                    if code > u32::from(u16::MAX) && free && id < 12 {
                        // No BG96 error code: the result line is garbage to the
                        // driver, which waits for a result as if it were lost. Model
                        // it so: the socket may be open.
                        self.opened(id, slot);
                        self.lports[id] = 40000 + id as u16;
                    }
                }
                _ if !free || id >= 12 => {
                    self.codes.push(563);
                    fin.extend_from_slice(format!("\r\n+QIOPEN: {id},563\r\n").as_bytes());
                }
                _ => {
                    self.opened(id, slot);
                    self.unconnected[id] = service;
                    self.lports[id] = if service {
                        lport as u16
                    } else {
                        40000 + id as u16
                    };
                    fin.extend_from_slice(format!("\r\n+QIOPEN: {id},0\r\n").as_bytes());
                }
            }
            return Some(Answer {
                fin,
                ..Answer::default()
            });
        }
        if let Some(p) = line.strip_prefix(b"AT+QISTATE=1,") {
            let id = num(p, 0)?;
            let lport = self.lports.get(id as usize).copied().unwrap_or(0);
            let text = if self.unconnected.get(id as usize) == Some(&true) {
                format!(
                    "\r\n+QISTATE: {id},\"UDP SERVICE\",\"127.0.0.1\",0,{lport},2,1,{id},1,\"uart1\"\r\n"
                )
            } else {
                format!(
                    "\r\n+QISTATE: {id},\"UDP\",\"192.0.2.1\",5683,{lport},2,1,{id},1,\"uart1\"\r\n"
                )
            };
            return plain(text.as_bytes());
        }
        if let Some(p) = line.strip_prefix(b"AT+QISEND=") {
            // <id>,<len>[,"<ip>",<port>]
            let (id, len) = (num(p, 0)? as usize, num(p, 1)? as usize);
            let to = field(p, 2).map(|ip| {
                let port = num(p, 3).unwrap_or(0) as u16;
                (String::from_utf8_lossy(ip).into_owned(), port)
            });
            if !matches!(self.handles.get(id), Some(HState::Open(_))) {
                return Some(self.error(Fault::Error));
            }
            if fault == Fault::Late {
                // A prompt that comes late is a lost prompt.
                return None;
            }
            self.payload = Some(PayloadWait {
                handle: id,
                len,
                fail: fault == Fault::SendFail,
                to,
            });
            return Some(Answer {
                fin: b"\r\n> ".to_vec(),
                ..Answer::default()
            });
        }
        if let Some(p) = line.strip_prefix(b"AT+QIRD=") {
            let id = num(p, 0)? as usize;
            let owner = self.owner(id as u32);
            let data = self.queues.get_mut(id).and_then(|q| q.pop_front());
            let unconnected = self.unconnected.get(id) == Some(&true);
            return Some(match (data, owner) {
                (Some((d, from)), Some(slot)) => {
                    let mut body = format!("\r\n+QIRD: {},\"{}\",{}\r\n", d.len(), from.0, from.1)
                        .into_bytes();
                    body.extend_from_slice(&d);
                    body.extend_from_slice(b"\r\n");
                    self.notes
                        .push(Note::Read(slot, d, unconnected.then_some(from)));
                    Answer {
                        body,
                        fin: ok(),
                        has_payload: true,
                    }
                }
                _ => Answer {
                    body: b"\r\n+QIRD: 0\r\n".to_vec(),
                    fin: ok(),
                    has_payload: false,
                },
            });
        }
        if let Some(p) = line.strip_prefix(b"AT+QIDNSGIP=") {
            // <cid>,"<name>": OK now, the outcome and the addresses as URCs.
            let name = field(p, 1).unwrap_or(b"");
            let addrs = dns(name);
            let mut fin = ok();
            if addrs.is_empty() {
                fin.extend_from_slice(b"\r\n+QIURC: \"dnsgip\",565\r\n");
            } else {
                fin.extend_from_slice(
                    format!("\r\n+QIURC: \"dnsgip\",0,{},600\r\n", addrs.len()).as_bytes(),
                );
                for a in addrs {
                    fin.extend_from_slice(format!("\r\n+QIURC: \"dnsgip\",\"{a}\"\r\n").as_bytes());
                }
            }
            return Some(Answer {
                fin,
                ..Answer::default()
            });
        }
        if let Some(p) = line.strip_prefix(b"AT+QICLOSE=") {
            let id = num(p, 0)? as usize;
            if let Some(h) = self.handles.get_mut(id) {
                *h = HState::Free;
                self.queues[id].clear();
            }
            return plain(b"");
        }
        self.notes.push(Note::Unknown(line.to_vec()));
        plain(b"")
    }

    fn nrf91(&mut self, line: &[u8], fault: Fault, refused: bool) -> Option<Answer> {
        let plain = |body: &[u8]| {
            Some(Answer {
                body: body.to_vec(),
                fin: ok(),
                has_payload: false,
            })
        };
        if let Some(p) = line.strip_prefix(b"AT#XRECVFROM=") {
            // Nothing waiting is an ERROR here, so a refusal is just that.
            let h = num(p, 0)? as usize;
            let owner = self.owner(h as u32);
            let data = match (refused, owner) {
                (false, Some(_)) => self.queues.get_mut(h).and_then(|q| q.pop_front()),
                _ => None,
            };
            let Some((d, from)) = data else {
                return Some(self.error(fault));
            };
            let unconnected = self.unconnected.get(h) == Some(&true);
            // An empty datagram comes as a bare OK: no header, so no sender.
            self.notes.push(Note::Read(
                owner.unwrap_or(0),
                d.clone(),
                (unconnected && !d.is_empty()).then(|| from.clone()),
            ));
            if d.is_empty() {
                // The Serial Modem answers a read of an empty datagram with a bare OK.
                return plain(b"");
            }
            let mut body = format!(
                "\r\n#XRECVFROM: {h},0,{},\"{}\",{}\r\n",
                d.len(),
                from.0,
                from.1
            )
            .into_bytes();
            body.extend_from_slice(&d);
            return Some(Answer {
                body,
                fin: ok(),
                has_payload: true,
            });
        }
        if refused {
            return Some(self.error(fault));
        }
        match line {
            b"AT" | b"ATE0" | b"AT+CMEE=1" | b"AT+CEREG=1" | b"AT+CGEREP=1" | b"AT+CFUN=1" => {
                return plain(b"")
            }
            b"AT#XCLOSE" => {
                self.handles = [HState::Free; HANDLES];
                self.queues = Default::default();
                return plain(b"");
            }
            b"AT+CPIN?" => return plain(b"\r\n+CPIN: READY\r\n"),
            b"AT+CESQ" => return plain(b"\r\n+CESQ: 99,99,255,255,20,52\r\n"),
            b"AT+CEREG?" => return plain(format!("\r\n+CEREG: 1,{}\r\n", self.reg).as_bytes()),
            b"AT+CGPADDR=0" if self.pdp => return plain(b"\r\n+CGPADDR: 0,\"10.0.0.2\"\r\n"),
            b"AT+CGPADDR=0" => return plain(b"\r\n+CGPADDR: 0\r\n"),
            b"AT+CGACT=1,0" => {
                self.pdp = true;
                return plain(b"");
            }
            b"AT+CGACT=0,0" => {
                self.pdp_lost();
                return plain(b"");
            }
            _ => {}
        }
        if line.starts_with(b"AT#XRECVCFG=")
            || line.starts_with(b"AT#XAPOLL=")
            || line.starts_with(b"AT+CGDCONT=")
        {
            return plain(b"");
        }
        if let Some(p) = line.strip_prefix(b"AT#XBIND=") {
            // <handle>,<port>: a port in the bind range makes an unconnected socket
            // (an #XCONNECT may follow and connect it).
            let h = num(p, 0)? as usize;
            let port = num(p, 1)?;
            if self.handles.get(h) != Some(&HState::Allocated) {
                return Some(self.error(Fault::Error));
            }
            if let Some(slot) = local_slot(port) {
                self.opened(h, Some(slot));
                self.unconnected[h] = true;
            }
            self.lports[h] = port as u16;
            return plain(b"");
        }
        if let Some(p) = line.strip_prefix(b"AT#XGETADDRINFO=") {
            // "<name>"[,<family>]: 1 IPv4, 2 IPv6.
            let name = field(p, 0).unwrap_or(b"");
            let family = num(p, 1);
            let addrs: Vec<&str> = dns(name)
                .iter()
                .copied()
                .filter(|a| match family {
                    Some(1) => !a.contains(':'),
                    Some(2) => a.contains(':'),
                    _ => true,
                })
                .collect();
            if addrs.is_empty() {
                return Some(Answer {
                    body: b"\r\n#XGETADDRINFO: \"DNS failure\"\r\n".to_vec(),
                    fin: b"\r\nERROR\r\n".to_vec(),
                    has_payload: false,
                });
            }
            return plain(format!("\r\n#XGETADDRINFO: \"{}\"\r\n", addrs.join(" ")).as_bytes());
        }
        if line.starts_with(b"AT#XSOCKET=") {
            let Some(h) = (0..8).find(|&h| self.handles[h] == HState::Free) else {
                return Some(self.error(Fault::Error));
            };
            self.handles[h] = HState::Allocated;
            self.openers[h] = None;
            return plain(format!("\r\n#XSOCKET: {h},2,17\r\n").as_bytes());
        }
        if let Some(p) = line.strip_prefix(b"AT#XCONNECT=") {
            let h = num(p, 0)? as usize;
            let host = field(p, 1).unwrap_or(b"").to_vec();
            self.check_host(&host);
            let slot = num(p, 2).and_then(port_slot);
            if let Some(o) = self.openers.get_mut(h) {
                *o = slot;
            }
            let bound = matches!(self.handles.get(h), Some(HState::Open(_)))
                && self.unconnected.get(h) == Some(&true);
            if self.handles.get(h) != Some(&HState::Allocated) && !bound {
                return Some(self.error(Fault::Error));
            }
            self.opened(h, slot);
            return plain(format!("\r\n#XCONNECT: {h},1\r\n").as_bytes());
        }
        if let Some(p) = line.strip_prefix(b"AT#XSENDTO=") {
            // <handle>,2,<flags>,"<ip>",<port>,<len>
            let (h, len) = (num(p, 0)? as usize, num(p, 5)? as usize);
            let ip = String::from_utf8_lossy(field(p, 3)?).into_owned();
            let to = Some((ip, num(p, 4)? as u16));
            return self.nrf91_send(h, len, to, fault);
        }
        if let Some(p) = line.strip_prefix(b"AT#XSEND=") {
            let (h, len) = (num(p, 0)? as usize, num(p, 3)? as usize);
            return self.nrf91_send(h, len, None, fault);
        }
        if let Some(p) = line.strip_prefix(b"AT#XCLOSE=") {
            let h = num(p, 0)? as usize;
            if let Some(s) = self.handles.get_mut(h) {
                *s = HState::Free;
                self.queues[h].clear();
            }
            return plain(format!("\r\n#XCLOSE: {h},0\r\n").as_bytes());
        }
        if line.starts_with(b"AT#XSOCKETOPT=") {
            // Release assistance, the idle hint of queue mode: a bare OK (refused
            // above like any command when the fault says so); nothing to model.
            return plain(b"");
        }
        self.notes.push(Note::Unknown(line.to_vec()));
        plain(b"")
    }

    fn nrf91_send(
        &mut self,
        h: usize,
        len: usize,
        to: Option<Peer>,
        fault: Fault,
    ) -> Option<Answer> {
        if !matches!(self.handles.get(h), Some(HState::Open(_))) {
            return Some(self.error(Fault::Error));
        }
        if fault == Fault::Late {
            return None;
        }
        self.payload = Some(PayloadWait {
            handle: h,
            len,
            fail: fault == Fault::SendFail,
            to,
        });
        Some(Answer {
            fin: ok(),
            ..Answer::default()
        })
    }

    /// The payload of a send was taken: the answer that ends the send.
    pub fn payload_done(&mut self, wait: PayloadWait, payload: Vec<u8>) -> Answer {
        let owner = self.owner(wait.handle as u32);
        self.notes
            .push(Note::Payload(owner, payload, !wait.fail, wait.to.clone()));
        let fin = match (self.dialect, wait.fail) {
            (Dialect::Bg96, false) => b"\r\nSEND OK\r\n".to_vec(),
            (Dialect::Bg96, true) => b"\r\nSEND FAIL\r\n".to_vec(),
            (Dialect::Nrf91, false) => b"\r\n#XDATAMODE: 0\r\n".to_vec(),
            (Dialect::Nrf91, true) => b"+++\r\n#XDATAMODE: -1\r\n".to_vec(),
        };
        Answer {
            fin,
            ..Answer::default()
        }
    }

    /// An honest datagram for `handle`: pushed (bytes to feed), or queued in the
    /// modem with its notification (bytes to feed). Returns the bytes and whether
    /// the datagram can reach a socket through them now (pushed to an open handle).
    pub fn datagram(&mut self, handle: u32, pushed: bool, data: &[u8], from: &Peer) -> Vec<u8> {
        let unconnected = self.is_unconnected(handle);
        let (ip, port) = from;
        match (self.dialect, pushed) {
            (Dialect::Bg96, true) => {
                let mut b = if unconnected {
                    format!(
                        "\r\n+QIURC: \"recv\",{handle},{},\"{ip}\",{port}\r\n",
                        data.len()
                    )
                } else {
                    format!("\r\n+QIURC: \"recv\",{handle},{}\r\n", data.len())
                }
                .into_bytes();
                b.extend_from_slice(data);
                b.extend_from_slice(b"\r\n");
                b
            }
            (Dialect::Nrf91, true) if data.is_empty() => b"\r\n".to_vec(),
            (Dialect::Nrf91, true) => {
                let mut b = if unconnected {
                    format!(
                        "\r\n#XRECVFROM: {handle},0,{},\"{ip}\",{port}\r\n",
                        data.len()
                    )
                } else {
                    format!("\r\n#XRECV: {handle},0,{}\r\n", data.len())
                }
                .into_bytes();
                b.extend_from_slice(data);
                b.extend_from_slice(b"\r\n");
                b
            }
            (dialect, false) => {
                if self.owner(handle).is_some() {
                    self.queues[handle as usize].push_back((data.to_vec(), from.clone()));
                }
                match dialect {
                    Dialect::Bg96 => format!("\r\n+QIURC: \"recv\",{handle}\r\n").into_bytes(),
                    Dialect::Nrf91 => format!("\r\n#XAPOLL: {handle},1\r\n").into_bytes(),
                }
            }
        }
    }
}
