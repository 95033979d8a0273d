//! Read one member of a zip archive (a wheel) without downloading it: the
//! end-of-central-directory record, the central directory and then only the
//! member's bytes are fetched with HTTP range requests (a torch wheel is
//! ~500 MB; its `METADATA` or `torch/version.py` is a few kB). Servers that
//! ignore `Range` answer 200 and the whole body is read instead; `file://`
//! and plain paths are read with seeks.
//!
//! Hand-written on purpose (~150 lines): the `zip` crate needs a `Read + Seek`
//! source, and an HTTP-backed one would be as long as this reader. Stored and
//! deflated members and zip64 archives are supported, which covers wheels.

use std::io::{Read, Seek, SeekFrom};

use super::{fetch_error, open_with, MetaError};

/// Largest member this reader inflates (metadata files, not payloads).
const MEMBER_LIMIT: u64 = 64 << 20;
/// Tail fetched first: holds the central directory of most wheels.
const TAIL: u64 = 256 << 10;

enum Source {
    Http { url: String, len: u64 },
    Memory(Vec<u8>),
    File(std::fs::File, u64),
}

impl Source {
    fn len(&self) -> u64 {
        match self {
            Source::Http { len, .. } | Source::File(_, len) => *len,
            Source::Memory(v) => v.len() as u64,
        }
    }

    fn read_at(&mut self, url: &str, off: u64, len: u64) -> Result<Vec<u8>, MetaError> {
        if off.checked_add(len).is_none_or(|end| end > self.len()) {
            return Err(fetch_error(
                url,
                format!(
                    "zip: bytes {off}+{len} lie outside the {}-byte file",
                    self.len()
                ),
            ));
        }
        match self {
            Source::Memory(v) => Ok(v[off as usize..(off + len) as usize].to_vec()),
            Source::File(f, _) => {
                let mut buf = vec![0; len as usize];
                f.seek(SeekFrom::Start(off))
                    .and_then(|_| f.read_exact(&mut buf))
                    .map_err(|e| fetch_error(url, e))?;
                Ok(buf)
            }
            Source::Http { url, .. } => {
                if len == 0 {
                    return Ok(Vec::new());
                }
                let range = format!("bytes={off}-{}", off + len - 1);
                let o = open_with(url, &[("Range", &range)])?;
                if !o.partial {
                    return Err(fetch_error(
                        url,
                        "the server stopped honouring range requests",
                    ));
                }
                read_bounded(url, o.body, len)
            }
        }
    }
}

fn read_bounded(url: &str, body: Box<dyn Read>, limit: u64) -> Result<Vec<u8>, MetaError> {
    let mut buf = Vec::new();
    body.take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|e| fetch_error(url, e))?;
    if buf.len() as u64 > limit {
        return Err(fetch_error(
            url,
            format!("more than {limit} bytes returned"),
        ));
    }
    Ok(buf)
}

fn u16_at(b: &[u8], i: usize) -> u64 {
    u16::from_le_bytes([b[i], b[i + 1]]) as u64
}
fn u32_at(b: &[u8], i: usize) -> u64 {
    u32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as u64
}
fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(b[i..i + 8].try_into().unwrap())
}

fn open_source(url: &str) -> Result<(Source, Vec<u8>), MetaError> {
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        let path = url.strip_prefix("file://").unwrap_or(url);
        let f = std::fs::File::open(path).map_err(|e| fetch_error(url, e))?;
        let len = f.metadata().map_err(|e| fetch_error(url, e))?.len();
        let mut s = Source::File(f, len);
        let start = len.saturating_sub(TAIL);
        let tail = s.read_at(url, start, len - start)?;
        return Ok((s, tail));
    }
    let o = open_with(url, &[("Range", &format!("bytes=-{TAIL}"))])?;
    if o.partial {
        let total = o
            .total
            .ok_or_else(|| fetch_error(url, "range answer without a total size"))?;
        let tail = read_bounded(url, o.body, TAIL)?;
        Ok((
            Source::Http {
                url: url.to_string(),
                len: total,
            },
            tail,
        ))
    } else {
        let all = read_bounded(url, o.body, 8 << 30)?;
        let start = all.len().saturating_sub(TAIL as usize);
        let tail = all[start..].to_vec();
        Ok((Source::Memory(all), tail))
    }
}

