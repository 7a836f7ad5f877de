//! Robust pruning (Vamana, Subramanya et al. 2019): a candidate `w` is dropped in favour of a
//! kept neighbour `k` when `alpha * d(k, w) <= d(p, w)` (k lies between p and w). The general
//! edges follow that rule alone; the label edges, in slots of their own, follow the label rule
//! of Filtered-DiskANN (Gollapudi et al. 2023) as well: `w` is dropped only when `k` also
//! carries every label `p` and `w` share, so that each label's subgraph holds together.

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

/// How many of a vertex's general edges may go to rows with its very vector.
pub fn dup_slots(m: usize) -> usize {
    (m / 4).max(2).min(m)
}

/// Chooses `p`'s neighbours from `cands` (`(key, distance to p)`, any order, no duplicates,
/// not `p` itself). `dist(a, b)` is the pruning distance between two candidates, `labels(a)`
/// a candidate's sorted labels. Returns the list and how many of it (the first ones) are
/// general edges.
///
/// The general edges, at most `m`, follow the plain rule: a candidate is dropped when a kept
/// one lies between (`alpha * d(k, w) <= d(p, w)`). A labelled `p` then gets up to
/// `label_slots` more among the candidates sharing a label with it, by the label rule of
/// Filtered-DiskANN: `w` is dropped for a kept `k` (general or not) only when `k` also carries
/// every label `p` and `w` share. Filtered searches walk both, so each label's rows stay
/// linked to one another even where the label is rare and its rows are never among the
/// nearest of each other's unfiltered candidates; unfiltered searches walk the general edges
/// only and lose nothing to the label edges.
pub fn robust_prune<'l, K: Copy>(
    p_labels: &[i16],
    cands: &mut [(K, f32)],
    alpha: f32,
    m: usize,
    label_slots: usize,
    dist: &mut dyn FnMut(K, K) -> f32,
    labels: &dyn Fn(K) -> &'l [i16],
) -> (Vec<K>, usize) {
    cands.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut taken = vec![false; cands.len()];
    let mut out: Vec<K> = Vec::with_capacity(m + label_slots);
    // Copies of `p` itself (distance 0) would all fall to the first one kept (0 <= 0), so a
    // value held by many rows would leave each with one edge among them, and most of them
    // unreachable. Up to `dup_slots(m)` copies are kept instead, whatever lies between.
    let mut copies = 0;
    for i in 0..cands.len() {
        if out.len() == m {
            break;
        }
        let (w, dpw) = cands[i];
        let keep = if dpw == 0.0 {
            copies += 1;
            copies <= dup_slots(m)
        } else {
            out.iter().all(|&k| alpha * dist(k, w) > dpw)
        };
        if keep {
            out.push(w);
            taken[i] = true;
        }
    }
    let general = out.len();
    if label_slots == 0 || p_labels.is_empty() {
        return (out, general);
    }
    let mut kept: Vec<K> = out
        .iter()
        .copied()
        .filter(|&k| overlaps(p_labels, labels(k)))
        .collect();
    for i in 0..cands.len() {
        if out.len() == general + label_slots {
            break;
        }
        let (w, dpw) = cands[i];
        if taken[i] || !overlaps(p_labels, labels(w)) {
            continue;
        }
        let wl = labels(w);
        if kept
            .iter()
            .all(|&k| !(alpha * dist(k, w) <= dpw && shared_covered(p_labels, wl, labels(k))))
        {
            out.push(w);
            kept.push(w);
        }
    }
    (out, general)
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
        let got = robust_prune(&[], &mut c.clone(), 1.2, 8, 4, &mut d, &|k| &lab[k]);
        assert_eq!(
            got,
            (vec![0, 3], 2),
            "1 shadows 2 and 3; -1 is another direction"
        );
        // With p labelled 7, the candidate at 3 shares 7 with p and no kept one has 7: it
        // becomes a label edge after the general ones.
        let got = robust_prune(&[7], &mut c.clone(), 1.2, 8, 4, &mut d, &|k| &lab[k]);
        assert_eq!(got, (vec![0, 3, 2], 2));
        // No label slots (an index without labels): the general edges alone.
        let got = robust_prune(&[7], &mut c.clone(), 1.2, 8, 0, &mut d, &|k| &lab[k]);
        assert_eq!(got, (vec![0, 3], 2));
        // Full general slots: m = 1 keeps the nearest; the label edge still comes.
        let got = robust_prune(&[7], &mut c, 1.2, 1, 4, &mut d, &|k| &lab[k]);
        assert_eq!(got, (vec![0, 2], 1));
    }
}
