//! The simulated nRF91 Serial Modem itself, at the AT level (no driver): boot,
//! radio and contexts, sockets, data-mode send, both ways of receiving (with the
//! firmware's zero-length quirk and one-shot `#XAPOLL`), URCs held back, faults.

use cellsock::modems::nrf91_slm::sim::{Latency, Nrf91Sim, Nrf91SimConfig, Start};
use cellsock::sim::udp::EchoServer;
use cellsock::sim::{Fault, Line, SimModem};

use crate::terminal::Terminal;

fn terminal(start: Start) -> Terminal<Nrf91Sim> {
    let cfg = Nrf91SimConfig {
        start,
        latency: Latency::ZERO,
        boot_ms: 10,
        sim_ready_ms: 20,
        register_ms: 30,
        pdn_ms: 5,
        reactivate_ms: 50,
        ..Nrf91SimConfig::default()
    };
    let (sim, uart) = Nrf91Sim::with_line(Line::instant(), cfg);
    Terminal::new(sim, uart)
}

/// A running modem (configured by an earlier MCU run) with handle 0 connected to
/// `echo`, reception as `recvcfg` and `apoll` say.
fn connected(echo: &EchoServer, recvcfg: &str, apoll: &str) -> Terminal<Nrf91Sim> {
    let mut m = terminal(Start::Running);
    assert_eq!(m.at(recvcfg), "\r\nOK\r\n");
    assert_eq!(m.at(apoll), "\r\nOK\r\n");
    assert_eq!(
        m.at("AT#XSOCKET=1,2,0"),
        "\r\n#XSOCKET: 0,2,17\r\n\r\nOK\r\n"
    );
    let port = echo.port();
    assert_eq!(
        m.at(&format!("AT#XCONNECT=0,\"127.0.0.1\",{port}")),
        "\r\n#XCONNECT: 0,1\r\n\r\nOK\r\n"
    );
    m
}

