//! Packet capture: a link tap writing pcap files, and pcap fixture helpers.
//!
//! [`PcapTap<L, W>`] wraps any [`LinkEndpoint`] and writes every frame the
//! inner link *takes* on transmit and every frame it delivers on receive to a
//! classic pcap stream (`LINKTYPE_ETHERNET`, snaplen 65535 by default) that
//! tcpdump, tshark and Wireshark read. Records are encoded with the
//! `pcap-file` crate. Timestamps are the `now` argument of the call plus an
//! optional [`PcapOptions::epoch`] (so a capture can be placed at wall-clock
//! time), with nanosecond resolution by default or microsecond on request.
//! The tap never reads a clock.
//!
//! Contract:
//! * The tap is transparent: MTU, header length, address and capabilities are
//!   the inner link's, and `write_packets`/`read_packets` return what the inner
//!   link returns. `write_packets` takes frames from the *front* of the batch
//!   exactly as the inner link does; only the frames it took are captured, so
//!   refused frames (still in the caller's batch) are not recorded twice when
//!   retried.
//! * Frames longer than the snaplen are recorded truncated, with their real
//!   length as the original length (counted as [`PcapStats::truncated`]).
//! * A write error never breaks the data path: the first error is kept (see
//!   [`PcapTap::error`]), counted, and capturing stops; frames keep flowing and
//!   are counted as [`PcapStats::missed`]. A capture cut short this way ends on
//!   a record boundary whenever the writer failed cleanly.
//!
//! Cost: on transmit the frames offered are copied into a reused encoding
//! buffer *before* the inner link takes (and may consume) them, and the
//! records of the frames it took are then written with one `write_all` per
//! call; on receive the delivered frames are encoded and written the same
//! way. No allocation happens per frame once the buffer has grown. The tap is
//! a debugging and testing tool: give it a `BufWriter<File>` and call
//! [`PcapTap::flush`] (or [`PcapTap::into_parts`] and flush) before reading the
//! file.
//!
//! Fixtures: [`read_pcap`]/[`read_pcap_file`] load a pcap into
//! `(Instant, bytes)` pairs and [`write_pcap`]/[`write_pcap_file`] write them.
//! Truncated records are read (their captured part), although `pcap-file`'s
//! validating reader would refuse them. pcapng input is refused with a message saying how to convert it: the
//! `pcap-file` 2.0 pcapng reader ignores the interface timestamp resolution,
//! which would silently scale timestamps by 1000.

use super::{Capabilities, LinkEndpoint};
use crate::buffer::{PacketBatch, PacketBuffer};
use crate::time::{Duration, Instant};
use crate::wire::EthernetAddress;
use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::{DataLink, Endianness, PcapError, TsResolution};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::Path;

/// Default snapshot length: frames up to this many bytes are captured whole.
pub const DEFAULT_SNAPLEN: u32 = 65535;

/// How a [`PcapTap`] writes its capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcapOptions {
    /// Timestamp resolution of the file (default nanoseconds).
    pub ts_resolution: TsResolution,
    /// Bytes captured per frame at most (default 65535; 0 means the default).
    pub snaplen: u32,
    /// Added to every `now` to form the record's time since the Unix epoch
    /// (default zero: timestamps are the stack's own time line).
    pub epoch: Duration,
}

impl Default for PcapOptions {
    fn default() -> Self {
        PcapOptions {
            ts_resolution: TsResolution::NanoSecond,
            snaplen: DEFAULT_SNAPLEN,
            epoch: Duration::ZERO,
        }
    }
}

/// Counters of a [`PcapTap`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PcapStats {
    /// Transmitted frames recorded.
    pub tx_frames: u64,
    /// Received frames recorded.
    pub rx_frames: u64,
    /// Bytes written to the writer, file header included.
    pub bytes_written: u64,
    /// Frames recorded truncated to the snaplen.
    pub truncated: u64,
    /// Write errors (at most one: capturing stops at the first).
    pub write_errors: u64,
    /// Frames that passed the tap while it was not capturing.
    pub missed: u64,
}

