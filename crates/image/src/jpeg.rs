//! A JPEG decoder whose output is bit-identical to libjpeg-turbo's defaults, which is what PIL
//! uses (accurate integer IDCT, "fancy" triangle-filter chroma upsampling, fixed-point
//! YCbCr→RGB).
//!
//! Generic Rust decoders use other IDCT, upsampling and colour-conversion roundings; on a
//! typical 4:2:0 photo a third of the samples then differ by 1–2 (occasionally up to ~7) from
//! PIL, which the CLIP preprocessing would carry into the model input. This module covers the
//! JPEGs that matter in practice — 8-bit baseline, extended-sequential and progressive Huffman,
//! greyscale or three-component YCbCr/RGB, any integer chroma subsampling — and
//! answers [`Decoded::Unsupported`] for anything else (CMYK, arithmetic coding, 12-bit,
//! lossless, non-integer sampling ratios, corrupt entropy data, progressive files that libjpeg
//! would smooth) so the caller can fall back to a general decoder.

use image::{DynamicImage, GrayImage, RgbImage};

pub(crate) enum Decoded {
    Image(DynamicImage),
    /// A valid or damaged file outside the exact subset; decode it another way. Names the
    /// coding feature when that is the reason (other decoders may lack it too).
    Unsupported(Option<&'static str>),
}

/// The data ended in the middle of the image (PIL refuses such files too).
pub(crate) struct Truncated;

/// Zigzag position → natural (row-major) index; 16 extra entries absorb corrupt run lengths
/// the way libjpeg's table does.
#[rustfmt::skip]
const NATURAL: [usize; 80] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
    63, 63, 63, 63, 63, 63,
];

/// Why decoding stopped early.
enum Stop {
    Truncated,
    Unsupported,
    Feature(&'static str),
}

type R<T> = Result<T, Stop>;

fn unsupported<T>() -> R<T> {
    Err(Stop::Unsupported)
}

struct Huffman {
    /// 9-bit lookahead: `len << 8 | value`, 0 when the code is longer.
    fast: Vec<u16>,
    maxcode: [i32; 17],
    mincode: [i32; 17],
    valptr: [i32; 17],
    values: Vec<u8>,
}

const LOOKAHEAD: u32 = 9;

impl Huffman {
    fn new(counts: &[u8; 16], values: Vec<u8>, is_dc: bool) -> R<Huffman> {
        // libjpeg rejects DC symbols above 15 (they would be bit counts).
        if is_dc && values.iter().any(|&v| v > 15) {
            return unsupported();
        }
        let mut h = Huffman {
            fast: vec![0; 1 << LOOKAHEAD],
            maxcode: [-1; 17],
            mincode: [0; 17],
            valptr: [0; 17],
            values,
        };
        let mut code: i32 = 0;
        let mut k = 0usize;
        for len in 1..=16usize {
            let n = usize::from(counts[len - 1]);
            h.valptr[len] = k as i32;
            h.mincode[len] = code;
            for _ in 0..n {
                // libjpeg rejects codes that do not fit their length (or are all ones).
                if code + 1 >= 1 << len {
                    return unsupported();
                }
                if len as u32 <= LOOKAHEAD {
                    let shift = LOOKAHEAD - len as u32;
                    let first = (code as usize) << shift;
                    let entry =
                        (len as u16) << 8 | u16::from(*h.values.get(k).ok_or(Stop::Unsupported)?);
                    h.fast[first..first + (1 << shift)].fill(entry);
                }
                code += 1;
                k += 1;
            }
            if n > 0 {
                h.maxcode[len] = code - 1;
            }
            code <<= 1;
        }
        if k > h.values.len() {
            return unsupported();
        }
        Ok(h)
    }
}

/// Entropy-coded segment reader. Past a marker or the end of data it supplies zero bits, as
/// libjpeg does, and remembers that it did so.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
    acc: u64,
    n: u32,
    stop: Option<Stop>,
    pad: u32,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8], pos: usize) -> Self {
        Bits {
            data,
            pos,
            acc: 0,
            n: 0,
            stop: None,
            pad: 0,
        }
    }

    fn refill(&mut self) {
        while self.n <= 56 {
            let mut byte = 0u8;
            if self.stop.is_none() {
                match self.data.get(self.pos) {
                    None => self.stop = Some(Stop::Truncated),
                    Some(&0xFF) => match self.data.get(self.pos + 1) {
                        Some(0x00) => {
                            byte = 0xFF;
                            self.pos += 2;
                        }
                        Some(_) => self.stop = Some(Stop::Unsupported),
                        None => self.stop = Some(Stop::Truncated),
                    },
                    Some(&b) => {
                        byte = b;
                        self.pos += 1;
                    }
                }
            }
            if self.stop.is_some() {
                self.pad += 8;
            }
            self.acc |= u64::from(byte) << (56 - self.n);
            self.n += 8;
        }
    }

    /// Fails if any padding bit has been consumed: the segment ended too early.
    fn check(&mut self) -> R<()> {
        if self.pad > self.n {
            return Err(self.stop.take().unwrap_or(Stop::Unsupported));
        }
        Ok(())
    }

    #[inline]
    fn bits(&mut self, count: u32) -> u32 {
        if count == 0 {
            return 0;
        }
        if self.n < count {
            self.refill();
        }
        let v = (self.acc >> (64 - count)) as u32;
        self.acc <<= count;
        self.n -= count;
        v
    }

    #[inline]
    fn bit(&mut self) -> bool {
        self.bits(1) != 0
    }

    /// `HUFF_EXTEND(GET_BITS(s), s)`.
    #[inline]
    fn receive_extend(&mut self, s: u32) -> i32 {
        if s == 0 {
            return 0;
        }
        let v = self.bits(s) as i32;
        if v < 1 << (s - 1) {
            v - (1 << s) + 1
        } else {
            v
        }
    }

    #[inline]
    fn decode(&mut self, h: &Huffman) -> R<u8> {
        if self.n < 16 {
            self.refill();
        }
        let e = h.fast[(self.acc >> (64 - LOOKAHEAD)) as usize];
        if e != 0 {
            let len = u32::from(e >> 8);
            self.acc <<= len;
            self.n -= len;
            return Ok(e as u8);
        }
        for len in LOOKAHEAD as usize + 1..=16 {
            let code = (self.acc >> (64 - len)) as i32;
            if code <= h.maxcode[len] {
                self.acc <<= len;
                self.n -= len as u32;
                let idx = h.valptr[len] + code - h.mincode[len];
                return h.values.get(idx as usize).copied().ok_or(Stop::Unsupported);
            }
        }
        // libjpeg warns and substitutes 0; we leave such files to the fallback decoder.
        unsupported()
    }

    /// Drops buffered bits and consumes the expected RSTn marker.
    fn restart(&mut self, expected: u8) -> R<()> {
        self.check()?;
        self.acc = 0;
        self.n = 0;
        self.pad = 0;
        self.stop = None;
        // Skip the padding of the finished interval up to the marker.
        while self.pos + 1 < self.data.len() && !is_marker(self.data, self.pos, false) {
            self.pos += 1;
        }
        if self.pos + 1 >= self.data.len() {
            return Err(Stop::Truncated);
        }
        if self.data[self.pos + 1] != 0xD0 + expected {
            return unsupported();
        }
        self.pos += 2;
        Ok(())
    }
}

