//! HTTP/1.1, both directions: start lines and header lines are framing (the request target
//! is envelope), chunk-size lines are framing, bodies are documents the protocol's
//! [`DocRules`] classify. A request head is a request of the wave count; a final response's
//! status line an answer. After a `101 Switching Protocols` the rest of the stream belongs to
//! another protocol ([`Http1::upgraded`]).

use std::collections::VecDeque;

use super::dissect::{Dissect, DocRules, WireError, attribute_doc, parse_buffered};
use super::docs::Doc;
use super::tally::{Dir, Framing, HeaderSlots, Layer, Tally};

/// Longest head accepted before the stream is called unparsable.
const MAX_HEAD: usize = 64 * 1024;

/// One direction's parser.
#[derive(Debug, Default)]
struct Side {
    /// Bytes seen and not yet consumed.
    buf: Vec<u8>,
    phase: Phase,
    /// The body of the message in progress, and what it is.
    body: Vec<u8>,
    doc: Option<Doc>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Phase {
    #[default]
    Head,
    /// A body of known length: bytes still to come.
    Length(usize),
    ChunkSize,
    ChunkData(usize),
    ChunkEnd,
    Trailers,
    /// After a 101: not HTTP any more.
    Upgraded,
}

/// HTTP/1.1 with a protocol's document rules.
#[derive(Debug)]
pub struct Http1<R> {
    rules: R,
    sides: [Side; 2],
    /// What the answers to the requests not yet answered carry, oldest first (decided from
    /// each request's `METHOD target`).
    answers: VecDeque<Doc>,
    /// `METHOD target` of the request in hand (a buffer kept between requests).
    route: String,
    /// What the answer in progress carries.
    answering: Doc,
    slots: HeaderSlots,
}

impl<R: DocRules> Http1<R> {
    pub fn new(rules: R) -> Self {
        Http1 {
            rules,
            sides: Default::default(),
            answers: VecDeque::new(),
            route: String::new(),
            answering: Doc::OpaqueEnvelope,
            slots: HeaderSlots::default(),
        }
    }

    /// True once a `101 Switching Protocols` went by.
    pub fn upgraded(&self) -> bool {
        self.sides[Dir::Received.index()].phase == Phase::Upgraded
    }

    /// The bytes after the upgrade that this parser did not consume, per direction.
    pub fn take_leftover(&mut self, dir: Dir) -> Vec<u8> {
        std::mem::take(&mut self.sides[dir.index()].buf)
    }

    /// Parses the next unit at the start of `buf`; returns the bytes it consumed, or `None`
    /// when more are needed.
    fn step(&mut self, dir: Dir, buf: &[u8], t: &mut Tally) -> Result<Option<usize>, WireError> {
        let phase = self.sides[dir.index()].phase;
        match phase {
            Phase::Upgraded => Ok(None),
            Phase::Head => {
                let Some(end) = find_head_end(buf) else {
                    if buf.len() > MAX_HEAD {
                        return Err(WireError(format!("an HTTP/1.1 head longer than {MAX_HEAD} bytes")));
                    }
                    return Ok(None);
                };
                self.head(dir, &buf[..end + 4], t)?;
                Ok(Some(end + 4))
            }
            Phase::Length(left) | Phase::ChunkData(left) => {
                let n = left.min(buf.len());
                if n == 0 {
                    return Ok(None);
                }
                let side = &mut self.sides[dir.index()];
                let whole = n == left && side.body.is_empty() && phase == Phase::Length(left);
                side.phase = match phase {
                    Phase::Length(_) => Phase::Length(left - n),
                    _ if n == left => Phase::ChunkEnd,
                    _ => Phase::ChunkData(left - n),
                };
                if whole {
                    // The whole body in one read: classified where it lies, no copy.
                    self.end_body(dir, &buf[..n], t)?;
                } else {
                    side.body.extend_from_slice(&buf[..n]);
                    self.stream_lines(dir, t)?;
                    if side_done(&self.sides[dir.index()]) {
                        let body = std::mem::take(&mut self.sides[dir.index()].body);
                        self.end_body(dir, &body, t)?;
                    }
                }
                Ok(Some(n))
            }
            Phase::ChunkSize | Phase::ChunkEnd | Phase::Trailers => {
                let Some(end) = find(buf, b"\r\n") else { return Ok(None) };
                let line = &buf[..end + 2];
                t.attribute(dir, Layer::Framing(Framing::Chunking), line.len());
                let next = match phase {
                    Phase::ChunkSize => match chunk_size(line)? {
                        0 => Phase::Trailers,
                        n => Phase::ChunkData(n),
                    },
                    Phase::ChunkEnd if line == b"\r\n" => Phase::ChunkSize,
                    Phase::ChunkEnd => return Err(WireError("a chunk not followed by CRLF".into())),
                    _ if line == b"\r\n" => {
                        let body = std::mem::take(&mut self.sides[dir.index()].body);
                        self.end_body(dir, &body, t)?;
                        return Ok(Some(end + 2));
                    }
                    _ => Phase::Trailers,
                };
                self.sides[dir.index()].phase = next;
                Ok(Some(end + 2))
            }
        }
    }

