//! Bounded decompression of bzImage payloads and `.deb` members; large
//! payloads are handed to [`stream`](super::stream), which stops after `.BTF`.
//!
//! The payload format is told by its magic bytes. Kernel payloads end with the
//! 4-byte little-endian decompressed size (`size_append` in the kernel's
//! Makefile); it is checked against the cap before decompressing, and each
//! decoder reads a single stream so that trailer is ignored. Output is capped:
//! past the limit decoding stops with an error naming the limit, so no input
//! can exhaust memory. Buffers grow by doubling but never past the limit, so
//! the peak is the limit itself, not twice it; an allocation the system
//! refuses is reported as running out of memory, not as corruption.

use std::cell::Cell;
use std::io::{self, Read};
use std::path::Path;

use super::{Compression, SourceError, elf, error, stream};

/// Payload magics of the supported compressions.
const MAGICS: &[(&[u8], Compression)] = &[
    (&[0x28, 0xb5, 0x2f, 0xfd], Compression::Zstd),
    (&[0xfd, b'7', b'z', b'X', b'Z', 0x00], Compression::Xz),
    (&[0x1f, 0x8b], Compression::Gzip),
    (&[0x02, 0x21, 0x4c, 0x18], Compression::Lz4Legacy),
    (b"\x7fELF", Compression::None),
];

/// Kernel compressions recognised but not decompressed, for a clear error.
const UNSUPPORTED: &[(&[u8], &str)] = &[
    (b"BZh", "bzip2"),
    (&[0x5d, 0x00, 0x00], "lzma"),
    (&[0x89, b'L', b'Z', b'O'], "lzo"),
];

/// The legacy LZ4 frame magic (0x184c2102) that marks a new stream.
const LZ4_LEGACY_MAGIC: [u8; 4] = [0x02, 0x21, 0x4c, 0x18];
/// Each legacy LZ4 block decompresses to at most 8 MiB.
const LZ4_LEGACY_BLOCK: usize = 8 << 20;

/// Why bounded decoding stopped.
#[derive(Debug)]
pub(super) enum Bounded {
    /// More than the limit would come out.
    TooLarge,
    /// The stream is malformed; `produced` bytes had come out.
    Corrupt { produced: u64, reason: String },
    /// The system refused memory for `wanted` bytes after `produced`.
    OutOfMemory { produced: u64, wanted: u64 },
}

impl Bounded {
    /// The error for `what` (e.g. "zstd payload") in `path`.
    pub(super) fn into_error(self, path: &Path, what: String, limit: u64) -> SourceError {
        let path = path.to_path_buf();
        match self {
            Self::TooLarge => SourceError::OutputTooLarge { path, what, limit },
            Self::Corrupt { produced, reason } => SourceError::Corrupt {
                path,
                what,
                produced,
                reason,
            },
            Self::OutOfMemory { produced, wanted } => SourceError::OutOfMemory {
                path,
                what,
                produced,
                wanted,
                limit,
            },
        }
    }
}

/// Tells the payload's compression from its magic bytes.
pub(super) fn detect(path: &Path, payload: &[u8], offset: u64) -> Result<Compression, SourceError> {
    if let Some((_, compression)) = MAGICS.iter().find(|(m, _)| payload.starts_with(m)) {
        return Ok(*compression);
    }
    if let Some((_, name)) = UNSUPPORTED.iter().find(|(m, _)| payload.starts_with(m)) {
        return Err(SourceError::UnsupportedCompression {
            path: path.to_path_buf(),
            offset,
            name,
        });
    }
    Err(SourceError::UnknownCompression {
        path: path.to_path_buf(),
        offset,
        magic: error::prefix(payload, 8),
    })
}

/// Smallest declared output decoded as a stream that stops after `.BTF`
/// ([`stream`](super::stream)); below it the payload is decoded whole, in
/// one call (for zstd ~30% faster per byte than streaming), since the whole
/// output is small anyway.
pub(super) const STREAM_FROM: u64 = 8 << 20;

