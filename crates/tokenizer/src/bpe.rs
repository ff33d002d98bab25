//! The byte-level BPE vocabulary and merge loop of CLIP's `SimpleTokenizer`.
//!
//! Symbols are handled as vocabulary ids rather than strings: a merge rule `(a, b)` becomes an
//! entry `(id(a), id(b)) -> (rank, id(a ++ b))`, so the merge loop never allocates strings and
//! produces the final ids directly.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Read;

/// The vocabulary file shipped with open_clip (and OpenAI's CLIP), MIT licence; see
/// `data/LICENSE-open_clip`.
static VOCAB_GZ: &[u8] = include_bytes!("../data/bpe_simple_vocab_16e6.txt.gz");

/// Number of merge lines open_clip uses: `merges[1 : 49152 - 256 - 2 + 1]`.
pub(crate) const NUM_MERGES: usize = 49152 - 256 - 2;

/// Number of byte-level base symbols (and again with the end-of-word marker).
const NUM_BYTES: usize = 256;

/// Marker appended to the last symbol of every word.
const END_OF_WORD: &str = "</w>";

/// A multiplicative hasher for the merge-pair keys and the word cache: SipHash would cost more
/// than a merge step. Worst-case inputs could only slow the cache down, never change results.
#[derive(Default, Clone, Copy)]
pub(crate) struct PairHasher(u64);

impl Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = (self.0 ^ hash_bytes(bytes)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_u64(&mut self, n: u64) {
        // Fold the high half in so both symbol ids reach the bucket bits.
        let x = (self.0 ^ n).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = x ^ (x >> 29);
    }
}

pub(crate) type PairMap = HashMap<u64, (u32, u32), BuildHasherDefault<PairHasher>>;

