//! `.BTF` from a compressed vmlinux without decompressing all of it: the
//! payload is decoded in chunks, each chunk is scanned for the BTF header,
//! and decoding stops as soon as the whole BTF blob has come out. `.BTF`
//! ends 54–68% into a distribution vmlinux, so the rest (and its memory) is
//! never produced; only the BTF blob and one chunk are kept. A zstd frame
//! (the window of a kernel's is 128 MiB, so everything decoded stays
//! referenced) is decoded straight into one buffer of the declared size,
//! backed by huge pages where the kernel allows, instead of into a window
//! of the decoder's own and out of it in chunks.
//!
//! A vmlinux keeps its section headers at the end (98% in), so the section
//! is found by its content: a header with the BTF magic, version 1, flags 0,
//! a header length of 24–256 bytes (4-aligned) and type and string sections
//! that fit in the declared output. The first such blob of at least
//! [`MIN_KERNEL_BTF`] bytes whose string section starts with a NUL is taken
//! (a small BTF blob embedded in the kernel's data, such as a BPF skeleton's,
//! is passed over); when the stream ends without one, the last smaller blob
//! is taken, and with none the image has no `.BTF`. The BTF parser validates
//! what is returned.
//!
//! What stopping early gives up: a corruption after `.BTF` (and the
//! decoder's checksum at the end of the stream) is not seen; the BTF itself
//! is checked by the parser, and a stream that ends or fails to decode
//! before `.BTF` is whole is an error, never a partial BTF. A stream without
//! `.BTF` is decoded to its end (within the limit) and checked against its
//! declared size, as a payload decoded whole is.

use std::io::{self, BufRead, Read};
use std::path::Path;

use memchr::memmem;

use super::{Compression, SourceError, decompress::Bounded, error};

/// Bytes decoded per read: large, so the decoder's own overhead per call is
/// negligible, small enough to stay out of the way of the memory bound.
const CHUNK: usize = 1 << 20;
/// Size of a BTF header (version 1) up to and including `str_len`.
const HEADER: usize = 24;
/// Largest header length accepted (newer BTF versions may extend it).
const MAX_HEADER: u32 = 256;
/// Smallest BTF blob taken as soon as it is whole: a kernel's own BTF is
/// megabytes, a BPF skeleton's a few kilobytes.
pub(super) const MIN_KERNEL_BTF: usize = 64 << 10;
/// The BTF magic `0xeb9f` little-endian, then version 1 and flags 0.
const MAGIC: [u8; 4] = [0x9f, 0xeb, 0x01, 0x00];

/// Decodes `payload` (compressed with `compression`, `declared` bytes of
/// output) until its `.BTF` is whole, and returns the BTF bytes.
pub(super) fn payload_btf<'a>(
    path: &Path,
    compression: Compression,
    payload: impl BufRead + 'a,
    declared: u64,
    limit: u64,
) -> Result<Vec<u8>, SourceError> {
    let what = format!("{compression} payload");
    let mut scan = Scan::new(declared);
    let found = match compression {
        Compression::Zstd => zstd_into_one_buffer(payload, &mut scan),
        Compression::Xz => drive(liblzma::read::XzDecoder::new(payload), &mut scan, limit),
        Compression::Gzip => drive(flate2::read::GzDecoder::new(payload), &mut scan, limit),
        Compression::Lz4Legacy | Compression::None => {
            unreachable!("payload_btf is only called for streamed compressions")
        }
    };
    let found = found.map_err(|e| match e {
        Stop::Decoder(bounded) => bounded.into_error(path, what.clone(), limit),
        Stop::NotElf(magic) => SourceError::PayloadNotElf {
            path: path.to_path_buf(),
            compression,
            magic,
        },
    })?;
    found.ok_or_else(|| end_without_btf(path, what, &scan, declared))
}

/// Whether `compression` is decoded by [`payload_btf`].
pub(super) fn streams(compression: Compression) -> bool {
    matches!(
        compression,
        Compression::Zstd | Compression::Xz | Compression::Gzip
    )
}

/// Why [`drive`] stopped without an answer.
enum Stop {
    Decoder(Bounded),
    NotElf(Vec<u8>),
}