/// The `.BTF` bytes of a bzImage payload (the compressed vmlinux), within
/// `limit` bytes of output: streamed and stopped after `.BTF` for large
/// zstd, xz and gzip payloads, else decoded whole and read as an ELF.
pub(super) fn payload_btf(
    path: &Path,
    compression: Compression,
    payload: &[u8],
    limit: u64,
) -> Result<Vec<u8>, SourceError> {
    if compression == Compression::None {
        return Ok(elf::btf_section(path, payload)?.to_vec());
    }
    let what = format!("{compression} payload");
    let declared = declared_size(path, &what, payload, limit)?;
    if streams_payload(compression, declared, limit) {
        return stream::payload_btf(path, compression, payload, declared, limit);
    }
    let vmlinux = decode(compression, payload, declared, limit)
        .map_err(|e| e.into_error(path, what.clone(), limit))?;
    check_declared(path, what, &vmlinux, declared)?;
    if !vmlinux.starts_with(b"\x7fELF") {
        return Err(SourceError::PayloadNotElf {
            path: path.to_path_buf(),
            compression,
            magic: error::prefix(&vmlinux, 8),
        });
    }
    Ok(elf::btf_section(path, &vmlinux)?.to_vec())
}

/// Whether a payload of `compression` declaring `declared` bytes (within
/// `limit`) is decoded as a stream that stops after `.BTF`.
pub(super) fn streams_payload(compression: Compression, declared: u64, limit: u64) -> bool {
    stream::streams(compression) && (STREAM_FROM..=limit).contains(&declared)
}

/// The size the kernel build appended to the payload; above `limit` is an error.
fn declared_size(path: &Path, what: &str, payload: &[u8], limit: u64) -> Result<u64, SourceError> {
    let Some(tail) = payload
        .len()
        .checked_sub(4)
        .and_then(|at| payload.get(at..))
    else {
        return Err(SourceError::Corrupt {
            path: path.to_path_buf(),
            what: what.to_owned(),
            produced: 0,
            reason: format!("{} bytes cannot hold the appended size", payload.len()),
        });
    };
    let declared = u64::from(u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]));
    if declared > limit {
        return Err(SourceError::DeclaredTooLarge {
            path: path.to_path_buf(),
            what: what.to_owned(),
            declared,
            limit,
        });
    }
    Ok(declared)
}

/// The output must be as long as the size the kernel build appended:
/// anything else means a truncated or corrupt payload.
fn check_declared(path: &Path, what: String, out: &[u8], declared: u64) -> Result<(), SourceError> {
    let produced = out.len() as u64;
    if produced == declared {
        return Ok(());
    }
    Err(SourceError::Corrupt {
        path: path.to_path_buf(),
        what,
        produced,
        reason: format!("the image declares {declared} bytes: truncated or corrupt payload"),
    })
}

/// Runs the decoder for `compression` over one stream of `input`.
fn decode(
    compression: Compression,
    input: &[u8],
    hint: u64,
    limit: u64,
) -> Result<Vec<u8>, Bounded> {
    match compression {
        Compression::Zstd => zstd_frame(input, hint),
        Compression::Xz => read_bounded(liblzma::read::XzDecoder::new(input), hint, limit),
        Compression::Gzip => read_bounded(flate2::read::GzDecoder::new(input), hint, limit),
        Compression::Lz4Legacy => lz4_legacy(input, hint, limit),
        Compression::None => Ok(input.to_vec()),
    }
}

/// Decodes the first zstd frame of `input` in one call into exactly
/// `capacity` bytes (the declared size, itself within the limit): ~30% faster
/// than streaming, and bounded by construction.
fn zstd_frame(input: &[u8], capacity: u64) -> Result<Vec<u8>, Bounded> {
    let zstd_err = |code| Bounded::Corrupt {
        produced: 0,
        reason: zstd::zstd_safe::get_error_name(code).to_owned(),
    };
    let frame_len = zstd::zstd_safe::find_frame_compressed_size(input).map_err(zstd_err)?;
    let frame = input.get(..frame_len).unwrap_or(input);
    let mut out = Vec::new();
    grow(
        &mut out,
        usize::try_from(capacity).unwrap_or(usize::MAX),
        usize::MAX,
    )?;
    let decoded = zstd::bulk::Decompressor::new()
        .and_then(|mut decompressor| decompressor.decompress_to_buffer(frame, &mut out));
    match decoded {
        Ok(_) => Ok(out),
        Err(e) if e.to_string().contains("too small") => Err(Bounded::Corrupt {
            produced: capacity,
            reason: format!("output is larger than the {capacity} bytes the image declares"),
        }),
        Err(e) => Err(corrupt(0)(e)),
    }
}

