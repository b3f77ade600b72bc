//! The bare intrusive free list: the floor a pool with per-allocation free
//! is measured against. Size classes of 16 bytes up to 4 KiB, each a
//! singly linked list threaded through the free blocks' first words, carved
//! from 64 KiB chunks; blocks are zeroed on allocation, as the pool's are.
//! No accounting, no limit, no large blocks, no checks: what is left when
//! everything a pool promises beyond "reuse the block" is taken away.

use std::alloc::{alloc, dealloc, Layout};
use std::ptr::{self, NonNull};

const GRANULE: usize = 16;
const CLASSES: usize = 4096 / GRANULE;
const CHUNK: usize = 64 * 1024;

/// See the module docs.
pub struct BareFreeList {
    heads: [*mut u8; CLASSES + 1],
    cursor: *mut u8,
    end: *mut u8,
    chunks: Vec<*mut u8>,
}

impl Default for BareFreeList {
    fn default() -> Self {
        Self::new()
    }
}

impl BareFreeList {
    /// Holds no memory yet.
    pub fn new() -> Self {
        BareFreeList {
            heads: [ptr::null_mut(); CLASSES + 1],
            cursor: ptr::null_mut(),
            end: ptr::null_mut(),
            chunks: Vec::new(),
        }
    }

    #[inline(always)]
    fn class(size: usize) -> usize {
        size.max(1).div_ceil(GRANULE)
    }

    /// `size` (1 to 4096) zeroed bytes, 16-aligned.
    #[inline(always)]
    pub fn alloc(&mut self, size: usize) -> NonNull<u8> {
        let class = Self::class(size);
        let head = self.heads[class];
        let block = if !head.is_null() {
            // SAFETY: a free block of this class holds the next link.
            self.heads[class] = unsafe { head.cast::<*mut u8>().read() };
            head
        } else {
            let len = class * GRANULE;
            if (self.end as usize) - (self.cursor as usize) < len {
                self.refill();
            }
            let block = self.cursor;
            // SAFETY: `len` bytes fit in the current chunk.
            self.cursor = unsafe { block.add(len) };
            block
        };
        // SAFETY: a block of at least `size` bytes that nothing else uses.
        unsafe {
            block.write_bytes(0, size);
            NonNull::new_unchecked(block)
        }
    }

    /// Gives back a block of `size` bytes from [`alloc`](Self::alloc).
    ///
    /// # Safety
    ///
    /// `block` came from `alloc(size)` of this list and is not used again.
    #[inline(always)]
    pub unsafe fn free(&mut self, block: NonNull<u8>, size: usize) {
        let class = Self::class(size);
        // SAFETY: the block is ours and at least 16 bytes long (caller).
        unsafe { block.as_ptr().cast::<*mut u8>().write(self.heads[class]) };
        self.heads[class] = block.as_ptr();
    }

    #[cold]
    fn refill(&mut self) {
        let layout = Layout::from_size_align(CHUNK, GRANULE).unwrap();
        // SAFETY: a non-zero layout.
        let chunk = unsafe { alloc(layout) };
        assert!(!chunk.is_null(), "out of memory");
        self.chunks.push(chunk);
        self.cursor = chunk;
        // SAFETY: the chunk is `CHUNK` bytes.
        self.end = unsafe { chunk.add(CHUNK) };
    }
}

impl Drop for BareFreeList {
    fn drop(&mut self) {
        let layout = Layout::from_size_align(CHUNK, GRANULE).unwrap();
        for &chunk in &self.chunks {
            // SAFETY: each chunk came from `alloc` with this layout.
            unsafe { dealloc(chunk, layout) };
        }
    }
}
