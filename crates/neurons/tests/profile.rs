//! The conditional-probability plot by hand, and a profile on the built-in model.

use clipneurons_model::Clip;
use clipneurons_neurons::profile::{conditional, plot_svg, profile, ImageRef, Pool, SetResponse};
use clipneurons_world::{Facet, Split, World};

fn set(label: &str, values: &[f32]) -> SetResponse {
    SetResponse {
        label: label.into(),
        images: values.len(),
        mean: 0.0,
        std: 0.0,
        min: 0.0,
        max: 0.0,
        values: values.to_vec(),
    }
}

#[test]
fn buckets_span_min_to_max_and_shares_sum_to_one() {
    // Values -1..3 in 4 buckets of width 1: [-1,0) [0,1) [1,2) [2,3].
    let sets = [
        set("a", &[-1.0, -0.5, 0.5, 3.0]),
        set("b", &[0.2, 1.5, 2.5, 2.9]),
    ];
    let p = conditional(&sets, 4);
    assert_eq!(p.counts, [2, 2, 1, 3]);
    assert_eq!(p.shares[0], [1.0, 0.0]);
    assert_eq!(p.shares[1], [0.5, 0.5]);
    assert_eq!(p.shares[2], [0.0, 1.0]);
    assert!((p.shares[3][1] - 2.0 / 3.0).abs() < 1e-12);
    // Edges in SDs of all eight values pooled.
    let all = [-1.0f64, -0.5, 0.5, 3.0, 0.2, 1.5, 2.5, 2.9];
    let m = all.iter().sum::<f64>() / 8.0;
    let sd = (all.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 8.0).sqrt();
    assert!((p.sd - sd).abs() < 1e-6);
    assert!((p.edges_sd[0] + 1.0 / sd).abs() < 1e-6 && (p.edges_sd[4] - 3.0 / sd).abs() < 1e-5);
}

#[test]
fn profile_of_a_builtin_neuron() {
    let m = Clip::from_state_dict(&clipneurons_builtin::checkpoint().unwrap().tensors).unwrap();
    let w = World::with_size(m.image_size() as u32);
    let c = w.concepts().iter().find(|c| c.name == "yellow").unwrap().id;
    let imgs = |f| {
        (0..6)
            .map(|i| ImageRef::Rgb(w.sample_of(Split::Test, i, 0, c, f).image))
            .collect::<Vec<_>>()
    };
    let sets = vec![
        ("photo".to_string(), imgs(Facet::Photo)),
        ("word".to_string(), imgs(Facet::Word)),
        (
            "missing".to_string(),
            vec![
                ImageRef::File("/no/such.png".into()),
                ImageRef::Rgb(w.sample_of(Split::Test, 9, 0, c, Facet::Icon).image),
            ],
        ),
    ];
    let layer = m.neuron_layer();
    let p = profile(&m, &layer, 7, Pool::Max, &sets, 10, 4).unwrap();
    assert_eq!(
        p.sets.iter().map(|s| s.images).collect::<Vec<_>>(),
        [6, 6, 1]
    );
    assert_eq!(p.skipped.len(), 1, "the missing file is skipped, not fatal");
    assert_eq!(p.plot.counts.iter().sum::<usize>(), 13);
    // Max pooling is at least mean pooling, image by image.
    let q = profile(&m, &layer, 7, Pool::Mean, &sets, 10, 4).unwrap();
    for (a, b) in p.sets.iter().zip(&q.sets) {
        assert!(a.values.iter().zip(&b.values).all(|(x, y)| x >= y));
    }
    let svg = plot_svg(&p);
    assert!(
        svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>") && svg.contains("photo (6)")
    );
    assert!(profile(&m, &layer, 100_000, Pool::Max, &sets, 10, 4).is_err());
    assert!(profile(&m, &layer, 7, Pool::Max, &[], 10, 4).is_err());
}
