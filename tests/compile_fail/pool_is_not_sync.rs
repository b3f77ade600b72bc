// `Pool` is `Send` but not `Sync`: two threads cannot allocate through it.
use arenapool::Pool;

fn assert_sync<T: Sync>() {}

fn main() {
    assert_sync::<Pool>();
}
