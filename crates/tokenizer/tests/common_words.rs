//! The bundled common-word list: single-token lower-case words in BPE merge order.

use clipneurons_tokenizer::Tokenizer;

#[test]
fn common_words_are_frequent_single_token_words() {
    let t = Tokenizer::new();
    let words = t.common_words(10_000);
    assert_eq!(
        words.len(),
        10_000,
        "the vocabulary holds at least 10,000 such words"
    );
    // Every entry is one token that decodes back to itself.
    for w in words.iter().step_by(97) {
        assert_eq!(t.encode(w).len(), 1, "{w} is one token");
        assert!(
            w.len() >= 3 && w.bytes().all(|b| b.is_ascii_lowercase()),
            "{w}"
        );
    }
    // Frequent words come early, rare ones late.
    let rank = |w: &str| words.iter().position(|x| x == w);
    let the = rank("the").expect("'the' is listed");
    assert!(the < 20, "'the' ranks {the}");
    let banana = rank("banana").expect("'banana' is listed");
    assert!(banana > the && banana > rank("and").unwrap());
    let mut sorted = words.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), words.len(), "no repeats");
}
