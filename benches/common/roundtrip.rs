//! One datagram round trip through the driver on the replay transport: the
//! application sends N bytes (`AT+QISEND`, prompt, payload, `SEND OK`) and receives N
//! bytes pushed by the modem (`+QIURC: "recv",0,N` and the bytes). The modem's side
//! is pre-built bytes, so what is measured is the driver (and the in-memory UART).
#![allow(dead_code)]

use cellsock::modems::bg96::Bg96;
use cellsock::replay::{ReplayUart, VirtualClock};
use cellsock::{AddressFamily, Config, Driver, Error, NetStack, SocketHandle};

/// The driver type measured: 2 sockets, 2 KiB receive ring each.
pub type BenchDriver = Driver<Bg96, 2, 2048>;

/// A connected socket on a scripted BG96, ready for round trips.
pub struct RoundTrip {
    stack: NetStack<'static, Bg96, ReplayUart, VirtualClock, 2, 2048>,
    socket: SocketHandle,
    payload: Vec<u8>,
    command: Vec<u8>,
    push: Vec<u8>,
    buf: Vec<u8>,
}

/// What a healthy BG96 answers to a command line during bring-up.
fn answer(line: &str) -> Vec<u8> {
    if line == "AT+QIACT?" {
        b"\r\n+QIACT: 1,1,1,\"10.0.0.2\"\r\n\r\nOK\r\n".to_vec()
    } else if line == "AT+CPIN?" {
        b"\r\n+CPIN: READY\r\n\r\nOK\r\n".to_vec()
    } else if line == "AT+CEREG?" {
        b"\r\n+CEREG: 1,1\r\n\r\nOK\r\n".to_vec()
    } else if let Some(rest) = line.strip_prefix("AT+QIOPEN=1,") {
        let id = rest.split(',').next().unwrap_or("0");
        format!("\r\nOK\r\n\r\n+QIOPEN: {id},0\r\n").into_bytes()
    } else if let Some(id) = line.strip_prefix("AT+QISTATE=1,") {
        format!("\r\n+QISTATE: {id},\"UDP\",\"192.0.2.1\",5683,40000,2,1,{id},1,\"uart1\"\r\n\r\nOK\r\n")
            .into_bytes()
    } else {
        b"\r\nOK\r\n".to_vec()
    }
}

impl RoundTrip {
    /// Bring the modem up and connect a socket; round trips of `len` bytes.
    pub fn new(len: usize) -> Self {
        let driver: &'static mut BenchDriver = Box::leak(Box::new(Driver::new(
            Bg96::new(),
            Config::new("internet").unwrap(),
        )));
        let mut stack = NetStack::new(driver, ReplayUart::new(None), VirtualClock::new());
        let socket = stack.create(AddressFamily::Unspecified).unwrap();
        loop {
            match stack.connect(socket, "192.0.2.1", "5683") {
                Ok(()) => break,
                Err(Error::InProgress) => {}
                Err(e) => panic!("connect failed: {e:?}"),
            }
            let written = stack.uart.written().to_vec();
            if let Some(end) = written.iter().position(|&b| b == b'\r') {
                let line = String::from_utf8_lossy(&written[..end]).into_owned();
                stack.uart.take_written(end + 1);
                stack.uart.feed(&answer(&line));
            }
        }
        let payload: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let command = format!("AT+QISEND=0,{len}\r").into_bytes();
        let mut push = format!("\r\n+QIURC: \"recv\",0,{len}\r\n").into_bytes();
        push.extend_from_slice(&payload);
        RoundTrip {
            stack,
            socket,
            payload,
            command,
            push,
            buf: vec![0; 1500],
        }
    }

    /// UART bytes one round trip puts on the line, both directions.
    pub fn uart_bytes_per_round_trip(&self) -> usize {
        self.command.len() + 4 + self.payload.len() + 11 + self.push.len()
    }

    /// One send and one receive; returns the bytes received.
    pub fn once(&mut self) -> usize {
        let st = &mut self.stack;
        assert_eq!(st.send(self.socket, &self.payload), Err(Error::InProgress));
        debug_assert_eq!(st.uart.written(), &self.command[..]);
        st.uart.take_written(usize::MAX);
        st.uart.feed(b"\r\n> ");
        st.poll();
        debug_assert_eq!(st.uart.written().len(), self.payload.len());
        st.uart.take_written(usize::MAX);
        st.uart.feed(b"\r\nSEND OK\r\n");
        assert_eq!(st.send(self.socket, &self.payload), Ok(self.payload.len()));
        st.uart.feed(&self.push);
        let n = st.recv(self.socket, &mut self.buf).unwrap();
        debug_assert_eq!(&self.buf[..n], &self.payload[..]);
        n
    }
}
