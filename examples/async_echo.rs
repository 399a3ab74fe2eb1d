//! embedded-nal-async on the simulated BG96: resolve `localhost` through the modem,
//! connect to a UDP echo server on 127.0.0.1 and exchange ten datagrams, with
//! `futures`' single-threaded executor. The runner and the application run side
//! by side; the wait hook stands for "UART readable or timer fired" by moving a
//! virtual clock and stepping the simulator.
//!
//! ```sh
//! cargo run --example async_echo --features async,sim
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use cellsock::modems::bg96::sim::{Bg96Sim, Bg96SimConfig};
use cellsock::modems::bg96::Bg96;
use cellsock::replay::VirtualClock;
use cellsock::sim::udp::EchoServer;
use cellsock::sim::{HostUart, Line, SimModem};
use cellsock::{AsyncStack, Config, Driver, Instant, WaitHook};
use embedded_nal_async::{AddrType, ConnectedUdp, Dns, UdpStack};
use futures::future::{select, Either};
use futures::pin_mut;

/// The integrator's wait: here, the next simulator event on a virtual clock.
struct SimWait {
    sim: Bg96Sim,
    clock: VirtualClock,
}

/// Pending once: lets the application run between runner turns.
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

impl WaitHook<HostUart> for SimWait {
    fn wait<'a>(
        &'a mut self,
        _uart: &'a mut HostUart,
        deadline: Option<Instant>,
    ) -> impl Future<Output = ()> + 'a {
        let now = self.clock.now_ms();
        let next = [deadline, self.sim.next_event()]
            .into_iter()
            .flatten()
            .min()
            .map_or(now + 1, |t| t.as_millis().clamp(now + 1, now + 10));
        std::thread::sleep(std::time::Duration::from_micros(20));
        self.clock.set(next);
        self.sim.step(Instant::from_millis(next));
        YieldOnce(false)
    }
}

fn main() {
    let echo = EchoServer::start().expect("echo server");
    let (mut sim, uart) = Bg96Sim::with_line(Line::baud(115_200), Bg96SimConfig::default());
    sim.step(Instant::ZERO);
    let clock = VirtualClock::new();
    let mut driver: Driver<Bg96, 4, 4096> =
        Driver::new(Bg96::new(), Config::new("internet").expect("APN"));
    let stack = AsyncStack::new(&mut driver, clock.clone());
    let runner = stack.run(
        uart,
        SimWait {
            sim,
            clock: clock.clone(),
        },
    );
    let app = async {
        let ip = stack
            .get_host_by_name("localhost", AddrType::Either)
            .await
            .expect("resolved by the modem");
        println!("localhost resolved by the modem: {ip}");
        let remote = std::net::SocketAddr::new(ip, echo.port());
        let (local, mut sock) = (&stack).connect(remote).await.expect("connect");
        println!("connected {local} -> {remote}");
        let mut buf = [0u8; 64];
        for i in 0..10 {
            let msg = format!("datagram {i}");
            sock.send(msg.as_bytes()).await.expect("send");
            let n = sock.receive_into(&mut buf).await.expect("receive");
            assert_eq!(&buf[..n], msg.as_bytes());
        }
        println!(
            "10/10 datagrams echoed intact, {} ms of virtual time",
            clock.now_ms()
        );
    };
    futures::executor::block_on(async {
        pin_mut!(runner);
        pin_mut!(app);
        if let Either::Left(_) = select(runner, app).await {
            unreachable!("the runner never returns");
        }
    });
}
