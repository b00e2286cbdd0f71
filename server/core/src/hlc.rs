//! Hybrid logical clock: a timestamp that follows physical time but never goes
//! backwards and orders causally related events, even when a laptop's clock is wrong.
//!
//! The shell passes physical time in; the clock never reads it.
//! Invariant: every `tick` returns a time strictly greater than every time returned
//! or observed before.

/// A hybrid-logical-clock time: wall milliseconds since the Unix epoch, then a counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
pub struct HlcTime {
    /// Milliseconds since the Unix epoch (UTC).
    pub wall_ms: u64,
    /// Counter within the same millisecond.
    pub logical: u32,
}

/// The clock state of one replica.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Hlc {
    last: HlcTime,
}

impl Hlc {
    /// A clock that has seen `last` (e.g. the head of the local log after a restart).
    pub fn starting_at(last: HlcTime) -> Hlc {
        Hlc { last }
    }

    /// The time for a new local event, given the physical clock reading.
    pub fn tick(&mut self, physical_ms: u64) -> HlcTime {
        let next = if physical_ms > self.last.wall_ms {
            HlcTime { wall_ms: physical_ms, logical: 0 }
        } else if self.last.logical < u32::MAX {
            HlcTime { wall_ms: self.last.wall_ms, logical: self.last.logical + 1 }
        } else if self.last.wall_ms < u64::MAX {
            // 4 billion events in one millisecond cannot happen; move the wall forward
            // rather than wrap, so the invariant still holds.
            HlcTime { wall_ms: self.last.wall_ms + 1, logical: 0 }
        } else {
            // The end of time, which only a forged stamp reaches: stay there, never wrap.
            self.last
        };
        self.last = next;
        next
    }

    /// Takes a remote time into account so that later local events order after it.
    pub fn observe(&mut self, remote: HlcTime) {
        if remote > self.last {
            self.last = remote;
        }
    }

    /// The last time returned or observed.
    pub fn last(&self) -> HlcTime {
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The clock is monotonic whatever the physical clock does, and observing a
    /// remote time orders later ticks after it.
    #[test]
    fn monotonic_and_causal() {
        let mut hlc = Hlc::default();
        let a = hlc.tick(1000);
        let b = hlc.tick(999); // Physical clock stepped back.
        let c = hlc.tick(1000);
        assert!(a < b && b < c);
        hlc.observe(HlcTime { wall_ms: 5000, logical: 7 });
        let d = hlc.tick(1001);
        assert_eq!(d, HlcTime { wall_ms: 5000, logical: 8 });
        let e = hlc.tick(6000);
        assert_eq!(e, HlcTime { wall_ms: 6000, logical: 0 });
    }

    /// A forged stamp at the end of time, once observed, makes the clock stay there
    /// instead of overflowing (a panic in a debug build, a wrap to 0 in a release one).
    #[test]
    fn the_end_of_time_does_not_wrap() {
        let mut hlc = Hlc::default();
        let end = HlcTime { wall_ms: u64::MAX, logical: u32::MAX };
        hlc.observe(end);
        assert_eq!(hlc.tick(1000), end);
        assert_eq!(hlc.tick(1000), end);
    }
}
