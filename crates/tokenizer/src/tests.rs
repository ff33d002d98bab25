//! Unit tests; expected ids come from open_clip 3.3.0's `SimpleTokenizer.encode`.

use super::*;

fn tok() -> Tokenizer {
    Tokenizer::new()
}

#[test]
fn vocab_layout() {
    let t = tok();
    assert_eq!(t.vocab_size(), VOCAB_SIZE);
    assert_eq!(t.decode(&[SOT]), "<start_of_text>");
    assert_eq!(t.decode(&[EOT]), "<end_of_text>");
    // Byte alphabet: '!' is id 0, its word-final form 256; byte 0x00 is the first remapped one.
    assert_eq!(t.decode(&[0]), "!");
    assert_eq!(t.decode(&[256]), "! ");
    assert_eq!(t.decode(&[188]), "\0");
    // Every id has a distinct name, so merge results take consecutive ids (as in open_clip,
    // whose `encoder` dict would otherwise let a later duplicate win).
    let names: std::collections::HashSet<&[u8]> = (0..VOCAB_SIZE as u32)
        .filter_map(|id| t.inner.bpe.id_bytes(id))
        .collect();
    assert_eq!(names.len(), VOCAB_SIZE);
    assert_eq!(t.inner.bpe.id_bytes(VOCAB_SIZE as u32), None);
}

#[test]
fn known_ids() {
    let t = tok();
    let cases: &[(&str, &[u32])] = &[
        ("a photo of a cat.", &[320, 1125, 539, 320, 2368, 269]),
        ("A Photo Of A CAT!!", &[320, 1125, 539, 320, 2368, 748]),
        ("hello world", &[3306, 1002]),
        (
            "it's a dog's life, isn't it? we'll see; they'd've",
            &[
                585, 568, 320, 1929, 568, 970, 267, 2923, 713, 585, 286, 649, 1342, 862, 282, 889,
                1896, 1200,
            ],
        ),
        (
            "café naïve résumé",
            &[15304, 1097, 35689, 563, 29106, 7054, 4166],
        ),
        (
            "日本語のテキスト",
            &[
                39121, 44353, 34002, 252, 21575, 2429, 228, 47121, 32421, 486,
            ],
        ),
        ("🐶🐱 emoji 👍🏽", &[14466, 22979, 16327, 43722]),
        (
            "&amp;amp; &lt;b&gt; &#39;quoted&#x27; &copy 2024 &notit; &nbsp;x",
            &[
                261, 283, 321, 285, 262, 27706, 262, 5811, 273, 271, 273, 275, 126, 361, 585, 282,
                343,
            ],
        ),
        ("  lots   of\t\nwhitespace  ", &[2958, 539, 4699, 2138]),
        (
            "ﬁne ＬＯＵＤ “curly” ‘quotes’",
            &[3797, 7464, 257, 20795, 257, 262, 5808, 262],
        ),
        (
            "numbers 12345 and 3.14",
            &[6121, 272, 273, 274, 275, 276, 537, 274, 269, 272, 275],
        ),
        ("<start_of_text>", &[SOT]),
        ("x<end_of_text>y", &[343, EOT, 344]),
        (
            "ΟΔΟΣ Σ",
            &[138, 123, 138, 112, 138, 123, 139, 480, 139, 481],
        ),
        ("İstanbul", &[328, 16384, 11231]),
        ("straße", &[1894, 127, 253, 324]),
    ];
    for (text, ids) in cases {
        assert_eq!(t.encode(text), *ids, "{text:?}");
    }
}

#[test]
fn empty_string() {
    let ids = tok().tokenize("", CONTEXT_LENGTH);
    assert_eq!(ids.len(), CONTEXT_LENGTH);
    assert_eq!(&ids[..2], &[SOT, EOT]);
    assert!(ids[2..].iter().all(|&i| i == 0));
    // Only whitespace/control characters clean to nothing too.
    assert_eq!(
        tok().tokenize(" \t\n\u{3000}\u{7}", 4),
        vec![SOT, EOT, 0, 0]
    );
}

