//! `poll_at` tells a firmware when to wake up: it must never say "now" when there
//! is nothing to do, or a loop sleeping until then spins.

mod common;

use cellsock::modems::bg96::Bg96;
use cellsock::replay::{ReplayUart, VirtualClock};
use cellsock::{AddressFamily, Config, Driver, Error, Instant, NetStack};
use common::answer;

#[test]
fn poll_at_is_in_the_future_when_idle_even_after_a_timeout() {
    let mut driver: Driver<Bg96, 2, 2048> =
        Driver::new(Bg96::new(), Config::new("internet").unwrap());
    let clock = VirtualClock::new();
    let mut net = NetStack::new(&mut driver, ReplayUart::new(None), clock.clone());
    let s = net.create(AddressFamily::Unspecified).unwrap();
    while net.connect(s, "192.0.2.1", "5683") == Err(Error::InProgress) {
        answer(&mut net);
        clock.advance(10);
    }
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