/// A link wrapper that records every frame to a pcap stream.
#[derive(Debug)]
pub struct PcapTap<L: LinkEndpoint, W: Write> {
    inner: L,
    out: W,
    header: PcapHeader,
    /// Length of the pcap file header that `PcapWriter::with_header` puts in
    /// front of the records in `encoded`.
    header_len: usize,
    /// Reused encoding buffer: a file header followed by records.
    encoded: Vec<u8>,
    /// For each frame encoded: end offset of its record after the header,
    /// and whether it was truncated.
    records: Vec<(usize, bool)>,
    epoch: Duration,
    error: Option<PcapError>,
    stats: PcapStats,
}

/// The pcap file header for the given options.
fn header_for(ts_resolution: TsResolution, snaplen: u32) -> PcapHeader {
    PcapHeader {
        snaplen: if snaplen == 0 {
            DEFAULT_SNAPLEN
        } else {
            snaplen
        },
        datalink: DataLink::ETHERNET,
        ts_resolution,
        endianness: Endianness::native(),
        ..PcapHeader::default()
    }
}

/// A record timestamp: `epoch + now`, saturating at the largest time a pcap
/// record can hold (`u32::MAX` seconds).
fn timestamp(epoch: Duration, now: Instant) -> Duration {
    let max = Duration::new(u64::from(u32::MAX), 999_999_999);
    epoch
        .checked_add(Duration::from_nanos(now.total_nanos()))
        .map_or(max, |t| t.min(max))
}

/// A pcap record for `data`, truncated to `snaplen`; also whether it was.
fn packet(ts: Duration, data: &[u8], snaplen: u32) -> (PcapPacket<'_>, bool) {
    let incl = data.len().min(snaplen as usize);
    let orig = u32::try_from(data.len()).unwrap_or(u32::MAX);
    (PcapPacket::new(ts, orig, &data[..incl]), incl < data.len())
}

impl<L: LinkEndpoint, W: Write> PcapTap<L, W> {
    /// Tap `inner`, writing to `writer` with default [`PcapOptions`]. The file
    /// header is written now; if that fails, [`PcapTap::error`] says so and
    /// the tap passes frames without capturing.
    pub fn new(inner: L, writer: W) -> PcapTap<L, W> {
        PcapTap::with_options(inner, writer, PcapOptions::default())
    }

    /// Tap `inner` with the given options (see [`PcapTap::new`]).
    pub fn with_options(inner: L, writer: W, options: PcapOptions) -> PcapTap<L, W> {
        let header = header_for(options.ts_resolution, options.snaplen);
        let mut tap = PcapTap {
            inner,
            out: writer,
            header,
            header_len: 0,
            encoded: Vec::new(),
            records: Vec::new(),
            epoch: options.epoch,
            error: None,
            stats: PcapStats::default(),
        };
        let mut file_header = Vec::new();
        match header.write_to(&mut file_header) {
            Ok(len) => {
                tap.header_len = len;
                tap.write_out(0, len, file_header.as_slice());
            }
            Err(e) => tap.fail(e),
        }
        tap
    }

    /// The wrapped link.
    pub fn inner(&self) -> &L {
        &self.inner
    }

    /// The wrapped link, mutably.
    pub fn inner_mut(&mut self) -> &mut L {
        &mut self.inner
    }

    /// The writer the capture goes to.
    pub fn writer(&self) -> &W {
        &self.out
    }

    /// The counters.
    pub fn stats(&self) -> PcapStats {
        self.stats
    }

    /// The error that stopped capturing, if any.
    pub fn error(&self) -> Option<&PcapError> {
        self.error.as_ref()
    }

    /// Whether frames are still being recorded.
    pub fn is_capturing(&self) -> bool {
        self.error.is_none()
    }

    /// Flush the writer. A flush error stops capturing like a write error;
    /// the error that stopped capturing (now or earlier) is returned.
    pub fn flush(&mut self) -> Result<(), &PcapError> {
        if self.error.is_none() {
            if let Err(e) = self.out.flush() {
                self.fail(PcapError::IoError(e));
            }
        }
        match &self.error {
            None => Ok(()),
            Some(e) => Err(e),
        }
    }

