// A value whose destructor could see other pool data (it borrows from the
// pool) cannot be handed to the destructor-tracked `alloc_value`.
use arenapool::Pool;

struct Reader<'a>(&'a str);

impl Drop for Reader<'_> {
    fn drop(&mut self) {
        println!("{}", self.0); // might read a value the pool already dropped
    }
}

fn main() {
    let pool = Pool::new();
    let text = pool.alloc_str("borrowed").into_mut();
    let _reader = pool.alloc_value(Reader(text));
}
