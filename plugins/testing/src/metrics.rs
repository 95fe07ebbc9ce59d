//! Figures of merit shared by the plugin tests and the demo.

/// Largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Area under the ROC curve of `signal` vs `background` scores (ties count one half).
pub fn auc(signal: &[f32], background: &[f32]) -> f64 {
    let mut all: Vec<(f32, bool)> = signal
        .iter()
        .map(|&s| (s, true))
        .chain(background.iter().map(|&b| (b, false)))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < all.len() {
        let mut j = i;
        while j < all.len() && all[j].0 == all[i].0 {
            j += 1;
        }
        let avg_rank = (i + j + 1) as f64 / 2.0;
        rank_sum += avg_rank * all[i..j].iter().filter(|x| x.1).count() as f64;
        i = j;
    }
    let (ns, nb) = (signal.len() as f64, background.len() as f64);
    (rank_sum - ns * (ns + 1.0) / 2.0) / (ns * nb)
}
