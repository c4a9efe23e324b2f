//! An HPACK decoder (RFC 7541) that says how many bytes each field representation took, and
//! allocates only when a field enters the dynamic table: the dissector runs on every response
//! the load generator reads, so it must cost far less than the client itself.

use std::collections::VecDeque;

use httlib_huffman::DecoderSpeed;

use super::dissect::WireError;

/// RFC 7541 Appendix A.
const STATIC: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
];

/// The default and largest dynamic table size accepted (HTTP/2's SETTINGS default).
const TABLE_SIZE: usize = 4096;

/// Two byte strings: a table entry's name and value, or an encoded string and its decoding.
type Pair = (Box<[u8]>, Box<[u8]>);

/// One direction's decoding state.
#[derive(Debug)]
pub struct Decoder {
    /// Newest first; index 62 is the front.
    table: VecDeque<Pair>,
    size: usize,
    max: usize,
    /// Huffman-decoded name and value of the field in hand.
    name: Vec<u8>,
    value: Vec<u8>,
    /// Recently decoded Huffman strings, by their encoded bytes: a client repeats the same
    /// `:path`, a server the same `date` for a second, so most are decoded once.
    recent: Recent,
}

/// A small cache of Huffman-decoded strings, oldest replaced first.
#[derive(Debug, Default)]
struct Recent {
    entries: Vec<Pair>,
    next: usize,
}

impl Recent {
    const SIZE: usize = 16;
    /// Strings longer than this are not worth keeping.
    const LONGEST: usize = 128;

    /// Decodes `encoded` into `out`, from the cache when it is there.
    fn decode(&mut self, encoded: &[u8], out: &mut Vec<u8>) -> Result<(), WireError> {
        if let Some((_, decoded)) = self.entries.iter().find(|(e, _)| **e == *encoded) {
            out.extend_from_slice(decoded);
            return Ok(());
        }
        httlib_huffman::decode(encoded, out, DecoderSpeed::FiveBits)
            .map_err(|e| WireError(format!("HTTP/2: HPACK Huffman: {e:?}")))?;
        if encoded.len() <= Self::LONGEST {
            let entry = (encoded.into(), out[..].into());
            if self.entries.len() < Self::SIZE {
                self.entries.push(entry);
            } else {
                self.entries[self.next] = entry;
                self.next = (self.next + 1) % Self::SIZE;
            }
        }
        Ok(())
    }
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            table: VecDeque::new(),
            size: 0,
            max: TABLE_SIZE,
            name: Vec::new(),
            value: Vec::new(),
            recent: Recent::default(),
        }
    }
}

fn bad() -> WireError {
    WireError("HTTP/2: an HPACK block that does not parse".into())
}

impl Decoder {
    /// Calls `field(name, value, encoded length)` for every field representation of a header
    /// block. A dynamic table size update counts with the field after it.
    pub fn fields(
        &mut self,
        block: &[u8],
        mut field: impl FnMut(&[u8], &[u8], usize),
    ) -> Result<(), WireError> {
        let (mut start, mut pos) = (0, 0);
        while pos < block.len() {
            let b = block[pos];
            if b & 0xe0 == 0x20 {
                let (size, n) = integer(&block[pos..], 5).ok_or_else(bad)?;
                if size > TABLE_SIZE {
                    return Err(WireError(format!("HTTP/2: HPACK table size {size} over {TABLE_SIZE}")));
                }
                self.max = size;
                self.evict(0);
                pos += n;
                continue;
            }
            if b & 0x80 != 0 {
                let (index, n) = integer(&block[pos..], 7).ok_or_else(bad)?;
                pos += n;
                let (name, value) = self.entry(index)?;
                field(name, value, pos - start);
            } else {
                let indexing = b & 0xc0 == 0x40;
                let (index, n) = integer(&block[pos..], if indexing { 6 } else { 4 }).into_ok()?;
                pos += n;
                let named = index != 0;
                let mut name = std::mem::take(&mut self.name);
                if named {
                    name.clear();
                    name.extend_from_slice(self.entry(index)?.0);
                } else {
                    pos += string(&block[pos..], &mut name, &mut self.recent)?;
                }
                let mut value = std::mem::take(&mut self.value);
                pos += string(&block[pos..], &mut value, &mut self.recent)?;
                field(&name, &value, pos - start);
                if indexing {
                    self.insert(&name, &value);
                }
                (self.name, self.value) = (name, value);
            }
            start = pos;
        }
        if start != block.len() {
            return Err(WireError("HTTP/2: an HPACK block that ends with a size update".into()));
        }
        Ok(())
    }

