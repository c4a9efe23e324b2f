//! The dissector of one connection: it parses both directions of the stream as they pass
//! the counting layer and attributes every byte to one layer ([`super::tally`]).
//!
//! Transports (HTTP/1.1, HTTP/2, WebSocket) are parsed here, in `wire`; what a document
//! inside them is, and which of its values are records, each protocol says through its
//! [`DocRules`] (in its own client file). Protocols with a framing of their own implement
//! [`Dissect`] themselves, with the helpers of this module.

use super::docs::{Doc, DocError};
use super::tally::{Dir, Framing, Layer, Tally};

/// A stream the dissector could not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(pub String);

impl From<DocError> for WireError {
    fn from(e: DocError) -> Self {
        WireError(e.to_string())
    }
}

/// Parses one connection's bytes, both directions, attributing them into a [`Tally`].
pub trait Dissect: Send {
    /// Attributes `bytes`, just seen in `dir` (and already counted as seen). Bytes of a unit
    /// not yet complete may stay pending until the rest arrives.
    fn feed(&mut self, dir: Dir, bytes: &[u8], t: &mut Tally) -> Result<(), WireError>;

    /// The application protocol a TLS client offers for this stream (ALPN), if any.
    fn alpn(&self) -> Option<&'static [u8]> {
        None
    }
}

/// What a protocol knows about its own documents.
pub trait DocRules: Send {
    /// What `doc` is: sent or received, in the exchange `route` (an HTTP method and target,
    /// a gRPC method path; empty for message protocols, whose messages say what they are).
    fn doc(&mut self, dir: Dir, route: &str, doc: &[u8]) -> Doc;

    /// What the answer to a request carries, once the request's body is whole, when its
    /// route cannot say (calls to one URL that name their method in the body: JSON-RPC);
    /// `None` (the default) keeps what [`DocRules::doc`] said from the route. HTTP/1.1
    /// asks it.
    fn answer(&mut self, route: &str, request: &[u8]) -> Option<Doc> {
        let _ = (route, request);
        None
    }

    /// Message protocols: true when a message is protocol control (keep-alive), neither a
    /// request nor an answer. Its bytes are envelope.
    fn control(&self, doc: &[u8]) -> bool {
        let _ = doc;
        false
    }
}

/// The dissector a counted connection runs, or none (dissection off: layers stay pending).
#[derive(Default)]
pub struct Dissector {
    state: State,
}

#[derive(Default)]
enum State {
    #[default]
    Off,
    On(Box<dyn Dissect>),
    /// The stream could not be parsed: every later byte is counted as unparsed framing.
    Broken(WireError),
}

impl std::fmt::Debug for Dissector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.state {
            State::Off => f.write_str("Dissector(off)"),
            State::On(_) => f.write_str("Dissector(on)"),
            State::Broken(e) => write!(f, "Dissector(broken: {e})"),
        }
    }
}

impl Dissector {
    pub fn new(dissect: impl Dissect + 'static) -> Self {
        Dissector { state: State::On(Box::new(dissect)) }
    }

    /// Counts `bytes` seen in `dir` and attributes what can be attributed.
    pub fn feed(&mut self, dir: Dir, bytes: &[u8], t: &mut Tally) {
        t.seen(dir, bytes.len());
        self.feed_inner(dir, bytes, t);
    }

    /// Attributes `bytes` of a stream carried inside another (TLS plaintext), whose bytes
    /// are counted where they cross the socket.
    pub fn feed_inner(&mut self, dir: Dir, bytes: &[u8], t: &mut Tally) {
        match &mut self.state {
            State::Off => {}
            State::On(d) => {
                if let Err(e) = d.feed(dir, bytes, t) {
                    for dir in Dir::BOTH {
                        let pending = t.pending(dir) as usize;
                        t.attribute(dir, Layer::Framing(Framing::Unparsed), pending);
                    }
                    self.state = State::Broken(e);
                }
            }
            State::Broken(_) => t.attribute(dir, Layer::Framing(Framing::Unparsed), bytes.len()),
        }
    }

    /// The ALPN offer of the stream's protocol (see [`Dissect::alpn`]).
    pub fn alpn(&self) -> Option<&'static [u8]> {
        match &self.state {
            State::On(d) => d.alpn(),
            _ => None,
        }
    }

    /// True while a dissector parses the stream (not off, not broken).
    pub fn is_on(&self) -> bool {
        matches!(self.state, State::On(_))
    }

    /// Why the stream could not be parsed, if it could not.
    pub fn error(&self) -> Option<&WireError> {
        match &self.state {
            State::Broken(e) => Some(e),
            _ => None,
        }
    }
}

/// Runs `units` (which parses whole units from the start of a slice and says how many bytes
/// it consumed) over what `buf` holds plus `bytes`, keeping the rest in `buf`. When nothing
/// is buffered, which is the common case (whole messages in one read), `bytes` are parsed
/// where they lie, without a copy.
pub fn parse_buffered<E>(
    buf: &mut Vec<u8>,
    bytes: &[u8],
    mut units: impl FnMut(&[u8]) -> Result<usize, E>,
) -> Result<(), E> {
    if buf.is_empty() {
        let used = units(bytes)?;
        buf.extend_from_slice(&bytes[used..]);
        return Ok(());
    }
    buf.extend_from_slice(bytes);
    let used = units(buf);
    buf.drain(..*used.as_ref().unwrap_or(&0));
    used.map(|_| ())
}

/// A map for the handful of streams a connection has open at once: a linear search beats
/// hashing at that size, and this runs for every frame the generator reads.
#[derive(Debug)]
pub struct Streams<K, V> {
    entries: Vec<(K, V)>,
}

impl<K, V> Default for Streams<K, V> {
    fn default() -> Self {
        Streams { entries: Vec::new() }
    }
}

impl<K: PartialEq + Copy, V: Default> Streams<K, V> {
    pub fn get_or_default(&mut self, key: K) -> &mut V {
        let i = match self.entries.iter().position(|(k, _)| *k == key) {
            Some(i) => i,
            None => {
                self.entries.push((key, V::default()));
                self.entries.len() - 1
            }
        };
        &mut self.entries[i].1
    }

    pub fn contains(&self, key: K) -> bool {
        self.entries.iter().any(|(k, _)| *k == key)
    }

    pub fn remove(&mut self, key: K) -> Option<V> {
        let i = self.entries.iter().position(|(k, _)| *k == key)?;
        Some(self.entries.swap_remove(i).1)
    }

    pub fn insert(&mut self, key: K, value: V) {
        *self.get_or_default(key) = value;
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Attributes a whole document: its data bytes as data, the rest as envelope.
pub fn attribute_doc(t: &mut Tally, dir: Dir, doc: Doc, bytes: &[u8]) -> Result<(), WireError> {
    let (data, framing) = doc.parts(bytes)?;
    t.attribute(dir, Layer::Data, data);
    t.attribute(dir, Layer::Framing(Framing::MessagePrefixes), framing);
    t.attribute(dir, Layer::Envelope, bytes.len() - data - framing);
    Ok(())
}

/// Feeds one recorded exchange through a dissector, for tests: `(direction, bytes)` in the
/// order they crossed the socket. Returns the tally.
pub fn replay(dissect: impl Dissect + 'static, exchange: &[(Dir, &[u8])]) -> (Tally, Option<WireError>) {
    let mut d = Dissector::new(dissect);
    let mut t = Tally::default();
    for (dir, bytes) in exchange {
        d.feed(*dir, bytes, &mut t);
    }
    (t, d.error().cloned())
}
