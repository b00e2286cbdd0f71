//! Every bound rollcall keeps, with its unit and rationale (TigerBeetle: put a limit on
//! everything). The shell passes these to the places that enforce them.

/// Largest encoded header accepted, in bytes. A header is ~200 bytes; unit paths and
/// author names are bounded below, so 4 KiB is generous and stops memory abuse.
pub const HEADER_BYTES_MAX: usize = 4 * 1024;

/// Largest body accepted, in bytes. The largest legitimate body is a report of a table
/// (a few hundred cells) or an imported member form; 256 KiB leaves room for both.
pub const BODY_BYTES_MAX: usize = 256 * 1024;

/// Longest unit path, in bytes.
pub const UNIT_PATH_BYTES_MAX: usize = 256;

/// Deepest unit path: province / university / college / branch, plus two spare levels
/// for sub-branches (党小组) should a province need them.
pub const UNIT_PATH_DEPTH_MAX: usize = 6;

/// Longest author identifier, in bytes.
pub const AUTHOR_BYTES_MAX: usize = 128;

/// Most events one append request may carry (all committed atomically).
pub const DRAFTS_PER_APPEND_MAX: usize = 4096;

/// Most events the store's writer commits in one group (one fsync).
pub const EVENTS_PER_COMMIT_MAX: usize = 8192;

/// Most events in one read or sync response message.
pub const EVENTS_PER_MESSAGE_MAX: usize = 512;

/// Largest gRPC message, in bytes: a full batch of maximal events fits in 16 MiB only
/// when bodies are small, so batches are cut by bytes too (see `MESSAGE_BYTES_TARGET`).
pub const MESSAGE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// A response batch is closed once it holds this many bytes (`Sync`; and `Subscribe`,
/// `ReadLog` unless `[limits] stream_message_bytes` says otherwise).
pub const MESSAGE_BYTES_TARGET: usize = 1024 * 1024;

/// The least and the most `[limits] stream_message_bytes` may be: the upper bound is what
/// a stock gRPC client accepts by default (4 MiB), less room for the envelope.
pub const STREAM_MESSAGE_BYTES_MIN: usize = 64 * 1024;
/// See [`STREAM_MESSAGE_BYTES_MIN`].
pub const STREAM_MESSAGE_BYTES_MAX: usize = 4 * 1024 * 1024 - 64 * 1024;

/// HTTP/2 flow-control window per stream, both ways: two full sync messages in flight,
/// so a sender never waits for the receiver to take one message before starting the
/// next (hyper's server default, 1 MiB, held a child's upward catch-up to one).
pub const HTTP2_STREAM_WINDOW_BYTES: u32 = 2 * 1024 * 1024;

/// HTTP/2 flow-control window per connection (a node talks to a peer on one connection).
pub const HTTP2_CONNECTION_WINDOW_BYTES: u32 = 4 * 1024 * 1024;

/// Largest HTTP/2 frame a node accepts: a sync message in a few frames rather than 64
/// frames of the 16 KiB default.
pub const HTTP2_FRAME_BYTES_MAX: u32 = 256 * 1024;

/// A received event's hybrid-logical time is observed (so later local events order
/// after it) only if it is at most this far ahead of the local physical clock: a peer
/// with a wrong clock cannot drag every clock in the province into the future.
pub const CLOCK_AHEAD_OBSERVED_MAX_MS: u64 = 24 * 3600 * 1000;

/// Fields of one member's record a projection keeps corrections and flags of: the
/// lowest-numbered, so which are kept is a function of the set of events. The form has
/// about twenty; the bound keeps a flood of made-up field numbers (receivers do not judge
/// a body's content) from costing more than a bounded amount a member.
pub const MARKED_FIELDS_PER_MEMBER_MAX: usize = 64;

/// Corrections of one field of one member a projection keeps: the latest by stamp (a
/// function of the set). Honest use makes one or a few; the value in force is among
/// the latest, and a flood of corrections costs a bounded amount a member.
pub const CORRECTIONS_PER_FIELD_MAX: usize = 64;

/// Settled corrections of one field of one member a projection keeps: the lowest event
/// ids (a function of the set). A settlement names the few corrections it settles.
pub const SETTLED_PER_FIELD_MAX: usize = 256;