/// The first member whose name satisfies `want`, as (name, contents);
/// `None` when no member matches.
pub fn read_member(
    url: &str,
    want: &dyn Fn(&str) -> bool,
) -> Result<Option<(String, Vec<u8>)>, MetaError> {
    let bad = |m: &str| fetch_error(url, format!("not a readable zip archive: {m}"));
    let (mut src, tail) = open_source(url)?;
    let len = src.len();
    let tail_start = len - tail.len() as u64;
    // End of central directory: the last signature, at least 22 bytes from the end.
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| tail[i..i + 4] == [0x50, 0x4b, 0x05, 0x06])
        .ok_or_else(|| bad("no end-of-central-directory record"))?;
    let (mut cd_size, mut cd_off) = (u32_at(&tail, eocd + 12), u32_at(&tail, eocd + 16));
    if cd_size == 0xffff_ffff || cd_off == 0xffff_ffff {
        // zip64: the locator sits right before the classic record.
        let loc = eocd
            .checked_sub(20)
            .filter(|&l| tail[l..l + 4] == [0x50, 0x4b, 0x06, 0x07])
            .ok_or_else(|| bad("zip64 locator missing"))?;
        let rec = src.read_at(url, u64_at(&tail, loc + 8), 56)?;
        if rec[..4] != [0x50, 0x4b, 0x06, 0x06] {
            return Err(bad("zip64 end record missing"));
        }
        cd_size = u64_at(&rec, 40);
        cd_off = u64_at(&rec, 48);
    }
    let cd = if cd_off >= tail_start && cd_off + cd_size <= len {
        let s = (cd_off - tail_start) as usize;
        tail[s..s + cd_size as usize].to_vec()
    } else {
        src.read_at(url, cd_off, cd_size)?
    };
    let mut i = 0usize;
    while i + 46 <= cd.len() {
        if cd[i..i + 4] != [0x50, 0x4b, 0x01, 0x02] {
            return Err(bad("central directory entry signature"));
        }
        let method = u16_at(&cd, i + 10);
        let mut csize = u32_at(&cd, i + 20);
        let mut usize_ = u32_at(&cd, i + 24);
        let (nlen, xlen, clen) = (
            u16_at(&cd, i + 28) as usize,
            u16_at(&cd, i + 30) as usize,
            u16_at(&cd, i + 32) as usize,
        );
        let mut local = u32_at(&cd, i + 42);
        let end = i + 46 + nlen + xlen + clen;
        if end > cd.len() {
            return Err(bad("truncated central directory"));
        }
        let name = String::from_utf8_lossy(&cd[i + 46..i + 46 + nlen]).into_owned();
        if want(&name) {
            // zip64 extra field: the 0xffffffff fields, in this order.
            let mut x = i + 46 + nlen;
            while x + 4 <= i + 46 + nlen + xlen {
                let (id, size) = (u16_at(&cd, x), u16_at(&cd, x + 2) as usize);
                if id == 1 {
                    let mut p = x + 4;
                    for field in [&mut usize_, &mut csize, &mut local] {
                        if *field == 0xffff_ffff && p + 8 <= x + 4 + size {
                            *field = u64_at(&cd, p);
                            p += 8;
                        }
                    }
                }
                x += 4 + size;
            }
            if usize_ > MEMBER_LIMIT || csize > MEMBER_LIMIT {
                return Err(fetch_error(
                    url,
                    format!("{name}: {usize_} bytes is larger than this reader allows"),
                ));
            }
            let header = src.read_at(url, local, 30)?;
            if header[..4] != [0x50, 0x4b, 0x03, 0x04] {
                return Err(bad("local header signature"));
            }
            let data_off = local + 30 + u16_at(&header, 26) + u16_at(&header, 28);
            let raw = src.read_at(url, data_off, csize)?;
            let data = match method {
                0 => raw,
                8 => {
                    let mut out = Vec::new();
                    flate2::read::DeflateDecoder::new(&raw[..])
                        .take(MEMBER_LIMIT + 1)
                        .read_to_end(&mut out)
                        .map_err(|e| fetch_error(url, format!("{name}: {e}")))?;
                    out
                }
                m => {
                    return Err(fetch_error(
                        url,
                        format!("{name}: compression method {m} is not supported"),
                    ))
                }
            };
            if data.len() as u64 != usize_ {
                return Err(fetch_error(
                    url,
                    format!("{name}: {} bytes, the directory says {usize_}", data.len()),
                ));
            }
            return Ok(Some((name, data)));
        }
        i = end;
    }
    Ok(None)
}
