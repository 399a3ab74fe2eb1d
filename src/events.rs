//! Network events for the application's logs or LEDs: what changed, in order.
//!
//! A small bounded queue: when the application does not read it, the oldest events
//! are dropped (and counted), never the driver's work.

/// Something that happened to the modem's link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetEvent {
    /// Registered to the network (home or roaming).
    Registered,
    /// Registration lost (searching, denied, not registered).
    RegistrationLost,
    /// Registration stayed lost longer than the configured grace: open sockets
    /// were reported lost.
    RegistrationGaveUp,
    /// The packet data context is active; sockets can be opened.
    DataReady,
    /// The network deactivated the packet data context.
    PdpDeactivated,
    /// The modem restarted (boot banner, or echo back on after configuration).
    ModemRebooted,
    /// The modem stopped answering (consecutive command timeouts).
    ModemUnresponsive,
}

/// Capacity of the event queue.
pub const EVENT_QUEUE: usize = 8;

/// The bounded event queue.
#[derive(Debug, Default)]
pub struct EventQueue {
    queue: heapless::Deque<NetEvent, EVENT_QUEUE>,
    /// Events dropped because the queue was full.
    pub dropped: u32,
}

impl EventQueue {
    /// An empty queue.
    pub const fn new() -> Self {
        EventQueue {
            queue: heapless::Deque::new(),
            dropped: 0,
        }
    }

    /// Add an event, dropping the oldest if full.
    pub fn push(&mut self, event: NetEvent) {
        if self.queue.is_full() {
            self.queue.pop_front();
            self.dropped += 1;
        }
        // Cannot fail: room was made above.
        let _ = self.queue.push_back(event);
    }

    /// Take the oldest event.
    pub fn pop(&mut self) -> Option<NetEvent> {
        self.queue.pop_front()
    }
}