    /// Attributes a whole head and sets up its body. Nothing is attributed unless the whole
    /// head parses.
    fn head(&mut self, dir: Dir, head: &[u8], t: &mut Tally) -> Result<(), WireError> {
        let line_end = find(head, b"\r\n").unwrap_or(head.len());
        let line = &head[..line_end];
        let header_lines = || head[line_end + 2..head.len() - 2].split_inclusive(|b| *b == b'\n');
        let mut headers = Headers::default();
        for h in header_lines() {
            let colon =
                h.iter().position(|b| *b == b':').ok_or_else(|| bad("a header line without ':'", h))?;
            headers.note(&h[..colon], trim(&h[colon + 1..]));
        }
        let (phase, doc) = match dir {
            Dir::Sent => self.request_line(line, &headers, t)?,
            Dir::Received => self.status_line(line, &headers, t)?,
        };
        for h in header_lines() {
            let name = &h[..h.iter().position(|b| *b == b':').unwrap_or(0)];
            t.attribute(dir, Layer::Framing(Framing::Headers), h.len());
            t.header(dir, self.slots.slot(name), h.len());
        }
        t.attribute(dir, Layer::Framing(Framing::Headers), 2);
        let side = &mut self.sides[dir.index()];
        side.phase = phase;
        side.doc = Some(doc);
        if phase == Phase::Length(0) {
            self.end_body(dir, &[], t)?;
        }
        Ok(())
    }

    /// A request line: method and version are framing, the target envelope.
    fn request_line(
        &mut self,
        line: &[u8],
        headers: &Headers,
        t: &mut Tally,
    ) -> Result<(Phase, Doc), WireError> {
        let mut parts = line.splitn(3, |b| *b == b' ');
        let (Some(method), Some(target), Some(_)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("a request line", line));
        };
        let phase = headers.body_phase(false)?;
        t.attribute(Dir::Sent, Layer::Framing(Framing::StartLine), line.len() + 2 - target.len());
        t.attribute(Dir::Sent, Layer::Envelope, target.len());
        t.request();
        self.route.clear();
        self.route.push_str(&String::from_utf8_lossy(method));
        self.route.push(' ');
        self.route.push_str(&String::from_utf8_lossy(target));
        let doc = self.rules.doc(Dir::Sent, &self.route, &[]);
        let answer = self.rules.doc(Dir::Received, &self.route, &[]);
        self.answers.push_back(answer);
        Ok((phase, headers.doc(doc, 200)))
    }

    /// A status line: all framing; a final status begins an answer.
    fn status_line(
        &mut self,
        line: &[u8],
        headers: &Headers,
        t: &mut Tally,
    ) -> Result<(Phase, Doc), WireError> {
        let status = line
            .split(|b| *b == b' ')
            .nth(1)
            .and_then(|s| std::str::from_utf8(s).ok()?.parse::<u16>().ok())
            .ok_or_else(|| bad("a status line", line))?;
        let phase = match status {
            101 => Phase::Upgraded,
            100..=199 | 204 | 304 => Phase::Head,
            _ => headers.body_phase(true)?,
        };
        t.attribute(Dir::Received, Layer::Framing(Framing::StartLine), line.len() + 2);
        if status >= 200 || status == 101 {
            t.answer();
            self.answering = self.answers.pop_front().unwrap_or(Doc::OpaqueEnvelope);
        }
        let doc = self.answering;
        Ok((phase, headers.doc(doc, status)))
    }

