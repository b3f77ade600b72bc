// Handles (and `Pool` itself) are `Send`: a handle can go to a scoped thread
// while the pool stays with its owner, and a pool can move to another thread.
use arenapool::{Handle, Pool};

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}

fn main() {
    assert_send::<Pool>();
    assert_send::<Handle<'static, [u8]>>();
    assert_sync::<Handle<'static, [u8]>>();
    assert_send::<Handle<'static, String>>();

    let pool = Pool::new();
    let mut block = pool.alloc(4, 4);
    std::thread::scope(|s| {
        s.spawn(|| block.fill(1));
    });
    assert!(block.iter().all(|&b| b == 1));
    pool.free(block);
    std::thread::spawn(move || drop(pool)).join().unwrap();
}
