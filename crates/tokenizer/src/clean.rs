//! Text cleaning as open_clip's default `clean='lower'`:
//! `whitespace_clean(basic_clean(text)).lower()` where
//! `basic_clean = strip(html.unescape(html.unescape(ftfy.fix_text(text))))`.
//!
//! Every step follows the Python semantics that change token ids: Python's `str.isspace`
//! (not Unicode `White_Space`) for `strip`/`split`, Python's `html.unescape` (entities without
//! `;`, longest-prefix matching, numeric reference fix-ups) and the parts of `ftfy.fix_text` that
//! apply to text that is not mojibake. See [`fix_text`] for what of ftfy is not replicated.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::OnceLock;

use unicode_normalization::{is_nfc_quick, IsNormalized, UnicodeNormalization};

use crate::entities::HTML5_ENTITIES;

/// ftfy's `max_decode_length`: segments longer than this many code points are split.
const MAX_SEGMENT_CHARS: usize = 1_000_000;

/// The full cleaning pipeline of open_clip's `_clean_lower`.
pub(crate) fn clean_lower(text: &str) -> String {
    let fixed = fix_text(text);
    let once = html_unescape(&fixed);
    let twice = html_unescape(&once);
    // `strip()` then `" ".join(text.split())` then `strip()` == split on whitespace runs.
    let mut out = String::with_capacity(twice.len());
    for word in twice.split(is_py_space).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    if out.is_ascii() {
        out.make_ascii_lowercase();
        out
    } else {
        py_lower(&out)
    }
}

/// Python 3.11's `str.lower`. `str::to_lowercase` uses the same full mappings and final-sigma
/// rule, but newer Unicode data: capitals added after Unicode 14 stay unchanged in Python, so
/// the text is lower-cased in pieces around them (to Python they are unassigned, uncased and not
/// case-ignorable, so they also end any final-sigma context, as a piece boundary does).
fn py_lower(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(is_post_unicode14_capital) {
        out.push_str(&rest[..i].to_lowercase());
        let c = rest[i..].chars().next().unwrap_or(' ');
        out.push(c);
        rest = &rest[i + c.len_utf8()..];
    }
    out.push_str(&rest.to_lowercase());
    out
}

/// Upper-case letters that Rust lower-cases but Python 3.11 (Unicode 14) does not.
fn is_post_unicode14_capital(c: char) -> bool {
    matches!(
        c,
        '\u{1c89}'
            | '\u{a7cb}'
            | '\u{a7cc}'
            | '\u{a7ce}'
            | '\u{a7d2}'
            | '\u{a7d4}'
            | '\u{a7da}'
            | '\u{a7dc}'
            | '\u{10d50}'..='\u{10d65}'
            | '\u{16ea0}'..='\u{16eb8}'
    )
}

/// Python's `str.isspace`: bidi class WS/B/S or category Zs. Unlike Unicode `White_Space` it
/// includes U+001C..U+001F.
#[inline]
pub(crate) fn is_py_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n'
            | '\u{0b}'
            | '\u{0c}'
            | '\r'
            | '\u{1c}'..='\u{1f}'
            | ' '
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

// ---------------------------------------------------------------------------------------------
// Python `html.unescape`
// ---------------------------------------------------------------------------------------------

/// Looks up an HTML5 entity name (with or without the trailing `;`).
fn html5_lookup(name: &str) -> Option<&'static str> {
    HTML5_ENTITIES
        .binary_search_by(|(k, _)| (*k).cmp(name))
        .ok()
        .map(|i| HTML5_ENTITIES[i].1)
}

/// Windows-1252 meaning of bytes 0x80..=0x9F (undefined ones map to the C1 control itself),
/// used both by `html.unescape`'s numeric-reference fix-ups and by ftfy's `fix_c1_controls`.
const CP1252_C1: [char; 32] = [
    '\u{20ac}', '\u{81}', '\u{201a}', '\u{192}', '\u{201e}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{2c6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8d}', '\u{17d}', '\u{8f}',
    '\u{90}', '\u{2018}', '\u{2019}', '\u{201c}', '\u{201d}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{2dc}', '\u{2122}', '\u{161}', '\u{203a}', '\u{153}', '\u{9d}', '\u{17e}', '\u{178}',
];

