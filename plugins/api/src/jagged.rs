//! Checks and small kinematic helpers that the host and several plugins need alike; each fact has
//! its owner here so that the host's validation and a plugin's own checks cannot drift apart.

/// Checks that `offsets` group a collection of `n_items` elements (input `input`): at least one
/// offset, the first 0, none decreasing, the last `n_items`. The message names the input and the
/// first offending offset. Used by the host before every call and by plugins whose public
/// functions must be safe on any input.
pub fn check_offsets(input: &str, offsets: &[i64], n_items: usize) -> Result<(), String> {
    let Some(&last) = offsets.last() else {
        return Err(format!(
            "input '{input}' is a jagged collection: offsets (one more than the number of groups) are required"
        ));
    };
    if offsets[0] != 0 {
        return Err(format!(
            "input '{input}': offsets must start at 0, got {}",
            offsets[0]
        ));
    }
    if let Some(i) = offsets.windows(2).position(|w| w[1] < w[0]) {
        return Err(format!(
            "input '{input}': offsets must not decrease, but offsets[{}] = {} < offsets[{i}] = {}",
            i + 1,
            offsets[i + 1],
            offsets[i]
        ));
    }
    if last < 0 || last as u64 != n_items as u64 {
        return Err(format!(
            "input '{input}': last offset is {last} but the collection has {n_items} elements \
             (offsets must end at the element count)"
        ));
    }
    Ok(())
}

/// [`check_offsets`], and that the offsets describe exactly `n_groups` groups (`n_groups + 1`
/// offsets), for a collection grouped by another input (tracks by jets).
pub fn check_groups(
    input: &str,
    offsets: &[i64],
    n_groups: usize,
    n_items: usize,
) -> Result<(), String> {
    if offsets.len() != n_groups + 1 {
        return Err(format!(
            "input '{input}': expected {} offsets (one more than the {n_groups} groups), got {}",
            n_groups + 1,
            offsets.len()
        ));
    }
    check_offsets(input, offsets, n_items)
}

/// Wraps a float32 azimuth difference into (−π, π] with one correction each way, in float32 (the
/// recipe of the b-tagging and jet-image training scripts: `if d > π: d −= 2π`, then
/// `if d ≤ −π: d += 2π`, with π = float32(π) and 2π = float32(2π)).
pub fn wrap_dphi(dphi: f32) -> f32 {
    const PI: f32 = std::f32::consts::PI; // 3.1415927
    const TWO_PI: f32 = 2.0 * std::f32::consts::PI; // 6.2831855, float32(2π) exactly
    let dphi = if dphi > PI { dphi - TWO_PI } else { dphi };
    if dphi <= -PI {
        dphi + TWO_PI
    } else {
        dphi
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_are_checked_and_the_problem_named() {
        assert!(check_offsets("t", &[0, 2, 2, 5], 5).is_ok());
        assert!(check_offsets("t", &[0], 0).is_ok());
        assert!(check_offsets("t", &[], 0).unwrap_err().contains("offsets"));
        assert!(check_offsets("t", &[1, 5], 5)
            .unwrap_err()
            .contains("start at 0"));
        assert!(check_offsets("t", &[0, 3, 2, 5], 5)
            .unwrap_err()
            .contains("must not decrease, but offsets[2] = 2"));
        assert!(check_offsets("t", &[0, 2], 5)
            .unwrap_err()
            .contains("last offset is 2"));
        assert!(check_groups("t", &[0, 5], 2, 5)
            .unwrap_err()
            .contains("expected 3 offsets"));
        assert!(check_groups("t", &[0, 2, 5], 2, 5).is_ok());
    }

    #[test]
    fn dphi_wraps_once_each_way() {
        assert_eq!(wrap_dphi(0.5), 0.5);
        assert!((wrap_dphi(6.2) - (6.2 - 6.2831855)).abs() < 1e-7);
        assert!((wrap_dphi(-6.2) - (-6.2 + 6.2831855)).abs() < 1e-7);
        // π itself stays, −π becomes π: the result lies in (−π, π].
        assert_eq!(wrap_dphi(std::f32::consts::PI), std::f32::consts::PI);
        assert_eq!(wrap_dphi(-std::f32::consts::PI), std::f32::consts::PI);
    }
}
