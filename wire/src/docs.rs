//! Documents: where the data is inside one JSON document or protobuf message.
//!
//! The rule, the same for every protocol: **data** is the byte span of each domain record a
//! document carries (a user, an order, an order summary, a new order, an import summary,
//! whole or with only some fields, as the protocol encodes it: a JSON value from its first
//! to its last byte, or an embedded protobuf message's bytes without its own tag and length);
//! **envelope** is every other byte of the document (wrapper objects and keys, correlation
//! ids, cursors, protobuf tags and lengths of wrapper fields, whitespace).
//!
//! Which values are records is said by *paths*, given per document by the protocol that
//! knows its shapes: `$` is the whole document, `$.data.user` a member, `$.data[*]` every
//! element of an array, `$.results[*].order` a member of every element. For protobuf the
//! keys are field numbers (`$.2`), and every occurrence of a repeated field matches.

/// A document the dissector could not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} document: {what} at byte {at}")]
pub struct DocError {
    kind: &'static str,
    what: &'static str,
    at: usize,
}

/// The prefix before each message of a length-prefixed body: `tag` bytes, then the message's
/// length as a `len`-byte big-endian integer. A message whose first tag byte has any of the
/// `trailer` bits set is the body's trailer (framing whole, no records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub tag: usize,
    pub len: usize,
    pub trailer: u8,
}

impl Prefix {
    fn bytes(self) -> usize {
        self.tag + self.len
    }
}

/// What a document is and which of its values are records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    /// A JSON document; values at these paths are data.
    Json(&'static [&'static str]),
    /// Newline-delimited JSON, each line a document with these paths; newlines are envelope.
    JsonLines(&'static [&'static str]),
    /// A protobuf message; fields at these paths are data.
    Protobuf(&'static [&'static str]),
    /// Length-prefixed protobuf messages in one body, each prefix of the shape the protocol
    /// declares (gRPC-Web's, in its client): each prefix, and a trailer message whole, are
    /// message framing; each other message is a protobuf message with these paths.
    Prefixed(Prefix, &'static [&'static str]),
    /// Protobuf messages each after its varint length (a delimited stream): the lengths are
    /// message framing; each message has these paths.
    ProtobufDelimited(&'static [&'static str]),
    /// Server-sent events: each event's `data:` value is a JSON document with these paths;
    /// field names and line ends are envelope (as newlines are in newline-delimited JSON).
    EventStream(&'static [&'static str]),
    /// Counted whole as data (a compressed body, whose envelope cannot be told apart).
    OpaqueData,
    /// Counted whole as envelope (an error answer carries no records).
    OpaqueEnvelope,
}

impl Doc {
    /// The data bytes of `bytes` read as this document (the rest is envelope).
    pub fn data_bytes(self, bytes: &[u8]) -> Result<usize, DocError> {
        if bytes.is_empty() {
            // No body (a GET): nothing to attribute.
            return Ok(0);
        }
        match self {
            // A document that is one record whole needs no parsing: its client decodes it.
            Doc::Json(["$"]) => Ok(bytes.trim_ascii().len()),
            Doc::Json(paths) => json_data(bytes, paths),
            Doc::JsonLines(paths) => {
                let mut data = 0;
                for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    data += Doc::Json(paths).data_bytes(line)?;
                }
                Ok(data)
            }
            Doc::Protobuf(["$"]) => Ok(bytes.len()),
            Doc::Protobuf(paths) => protobuf_data(bytes, paths),
            Doc::Prefixed(..) | Doc::ProtobufDelimited(_) => Ok(self.parts(bytes)?.0),
            Doc::EventStream(paths) => {
                let mut data = 0;
                for line in bytes.split(|b| *b == b'\n') {
                    if let Some(value) = line.strip_prefix(b"data:") {
                        data += Doc::Json(paths).data_bytes(value)?;
                    }
                }
                Ok(data)
            }
            Doc::OpaqueData => Ok(bytes.len()),
            Doc::OpaqueEnvelope => Ok(0),
        }
    }

    /// The data bytes and the message framing (length prefixes, and a prefixed body's
    /// trailer) of `bytes` read as this document, in one pass; the rest is envelope. A document
    /// that is one message has no message framing.
    pub fn parts(self, bytes: &[u8]) -> Result<(usize, usize), DocError> {
        let (mut data, mut framing) = (0, 0);
        match self {
            Doc::Prefixed(prefix, paths) => prefixed(bytes, prefix, |tag, message| {
                if tag & prefix.trailer == 0 {
                    data += Doc::Protobuf(paths).data_bytes(message)?;
                    framing += prefix.bytes();
                } else {
                    framing += prefix.bytes() + message.len();
                }
                Ok(())
            })?,
            Doc::ProtobufDelimited(paths) => delimited(bytes, |prefix, message| {
                data += Doc::Protobuf(paths).data_bytes(message)?;
                framing += prefix;
                Ok(())
            })?,
            _ => data = self.data_bytes(bytes)?,
        }
        Ok((data, framing))
    }
}

