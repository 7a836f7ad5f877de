//! The structural check behind `vchordrq_verify`.
use crate::*;

/// Walks the whole index and reports every structural problem found (empty when sound).
/// Also returns the number of entries.
pub fn verify<S: Store>(s: &S) -> (Vec<String>, u64) {
    let mut problems = vec![];
    let meta = match read_meta(s) {
        Ok(m) => m,
        Err(e) => return (vec![e.message], 0),
    };
    let n = s.nblocks();
    let mut owner: Vec<u8> = vec![0; n as usize]; // which chain kind claimed each block
    owner[0] = KIND_META as u8;
    let mut claim = |blk: u32, kind: u32, problems: &mut Vec<String>| -> bool {
        if blk >= n {
            problems.push(format!("block {blk} is past the end ({n} blocks)"));
            return false;
        }
        if owner[blk as usize] != 0 {
            problems.push(format!("block {blk} is reached twice"));
            return false;
        }
        owner[blk as usize] = kind as u8;
        true
    };
    let vbytes = meta.dims as usize * meta.elem.size();
    let mut entries = 0u64;
    let mut stack = vec![(meta.root, 0usize)];
    let mut leaves_seen = 0u64;
    while let Some((head, level)) = stack.pop() {
        let mut blk = head;
        while blk != INVALID_BLOCK {
            if !claim(blk, KIND_CENTROID, &mut problems) {
                break;
            }
            let p = s.read(blk);
            if !page::is_valid(&p) || page::kind(&p) != KIND_CENTROID {
                problems.push(format!("block {blk}: expected a centroid page"));
                break;
            }
            blk = page::next(&p);
        }
        let cs = match read_centroids(s, &meta, head) {
            Ok(c) => c,
            Err(e) => {
                problems.push(e.message);
                continue;
            }
        };
        for c in cs {
            let want_leaf = level + 1 == meta.lists.len();
            if c.leaf != want_leaf {
                problems.push(format!("centroid {:?} is at the wrong level", c.addr));
                continue;
            }
            if !c.leaf {
                stack.push((c.children, level + 1));
                continue;
            }
            leaves_seen += 1;
            for ch in &c.chains {
                if meta.rerank_in_table && ch.vhead != INVALID_BLOCK {
                    problems.push(format!("list {:?} has a vector chain", c.addr));
                }
                let mut vblk = ch.vhead;
                while vblk != INVALID_BLOCK {
                    if !claim(vblk, KIND_VECTORS, &mut problems) {
                        break;
                    }
                    let p = s.read(vblk);
                    if !page::is_valid(&p) || page::kind(&p) != KIND_VECTORS {
                        problems.push(format!("block {vblk}: expected a vector page"));
                        break;
                    }
                    vblk = page::next(&p);
                }
                let mut blk = ch.head;
                while blk != INVALID_BLOCK {
                    if !claim(blk, KIND_CODES, &mut problems) {
                        break;
                    }
                    let p = s.read(blk);
                    if !page::is_valid(&p) || page::kind(&p) != KIND_CODES {
                        problems.push(format!("block {blk}: expected a code page"));
                        break;
                    }
                    for (off, t) in page::items(&p) {
                        let lanes: Vec<(Addr, Addr, Factors)> = match meta.code_tuple(t) {
                            Some(Code::One(t)) => {
                                vec![(entry::tid(t), entry::vector(t), entry::factors(t))]
                            }
                            Some(Code::Block(t)) => {
                                if block::lanes(t) == 0
                                    || block::lanes(t) != t[0] as usize + 256 * t[1] as usize
                                {
                                    problems
                                        .push(format!("block ({blk},{off}) has a bad lane count"));
                                }
                                block::live(t)
                                    .map(|i| {
                                        (
                                            block::tid(t, i),
                                            block::vector(t, i),
                                            block::factors(t, i),
                                        )
                                    })
                                    .collect()
                            }
                            None => {
                                entries += 1;
                                problems.push(format!("code ({blk},{off}) has length {}", t.len()));
                                continue;
                            }
                        };
                        for (tid, va, f) in lanes {
                            entries += 1;
                            if ![f.norm_sq, f.sum_abs, f.sign_dot_c, f.err]
                                .iter()
                                .all(|x| x.is_finite())
                            {
                                problems.push(format!("code ({blk},{off}) has non-finite factors"));
                            }
                            if meta.rerank_in_table {
                                if va != Addr::NONE {
                                    problems.push(format!("code ({blk},{off}) points at a vector"));
                                }
                            } else if read_blob(s, va, 0, Some(tid), vbytes).is_none() {
                                problems.push(format!(
                                    "code ({blk},{off}) for row {tid:?}: its vector at {va:?} is missing"
                                ));
                            }
                        }
                    }
                    blk = page::next(&p);
                }
            }
        }
    }
    let want: u64 = *meta.lists.last().unwrap() as u64;
    if leaves_seen > want {
        problems.push(format!("{leaves_seen} lists, the meta page says {want}"));
    }
    (problems, entries)
}
