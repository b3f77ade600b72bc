// The pool is `Send` and runs destructors wherever it drops, so values it
// must drop have to be `Send`.
use arenapool::Pool;
use std::rc::Rc;

fn main() {
    let pool = Pool::new();
    let _shared = pool.alloc_value(Rc::new(1));
}