/// Feeds `decoder`'s output to `scan` until a BTF blob is whole (`Some`) or
/// the stream ends (`None`), within `limit` bytes of output.
fn drive(mut decoder: impl Read, scan: &mut Scan, limit: u64) -> Result<Option<Vec<u8>>, Stop> {
    let mut chunk = vec![0u8; CHUNK];
    loop {
        let n = match decoder.read(&mut chunk) {
            Ok(0) => return scan.finish(),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Stop::Decoder(corrupt(scan.seen, &e))),
        };
        if scan.seen + n as u64 > limit {
            return Err(Stop::Decoder(Bounded::TooLarge));
        }
        if let Some(found) = scan.take(&chunk[..n], None)? {
            return Ok(Some(found.into_bytes(&mut chunk)));
        }
    }
}

/// [`drive`] for a zstd frame, decoded with zstd's stable output buffer
/// straight into one buffer of the declared size: the decoder keeps no
/// window of its own (for these frames 128 MiB, of which everything up to
/// `.BTF` would be touched) and nothing is copied out of it, which makes
/// decoding about a third cheaper per byte. Only the pages written are
/// resident, so memory is the same as with a window. Output past the
/// declared size fails the decoder (the buffer is full): a corrupt payload.
fn zstd_into_one_buffer(
    mut payload: impl BufRead,
    scan: &mut Scan,
) -> Result<Option<Vec<u8>>, Stop> {
    use zstd::zstd_safe::{DCtx, DParameter, InBuffer, OutBuffer, get_error_name};
    let zstd_err = |produced: u64| {
        move |code| {
            Stop::Decoder(Bounded::Corrupt {
                produced,
                reason: get_error_name(code).to_owned(),
            })
        }
    };
    let declared = scan.declared;
    let capacity = usize::try_from(declared).map_err(|_| Stop::Decoder(Bounded::TooLarge))?;
    let mut out: Vec<u8> = Vec::new();
    out.try_reserve_exact(capacity).map_err(|_| {
        Stop::Decoder(Bounded::OutOfMemory {
            produced: 0,
            wanted: declared,
        })
    })?;
    advise_huge_pages(&mut out);
    let mut dctx = DCtx::try_create().ok_or(Stop::Decoder(Bounded::OutOfMemory {
        produced: 0,
        wanted: 0,
    }))?;
    dctx.set_parameter(DParameter::StableOutBuffer(true))
        .map_err(zstd_err(0))?;
    loop {
        let input = payload
            .fill_buf()
            .map_err(|e| Stop::Decoder(corrupt(scan.seen, &e)))?;
        if input.is_empty() {
            return scan.finish();
        }
        let before = out.len();
        let mut input = InBuffer::around(input);
        let left = dctx
            .decompress_stream(&mut OutBuffer::around_pos(&mut out, before), &mut input)
            .map_err(zstd_err(before as u64))?;
        let consumed = input.pos();
        payload.consume(consumed);
        if let Some(found) = scan.take(&out[before..], Some(&out))? {
            return Ok(Some(found.into_bytes(&mut out)));
        }
        if left == 0 {
            return scan.finish();
        }
    }
}

