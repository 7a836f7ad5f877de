//! Adding rows to lists: one at a time (inserts) or a block at a time (build participants).
use crate::*;

/// How an insert treats the chain it appends to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Writer {
    /// Shared with concurrent inserts: tail hints are read from, and advanced on, the
    /// centroid page.
    Shared,
    /// Owned by this build participant, which alone appends to it while the build runs: the
    /// tails it keeps in memory are exact, and [`store_tails`] writes them at the end.
    Owner,
}

/// The chain a single insert appends to: one of the list's chains, picked by a hash of the
/// row's heap address, so concurrent inserts into one list spread over its chains.
pub fn chain_for(leaf: &Centroid, tid: Addr) -> usize {
    let n = leaf.chains.len().max(1) as u64;
    let h = ((tid.blk as u64) << 16 | tid.off as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((h >> 32) % n) as usize
}

/// Adds one row to chain `chain` of the list of `leaf`: the vector (`stored`: its elements'
/// bytes) to the vector chain, then its code to the code chain. `rotated` comes from
/// [`prepare`].
#[allow(clippy::too_many_arguments)]
pub fn insert<S: Store>(
    s: &S,
    meta: &Meta,
    leaf: &mut Centroid,
    chain: usize,
    writer: Writer,
    rotated: &[f32],
    stored: &[u8],
    tid: Addr,
) {
    let i = chain.min(leaf.chains.len() - 1);
    let entry = encode_row(s, meta, leaf, i, writer, rotated, stored, tid);
    append_code(s, leaf, i, writer, &entry);
}

/// A build participant's insert ([`Writer::Owner`]): the vector is written at once, the code
/// joins `batch` (this list's pending codes), which goes to the code chain as one fast-scan
/// block when it holds 32 (see [`flush_batch`] for the rest). Without blocks (more
/// dimensions than a block fits a page) this is [`insert`].
#[allow(clippy::too_many_arguments)]
pub fn insert_batched<S: Store>(
    s: &S,
    meta: &Meta,
    leaf: &mut Centroid,
    chain: usize,
    rotated: &[f32],
    stored: &[u8],
    tid: Addr,
    batch: &mut Vec<Vec<u8>>,
) {
    let i = chain.min(leaf.chains.len() - 1);
    let entry = encode_row(s, meta, leaf, i, Writer::Owner, rotated, stored, tid);
    if meta.block_len().is_none() {
        append_code(s, leaf, i, Writer::Owner, &entry);
        return;
    }
    batch.push(entry);
    if batch.len() == BLOCK {
        flush_batch(s, meta, leaf, chain, batch);
    }
}

/// Writes a list's pending codes ([`insert_batched`]) as one block, full or not.
pub fn flush_batch<S: Store>(
    s: &S,
    meta: &Meta,
    leaf: &mut Centroid,
    chain: usize,
    batch: &mut Vec<Vec<u8>>,
) {
    if batch.is_empty() {
        return;
    }
    let i = chain.min(leaf.chains.len() - 1);
    let refs: Vec<&[u8]> = batch.iter().map(|e| e.as_slice()).collect();
    let t = block::make(meta.dims as usize, meta.bits, &refs);
    append_code(s, leaf, i, Writer::Owner, &t);
    batch.clear();
}

/// Makes sure chain `i` of the list exists, writes the row's vector and returns its code
/// entry (heap TID, vector address, factors, bits).
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_row<S: Store>(
    s: &S,
    meta: &Meta,
    leaf: &mut Centroid,
    i: usize,
    writer: Writer,
    rotated: &[f32],
    stored: &[u8],
    tid: Addr,
) -> Vec<u8> {
    let missing =
        |c: &Chain| c.head == INVALID_BLOCK || (c.vhead == INVALID_BLOCK && !meta.rerank_in_table);
    if writer == Writer::Shared || missing(&leaf.chains[i]) {
        reload_chain(s, leaf, i);
    }
    if missing(&leaf.chains[i]) {
        // First row of this chain (or of its code part, see `pack_tails`): create its pages
        // under the centroid page's lock, after checking that nobody else did meanwhile.
        let mut g = s.write(leaf.addr.blk);
        let t = page::get(&g, leaf.addr.off).expect("leaf centroid tuple");
        let mut c = Chain::read(t, i);
        if missing(&c) {
            if c.head == INVALID_BLOCK {
                let (cb, mut cg) = s.extend();
                page::init(&mut cg, KIND_CODES);
                (c.head, c.tail) = (cb, cb);
            }
            if c.vhead == INVALID_BLOCK && !meta.rerank_in_table {
                let (vb, mut vg) = s.extend();
                page::init(&mut vg, KIND_VECTORS);
                (c.vhead, c.vtail) = (vb, vb);
            }
            c.write(page::get_mut(&mut g, leaf.addr.off).unwrap(), i);
            bump_generation(s);
        }
        drop(g);
        reload_chain(s, leaf, i);
    }
    let ch = leaf.chains[i];
    let dims = meta.dims as usize;
    let zero;
    let centroid: &[f32] = if meta.residual {
        &leaf.vector
    } else {
        zero = vec![0f32; dims];
        &zero
    };
    let r: Vec<f32> = rotated.iter().zip(centroid).map(|(x, c)| x - c).collect();
    let mut entry = vec![0u8; meta.code_len()];
    let f = vchord_rabitq::encode_bits(meta.bits, &r, centroid, &mut entry[ENTRY_HEADER..]);
    let vaddr = if meta.rerank_in_table {
        Addr::NONE
    } else {
        let (vaddr, vtail) = write_blob(s, ch.vtail, KIND_VECTORS, &[], tid, stored);
        if vtail != ch.vtail {
            // Tail hints only: a stale one costs a walk along `next`, never correctness.
            if writer == Writer::Shared {
                advance_tails(s, leaf.addr, i, ch.tail, vtail);
            }
            let c = &mut leaf.chains[i];
            c.vtail = c.vtail.max(vtail);
        }
        vaddr
    };
    entry::put_header(&mut entry, tid, vaddr, &f);
    entry
}

/// Appends a code tuple (an entry or a block) to code chain `i` of the list.
pub(crate) fn append_code<S: Store>(
    s: &S,
    leaf: &mut Centroid,
    i: usize,
    writer: Writer,
    data: &[u8],
) {
    let ch = leaf.chains[i];
    let (_, tail) = fill(s, ch.tail, KIND_CODES, data);
    if tail != ch.tail {
        if writer == Writer::Shared {
            advance_tails(s, leaf.addr, i, tail, ch.vtail);
        }
        let c = &mut leaf.chains[i];
        c.tail = c.tail.max(tail);
    }
}

/// One participant of a build's insert phase (the only one, in a serial build): routes each
/// row through the centroids in memory and appends it to chain `chain` of its list, which
/// this participant alone writes ([`Writer::Owner`]), a fast-scan block at a time where its
/// share of memory holds a pending block for every list. The server's build and the unit
/// tests run this same code.
pub struct Participant {
    pub meta: Meta,
    rot: std::sync::Arc<Rotation>,
    pub router: Router,
    chain: usize,
    /// Each list's codes waiting to fill a fast-scan block, or none where the blocks of
    /// every list would take more than `mem_share` (codes then go in one by one, and vacuum
    /// packs them later).
    batches: Option<Vec<Vec<Vec<u8>>>>,
}

impl Participant {
    pub fn new(meta: Meta, mut router: Router, chain: usize, mem_share: u64) -> Participant {
        let lists = router.leaves().len();
        let need = lists as u64 * (meta.batch_bytes() as u64 + 32 * 48);
        let batches =
            (meta.block_len().is_some() && need <= mem_share).then(|| vec![vec![]; lists]);
        Participant {
            rot: meta.rotation(),
            meta,
            router,
            chain,
            batches,
        }
    }

    /// Adds a row: its elements as f32 (`v`), as stored (`stored`), its heap TID.
    pub fn add<S: Store>(&mut self, s: &S, v: &[f32], stored: &[u8], tid: Addr) {
        let x = prepare(&self.meta, &self.rot, v);
        let leaf = self.router.route(self.meta.metric, &x);
        let l = &mut self.router.leaves()[leaf];
        match &mut self.batches {
            Some(b) => insert_batched(s, &self.meta, l, self.chain, &x, stored, tid, &mut b[leaf]),
            None => insert(s, &self.meta, l, self.chain, Writer::Owner, &x, stored, tid),
        }
    }

    /// The end of this participant's rows: the pending blocks are written, and the tails of
    /// its chains go to the centroids.
    pub fn finish<S: Store>(&mut self, s: &S) {
        if let Some(batches) = &mut self.batches {
            for (leaf, batch) in self.router.leaves().iter_mut().zip(batches) {
                flush_batch(s, &self.meta, leaf, self.chain, batch);
            }
        }
        store_tails(s, self.router.leaves(), self.chain);
    }
}
