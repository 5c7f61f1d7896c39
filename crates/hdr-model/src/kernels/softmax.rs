//! Log-sum-exp, softmax and argmax of logit rows: the one place the model
//! turns logits into losses and probabilities.

/// The row's maximum and the sum of `exp(v - max)`, in f64.
fn shifted_exp_sum(row: &[f32]) -> (f64, f64) {
    let max = row.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(v as f64));
    let sum = row.iter().map(|&v| (v as f64 - max).exp()).sum::<f64>();
    (max, sum)
}

/// `ln(sum(exp(row)))` in f64, shifted by the maximum so it cannot overflow.
/// NaN anywhere in the row gives NaN (`f64::max` alone would skip it).
pub(crate) fn log_sum_exp(row: &[f32]) -> f64 {
    if row.iter().any(|v| v.is_nan()) {
        return f64::NAN;
    }
    let (max, sum) = shifted_exp_sum(row);
    max + sum.ln()
}

/// Softmax probabilities of one row (computed in f64).
pub(crate) fn softmax_into(row: &[f32], out: &mut [f32]) {
    let (max, sum) = shifted_exp_sum(row);
    for (p, &v) in out.iter_mut().zip(row) {
        *p = ((v as f64 - max).exp() / sum) as f32;
    }
}

/// Index of the largest value; the first one on ties.
pub(crate) fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sum_exp_is_stable_and_nan_poisons_it() {
        assert!((log_sum_exp(&[0.0, 0.0]) - 2f64.ln()).abs() < 1e-12);
        assert!((log_sum_exp(&[1000.0, 1000.0]) - (1000.0 + 2f64.ln())).abs() < 1e-9);
        assert!(log_sum_exp(&[1.0, f32::NAN]).is_nan());
        let mut p = [0.0; 3];
        softmax_into(&[1.0, 2.0, 3.0], &mut p);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(p[2] > p[1] && p[1] > p[0]);
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), 1);
    }
}