/// Resolves a numeric character reference the way Python's `html._replace_charref` does.
fn numeric_charref(num: u64, out: &mut String) {
    match num {
        0x00 => out.push('\u{fffd}'),
        0x0d => out.push('\r'),
        0x80..=0x9f => out.push(CP1252_C1[(num - 0x80) as usize]),
        0xd800..=0xdfff => out.push('\u{fffd}'),
        n if n > 0x10ffff => out.push('\u{fffd}'),
        // Python's `_invalid_codepoints`: dropped.
        0x01..=0x08 | 0x0b | 0x0e..=0x1f | 0x7f | 0xfdd0..=0xfdef => {}
        n if n & 0xfffe == 0xfffe => {}
        n => {
            if let Some(c) = char::from_u32(n as u32) {
                out.push(c);
            }
        }
    }
}

/// Python's `html.unescape` (3.11): every match of
/// `&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)` is replaced.
pub(crate) fn html_unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let consumed = unescape_one(after, &mut out);
        match consumed {
            Some(n) => rest = &after[n..],
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Tries to decode one reference right after an `&`. On success appends the replacement and
/// returns how many bytes of `after` were consumed.
fn unescape_one(after: &str, out: &mut String) -> Option<usize> {
    let b = after.as_bytes();
    if b.first() == Some(&b'#') {
        let (digits, radix, start) = if matches!(b.get(1), Some(b'x' | b'X')) {
            let n = b[2..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
            (n, 16u64, 2)
        } else {
            let n = b[1..].iter().take_while(|c| c.is_ascii_digit()).count();
            (n, 10u64, 1)
        };
        if digits == 0 {
            return None;
        }
        // Saturate: anything above 0x10FFFF behaves the same.
        let mut num: u64 = 0;
        for &d in &b[start..start + digits] {
            let v = u64::from((d as char).to_digit(16).unwrap_or(0));
            num = num.saturating_mul(radix).saturating_add(v).min(1 << 40);
        }
        numeric_charref(num, out);
        let mut end = start + digits;
        if b.get(end) == Some(&b';') {
            end += 1;
        }
        return Some(end);
    }
    // Named: up to 32 characters other than \t \n \f space < & # ;, then an optional `;`.
    let mut end = 0;
    for (count, (i, c)) in after.char_indices().enumerate() {
        if count == 32 || matches!(c, '\t' | '\n' | '\u{0c}' | ' ' | '<' | '&' | '#' | ';') {
            break;
        }
        end = i + c.len_utf8();
    }
    if end == 0 {
        return None;
    }
    if b.get(end) == Some(&b';') {
        end += 1;
    }
    let name = &after[..end];
    if let Some(v) = html5_lookup(name) {
        out.push_str(v);
        return Some(end);
    }
    // Longest prefix (at least 2 characters, shorter than the whole) that is an entity.
    let bounds: Vec<usize> = name.char_indices().map(|(i, _)| i).skip(2).collect();
    for &cut in bounds.iter().rev() {
        if let Some(v) = html5_lookup(&name[..cut]) {
            out.push_str(v);
            out.push_str(&name[cut..]);
            return Some(end);
        }
    }
    out.push('&');
    out.push_str(name);
    Some(end)
}

// ---------------------------------------------------------------------------------------------
// ftfy.fix_text (the parts that apply to text that is not mojibake)
// ---------------------------------------------------------------------------------------------

/// `ftfy.fix_text` with its default configuration, minus encoding repair.
///
/// Replicated, in ftfy's order and repeated until nothing changes: HTML entity decoding of
/// `&name;`/`&#n;` forms (including ftfy's all-caps names such as `&EACUTE;`; skipped for
/// segments containing `<`, and — as in ftfy — for every later segment too), C1 controls read
/// as Windows-1252, Latin ligatures, full/half-width forms, curly quotes, line breaks, ANSI
/// terminal escapes, control characters, NFC. Text is processed in line segments, as ftfy does.
///
/// Not replicated: `fix_encoding` (mojibake detection and re-decoding such as `Ã©` -> `é`,
/// `restore_byte_a0`, `replace_lossy_sequences`, `decode_inconsistent_utf8`), which relies on
/// ftfy's heuristic "badness" tables; text that ftfy considers mojibake tokenizes differently.
/// `fix_surrogates` has no counterpart because a Rust `str` cannot hold surrogates.
pub(crate) fn fix_text(text: &str) -> Cow<'_, str> {
    if is_plain(text) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut unescape = true;
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = rest.find('\n').map_or(rest.len(), |i| i + 1);
        if let Some((i, _)) = rest[..cut].char_indices().nth(MAX_SEGMENT_CHARS) {
            cut = i;
        }
        let segment = &rest[..cut];
        if unescape && segment.contains('<') {
            unescape = false;
        }
        out.push_str(&fix_segment(segment, unescape));
        rest = &rest[cut..];
    }
    Cow::Owned(out)
}

