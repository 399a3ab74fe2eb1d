//! `poll_at` tells a firmware when to wake up: it must never say "now" when there
//! is nothing to do, or a loop sleeping until then spins.

mod common;

use cellsock::modems::bg96::Bg96;
use cellsock::modems::nrf91_slm::Nrf91Slm;
use cellsock::replay::{ReplayUart, VirtualClock};
use cellsock::{AddressFamily, Config, Driver, Error, Instant, NetStack};
use common::{answer, answer_nrf91};

type Bg96Stack<'d> = NetStack<'d, Bg96, ReplayUart, VirtualClock, 2, 2048>;

/// A BG96 socket connected through the scripted answers of `common::answer`.
fn connect_bg96(net: &mut Bg96Stack<'_>, clock: &VirtualClock) -> cellsock::SocketHandle {
    let s = net.create(AddressFamily::Unspecified).unwrap();
    while net.connect(s, "192.0.2.1", "5683") == Err(Error::InProgress) {
        answer(net);
        clock.advance(10);
    }
    s
}

#[test]
fn poll_at_is_in_the_future_when_idle_even_after_a_timeout() {
    let mut driver: Driver<Bg96, 2, 2048> =
        Driver::new(Bg96::new(), Config::new("internet").unwrap());
    let clock = VirtualClock::new();
    let mut net = NetStack::new(&mut driver, ReplayUart::new(None), clock.clone());
    let s = connect_bg96(&mut net, &clock);
    let now = |c: &VirtualClock| Instant::from_millis(c.now_ms());
    // Idle and connected: the next thing due is the background poll, 60 s away.
    net.poll();
    assert!(net.driver.poll_at().unwrap() > now(&clock));

    // A send the modem never answers: it times out after 10 s.
    assert_eq!(net.send(s, b"lost"), Err(Error::InProgress));
    net.uart.take_written(usize::MAX);
    clock.advance(10_000);
    assert!(matches!(net.send(s, b"lost"), Err(Error::Failed(_))));
    // The quiet period for a late answer ends 300 ms later; after it, nothing is due.
    clock.advance(1_000);
    net.poll();
    net.uart.take_written(usize::MAX);
    let at = net
        .driver
        .poll_at()
        .expect("the background poll is scheduled");
    assert!(
        at > now(&clock),
        "poll_at {at:?} is not after now {:?}",
        now(&clock)
    );
}

#[test]
fn poll_at_wakes_for_the_idle_hint_and_only_until_it_is_written() {
    let mut config = Config::new("").unwrap();
    config.context_id = 0;
    let mut driver: Driver<Nrf91Slm, 2, 2048> = Driver::new(Nrf91Slm::new(), config);
    let clock = VirtualClock::new();
    let mut net = NetStack::new(&mut driver, ReplayUart::new(None), clock.clone());
    let s = net.create(AddressFamily::Unspecified).unwrap();
    while net.connect(s, "192.0.2.1", "5683") == Err(Error::InProgress) {
        answer_nrf91(&mut net);
        clock.advance(10);
    }
    let now = |c: &VirtualClock| Instant::from_millis(c.now_ms());
    net.poll();
    assert!(net.driver.poll_at().unwrap() > now(&clock));

    // The driver's own call (no poll after it): the hint is work waiting, so
    // poll_at says "now" ...
    assert_eq!(net.driver.queue_mode_rx_off(s), Ok(()));
    assert!(net.driver.poll_at().unwrap() <= now(&clock));
    // ... and the next poll writes it, once.
    assert_eq!(answer_nrf91(&mut net), ["AT#XSOCKETOPT=0,1,61,1"]);
    assert!(net.driver.poll_at().unwrap() > now(&clock));
    assert_eq!(net.driver.queue_mode_rx_off(s), Ok(()));
    assert!(net.driver.poll_at().unwrap() > now(&clock), "not again");
    assert!(answer_nrf91(&mut net).is_empty());
}

#[test]
fn poll_at_stays_idle_after_rx_off_without_an_idle_hint() {
    // The BG96 has no idle hint: queue mode only pauses the background poll.
    let mut driver: Driver<Bg96, 2, 2048> =
        Driver::new(Bg96::new(), Config::new("internet").unwrap());
    let clock = VirtualClock::new();
    let mut net = NetStack::new(&mut driver, ReplayUart::new(None), clock.clone());
    let s = connect_bg96(&mut net, &clock);
    let now = |c: &VirtualClock| Instant::from_millis(c.now_ms());
    net.poll();
    assert_eq!(net.driver.queue_mode_rx_off(s), Ok(()));
    assert!(net.driver.poll_at().unwrap() > now(&clock));
    assert!(answer(&mut net).is_empty());
}