    /// Newline-delimited documents are attributed line by line as they complete.
    fn stream_lines(&mut self, dir: Dir, t: &mut Tally) -> Result<(), WireError> {
        let side = &mut self.sides[dir.index()];
        if let Some(Doc::JsonLines(paths)) = side.doc {
            while let Some(end) = side.body.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = side.body.drain(..=end).collect();
                attribute_doc(t, dir, Doc::JsonLines(paths), &line)?;
            }
        }
        Ok(())
    }

    /// Attributes a finished body (what newline-delimited streaming left of it); a whole
    /// request body may tell what its answer carries ([`DocRules::answer`]).
    fn end_body(&mut self, dir: Dir, body: &[u8], t: &mut Tally) -> Result<(), WireError> {
        let side = &mut self.sides[dir.index()];
        if let Some(doc) = side.doc.take() {
            attribute_doc(t, dir, doc, body)?;
        }
        side.phase = Phase::Head;
        if dir == Dir::Sent
            && let Some(answer) = self.rules.answer(&self.route, body)
            && let Some(pending) = self.answers.back_mut()
        {
            *pending = answer;
        }
        Ok(())
    }
}

impl<R: DocRules> Http1<R> {
    /// Parses every whole unit of `buf`; returns the bytes consumed.
    fn units(&mut self, dir: Dir, buf: &[u8], t: &mut Tally) -> Result<usize, WireError> {
        let mut pos = 0;
        while let Some(n) = self.step(dir, &buf[pos..], t)? {
            pos += n;
        }
        Ok(pos)
    }
}

impl<R: DocRules> Dissect for Http1<R> {
    fn alpn(&self) -> Option<&'static [u8]> {
        Some(b"http/1.1")
    }

    fn feed(&mut self, dir: Dir, bytes: &[u8], t: &mut Tally) -> Result<(), WireError> {
        let mut buf = std::mem::take(&mut self.sides[dir.index()].buf);
        let parsed = parse_buffered(&mut buf, bytes, |b| self.units(dir, b, t));
        self.sides[dir.index()].buf = buf;
        parsed
    }
}

/// True when a body of known length has all arrived.
fn side_done(side: &Side) -> bool {
    side.phase == Phase::Length(0)
}

/// What the headers say about the body.
#[derive(Debug, Default)]
struct Headers {
    length: Option<usize>,
    chunked: bool,
    encoded: bool,
}

impl Headers {
    fn note(&mut self, name: &[u8], value: &[u8]) {
        if name.eq_ignore_ascii_case(b"content-length") {
            self.length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            self.chunked = value.eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"content-encoding") {
            self.encoded = !value.eq_ignore_ascii_case(b"identity");
        }
    }

    fn body_phase(&self, response: bool) -> Result<Phase, WireError> {
        Ok(match (self.chunked, self.length) {
            (true, _) => Phase::ChunkSize,
            (false, Some(n)) => Phase::Length(n),
            (false, None) if !response => Phase::Length(0),
            (false, None) => return Err(WireError("a response without length or chunking".into())),
        })
    }

    /// An error answer carries no records; a compressed body cannot be split.
    fn doc(&self, doc: Doc, status: u16) -> Doc {
        if status >= 300 {
            Doc::OpaqueEnvelope
        } else if self.encoded {
            Doc::OpaqueData
        } else {
            doc
        }
    }
}

/// The size a chunk-size line (`hex[;extensions]`, its CRLF optional) announces.
pub fn chunk_size(line: &[u8]) -> Result<usize, WireError> {
    let hex = line.split(|b| *b == b';' || *b == b'\r').next().unwrap_or_default();
    std::str::from_utf8(hex)
        .ok()
        .and_then(|h| usize::from_str_radix(h.trim(), 16).ok())
        .ok_or_else(|| bad("a chunk-size line", line))
}

