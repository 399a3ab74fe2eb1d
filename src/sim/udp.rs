//! Real UDP behind the simulated modems, on the loopback interface.
//!
//! Each socket a simulated modem opens is a [`std::net::UdpSocket`] bound on the
//! loopback address and connected to the remote, in non-blocking mode: datagrams
//! really leave and arrive, and the simulator only ever asks "is there one now?".
//! [`EchoServer`] is the other end the examples and tests talk to.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Resolve `host` with the host's resolver, preferring IPv4. Names under the
/// reserved `.invalid` top-level domain never resolve (RFC 6761), without asking
/// anyone, so tests of DNS failures are fast and need no network.
pub fn resolve(host: &str, port: u16) -> Option<SocketAddr> {
    let lower = host.to_ascii_lowercase();
    if lower == "invalid" || lower.ends_with(".invalid") || lower.ends_with(".invalid.") {
        return None;
    }
    let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().ok()?.collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
}

/// Every address `host` resolves to with the host's resolver, IPv4 first; none for
/// names under `.invalid` (as [`resolve`]). For the modems' own DNS commands.
pub fn resolve_all(host: &str) -> Vec<IpAddr> {
    if resolve(host, 0).is_none() {
        return Vec::new();
    }
    let mut addrs: Vec<IpAddr> = match (host, 0).to_socket_addrs() {
        Ok(a) => a.map(|a| a.ip()).collect(),
        Err(_) => return Vec::new(),
    };
    addrs.sort_by_key(|a| a.is_ipv6());
    addrs.dedup();
    addrs
}

/// A non-blocking, unconnected UDP socket on the loopback address of the family
/// (`v6`), port `local_port` (0: chosen by the system).
pub fn open_unconnected(local_port: u16, v6: bool) -> io::Result<UdpSocket> {
    let ip = if v6 {
        IpAddr::V6(Ipv6Addr::LOCALHOST)
    } else {
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    };
    let sock = UdpSocket::bind(SocketAddr::new(ip, local_port))?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// [`try_recv`] on an unconnected socket: the datagram and its sender.
pub fn try_recv_from(sock: &UdpSocket, buf: &mut [u8], max: usize) -> (Recv, Option<SocketAddr>) {
    loop {
        match sock.recv_from(buf) {
            Ok((n, from)) if n > max => return (Recv::TooLong, Some(from)),
            Ok((n, from)) => return (Recv::Datagram(n), Some(from)),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(_) => return (Recv::Empty, None),
        }
    }
}

/// Send one datagram to `to` on an unconnected socket; true when the system took
/// it whole.
pub fn send_to(sock: &UdpSocket, data: &[u8], to: SocketAddr) -> bool {
    for _ in 0..2 {
        match sock.send_to(data, to) {
            Ok(n) => return n == data.len(),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(_) => return false,
        }
    }
    false
}

/// Why a modem socket could not be opened.
#[derive(Debug)]
pub enum OpenError {
    /// The local port could not be bound (in use, or not allowed).
    Bind(io::Error),
    /// The socket could not be connected to the remote.
    Connect(io::Error),
}

/// A non-blocking UDP socket bound on the loopback address of the remote's family
/// (port `local_port`, 0: chosen by the system) and connected to `remote`.
pub fn open_connected(local_port: u16, remote: SocketAddr) -> Result<UdpSocket, OpenError> {
    let local_ip = match remote.ip() {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
    };
    let sock = UdpSocket::bind(SocketAddr::new(local_ip, local_port)).map_err(OpenError::Bind)?;
    sock.connect(remote).map_err(OpenError::Connect)?;
    sock.set_nonblocking(true).map_err(OpenError::Connect)?;
    Ok(sock)
}

/// What one non-blocking receive found.
#[derive(Debug, PartialEq, Eq)]
pub enum Recv {
    /// A datagram of this length is in the buffer.
    Datagram(usize),
    /// A datagram longer than the buffer arrived and was dropped.
    TooLong,
    /// Nothing waiting now.
    Empty,
}

/// Take one datagram if one is waiting. `buf` should be one byte longer than the
/// largest datagram accepted, so that a longer one is recognised and dropped.
/// Errors left by ICMP messages (port unreachable) are skipped.
pub fn try_recv(sock: &UdpSocket, buf: &mut [u8], max: usize) -> Recv {
    loop {
        match sock.recv(buf) {
            Ok(n) if n > max => return Recv::TooLong,
            Ok(n) => return Recv::Datagram(n),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(_) => return Recv::Empty,
        }
    }
}

/// Send one datagram on a connected socket; true when the system took it whole.
/// One retry covers the error an earlier ICMP message leaves on the socket.
pub fn send(sock: &UdpSocket, data: &[u8]) -> bool {
    for _ in 0..2 {
        match sock.send(data) {
            Ok(n) => return n == data.len(),
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
            Err(_) => return false,
        }
    }
    false
}

#[derive(Debug, Default)]
struct EchoLog {
    datagrams: Vec<Vec<u8>>,
    bytes: u64,
}

/// A UDP echo server on 127.0.0.1 in its own thread: every datagram is sent back
/// to where it came from, unchanged, and kept in a log the test can inspect.
///
/// The thread blocks in the system's receive call (with a short timeout to notice
/// [`EchoServer::stop`]); it is the only blocking part of the simulator, and it
/// stands for the far end of the network, not for the modem.
#[derive(Debug)]
pub struct EchoServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<EchoLog>>,
    thread: Option<JoinHandle<()>>,
}

impl EchoServer {
    /// Start on 127.0.0.1 with a port chosen by the system.
    pub fn start() -> io::Result<Self> {
        Self::start_on(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0))
    }

    /// Start on `addr`.
    pub fn start_on(addr: SocketAddr) -> io::Result<Self> {
        let sock = UdpSocket::bind(addr)?;
        sock.set_read_timeout(Some(Duration::from_millis(20)))?;
        let addr = sock.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(EchoLog::default()));
        let (stop2, log2) = (stop.clone(), log.clone());
        let thread = std::thread::Builder::new()
            .name("udp-echo".into())
            .spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop2.load(Ordering::Relaxed) {
                    let Ok((n, from)) = sock.recv_from(&mut buf) else {
                        continue;
                    };
                    let data = buf.get(..n).unwrap_or_default();
                    {
                        let mut l = log2.lock().unwrap_or_else(PoisonError::into_inner);
                        l.datagrams.push(data.to_vec());
                        l.bytes += n as u64;
                    }
                    let _ = sock.send_to(data, from);
                }
            })?;
        Ok(EchoServer {
            addr,
            stop,
            log,
            thread: Some(thread),
        })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Datagrams received so far.
    pub fn count(&self) -> usize {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .datagrams
            .len()
    }

    /// Payload bytes received so far.
    pub fn bytes(&self) -> u64 {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .bytes
    }

    /// A copy of every datagram received so far, in arrival order.
    pub fn received(&self) -> Vec<Vec<u8>> {
        self.log
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .datagrams
            .clone()
    }

    /// Stop the thread and wait for it to end.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.stop();
    }
}
