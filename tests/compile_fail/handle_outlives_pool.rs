// A handle cannot outlive the pool that made it.
use arenapool::Pool;

fn main() {
    let handle;
    {
        let pool = Pool::new();
        handle = pool.alloc(1, 8);
    }
    assert_eq!(handle.len(), 8);
}
