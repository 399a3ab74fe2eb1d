//! embedded-nal-async used the way a third-party crate uses it, against both
//! simulated modems (BG96 and nRF91 Serial Modem) on a virtual clock, with real UDP
//! on 127.0.0.1 behind them and `futures`' single-threaded executor: a connected
//! socket exchanging 1,000 datagrams with an echo server, an unconnected socket
//! answering two peers, DNS through the modem (including its DNS error), a
//! cancelled receive that loses nothing, and two sockets awaited concurrently.
//!
//! The runner ([`AsyncStack::run`]) and the application run side by side in one
//! `select`; the test's [`WaitHook`] moves the virtual clock to the next thing the
//! driver or the simulator waits for (1 to 10 ms at a time) and steps the
//! simulator, which stands for "the UART has bytes or the timer fired".

use std::cell::RefCell;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant as WallInstant};

use cellsock::modems::bg96::sim::{Bg96Sim, Bg96SimConfig};
use cellsock::modems::bg96::Bg96;
use cellsock::modems::nrf91_slm::sim::{Nrf91Sim, Nrf91SimConfig};
use cellsock::modems::nrf91_slm::Nrf91Slm;
use cellsock::profile::Profile;
use cellsock::replay::{Rng, VirtualClock};
use cellsock::sim::udp::EchoServer;
use cellsock::sim::{Fault, HostUart, Line, SimModem};
use cellsock::{AsyncStack, Config, Driver, Error, Instant, Reason, WaitHook};
use embedded_nal_async::{AddrType, ConnectedUdp, Dns, UdpStack, UnconnectedUdp};
use futures::future::{join, select, Either};
use futures::pin_mut;

type Stack<P> = AsyncStack<'static, P, VirtualClock, 4, 8192>;

/// Stands for the integrator's "UART readable or timer" wait.
struct SimHook {
    sim: Rc<RefCell<Box<dyn SimModem>>>,
    clock: VirtualClock,
    wall: WallInstant,
}

/// Pending once, then ready: lets the application run between runner turns.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl WaitHook<HostUart> for SimHook {
    fn wait<'a>(
        &'a mut self,
        _uart: &'a mut HostUart,
        deadline: Option<Instant>,
    ) -> impl Future<Output = ()> + 'a {
        assert!(
            self.wall.elapsed() < Duration::from_secs(60),
            "test ran out of real time"
        );
        let now = self.clock.now_ms();
        let mut sim = self.sim.borrow_mut();
        let next = [deadline, sim.next_event()]
            .into_iter()
            .flatten()
            .min()
            .map_or(now + 1, |t| t.as_millis().clamp(now + 1, now + 10));
        // Real datagrams need a moment through the kernel.
        std::thread::sleep(Duration::from_micros(20));
        self.clock.set(next);
        sim.step(Instant::from_millis(next));
        YieldOnce(false)
    }
}

/// What a scenario may touch besides the stack: the simulator (for faults) and
/// the echo server.
struct Env {
    sim: Rc<RefCell<Box<dyn SimModem>>>,
    echo: EchoServer,
}

/// Set up `profile` on its simulator and run `scenario` beside the runner until it
/// ends. Stack and environment are leaked: each test runs once.
fn drive<P, Fut>(
    profile: P,
    config: Config,
    sim: Box<dyn SimModem>,
    uart: HostUart,
    scenario: impl FnOnce(&'static Stack<P>, &'static Env) -> Fut,
) where
    P: Profile + 'static,
    Fut: Future<Output = ()>,
{
    let clock = VirtualClock::new();
    let env: &'static Env = Box::leak(Box::new(Env {
        sim: Rc::new(RefCell::new(sim)),
        echo: EchoServer::start().unwrap(),
    }));
    env.sim.borrow_mut().step(Instant::ZERO);
    let driver: &'static mut Driver<P, 4, 8192> = Box::leak(Box::new(Driver::new(profile, config)));
    let stack: &'static Stack<P> = Box::leak(Box::new(AsyncStack::new(driver, clock.clone())));
    let hook = SimHook {
        sim: env.sim.clone(),
        clock,
        wall: WallInstant::now(),
    };
    let runner = stack.run(uart, hook);
    let app = scenario(stack, env);
    futures::executor::block_on(async {
        pin_mut!(runner);
        pin_mut!(app);
        match select(runner, app).await {
            Either::Left(_) => unreachable!("the runner never returns"),
            Either::Right(((), _)) => {}
        }
    });
}