struct Component {
    id: u8,
    h: usize,
    v: usize,
    tq: usize,
    /// Blocks per row / column, padded to whole MCUs.
    bw: usize,
    bh: usize,
    /// Samples per row / column actually covered by the image.
    dw: usize,
    dh: usize,
    coefs: Vec<[i16; 64]>,
    dc_pred: i32,
    /// Successive-approximation bit of each zigzag coefficient (libjpeg's `coef_bits`).
    coef_bits: [i32; 64],
}

struct Frame {
    width: usize,
    height: usize,
    progressive: bool,
    max_h: usize,
    max_v: usize,
    mcux: usize,
    mcuy: usize,
    comps: Vec<Component>,
}

struct Scan {
    comps: Vec<usize>,
    dc: Vec<usize>,
    ac: Vec<usize>,
    ss: usize,
    se: usize,
    ah: u32,
    al: u32,
}

/// Whether a marker starts at `p` (0xFF then a byte that is not stuffing or fill), optionally
/// not counting restart markers.
fn is_marker(data: &[u8], p: usize, skip_restarts: bool) -> bool {
    data[p] == 0xFF
        && match data[p + 1] {
            0x00 | 0xFF => false,
            0xD0..=0xD7 => !skip_restarts,
            _ => true,
        }
}

fn be16(data: &[u8], pos: usize) -> R<usize> {
    match data.get(pos..pos + 2) {
        Some(b) => Ok(usize::from(u16::from_be_bytes([b[0], b[1]]))),
        None => Err(Stop::Truncated),
    }
}

/// Decodes `data` exactly as libjpeg-turbo would, or says why not. `max_pixels` bounds the
/// allocation before any pixel is decoded.
pub(crate) fn decode(data: &[u8], max_pixels: u64) -> Result<Decoded, Truncated> {
    match decode_inner(data, max_pixels) {
        Ok(img) => Ok(Decoded::Image(img)),
        Err(Stop::Truncated) => Err(Truncated),
        Err(Stop::Unsupported) => Ok(Decoded::Unsupported(None)),
        Err(Stop::Feature(f)) => Ok(Decoded::Unsupported(Some(f))),
    }
}