    fn entry(&self, index: usize) -> Result<(&[u8], &[u8]), WireError> {
        match index {
            1..=61 => Ok(STATIC[index - 1]),
            _ => self
                .table
                .get(index.wrapping_sub(62))
                .map(|(n, v)| (&n[..], &v[..]))
                .ok_or_else(|| WireError(format!("HTTP/2: HPACK index {index} out of the table"))),
        }
    }

    fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = name.len() + value.len() + 32;
        self.evict(size);
        if size <= self.max {
            self.table.push_front((name.into(), value.into()));
            self.size += size;
        }
    }

    /// Drops the oldest entries until `room` more bytes fit.
    fn evict(&mut self, room: usize) {
        while self.size + room > self.max {
            let Some((n, v)) = self.table.pop_back() else { break };
            self.size -= n.len() + v.len() + 32;
        }
    }
}

/// Turns `Option` into the dissector's error.
trait IntoOk<T> {
    fn into_ok(self) -> Result<T, WireError>;
}

impl<T> IntoOk<T> for Option<T> {
    fn into_ok(self) -> Result<T, WireError> {
        self.ok_or_else(bad)
    }
}

/// An integer with an `n`-bit prefix: value and encoded length.
fn integer(buf: &[u8], n: u8) -> Option<(usize, usize)> {
    let mask = (1usize << n) - 1;
    let first = usize::from(*buf.first()?) & mask;
    if first < mask {
        return Some((first, 1));
    }
    let (mut value, mut shift) = (mask, 0);
    for (i, b) in buf.iter().enumerate().skip(1).take(4) {
        value += usize::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

/// A string literal decoded into `out`; returns its encoded length.
fn string(buf: &[u8], out: &mut Vec<u8>, recent: &mut Recent) -> Result<usize, WireError> {
    let (len, n) = integer(buf, 7).ok_or_else(bad)?;
    let bytes = buf.get(n..n + len).ok_or_else(bad)?;
    out.clear();
    if buf[0] & 0x80 != 0 {
        recent.decode(bytes, out)?;
    } else {
        out.extend_from_slice(bytes);
    }
    Ok(n + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(d: &mut Decoder, block: &[u8]) -> Vec<(String, String, usize)> {
        let mut out = Vec::new();
        d.fields(block, |n, v, len| {
            out.push((String::from_utf8_lossy(n).into(), String::from_utf8_lossy(v).into(), len));
        })
        .unwrap();
        out
    }

    #[test]
    fn rfc_7541_c_4_requests_with_huffman_and_the_dynamic_table() {
        // C.4.1 and C.4.2: the second request reuses the first's :authority from the table.
        let first = [
            0x82, 0x86, 0x84, 0x41, 0x8c, 0xf1, 0xe3, 0xc2, 0xe5, 0xf2, 0x3a, 0x6b, 0xa0, 0xab, 0x90, 0xf4,
            0xff,
        ];
        let mut d = Decoder::default();
        let got = fields(&mut d, &first);
        assert_eq!(got[3], (":authority".into(), "www.example.com".into(), 14));
        assert_eq!(got.iter().map(|f| f.2).sum::<usize>(), first.len());
        let second = [0x82, 0x86, 0x84, 0xbe, 0x58, 0x86, 0xa8, 0xeb, 0x10, 0x64, 0x9c, 0xbf];
        let got = fields(&mut d, &second);
        assert_eq!(got[3], (":authority".into(), "www.example.com".into(), 1));
        assert_eq!(got[4], ("cache-control".into(), "no-cache".into(), 8));
    }

    #[test]
    fn size_updates_count_with_the_next_field_and_bad_blocks_fail() {
        let mut d = Decoder::default();
        // A size update to 0 (1 byte), then :method GET (1 byte).
        assert_eq!(fields(&mut d, &[0x20, 0x82]), vec![(":method".into(), "GET".into(), 2)]);
        assert!(d.fields(&[0x00, 0x05, b'a'], |_, _, _| {}).is_err());
        assert!(d.fields(&[0xbe], |_, _, _| {}).is_err(), "index 62 of an empty table");
        assert!(d.fields(&[0x20], |_, _, _| {}).is_err(), "a block that ends with a size update");
    }
}
