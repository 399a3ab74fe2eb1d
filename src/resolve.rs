//! Host names resolved by the modem's own resolver: one query at a time, driver-wide.
//!
//! A query waits for the network like a connect does (it brings the modem up), then
//! goes out as [`Op::Resolve`]. A profile whose modem answers with an information
//! line reports [`Info::ResolvedAddress`](crate::profile::Info::ResolvedAddress) before
//! the final result; one whose modem answers "accepted" and the addresses later
//! reports [`Urc::ResolveResult`](crate::profile::Urc::ResolveResult) and one
//! [`Urc::ResolvedAddress`](crate::profile::Urc::ResolvedAddress) per address, within
//! [`Profile::resolve_result_timeout_ms`]. The first address of the family asked
//! for is the answer; none is [`Reason::DnsFailed`].

use core::net::IpAddr;

use crate::error::Reason;
use crate::profile::Profile;
use crate::socket::MAX_HOST;
use crate::state::State;
use crate::time::Instant;
use crate::AddressFamily;

/// Where the query stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// No query.
    Idle,
    /// Waiting for the network, with its overall deadline (set on the first poll).
    Network(Option<Instant>),
    /// The command is in flight.
    InFlight,
    /// Accepted; the addresses come as URCs until this deadline.
    AwaitUrc(Instant),
    /// Finished; the next call for the same name takes this.
    Done(Result<IpAddr, Reason>),
}

/// The one host name query of a driver.
#[derive(Debug)]
pub(crate) struct Resolver {
    pub host: heapless::String<MAX_HOST>,
    pub family: AddressFamily,
    pub phase: Phase,
    /// The first address of the wanted family seen so far.
    found: Option<IpAddr>,
    /// Addresses still announced by an asynchronous result.
    remaining: Option<u8>,
}

impl Resolver {
    pub const fn new() -> Self {
        Resolver {
            host: heapless::String::new(),
            family: AddressFamily::Unspecified,
            phase: Phase::Idle,
            found: None,
            remaining: None,
        }
    }

    /// Start a query for `host` (validated, at most [`MAX_HOST`] bytes).
    pub fn start(&mut self, host: &str, family: AddressFamily) {
        self.host.clear();
        // Cannot fail: validate_host bounds the length by MAX_HOST.
        let _ = self.host.push_str(host);
        self.family = family;
        self.phase = Phase::Network(None);
        self.found = None;
        self.remaining = None;
    }

    /// True while the query waits for the network to come up.
    pub fn wants_network(&self) -> bool {
        matches!(self.phase, Phase::Network(_))
    }

    /// True while the modem works on the query.
    fn running(&self) -> bool {
        matches!(self.phase, Phase::InFlight | Phase::AwaitUrc(_))
    }

    /// The deadline the driver must wake up for.
    pub fn deadline(&self) -> Option<Instant> {
        match self.phase {
            Phase::Network(d) => d,
            Phase::AwaitUrc(t) => Some(t),
            _ => None,
        }
    }

    fn wanted(&self, ip: IpAddr) -> bool {
        match self.family {
            AddressFamily::Unspecified => true,
            AddressFamily::Ipv4 => ip.is_ipv4(),
            AddressFamily::Ipv6 => ip.is_ipv6(),
        }
    }

    fn finish(&mut self, result: Result<IpAddr, Reason>) {
        self.phase = Phase::Done(result);
        self.remaining = None;
    }

    /// The answer from what was found.
    fn outcome(&self) -> Result<IpAddr, Reason> {
        self.found.ok_or(Reason::DnsFailed)
    }
}

impl<P: Profile, const N: usize, const RX: usize> State<P, N, RX> {
    /// An address of the query in flight (information line or URC).
    pub(crate) fn on_resolved_address(&mut self, ip: IpAddr) {
        let r = &mut self.resolver;
        if !r.running() {
            self.stats.unknown_lines += 1;
            return;
        }
        if r.found.is_none() && r.wanted(ip) {
            r.found = Some(ip);
        }
        if let Some(n) = r.remaining.as_mut() {
            *n = n.saturating_sub(1);
        }
        self.finish_resolve_if_complete();
    }

    /// The asynchronous outcome header of the query.
    pub(crate) fn on_resolve_result(&mut self, result: Result<u8, Reason>) {
        let r = &mut self.resolver;
        if !r.running() {
            self.stats.unknown_lines += 1;
            return;
        }
        match result {
            Ok(count) => r.remaining = Some(count),
            Err(reason) => r.finish(Err(reason)),
        }
        self.finish_resolve_if_complete();
    }

    /// All announced addresses arrived after the command's final result.
    fn finish_resolve_if_complete(&mut self) {
        let r = &mut self.resolver;
        if matches!(r.phase, Phase::AwaitUrc(_)) && r.remaining == Some(0) {
            let outcome = r.outcome();
            r.finish(outcome);
        }
    }

    /// The query command ended.
    pub(crate) fn resolve_done(&mut self, ok: bool, failure: Reason) {
        let by_urc = self.profile.resolve_result_is_urc();
        let wait = self.profile.resolve_result_timeout_ms();
        let now = self.now;
        let r = &mut self.resolver;
        if r.phase != Phase::InFlight {
            return;
        }
        if !ok {
            let reason = match failure {
                Reason::Timeout | Reason::ModemRebooted => failure,
                _ => Reason::DnsFailed,
            };
            r.finish(Err(reason));
        } else if by_urc {
            r.phase = Phase::AwaitUrc(now.after(wait));
            self.finish_resolve_if_complete();
        } else {
            let outcome = r.outcome();
            r.finish(outcome);
        }
    }

    /// Deadlines of the query: the network wait and the asynchronous answer.
    pub(crate) fn check_resolve_deadline(&mut self, net_reason: Reason) {
        let now = self.now;
        let timeout = self.config.connect_timeout_ms;
        let r = &mut self.resolver;
        match r.phase {
            Phase::Network(None) => r.phase = Phase::Network(Some(now.after(timeout))),
            Phase::Network(Some(d)) if now >= d => r.finish(Err(net_reason)),
            Phase::AwaitUrc(t) if now >= t => r.finish(Err(Reason::Timeout)),
            _ => {}
        }
    }

    /// Bring-up failed, or the modem went away: the query ends with `reason`.
    pub(crate) fn fail_resolve(&mut self, reason: Reason, waiting_too: bool) {
        let r = &mut self.resolver;
        if r.running() || (waiting_too && r.wants_network()) {
            r.finish(Err(reason));
        }
    }
}