fn decode_inner(data: &[u8], max_pixels: u64) -> R<DynamicImage> {
    if data.get(..2) != Some(&[0xFF, 0xD8]) {
        return unsupported();
    }
    let mut pos = 2;
    let mut qt: [Option<[u16; 64]>; 4] = [None; 4];
    let mut dc_tables: [Option<Huffman>; 4] = [None, None, None, None];
    let mut ac_tables: [Option<Huffman>; 4] = [None, None, None, None];
    let mut restart_interval = 0usize;
    let mut frame: Option<Frame> = None;
    let mut jfif = false;
    let mut adobe: Option<u8> = None;
    let mut scans = 0;
    loop {
        // Find the next marker as libjpeg's `next_marker` does: stray bytes and stuffed 0xFF00
        // pairs are skipped (libjpeg only warns), as are 0xFF fill bytes.
        let marker = loop {
            match data.get(pos) {
                None => break None,
                Some(0xFF) => {
                    while data.get(pos) == Some(&0xFF) {
                        pos += 1;
                    }
                    match data.get(pos) {
                        Some(0x00) => pos += 1,
                        Some(&m) => {
                            pos += 1;
                            break Some(m);
                        }
                        None => break None,
                    }
                }
                Some(_) => pos += 1,
            }
        };
        let Some(marker) = marker else {
            if scans > 0 && !frame.as_ref().is_some_and(|f| f.progressive) {
                break; // a sequential file missing its EOI still has every row
            }
            return Err(Stop::Truncated);
        };
        match marker {
            0xD9 => break,
            0xD0..=0xD7 | 0x01 => continue,
            0xD8 => return unsupported(),
            _ => {}
        }
        let len = be16(data, pos)?;
        if len < 2 {
            return unsupported();
        }
        let seg = data.get(pos + 2..pos + len).ok_or(Stop::Truncated)?;
        pos += len;
        match marker {
            0xC0..=0xC2 => {
                if frame.is_some() {
                    return unsupported();
                }
                frame = Some(parse_frame(seg, marker == 0xC2, max_pixels)?);
            }
            0xC3 | 0xC7 | 0xCB | 0xCF => return Err(Stop::Feature("lossless JPEG")),
            0xC9..=0xCA | 0xCC | 0xCD..=0xCE => return Err(Stop::Feature("arithmetic-coded JPEG")),
            0xC5 | 0xC6 => return Err(Stop::Feature("hierarchical JPEG")),
            0xC8 | 0xDC => return unsupported(),
            0xC4 => parse_dht(seg, &mut dc_tables, &mut ac_tables)?,
            0xDB => parse_dqt(seg, &mut qt)?,
            0xDD => {
                restart_interval = be16(seg, 0).map_err(|_| Stop::Unsupported)?;
            }
            0xE0 => jfif |= seg.len() >= 14 && seg.starts_with(b"JFIF\0"),
            0xEE if seg.len() >= 12 && seg.starts_with(b"Adobe") => adobe = Some(seg[11]),
            0xDA => {
                let Some(f) = frame.as_mut() else {
                    return unsupported();
                };
                let scan = parse_scan(seg, f)?;
                pos = decode_scan(
                    data,
                    pos,
                    f,
                    &scan,
                    &dc_tables,
                    &ac_tables,
                    restart_interval,
                )?;
                scans += 1;
            }
            _ => {}
        }
    }
    let f = frame.ok_or(Stop::Truncated)?;
    if scans == 0 {
        return Err(Stop::Truncated);
    }
    let mut quant = Vec::with_capacity(f.comps.len());
    for c in &f.comps {
        quant.push(qt[c.tq].ok_or(Stop::Unsupported)?);
        if c.coef_bits[0] < 0 {
            return unsupported(); // component never scanned
        }
    }
    if f.progressive && would_smooth(&f, &quant) {
        return unsupported();
    }
    let planes: Vec<Vec<u8>> = f
        .comps
        .iter()
        .zip(&quant)
        .map(|(c, q)| idct_plane(c, q))
        .collect();
    let (w, h) = (f.width, f.height);
    if f.comps.len() == 1 {
        let c = &f.comps[0];
        let stride = c.bw * 8;
        let mut out = Vec::with_capacity(w * h);
        for y in 0..h {
            out.extend_from_slice(&planes[0][y * stride..y * stride + w]);
        }
        return Ok(DynamicImage::ImageLuma8(
            GrayImage::from_raw(w as u32, h as u32, out).ok_or(Stop::Unsupported)?,
        ));
    }
    let ycc = if jfif {
        true
    } else if let Some(t) = adobe {
        t != 0
    } else {
        let ids: Vec<u8> = f.comps.iter().map(|c| c.id).collect();
        ids != [82, 71, 66]
    };
    let mut ups: Vec<Upsampler> = f
        .comps
        .iter()
        .zip(&planes)
        .map(|(c, p)| Upsampler::new(c, p, &f))
        .collect::<R<_>>()?;
    let rgb = to_rgb(&mut ups, ycc, w, h);
    Ok(DynamicImage::ImageRgb8(
        RgbImage::from_raw(w as u32, h as u32, rgb).ok_or(Stop::Unsupported)?,
    ))
}

fn parse_frame(seg: &[u8], progressive: bool, max_pixels: u64) -> R<Frame> {
    if seg.len() < 6 {
        return unsupported();
    }
    if seg[0] != 8 {
        return Err(Stop::Feature("12-bit JPEG"));
    }
    let height = be16(seg, 1)?;
    let width = be16(seg, 3)?;
    let n = usize::from(seg[5]);
    if width == 0 || height == 0 || !(n == 1 || n == 3) || seg.len() < 6 + 3 * n {
        return unsupported();
    }
    if width as u64 * height as u64 > max_pixels {
        return unsupported(); // the fallback reports the size error
    }
    let mut comps = Vec::with_capacity(n);
    for i in 0..n {
        let b = &seg[6 + 3 * i..9 + 3 * i];
        let (h, v, tq) = (
            usize::from(b[1] >> 4),
            usize::from(b[1] & 15),
            usize::from(b[2]),
        );
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) || tq > 3 {
            return unsupported();
        }
        comps.push(Component {
            id: b[0],
            h,
            v,
            tq,
            bw: 0,
            bh: 0,
            dw: 0,
            dh: 0,
            coefs: Vec::new(),
            dc_pred: 0,
            coef_bits: [-1; 64],
        });
    }
    let max_h = comps.iter().map(|c| c.h).max().unwrap_or(1);
    let max_v = comps.iter().map(|c| c.v).max().unwrap_or(1);
    let mcux = width.div_ceil(8 * max_h);
    let mcuy = height.div_ceil(8 * max_v);
    for c in &mut comps {
        if n == 1 {
            // A lone component is never subsampled, whatever its factors say.
            c.h = 1;
            c.v = 1;
        }
        c.dw = (width * c.h).div_ceil(if n == 1 { 1 } else { max_h });
        c.dh = (height * c.v).div_ceil(if n == 1 { 1 } else { max_v });
        if n == 1 {
            c.bw = c.dw.div_ceil(8);
            c.bh = c.dh.div_ceil(8);
        } else {
            c.bw = mcux * c.h;
            c.bh = mcuy * c.v;
        }
        c.coefs = vec![[0i16; 64]; c.bw * c.bh];
    }
    Ok(Frame {
        width,
        height,
        progressive,
        max_h: if n == 1 { 1 } else { max_h },
        max_v: if n == 1 { 1 } else { max_v },
        mcux,
        mcuy,
        comps,
    })
}