    /// Take the tap apart: the link, the writer (not flushed) and the error
    /// that stopped capturing, if any.
    pub fn into_parts(self) -> (L, W, Option<PcapError>) {
        (self.inner, self.out, self.error)
    }

    fn fail(&mut self, e: PcapError) {
        self.stats.write_errors += 1;
        if self.error.is_none() {
            self.error = Some(e);
        }
    }

    /// Write `bytes[from..to]` to the writer, stopping capture on error.
    fn write_out(&mut self, from: usize, to: usize, bytes: &[u8]) -> bool {
        match self.out.write_all(&bytes[from..to]) {
            Ok(()) => {
                self.stats.bytes_written += (to - from) as u64;
                true
            }
            Err(e) => {
                self.fail(PcapError::IoError(e));
                false
            }
        }
    }

    /// Encode records for `frames` into the encoding buffer.
    fn encode(&mut self, frames: &[PacketBuffer], now: Instant) {
        let ts = timestamp(self.epoch, now);
        let snaplen = self.header.snaplen;
        self.records.clear();
        let mut buf = core::mem::take(&mut self.encoded);
        buf.clear();
        let mut writer = match PcapWriter::with_header(buf, self.header) {
            Ok(w) => w,
            // Writing to a Vec cannot fail; keep the data path going anyway.
            Err(e) => {
                self.fail(e);
                return;
            }
        };
        let mut end = 0;
        for frame in frames {
            let (record, truncated) = packet(ts, frame.as_slice(), snaplen);
            // The fields are valid by construction, so this cannot fail; a
            // record that somehow did would be skipped (zero length).
            if let Ok(n) = writer.write_packet(&record) {
                end += n;
            }
            self.records.push((end, truncated));
        }
        self.encoded = writer.into_writer();
    }

    /// Write the first `n` encoded records (transmit or receive side).
    fn commit(&mut self, n: usize, tx: bool) {
        let n = n.min(self.records.len());
        if n == 0 {
            return;
        }
        let end = self.header_len + self.records[n - 1].0;
        let encoded = core::mem::take(&mut self.encoded);
        let end = end.min(encoded.len());
        let ok = self.write_out(self.header_len.min(end), end, &encoded);
        self.encoded = encoded;
        if !ok {
            self.stats.missed += n as u64;
            return;
        }
        let truncated = self.records[..n].iter().filter(|r| r.1).count() as u64;
        self.stats.truncated += truncated;
        if tx {
            self.stats.tx_frames += n as u64;
        } else {
            self.stats.rx_frames += n as u64;
        }
    }
}

impl<L: LinkEndpoint, W: Write> LinkEndpoint for PcapTap<L, W> {
    fn mtu(&self) -> usize {
        self.inner.mtu()
    }

    fn max_header_len(&self) -> usize {
        self.inner.max_header_len()
    }