/// Calls `each` with every `(first tag byte, message)` of a body of `prefix`-framed messages
/// (0 for the tag when the prefix has none).
fn prefixed(
    bytes: &[u8],
    prefix: Prefix,
    mut each: impl FnMut(u8, &[u8]) -> Result<(), DocError>,
) -> Result<(), DocError> {
    let mut at = 0;
    while at < bytes.len() {
        let head = bytes.get(at..at + prefix.bytes()).ok_or(DocError::framed("a cut prefix", at))?;
        let len = head[prefix.tag..].iter().fold(0usize, |n, b| n << 8 | usize::from(*b));
        let start = at + prefix.bytes();
        let message = bytes.get(start..start + len).ok_or(DocError::framed("a cut message", at))?;
        each(head[..prefix.tag].first().copied().unwrap_or(0), message)?;
        at = start + len;
    }
    Ok(())
}

/// Calls `each` with every `(length of the varint, message)` of a delimited protobuf stream.
fn delimited(
    bytes: &[u8],
    mut each: impl FnMut(usize, &[u8]) -> Result<(), DocError>,
) -> Result<(), DocError> {
    let mut at = 0;
    while at < bytes.len() {
        let (len, n) = varint(&bytes[at..]).ok_or(DocError::framed("a cut length", at))?;
        let message = usize::try_from(len)
            .ok()
            .and_then(|len| bytes.get(at + n..at + n + len))
            .ok_or(DocError::framed("a cut message", at))?;
        each(n, message)?;
        at += n + message.len();
    }
    Ok(())
}

impl DocError {
    fn framed(what: &'static str, at: usize) -> DocError {
        DocError { kind: "framed", what, at }
    }
}

/// The raw bytes of the top-level member `key` of a JSON object (a string keeps its quotes),
/// for protocols whose messages say what they are (`"op"`, `"type"`, `"id"`).
pub fn json_member<'a>(doc: &'a [u8], key: &str) -> Option<&'a [u8]> {
    let mut scan = Json { doc, pos: 0, data: 0 };
    scan.ws();
    scan.expect(b'{', "").ok()?;
    loop {
        scan.ws();
        if scan.peek().ok()? == b'}' {
            return None;
        }
        let name = scan.string().ok()?;
        scan.ws();
        scan.expect(b':', "").ok()?;
        scan.ws();
        let start = scan.pos;
        scan.skip_value().ok()?;
        if name == key.as_bytes() {
            return Some(&doc[start..scan.pos]);
        }
        scan.ws();
        if scan.peek().ok()? == b',' {
            scan.pos += 1;
        }
    }
}

/// One step of a path: a member name, or any element of an array (any occurrence of a field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a [u8]),
    Any,
}

/// The steps of a path such as `$.a[*].b`.
fn steps(path: &str) -> impl Iterator<Item = Step<'_>> {
    path.strip_prefix('$').unwrap_or(path).split('.').filter(|s| !s.is_empty()).flat_map(|seg| {
        let (key, any) = match seg.strip_suffix("[*]") {
            Some(key) => (key, true),
            None => (seg, false),
        };
        let key = (!key.is_empty()).then_some(Step::Key(key.as_bytes()));
        key.into_iter().chain(any.then_some(Step::Any))
    })
}