fn parse_dqt(mut seg: &[u8], qt: &mut [Option<[u16; 64]>; 4]) -> R<()> {
    while !seg.is_empty() {
        let (pq, tq) = (seg[0] >> 4, usize::from(seg[0] & 15));
        if tq > 3 || pq > 1 {
            return unsupported();
        }
        let size = if pq == 0 { 64 } else { 128 };
        let body = seg.get(1..1 + size).ok_or(Stop::Unsupported)?;
        let mut table = [0u16; 64];
        for k in 0..64 {
            table[NATURAL[k]] = if pq == 0 {
                u16::from(body[k])
            } else {
                u16::from_be_bytes([body[2 * k], body[2 * k + 1]])
            };
        }
        qt[tq] = Some(table);
        seg = &seg[1 + size..];
    }
    Ok(())
}

fn parse_dht(
    mut seg: &[u8],
    dc: &mut [Option<Huffman>; 4],
    ac: &mut [Option<Huffman>; 4],
) -> R<()> {
    while !seg.is_empty() {
        let (tc, th) = (seg[0] >> 4, usize::from(seg[0] & 15));
        if tc > 1 || th > 3 || seg.len() < 17 {
            return unsupported();
        }
        let mut counts = [0u8; 16];
        counts.copy_from_slice(&seg[1..17]);
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        if total > 256 {
            return unsupported();
        }
        let values = seg.get(17..17 + total).ok_or(Stop::Unsupported)?.to_vec();
        let table = Some(Huffman::new(&counts, values, tc == 0)?);
        if tc == 0 {
            dc[th] = table;
        } else {
            ac[th] = table;
        }
        seg = &seg[17 + total..];
    }
    Ok(())
}

fn parse_scan(seg: &[u8], f: &mut Frame) -> R<Scan> {
    let ns = usize::from(*seg.first().ok_or(Stop::Unsupported)?);
    if ns == 0 || ns > 4 || seg.len() < 4 + 2 * ns {
        return unsupported();
    }
    let mut scan = Scan {
        comps: Vec::new(),
        dc: Vec::new(),
        ac: Vec::new(),
        ss: usize::from(seg[1 + 2 * ns]),
        se: usize::from(seg[2 + 2 * ns]),
        ah: u32::from(seg[3 + 2 * ns] >> 4),
        al: u32::from(seg[3 + 2 * ns] & 15),
    };
    for i in 0..ns {
        let id = seg[1 + 2 * i];
        let ci = f
            .comps
            .iter()
            .position(|c| c.id == id)
            .ok_or(Stop::Unsupported)?;
        if scan.comps.contains(&ci) {
            return unsupported();
        }
        scan.comps.push(ci);
        scan.dc.push(usize::from(seg[2 + 2 * i] >> 4));
        scan.ac.push(usize::from(seg[2 + 2 * i] & 15));
    }
    if scan.dc.iter().chain(&scan.ac).any(|&t| t > 3) {
        return unsupported();
    }
    // Only the parameter combinations libjpeg accepts without a warning.
    if f.progressive {
        let bad = if scan.ss == 0 {
            scan.se != 0
        } else {
            scan.se < scan.ss || scan.se > 63 || ns != 1
        };
        if bad || scan.al > 13 || (scan.ah != 0 && scan.ah != scan.al + 1) {
            return unsupported();
        }
        for &ci in &scan.comps {
            let bits = &mut f.comps[ci].coef_bits;
            if scan.ss > 0 && bits[0] < 0 {
                return unsupported(); // AC before DC
            }
            for b in &mut bits[scan.ss..=scan.se] {
                if scan.ah as i32 != (*b).max(0) {
                    return unsupported();
                }
                *b = scan.al as i32;
            }
        }
    } else {
        if scan.ss != 0 || scan.se != 63 || scan.ah != 0 || scan.al != 0 {
            return unsupported();
        }
        for &ci in &scan.comps {
            f.comps[ci].coef_bits = [0; 64];
        }
    }
    let blocks: usize = scan
        .comps
        .iter()
        .map(|&ci| f.comps[ci].h * f.comps[ci].v)
        .sum();
    if ns > 1 && blocks > 10 {
        return unsupported();
    }
    Ok(scan)
}

