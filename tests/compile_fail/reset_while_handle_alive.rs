// `reset` needs the pool exclusively: not while a handle borrows it.
use arenapool::Pool;

fn main() {
    let mut pool = Pool::new();
    let handle = pool.alloc(1, 8);
    pool.reset();
    assert_eq!(handle.len(), 8);
}
