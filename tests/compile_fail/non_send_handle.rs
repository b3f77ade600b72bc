// A handle is `Send` only when its value is.
use arenapool::{Handle, Pool};

fn assert_send<T: Send>(_: &T) {}

fn main() {
    let pool = Pool::new();
    let raw: Handle<'_, *const u8> = pool.alloc_copy(std::ptr::null());
    assert_send(&raw);
}