#[allow(clippy::too_many_arguments)]
fn decode_scan(
    data: &[u8],
    pos: usize,
    f: &mut Frame,
    scan: &Scan,
    dc_tables: &[Option<Huffman>; 4],
    ac_tables: &[Option<Huffman>; 4],
    restart_interval: usize,
) -> R<usize> {
    let needs_dc = scan.ss == 0 && scan.ah == 0;
    let needs_ac = scan.se > 0 && (!f.progressive || scan.ah == 0 || scan.ss > 0);
    let mut dcs = Vec::new();
    let mut acs = Vec::new();
    for i in 0..scan.comps.len() {
        dcs.push(if needs_dc {
            Some(dc_tables[scan.dc[i]].as_ref().ok_or(Stop::Unsupported)?)
        } else {
            None
        });
        acs.push(if needs_ac {
            Some(ac_tables[scan.ac[i]].as_ref().ok_or(Stop::Unsupported)?)
        } else {
            None
        });
    }
    for &ci in &scan.comps {
        f.comps[ci].dc_pred = 0;
    }
    let mut bits = Bits::new(data, pos);
    let mut eobrun = 0u32;
    let mut next_rst = 0u8;

    // Block addresses of each MCU, in decoding order.
    let single = scan.comps.len() == 1;
    let (mcus_x, mcus_y) = if single {
        let c = &f.comps[scan.comps[0]];
        (c.dw.div_ceil(8), c.dh.div_ceil(8))
    } else {
        (f.mcux, f.mcuy)
    };
    let mut mcu_blocks: Vec<(usize, usize)> = Vec::with_capacity(10);
    for m in 0..mcus_x * mcus_y {
        if restart_interval > 0 && m > 0 && m % restart_interval == 0 {
            bits.restart(next_rst)?;
            next_rst = (next_rst + 1) & 7;
            eobrun = 0;
            for &ci in &scan.comps {
                f.comps[ci].dc_pred = 0;
            }
        }
        let (mx, my) = (m % mcus_x, m / mcus_x);
        mcu_blocks.clear();
        if single {
            let ci = scan.comps[0];
            mcu_blocks.push((0, my * f.comps[ci].bw + mx));
        } else {
            for (i, &ci) in scan.comps.iter().enumerate() {
                let c = &f.comps[ci];
                for by in 0..c.v {
                    for bx in 0..c.h {
                        mcu_blocks.push((i, (my * c.v + by) * c.bw + mx * c.h + bx));
                    }
                }
            }
        }
        for &(i, b) in &mcu_blocks {
            let c = &mut f.comps[scan.comps[i]];
            let (dc, ac) = (dcs[i], acs[i]);
            let mut pred = c.dc_pred;
            let block = &mut c.coefs[b];
            if !f.progressive {
                decode_sequential(
                    &mut bits,
                    block,
                    &mut pred,
                    dc.expect("dc"),
                    ac.expect("ac"),
                )?;
            } else if scan.ss == 0 {
                if scan.ah == 0 {
                    let s = u32::from(bits.decode(dc.expect("dc"))?);
                    pred = pred.wrapping_add(bits.receive_extend(s));
                    block[0] = (pred << scan.al) as i16;
                } else if bits.bit() {
                    block[0] |= 1 << scan.al;
                }
            } else if scan.ah == 0 {
                decode_ac_first(&mut bits, block, &mut eobrun, scan, ac.expect("ac"))?;
            } else {
                decode_ac_refine(&mut bits, block, &mut eobrun, scan, ac.expect("ac"))?;
            }
            c.dc_pred = pred;
        }
        bits.check()?;
    }
    bits.check()?;
    // Continue after the entropy-coded data: the next marker that is not a restart.
    let mut p = bits.pos;
    while p + 1 < data.len() && !is_marker(data, p, true) {
        p += 1;
    }
    Ok(if p + 1 < data.len() { p } else { data.len() })
}

fn decode_sequential(
    bits: &mut Bits,
    block: &mut [i16; 64],
    pred: &mut i32,
    dc: &Huffman,
    ac: &Huffman,
) -> R<()> {
    let s = u32::from(bits.decode(dc)?);
    *pred = pred.wrapping_add(bits.receive_extend(s));
    block[0] = *pred as i16;
    let mut k = 1;
    while k < 64 {
        let rs = bits.decode(ac)?;
        let (r, s) = (usize::from(rs >> 4), u32::from(rs & 15));
        if s != 0 {
            k += r;
            block[NATURAL[k]] = bits.receive_extend(s) as i16;
        } else if r == 15 {
            k += 15;
        } else {
            break;
        }
        k += 1;
    }
    Ok(())
}

fn decode_ac_first(
    bits: &mut Bits,
    block: &mut [i16; 64],
    eobrun: &mut u32,
    scan: &Scan,
    ac: &Huffman,
) -> R<()> {
    if *eobrun > 0 {
        *eobrun -= 1;
        return Ok(());
    }
    let mut k = scan.ss;
    while k <= scan.se {
        let rs = bits.decode(ac)?;
        let (r, s) = (usize::from(rs >> 4), u32::from(rs & 15));
        if s != 0 {
            k += r;
            let v = bits.receive_extend(s);
            block[NATURAL[k]] = (v << scan.al) as i16;
        } else if r == 15 {
            k += 15;
        } else {
            *eobrun = 1 << r;
            if r != 0 {
                *eobrun += bits.bits(r as u32);
            }
            *eobrun -= 1;
            break;
        }
        k += 1;
    }
    Ok(())
}

fn decode_ac_refine(
    bits: &mut Bits,
    block: &mut [i16; 64],
    eobrun: &mut u32,
    scan: &Scan,
    ac: &Huffman,
) -> R<()> {
    let p1: i32 = 1 << scan.al;
    let m1: i32 = -1 << scan.al;
    let refine = |bits: &mut Bits, coef: &mut i16| {
        if bits.bit() && (i32::from(*coef) & p1) == 0 {
            let c = i32::from(*coef);
            *coef = if c >= 0 { c + p1 } else { c + m1 } as i16;
        }
    };
    let mut k = scan.ss;
    if *eobrun == 0 {
        while k <= scan.se {
            let rs = bits.decode(ac)?;
            let mut r = i32::from(rs >> 4);
            let s = rs & 15;
            let mut value = 0i32;
            if s != 0 {
                if s != 1 {
                    return unsupported(); // libjpeg warns: bad refinement size
                }
                value = if bits.bit() { p1 } else { m1 };
            } else if r != 15 {
                *eobrun = 1 << r;
                if r != 0 {
                    *eobrun += bits.bits(r as u32);
                }
                break;
            }
            // Advance over already-nonzero coefficients (refining them) and `r` zero ones.
            loop {
                let coef = &mut block[NATURAL[k]];
                if *coef != 0 {
                    refine(bits, coef);
                } else {
                    if r == 0 {
                        break;
                    }
                    r -= 1;
                }
                k += 1;
                if k > scan.se {
                    break;
                }
            }
            if value != 0 {
                block[NATURAL[k]] = value as i16;
            }
            k += 1;
        }
    }
    if *eobrun > 0 {
        while k <= scan.se {
            let coef = &mut block[NATURAL[k]];
            if *coef != 0 {
                refine(bits, coef);
            }
            k += 1;
        }
        *eobrun -= 1;
    }
    Ok(())
}

