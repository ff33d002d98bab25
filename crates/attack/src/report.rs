//! Markdown tables of attack and Stroop results (the JSON is the serde form of the reports).

use std::fmt::Write;

use crate::run::AttackReport;
use crate::stroop::{StroopReport, INKS};

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

pub fn attack_markdown(r: &AttackReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Typographic attack, protocol `{}`, {} classifier over {} labels; {} images{}; baseline top-1 {}.\n",
        r.protocol.name(),
        r.classifier,
        r.labels.len(),
        r.images,
        if r.skipped.is_empty() {
            String::new()
        } else {
            format!(" ({} unreadable files skipped)", r.skipped.len())
        },
        r.baseline_accuracy
            .map_or("n/a (no image's folder names a label)".to_string(), pct)
    );
    let neurons = r.neuron_layer.is_some();
    let _ = write!(
        s,
        "| attack text | attack class | pixel cover | success | already = attack class | changed away | neither |"
    );
    if neurons {
        let _ = write!(s, " neurons driven (Δ, top rendered words) |");
    }
    let _ = write!(s, "\n|---|---|---|---|---|---|---|");
    if neurons {
        let _ = write!(s, "---|");
    }
    s.push('\n');
    for w in &r.words {
        let _ = write!(
            s,
            "| {} | {}{} | {} | **{}** | {} | {} | {} |",
            w.word,
            w.attack_class,
            if w.added_to_labels { " (added)" } else { "" },
            pct(w.pixel_cover),
            pct(w.success_rate),
            pct(w.already_attack_class as f64 / w.images.max(1) as f64),
            pct(w.changed_away_rate),
            pct(w.neither_rate),
        );
        if neurons {
            let cells: Vec<String> = w
                .driven
                .iter()
                .take(3)
                .map(|d| {
                    let words: Vec<&str> = d
                        .top_words
                        .iter()
                        .take(3)
                        .map(|(w, _)| w.as_str())
                        .collect();
                    format!("{} (+{:.2}: {})", d.neuron, d.mean_delta, words.join(", "))
                })
                .collect();
            let _ = write!(s, " {} |", cells.join("; "));
        }
        s.push('\n');
    }
    if r.words.iter().any(|w| w.added_to_labels) {
        s.push_str("\n(added): the attack text is not one of the labels; it was added to the zero-shot label set.\n");
    }
    s
}

pub fn stroop_markdown(r: &StroopReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Stroop test, prompt \"{}\": incongruent stimuli named by the word {}/{}, by the ink {}/{}; congruent \
         correct {}/{}; \"example\" named by its ink {}/8.\n",
        r.template,
        r.incongruent_word_wins,
        r.incongruent,
        r.incongruent_ink_wins,
        r.incongruent,
        r.congruent_correct,
        r.congruent,
        r.example_ink_wins
    );
    let _ = write!(s, "| word \\ ink |");
    for (ink, _) in INKS {
        let _ = write!(s, " {ink} |");
    }
    s.push_str("\n|---|");
    s.push_str(&"---|".repeat(INKS.len()));
    s.push('\n');
    for row in r.cells.chunks(INKS.len()) {
        let _ = write!(s, "| {} |", row[0].word);
        for c in row {
            let mark = if c.top == c.word { "**" } else { "" };
            let _ = write!(s, " {mark}{}{mark} {:.2} |", c.top, c.top_probability);
        }
        s.push('\n');
    }
    s.push_str("\nEach cell: the model's answer and its probability; bold where the answer is the written word.\n");
    s
}
