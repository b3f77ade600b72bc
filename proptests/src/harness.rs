//! The runner: applies operations to a pool and to the model side by side
//! and checks, after every step, that they agree.

use std::sync::Arc;

use arenapool::{AllocError, Handle, Zeroable};
use bytemuck::Pod;

use crate::model::{pattern, BlockKind, Counted, DropLog, Model, ModelBlock};
use crate::ops::{Elem, Op};
use crate::target::PoolUnderTest;

macro_rules! aligned {
    ($($name:ident $align:literal),*) => {$(
        /// An element of this alignment, for typed allocations.
        #[derive(Clone, Copy, Zeroable, Pod)]
        #[repr(C, align($align))]
        pub struct $name([u8; $align]);
    )*};
}
aligned!(Align16 16, Align32 32, Align64 64);

/// A live allocation on the pool's side.
pub(crate) enum Live<'p> {
    Bytes(Handle<'p, [u8]>),
    U8(Handle<'p, [u8]>),
    U16(Handle<'p, [u16]>),
    U32(Handle<'p, [u32]>),
    U64(Handle<'p, [u64]>),
    A16(Handle<'p, [Align16]>),
    A32(Handle<'p, [Align32]>),
    A64(Handle<'p, [Align64]>),
    Value(Handle<'p, Counted>),
}

/// Runs `$body` with `$h` bound to the slice handle of any slice variant,
/// or `$value` with `$v` bound to the value handle.
macro_rules! on_live {
    ($live:expr, $h:ident => $body:expr, $v:ident => $value:expr) => {
        match $live {
            Live::Bytes($h) | Live::U8($h) => $body,
            Live::U16($h) => $body,
            Live::U32($h) => $body,
            Live::U64($h) => $body,
            Live::A16($h) => $body,
            Live::A32($h) => $body,
            Live::A64($h) => $body,
            Live::Value($v) => $value,
        }
    };
}

impl Live<'_> {
    pub(crate) fn bytes(&self) -> &[u8] {
        on_live!(self, h => bytemuck::cast_slice(&h[..]), v => &v.payload[..])
    }

    pub(crate) fn bytes_mut(&mut self) -> &mut [u8] {
        on_live!(self, h => bytemuck::cast_slice_mut(&mut h[..]), v => &mut v.payload[..])
    }

    /// Address and length of the memory the handle covers.
    pub(crate) fn range(&self) -> (usize, usize) {
        on_live!(self,
            h => (Handle::as_ptr(h).cast::<u8>() as usize, core::mem::size_of_val(&h[..])),
            v => (Handle::as_ptr(v) as usize, core::mem::size_of::<Counted>()))
    }

    pub(crate) fn free<P: PoolUnderTest>(self, pool: &P) {
        on_live!(self, h => pool.free(h), v => pool.free(v))
    }

    /// Resizes a slice allocation; `None` for a value (not resizable).
    pub(crate) fn try_realloc<P: PoolUnderTest>(
        &mut self,
        pool: &P,
        new_len: usize,
    ) -> Option<Result<(), AllocError>> {
        on_live!(self, h => Some(pool.try_realloc(h, new_len)), _v => None)
    }
}

/// What the model expects of a request.
#[derive(Debug)]
pub(crate) enum Expect {
    /// It must succeed.
    Succeed,
    /// It must fail with this error.
    Fail(AllocError),
    /// It must fail: no system serves a terabyte. The error may be the
    /// layout (the block's header pushes it past `isize::MAX`), the limit
    /// or the allocator.
    FailAlloc,
    /// It may fail, but only with `LimitExceeded`: whether a small block
    /// needs a new chunk is the engine's business.
    MayHitLimit,
}

/// Bytes a large block holds from the system: data plus its 48-byte
/// header, rounded up to the data's alignment.
fn large_system_size(size: usize, align: usize) -> usize {
    let align = align.max(16);
    size + 48_usize.div_ceil(align) * align
}

fn is_large(size: usize, align: usize) -> bool {
    size > 4096 || align > 64
}

/// The model's verdict on allocating `number * elem_size` bytes aligned to
/// `align` in a pool holding `reserved` bytes.
fn expect_alloc(
    number: usize,
    elem_size: usize,
    align: usize,
    limit: Option<usize>,
    reserved: usize,
) -> Expect {
    let Some(size) = number.checked_mul(elem_size) else {
        return Expect::Fail(AllocError::SizeOverflow { number, elem_size });
    };
    if size > isize::MAX as usize - (align - 1) {
        return Expect::Fail(AllocError::LayoutTooLarge { size, align });
    }
    if size == 0 {
        return Expect::Succeed;
    }
    if size >= 1 << 40 {
        return Expect::FailAlloc;
    }
    match limit {
        None => Expect::Succeed,
        Some(limit) if is_large(size, align) => {
            if reserved + large_system_size(size, align) > limit {
                Expect::Fail(AllocError::LimitExceeded {
                    requested: size,
                    limit,
                    reserved,
                })
            } else {
                Expect::Succeed
            }
        }
        Some(_) => Expect::MayHitLimit,
    }
}

/// The model's verdict on resizing a block of `old_size` bytes to
/// `new_len` elements of `elem_size`.
fn expect_realloc(
    old_size: usize,
    capacity_unknown: bool,
    new_len: usize,
    elem_size: usize,
    align: usize,
    limit: Option<usize>,
    reserved: usize,
) -> Expect {
    let Some(new_size) = new_len.checked_mul(elem_size) else {
        return Expect::Fail(AllocError::SizeOverflow {
            number: new_len,
            elem_size,
        });
    };
    if new_size > isize::MAX as usize - (align - 1) {
        return Expect::Fail(AllocError::LayoutTooLarge {
            size: new_size,
            align,
        });
    }
    if new_size >= 1 << 40 {
        return Expect::FailAlloc;
    }
    let Some(limit) = limit else {
        return Expect::Succeed;
    };
    if new_size == 0 {
        return Expect::Succeed;
    }
    if !is_large(new_size, align) {
        return Expect::MayHitLimit;
    }
    if capacity_unknown && new_size > old_size {
        return Expect::MayHitLimit;
    }
    let extra = if old_size > 0 && is_large(old_size, align) {
        large_system_size(new_size, align).saturating_sub(large_system_size(old_size, align))
    } else {
        large_system_size(new_size, align)
    };
    if reserved + extra > limit {
        Expect::Fail(AllocError::LimitExceeded {
            requested: new_size,
            limit,
            reserved,
        })
    } else {
        Expect::Succeed
    }
}

/// Checks a request's outcome against the model's verdict.
pub(crate) fn judge<T>(expect: &Expect, result: &Result<T, AllocError>) -> Result<(), String> {
    match (expect, result) {
        (Expect::Succeed, Ok(_)) | (Expect::MayHitLimit, Ok(_)) => Ok(()),
        (Expect::MayHitLimit, Err(AllocError::LimitExceeded { .. })) => Ok(()),
        (
            Expect::FailAlloc,
            Err(
                AllocError::LayoutTooLarge { .. }
                | AllocError::LimitExceeded { .. }
                | AllocError::OutOfMemory { .. },
            ),
        ) => Ok(()),
        (Expect::Fail(want), Err(got)) if want == got => Ok(()),
        (expect, Err(got)) => Err(format!("expected {expect:?}, got error {got:?}")),
        (expect, Ok(_)) => Err(format!("expected {expect:?}, but it succeeded")),
    }
}

impl Expect {
    /// The verdict when other threads allocate and free at the same time:
    /// the reserved bytes it was computed from may have changed since, so in
    /// a pool with a limit a request that should fit may hit it and one that
    /// should not may pass. Errors of the request itself stay exact.
    pub(crate) fn concurrent(self, limited: bool) -> Expect {
        match self {
            Expect::Succeed | Expect::Fail(AllocError::LimitExceeded { .. }) if limited => {
                Expect::MayHitLimit
            }
            other => other,
        }
    }
}

/// Checks one live block against the model's: its bytes and alignment.
/// Returns the memory it covers.
pub(crate) fn check_block(
    i: usize,
    handle: &Live<'_>,
    block: &ModelBlock,
) -> Result<(usize, usize), String> {
    if handle.bytes() != &block.bytes[..] {
        let at = handle
            .bytes()
            .iter()
            .zip(&block.bytes)
            .position(|(a, b)| a != b);
        return Err(format!(
            "block {i} ({:?}, {} bytes) differs from the model at byte {at:?}",
            block.kind,
            block.bytes.len()
        ));
    }
    let (addr, len) = handle.range();
    if addr % block.align() != 0 {
        return Err(format!(
            "block {i} ({:?}) at {addr:#x} is not aligned to {}",
            block.kind,
            block.align()
        ));
    }
    Ok((addr, len))
}

/// Checks every invariant of the pool against the model.
pub(crate) fn check<P: PoolUnderTest>(
    pool: &P,
    live: &[Live<'_>],
    model: &Model,
    log: &DropLog,
) -> Result<(), String> {
    if live.len() != model.blocks.len() {
        return Err(format!(
            "harness holds {} handles, model {}",
            live.len(),
            model.blocks.len()
        ));
    }
    let mut ranges = Vec::with_capacity(live.len());
    for (i, (handle, block)) in live.iter().zip(&model.blocks).enumerate() {
        let (addr, len) = check_block(i, handle, block)?;
        if len > 0 {
            ranges.push((addr, len, i));
        }
    }
    ranges.sort_unstable();
    for w in ranges.windows(2) {
        let ((a, alen, ai), (b, _, bi)) = (w[0], w[1]);
        if a + alen > b {
            return Err(format!(
                "blocks {ai} and {bi} overlap: {a:#x}+{alen} > {b:#x}"
            ));
        }
    }
    let (size, stats) = (pool.size(), pool.stats());
    if size != model.live_bytes() || stats.live_bytes != size {
        return Err(format!(
            "size() {size}, stats.live_bytes {}, model {}",
            stats.live_bytes,
            model.live_bytes()
        ));
    }
    if stats.live_allocations != model.blocks.len() {
        return Err(format!(
            "live_allocations {}, model {}",
            stats.live_allocations,
            model.blocks.len()
        ));
    }
    if stats.peak_live_bytes < size {
        return Err(format!(
            "peak_live_bytes {} below live bytes {size}",
            stats.peak_live_bytes
        ));
    }
    if let Some(limit) = model.limit {
        if stats.reserved_bytes > limit {
            return Err(format!(
                "reserved {} past the limit {limit}",
                stats.reserved_bytes
            ));
        }
    }
    check_drops(model, log)
}

pub(crate) fn check_drops(model: &Model, log: &DropLog) -> Result<(), String> {
    let counts = log.counts();
    if counts != model.dropped {
        return Err(format!(
            "destructors ran {counts:?}, model expects {:?}",
            model.dropped
        ));
    }
    Ok(())
}

/// The pool call of an allocating operation, ready to run on any thread.
pub(crate) enum Call {
    /// `try_alloc(number, elem_size)`.
    Bytes { number: usize, elem_size: usize },
    /// `try_alloc_slice_zeroed` of `len` elements of `elem`.
    Typed { elem: Elem, len: usize },
    /// `try_alloc_value` of this value.
    Value(Counted),
}

impl Call {
    /// Makes the call on `pool`.
    pub(crate) fn run<P: PoolUnderTest>(self, pool: &P) -> Result<Live<'_>, AllocError> {
        match self {
            Call::Bytes { number, elem_size } => pool.try_alloc(number, elem_size).map(Live::Bytes),
            Call::Typed { elem, len } => match elem {
                Elem::U8 => pool.try_alloc_slice_zeroed(len).map(Live::U8),
                Elem::U16 => pool.try_alloc_slice_zeroed(len).map(Live::U16),
                Elem::U32 => pool.try_alloc_slice_zeroed(len).map(Live::U32),
                Elem::U64 => pool.try_alloc_slice_zeroed(len).map(Live::U64),
                Elem::A16 => pool.try_alloc_slice_zeroed(len).map(Live::A16),
                Elem::A32 => pool.try_alloc_slice_zeroed(len).map(Live::A32),
                Elem::A64 => pool.try_alloc_slice_zeroed(len).map(Live::A64),
            },
            Call::Value(value) => pool.try_alloc_value(value).map(Live::Value),
        }
    }
}

/// An allocating operation: the call, the model's verdict on it, and the
/// kind of block it makes.
pub(crate) struct Request {
    pub(crate) call: Call,
    pub(crate) expect: Expect,
    pub(crate) kind: BlockKind,
}

/// The request `op` makes of a pool holding `reserved` bytes, if it
/// allocates. A value gets its id from the model here.
pub(crate) fn request(
    op: &Op,
    model: &mut Model,
    log: &Arc<DropLog>,
    reserved: usize,
) -> Option<Request> {
    Some(match *op {
        Op::Alloc { number, elem_size } => Request {
            call: Call::Bytes { number, elem_size },
            expect: expect_alloc(number, elem_size, 16, model.limit, reserved),
            kind: BlockKind::Bytes,
        },
        Op::AllocTyped { elem, len } => Request {
            call: Call::Typed { elem, len },
            expect: expect_alloc(len, elem.size(), elem.size(), model.limit, reserved),
            kind: BlockKind::Typed(elem),
        },
        Op::AllocValue => {
            let id = model.serial();
            Request {
                call: Call::Value(Counted::new(id, log)),
                expect: if model.limit.is_some() {
                    Expect::MayHitLimit
                } else {
                    Expect::Succeed
                },
                kind: BlockKind::Value(id),
            }
        }
        _ => return None,
    })
}

/// Checks an allocating request's outcome and records it.
pub(crate) fn allocated<'p>(
    result: Result<Live<'p>, AllocError>,
    expect: Expect,
    kind: BlockKind,
    live: &mut Vec<Live<'p>>,
    model: &mut Model,
) -> Result<(), String> {
    if let (BlockKind::Value(id), Err(_)) = (kind, &result) {
        // The refused value was dropped by the call.
        *model.dropped.entry(id).or_default() += 1;
    }
    judge(&expect, &result)?;
    if let Ok(handle) = result {
        let bytes = vec![0; handle.bytes().len()];
        let serial = model.serial();
        live.push(handle);
        model.blocks.push(ModelBlock {
            kind,
            bytes,
            serial,
            capacity_unknown: false,
        });
    }
    Ok(())
}

/// The model's verdict on resizing `block` to `new_len` elements in a pool
/// holding `reserved` bytes, and the block's element size.
pub(crate) fn realloc_expect(
    block: &ModelBlock,
    new_len: usize,
    limit: Option<usize>,
    reserved: usize,
) -> (Expect, usize) {
    let (elem_size, align) = match block.kind {
        // Byte blocks are 16-aligned, and resized so.
        BlockKind::Bytes => (1, 16),
        BlockKind::Typed(elem) => (elem.size(), elem.size()),
        BlockKind::Value(_) => (0, 1),
    };
    let expect = expect_realloc(
        block.bytes.len(),
        block.capacity_unknown,
        new_len,
        elem_size,
        align,
        limit,
        reserved,
    );
    (expect, elem_size)
}

/// Records that `block` was resized to `new_len` elements of `elem_size`.
pub(crate) fn resized(block: &mut ModelBlock, new_len: usize, elem_size: usize) {
    let (old, new) = (block.bytes.len(), new_len * elem_size);
    let align = block.align();
    block.capacity_unknown = match (is_large(old, align), is_large(new, align)) {
        // Into the large range, growing: perhaps with room to double.
        (false, true) => old > 0,
        // Growing within it: in that room, or past it with room to double.
        (true, true) if new > old => true,
        // Shrunk (by the system) or small: exactly its bytes.
        _ => false,
    };
    block.bytes.resize(new, 0);
}

/// Records that `block` was overwritten with the pattern of `seed`, and
/// returns the bytes to write.
pub(crate) fn write_pattern(block: &mut ModelBlock, seed: u8) -> &[u8] {
    block.bytes = pattern(block.serial, seed, block.bytes.len());
    &block.bytes
}

/// Runs `ops` on `pool` until a `Reset` or `Recreate` (which need the pool
/// without handles) or the end; returns how many it ran.
fn run_segment<P: PoolUnderTest>(
    pool: &P,
    ops: &[Op],
    model: &mut Model,
    log: &Arc<DropLog>,
    first: usize,
) -> Result<usize, String> {
    let mut live: Vec<Live<'_>> = Vec::new();
    for (n, op) in ops.iter().enumerate() {
        let step = |e: String| format!("{} step {} ({op:?}): {e}", P::NAME, first + n);
        let before = pool.stats();
        match *op {
            Op::Reset | Op::Recreate { .. } => return Ok(n),
            Op::Alloc { .. } | Op::AllocTyped { .. } | Op::AllocValue => {
                let Request { call, expect, kind } = request(op, model, log, before.reserved_bytes)
                    .expect("an allocating operation");
                let result = call.run(pool);
                allocated(result, expect, kind, &mut live, model).map_err(step)?;
            }
            Op::Free { pick } => {
                if !live.is_empty() {
                    let i = pick % live.len();
                    live.swap_remove(i).free(pool);
                    model.swap_free(i);
                }
            }
            Op::Realloc { pick, new_len } => {
                if !live.is_empty() {
                    let i = pick % live.len();
                    let (expect, elem_size) = realloc_expect(
                        &model.blocks[i],
                        new_len,
                        model.limit,
                        before.reserved_bytes,
                    );
                    if let Some(result) = live[i].try_realloc(pool, new_len) {
                        judge(&expect, &result).map_err(step)?;
                        if result.is_ok() {
                            resized(&mut model.blocks[i], new_len, elem_size);
                        } else if pool.stats() != before {
                            return Err(step(format!(
                                "a failed realloc changed the pool: {before:?} -> {:?}",
                                pool.stats()
                            )));
                        }
                    }
                }
            }
            Op::Write { pick, seed } => {
                if !live.is_empty() {
                    let i = pick % live.len();
                    let bytes = write_pattern(&mut model.blocks[i], seed);
                    live[i].bytes_mut().copy_from_slice(bytes);
                }
            }
        }
        check(pool, &live, model, log).map_err(step)?;
    }
    Ok(ops.len())
}

/// Runs a whole operation sequence against a fresh `P` and the model.
///
/// # Errors
///
/// A description of the first step at which the pool and the model
/// disagree.
pub fn run<P: PoolUnderTest>(ops: &[Op]) -> Result<(), String> {
    let log = Arc::new(DropLog::default());
    let mut model = Model::new(None);
    let mut pool = P::create(None);
    let mut i = 0;
    loop {
        i += run_segment(&pool, &ops[i..], &mut model, &log, i)?;
        match ops.get(i) {
            None => break,
            Some(Op::Reset) => {
                pool.reset();
                model.free_all();
            }
            Some(&Op::Recreate { limit }) => {
                drop(std::mem::replace(&mut pool, P::create(limit)));
                model.free_all();
                model.limit = limit;
            }
            Some(_) => unreachable!("run_segment stops only at Reset and Recreate"),
        }
        let stats = pool.stats();
        if stats.live_allocations != 0
            || pool.size() != 0
            || stats.free_list_bytes != 0
            || stats.large_blocks != 0
        {
            return Err(format!(
                "{} step {i} ({:?}): pool not empty after it: {stats:?}",
                P::NAME,
                ops[i]
            ));
        }
        check_drops(&model, &log)
            .map_err(|e| format!("{} step {i} ({:?}): {e}", P::NAME, ops[i]))?;
        i += 1;
    }
    drop(pool);
    model.free_all();
    check_drops(&model, &log).map_err(|e| format!("{} after dropping the pool: {e}", P::NAME))
}