/// Whether libjpeg-turbo would run its block-smoothing pass (`smoothing_ok`), which we do not
/// reproduce: some of the first ten coefficients of a component are still approximate.
fn would_smooth(f: &Frame, quant: &[[u16; 64]]) -> bool {
    // Natural indices of zigzag positions 0..=9, the quantisers libjpeg checks.
    const FIRST: [usize; 10] = [0, 1, 8, 16, 9, 2, 3, 10, 17, 24];
    let mut useful = false;
    for (c, q) in f.comps.iter().zip(quant) {
        if FIRST.iter().any(|&i| q[i] == 0) || c.coef_bits[0] < 0 {
            return false;
        }
        useful |= c.coef_bits[1..10].iter().any(|&b| b != 0);
    }
    useful
}

/// libjpeg's post-IDCT range-limit table, indexed by `x & 1023`: clamps to 0..=255 around the
/// centre and wraps far outside it (what corrupt data produces).
static RANGE_LIMIT: [u8; 1024] = {
    let mut t = [0u8; 1024];
    let mut i = 0;
    while i < 1024 {
        t[i] = match i {
            0..=127 => (i + 128) as u8,
            128..=511 => 255,
            512..=895 => 0,
            _ => (i - 896) as u8,
        };
        i += 1;
    }
    t
};

#[inline(always)]
fn range_limit(x: i32) -> u8 {
    RANGE_LIMIT[(x & 1023) as usize]
}

const CONST_BITS: u32 = 13;
const PASS1_BITS: u32 = 2;
const FIX_0_298631336: i32 = 2446;
const FIX_0_390180644: i32 = 3196;
const FIX_0_541196100: i32 = 4433;
const FIX_0_765366865: i32 = 6270;
const FIX_0_899976223: i32 = 7373;
const FIX_1_175875602: i32 = 9633;
const FIX_1_501321110: i32 = 12299;
const FIX_1_847759065: i32 = 15137;
const FIX_1_961570560: i32 = 16069;
const FIX_2_053119869: i32 = 16819;
const FIX_2_562915447: i32 = 20995;
const FIX_3_072711026: i32 = 25172;

type Lanes = [[i32; 8]; 8];

/// Eight independent 1-D passes of libjpeg's `jpeg_idct_islow` butterfly, one per lane
/// (`x[k][lane]` is frequency `k`), descaled by `shift` bits. Lane-wise code lets the compiler
/// vectorise; i32 wrapping arithmetic matches libjpeg-turbo's SIMD IDCT (and its C IDCT on
/// every input a real 8-bit JPEG can produce).
#[inline(always)]
fn islow_lanes(x: &Lanes, shift: u32) -> Lanes {
    let mut o = [[0i32; 8]; 8];
    let round = 1i32 << (shift - 1);
    for l in 0..8 {
        let (z2, z3) = (x[2][l], x[6][l]);
        let z1 = z2.wrapping_add(z3).wrapping_mul(FIX_0_541196100);
        let tmp2 = z1.wrapping_add(z3.wrapping_mul(-FIX_1_847759065));
        let tmp3 = z1.wrapping_add(z2.wrapping_mul(FIX_0_765366865));
        let tmp0 = x[0][l].wrapping_add(x[4][l]).wrapping_shl(CONST_BITS);
        let tmp1 = x[0][l].wrapping_sub(x[4][l]).wrapping_shl(CONST_BITS);
        let (tmp10, tmp13) = (tmp0.wrapping_add(tmp3), tmp0.wrapping_sub(tmp3));
        let (tmp11, tmp12) = (tmp1.wrapping_add(tmp2), tmp1.wrapping_sub(tmp2));

        let (t0, t1, t2, t3) = (x[7][l], x[5][l], x[3][l], x[1][l]);
        let z1 = t0.wrapping_add(t3);
        let z2 = t1.wrapping_add(t2);
        let z3 = t0.wrapping_add(t2);
        let z4 = t1.wrapping_add(t3);
        let z5 = z3.wrapping_add(z4).wrapping_mul(FIX_1_175875602);
        let t0 = t0.wrapping_mul(FIX_0_298631336);
        let t1 = t1.wrapping_mul(FIX_2_053119869);
        let t2 = t2.wrapping_mul(FIX_3_072711026);
        let t3 = t3.wrapping_mul(FIX_1_501321110);
        let z1 = z1.wrapping_mul(-FIX_0_899976223);
        let z2 = z2.wrapping_mul(-FIX_2_562915447);
        let z3 = z3.wrapping_mul(-FIX_1_961570560).wrapping_add(z5);
        let z4 = z4.wrapping_mul(-FIX_0_390180644).wrapping_add(z5);
        let t0 = t0.wrapping_add(z1).wrapping_add(z3);
        let t1 = t1.wrapping_add(z2).wrapping_add(z4);
        let t2 = t2.wrapping_add(z2).wrapping_add(z3);
        let t3 = t3.wrapping_add(z1).wrapping_add(z4);
        let out = [
            tmp10.wrapping_add(t3),
            tmp11.wrapping_add(t2),
            tmp12.wrapping_add(t1),
            tmp13.wrapping_add(t0),
            tmp13.wrapping_sub(t0),
            tmp12.wrapping_sub(t1),
            tmp11.wrapping_sub(t2),
            tmp10.wrapping_sub(t3),
        ];
        for (k, v) in out.into_iter().enumerate() {
            o[k][l] = v.wrapping_add(round) >> shift;
        }
    }
    o
}