#[test]
fn truncation_forces_eot_last() {
    let t = tok();
    let long = "cat ".repeat(200);
    let ids = t.tokenize(&long, CONTEXT_LENGTH);
    assert_eq!(ids.len(), CONTEXT_LENGTH);
    assert_eq!(ids[0], SOT);
    assert_eq!(ids[CONTEXT_LENGTH - 1], EOT);
    assert!(ids[1..CONTEXT_LENGTH - 1].iter().all(|&i| i == 2368));
    // Exactly filling the context keeps the natural EOT; one more token truncates.
    let fits = "cat ".repeat(75);
    assert_eq!(
        t.tokenize(&fits, CONTEXT_LENGTH),
        t.tokenize(&long, CONTEXT_LENGTH)
    );
    assert_eq!(t.tokenize("cat cat", 3), vec![SOT, 2368, EOT]);
    assert_eq!(t.tokenize("cat", 1), vec![EOT]);
    assert!(t.tokenize("cat", 0).is_empty());
}

#[test]
fn decode_round_trip() {
    let t = tok();
    for text in [
        "a photo of a cat",
        "the quick brown fox jumps over the lazy dog",
        "a diagram",
    ] {
        let ids = t.encode(text);
        assert_eq!(t.decode(&ids), format!("{text} "));
    }
    // Out-of-vocabulary ids are skipped rather than panicking.
    assert_eq!(t.decode(&[u32::MAX, 2368]), "cat ");
}

#[test]
fn batch_matches_single() {
    let t = tok();
    let texts: Vec<String> = (0..300).map(|i| format!("a photo of {i} dogs")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batch = t.tokenize_batch(&refs, CONTEXT_LENGTH);
    for (text, ids) in refs.iter().zip(&batch) {
        assert_eq!(*ids, t.tokenize(text, CONTEXT_LENGTH));
    }
}

#[test]
fn python_html_unescape() {
    use crate::clean::html_unescape;
    let cases = [
        ("&amp;", "&"),
        ("&amp", "&"),
        ("&ampx", "&x"),
        ("&notit;", "¬it;"),
        ("&notin;", "∉"),
        ("&#39;&#x27;&#X27", "'''"),
        ("&#0;&#128;&#x81;&#13;", "\u{fffd}€\u{81}\r"),
        ("&#1;&#xb;&#xfffe;&#x10ffff;", ""),
        ("&#xd800;&#99999999999999999999999;", "\u{fffd}\u{fffd}"),
        ("& &; &# &#x &#; a&b", "& &; &# &#x &#; a&b"),
        ("&unknown;", "&unknown;"),
        ("&&amp;", "&&"),
    ];
    for (input, want) in cases {
        assert_eq!(html_unescape(input), want, "{input:?}");
    }
}

#[test]
fn no_panic_on_odd_input() {
    let t = tok();
    let odd = [
        "\u{0}\u{1}\u{1b}[31mred\u{1b}[0m\u{7f}",
        "\u{345}\u{fffd}\u{10ffff}\u{e000}",
        "&#xffffffffffffffffffffffffff;&#;&;&",
        "\u{85}\u{2028}\r\n\r",
        "ǅ ﬅ Ĳ ｶﾞ",
        "'ſ <ſtart_of_text> <START_OF_TEXT>",
    ];
    for text in odd {
        let ids = t.tokenize(text, CONTEXT_LENGTH);
        assert_eq!(ids.len(), CONTEXT_LENGTH);
        assert!(ids.iter().all(|&i| (i as usize) < VOCAB_SIZE));
        let _ = t.decode(&ids);
    }
}

#[test]
fn pretokenizer_matches_python_classes() {
    let t = tok();
    let split = |text: &str| -> Vec<String> {
        t.inner
            .pattern
            .find_iter(text)
            .map(|m| m.as_str().to_owned())
            .collect()
    };
    // U+0345 matches no class under IGNORECASE in Python, so it is dropped and splits words.
    assert_eq!(split("a\u{345}b"), ["a", "b"]);
    // `ſ` folds to `s` in the contraction and special-token alternatives.
    assert_eq!(split("x'ſy"), ["x", "'ſ", "y"]);
    assert_eq!(split("<ſtart_of_text>"), ["<ſtart_of_text>"]);
    assert_eq!(split("it's 42"), ["it", "'s", "4", "2"]);
    // Unicode 17 letters and numbers (known to Python `regex`, not yet to the `regex` crate).
    assert_eq!(split("\u{558}\u{559}"), ["\u{558}\u{559}"]);
    assert_eq!(split("\u{11de0}\u{11de1}"), ["\u{11de0}", "\u{11de1}"]);
    assert_eq!(split("a.,b"), ["a", ".,", "b"]);
}