#[test]
fn nrf91_sim_answers_as_the_firmware_does() {
    let echo = EchoServer::start().unwrap();
    let port = echo.port();
    let mut m = terminal(Start::PowerOn);
    assert_eq!(m.wait("Ready\r\n"), "\r\nReady\r\n");
    assert_eq!(m.at("AT"), "\r\nOK\r\n", "echo is off");
    assert_eq!(m.at("AT+FOO"), "\r\nERROR\r\n");
    assert_eq!(m.at("AT+CPIN?"), "\r\nERROR\r\n", "radio off, CMEE 0");
    assert_eq!(m.at("AT+CMEE=1"), "\r\nOK\r\n");
    assert_eq!(m.at("AT+CPIN?"), "\r\n+CME ERROR: 10\r\n");
    assert_eq!(m.at("AT+CEREG=1"), "\r\nOK\r\n");
    assert_eq!(m.at("AT+CGEREP=1"), "\r\nOK\r\n");
    assert_eq!(m.at("AT+CGPADDR=0"), "\r\n+CGPADDR: 0\r\n\r\nOK\r\n");
    assert_eq!(m.at("AT+CGPADDR=1"), "\r\n+CME ERROR: 50\r\n", "undefined");
    assert_eq!(m.at("AT+CEREG?"), "\r\n+CEREG: 1,0\r\n\r\nOK\r\n");
    assert_eq!(
        m.io(b"AT+CFUN=1\r", &["+CEREG: 2\r\n"]),
        "\r\nOK\r\n\r\n+CEREG: 2\r\n",
        "the URC follows the answer"
    );
    assert_eq!(
        m.wait("PDN ACT 0\r\n"),
        "\r\n+CEREG: 1\r\n\r\n+CGEV: ME PDN ACT 0\r\n"
    );
    assert_eq!(m.at("AT+CPIN?"), "\r\n+CPIN: READY\r\n\r\nOK\r\n");
    assert_eq!(m.at("AT+CEREG?"), "\r\n+CEREG: 1,1\r\n\r\nOK\r\n");
    assert_eq!(
        m.at("AT+CGPADDR=0"),
        "\r\n+CGPADDR: 0,\"127.0.0.1\"\r\n\r\nOK\r\n"
    );
    assert_eq!(
        m.at("AT+CGACT=1,0"),
        "\r\n+CME ERROR: 0\r\n",
        "default bearer"
    );
    assert_eq!(
        m.at("AT+CESQ"),
        "\r\n+CESQ: 99,99,255,255,20,52\r\n\r\nOK\r\n"
    );
    assert_eq!(m.at("AT#XRECVCFG=,1,0"), "\r\nOK\r\n");
    assert_eq!(m.at("AT#XAPOLL=,1,0"), "\r\nOK\r\n");

    // Sockets: the modem picks the lowest free handle.
    assert_eq!(
        m.at("AT#XSOCKET=1,2,0"),
        "\r\n#XSOCKET: 0,2,17\r\n\r\nOK\r\n"
    );
    assert_eq!(
        m.at("AT#XSOCKET=1,1,0"),
        "\r\nERROR\r\n",
        "TCP: not simulated"
    );
    assert_eq!(
        m.at("AT#XCONNECT=0,\"nowhere.invalid\",5683"),
        "\r\nERROR\r\n",
        "DNS failure: a plain ERROR"
    );
    assert!(m.sim.socket_in_use(0), "the failed connect left the socket");
    assert_eq!(m.at("AT#XSEND=0,2,0,4"), "\r\nERROR\r\n", "not connected");
    assert_eq!(
        m.at(&format!("AT#XCONNECT=0,\"localhost\",{port}")),
        "\r\n#XCONNECT: 0,1\r\n\r\nOK\r\n"
    );
    assert!(m.sim.local_port(0).is_some());
    assert_eq!(m.at("AT#XSEND=0,2,0,4097"), "\r\nERROR\r\n", "over 4 KiB");
    assert_eq!(m.at("AT#XSEND=7,2,0,4"), "\r\nERROR\r\n", "no such handle");
    // Data mode: exactly 9 bytes, nothing in them special; the echo is pushed.
    assert_eq!(m.at("AT#XSEND=0,2,0,9"), "\r\nOK\r\n");
    assert!(m.sim.in_data_mode());
    assert_eq!(
        m.io(b"+++\r\nOK\r\n", &["OK\r\n\r\n"]),
        "\r\n#XDATAMODE: 0\r\n\r\n#XRECV: 0,0,9\r\n+++\r\nOK\r\n\r\n"
    );
    assert_eq!(echo.received(), vec![b"+++\r\nOK\r\n".to_vec()]);
    assert_eq!(
        m.at("AT#XRECVFROM=0,0,64,1"),
        "\r\nERROR\r\n",
        "nothing waiting"
    );
    assert_eq!(
        m.io(b"AT#XSEND=0,0,0,\"text\"\r", &["text\r\n"]),
        "\r\n#XSEND: 0,0,4\r\n\r\nOK\r\n\r\n#XRECV: 0,0,4\r\ntext\r\n",
        "string mode, then its echo"
    );
    assert_eq!(m.at("AT#XSEND=0,2,0,1461"), "\r\nOK\r\n");
    let big = vec![b'b'; 1461];
    assert_eq!(
        m.io(&big, &["-1\r\n"]),
        "+++\r\n#XDATAMODE: -1\r\n",
        "over the network's MTU"
    );

    assert_eq!(
        m.at("AT#XSOCKET=1,2,0"),
        "\r\n#XSOCKET: 1,2,17\r\n\r\nOK\r\n"
    );
    assert_eq!(
        m.at("AT#XSOCKET?"),
        "\r\n#XSOCKET: 0,1,0,2,0\r\n\r\n#XSOCKET: 1,1,0,2,0\r\n\r\nOK\r\n"
    );
    // Release assistance: taken for an allocated handle, with values 1..=5.
    assert_eq!(m.at("AT#XSOCKETOPT=0,1,61,1"), "\r\nOK\r\n");
    assert_eq!(
        m.at("AT#XSOCKETOPT=1,1,61,5"),
        "\r\nOK\r\n",
        "not connected"
    );
    assert_eq!(
        m.at("AT#XSOCKETOPT=5,1,61,1"),
        "\r\nERROR\r\n",
        "unknown handle"
    );
    assert_eq!(m.at("AT#XSOCKETOPT=0,1,61,6"), "\r\nERROR\r\n", "bad value");
    assert_eq!(
        m.at("AT#XSOCKETOPT=0,1,2,1"),
        "\r\nERROR\r\n",
        "other options: not simulated"
    );
    assert_eq!(m.sim.release_assistance(), [(0, 1), (1, 5)]);
    assert_eq!(m.at("AT#XCLOSE=5"), "\r\nERROR\r\n", "unknown handle");
    assert_eq!(m.at("AT#XCLOSE=1"), "\r\n#XCLOSE: 1,0\r\n\r\nOK\r\n");

    // Closed by the network: reported once, the handle stays until closed.
    m.sim.inject(Fault::SocketClosed(0));
    assert_eq!(m.wait("\r\n"), "\r\n#XAPOLL: 0,16\r\n");
    assert!(m.sim.socket_in_use(0));
    assert_eq!(m.at("AT#XSEND=0,2,0,1"), "\r\nOK\r\n");
    assert_eq!(m.io(b"x", &["-1\r\n"]), "+++\r\n#XDATAMODE: -1\r\n");
    assert_eq!(m.at("AT#XCLOSE"), "\r\n#XCLOSE: 0,0\r\n\r\nOK\r\n");
    assert_eq!(m.at("AT#XCLOSE"), "\r\nOK\r\n", "nothing left");

    // Bytes before AT and lone line ends are nothing.
    assert_eq!(m.io(b"+++\r\r\r\n\rxyAT\r", &["OK\r\n"]), "\r\nOK\r\n");

    m.sim.inject(Fault::Reboot);
    {
        use embedded_io::Write;
        m.uart.write_all(b"AT\r").unwrap();
    }
    assert_eq!(m.steps(5), "", "deaf while booting");
    assert_eq!(m.wait("Ready\r\n"), "\r\nReady\r\n");
    assert_eq!(m.at("AT+CFUN?"), "\r\n+CFUN: 0\r\n\r\nOK\r\n", "radio off");
    assert_eq!(m.at("AT+CMEE?"), "\r\n+CMEE: 0\r\n\r\nOK\r\n");
    assert_eq!(m.sim.stats().reboots, 1);
}

