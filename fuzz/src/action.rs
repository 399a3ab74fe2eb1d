//! The program a driver target runs: one action per step, decoded from the
//! fuzzer's bytes (an opcode byte, then its operands), and encoded back for seeds.

use crate::input::{Reader, Writer};

/// Longest datagram an action carries.
pub const MAX_DATA: usize = 2100;

/// One step of a driver run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `create` (0 unspecified, 1 IPv4, 2 IPv6).
    Create { family: u8 },
    /// `connect` to one of the well-formed hosts, on a port that names the slot;
    /// with `repeat`, called again (the modem answering, time passing) until it
    /// stops answering "in progress".
    Connect {
        sock: u8,
        host: u8,
        port: u8,
        repeat: bool,
    },
    /// `connect` with arbitrary host and port text: refused before anything is
    /// queued when either is bad.
    ConnectBad {
        sock: u8,
        host: Vec<u8>,
        port: Vec<u8>,
    },
    /// `send` of these bytes.
    Send {
        sock: u8,
        data: Vec<u8>,
        repeat: bool,
    },
    /// `send` of `len` bytes of `fill` (big datagrams in few input bytes).
    SendSized {
        sock: u8,
        len: u16,
        fill: u8,
        repeat: bool,
    },
    /// `recv` with a buffer of one of a few sizes.
    Recv { sock: u8, buf: u8 },
    /// `shutdown`.
    Shutdown { sock: u8 },
    /// `close`.
    Close { sock: u8, repeat: bool },
    /// `cleanup`.
    Cleanup { sock: u8, repeat: bool },
    /// A query: state, mtu, counters, local port, reuse_last_port, rx_off, ...
    Query { sock: u8, what: u8 },
    /// `next_event`.
    Event,
    /// An honest datagram from the modem for a handle (pushed, or announced and
    /// read), fed now or inside the next answer.
    Datagram {
        target: u8,
        form: u8,
        when: u8,
        data: Vec<u8>,
    },
    /// The same with `len` bytes of `fill`.
    DatagramSized {
        target: u8,
        form: u8,
        when: u8,
        len: u16,
        fill: u8,
    },
    /// A well-formed unsolicited result (registration, closed, context lost,
    /// incoming full, boot, stray final, ...).
    Urc { kind: u8, arg: u8, when: u8 },
    /// A junk line (never a payload header).
    Junk { when: u8, data: Vec<u8> },
    /// Arbitrary modem bytes: from here on only the checks that hold for any
    /// input apply.
    Raw { data: Vec<u8> },
    /// A payload header that lies about its length.
    Lie {
        target: u8,
        kind: u8,
        len: u16,
        data: Vec<u8>,
    },
    /// How the modem answers the next command.
    Fault { kind: u8, arg: u8 },
    /// Let time pass.
    Advance { kind: u8 },
    /// How modem bytes are cut into reads from now on (0: whole).
    Chunking { seed: u8 },
    /// Just poll.
    Poll,
    /// `bind` (an unconnected socket) on a local port that names the slot.
    Bind { sock: u8, port: u8, repeat: bool },
    /// `send_to` one of a few destinations (one with port 0).
    SendTo {
        sock: u8,
        to: u8,
        data: Vec<u8>,
        repeat: bool,
    },
    /// `resolve` one of a few names (resolvable, not, literals, malformed).
    Resolve { name: u8, family: u8, repeat: bool },
}

const OPS: u8 = 24;

impl Action {
    /// Decode one action.
    pub fn decode(r: &mut Reader<'_>) -> Action {
        match r.u8() % OPS {
            0 => Action::Create { family: r.u8() },
            1 => Action::Connect {
                sock: r.u8(),
                host: r.u8(),
                port: r.u8(),
                repeat: r.u8() & 1 == 1,
            },
            2 => Action::ConnectBad {
                sock: r.u8(),
                host: r.short_bytes(),
                port: r.short_bytes(),
            },
            3 => Action::Send {
                sock: r.u8(),
                data: r.long_bytes(MAX_DATA),
                repeat: r.u8() & 1 == 1,
            },
            4 => Action::SendSized {
                sock: r.u8(),
                len: r.u16(),
                fill: r.u8(),
                repeat: r.u8() & 1 == 1,
            },
            5 => Action::Recv {
                sock: r.u8(),
                buf: r.u8(),
            },
            6 => Action::Shutdown { sock: r.u8() },
            7 => Action::Close {
                sock: r.u8(),
                repeat: r.u8() & 1 == 1,
            },
            8 => Action::Cleanup {
                sock: r.u8(),
                repeat: r.u8() & 1 == 1,
            },
            9 => Action::Query {
                sock: r.u8(),
                what: r.u8(),
            },
            10 => Action::Event,
            11 => Action::Datagram {
                target: r.u8(),
                form: r.u8(),
                when: r.u8(),
                data: r.long_bytes(MAX_DATA),
            },
            12 => Action::DatagramSized {
                target: r.u8(),
                form: r.u8(),
                when: r.u8(),
                len: r.u16(),
                fill: r.u8(),
            },
            13 => Action::Urc {
                kind: r.u8(),
                arg: r.u8(),
                when: r.u8(),
            },
            14 => Action::Junk {
                when: r.u8(),
                data: r.short_bytes(),
            },
            15 => Action::Raw {
                data: r.long_bytes(MAX_DATA),
            },
            16 => Action::Lie {
                target: r.u8(),
                kind: r.u8(),
                len: r.u16(),
                data: r.short_bytes(),
            },
            17 => Action::Fault {
                kind: r.u8(),
                arg: r.u8(),
            },
            18 => Action::Advance { kind: r.u8() },
            19 => Action::Chunking { seed: r.u8() },
            21 => Action::Bind {
                sock: r.u8(),
                port: r.u8(),
                repeat: r.u8() & 1 == 1,
            },
            22 => Action::SendTo {
                sock: r.u8(),
                to: r.u8(),
                data: r.long_bytes(MAX_DATA),
                repeat: r.u8() & 1 == 1,
            },
            23 => Action::Resolve {
                name: r.u8(),
                family: r.u8(),
                repeat: r.u8() & 1 == 1,
            },
            _ => Action::Poll,
        }
    }

