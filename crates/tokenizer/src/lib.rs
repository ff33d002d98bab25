//! CLIP's byte-level BPE tokenizer, producing the same ids as open_clip's `SimpleTokenizer`
//! (`open_clip.tokenize`, open_clip_torch 3.3.0) with its default `clean='lower'`.
//!
//! Pipeline: clean (ftfy subset, `html.unescape` twice, whitespace collapse, lower-case), split
//! with CLIP's pre-tokenizer pattern, map bytes to the 256-symbol byte alphabet, apply BPE merges
//! by rank, then wrap in `<start_of_text>` / `<end_of_text>` and pad with zeros.
//!
//! The vocabulary (`bpe_simple_vocab_16e6.txt.gz`, MIT, from open_clip) is embedded, so
//! construction needs no files or network. Differences from Python that remain are listed on
//! [`Tokenizer`].

mod bpe;
mod clean;
mod entities;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

use rayon::prelude::*;

use crate::bpe::{Bpe, PairHasher};

/// Id of `<start_of_text>`.
pub const SOT: u32 = 49406;
/// Id of `<end_of_text>`.
pub const EOT: u32 = 49407;
/// Context length of every released CLIP text encoder.
pub const CONTEXT_LENGTH: usize = 77;
/// 256 byte symbols + 256 word-final byte symbols + 48,894 merges + 2 special tokens.
pub const VOCAB_SIZE: usize = 49408;

/// Letters (`\p{L}`) new in Unicode 17 (a macro so that `concat!` can splice it).
macro_rules! unicode17_letters {
    () => {
        concat!(
            r"\x{558}\x{58b}-\x{58c}\x{88f}\x{c5c}\x{cdc}\x{208f}\x{209d}-\x{209f}",
            r"\x{a7ce}-\x{a7cf}\x{a7d2}\x{a7d4}\x{a7dd}\x{a7e2}\x{a7f1}\x{ab6c}-\x{ab6d}",
            r"\x{107bb}-\x{107bf}\x{10940}-\x{10959}\x{10ec5}-\x{10ec7}\x{10ed9}-\x{10eee}",
            r"\x{11b0a}\x{11db0}-\x{11ddb}\x{11df1}\x{16ea0}-\x{16eb8}\x{16ebb}-\x{16ed3}",
            r"\x{16ff2}-\x{16ff3}\x{187f8}-\x{187ff}\x{18cd6}-\x{18cda}\x{18d09}-\x{18d20}",
            r"\x{18d80}-\x{18df2}\x{18e00}-\x{19191}\x{191a0}-\x{191d2}\x{1b123}-\x{1b128}",
            r"\x{1b168}\x{1d6a6}\x{1df1f}-\x{1df24}\x{1df2b}-\x{1df81}\x{1df90}-\x{1df96}",
            r"\x{1dfcd}-\x{1dfff}\x{1e6c0}-\x{1e6de}\x{1e6e0}-\x{1e6e2}\x{1e6e4}-\x{1e6e5}",
            r"\x{1e6e7}-\x{1e6ed}\x{1e6f0}-\x{1e6f4}\x{1e6fe}-\x{1e6ff}\x{2b73a}-\x{2b73f}",
            r"\x{2b81e}\x{2cea2}-\x{2cead}\x{323b0}-\x{33479}\x{3d000}-\x{3fc3f}"
        )
    };
}

/// Numbers (`\p{N}`) new in Unicode 17.
macro_rules! unicode17_numbers {
    () => {
        r"\x{11de0}-\x{11de9}\x{1246f}\x{12475}-\x{1247f}\x{12550}-\x{12686}\x{16ff4}-\x{16ff6}"
    };
}

/// Pre-tokenizer: open_clip's
/// `<start_of_text>|<end_of_text>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`
/// compiled with Python `regex`'s IGNORECASE, rewritten without a case-insensitive flag so the
/// character classes match exactly what Python's do on already lower-cased text (checked for
/// every code point):
/// * IGNORECASE only adds `ſ` (U+017F, which folds to `s`) to the literal `s`, and makes U+0345
///   (combining ypogegrammeni, which folds to a letter) match none of the three classes;
/// * Python `regex` (2026.x) uses Unicode 17, one version ahead of the `regex` crate, so the
///   letters and numbers added in Unicode 17 are listed explicitly.
const PATTERN: &str = concat!(
    r"<[sſ]tart_of_text>|<end_of_text>|'[sſ]|'t|'re|'ve|'m|'ll|'d",
    r"|[\p{L}",
    unicode17_letters!(),
    r"]+|[\p{N}",
    unicode17_numbers!(),
    r"]|[^\s\p{L}\p{N}\x{345}",
    unicode17_letters!(),
    unicode17_numbers!(),
    r"]+"
);

/// Words whose BPE result is kept; beyond this many per shard the shard is cleared, bounding
/// memory on unbounded streams of novel words (open_clip's cache grows without limit).
const CACHE_SHARD_LIMIT: usize = 1 << 16;
const CACHE_SHARDS: usize = 16;

type WordCache = HashMap<Box<str>, Box<[u32]>, BuildHasherDefault<PairHasher>>;

/// Shared, immutable state plus the word cache.
struct Inner {
    bpe: Bpe,
    pattern: regex::Regex,
    cache: [Mutex<WordCache>; CACHE_SHARDS],
}