fn bad(what: &str, bytes: &[u8]) -> WireError {
    WireError(format!("HTTP/1.1: not {what}: {:?}", String::from_utf8_lossy(&bytes[..bytes.len().min(80)])))
}

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    match needle {
        b"\r\n" => {
            memchr::memchr(b'\n', haystack).filter(|i| *i > 0 && haystack[i - 1] == b'\r').map(|i| i - 1)
        }
        _ => memchr::memmem::find(haystack, needle),
    }
}

/// The end of a head: the first "\r\n\r\n", found with a searcher built once.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    static END: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\r\n\r\n"));
    END.find(buf)
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(v.len());
    let end = v.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |e| e + 1);
    &v[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::replay;

    /// REST's rules in miniature: a user is a record, a page's elements are records.
    struct Rules;

    impl DocRules for Rules {
        fn doc(&mut self, _: Dir, route: &str, _: &[u8]) -> Doc {
            if route.contains("/orders") { Doc::Json(&["$.data[*]"]) } else { Doc::Json(&["$"]) }
        }
    }

    #[test]
    fn a_get_and_its_answer_split_by_hand() {
        let request = b"GET /v1/users/1 HTTP/1.1\r\nhost: a\r\n\r\n";
        let response = b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n{\"id\":1}\n";
        // The body is 9 bytes but not valid JSON with its newline? It is: whitespace.
        let (t, err) = replay(Http1::new(Rules), &[(Dir::Sent, request), (Dir::Received, response)]);
        assert_eq!(err, None);
        // Sent: "GET " + " HTTP/1.1\r\n" = 15 start-line bytes, the target 11 bytes envelope,
        // "host: a\r\n" 9 header bytes, the blank line 2.
        assert_eq!(t.framing[0][Framing::StartLine as usize], 15);
        assert_eq!(t.envelope[0], 11);
        assert_eq!(t.framing[0][Framing::Headers as usize], 11);
        // Received: status line 17, header 19 + 2, the record {"id":1} 8 bytes, the newline 1.
        assert_eq!(t.framing[1][Framing::StartLine as usize], 17);
        assert_eq!(t.framing[1][Framing::Headers as usize], 21);
        assert_eq!((t.data[1], t.envelope[1]), (8, 1));
        assert_eq!((t.pending(Dir::Sent), t.pending(Dir::Received)), (0, 0));
        assert_eq!((t.requests, t.answers, t.waves), (1, 1, 1));
    }

    #[test]
    fn chunked_lines_arrive_in_pieces_and_errors_carry_no_records() {
        let response: &[u8] =
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n8\r\n{\"a\":1}\n\r\n8\r\n{\"a\":2}\n\r\n0\r\n\r\n";
        struct Lines;
        impl DocRules for Lines {
            fn doc(&mut self, _: Dir, _: &str, _: &[u8]) -> Doc {
                Doc::JsonLines(&["$"])
            }
        }
        let mut exchange = vec![(Dir::Sent, &b"GET /s HTTP/1.1\r\n\r\n"[..])];
        exchange.extend(response.chunks(5).map(|c| (Dir::Received, c)));
        let (t, err) = replay(Http1::new(Lines), &exchange);
        assert_eq!(err, None);
        // Two records of 7 bytes, two newlines, chunk lines "8\r\n" ×2 + "\r\n" ×2 + "0\r\n\r\n".
        assert_eq!((t.data[1], t.envelope[1]), (14, 2));
        assert_eq!(t.framing[1][Framing::Chunking as usize], 3 + 2 + 3 + 2 + 5);
        assert_eq!(t.pending(Dir::Received), 0);

        let error = b"HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\n\r\n{}";
        let (t, _) =
            replay(Http1::new(Rules), &[(Dir::Sent, b"GET /x HTTP/1.1\r\n\r\n"), (Dir::Received, error)]);
        assert_eq!((t.data[1], t.envelope[1]), (0, 2));
    }

    #[test]
    fn garbage_is_an_error() {
        let (t, err) = replay(Http1::new(Rules), &[(Dir::Received, b"HTTP/1.1 abc\r\n\r\n")]);
        assert!(err.is_some());
        assert_eq!(t.framing[1][Framing::Unparsed as usize], 16);
    }
}