/// True when no ftfy fixer can change `text`: printable ASCII plus tab/newline/form feed,
/// without `&` or `\r`.
fn is_plain(text: &str) -> bool {
    text.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'&' || b == b'\t' || b == b'\n' || b == 0x0c)
}

/// One segment through ftfy's fixer loop.
fn fix_segment(segment: &str, unescape: bool) -> String {
    let mut text = segment.to_owned();
    loop {
        let mut next = if unescape {
            ftfy_unescape(&text).into_owned()
        } else {
            text.clone()
        };
        next = fix_chars(&next);
        next = remove_terminal_escapes(&next).into_owned();
        next = remove_control_chars(&next);
        if is_nfc_quick(next.chars()) != IsNormalized::Yes {
            next = next.nfc().collect();
        }
        if next == text {
            return next;
        }
        text = next;
    }
}

/// `fix_c1_controls`, `fix_latin_ligatures`, `fix_character_width`, `uncurl_quotes` and
/// `fix_line_breaks`, applied one after another (each over the whole text, as ftfy does).
fn fix_chars(text: &str) -> String {
    let c1: String = text
        .chars()
        .map(|c| match c {
            '\u{80}'..='\u{9f}' => CP1252_C1[c as usize - 0x80],
            c => c,
        })
        .collect();
    let mut lig = String::with_capacity(c1.len());
    for c in c1.chars() {
        match ligature(c) {
            Some(s) => lig.push_str(s),
            None => lig.push(c),
        }
    }
    let mut width = String::with_capacity(lig.len());
    for c in lig.chars() {
        match c {
            '\u{3000}' => width.push(' '),
            '\u{ff01}'..='\u{ffef}' => width.extend(std::iter::once(c).nfkc()),
            c => width.push(c),
        }
    }
    let quotes: String = width
        .chars()
        .map(|c| match c {
            '\u{2bc}' | '\u{2018}'..='\u{201b}' => '\'',
            '\u{201c}'..='\u{201f}' => '"',
            c => c,
        })
        .collect();
    quotes
        .replace("\r\n", "\n")
        .replace(['\r', '\u{2028}', '\u{2029}', '\u{85}'], "\n")
}

/// ftfy's `fix_latin_ligatures` table: Latin typographic ligatures and legacy digraphs.
fn ligature(c: char) -> Option<&'static str> {
    Some(match c {
        'Ĳ' => "IJ",
        'ĳ' => "ij",
        'ŉ' => "ʼn",
        'Ǳ' => "DZ",
        'ǲ' => "Dz",
        'ǳ' => "dz",
        'Ǆ' => "DŽ",
        'ǅ' => "Dž",
        'ǆ' => "dž",
        'Ǉ' => "LJ",
        'ǈ' => "Lj",
        'ǉ' => "lj",
        'Ǌ' => "NJ",
        'ǋ' => "Nj",
        'ǌ' => "nj",
        'ﬀ' => "ff",
        'ﬁ' => "fi",
        'ﬂ' => "fl",
        'ﬃ' => "ffi",
        'ﬄ' => "ffl",
        'ﬅ' => "ſt",
        'ﬆ' => "st",
        _ => return None,
    })
}