/// Reads `reader` to its end into memory, failing past `limit` bytes;
/// `hint` sizes the first allocation. The buffer never grows past `limit`.
pub(super) fn read_bounded(
    mut reader: impl Read,
    hint: u64,
    limit: u64,
) -> Result<Vec<u8>, Bounded> {
    let ceiling = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    grow(
        &mut out,
        usize::try_from(hint.min(limit)).unwrap_or(0),
        ceiling,
    )?;
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = match reader.read(&mut chunk) {
            Ok(0) => return Ok(out),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(out.len() as u64)(e)),
        };
        if (out.len() + n) as u64 > limit {
            return Err(Bounded::TooLarge);
        }
        grow(&mut out, n, ceiling)?;
        out.extend_from_slice(&chunk[..n]);
    }
}

/// Makes room for `extra` more bytes in `out`: doubling, but never past
/// `ceiling` bytes of capacity, and failing (not aborting) when the system
/// refuses the memory.
fn grow(out: &mut Vec<u8>, extra: usize, ceiling: usize) -> Result<(), Bounded> {
    let needed = out.len().saturating_add(extra);
    if needed <= out.capacity() {
        return Ok(());
    }
    let target = out
        .capacity()
        .saturating_mul(2)
        .clamp(needed, ceiling.max(needed));
    out.try_reserve_exact(target - out.len())
        .map_err(|_| Bounded::OutOfMemory {
            produced: out.len() as u64,
            wanted: target as u64,
        })
}

fn corrupt(produced: u64) -> impl Fn(io::Error) -> Bounded {
    move |e| Bounded::Corrupt {
        produced,
        reason: error::one_line(&e.to_string()),
    }
}

/// The kernel's LZ4 legacy frame: magic, then chunks of `u32` LE compressed
/// size + an independent LZ4 block of ≤ 8 MiB output; a repeated magic starts a
/// new stream; the last 4 bytes may be the kernel's appended size.
fn lz4_legacy(input: &[u8], hint: u64, limit: u64) -> Result<Vec<u8>, Bounded> {
    let mut out = Vec::new();
    let ceiling = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
    grow(
        &mut out,
        usize::try_from(hint.min(limit)).unwrap_or(0),
        ceiling,
    )?;
    let mut pos = 0usize;
    while let Some(word) = input.get(pos..pos + 4) {
        let rest = input.len() - (pos + 4);
        if word == LZ4_LEGACY_MAGIC {
            pos += 4;
            continue;
        }
        if rest == 0 && !out.is_empty() {
            break; // the appended decompressed size
        }
        let len = u32::from_le_bytes([word[0], word[1], word[2], word[3]]) as usize;
        let Some(block) = input.get(pos + 4..).and_then(|r| r.get(..len)) else {
            return Err(Bounded::Corrupt {
                produced: out.len() as u64,
                reason: format!(
                    "lz4 chunk at payload offset {pos} claims {len} bytes, {rest} left"
                ),
            });
        };
        lz4_block(block, &mut out, limit)?;
        pos += 4 + len;
    }
    Ok(out)
}

/// Appends one decompressed legacy block to `out`, within `limit`.
fn lz4_block(block: &[u8], out: &mut Vec<u8>, limit: u64) -> Result<(), Bounded> {
    let start = out.len();
    let allowed = usize::try_from(limit.saturating_add(1)).unwrap_or(usize::MAX);
    let room = allowed.saturating_sub(start).min(LZ4_LEGACY_BLOCK);
    grow(out, room, allowed)?;
    out.resize(start + room, 0);
    let result = lz4_flex::block::decompress_into(block, &mut out[start..]);
    match result {
        Ok(n) => out.truncate(start + n),
        Err(lz4_flex::block::DecompressError::OutputTooSmall { .. }) if room < LZ4_LEGACY_BLOCK => {
            return Err(Bounded::TooLarge);
        }
        Err(e) => {
            out.truncate(start);
            return Err(Bounded::Corrupt {
                produced: start as u64,
                reason: format!("lz4 block: {e}"),
            });
        }
    }
    if out.len() as u64 > limit {
        return Err(Bounded::TooLarge);
    }
    Ok(())
}

/// A reader that fails once more than `limit` bytes went through, for
/// streaming decoders whose whole output is not kept (a `.deb`'s data.tar).
/// `exceeded` tells a hit limit apart from a corrupt stream.
#[derive(Debug)]
pub(super) struct Capped<'f, R> {
    inner: R,
    remaining: u64,
    exceeded: &'f Cell<bool>,
}