    fn link_address(&self) -> EthernetAddress {
        self.inner.link_address()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn gso_max_size(&self) -> usize {
        self.inner.gso_max_size()
    }

    fn write_packets(&mut self, batch: &mut PacketBatch, now: Instant) -> usize {
        if !self.is_capturing() {
            let n = self.inner.write_packets(batch, now);
            self.stats.missed += n as u64;
            return n;
        }
        self.encode(batch, now);
        let n = self.inner.write_packets(batch, now);
        self.commit(n, true);
        n
    }

    fn read_packets(&mut self, batch: &mut PacketBatch, budget: usize, now: Instant) -> usize {
        let start = batch.len();
        let n = self.inner.read_packets(batch, budget, now);
        if n == 0 {
            return 0;
        }
        if !self.is_capturing() {
            self.stats.missed += n as u64;
            return n;
        }
        let end = (start + n).min(batch.len());
        self.encode(&batch[start..end], now);
        self.commit(n, false);
        n
    }
}

/// The pcapng section header block type, which starts every pcapng file.
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Read every frame of a classic pcap stream with Ethernet link type, with
/// its timestamp as an [`Instant`] (time since the Unix epoch on the stack's
/// time line). pcapng and other link types are refused with a message
/// naming the fix.
pub fn read_pcap<R: Read>(mut reader: R) -> Result<Vec<(Instant, Vec<u8>)>, PcapError> {
    let mut data = Vec::new();
    reader.read_to_end(&mut data).map_err(PcapError::IoError)?;
    if data.starts_with(&PCAPNG_MAGIC) {
        return Err(PcapError::InvalidField(
            "input is pcapng, not pcap: convert it with `editcap -F pcap IN OUT` \
             or save it from Wireshark as \"Wireshark/tcpdump - pcap\"",
        ));
    }
    let mut pcap = PcapReader::new(data.as_slice())?;
    if pcap.header().datalink != DataLink::ETHERNET {
        return Err(PcapError::InvalidField(
            "pcap link type is not Ethernet (LINKTYPE_ETHERNET = 1): xdpnet links carry \
             Ethernet frames; capture on an Ethernet interface (not `-i any`)",
        ));
    }
    let micros = pcap.header().ts_resolution == TsResolution::MicroSecond;
    let mut frames = Vec::new();
    // Raw records: pcap-file 2.0's validating `next_packet` refuses records
    // whose original length exceeds the snaplen, i.e. every truncated record,
    // which libpcap and Wireshark read fine.
    while let Some(record) = pcap.next_raw_packet() {
        let record = record?;
        let frac = if micros {
            u64::from(record.ts_frac) * 1_000
        } else {
            u64::from(record.ts_frac)
        };
        if frac >= 1_000_000_000 {
            return Err(PcapError::InvalidField(
                "pcap record timestamp fraction is not below one second",
            ));
        }
        let nanos = u64::from(record.ts_sec) * 1_000_000_000 + frac;
        frames.push((Instant::from_nanos(nanos), record.data.into_owned()));
    }
    Ok(frames)
}

/// [`read_pcap`] on a file.
pub fn read_pcap_file<P: AsRef<Path>>(path: P) -> Result<Vec<(Instant, Vec<u8>)>, PcapError> {
    let file = File::open(path).map_err(PcapError::IoError)?;
    read_pcap(file)
}

/// Write `frames` as a classic pcap stream (Ethernet, nanosecond timestamps,
/// snaplen 65535; longer frames are truncated with their real length kept),
/// then flush the writer.
pub fn write_pcap<W: Write>(writer: W, frames: &[(Instant, &[u8])]) -> Result<(), PcapError> {
    let header = header_for(TsResolution::NanoSecond, DEFAULT_SNAPLEN);
    let mut pcap = PcapWriter::with_header(writer, header)?;
    for (at, data) in frames {
        let (record, _) = packet(timestamp(Duration::ZERO, *at), data, DEFAULT_SNAPLEN);
        pcap.write_packet(&record)?;
    }
    pcap.into_writer().flush().map_err(PcapError::IoError)
}

/// [`write_pcap`] to a new file (created or truncated).
pub fn write_pcap_file<P: AsRef<Path>>(
    path: P,
    frames: &[(Instant, &[u8])],
) -> Result<(), PcapError> {
    let file = File::create(path).map_err(PcapError::IoError)?;
    write_pcap(BufWriter::new(file), frames)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::pipe::{Pipe, PipeConfig, PipeEnd};
    use std::io;

    const MAC_A: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
    const MAC_B: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 2]);

    fn frame(tag: u8, len: usize) -> Vec<u8> {
        (0..len).map(|i| tag.wrapping_add(i as u8)).collect()
    }

    fn batch_of(frames: &[Vec<u8>]) -> PacketBatch {
        frames
            .iter()
            .map(|f| PacketBuffer::from_slice(0, f))
            .collect()
    }

    fn pair(capacity: usize) -> (PipeEnd, PipeEnd) {
        Pipe::pair(
            PipeConfig::new(MAC_A).with_queue_capacity(capacity),
            PipeConfig::new(MAC_B).with_queue_capacity(capacity),
        )
    }

    /// Every record of a pcap stream, read with pcap-file's own reader, its
    /// validating `next_packet` when `validate` (which refuses truncated
    /// records), else `next_raw_packet`.
    fn read_with(bytes: &[u8], validate: bool) -> (PcapHeader, Vec<(Duration, u32, Vec<u8>)>) {
        let mut r = PcapReader::new(bytes).unwrap();
        let header = r.header();
        let nano = header.ts_resolution == TsResolution::NanoSecond;
        let mut out = Vec::new();
        loop {
            if validate {
                let Some(p) = r.next_packet() else { break };
                let p = p.unwrap();
                out.push((p.timestamp, p.orig_len, p.data.into_owned()));
            } else {
                let Some(p) = r.next_raw_packet() else { break };
                let p = p.unwrap();
                let frac = if nano { p.ts_frac } else { p.ts_frac * 1000 };
                let ts = Duration::new(u64::from(p.ts_sec), frac);
                out.push((ts, p.orig_len, p.data.into_owned()));
            }
        }
        (header, out)
    }

    fn records(bytes: &[u8]) -> (PcapHeader, Vec<(Duration, u32, Vec<u8>)>) {
        read_with(bytes, true)
    }

    fn raw_records(bytes: &[u8]) -> (PcapHeader, Vec<(Duration, u32, Vec<u8>)>) {
        read_with(bytes, false)
    }

    #[test]
    fn tap_records_sent_and_received_frames() {
        let (a, mut b) = pair(64);
        let mut tap = PcapTap::new(a, Vec::new());
        assert_eq!(tap.link_address(), MAC_A);
        assert_eq!(tap.mtu(), 1500);
        let sent = vec![frame(1, 60), frame(2, 1514), frame(3, 14)];
        let t1 = Instant::from_nanos(1_500_000_123);
        assert_eq!(tap.write_packets(&mut batch_of(&sent), t1), 3);

        let back = vec![frame(9, 90), frame(8, 70)];
        b.write_packets(&mut batch_of(&back), t1);
        let t2 = Instant::from_secs(2) + Duration::from_nanos(7);
        let mut rx = vec![PacketBuffer::from_slice(0, b"already here")];
        assert_eq!(tap.read_packets(&mut rx, 64, t2), 2);
        assert_eq!(tap.read_packets(&mut rx, 64, t2), 0);
        assert!(tap.flush().is_ok());

        let s = tap.stats();
        assert_eq!(
            (s.tx_frames, s.rx_frames, s.missed, s.truncated),
            (3, 2, 0, 0)
        );
        let (_, bytes, err) = tap.into_parts();
        assert!(err.is_none());
        assert_eq!(s.bytes_written, bytes.len() as u64);

        let (header, recs) = records(&bytes);
        assert_eq!(header.datalink, DataLink::ETHERNET);
        assert_eq!(header.snaplen, 65535);
        assert_eq!(header.ts_resolution, TsResolution::NanoSecond);
        assert_eq!((header.version_major, header.version_minor), (2, 4));
        assert_eq!(recs.len(), 5);
        for (rec, want) in recs[..3].iter().zip(&sent) {
            assert_eq!(rec.0, Duration::from_nanos(1_500_000_123));
            assert_eq!(rec.1 as usize, want.len());
            assert_eq!(&rec.2, want);
        }
        for (rec, want) in recs[3..].iter().zip(&back) {
            assert_eq!(rec.0, Duration::from_nanos(2_000_000_007));
            assert_eq!(&rec.2, want);
        }
        // The helper agrees.
        let frames = read_pcap(bytes.as_slice()).unwrap();
        assert_eq!(frames.len(), 5);
        assert_eq!(frames[0].0, t1);
        assert_eq!(frames[4], (t2, back[1].clone()));
    }

    #[test]
    fn only_frames_the_link_took_are_recorded() {
        let (a, mut b) = pair(2);
        let mut tap = PcapTap::new(a, Vec::new());
        let sent: Vec<Vec<u8>> = (0..5).map(|i| frame(i, 64)).collect();
        let mut batch = batch_of(&sent);
        assert_eq!(tap.write_packets(&mut batch, Instant::ZERO), 2);
        b.read_packets(&mut PacketBatch::new(), 64, Instant::ZERO);
        assert_eq!(tap.write_packets(&mut batch, Instant::ZERO), 2);
        b.read_packets(&mut PacketBatch::new(), 64, Instant::ZERO);
        assert_eq!(tap.write_packets(&mut batch, Instant::ZERO), 1);
        assert_eq!(tap.write_packets(&mut batch, Instant::ZERO), 0);
        let (_, bytes, _) = tap.into_parts();
        let got: Vec<Vec<u8>> = read_pcap(bytes.as_slice())
            .unwrap()
            .into_iter()
            .map(|(_, f)| f)
            .collect();
        assert_eq!(got, sent, "each frame once, in order");
    }

    #[test]
    fn microseconds_epoch_and_snaplen() {
        let (a, _b) = pair(64);
        let options = PcapOptions {
            ts_resolution: TsResolution::MicroSecond,
            snaplen: 100,
            epoch: Duration::from_secs(1_700_000_000),
        };
        let mut tap = PcapTap::with_options(a, Vec::new(), options);
        let sent = vec![frame(1, 300), frame(2, 100)];
        tap.write_packets(&mut batch_of(&sent), Instant::from_nanos(5_123_456_789));
        assert_eq!(tap.stats().truncated, 1);
        let (_, bytes, _) = tap.into_parts();
        let (header, recs) = raw_records(&bytes);
        assert_eq!(header.ts_resolution, TsResolution::MicroSecond);
        assert_eq!(header.snaplen, 100);
        assert_eq!(recs[0].0, Duration::new(1_700_000_005, 123_456_000));
        assert_eq!(recs[0].1, 300, "original length kept");
        assert_eq!(recs[0].2, sent[0][..100].to_vec());
        assert_eq!(recs[1].1, 100);
        assert_eq!(recs[1].2, sent[1]);
        // read_pcap reads truncated records too, at microsecond precision.
        let frames = read_pcap(bytes.as_slice()).unwrap();
        assert_eq!(frames[0].0, Instant::from_nanos(1_700_000_005_123_456_000));
        assert_eq!(frames[0].1, sent[0][..100].to_vec());
    }

    #[test]
    fn timestamps_saturate_at_the_pcap_maximum() {
        let t = timestamp(Duration::ZERO, Instant::MAX);
        assert_eq!(t.as_secs(), u64::from(u32::MAX));
        let t = timestamp(Duration::MAX, Instant::from_secs(1));
        assert_eq!(t.as_secs(), u64::from(u32::MAX));
        let mut out = Vec::new();
        write_pcap(&mut out, &[(Instant::MAX, &[1, 2, 3][..])]).unwrap();
        assert_eq!(read_pcap(out.as_slice()).unwrap().len(), 1);
    }

    /// A writer that accepts `budget` bytes, then fails every call.
    #[derive(Debug)]
    struct FailingWriter {
        budget: usize,
        written: Vec<u8>,
        fail_flush: bool,
    }

    impl Write for FailingWriter {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.budget == 0 {
                return Err(io::Error::other("disk full"));
            }
            let n = buf.len().min(self.budget);
            self.budget -= n;
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            if self.fail_flush {
                Err(io::Error::other("flush failed"))
            } else {
                Ok(())
            }
        }
    }

    #[test]
    fn write_error_stops_capture_but_not_traffic() {
        let (a, mut b) = pair(64);
        // Room for the file header and exactly two 64-byte records.
        let w = FailingWriter {
            budget: 24 + 2 * (16 + 64),
            written: Vec::new(),
            fail_flush: false,
        };
        let mut tap = PcapTap::new(a, w);
        assert!(tap.is_capturing());
        let sent: Vec<Vec<u8>> = (0..2).map(|i| frame(i, 64)).collect();
        assert_eq!(tap.write_packets(&mut batch_of(&sent), Instant::ZERO), 2);
        assert!(tap.is_capturing());
        let more: Vec<Vec<u8>> = (2..5).map(|i| frame(i, 64)).collect();
        assert_eq!(tap.write_packets(&mut batch_of(&more), Instant::ZERO), 3);
        assert!(!tap.is_capturing());
        let err = tap.error().expect("error kept");
        assert!(matches!(err, PcapError::IoError(e) if e.to_string() == "disk full"));
        // Traffic keeps flowing both ways.
        assert_eq!(tap.write_packets(&mut batch_of(&more), Instant::ZERO), 3);
        b.write_packets(&mut batch_of(&sent), Instant::ZERO);
        assert_eq!(
            tap.read_packets(&mut PacketBatch::new(), 64, Instant::ZERO),
            2
        );
        let mut rx = PacketBatch::new();
        assert_eq!(b.read_packets(&mut rx, 64, Instant::ZERO), 8);
        assert_eq!(rx[7].as_slice(), &more[2][..]);

        let s = tap.stats();
        assert_eq!((s.tx_frames, s.write_errors, s.missed), (2, 1, 3 + 3 + 2));
        assert!(tap.flush().is_err(), "flush reports the stored error");
        // What was written before the error is a valid capture.
        let (_, w, err) = tap.into_parts();
        assert!(err.is_some());
        let got = read_pcap(w.written.as_slice()).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].1, sent[1]);
    }

    #[test]
    fn header_and_flush_errors_are_reported() {
        let (a, mut b) = pair(64);
        let w = FailingWriter {
            budget: 0,
            written: Vec::new(),
            fail_flush: false,
        };
        let mut tap = PcapTap::new(a, w);
        assert!(!tap.is_capturing(), "header write failed");
        assert_eq!(
            tap.write_packets(&mut batch_of(&[frame(0, 64)]), Instant::ZERO),
            1
        );
        assert_eq!(b.read_packets(&mut PacketBatch::new(), 8, Instant::ZERO), 1);
        assert_eq!(tap.stats().missed, 1);

        let (a, _b) = pair(64);
        let w = FailingWriter {
            budget: 1 << 20,
            written: Vec::new(),
            fail_flush: true,
        };
        let mut tap = PcapTap::new(a, w);
        assert!(tap.is_capturing());
        assert!(matches!(tap.flush(), Err(PcapError::IoError(_))));
        assert!(!tap.is_capturing());
        assert_eq!(tap.stats().write_errors, 1);
    }

    #[test]
    fn fixture_helpers_round_trip_through_a_file() {
        let big = frame(7, 70_000);
        let frames: Vec<(Instant, &[u8])> = vec![
            (Instant::from_micros(1), &[1, 2, 3][..]),
            (Instant::from_nanos(2_000_000_001), &big[..]),
            (Instant::from_secs(3), &[][..]),
        ];
        let path = std::env::temp_dir().join(format!(
            "xdpnet-link-pcap-{}-{:?}.pcap",
            std::process::id(),
            std::thread::current().id()
        ));
        write_pcap_file(&path, &frames).unwrap();
        let got = read_pcap_file(&path);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let got = got.unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0], (Instant::from_micros(1), vec![1, 2, 3]));
        assert_eq!(got[1].0, Instant::from_nanos(2_000_000_001));
        assert_eq!(got[1].1, big[..65535].to_vec(), "truncated to the snaplen");
        assert_eq!(got[2], (Instant::from_secs(3), vec![]));
        let (_, recs) = raw_records(&bytes);
        assert_eq!(recs[1].1, 70_000);
        assert_eq!(recs[1].2.len(), 65535);

        assert!(matches!(
            read_pcap_file("/nonexistent/xdpnet.pcap"),
            Err(PcapError::IoError(_))
        ));
    }

    #[test]
    fn read_refuses_pcapng_other_link_types_and_garbage() {
        let mut ng = PCAPNG_MAGIC.to_vec();
        ng.extend_from_slice(&[0; 24]);
        let err = read_pcap(ng.as_slice()).unwrap_err();
        assert!(err.to_string().contains("editcap -F pcap"), "{err}");

        let header = PcapHeader {
            datalink: DataLink::RAW,
            ..PcapHeader::default()
        };
        let raw = PcapWriter::with_header(Vec::new(), header)
            .unwrap()
            .into_writer();
        let err = read_pcap(raw.as_slice()).unwrap_err();
        assert!(err.to_string().contains("not Ethernet"), "{err}");

        assert!(read_pcap(&b"not a pcap at all, just text"[..]).is_err());
        assert!(read_pcap(&[][..]).is_err());
        // A record cut short.
        let mut cut = Vec::new();
        write_pcap(&mut cut, &[(Instant::ZERO, &[5; 40][..])]).unwrap();
        cut.truncate(cut.len() - 10);
        assert!(read_pcap(cut.as_slice()).is_err());
    }
}
