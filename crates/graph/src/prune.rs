//! Robust pruning (Vamana, Subramanya et al. 2019) with the label rule of Filtered-DiskANN
//! (Gollapudi et al. 2023): a candidate `w` is dropped in favour of a kept neighbour `k` only
//! when `alpha * d(k, w) <= d(p, w)` (k lies between p and w) and `k` carries every label `p`
//! and `w` share, so that the edges that hold each label's subgraph together survive.

/// True when `a ∩ b ⊆ c`; all three sorted.
pub fn shared_covered(a: &[i16], b: &[i16], c: &[i16]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                if c.binary_search(&a[i]).is_err() {
                    return false;
                }
                i += 1;
                j += 1;
            }
        }
    }
    true
}

/// True when sorted `a` and `b` share an element.
pub fn overlaps(a: &[i16], b: &[i16]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

/// Chooses at most `m` of `cands` (`(key, distance to p)`, any order, no duplicates, not `p`
/// itself) as `p`'s neighbours. `dist(a, b)` is the pruning distance between two candidates,
/// `labels(a)` a candidate's sorted labels.
pub fn robust_prune<'l, K: Copy>(
    p_labels: &[i16],
    cands: &mut [(K, f32)],
    alpha: f32,
    m: usize,
    dist: &mut dyn FnMut(K, K) -> f32,
    labels: &dyn Fn(K) -> &'l [i16],
) -> Vec<K> {
    cands.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut removed = vec![false; cands.len()];
    let mut out = Vec::with_capacity(m);
    for i in 0..cands.len() {
        if removed[i] {
            continue;
        }
        let k = cands[i].0;
        out.push(k);
        if out.len() == m {
            break;
        }
        let kl = labels(k);
        for j in i + 1..cands.len() {
            if removed[j] {
                continue;
            }
            let (w, dpw) = cands[j];
            if alpha * dist(k, w) <= dpw && shared_covered(p_labels, labels(w), kl) {
                removed[j] = true;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_sets() {
        assert!(shared_covered(&[1, 2, 3], &[2, 3, 9], &[2, 3]));
        assert!(!shared_covered(&[1, 2, 3], &[2, 3, 9], &[2]));
        assert!(shared_covered(&[], &[1], &[]));
        assert!(overlaps(&[1, 5, 9], &[2, 9]));
        assert!(!overlaps(&[1, 5], &[2, 9]));
        assert!(!overlaps(&[], &[2]));
    }

    #[test]
    fn prune_keeps_directions_and_labels() {
        // p at 0 on a line; candidates at 1, 2, 3 all in one direction, and -1.
        let pos = [1.0f32, 2.0, 3.0, -1.0];
        let lab: [Vec<i16>; 4] = [vec![], vec![], vec![7], vec![]];
        let mut c: Vec<(usize, f32)> = (0..4).map(|i| (i, pos[i] * pos[i])).collect();
        let mut d = |a: usize, b: usize| (pos[a] - pos[b]).powi(2);
        let got = robust_prune(&[], &mut c.clone(), 1.2, 8, &mut d, &|k| &lab[k]);
        assert_eq!(
            got,
            vec![0, 3],
            "1 shadows 2 and 3; -1 is another direction"
        );
        // With p labelled 7, the candidate at 3 shares 7 with p and no closer one has it.
        let got = robust_prune(&[7], &mut c, 1.2, 8, &mut d, &|k| &lab[k]);
        assert_eq!(got, vec![0, 3, 2]);
    }
}