#[test]
fn nrf91_sim_zero_length_push_stalls_reception_until_a_read() {
    let echo = EchoServer::start().unwrap();
    let mut m = connected(&echo, "AT#XRECVCFG=,1,0", "AT#XAPOLL=,1,0");
    assert!(m.sim.deliver(0, b""));
    assert_eq!(
        m.steps(3),
        "\r\n",
        "no header for nothing, only the line end"
    );
    assert!(m.sim.deliver(0, b"next"));
    assert_eq!(m.steps(3), "", "automatic reception stalled");
    assert_eq!(m.sim.waiting(0), 1);
    let port = echo.port();
    assert_eq!(
        m.at("AT#XRECVFROM=0,0,64,1"),
        format!("\r\n#XRECVFROM: 0,0,4,\"127.0.0.1\",{port}\r\nnext\r\nOK\r\n")
    );
    assert!(m.sim.deliver(0, b"more"));
    assert_eq!(
        m.steps(3),
        "\r\n#XRECV: 0,0,4\r\nmore\r\n",
        "a read with data re-arms"
    );
}

#[test]
fn nrf91_sim_poll_mode_announces_once_until_read() {
    let echo = EchoServer::start().unwrap();
    let mut m = connected(&echo, "AT#XRECVCFG=,0", "AT#XAPOLL=,1,1");
    assert!(m.sim.deliver(0, b"one"));
    assert!(m.sim.deliver(0, b""));
    assert_eq!(m.steps(3), "\r\n#XAPOLL: 0,1\r\n", "announced once");
    assert!(m.sim.deliver(0, b"two"));
    assert_eq!(m.steps(3), "", "not again before a read");
    let port = echo.port();
    assert_eq!(
        m.io(b"AT#XRECVFROM=0,0,64,1\r", &["#XAPOLL: 0,1\r\n"]),
        format!("\r\n#XRECVFROM: 0,0,3,\"127.0.0.1\",{port}\r\none\r\nOK\r\n\r\n#XAPOLL: 0,1\r\n"),
        "a read with data re-arms; the URC waits for the answer"
    );
    assert_eq!(
        m.at("AT#XRECVFROM=0,0,64,1"),
        "\r\nOK\r\n",
        "zero-length: a bare OK"
    );
    assert_eq!(
        m.at("AT#XRECV=0,0,64"),
        "\r\n#XRECV: 0,0,3\r\ntwo\r\nOK\r\n",
        "AT#XRECV: no address"
    );
    assert_eq!(m.at("AT#XRECVFROM=0,0,64,1"), "\r\nERROR\r\n");
    assert_eq!(m.steps(3), "");
}