#[inline(always)]
fn transpose(m: &Lanes) -> Lanes {
    std::array::from_fn(|i| std::array::from_fn(|j| m[j][i]))
}

/// libjpeg's accurate integer IDCT (`jpeg_idct_islow`) of one block into `out` (row stride
/// `stride`). Its all-zero-AC shortcuts give the same values as the full butterfly, so they
/// are omitted.
#[inline(always)]
fn idct_islow(coef: &[i16; 64], q: &[i32; 64], out: &mut [u8], stride: usize) {
    // Columns first: lanes are columns, k the vertical frequency.
    let x: Lanes =
        std::array::from_fn(|k| std::array::from_fn(|c| i32::from(coef[k * 8 + c]) * q[k * 8 + c]));
    let ws = islow_lanes(&x, CONST_BITS - PASS1_BITS);
    // Then rows: lanes are rows, k the horizontal frequency.
    let px = islow_lanes(&transpose(&ws), CONST_BITS + PASS1_BITS + 3);
    for (row, line) in out.chunks_mut(stride).take(8).enumerate() {
        for (col, o) in line[..8].iter_mut().enumerate() {
            *o = range_limit(px[col][row]);
        }
    }
}

/// The component's samples (padded to whole blocks), row stride `bw * 8`.
fn idct_plane(c: &Component, q: &[u16; 64]) -> Vec<u8> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the running CPU supports AVX2.
        return unsafe { idct_plane_avx2(c, q) };
    }
    idct_plane_impl(c, q)
}

/// [`idct_plane`] compiled with AVX2 (8-lane i32 multiplies), bit-identical results.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn idct_plane_avx2(c: &Component, q: &[u16; 64]) -> Vec<u8> {
    idct_plane_impl(c, q)
}

#[inline(always)]
fn idct_plane_impl(c: &Component, q: &[u16; 64]) -> Vec<u8> {
    // libjpeg-turbo (SIMD build) keeps quantisers as i16.
    let q: [i32; 64] = std::array::from_fn(|i| i32::from(q[i] as i16));
    let stride = c.bw * 8;
    let rows = c.dh.div_ceil(8).min(c.bh);
    let cols = c.dw.div_ceil(8).min(c.bw);
    let mut plane = vec![0u8; stride * c.bh * 8];
    for by in 0..rows {
        for bx in 0..cols {
            let off = by * 8 * stride + bx * 8;
            idct_islow(&c.coefs[by * c.bw + bx], &q, &mut plane[off..], stride);
        }
    }
    plane
}

/// libjpeg-turbo's upsampling of one component, one output row at a time: fancy (triangle
/// filter) for 2:1 ratios, box replication for other integer ratios and for components at most
/// 2 samples wide.
struct Upsampler<'a> {
    plane: &'a [u8],
    stride: usize,
    dw: usize,
    dh: usize,
    rh: usize,
    rv: usize,
    /// One upsampled row (`rh * dw` samples) before cropping to the image width.
    tmp: Vec<u8>,
    sums: Vec<i32>,
}

impl<'a> Upsampler<'a> {
    fn new(c: &Component, plane: &'a [u8], f: &Frame) -> R<Self> {
        if f.max_h % c.h != 0 || f.max_v % c.v != 0 {
            return unsupported();
        }
        let (rh, rv) = (f.max_h / c.h, f.max_v / c.v);
        Ok(Upsampler {
            plane,
            stride: c.bw * 8,
            dw: c.dw,
            dh: c.dh,
            rh,
            rv,
            tmp: vec![0; rh * c.dw],
            sums: vec![0; c.dw],
        })
    }

    fn row(&self, y: usize) -> &[u8] {
        &self.plane[y * self.stride..y * self.stride + self.dw]
    }

    /// Output row `y`, `w` samples.
    #[inline(always)]
    fn output_row(&mut self, y: usize, w: usize) -> &[u8] {
        let plane = self.plane;
        let (stride, dw) = (self.stride, self.dw);
        let row = |y: usize| &plane[y * stride..y * stride + dw];
        match (self.rh, self.rv) {
            (1, 1) => return &self.row(y)[..w],
            (2, 1) if dw > 2 => h2v1_fancy(row(y), &mut self.tmp),
            (1, 2) | (2, 2) if self.rh == 1 || dw > 2 => {
                let inrow = y / 2;
                // The row above the first and below the last are the edge rows themselves.
                let (far, bias) = if y % 2 == 0 {
                    (row(inrow.saturating_sub(1)), 1)
                } else {
                    (row((inrow + 1).min(self.dh - 1)), 2)
                };
                for ((s, &a), &b) in self.sums.iter_mut().zip(row(inrow)).zip(far) {
                    *s = 3 * i32::from(a) + i32::from(b);
                }
                if self.rh == 1 {
                    for (t, &s) in self.tmp.iter_mut().zip(&self.sums) {
                        *t = ((s + bias) >> 2) as u8;
                    }
                } else {
                    h2v2_fancy(&self.sums, &mut self.tmp);
                }
            }
            (rh, rv) => {
                for (t, &v) in self.tmp.chunks_exact_mut(rh).zip(row(y / rv)) {
                    t.fill(v);
                }
            }
        }
        &self.tmp[..w]
    }
}