impl<'f, R: Read> Capped<'f, R> {
    pub(super) fn new(inner: R, limit: u64, exceeded: &'f Cell<bool>) -> Self {
        Self {
            inner,
            remaining: limit,
            exceeded,
        }
    }
}

impl<R: Read> Read for Capped<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.remaining == 0 {
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? == 0 {
                return Ok(0);
            }
            self.exceeded.set(true);
            return Err(io::Error::other("decompressed size limit reached"));
        }
        let max = usize::try_from(self.remaining)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let n = self.inner.read(&mut buf[..max])?;
        self.remaining = self.remaining.saturating_sub(n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_every_magic_and_names_unknown_ones() {
        let p = Path::new("k");
        assert_eq!(
            detect(p, &[0x28, 0xb5, 0x2f, 0xfd, 0], 0).unwrap(),
            Compression::Zstd
        );
        assert_eq!(
            detect(p, b"\x02\x21\x4c\x18", 0).unwrap(),
            Compression::Lz4Legacy
        );
        let err = detect(p, b"BZh91AY", 7).unwrap_err();
        assert!(matches!(
            err,
            SourceError::UnsupportedCompression {
                name: "bzip2",
                offset: 7,
                ..
            }
        ));
        let err = detect(p, &[0xde, 0xad, 0xbe, 0xef], 9).unwrap_err();
        assert!(err.to_string().contains("de ad be ef"), "{err}");
    }

    #[test]
    fn lz4_legacy_round_trip_with_trailer_and_restart() {
        let data: Vec<u8> = (0..20_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let block = lz4_flex::block::compress(&data);
        let mut input = LZ4_LEGACY_MAGIC.to_vec();
        for _ in 0..2 {
            input.extend_from_slice(&(block.len() as u32).to_le_bytes());
            input.extend_from_slice(&block);
            input.extend_from_slice(&LZ4_LEGACY_MAGIC);
        }
        input.extend_from_slice(&((data.len() * 2) as u32).to_le_bytes());
        let out = lz4_legacy(&input, 0, 1 << 20).unwrap();
        assert_eq!(out.len(), data.len() * 2);
        assert_eq!(&out[..data.len()], &data[..]);
        let small = lz4_legacy(&input, 0, 1000);
        assert!(
            matches!(small, Err(Bounded::TooLarge)),
            "limit not enforced"
        );
        let cut = lz4_legacy(&input[..input.len() / 2 + 10], 0, 1 << 20);
        assert!(
            matches!(cut, Err(Bounded::Corrupt { .. })),
            "cut stream decoded"
        );
    }

    #[test]
    fn buffers_never_grow_past_the_limit_and_refused_memory_is_not_corruption() {
        let data = vec![7u8; 100_000];
        let out = read_bounded(&data[..], 0, 100_000).unwrap();
        assert_eq!(out.len(), 100_000);
        assert!(out.capacity() <= 100_000, "capacity {}", out.capacity());
        assert!(matches!(
            read_bounded(&data[..], 0, 99_999),
            Err(Bounded::TooLarge)
        ));
        let mut v = vec![0u8; 16];
        let refused = grow(&mut v, usize::MAX / 2, usize::MAX);
        assert!(
            matches!(refused, Err(Bounded::OutOfMemory { produced: 16, .. })),
            "{refused:?}"
        );
        let err = refused
            .unwrap_err()
            .into_error(Path::new("k"), "xz payload".into(), 1 << 30);
        let text = err.to_string();
        assert!(
            text.contains("out of memory decompressing xz payload"),
            "{text}"
        );
        assert!(!text.contains("corrupt"), "{text}");
    }

    #[test]
    fn capped_reader_flags_the_limit() {
        let flag = Cell::new(false);
        let mut capped = Capped::new(&[7u8; 100][..], 10, &flag);
        let mut sink = Vec::new();
        assert!(capped.read_to_end(&mut sink).is_err());
        assert!(flag.get());
        let exact_flag = Cell::new(false);
        let mut exact = Capped::new(&[7u8; 10][..], 10, &exact_flag);
        assert_eq!(exact.read_to_end(&mut sink).unwrap(), 10);
        assert!(!exact_flag.get());
    }
}
