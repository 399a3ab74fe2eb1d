//! A scripted BG96 and nRF91 Serial Modem for tests that need a healthy modem
//! without the simulator: they answer each complete command line the driver
//! wrote, echoing nothing.
#![allow(dead_code)]

use cellsock::modems::bg96::Bg96;
use cellsock::modems::nrf91_slm::Nrf91Slm;
use cellsock::replay::{ReplayUart, VirtualClock};
use cellsock::NetStack;

/// Answer whatever complete command lines the driver wrote, like a healthy BG96;
/// returns the lines answered.
pub fn answer<const N: usize, const RX: usize>(
    stack: &mut NetStack<'_, Bg96, ReplayUart, VirtualClock, N, RX>,
) -> Vec<String> {
    let mut lines = Vec::new();
    stack.poll();
    loop {
        let written = stack.uart.written().to_vec();
        let Some(end) = written.iter().position(|&b| b == b'\r') else {
            break;
        };
        let line = String::from_utf8_lossy(&written[..end]).into_owned();
        stack.uart.take_written(end + 1);
        lines.push(line.clone());
        let reply: Vec<u8> = if line == "AT+QIACT?" {
            b"\r\n+QIACT: 1,1,1,\"10.0.0.2\"\r\n\r\nOK\r\n".to_vec()
        } else if line == "AT+CPIN?" {
            b"\r\n+CPIN: READY\r\n\r\nOK\r\n".to_vec()
        } else if line == "AT+CEREG?" {
            b"\r\n+CEREG: 1,1\r\n\r\nOK\r\n".to_vec()
        } else if let Some(rest) = line.strip_prefix("AT+QIOPEN=1,") {
            let id = rest.split(',').next().unwrap_or("0");
            format!("\r\nOK\r\n\r\n+QIOPEN: {id},0\r\n").into_bytes()
        } else if let Some(id) = line.strip_prefix("AT+QISTATE=1,") {
            format!("\r\n+QISTATE: {id},\"UDP\",\"192.0.2.1\",5683,4000{id},2,1,{id},1,\"uart1\"\r\n\r\nOK\r\n")
                .into_bytes()
        } else if let Some(rest) = line.strip_prefix("AT+QISEND=") {
            let len: usize = rest
                .split(',')
                .nth(1)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            stack.uart.feed(b"\r\n> ");
            stack.poll();
            let payload = stack.uart.take_written(len);
            assert_eq!(payload.len(), len, "the whole payload follows the prompt");
            b"\r\nSEND OK\r\n".to_vec()
        } else {
            b"\r\nOK\r\n".to_vec()
        };
        stack.uart.feed(&reply);
        stack.poll();
    }
    lines
}

/// What a healthy nRF91 Serial Modem on the default bearer answers to `line` (a
/// command without its terminator): the bring-up, and one open on handle 0.
pub fn nrf91_answer(line: &[u8]) -> &'static [u8] {
    match line {
        b"AT+CPIN?" => b"\r\n+CPIN: READY\r\n\r\nOK\r\n",
        b"AT+CEREG?" => b"\r\n+CEREG: 1,1\r\n\r\nOK\r\n",
        b"AT+CGPADDR=0" => b"\r\n+CGPADDR: 0,\"10.0.0.2\"\r\n\r\nOK\r\n",
        l if l.starts_with(b"AT#XSOCKET=") => b"\r\n#XSOCKET: 0,2,17\r\n\r\nOK\r\n",
        l if l.starts_with(b"AT#XCONNECT=") => b"\r\n#XCONNECT: 0,1\r\n\r\nOK\r\n",
        _ => b"\r\nOK\r\n",
    }
}

/// Answer whatever complete command lines an nRF91 driver wrote, with
/// [`nrf91_answer`]; returns the lines answered.
pub fn answer_nrf91<const N: usize, const RX: usize>(
    net: &mut NetStack<'_, Nrf91Slm, ReplayUart, VirtualClock, N, RX>,
) -> Vec<String> {
    let mut lines = Vec::new();
    net.poll();
    while let Some(end) = net.uart.written().iter().position(|&b| b == b'\r') {
        let line = net.uart.take_written(end + 1);
        let line = line.get(..end).unwrap_or(&[]);
        lines.push(String::from_utf8_lossy(line).into_owned());
        net.uart.feed(nrf91_answer(line));
        net.poll();
    }
    lines
}