/// `per_modem!(scenario)`: a test per modem running `scenario`.
macro_rules! per_modem {
    ($scenario:ident) => {
        mod $scenario {
            use super::*;

            #[test]
            fn bg96() {
                let (sim, uart) = Bg96Sim::with_line(Line::baud(115_200), Bg96SimConfig::default());
                drive(
                    Bg96::new(),
                    Config::new("internet").unwrap(),
                    Box::new(sim),
                    uart,
                    |s, e| super::$scenario(s, e),
                );
            }

            #[test]
            fn nrf91() {
                let (sim, uart) =
                    Nrf91Sim::with_line(Line::baud(115_200), Nrf91SimConfig::default());
                let mut config = Config::new("").unwrap();
                config.context_id = 0;
                drive(Nrf91Slm::new(), config, Box::new(sim), uart, |s, e| {
                    super::$scenario(s, e)
                });
            }
        }
    };
}

fn localhost(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

per_modem!(connected_socket_exchanges_a_thousand_datagrams);
async fn connected_socket_exchanges_a_thousand_datagrams<P: Profile>(
    stack: &'static Stack<P>,
    env: &'static Env,
) {
    let (_local, mut sock) = stack.connect(env.echo.addr()).await.unwrap();
    let mut rng = Rng::new(12);
    let mut buf = [0u8; 1500];
    for i in 0..1000 {
        let len = rng.range(1, 200);
        let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
        sock.send(&data).await.unwrap();
        let n = sock.receive_into(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &data[..], "datagram {i} came back intact");
    }
    assert_eq!(env.echo.count(), 1000);
}

per_modem!(unconnected_socket_answers_two_peers);
async fn unconnected_socket_answers_two_peers<P: Profile>(
    stack: &'static Stack<P>,
    env: &'static Env,
) {
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let unspecified = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port);
    let (local, mut sock) = stack.bind_single(unspecified).await.unwrap();
    // The BG96 reports the bound port (AT+QISTATE); the nRF91 cannot say (0).
    assert!(local.port() == port || local.port() == 0, "{local}");
    let peers = [
        UdpSocket::bind("127.0.0.1:0").unwrap(),
        UdpSocket::bind("127.0.0.1:0").unwrap(),
    ];
    for p in &peers {
        p.set_nonblocking(true).unwrap();
    }
    const ROUNDS: usize = 4;
    for round in 0..ROUNDS {
        for (i, p) in peers.iter().enumerate() {
            p.send_to(format!("req {i} {round}").as_bytes(), localhost(port))
                .unwrap();
        }
    }
    let mut buf = [0u8; 256];
    for _ in 0..2 * ROUNDS {
        let (n, _local, from) = sock.receive_into(&mut buf).await.unwrap();
        let text = String::from_utf8(buf[..n].to_vec()).unwrap();
        let i = peers
            .iter()
            .position(|p| p.local_addr().unwrap() == from)
            .unwrap_or_else(|| panic!("{text:?} from {from}, no peer of ours"));
        assert!(text.starts_with(&format!("req {i} ")));
        sock.send(unspecified, from, text.replace("req", "resp").as_bytes())
            .await
            .unwrap();
    }
    // The echo server answers a datagram sent to it, from its own address.
    sock.send(unspecified, env.echo.addr(), b"echo me")
        .await
        .unwrap();
    let (n, _, from) = sock.receive_into(&mut buf).await.unwrap();
    assert_eq!((&buf[..n], from), (&b"echo me"[..], env.echo.addr()));
    // Every peer got its answers, in order, from the bound port.
    for (i, p) in peers.iter().enumerate() {
        let mut got = Vec::new();
        let wall = WallInstant::now();
        while got.len() < ROUNDS && wall.elapsed() < Duration::from_secs(5) {
            let mut b = [0u8; 64];
            match p.recv_from(&mut b) {
                Ok((n, from)) => {
                    assert_eq!(from, localhost(port));
                    got.push(String::from_utf8(b[..n].to_vec()).unwrap());
                }
                Err(_) => std::thread::sleep(Duration::from_millis(1)),
            }
        }
        let want: Vec<String> = (0..ROUNDS).map(|r| format!("resp {i} {r}")).collect();
        assert_eq!(got, want);
    }
}

