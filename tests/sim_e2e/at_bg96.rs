//! The simulated BG96 itself, at the AT level (no driver): its answers, error
//! codes, counter queries, buffer mode, faults, boot, and its baud-rate pacing.

use cellsock::modems::bg96::sim::{Bg96Sim, Bg96SimConfig, Latency, Start};
use cellsock::sim::udp::EchoServer;
use cellsock::sim::{Fault, Line, SimModem};
use cellsock::Instant;

use crate::terminal::Terminal;

/// A running BG96 that answers at once; the open result a little later, as a
/// separate URC.
fn terminal() -> Terminal<Bg96Sim> {
    let cfg = Bg96SimConfig {
        start: Start::Running,
        latency: Latency {
            open_ms: 5,
            ..Latency::ZERO
        },
        ..Bg96SimConfig::default()
    };
    let (sim, uart) = Bg96Sim::with_line(Line::instant(), cfg);
    Terminal::new(sim, uart)
}

#[test]
fn sim_answers_as_the_manual_says() {
    let echo = EchoServer::start().unwrap();
    let port = echo.port();
    let mut m = terminal();
    assert_eq!(m.at("AT"), "AT\r\r\nOK\r\n", "echo is on");
    assert_eq!(m.at("ATE0"), "ATE0\r\r\nOK\r\n", "ATE0 itself is echoed");
    assert_eq!(m.at("AT"), "\r\nOK\r\n");
    assert_eq!(m.at("AT+FOO"), "\r\nERROR\r\n");
    assert_eq!(m.at("AT+CMEE=1"), "\r\nOK\r\n");
    assert_eq!(m.at("AT+CPIN?"), "\r\n+CPIN: READY\r\n\r\nOK\r\n");
    assert_eq!(m.at("AT+CEREG=1"), "\r\nOK\r\n");
    assert_eq!(m.at("AT+CEREG?"), "\r\n+CEREG: 1,1\r\n\r\nOK\r\n");
    assert_eq!(m.at("AT+CSQ"), "\r\n+CSQ: 20,99\r\n\r\nOK\r\n");
    assert_eq!(m.at("AT+QICSGP=1,1,\"iot\",\"\",\"\",0"), "\r\nOK\r\n");
    assert_eq!(
        m.at("AT+QICSGP=1"),
        "\r\n+QICSGP: 1,\"iot\",\"\",\"\",0\r\n\r\nOK\r\n"
    );
    assert_eq!(m.at("AT+QIACT?"), "\r\nOK\r\n", "no context: a bare OK");
    assert_eq!(m.at("AT+QIACT=1"), "\r\nOK\r\n");
    assert_eq!(m.at("AT+QIACT=1"), "\r\nERROR\r\n", "already active");
    assert_eq!(
        m.at("AT+QIACT?"),
        "\r\n+QIACT: 1,1,1,\"127.0.0.1\"\r\n\r\nOK\r\n"
    );

    let open = format!("AT+QIOPEN=1,0,\"UDP\",\"127.0.0.1\",{port},0,1");
    assert_eq!(m.at(&open), "\r\nOK\r\n");
    assert_eq!(m.wait("\r\n"), "\r\n+QIOPEN: 0,0\r\n");
    assert_eq!(m.at(&open), "\r\nOK\r\n");
    assert_eq!(m.wait("\r\n"), "\r\n+QIOPEN: 0,563\r\n", "id in use");
    assert_eq!(
        m.at("AT+QIOPEN=1,1,\"UDP\",\"nowhere.invalid\",5683,0,1"),
        "\r\nOK\r\n"
    );
    assert_eq!(m.wait("\r\n"), "\r\n+QIOPEN: 1,565\r\n", "DNS failure");
    assert_eq!(
        m.at("AT+QIOPEN=1,12,\"UDP\",\"127.0.0.1\",7,0,1"),
        "\r\nERROR\r\n"
    );
    let lport = m.sim.local_port(0).unwrap();
    assert_eq!(
        m.at("AT+QISTATE=1,0"),
        format!(
            "\r\n+QISTATE: 0,\"UDP\",\"127.0.0.1\",{port},{lport},2,1,0,1,\"uart1\"\r\n\r\nOK\r\n"
        )
    );

    assert_eq!(m.at("AT+QISEND=0,1461"), "\r\nERROR\r\n", "over 1460");
    assert_eq!(
        m.at("AT+QISEND=0,0"),
        "\r\n+QISEND: 0,0,0\r\n\r\nOK\r\n",
        "len 0 is the counter query"
    );
    assert_eq!(m.at("AT+QISEND=0,7"), "\r\n> ");
    // ESC and Ctrl-Z are payload in a fixed-length send; then the echo is pushed
    // with its length.
    assert_eq!(
        m.io(b"a\r\nOK\x1b\x1a", &["OK\x1b\x1a"]),
        "\r\nSEND OK\r\n\r\n+QIURC: \"recv\",0,7\r\na\r\nOK\x1b\x1a"
    );
    assert_eq!(echo.received(), vec![b"a\r\nOK\x1b\x1a".to_vec()]);
    assert_eq!(m.at("AT+QISEND=0,0"), "\r\n+QISEND: 7,7,0\r\n\r\nOK\r\n");
    assert_eq!(
        m.at("AT+QIRD=0,1500"),
        "\r\nERROR\r\n",
        "no reads in direct push"
    );

    m.sim.inject(Fault::SocketClosed(0));
    assert_eq!(m.wait("\r\n"), "\r\n+QIURC: \"closed\",0\r\n");
    assert_eq!(m.at("AT+QISEND=0,1"), "\r\nERROR\r\n", "closed socket");
    assert_eq!(m.at("AT+QICLOSE=0"), "\r\nOK\r\n");
    assert_eq!(
        m.at("AT+QICLOSE=5"),
        "\r\nOK\r\n",
        "closing an unused id is fine"
    );
    assert_eq!(m.at("AT+QISTATE=1,0"), "\r\nOK\r\n");

    // Buffer mode.
    let open = format!("AT+QIOPEN=1,3,\"UDP\",\"localhost\",{port},0,0");
    assert_eq!(m.at(&open), "\r\nOK\r\n");
    assert_eq!(m.wait("\r\n"), "\r\n+QIOPEN: 3,0\r\n");
    assert_eq!(m.at("AT+QISEND=3,5"), "\r\n> ");
    assert_eq!(
        m.io(b"hello", &["\"recv\",3\r\n"]),
        "\r\nSEND OK\r\n\r\n+QIURC: \"recv\",3\r\n"
    );
    assert_eq!(
        m.at("AT+QIRD=3,1500"),
        "\r\n+QIRD: 5\r\nhello\r\n\r\nOK\r\n"
    );
    assert_eq!(m.at("AT+QIRD=3,1500"), "\r\n+QIRD: 0\r\n\r\nOK\r\n");
    assert_eq!(m.at("AT+QIRD=3,0"), "\r\n+QIRD: 5,5,0\r\n\r\nOK\r\n");

    m.sim.inject(Fault::PdpDeactivated);
    assert_eq!(m.wait("\r\n"), "\r\n+QIURC: \"pdpdeact\",1\r\n");
    assert_eq!(m.at("AT+QIACT=1"), "\r\nERROR\r\n", "deactivate first");
    assert_eq!(m.at("AT+QIDEACT=1"), "\r\nOK\r\n");
    assert_eq!(m.at("AT+QIACT=1"), "\r\nOK\r\n");

    m.sim.inject(Fault::RegistrationLost);
    assert_eq!(m.wait("\r\n"), "\r\n+CEREG: 2\r\n");
    m.sim.inject(Fault::Reboot);
    {
        use embedded_io::Write;
        m.uart.write_all(b"AT\r").unwrap();
    }
    assert_eq!(m.steps(50), "", "deaf while booting");
    let banner = m.wait("APP RDY\r\n");
    assert!(banner.starts_with("\r\nRDY\r\n"), "{banner:?}");
    assert_eq!(m.at("AT"), "AT\r\r\nOK\r\n", "echo is back on");
    assert_eq!(
        m.at("AT+QIACT?"),
        "AT+QIACT?\r\r\nOK\r\n",
        "the context is gone"
    );
}

#[test]
fn sim_paces_bytes_at_the_baud_rate() {
    use embedded_io::Write;
    let (mut sim, mut uart) = Bg96Sim::with_line(
        Line::baud(9600),
        Bg96SimConfig {
            start: Start::Running,
            latency: Latency::ZERO,
            ..Bg96SimConfig::default()
        },
    );
    uart.write_all(b"AT\r").unwrap();
    // A byte takes 1.04 ms at 9600 baud. The modem echoes each byte as it arrives
    // ('A' at 1.04 ms is back at 2.08 ms) and answers "\r\nOK\r\n" once the '\r'
    // is in (3.13 ms), behind the echo: the 9th byte arrives at 10.4 ms.
    sim.step(Instant::from_millis(2));
    assert_eq!(uart.pending(), 0);
    sim.step(Instant::from_millis(3));
    assert_eq!(uart.pending(), 1);
    sim.step(Instant::from_millis(10));
    assert_eq!(uart.pending(), 8);
    sim.step(Instant::from_millis(11));
    assert_eq!(uart.pending(), 9);
}