/// True when the position `at` (member names and array elements from the root) is one of
/// `paths`. Array elements match `[*]`; for protobuf a field number matches as a name.
fn at_record(at: &[Step<'_>], paths: &[&str]) -> bool {
    paths.iter().any(|p| {
        let mut want = steps(p);
        at.iter().all(|s| want.next().is_some_and(|w| w == *s || (w == Step::Any && *s == Step::Any)))
            && want.next().is_none()
    })
}

// ---------------------------------------------------------------------------------------
// JSON

fn json_data(doc: &[u8], paths: &[&str]) -> Result<usize, DocError> {
    let mut scan = Json { doc, pos: 0, data: 0 };
    let mut at = Vec::with_capacity(8);
    scan.ws();
    scan.value(&mut at, paths)?;
    scan.ws();
    if scan.pos != doc.len() {
        return Err(scan.err("trailing bytes"));
    }
    Ok(scan.data)
}

struct Json<'a> {
    doc: &'a [u8],
    pos: usize,
    data: usize,
}

impl<'a> Json<'a> {
    fn err(&self, what: &'static str) -> DocError {
        DocError { kind: "JSON", what, at: self.pos }
    }

    fn peek(&self) -> Result<u8, DocError> {
        self.doc.get(self.pos).copied().ok_or_else(|| self.err("unexpected end"))
    }

    fn ws(&mut self) {
        while self.doc.get(self.pos).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, byte: u8, what: &'static str) -> Result<(), DocError> {
        if self.peek()? != byte {
            return Err(self.err(what));
        }
        self.pos += 1;
        Ok(())
    }

    fn value(&mut self, at: &mut Vec<Step<'a>>, paths: &[&str]) -> Result<(), DocError> {
        if at_record(at, paths) {
            let start = self.pos;
            self.skip_value()?;
            self.data += self.pos - start;
            return Ok(());
        }
        match self.peek()? {
            b'{' => self.object(at, paths),
            b'[' => self.array(at, paths),
            _ => self.skip_value(),
        }
    }

