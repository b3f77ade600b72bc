// A reference from `into_mut` lives no longer than the pool's borrow.
use arenapool::Pool;

fn main() {
    let mut pool = Pool::new();
    let value: &mut u64 = pool.alloc_copy(1u64).into_mut();
    pool.reset();
    *value = 2;
}
