//! `RawPool::retain`: every block but the kept ones is freed, the kept ones
//! keep their contents and stay freeable, and the accounting (live bytes,
//! reserved bytes, a shared limit) follows.

use core::alloc::Layout;
use core::ptr::NonNull;
use std::sync::Arc;

use arenapool::raw::{RawPool, Shared};

mod common;
use common::{scaled, Rng};

fn fill(block: NonNull<u8>, layout: Layout, byte: u8) {
    // SAFETY: a live block of `layout.size()` bytes, used by this test only.
    unsafe { block.as_ptr().write_bytes(byte, layout.size()) };
}

fn holds(block: NonNull<u8>, layout: Layout, byte: u8) -> bool {
    // SAFETY: as in `fill`.
    let bytes = unsafe { core::slice::from_raw_parts(block.as_ptr(), layout.size()) };
    bytes.iter().all(|&b| b == byte)
}

/// A mix of small, large and zero-size blocks, some freed, then a random
/// few kept: the model is the kept blocks' sizes and contents.
#[test]
fn keeps_exactly_the_kept_blocks_and_frees_the_rest() {
    for seed in 1..=scaled(20, 3) as u64 {
        let mut rng = Rng(seed);
        let mut raw = RawPool::new(None);
        let mut live = Vec::new();
        for i in 0..scaled(300, 40) {
            let size = match rng.below(10) {
                0 => 0,
                1 | 2 => 4097 + rng.below(20_000),
                _ => 1 + rng.below(4096),
            };
            let layout = Layout::from_size_align(size, 16).unwrap();
            let block = raw.alloc(layout).unwrap();
            fill(block, layout, i as u8);
            live.push((block, layout, i as u8));
            if rng.below(4) == 0 {
                let (block, layout, _) = live.swap_remove(rng.below(live.len()));
                // SAFETY: a live block of `raw` with its layout, freed once.
                unsafe { raw.dealloc(block, layout) };
            }
        }
        let keep_small = seed % 2 == 0;
        let kept: Vec<_> = live
            .iter()
            .copied()
            .filter(|(_, layout, _)| keep_small || !RawPool::is_small(*layout))
            .filter(|_| rng.below(5) == 0)
            .collect();
        let keep: Vec<_> = kept.iter().map(|&(b, l, _)| (b, l)).collect();
        // SAFETY: live blocks with their layouts, each once; the others are
        // not used again.
        unsafe { raw.retain(&keep) };

        let kept_bytes: usize = kept.iter().map(|(_, l, _)| l.size()).sum();
        let stats = raw.stats();
        assert_eq!(raw.size(), kept_bytes, "seed {seed}");
        assert_eq!(stats.live_allocations, kept.len());
        let large: Vec<_> = kept.iter().filter(|(_, l, _)| l.size() > 4096).collect();
        assert_eq!(stats.large_blocks, large.len());
        let large_bytes: usize = large.iter().map(|(_, l, _)| l.size() + 64).sum();
        let any_small = kept
            .iter()
            .any(|(_, l, _)| l.size() > 0 && l.size() <= 4096);
        if !any_small {
            assert_eq!(
                stats.chunks, 0,
                "seed {seed}: no small block kept, no chunk"
            );
            assert!(raw.reserved_bytes() <= large_bytes);
        }
        for &(block, layout, byte) in &kept {
            assert!(
                holds(block, layout, byte),
                "seed {seed}: a kept block changed"
            );
        }
        // The kept blocks are freed one by one, as usual.
        for &(block, layout, _) in &kept {
            // SAFETY: a kept block, live with its layout, freed once.
            unsafe { raw.dealloc(block, layout) };
        }
        assert_eq!((raw.size(), raw.stats().live_allocations), (0, 0));
        assert_eq!(raw.stats().large_blocks, 0);
    }
}

/// Keeping nothing gives every byte back, to the system and to a shared
/// limit, and the engine then serves new requests.
#[test]
fn keeping_nothing_returns_everything_and_the_engine_goes_on() {
    let shared = Arc::new(Shared::new(Some(1 << 20)));
    // SAFETY: the only engine of this group, used by this thread.
    let mut raw = unsafe { RawPool::with_shared(shared.clone()) };
    let layouts = [
        Layout::from_size_align(48, 16).unwrap(),
        Layout::from_size_align(10_000, 16).unwrap(),
    ];
    for layout in layouts.iter().cycle().take(scaled(40, 6)) {
        raw.alloc(*layout).unwrap();
    }
    assert!(shared.reserved() > 0);
    // SAFETY: nothing kept; no block is used again.
    unsafe { raw.retain(&[]) };
    assert_eq!(
        (raw.reserved_bytes(), shared.reserved(), raw.size()),
        (0, 0, 0)
    );
    let block = raw.alloc(layouts[0]).unwrap();
    assert!(holds(block, layouts[0], 0), "a new block is zeroed");
}