#[test]
fn nrf91_sim_holds_urcs_during_data_mode() {
    let echo = EchoServer::start().unwrap();
    let mut m = connected(&echo, "AT#XRECVCFG=,1,0", "AT#XAPOLL=,1,0");
    assert_eq!(m.at("AT#XSEND=0,2,0,4"), "\r\nOK\r\n");
    m.sim.inject(Fault::RegistrationLost);
    m.sim.inject(Fault::SocketClosed(0));
    assert_eq!(m.steps(3), "", "held while in data mode");
    assert_eq!(
        m.io(b"ping", &["0,16\r\n"]),
        "+++\r\n#XDATAMODE: -1\r\n\r\n+CEREG: 2\r\n\r\n#XAPOLL: 0,16\r\n"
    );
    assert!(echo.received().is_empty());
}

#[test]
fn nrf91_sim_context_of_its_own_and_pdn_loss() {
    let echo = EchoServer::start().unwrap();
    let mut m = terminal(Start::Running);
    assert_eq!(m.at("AT+CGDCONT=1,\"IP\",\"iot.example\""), "\r\nOK\r\n");
    assert_eq!(m.at("AT+CGPADDR=1"), "\r\n+CGPADDR: 1\r\n\r\nOK\r\n");
    assert_eq!(
        m.io(b"AT+CGACT=1,1\r", &["ACT 1\r\n"]),
        "\r\nOK\r\n\r\n+CGEV: ME PDN ACT 1\r\n"
    );
    assert_eq!(
        m.at("AT+CGPADDR=1"),
        "\r\n+CGPADDR: 1,\"127.0.0.1\"\r\n\r\nOK\r\n"
    );
    assert_eq!(
        m.at("AT#XSOCKET=1,2,0,1"),
        "\r\n#XSOCKET: 0,2,17\r\n\r\nOK\r\n"
    );
    let port = echo.port();
    assert_eq!(
        m.at(&format!("AT#XCONNECT=0,\"127.0.0.1\",{port}")),
        "\r\n#XCONNECT: 0,1\r\n\r\nOK\r\n"
    );
    // The network takes the socket's context away; the default bearer stays.
    m.sim.inject(Fault::PdpDeactivated);
    assert_eq!(m.wait("\r\n"), "\r\n+CGEV: NW PDN DEACT 1\r\n");
    assert!(m.sim.context_active(0) && !m.sim.context_active(1));
    assert_eq!(m.at("AT#XSEND=0,2,0,1"), "\r\nOK\r\n");
    assert_eq!(m.io(b"x", &["-1\r\n"]), "+++\r\n#XDATAMODE: -1\r\n");
    assert_eq!(
        m.at("AT+CGACT=0,1"),
        "\r\nOK\r\n",
        "already inactive: no URC"
    );
    assert_eq!(
        m.io(b"AT+CGACT=1,1\r", &["ACT 1\r\n"]),
        "\r\nOK\r\n\r\n+CGEV: ME PDN ACT 1\r\n"
    );
    assert_eq!(m.at("AT#XCLOSE=0"), "\r\n#XCLOSE: 0,0\r\n\r\nOK\r\n");
    // With no socket every active context goes; the default bearer comes back by
    // itself, a context of one's own does not.
    m.sim.inject(Fault::PdpDeactivated);
    assert_eq!(
        m.wait("DEACT 1\r\n"),
        "\r\n+CGEV: NW PDN DEACT 0\r\n\r\n+CGEV: NW PDN DEACT 1\r\n"
    );
    assert_eq!(m.wait("ACT 0\r\n"), "\r\n+CGEV: ME PDN ACT 0\r\n");
    assert!(m.sim.context_active(0) && !m.sim.context_active(1));
}