    /// Encode it back (seeds).
    pub fn encode(&self, w: &mut Writer) {
        match self {
            Action::Create { family } => {
                w.u8(0).u8(*family);
            }
            Action::Connect {
                sock,
                host,
                port,
                repeat,
            } => {
                w.u8(1).u8(*sock).u8(*host).u8(*port).u8(*repeat as u8);
            }
            Action::ConnectBad { sock, host, port } => {
                w.u8(2).u8(*sock).short_bytes(host).short_bytes(port);
            }
            Action::Send { sock, data, repeat } => {
                w.u8(3).u8(*sock).long_bytes(data).u8(*repeat as u8);
            }
            Action::SendSized {
                sock,
                len,
                fill,
                repeat,
            } => {
                w.u8(4).u8(*sock).u16(*len).u8(*fill).u8(*repeat as u8);
            }
            Action::Recv { sock, buf } => {
                w.u8(5).u8(*sock).u8(*buf);
            }
            Action::Shutdown { sock } => {
                w.u8(6).u8(*sock);
            }
            Action::Close { sock, repeat } => {
                w.u8(7).u8(*sock).u8(*repeat as u8);
            }
            Action::Cleanup { sock, repeat } => {
                w.u8(8).u8(*sock).u8(*repeat as u8);
            }
            Action::Query { sock, what } => {
                w.u8(9).u8(*sock).u8(*what);
            }
            Action::Event => {
                w.u8(10);
            }
            Action::Datagram {
                target,
                form,
                when,
                data,
            } => {
                w.u8(11).u8(*target).u8(*form).u8(*when).long_bytes(data);
            }
            Action::DatagramSized {
                target,
                form,
                when,
                len,
                fill,
            } => {
                w.u8(12).u8(*target).u8(*form).u8(*when).u16(*len).u8(*fill);
            }
            Action::Urc { kind, arg, when } => {
                w.u8(13).u8(*kind).u8(*arg).u8(*when);
            }
            Action::Junk { when, data } => {
                w.u8(14).u8(*when).short_bytes(data);
            }
            Action::Raw { data } => {
                w.u8(15).long_bytes(data);
            }
            Action::Lie {
                target,
                kind,
                len,
                data,
            } => {
                w.u8(16).u8(*target).u8(*kind).u16(*len).short_bytes(data);
            }
            Action::Fault { kind, arg } => {
                w.u8(17).u8(*kind).u8(*arg);
            }
            Action::Advance { kind } => {
                w.u8(18).u8(*kind);
            }
            Action::Chunking { seed } => {
                w.u8(19).u8(*seed);
            }
            Action::Poll => {
                w.u8(20);
            }
            Action::Bind { sock, port, repeat } => {
                w.u8(21).u8(*sock).u8(*port).u8(*repeat as u8);
            }
            Action::SendTo {
                sock,
                to,
                data,
                repeat,
            } => {
                w.u8(22)
                    .u8(*sock)
                    .u8(*to)
                    .long_bytes(data)
                    .u8(*repeat as u8);
            }
            Action::Resolve {
                name,
                family,
                repeat,
            } => {
                w.u8(23).u8(*name).u8(*family).u8(*repeat as u8);
            }
        }
    }
}

/// Encode a whole program after its two configuration bytes.
pub fn program(config: u8, chunking: u8, actions: &[Action]) -> Vec<u8> {
    let mut w = Writer::default();
    w.u8(config).u8(chunking);
    for a in actions {
        a.encode(&mut w);
    }
    w.0
}
