//! `{:?}` and `{:#?}` of every public type (review defect 3: `SyncPool`'s
//! `Debug` held its cache lock while `stats()` took it again, and hung).

use std::sync::mpsc;
use std::time::Duration;

use arenapool::{AllocError, Pool, SyncPool};

/// Formats on another thread so that a deadlock fails the test instead of
/// hanging it.
fn format_within_a_deadline(f: impl FnOnce() -> Vec<String> + Send + 'static) -> Vec<String> {
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(f());
    });
    result
        .recv_timeout(Duration::from_secs(if cfg!(miri) { 600 } else { 20 }))
        .expect("formatting did not finish: a lock is taken twice")
}

fn both(value: &dyn std::fmt::Debug) -> [String; 2] {
    [format!("{value:?}"), format!("{value:#?}")]
}

#[test]
fn sync_pool_formats_without_deadlock() {
    let texts = format_within_a_deadline(|| {
        let pool = SyncPool::with_limit(1 << 20);
        let block = pool.alloc(3, 8);
        std::thread::scope(|s| {
            s.spawn(|| pool.alloc(1, 16));
        });
        let mut texts = both(&pool).to_vec();
        texts.extend(both(&block));
        texts.extend(both(&pool.stats()));
        texts
    });
    assert!(texts[0].starts_with("SyncPool {"), "{}", texts[0]);
    assert!(texts[0].contains("limit: Some(1048576)"), "{}", texts[0]);
    assert!(texts[0].contains("caches: 2"), "{}", texts[0]);
    assert!(texts[0].contains("live_bytes: 40"), "{}", texts[0]);
    assert!(texts[1].contains("\n    stats: Stats {\n"), "{}", texts[1]);
    assert_eq!(texts[2], format!("{:?}", [0u8; 24]));
    assert!(texts[4].starts_with("Stats { live_allocations: 2, live_bytes: 40,"));
}

#[test]
fn pool_handles_stats_and_errors_format() {
    let pool = Pool::with_limit(4096);
    let text = pool.alloc_str("Vocab");
    let ids = pool.alloc_slice_copy(&[1u32, 2]);
    let [short, long] = both(&pool);
    assert!(
        short.starts_with("Pool { limit: Some(4096), stats: Stats {"),
        "{short}"
    );
    assert!(
        long.contains("\n    limit: Some(\n        4096,\n    ),\n"),
        "{long}"
    );
    assert_eq!(
        both(&text),
        ["\"Vocab\"".to_owned(), "\"Vocab\"".to_owned()]
    );
    assert_eq!(both(&ids)[0], "[1, 2]");
    let stats = pool.stats();
    assert_eq!(both(&stats)[0], format!("{stats:?}"));
    assert!(both(&stats)[1].contains("\n    live_bytes: 13,\n"));
    let error = pool.try_alloc(1 << 20, 1).unwrap_err();
    assert!(matches!(error, AllocError::LimitExceeded { .. }));
    let [short, long] = both(&error);
    assert!(short.starts_with("LimitExceeded { requested:"), "{short}");
    assert!(long.contains("limit: 4096"), "{long}");
    assert_eq!(format!("{:?}", AllocError::ForeignHandle), "ForeignHandle");
}