    fn object(&mut self, at: &mut Vec<Step<'a>>, paths: &[&str]) -> Result<(), DocError> {
        self.pos += 1;
        self.ws();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Ok(());
        }
        loop {
            self.ws();
            let key = self.string()?;
            self.ws();
            self.expect(b':', "expected ':'")?;
            self.ws();
            at.push(Step::Key(key));
            self.value(at, paths)?;
            at.pop();
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self, at: &mut Vec<Step<'a>>, paths: &[&str]) -> Result<(), DocError> {
        self.pos += 1;
        self.ws();
        if self.peek()? == b']' {
            self.pos += 1;
            return Ok(());
        }
        at.push(Step::Any);
        loop {
            self.ws();
            self.value(at, paths)?;
            self.ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    at.pop();
                    return Ok(());
                }
                _ => return Err(self.err("expected ',' or ']'")),
            }
        }
    }

    /// A string's contents (between the quotes, escapes left as they are).
    fn string(&mut self) -> Result<&'a [u8], DocError> {
        self.expect(b'"', "expected a string")?;
        let start = self.pos;
        loop {
            let rest = self.doc.get(self.pos..).unwrap_or_default();
            match memchr::memchr2(b'"', b'\\', rest) {
                Some(i) if rest[i] == b'"' => {
                    self.pos += i;
                    break;
                }
                Some(i) => self.pos += i + 2,
                None => {
                    self.pos = self.doc.len();
                    return Err(self.err("unterminated string"));
                }
            }
        }
        let s = &self.doc[start..self.pos];
        self.pos += 1;
        Ok(s)
    }

    /// Moves past one whole value without looking inside.
    fn skip_value(&mut self) -> Result<(), DocError> {
        match self.peek()? {
            b'"' => self.string().map(|_| ()),
            b'{' | b'[' => {
                let mut depth = 0usize;
                loop {
                    // Jump to the next byte that matters: a quote or a bracket.
                    let rest = self.doc.get(self.pos..).unwrap_or_default();
                    let skip = rest
                        .iter()
                        .position(|b| matches!(b, b'"' | b'{' | b'[' | b'}' | b']'))
                        .ok_or_else(|| self.err("unexpected end"))?;
                    self.pos += skip;
                    match self.doc[self.pos] {
                        b'"' => {
                            self.string()?;
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        _ => depth -= 1,
                    }
                    self.pos += 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
            }
            _ => {
                let start = self.pos;
                while self.doc.get(self.pos).is_some_and(|b| !b",}] \t\r\n".contains(b)) {
                    self.pos += 1;
                }
                if self.pos == start { Err(self.err("expected a value")) } else { Ok(()) }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Protobuf

fn protobuf_data(msg: &[u8], paths: &[&str]) -> Result<usize, DocError> {
    let mut at = Vec::with_capacity(4);
    message(msg, 0, &mut at, paths)
}

/// How a field position relates to the paths: a record, on the way to one, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fit {
    Record,
    Inside,
    Neither,
}

/// Where the field numbers `at` stand among `paths` (`[*]` is ignored: every occurrence of
/// a repeated field matches).
fn fit(at: &[usize], paths: &[&str]) -> Fit {
    let mut best = Fit::Neither;
    for p in paths {
        let mut want = steps(p).filter_map(|s| match s {
            Step::Key(k) => std::str::from_utf8(k).ok()?.parse::<usize>().ok(),
            Step::Any => None,
        });
        if at.iter().all(|f| want.next() == Some(*f)) {
            match want.next() {
                None => return Fit::Record,
                Some(_) => best = Fit::Inside,
            }
        }
    }
    best
}

/// The data bytes of the message `msg` (at byte `offset` of the document), whose field
/// position is `at`.
fn message(msg: &[u8], offset: usize, at: &mut Vec<usize>, paths: &[&str]) -> Result<usize, DocError> {
    let err = |what, pos: usize| DocError { kind: "protobuf", what, at: offset + pos };
    if fit(at, paths) == Fit::Record {
        return Ok(msg.len());
    }
    let (mut pos, mut data) = (0, 0);
    while pos < msg.len() {
        let (tag, n) = varint(&msg[pos..]).ok_or_else(|| err("bad tag", pos))?;
        pos += n;
        let value_len = match tag & 7 {
            0 => varint(&msg[pos..]).ok_or_else(|| err("bad varint", pos))?.1,
            1 => 8,
            5 => 4,
            2 => {
                let (len, n) = varint(&msg[pos..]).ok_or_else(|| err("bad length", pos))?;
                pos += n;
                usize::try_from(len).map_err(|_| err("length too large", pos))?
            }
            _ => return Err(err("unsupported wire type", pos)),
        };
        let end =
            pos.checked_add(value_len).filter(|e| *e <= msg.len()).ok_or_else(|| err("truncated", pos))?;
        at.push((tag >> 3) as usize);
        data += match fit(at, paths) {
            Fit::Record => value_len,
            Fit::Inside if tag & 7 == 2 => message(&msg[pos..end], offset + pos, at, paths)?,
            _ => 0,
        };
        at.pop();
        pos = end;
    }
    Ok(data)
}

/// A base-128 varint: its value and length.
fn varint(bytes: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, b) in bytes.iter().take(10).enumerate() {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use prost::Message;
    use wirebench_proto::v1 as pb;

    use super::*;

    #[test]
    fn framed_bodies_split_into_data_prefixes_and_envelope() {
        let order = pb::Order { id: 7, currency: "EUR".into(), ..Default::default() }.encode_to_vec();
        // A flag byte and a 4-byte length (gRPC-Web's shape): a message, then a trailer;
        // prefixes and trailers are framing.
        let five = Prefix { tag: 1, len: 4, trailer: 0x80 };
        let mut web = vec![0, 0, 0, 0, order.len() as u8];
        web.extend(&order);
        web.extend([0x80, 0, 0, 0, 15]);
        web.extend(b"status:0\r\n12345");
        assert_eq!(Doc::Prefixed(five, &["$"]).parts(&web), Ok((order.len(), 5 + 5 + 15)));
        assert!(Doc::Prefixed(five, &["$"]).parts(&web[..web.len() - 1]).is_err());
        // Another shape: no tag, a 2-byte length, no trailer.
        let two = Prefix { tag: 0, len: 2, trailer: 0 };
        let mut short = vec![0, order.len() as u8];
        short.extend(&order);
        assert_eq!(Doc::Prefixed(two, &["$"]).parts(&short), Ok((order.len(), 2)));
        // Delimited protobuf: the varint lengths are framing.
        let mut delimited = vec![order.len() as u8];
        delimited.extend(&order);
        delimited.extend(delimited.clone());
        assert_eq!(Doc::ProtobufDelimited(&["$"]).parts(&delimited), Ok((2 * order.len(), 2)));
        // Server-sent events: `data:` values are documents; the rest is envelope.
        let events = b"data: {\"id\":1}\n\ndata: {\"id\":22}\n\n";
        assert_eq!(Doc::EventStream(&["$"]).parts(events), Ok((8 + 9, 0)));
    }

    #[test]
    fn json_records_are_the_values_at_their_paths() {
        let doc = br#"{"data":[{"id":1},{"id":22}],"next_cursor":null}"#;
        // Two records, {"id":1} (8 bytes) and {"id":22} (9 bytes); the rest is envelope.
        assert_eq!(Doc::Json(&["$.data[*]"]).data_bytes(doc).unwrap(), 17);
        assert_eq!(Doc::Json(&["$"]).data_bytes(doc).unwrap(), doc.len());
        assert_eq!(Doc::Json(&[]).data_bytes(doc).unwrap(), 0);
        // Members of elements, and paths that are absent.
        let doc = br#"{"results":[{"status":201,"order":{"a":"x\"}"}}],"n":3}"#;
        assert_eq!(Doc::Json(&["$.results[*].order", "$.missing"]).data_bytes(doc).unwrap(), 12);
        let lines = b"{\"a\":1}\n{\"b\":2}\n";
        assert_eq!(Doc::JsonLines(&["$.b"]).data_bytes(lines).unwrap(), 1);
    }

    #[test]
    fn top_level_members_are_found_raw() {
        let doc = br#"{"type":"reply","id":12,"data":{"type":"inner"}}"#;
        assert_eq!(json_member(doc, "type"), Some(&b"\"reply\""[..]));
        assert_eq!(json_member(doc, "id"), Some(&b"12"[..]));
        assert_eq!(json_member(doc, "op"), None);
        assert_eq!(json_member(b"[1]", "id"), None);
    }

    #[test]
    fn broken_json_is_an_error_not_a_guess() {
        for bad in [&b"{\"a\":"[..], b"{\"a\" 1}", b"[1,2", b"{} x", b"  "] {
            assert!(Doc::Json(&["$.a"]).data_bytes(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn protobuf_records_are_field_values_without_their_tags() {
        let order = pb::Order { id: 7, currency: "EUR".into(), ..Default::default() };
        let page = pb::OrderPage { orders: vec![order.clone(), order.clone()], next_cursor: "c".into() };
        let bytes = page.encode_to_vec();
        let one = order.encoded_len();
        // Each order: a 1-byte tag and a 1-byte length around `one` bytes of record.
        assert_eq!(Doc::Protobuf(&["$.1"]).data_bytes(&bytes).unwrap(), 2 * one);
        assert_eq!(bytes.len(), 2 * (one + 2) + 3);
        assert_eq!(Doc::Protobuf(&["$"]).data_bytes(&bytes).unwrap(), bytes.len());
        // Nested: the currency string of every order (3 bytes each).
        assert_eq!(Doc::Protobuf(&["$.1.6"]).data_bytes(&bytes).unwrap(), 6);
        assert!(Doc::Protobuf(&["$.1"]).data_bytes(&bytes[..bytes.len() - 1]).is_err());
    }
}