/// Asks the kernel to back `buf`'s capacity with transparent huge pages
/// (where THP is `madvise`, as on Debian): the ~40 MB written up to `.BTF`
/// then take a few dozen page faults instead of ten thousand, which cost
/// as much as a sixth of a kernel's decoding. Only advice: where it is
/// refused, ordinary pages are used.
#[cfg(target_os = "linux")]
fn advise_huge_pages(buf: &mut Vec<u8>) {
    const PAGE: usize = 4096;
    let start = buf.as_mut_ptr() as usize;
    let end = start + buf.capacity();
    let first = start.next_multiple_of(PAGE);
    let last = end - end % PAGE;
    if last > first {
        // Safety: the range lies inside `buf`'s allocation, which stays
        // valid; MADV_HUGEPAGE changes no contents.
        unsafe {
            libc::madvise(
                first as *mut libc::c_void,
                last - first,
                libc::MADV_HUGEPAGE,
            );
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_: &mut Vec<u8>) {}

/// The error when the stream ended without a BTF blob.
fn end_without_btf(path: &Path, what: String, scan: &Scan, declared: u64) -> SourceError {
    let produced = scan.seen;
    let reason = match &scan.state {
        State::Collecting {
            start, want, got, ..
        } => format!(
            "the output ends inside .BTF (at offset {start}, {got} of {want} bytes): truncated or corrupt payload"
        ),
        State::Seeking if produced != declared => {
            format!("the image declares {declared} bytes: truncated or corrupt payload")
        }
        State::Seeking if produced < 4 => "the output ends before the ELF header".to_owned(),
        State::Seeking => {
            return SourceError::NoBtfSection {
                path: path.to_path_buf(),
            };
        }
    };
    SourceError::Corrupt {
        path: path.to_path_buf(),
        what,
        produced,
        reason,
    }
}

fn corrupt(produced: u64, e: &io::Error) -> Bounded {
    Bounded::Corrupt {
        produced,
        reason: error::one_line(&e.to_string()),
    }
}

/// Where the scan is: looking for a header, or copying a blob.
enum State {
    Seeking,
    Collecting {
        /// Offset of the blob in the decompressed stream.
        start: u64,
        /// The blob so far (empty when the caller keeps the whole output).
        btf: Vec<u8>,
        want: usize,
        /// Bytes of the blob seen so far.
        got: usize,
    },
}

/// A whole blob: its bytes, or where it is in the output the caller keeps
/// (only when the scan is fed that output as `history`).
enum Found {
    Copied(Vec<u8>),
    At(std::ops::Range<usize>),
}

impl Found {
    /// The blob's bytes; a blob `At` a range of `history` is moved to its
    /// start and the rest of `history` released.
    fn into_bytes(self, history: &mut Vec<u8>) -> Vec<u8> {
        match self {
            Found::Copied(btf) => btf,
            Found::At(range) => {
                let len = range.len();
                history.copy_within(range, 0);
                history.truncate(len);
                history.shrink_to_fit();
                std::mem::take(history)
            }
        }
    }
}

/// The BTF scanner over a stream of chunks.
struct Scan {
    state: State,
    /// Bytes fed so far.
    seen: u64,
    /// The last `HEADER - 1` bytes fed while seeking, for a header that
    /// straddles two chunks.
    carry: Vec<u8>,
    /// The largest output a blob may claim.
    declared: u64,
    /// The last whole blob smaller than [`MIN_KERNEL_BTF`].
    fallback: Option<Vec<u8>>,
    /// The first bytes of the stream, to tell an ELF.
    head: Vec<u8>,
}

/// Where a header was found.
enum Hit {
    /// At this offset in the carried bytes (it continues into the chunk).
    Carry(usize),
    /// At this offset in the chunk.
    Chunk(usize),
}

impl Scan {
    fn new(declared: u64) -> Self {
        Self {
            state: State::Seeking,
            seen: 0,
            carry: Vec::with_capacity(2 * HEADER),
            declared,
            fallback: None,
            head: Vec::with_capacity(8),
        }
    }

    /// Takes the next piece of output; the blob once it is whole. As when
    /// the payload is decoded whole, a stream that is not an ELF is named
    /// once a blob is found or the stream has ended, so a bomb of zeros
    /// meets the limit.
    fn take(&mut self, bytes: &[u8], history: Option<&[u8]>) -> Result<Option<Found>, Stop> {
        if self.head.len() < 8 {
            let want = (8 - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..want]);
        }
        match self.feed(bytes, history) {
            Some(_) if !self.is_elf() => Err(Stop::NotElf(self.head.clone())),
            found => Ok(found),
        }
    }

    /// The answer when the stream has ended: the last small blob if the
    /// whole declared output came out, else nothing.
    fn finish(&mut self) -> Result<Option<Vec<u8>>, Stop> {
        if !self.is_elf() && self.seen > 0 {
            return Err(Stop::NotElf(self.head.clone()));
        }
        if self.seen == self.declared {
            return Ok(self.fallback.take());
        }
        Ok(None)
    }

    fn is_elf(&self) -> bool {
        self.head.starts_with(b"\x7fELF")
    }

    /// Takes the next chunk of the stream; the blob once it is whole. With
    /// `history` (all the output so far, ending with `chunk`) blobs are not
    /// copied but found [`At`](Found::At) their place in it.
    fn feed(&mut self, chunk: &[u8], history: Option<&[u8]>) -> Option<Found> {
        let end = self.seen + chunk.len() as u64;
        let mut rest = chunk;
        let copy = history.is_none();
        loop {
            if let State::Collecting { btf, want, got, .. } = &mut self.state {
                let take = (*want - *got).min(rest.len());
                if copy {
                    btf.extend_from_slice(&rest[..take]);
                }
                *got += take;
                rest = &rest[take..];
                if *got < *want {
                    break;
                }
                let State::Collecting {
                    start, btf, want, ..
                } = std::mem::replace(&mut self.state, State::Seeking)
                else {
                    unreachable!("matched above");
                };
                self.carry.clear();
                let range = usize::try_from(start).unwrap_or(usize::MAX)..;
                let range = range.start..range.start.saturating_add(want);
                let blob = match history {
                    Some(h) => h.get(range.clone()).unwrap_or_default(),
                    None => &btf,
                };
                let whole = blob.len() == want && strings_start_with_nul(blob);
                if whole && want >= MIN_KERNEL_BTF {
                    self.seen = end;
                    return Some(if copy {
                        Found::Copied(btf)
                    } else {
                        Found::At(range)
                    });
                }
                if whole {
                    self.fallback = Some(if copy { btf } else { blob.to_vec() });
                }
                continue;
            }
            let offset = end - rest.len() as u64;
            match self.find(rest) {
                Some((Hit::Carry(at), want)) => {
                    let mut btf = Vec::new();
                    if copy {
                        btf.reserve_exact(want);
                        btf.extend_from_slice(&self.carry[at..]);
                    }
                    let start = offset - (self.carry.len() - at) as u64;
                    let got = self.carry.len() - at;
                    self.state = State::Collecting {
                        start,
                        btf,
                        want,
                        got,
                    };
                }
                Some((Hit::Chunk(at), want)) => {
                    rest = &rest[at..];
                    self.state = State::Collecting {
                        start: offset + at as u64,
                        btf: if copy {
                            Vec::with_capacity(want)
                        } else {
                            Vec::new()
                        },
                        want,
                        got: 0,
                    };
                }
                None => {
                    self.keep_tail(rest);
                    break;
                }
            }
        }
        self.seen = end;
        None
    }

    /// The first header starting in the carried bytes or in `chunk`, and
    /// the size of its blob.
    fn find(&self, chunk: &[u8]) -> Option<(Hit, usize)> {
        if !self.carry.is_empty() {
            let mut joined = self.carry.clone();
            joined.extend_from_slice(&chunk[..chunk.len().min(HEADER - 1)]);
            let hit = memmem::find_iter(&joined, &MAGIC)
                .take_while(|&at| at < self.carry.len())
                .find_map(|at| Some((Hit::Carry(at), self.blob_size(joined.get(at..)?)?)));
            if hit.is_some() {
                return hit;
            }
        }
        memmem::find_iter(chunk, &MAGIC)
            .find_map(|at| Some((Hit::Chunk(at), self.blob_size(chunk.get(at..)?)?)))
    }

    /// Keeps the last `HEADER - 1` bytes seen, for the next chunk.
    fn keep_tail(&mut self, chunk: &[u8]) {
        let keep = HEADER - 1;
        if chunk.len() >= keep {
            self.carry.clear();
            self.carry.extend_from_slice(&chunk[chunk.len() - keep..]);
        } else {
            self.carry.extend_from_slice(chunk);
            let excess = self.carry.len().saturating_sub(keep);
            self.carry.drain(..excess);
        }
    }

    /// The size of the blob whose header starts `bytes`, if it is a
    /// plausible BTF header that fits in the declared output.
    fn blob_size(&self, bytes: &[u8]) -> Option<usize> {
        let header = bytes.get(..HEADER)?;
        let word =
            |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let (hdr_len, type_off, type_len, str_off, str_len) =
            (word(4), word(8), word(12), word(16), word(20));
        let header_ok = (HEADER as u32..=MAX_HEADER).contains(&hdr_len) && hdr_len % 4 == 0;
        if !header_ok || type_off % 4 != 0 || str_len == 0 {
            return None;
        }
        let types_end = u64::from(type_off) + u64::from(type_len);
        let strings_end = u64::from(str_off) + u64::from(str_len);
        let size = u64::from(hdr_len) + types_end.max(strings_end);
        (size <= self.declared)
            .then(|| usize::try_from(size).ok())
            .flatten()
    }
}

/// Whether the string section of a whole blob starts with a NUL (the empty
/// name every BTF string table begins with).
fn strings_start_with_nul(btf: &[u8]) -> bool {
    let word = |i: usize| {
        btf.get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let (Some(hdr_len), Some(str_off)) = (word(4), word(16)) else {
        return false;
    };
    btf.get(hdr_len.saturating_add(str_off)) == Some(&0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A BTF blob: header, `types` bytes of type section, a string table
    /// of `strings` bytes starting with NUL.
    fn blob(types: usize, strings: usize) -> Vec<u8> {
        let mut b = Vec::new();
        for w in [
            0x0001_eb9f_u32,
            24,
            0,
            types as u32,
            types as u32,
            strings as u32,
        ] {
            b.extend_from_slice(&w.to_le_bytes());
        }
        b.extend(std::iter::repeat_n(0x11, types));
        b.push(0);
        b.extend(std::iter::repeat_n(b'a', strings - 1));
        b
    }

    fn stream_of(parts: &[&[u8]]) -> Vec<u8> {
        let mut s = b"\x7fELF".to_vec();
        s.extend(std::iter::repeat_n(0u8, 60));
        for p in parts {
            s.extend_from_slice(p);
        }
        s
    }

    /// Feeds `stream` in `step`-byte chunks; the blob and the bytes fed.
    /// Copying chunks and finding blobs in the whole output kept must agree.
    fn scan(stream: &[u8], step: usize) -> (Option<Vec<u8>>, u64) {
        let copied = scan_in(stream, step, false);
        assert_eq!(copied, scan_in(stream, step, true), "step {step}");
        copied
    }

    fn scan_in(stream: &[u8], step: usize, in_place: bool) -> (Option<Vec<u8>>, u64) {
        let mut scan = Scan::new(stream.len() as u64);
        let mut fed = 0;
        for chunk in stream.chunks(step) {
            fed += chunk.len();
            let history = in_place.then(|| &stream[..fed]);
            if let Some(found) = scan.feed(chunk, history) {
                return (
                    Some(found.into_bytes(&mut stream[..fed].to_vec())),
                    scan.seen,
                );
            }
        }
        (scan.fallback.take(), scan.seen)
    }

    #[test]
    fn finds_the_kernel_blob_across_every_chunk_boundary_and_stops_there() {
        let kernel = blob(MIN_KERNEL_BTF, 5000);
        let stream = stream_of(&[b"junk\x9f\xeb\x01\x00xx", &kernel, &[0x55; 4096]]);
        let blob_end = (stream.len() - 4096) as u64;
        for step in [1, 7, 23, 24, 25, 4096, 1 << 20] {
            let (found, seen) = scan(&stream, step);
            assert_eq!(found.as_deref(), Some(&kernel[..]), "step {step}");
            assert!(
                seen < blob_end + step as u64 && seen >= blob_end,
                "step {step}: {seen}"
            );
        }
    }

    #[test]
    fn small_embedded_blobs_are_passed_over_but_kept_as_a_fallback() {
        let small = blob(100, 20);
        let kernel = blob(MIN_KERNEL_BTF, 100);
        let stream = stream_of(&[&small, b"pad", &kernel]);
        assert_eq!(scan(&stream, 4096).0.as_deref(), Some(&kernel[..]));
        let only_small = stream_of(&[&small, b"pad"]);
        assert_eq!(scan(&only_small, 4096).0.as_deref(), Some(&small[..]));
    }

    #[test]
    fn blobs_larger_than_the_declared_output_are_not_headers() {
        let mut lying = blob(100, 20);
        lying[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        let stream = stream_of(&[&lying]);
        assert_eq!(scan(&stream, 4096).0, None);
    }
}