per_modem!(dns_through_the_modem);
async fn dns_through_the_modem<P: Profile>(stack: &'static Stack<P>, env: &'static Env) {
    assert_eq!(
        stack.get_host_by_name("bad name", AddrType::Either).await,
        Err(Error::Failed(Reason::InvalidHost))
    );
    let ip = stack.get_host_by_name("localhost", AddrType::Either).await;
    assert_eq!(ip, Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert_eq!(
        stack
            .get_host_by_name("nowhere.invalid", AddrType::Either)
            .await,
        Err(Error::Failed(Reason::DnsFailed))
    );
    env.sim.borrow_mut().inject(Fault::DnsFail);
    assert_eq!(
        stack.get_host_by_name("localhost", AddrType::IPv4).await,
        Err(Error::Failed(Reason::DnsFailed))
    );
    assert_eq!(
        stack.get_host_by_name("localhost", AddrType::IPv4).await,
        Ok(IpAddr::V4(Ipv4Addr::LOCALHOST))
    );
    let mut name = [0u8; 32];
    assert_eq!(
        stack
            .get_host_by_address(IpAddr::V4(Ipv4Addr::LOCALHOST), &mut name)
            .await,
        Err(Error::NotSupported)
    );
    // Two lookups at once: both get their answer.
    let (a, b) = join(
        stack.get_host_by_name("localhost", AddrType::Either),
        stack.get_host_by_name("nowhere.invalid", AddrType::Either),
    )
    .await;
    assert_eq!(a, Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    assert_eq!(b, Err(Error::Failed(Reason::DnsFailed)));
}

/// Ready after `n` polls (a few runner turns).
struct Turns(u32);

impl Future for Turns {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

per_modem!(a_cancelled_receive_loses_no_datagram);
async fn a_cancelled_receive_loses_no_datagram<P: Profile>(
    stack: &'static Stack<P>,
    env: &'static Env,
) {
    let (_, mut sock) = stack.connect(env.echo.addr()).await.unwrap();
    let mut buf = [0u8; 64];
    // Nothing is coming: the receive is pending when it is dropped.
    {
        let receive = sock.receive_into(&mut buf);
        pin_mut!(receive);
        match select(receive, Turns(50)).await {
            Either::Left((r, _)) => panic!("nothing was sent, yet {r:?}"),
            Either::Right(_) => {}
        }
    }
    // Then one dropped after a single poll while the echo is on its way; the
    // receive after it gets the echo. The echo goes through the kernel and the
    // echo server's thread in real time while the modem's SEND OK comes after
    // its virtual latency, so the echo may already be in the driver when that
    // receive is polled: then it completes with the echo (a completed receive,
    // not a cancelled one) and nothing is left for a second receive to wait for.
    sock.send(b"first").await.unwrap();
    let early = {
        let receive = sock.receive_into(&mut buf);
        pin_mut!(receive);
        match select(receive, Turns(0)).await {
            Either::Left((r, _)) => Some(r.unwrap()),
            Either::Right(_) => None,
        }
    };
    let n = match early {
        Some(n) => n,
        None => sock.receive_into(&mut buf).await.unwrap(),
    };
    assert_eq!(&buf[..n], b"first");
    // A send cancelled at once does not leave its result to the next send.
    {
        let send = sock.send(b"dropped");
        pin_mut!(send);
        let _ = select(send, Turns(0)).await;
    }
    sock.send(b"second").await.unwrap();
    loop {
        let n = sock.receive_into(&mut buf).await.unwrap();
        if &buf[..n] == b"second" {
            break;
        }
        // The cancelled datagram may still have gone out.
        assert_eq!(&buf[..n], b"dropped");
    }
}

/// Twenty echoes on one socket.
async fn talk<P: Profile>(
    sock: &mut cellsock::AsyncConnected<'static, 'static, P, VirtualClock, 4, 8192>,
    tag: u8,
) {
    let mut buf = [0u8; 64];
    for i in 0..20u8 {
        let data = [tag, i, tag ^ i];
        sock.send(&data).await.unwrap();
        let n = sock.receive_into(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &data, "socket {tag}: datagram {i}");
    }
}

per_modem!(two_sockets_awaited_concurrently);
async fn two_sockets_awaited_concurrently<P: Profile>(stack: &'static Stack<P>, env: &'static Env) {
    let ((_, mut a), (_, mut b)) = {
        let (a, b) = join(
            stack.connect(env.echo.addr()),
            stack.connect(env.echo.addr()),
        )
        .await;
        (a.unwrap(), b.unwrap())
    };
    join(talk(&mut a, 1), talk(&mut b, 2)).await;
    assert_eq!(env.echo.count(), 40);
}