/// ftfy's `remove_terminal_escapes`: `ESC [ (digits|;)* letter`, digits being any Unicode
/// decimal digit as in Python's `\d`.
fn remove_terminal_escapes(text: &str) -> Cow<'_, str> {
    if !text.contains('\u{1b}') {
        return Cow::Borrowed(text);
    }
    static ANSI: OnceLock<regex::Regex> = OnceLock::new();
    let re = ANSI.get_or_init(|| {
        regex::Regex::new(r"\x1b\[[\d;]*[a-zA-Z]").expect("static pattern compiles")
    });
    re.replace_all(text, "")
}

/// ftfy's `remove_control_chars`: C0 controls other than \t \n \f \r, DEL, deprecated Arabic
/// format controls, the BOM, interlinear annotation marks and U+FFFC.
fn remove_control_chars(text: &str) -> String {
    text.chars()
        .filter(|&c| {
            !matches!(c,
                '\u{00}'..='\u{08}'
                | '\u{0b}'
                | '\u{0e}'..='\u{1f}'
                | '\u{7f}'
                | '\u{206a}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffc}')
        })
        .collect()
}

/// ftfy's `unescape_html`: only `&#?[0-9A-Za-z]{1,24};` forms, named ones from the HTML5 list
/// (with `;`) or their all-caps spelling when that is unambiguous, numeric ones only when
/// Python's decoding of them yields no `;`.
fn ftfy_unescape(text: &str) -> Cow<'_, str> {
    if !text.contains('&') {
        return Cow::Borrowed(text);
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'&' {
            i += 1;
            continue;
        }
        // `&#?` then 1..=24 ASCII alphanumerics then `;` (the `#` may also be backtracked,
        // but an alphanumeric run can never start with `#`).
        let start = if b.get(i + 1) == Some(&b'#') {
            i + 2
        } else {
            i + 1
        };
        let run = b[start..]
            .iter()
            .take(25)
            .take_while(|c| c.is_ascii_alphanumeric())
            .count();
        if run == 0 || run > 24 || b.get(start + run) != Some(&b';') {
            i += 1;
            continue;
        }
        let end = start + run + 1;
        let entity = &text[i..end];
        let replacement: Option<Cow<'_, str>> = if let Some(v) = ftfy_named(entity) {
            Some(Cow::Borrowed(v))
        } else if entity.starts_with("&#") {
            let decoded = html_unescape(entity);
            if decoded.contains(';') {
                None
            } else {
                Some(Cow::Owned(decoded.into_owned()))
            }
        } else {
            None
        };
        if let Some(r) = replacement {
            out.push_str(&text[copied..i]);
            out.push_str(&r);
            copied = end;
        }
        i = end;
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// ftfy's `HTML_ENTITIES`: `&name;` for every HTML5 name with `;`, plus `&NAME;` (upper-cased,
/// value upper-cased) for lower-case names whose upper-case form Python would not decode.
fn ftfy_named(entity: &str) -> Option<&'static str> {
    let name = &entity[1..];
    if let Some(v) = html5_lookup(name) {
        return Some(v);
    }
    static UPPER: OnceLock<HashMap<String, String>> = OnceLock::new();
    let upper = UPPER.get_or_init(|| {
        let mut map = HashMap::new();
        for &(name, value) in HTML5_ENTITIES {
            if !name.ends_with(';') || name.bytes().any(|c| c.is_ascii_uppercase()) {
                continue;
            }
            let entity_upper = format!("&{}", name.to_ascii_uppercase());
            if html_unescape(&entity_upper) == entity_upper {
                map.insert(entity_upper, value.to_uppercase());
            }
        }
        map
    });
    upper.get(entity).map(String::as_str)
}