#[inline(always)]
fn h2v1_fancy(r: &[u8], out: &mut [u8]) {
    let n = r.len();
    let v = |i: usize| i32::from(r[i]);
    out[0] = r[0];
    out[1] = ((v(0) * 3 + v(1) + 2) >> 2) as u8;
    for i in 1..n - 1 {
        out[2 * i] = ((v(i) * 3 + v(i - 1) + 1) >> 2) as u8;
        out[2 * i + 1] = ((v(i) * 3 + v(i + 1) + 2) >> 2) as u8;
    }
    out[2 * n - 2] = ((v(n - 1) * 3 + v(n - 2) + 1) >> 2) as u8;
    out[2 * n - 1] = r[n - 1];
}

#[inline(always)]
fn h2v2_fancy(s: &[i32], out: &mut [u8]) {
    let n = s.len();
    out[0] = ((s[0] * 4 + 8) >> 4) as u8;
    out[1] = ((s[0] * 3 + s[1] + 7) >> 4) as u8;
    for i in 1..n - 1 {
        out[2 * i] = ((s[i] * 3 + s[i - 1] + 8) >> 4) as u8;
        out[2 * i + 1] = ((s[i] * 3 + s[i + 1] + 7) >> 4) as u8;
    }
    out[2 * n - 2] = ((s[n - 1] * 3 + s[n - 2] + 8) >> 4) as u8;
    out[2 * n - 1] = ((s[n - 1] * 4 + 7) >> 4) as u8;
}

/// Upsamples the three components row by row and converts them to interleaved RGB.
fn to_rgb(ups: &mut [Upsampler], ycc: bool, w: usize, h: usize) -> Vec<u8> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the running CPU supports AVX2.
        return unsafe { to_rgb_avx2(ups, ycc, w, h) };
    }
    to_rgb_impl(ups, ycc, w, h)
}

/// [`to_rgb`] compiled with AVX2, bit-identical results.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn to_rgb_avx2(ups: &mut [Upsampler], ycc: bool, w: usize, h: usize) -> Vec<u8> {
    to_rgb_impl(ups, ycc, w, h)
}

#[inline(always)]
fn to_rgb_impl(ups: &mut [Upsampler], ycc: bool, w: usize, h: usize) -> Vec<u8> {
    let mut rgb = vec![0u8; w * h * 3];
    let mut rows = [vec![0u8; w], vec![0u8; w], vec![0u8; w]];
    for (y, out) in rgb.chunks_exact_mut(w * 3).enumerate() {
        for (u, r) in ups.iter_mut().zip(rows.iter_mut()) {
            r.copy_from_slice(u.output_row(y, w));
        }
        if ycc {
            ycc_to_rgb_row(&rows[0], &rows[1], &rows[2], out);
        } else {
            for (i, px) in out.chunks_exact_mut(3).enumerate() {
                px.copy_from_slice(&[rows[0][i], rows[1][i], rows[2][i]]);
            }
        }
    }
    rgb
}

/// libjpeg's `ycc_rgb_convert`. Its lookup tables (`build_ycc_rgb_table`, 16 fraction bits)
/// hold exactly these products, so computing them inline gives the same values and
/// vectorises.
#[inline(always)]
fn ycc_to_rgb_row(y: &[u8], cb: &[u8], cr: &[u8], out: &mut [u8]) {
    const ONE_HALF: i32 = 1 << 15;
    const CR_R: i32 = 91881; // FIX(1.40200)
    const CB_B: i32 = 116130; // FIX(1.77200)
    const CR_G: i32 = 46802; // FIX(0.71414)
    const CB_G: i32 = 22554; // FIX(0.34414)
    for (((px, &y), &cb), &cr) in out.chunks_exact_mut(3).zip(y).zip(cb).zip(cr) {
        let y = i32::from(y);
        let cb = i32::from(cb) - 128;
        let cr = i32::from(cr) - 128;
        let r = y + ((CR_R * cr + ONE_HALF) >> 16);
        let g = y + ((-CB_G * cb + ONE_HALF - CR_G * cr) >> 16);
        let b = y + ((CB_B * cb + ONE_HALF) >> 16);
        px[0] = r.clamp(0, 255) as u8;
        px[1] = g.clamp(0, 255) as u8;
        px[2] = b.clamp(0, 255) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_limit_clamps_near_and_wraps_far() {
        assert_eq!(range_limit(0), 128);
        assert_eq!(range_limit(-128), 0);
        assert_eq!(range_limit(127), 255);
        assert_eq!(range_limit(300), 255);
        assert_eq!(range_limit(-300), 0);
    }

    #[test]
    fn dc_only_block_is_flat() {
        let mut coef = [0i16; 64];
        coef[0] = 10;
        let q = [8i32; 64];
        let mut out = [0u8; 64];
        idct_islow(&coef, &q, &mut out, 8);
        // 10 * 8 / 8 = 10 above mid-grey.
        assert!(out.iter().all(|&v| v == 138));
    }

    #[test]
    fn not_a_jpeg_is_unsupported() {
        assert!(matches!(
            decode(b"hello", 100),
            Ok(Decoded::Unsupported(None))
        ));
        assert!(decode(&[0xFF, 0xD8, 0xFF], 100).is_err());
    }
}