/// CLIP BPE tokenizer. Cheap to clone (shares one vocabulary and word cache) and `Sync`, so a
/// single instance can serve many threads.
///
/// Not replicated from Python (all only affect unusual input):
/// * ftfy's mojibake repair (`fix_encoding`, e.g. `Ã©` → `é`); the other ftfy fixes are done.
/// * Unicode-version differences: Rust's tables (case mapping, NFC, `\p{L}`/`\p{N}`) follow
///   newer Unicode than Python 3.11's 14.0, so characters assigned after 14.0 may clean or
///   split differently.
/// * Where Python raises (`&#` followed by more than 4300 decimal digits, ids outside the
///   vocabulary in `decode`, context length 0) this never panics: the huge reference decodes
///   as U+FFFD, unknown ids are skipped, and a zero context yields an empty row.
#[derive(Clone)]
pub struct Tokenizer {
    inner: Arc<Inner>,
}

impl Default for Tokenizer {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("vocab_size", &self.inner.bpe.len())
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Returns the tokenizer for the bundled vocabulary. The tables are built once per process
    /// (about 20 ms: partial gunzip and 48,894 merges) and shared by every instance, so later
    /// calls are an `Arc` clone.
    pub fn new() -> Tokenizer {
        static SHARED: OnceLock<Arc<Inner>> = OnceLock::new();
        let inner = SHARED.get_or_init(|| {
            Arc::new(Inner {
                bpe: Bpe::load(),
                pattern: regex::Regex::new(PATTERN).expect("static pattern compiles"),
                cache: std::array::from_fn(|_| Mutex::new(WordCache::default())),
            })
        });
        Tokenizer {
            inner: Arc::clone(inner),
        }
    }

    /// Number of ids in the vocabulary (always [`VOCAB_SIZE`]).
    pub fn vocab_size(&self) -> usize {
        self.inner.bpe.len()
    }

    /// Token ids of `text` after cleaning, without `<start_of_text>`/`<end_of_text>`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len() / 3 + 4);
        self.encode_into(text, &mut out);
        out
    }

    /// Appends the ids of `text` to `out`.
    fn encode_into(&self, text: &str, out: &mut Vec<u32>) {
        let cleaned = clean::clean_lower(text);
        let mut scratch = Vec::new();
        for m in self.inner.pattern.find_iter(&cleaned) {
            self.encode_word(m.as_str(), out, &mut scratch);
        }
    }

    /// BPE for one pre-tokenized word, through the cache for multi-byte words.
    fn encode_word(&self, word: &str, out: &mut Vec<u32>, scratch: &mut Vec<u32>) {
        match word {
            // open_clip seeds its cache with the special tokens, so typed markers map to them.
            "<start_of_text>" => return out.push(SOT),
            "<end_of_text>" => return out.push(EOT),
            _ => {}
        }
        let bpe = &self.inner.bpe;
        if word.len() == 1 {
            return bpe.encode_word(word.as_bytes(), out, scratch);
        }
        let mut h = PairHasher::default();
        word.hash(&mut h);
        let shard = &self.inner.cache[(h.finish() >> 59) as usize % CACHE_SHARDS];
        {
            let cache = shard.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(ids) = cache.get(word) {
                out.extend_from_slice(ids);
                return;
            }
        }
        let start = out.len();
        bpe.encode_word(word.as_bytes(), out, scratch);
        let mut cache = shard.lock().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_SHARD_LIMIT {
            cache.clear();
        }
        cache.insert(word.into(), out[start..].into());
    }

    /// `[SOT] + encode(text) + [EOT]`, truncated to `context_length` with the last id forced
    /// to EOT (as open_clip does), then zero-padded to exactly `context_length` ids.
    pub fn tokenize(&self, text: &str, context_length: usize) -> Vec<u32> {
        let mut ids = Vec::with_capacity(context_length.max(16));
        ids.push(SOT);
        self.encode_into(text, &mut ids);
        ids.push(EOT);
        if ids.len() > context_length {
            ids.truncate(context_length);
            if let Some(last) = ids.last_mut() {
                *last = EOT;
            }
        }
        ids.resize(context_length, 0);
        ids
    }

    /// [`Tokenizer::tokenize`] for many texts, in parallel on rayon's pool.
    pub fn tokenize_batch(&self, texts: &[&str], context_length: usize) -> Vec<Vec<u32>> {
        texts
            .par_iter()
            .with_min_len(64)
            .map(|t| self.tokenize(t, context_length))
            .collect()
    }

    /// Text of `ids` as open_clip's `decode`: the ids' byte strings are joined, decoded as
    /// UTF-8 with replacement characters, and every `</w>` becomes a space (so the result
    /// usually ends with a space). Special ids decode to their names; padding id 0 is `!`.
    /// Ids outside the vocabulary are skipped.
    pub fn decode(&self, ids: &[u32]) -> String {
        let bpe = &self.inner.bpe;
        let mut bytes = Vec::with_capacity(ids.len() * 4);
        for &id in ids {
            if let Some(b) = bpe.id_bytes(id) {
                bytes.extend_from_slice(b);
            }
        }
        String::from_utf8_lossy(&bytes).replace("</w>", " ")
    }

    /// The `n` most common lower-case English-looking words (letters only, at least 3 of them) that are one token
    /// each, in the order BPE learned them. Merge order follows pair frequency in CLIP's training text, so the
    /// earliest whole-word tokens are that text's most frequent words — a bundled, MIT-licensed word list.
    pub fn common_words(&self, n: usize) -> Vec<String> {
        // Ids 0..512 are the bytes (with and without `</w>`); merges follow in rank order; the last two are
        // <start_of_text> and <end_of_text>.
        let merged = 2 * 256..self.vocab_size() as u32 - 2;
        merged
            .filter_map(|id| {
                let s = self.decode(&[id]);
                let w = s.strip_suffix(' ')?;
                (w.len() >= 3 && w.bytes().all(|b| b.is_ascii_lowercase())).then(|| w.to_string())
            })
            .take(n)
            .collect()
    }
}

#[cfg(test)]
mod tests;