/// GPT-2/CLIP's `bytes_to_unicode` table: each byte gets a printable character, printable
/// Latin-1 bytes map to themselves and the rest to U+0100.. in byte order. Returned in
/// vocabulary order (the order of the first 256 ids).
fn byte_alphabet() -> [(u8, char); NUM_BYTES] {
    let printable = |b: u8| (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
    let mut out = [(0u8, '\0'); NUM_BYTES];
    let mut i = 0;
    for b in 0..=255u8 {
        if printable(b) {
            out[i] = (b, char::from(b));
            i += 1;
        }
    }
    let mut n = 0u32;
    for b in 0..=255u8 {
        if !printable(b) {
            // 256 + n is always a valid scalar value (< 0x200).
            out[i] = (b, char::from_u32(256 + n).unwrap_or('\u{fffd}'));
            i += 1;
            n += 1;
        }
    }
    out
}

/// Packs a symbol pair into a map key.
#[inline]
fn pair_key(a: u32, b: u32) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

/// The BPE tables: base symbols, merge ranks, and every id's byte string for decoding.
pub(crate) struct Bpe {
    /// Id of the plain (non word-final) symbol for each byte value.
    byte_id: [u32; NUM_BYTES],
    /// `(a, b)` -> `(rank, merged id)`.
    pairs: PairMap,
    /// Concatenated decoded bytes of every id (end-of-word marker kept as the ASCII `</w>`,
    /// exactly like open_clip's decoder, which replaces it only after UTF-8 decoding).
    bytes: Vec<u8>,
    /// `bytes[offsets[id]..offsets[id + 1]]` is the byte string of `id`.
    offsets: Vec<u32>,
}

impl Bpe {
    /// Builds the tables from the bundled vocabulary. Only the first `NUM_MERGES + 1` lines are
    /// decompressed; the remaining ~210k merges of the file are unused by CLIP.
    pub(crate) fn load() -> Bpe {
        let alphabet = byte_alphabet();
        let mut byte_id = [0u32; NUM_BYTES];
        // Every alphabet character is below U+0144, so a flat table maps it back to its byte.
        let mut char_to_byte = [None::<u8>; 0x144];
        for (i, &(b, c)) in alphabet.iter().enumerate() {
            byte_id[usize::from(b)] = i as u32;
            char_to_byte[c as usize] = Some(b);
        }

        let total = 2 * NUM_BYTES + NUM_MERGES + 2;
        let mut table = Bpe {
            byte_id,
            pairs: PairMap::with_capacity_and_hasher(NUM_MERGES, Default::default()),
            bytes: Vec::with_capacity(total * 8),
            offsets: Vec::with_capacity(total + 1),
        };
        table.offsets.push(0);
        // Names are looked up by their raw bytes (the alphabet is a bijection and `</w>` is
        // plain ASCII, so this is equivalent to open_clip's string keys).
        let mut names = NameIndex::with_capacity(total);
        for suffix in [false, true] {
            for &(b, _) in &alphabet {
                table.bytes.push(b);
                if suffix {
                    table.bytes.extend_from_slice(END_OF_WORD.as_bytes());
                }
                table.offsets.push(table.bytes.len() as u32);
                let id = (table.offsets.len() - 2) as u32;
                names.insert(&table, id);
            }
        }

        let text = read_merge_lines();
        // The bundled file has no duplicate merge pairs or merge results (checked by a test),
        // so every merge result gets the next id, as in open_clip's `encoder` dict.
        let mut raw = Vec::with_capacity(64);
        for (rank, line) in text.lines().skip(1).take(NUM_MERGES).enumerate() {
            let mut parts = line.split_whitespace();
            let (Some(a), Some(b)) = (parts.next(), parts.next()) else {
                continue;
            };
            let mut lookup = |name: &str| {
                raw.clear();
                for c in name.chars() {
                    raw.push(char_to_byte.get(c as usize).copied().flatten()?);
                }
                names.get(&table, &raw)
            };
            let (Some(ia), Some(ib)) = (lookup(a), lookup(b)) else {
                continue;
            };
            let id = (table.offsets.len() - 1) as u32;
            let (sa, ea) = table.span(ia);
            let (sb, eb) = table.span(ib);
            table.bytes.extend_from_within(sa..ea);
            table.bytes.extend_from_within(sb..eb);
            table.offsets.push(table.bytes.len() as u32);
            names.insert(&table, id);
            table.pairs.insert(pair_key(ia, ib), (rank as u32, id));
        }
        for name in ["<start_of_text>", "<end_of_text>"] {
            table.bytes.extend_from_slice(name.as_bytes());
            table.offsets.push(table.bytes.len() as u32);
        }
        table
    }

    /// Byte range of `id` in `bytes`.
    fn span(&self, id: u32) -> (usize, usize) {
        let i = id as usize;
        (self.offsets[i] as usize, self.offsets[i + 1] as usize)
    }

    /// Number of ids.
    pub(crate) fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The byte string of `id` (with a literal `</w>` for word-final symbols), or `None` for
    /// ids outside the vocabulary.
    pub(crate) fn id_bytes(&self, id: u32) -> Option<&[u8]> {
        let i = id as usize;
        if i + 1 >= self.offsets.len() {
            return None;
        }
        Some(&self.bytes[self.offsets[i] as usize..self.offsets[i + 1] as usize])
    }

    /// Runs the merge loop on one pre-tokenized word (raw UTF-8 bytes), appending its ids.
    ///
    /// Same order as open_clip: repeatedly pick the lowest-ranked adjacent pair and merge all
    /// of its non-overlapping occurrences left to right, until no adjacent pair has a rank.
    pub(crate) fn encode_word(&self, word: &[u8], out: &mut Vec<u32>, scratch: &mut Vec<u32>) {
        let Some((&last, init)) = word.split_last() else {
            return;
        };
        if init.is_empty() {
            out.push(self.byte_id[usize::from(last)] + NUM_BYTES as u32);
            return;
        }
        let syms = scratch;
        syms.clear();
        syms.extend(init.iter().map(|&b| self.byte_id[usize::from(b)]));
        syms.push(self.byte_id[usize::from(last)] + NUM_BYTES as u32);
        while syms.len() > 1 {
            let mut best: Option<(u32, u32, u32, u32)> = None; // (rank, a, b, merged)
            for w in syms.windows(2) {
                if let Some(&(rank, merged)) = self.pairs.get(&pair_key(w[0], w[1])) {
                    if best.is_none_or(|(r, ..)| rank < r) {
                        best = Some((rank, w[0], w[1], merged));
                    }
                }
            }
            let Some((_, a, b, merged)) = best else {
                break;
            };
            let n = syms.len();
            let (mut r, mut w) = (0, 0);
            while r < n {
                if r + 1 < n && syms[r] == a && syms[r + 1] == b {
                    syms[w] = merged;
                    r += 2;
                } else {
                    syms[w] = syms[r];
                    r += 1;
                }
                w += 1;
            }
            syms.truncate(w);
        }
        out.extend_from_slice(syms);
    }
}

/// Decompresses just enough of the vocabulary file for the header and the used merges.
fn read_merge_lines() -> String {
    let mut decoder = flate2::read::GzDecoder::new(VOCAB_GZ);
    let mut buf = Vec::with_capacity(600_000);
    let mut chunk = [0u8; 1 << 16];
    let mut newlines = 0;
    while newlines <= NUM_MERGES {
        match decoder.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                newlines += chunk[..n].iter().filter(|&&b| b == b'\n').count();
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// Symbol name (raw bytes) -> id, keyed by a 64-bit hash of the bytes with the stored bytes
/// compared on lookup, so no per-name allocation is needed while loading.
struct NameIndex {
    map: HashMap<u64, u32, BuildHasherDefault<PairHasher>>,
    /// Names whose hash collided with an earlier, different name (expected to stay empty).
    spill: HashMap<Vec<u8>, u32>,
}

impl NameIndex {
    fn with_capacity(n: usize) -> NameIndex {
        NameIndex {
            map: HashMap::with_capacity_and_hasher(n, Default::default()),
            spill: HashMap::new(),
        }
    }

    fn insert(&mut self, table: &Bpe, id: u32) {
        let (s, e) = table.span(id);
        let name = &table.bytes[s..e];
        let h = hash_bytes(name);
        match self.map.get(&h) {
            Some(&old) if table.id_bytes(old) != Some(name) => {
                self.spill.insert(name.to_vec(), id);
            }
            _ => {
                self.map.insert(h, id);
            }
        }
    }

    fn get(&self, table: &Bpe, name: &[u8]) -> Option<u32> {
        match self.map.get(&hash_bytes(name)) {
            Some(&id) if table.id_bytes(id) == Some(name) => Some(id),
            _ => self.spill.get(name).copied(),
        }
    }
}

/// 64-bit hash of a short byte string, eight bytes at a time.
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(w)).wrapping_mul(K);
    }
    h ^ (h >> 31)
}
