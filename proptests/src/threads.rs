//! Multi-thread mode: a pool shared by 2–4 OS threads, driven by
//! thread-tagged operations and checked against the same model as the
//! single-thread harness.
//!
//! A [`Case`] names how many worker threads it has and a list of
//! [`Step`]s, most of them an [`Op`] of the single-thread language tagged
//! with the worker that makes the call. The thread running the case — the
//! *coordinator* — keeps every live handle and the model. For each step it
//! moves the handle the step needs to the named worker over a channel,
//! waits until that worker has made the pool call, takes the handle back
//! and checks everything [`harness`](crate::harness) checks: contents,
//! zeroed new tails, alignment, no overlap of live blocks, `size()`,
//! `stats().live_allocations`, destructor runs, and what each request
//! returns. The interleaving is therefore fixed by the case (proptest can
//! shrink it), yet every call runs on its own OS thread with that thread's
//! thread-local cache: whenever a step names another worker than the one
//! that allocated a block, it is a cross-thread free or realloc.
//!
//! * [`Step::Retire`] ends a worker — joined, its thread-locals gone — and
//!   starts a fresh thread in its place; the blocks it allocated live on for
//!   its successors to free and resize.
//! * [`Step::Format`] formats the pool with `{:?}` or `{:#?}` on a worker.
//! * `Reset` and `Recreate` need the pool to themselves: they end every
//!   worker, whichever is named, and fresh ones start after.
//!
//! After the steps comes an optional free-running phase
//! ([`Case::free_run`]): the live blocks are dealt out to the workers, and
//! each runs its own list of [`RunOp`]s at the same time as the others, in
//! rounds of [`ROUND`] operations. A block handed to another worker
//! ([`RunOp::Pass`]) reaches it between two rounds, when every worker waits
//! at a barrier, so which block each operation picks does not depend on
//! timing (only, under a limit, on which requests the limit refused). Each
//! worker checks the blocks it touches and judges requests leniently where
//! other threads may have moved the limit; when all are done the
//! coordinator checks the whole model again. Last, every block is freed by
//! the worker after the one that allocated (or last resized) it, and the
//! pool must be empty: `size() == 0`, no live allocation, no large block,
//! every destructor run exactly once — and again after the pool drops.
//!
//! The case runs on a thread of its own, watched by a [`Watchdog`]: a step
//! that makes no progress in time (a deadlock) fails the case rather than
//! hanging the test. The blocked threads are left behind, and so is the
//! pool of any failed case (dropping an engine that panicked half-way is not
//! worth the risk of an abort).
//!
//! ```
//! use arenapool::SyncPool;
//! use arenapool_proptests::ops::{Elem, Op};
//! use arenapool_proptests::threads::{run, Case, Step};
//!
//! let case = Case {
//!     threads: 2,
//!     steps: vec![
//!         Step::On { thread: 0, op: Op::AllocTyped { elem: Elem::U64, len: 3 } },
//!         Step::Retire { thread: 0 },
//!         Step::On { thread: 1, op: Op::Realloc { pick: 0, new_len: 1000 } },
//!         Step::On { thread: 0, op: Op::Free { pick: 0 } },
//!     ],
//!     free_run: vec![],
//! };
//! run::<SyncPool>(&case).unwrap();
//! ```

use std::any::Any;
use std::fmt::Debug;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Barrier};
use std::thread::{self, Scope, ScopedJoinHandle};
use std::time::{Duration, Instant};

use proptest::prelude::*;

use crate::harness::{
    allocated, check, check_block, check_drops, judge, realloc_expect, request, resized,
    write_pattern, Live, Request,
};
use crate::model::{DropLog, Model, ModelBlock};
use crate::ops::{decode_op, op, take, take_word, Op, Sizes};
use crate::target::PoolUnderTest;

/// The most worker threads a case has.
pub const MAX_THREADS: usize = 4;

/// Operations each worker runs between two hand-overs in the free-running
/// phase.
pub const ROUND: usize = 8;

/// One step of the coordinated phase. Thread numbers are taken modulo the
/// case's number of workers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Worker `thread` makes the pool call of `op` (on the coordinator's
    /// handle that `op` picks). `Reset` and `Recreate` end every worker.
    On {
        /// Which worker.
        thread: usize,
        /// What it does.
        op: Op,
    },
    /// Worker `thread` ends (and is joined); a fresh thread takes its place.
    Retire {
        /// Which worker.
        thread: usize,
    },
    /// Worker `thread` formats the pool with `{:?}`, or `{:#?}`.
    Format {
        /// Which worker.
        thread: usize,
        /// `{:#?}` rather than `{:?}`.
        alternate: bool,
    },
}

/// One operation of a worker in the free-running phase, on the blocks it
/// holds (`pick` chooses among them). `Reset` and `Recreate` do nothing
/// there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunOp {
    /// An operation of the single-thread language.
    Op(Op),
    /// Hands one of the worker's blocks to worker `to` (modulo the number of
    /// workers), which takes it at the end of the round.
    Pass {
        /// Which block.
        pick: usize,
        /// To whom.
        to: usize,
    },
}

/// A whole multi-thread test case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Case {
    /// Worker threads (clamped to `1..=MAX_THREADS`).
    pub threads: usize,
    /// The coordinated phase, one call at a time.
    pub steps: Vec<Step>,
    /// The free-running phase: worker `i` runs `free_run[i]`, all at once;
    /// lists past the number of workers are ignored. Runs on the pool as the
    /// steps leave it, unless every list is empty.
    pub free_run: Vec<Vec<RunOp>>,
}

// --- strategies ------------------------------------------------------------

/// What the generated cases contain.
#[derive(Clone, Copy, Debug)]
pub struct Mix {
    /// At most this many steps.
    pub steps: usize,
    /// Whether `Format` steps appear.
    pub format: bool,
    /// At most this many operations per worker in the free-running phase
    /// (0: no such phase).
    pub free_run: usize,
}

impl Mix {
    /// Native runs: long cases, a free-running phase, no formatting.
    pub const NATIVE: Mix = Mix {
        steps: 200,
        format: false,
        free_run: 50,
    };
    /// Miri runs: short ones.
    pub const MIRI: Mix = Mix {
        steps: 16,
        format: false,
        free_run: 6,
    };

    /// The mix for this build.
    pub fn for_build() -> Mix {
        if cfg!(miri) {
            Mix::MIRI
        } else {
            Mix::NATIVE
        }
    }
}

/// One step: mostly operations, on any of the threads.
pub fn step(sizes: Sizes, format: bool) -> BoxedStrategy<Step> {
    let on = (0..MAX_THREADS, op(sizes)).prop_map(|(thread, op)| Step::On { thread, op });
    let retire = (0..MAX_THREADS).prop_map(|thread| Step::Retire { thread });
    if format {
        let format = (0..MAX_THREADS, any::<bool>())
            .prop_map(|(thread, alternate)| Step::Format { thread, alternate });
        prop_oneof![88 => on, 6 => retire, 6 => format].boxed()
    } else {
        prop_oneof![94 => on, 6 => retire].boxed()
    }
}

/// One operation of the free-running phase.
pub fn run_op(sizes: Sizes) -> impl Strategy<Value = RunOp> {
    prop_oneof![
        9 => op(sizes).prop_map(RunOp::Op),
        1 => (any::<usize>(), 0..MAX_THREADS).prop_map(|(pick, to)| RunOp::Pass { pick, to }),
    ]
}

/// A case of 2 to [`MAX_THREADS`] workers.
pub fn case(sizes: Sizes, mix: Mix) -> impl Strategy<Value = Case> {
    let free_run = if mix.free_run == 0 {
        Just(Vec::new()).boxed()
    } else {
        prop::collection::vec(
            prop::collection::vec(run_op(sizes), 0..=mix.free_run),
            0..=MAX_THREADS,
        )
        .boxed()
    };
    (
        2..=MAX_THREADS,
        prop::collection::vec(step(sizes, mix.format), 0..=mix.steps),
        free_run,
    )
        .prop_map(|(threads, steps, free_run)| Case {
            threads,
            steps,
            free_run,
        })
}

/// Decodes raw bytes (a fuzzer's input) into a case: every byte string is
/// one.
///
/// The first byte gives the workers (`2 + b % 3`). Then each step starts
/// with a byte `t` naming worker `t & 3`; by `t >> 4`: 0 to 12, an
/// operation that [`decode_op`] reads from the following bytes; 13,
/// `Retire`; 14, `Format` (`{:#?}` if `t & 4`); 15 ends the steps, and the
/// rest is the free-running phase: for each operation a byte `w` naming
/// worker `w & 3`, then, if `w >> 4` is 15, `Pass` of a little-endian `u16`
/// pick to worker `(w >> 2) & 3`, else an operation of `decode_op`.
pub fn decode_case(mut data: &[u8], sizes: Sizes) -> Case {
    let [t] = take::<1>(&mut data);
    let threads = 2 + t as usize % (MAX_THREADS - 1);
    let mut steps = Vec::new();
    let mut free_running = false;
    while !data.is_empty() && !free_running {
        let [t] = take::<1>(&mut data);
        let thread = usize::from(t & 3);
        match t >> 4 {
            0..=12 => steps.push(Step::On {
                thread,
                op: decode_op(&mut data, sizes),
            }),
            13 => steps.push(Step::Retire { thread }),
            14 => steps.push(Step::Format {
                thread,
                alternate: t & 4 != 0,
            }),
            _ => free_running = true,
        }
    }
    let mut free_run = vec![Vec::new(); if free_running { threads } else { 0 }];
    while !data.is_empty() {
        let [w] = take::<1>(&mut data);
        let op = if w >> 4 == 15 {
            RunOp::Pass {
                pick: take_word(&mut data),
                to: usize::from((w >> 2) & 3),
            }
        } else {
            RunOp::Op(decode_op(&mut data, sizes))
        };
        free_run[usize::from(w & 3) % threads].push(op);
    }
    Case {
        threads,
        steps,
        free_run,
    }
}

// --- the watchdog ----------------------------------------------------------

/// How long a case may go without progress before it counts as hung.
#[derive(Clone, Copy, Debug)]
pub struct Watchdog {
    /// The longest one step (or the whole free-running phase, or freeing
    /// everything at the end) may take.
    pub step: Duration,
    /// The longest the whole case may take.
    pub case: Duration,
}

impl Watchdog {
    /// Native runs: a step takes microseconds; two seconds is a hang even
    /// on a loaded machine, and keeps the shrinking of a hang short.
    pub const NATIVE: Watchdog = Watchdog {
        step: Duration::from_secs(2),
        case: Duration::from_secs(120),
    };
    /// Miri runs, on Miri's clock: interpretation is slow, and when every
    /// thread is blocked Miri moves its clock straight to the timeout.
    pub const MIRI: Watchdog = Watchdog {
        step: Duration::from_secs(600),
        case: Duration::from_secs(6000),
    };

    /// The watchdog for this build.
    pub fn for_build() -> Watchdog {
        if cfg!(miri) {
            Watchdog::MIRI
        } else {
            Watchdog::NATIVE
        }
    }
}

/// Where a case is, as the coordinator reports it to the watchdog.
#[derive(Clone, Copy, Debug)]
enum Phase {
    Step(usize),
    FreeRun,
    FreeAll,
    Drop,
}

impl Phase {
    fn describe(self, case: &Case) -> String {
        match self {
            Phase::Step(n) => format!("step {n} ({:?})", case.steps[n]),
            Phase::FreeRun => "the free-running phase".into(),
            Phase::FreeAll => "freeing every block at the end".into(),
            Phase::Drop => "dropping the pool".into(),
        }
    }
}

enum Event {
    At(Phase),
    Done(Result<(), String>),
}

/// Runs `case` against a fresh `P` and the model, under
/// [`Watchdog::for_build`].
///
/// # Errors
///
/// A description of the first disagreement, panic or hang.
pub fn run<P>(case: &Case) -> Result<(), String>
where
    P: PoolUnderTest + Sync + Debug + 'static,
{
    run_with::<P>(case, Watchdog::for_build())
}

/// [`run`] under `watchdog`.
///
/// # Errors
///
/// As [`run`].
pub fn run_with<P>(case: &Case, watchdog: Watchdog) -> Result<(), String>
where
    P: PoolUnderTest + Sync + Debug + 'static,
{
    let (events, watch) = mpsc::channel();
    let owned = case.clone();
    let coordinator = thread::Builder::new()
        .name("coordinator".into())
        .spawn(move || {
            let verdict = run_case::<P>(&owned, &events);
            let _ = events.send(Event::Done(verdict));
        })
        .map_err(|e| format!("cannot start the coordinator: {e}"))?;
    let start = Instant::now();
    let mut at = String::from("the start");
    loop {
        let left = watchdog.case.saturating_sub(start.elapsed());
        match watch.recv_timeout(watchdog.step.min(left)) {
            Ok(Event::At(phase)) => at = phase.describe(case),
            Ok(Event::Done(verdict)) => {
                let _ = coordinator.join();
                return verdict;
            }
            Err(RecvTimeoutError::Timeout) => {
                let why = if left <= watchdog.step {
                    format!("the case took longer than {:?}", watchdog.case)
                } else {
                    format!("no progress for {:?}", watchdog.step)
                };
                return Err(format!(
                    "{} with {} threads hung at {at}: {why} ({:?} into the case); a deadlock? \
                     Its threads are left blocked.",
                    P::NAME,
                    case.threads,
                    start.elapsed(),
                ));
            }
            Err(RecvTimeoutError::Disconnected) => {
                return Err(match coordinator.join() {
                    Err(payload) => format!("the coordinator panicked: {}", message(&*payload)),
                    Ok(()) => "the coordinator ended without a verdict".into(),
                })
            }
        }
    }
}

fn message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(a panic without a message)".into()
    }
}

// --- the coordinator -------------------------------------------------------

fn run_case<P: PoolUnderTest + Sync + Debug>(
    case: &Case,
    events: &Sender<Event>,
) -> Result<(), String> {
    let threads = case.threads.clamp(1, MAX_THREADS);
    let log = Arc::new(DropLog::default());
    let mut model = Model::new(None);
    let mut pool = P::create(None);
    // A failed case leaves its pool allocated: after a panic in the engine
    // its state is not worth dropping.
    let fail = |pool: P, e: String| {
        std::mem::forget(pool);
        Err(e)
    };
    let mut first = 0;
    loop {
        let ran = thread::scope(|scope| {
            let context = Context {
                case,
                log: &log,
                events,
            };
            Segment::start(scope, &pool, threads, &mut model, context)?.run(first)
        });
        match ran {
            Ok(ran) => first += ran,
            Err(e) => return fail(pool, e),
        }
        let Some(step) = case.steps.get(first) else {
            break;
        };
        let _ = events.send(Event::At(Phase::Step(first)));
        match step {
            Step::On { op: Op::Reset, .. } => pool.reset(),
            &Step::On {
                op: Op::Recreate { limit },
                ..
            } => {
                drop(std::mem::replace(&mut pool, P::create(limit)));
                model.limit = limit;
            }
            _ => unreachable!("a segment stops only at Reset and Recreate"),
        }
        model.free_all();
        let stats = pool.stats();
        let e = |e: String| format!("{} step {first} ({step:?}): {e}", P::NAME);
        if stats.live_allocations != 0
            || pool.size() != 0
            || stats.free_list_bytes != 0
            || stats.large_blocks != 0
        {
            return fail(pool, e(format!("pool not empty after it: {stats:?}")));
        }
        if let Err(why) = check_drops(&model, &log) {
            return fail(pool, e(why));
        }
        first += 1;
    }
    let _ = events.send(Event::At(Phase::Drop));
    drop(pool);
    model.free_all();
    check_drops(&model, &log).map_err(|e| format!("{} after dropping the pool: {e}", P::NAME))
}

/// What every segment of a case shares.
struct Context<'c> {
    case: &'c Case,
    log: &'c Arc<DropLog>,
    events: &'c Sender<Event>,
}

type Job<'p> = Box<dyn FnOnce() + Send + 'p>;

/// A worker thread: it runs the jobs it is sent, one after the other.
struct Worker<'s, 'p> {
    name: String,
    jobs: Sender<Job<'p>>,
    thread: ScopedJoinHandle<'s, ()>,
}

impl<'s, 'p: 's> Worker<'s, 'p> {
    fn spawn(scope: &'s Scope<'s, '_>, name: String) -> Result<Self, String> {
        let (jobs, queue) = mpsc::channel::<Job<'p>>();
        let thread = thread::Builder::new()
            .name(name.clone())
            .spawn_scoped(scope, move || {
                for job in queue {
                    job();
                }
            })
            .map_err(|e| format!("cannot start {name}: {e}"))?;
        Ok(Worker { name, jobs, thread })
    }

    /// Starts `f` on this worker; its result, or its panic's message,
    /// arrives on the receiver.
    fn start<R: Send + 'p>(
        &self,
        f: impl FnOnce() -> R + Send + 'p,
    ) -> Receiver<Result<R, String>> {
        let (reply, result) = mpsc::sync_channel(1);
        let _ = self.jobs.send(Box::new(move || {
            let _ = reply.send(panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| message(&*p)));
        }));
        result
    }

    /// Waits for a result of [`start`](Self::start).
    fn finish<R>(&self, result: Receiver<Result<R, String>>) -> Result<R, String> {
        match result.recv() {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(panic)) => Err(format!("thread '{}' panicked: {panic}", self.name)),
            Err(_) => Err(format!("thread '{}' is gone", self.name)),
        }
    }

    /// Runs `f` on this worker and waits for it.
    fn call<R: Send + 'p>(&self, f: impl FnOnce() -> R + Send + 'p) -> Result<R, String> {
        let result = self.start(f);
        self.finish(result)
    }

    /// Ends the thread and waits until it has (thread-locals destroyed).
    fn retire(self) {
        drop(self.jobs);
        let _ = self.thread.join();
    }
}

/// A run of steps between two `Reset`/`Recreate`s, with its own workers
/// (they borrow the pool, which those two need to themselves).
struct Segment<'s, 'e, 'p, 'c, P> {
    scope: &'s Scope<'s, 'e>,
    pool: &'p P,
    workers: Vec<Worker<'s, 'p>>,
    /// Threads started in each worker's place so far.
    generations: Vec<usize>,
    /// The live handles, in the order of `model.blocks`.
    live: Vec<Live<'p>>,
    /// For each live handle, the worker that allocated or last resized it.
    origins: Vec<usize>,
    model: &'c mut Model,
    context: Context<'c>,
}

fn worker_name(slot: usize, generation: usize) -> String {
    format!("worker {slot}.{generation}")
}

impl<'s, 'e, 'p: 's, 'c, P: PoolUnderTest + Sync + Debug> Segment<'s, 'e, 'p, 'c, P> {
    fn start(
        scope: &'s Scope<'s, 'e>,
        pool: &'p P,
        threads: usize,
        model: &'c mut Model,
        context: Context<'c>,
    ) -> Result<Self, String> {
        let workers = (0..threads)
            .map(|slot| Worker::spawn(scope, worker_name(slot, 0)))
            .collect::<Result<_, _>>()?;
        Ok(Segment {
            scope,
            pool,
            workers,
            generations: vec![0; threads],
            live: Vec::new(),
            origins: Vec::new(),
            model,
            context,
        })
    }

    /// Runs the steps from `first` until a `Reset` or `Recreate` or the end
    /// of the case (and then the free-running phase and the final frees);
    /// returns how many steps it ran.
    fn run(mut self, first: usize) -> Result<usize, String> {
        let case = self.context.case;
        let threads = self.workers.len();
        for (n, step) in case.steps.iter().enumerate().skip(first) {
            let _ = self.context.events.send(Event::At(Phase::Step(n)));
            let go_on = self.step(step).map_err(|e| {
                format!(
                    "{} with {threads} threads, step {n} ({step:?}): {e}",
                    P::NAME
                )
            })?;
            if !go_on {
                return Ok(n - first);
            }
        }
        let _ = self.context.events.send(Event::At(Phase::FreeRun));
        self.free_run()
            .map_err(|e| format!("{} with {threads} threads, free-running: {e}", P::NAME))?;
        let _ = self.context.events.send(Event::At(Phase::FreeAll));
        self.free_all().map_err(|e| {
            format!(
                "{} with {threads} threads, freeing every block: {e}",
                P::NAME
            )
        })?;
        Ok(case.steps.len() - first)
    }

    /// Runs one step; `false` for a `Reset` or `Recreate` (not run here).
    fn step(&mut self, step: &Step) -> Result<bool, String> {
        let threads = self.workers.len();
        match *step {
            Step::On {
                op: Op::Reset | Op::Recreate { .. },
                ..
            } => return Ok(false),
            Step::On { thread, ref op } => self.on(thread % threads, op)?,
            Step::Retire { thread } => self.retire(thread % threads)?,
            Step::Format { thread, alternate } => self.format(thread % threads, alternate)?,
        }
        check(self.pool, &self.live, self.model, self.context.log)?;
        Ok(true)
    }

    /// Worker `t` makes the call of `op`.
    fn on(&mut self, t: usize, op: &Op) -> Result<(), String> {
        let pool = self.pool;
        let worker = &self.workers[t];
        let model = &mut *self.model;
        let live = &mut self.live;
        let before = pool.stats();
        match *op {
            Op::Alloc { .. } | Op::AllocTyped { .. } | Op::AllocValue => {
                let Request { call, expect, kind } =
                    request(op, model, self.context.log, before.reserved_bytes)
                        .expect("an allocating operation");
                let result = worker.call(move || call.run(pool))?;
                allocated(result, expect, kind, live, model)?;
                self.origins.resize(live.len(), t);
            }
            Op::Free { pick } => {
                if !live.is_empty() {
                    let i = pick % live.len();
                    let handle = live.swap_remove(i);
                    self.origins.swap_remove(i);
                    worker.call(move || handle.free(pool))?;
                    model.swap_free(i);
                }
            }
            Op::Realloc { pick, new_len } => {
                if !live.is_empty() {
                    let i = pick % live.len();
                    let (expect, elem_size) = realloc_expect(
                        &model.blocks[i],
                        new_len,
                        model.limit,
                        before.reserved_bytes,
                    );
                    let mut handle = take_out(live, i);
                    let (handle, result) = worker.call(move || {
                        let result = handle.try_realloc(pool, new_len);
                        (handle, result)
                    })?;
                    put_back(live, i, handle);
                    if let Some(result) = result {
                        judge(&expect, &result)?;
                        if result.is_ok() {
                            resized(&mut model.blocks[i], new_len, elem_size);
                            self.origins[i] = t;
                        } else if pool.stats() != before {
                            return Err(format!(
                                "a failed realloc changed the pool: {before:?} -> {:?}",
                                pool.stats()
                            ));
                        }
                    }
                }
            }
            Op::Write { pick, seed } => {
                if !live.is_empty() {
                    let i = pick % live.len();
                    let bytes = write_pattern(&mut model.blocks[i], seed).to_vec();
                    let mut handle = take_out(live, i);
                    let handle = worker.call(move || {
                        handle.bytes_mut().copy_from_slice(&bytes);
                        handle
                    })?;
                    put_back(live, i, handle);
                }
            }
            Op::Reset | Op::Recreate { .. } => unreachable!("run by the coordinator"),
        }
        Ok(())
    }

    /// Ends worker `t` and starts a fresh thread in its place.
    fn retire(&mut self, t: usize) -> Result<(), String> {
        self.generations[t] += 1;
        let fresh = Worker::spawn(self.scope, worker_name(t, self.generations[t]))?;
        std::mem::replace(&mut self.workers[t], fresh).retire();
        Ok(())
    }

    /// Worker `t` formats the pool.
    fn format(&mut self, t: usize, alternate: bool) -> Result<(), String> {
        let pool = self.pool;
        let text = self.workers[t].call(move || {
            if alternate {
                format!("{pool:#?}")
            } else {
                format!("{pool:?}")
            }
        })?;
        if !text.starts_with(P::NAME) || (alternate && !text.contains('\n')) {
            return Err(format!("unexpected formatting: {text:?}"));
        }
        Ok(())
    }

    /// The free-running phase: the live blocks dealt out, every worker on
    /// its own list at once; then the whole model checked.
    fn free_run(&mut self) -> Result<(), String> {
        let n = self.workers.len();
        let lists = &self.context.case.free_run[..self.context.case.free_run.len().min(n)];
        let rounds = lists
            .iter()
            .map(|l| l.len().div_ceil(ROUND))
            .max()
            .unwrap_or(0);
        if rounds == 0 {
            return Ok(());
        }
        let mut hands: Vec<Hand<'p>> = (0..n).map(|w| Hand::new(self.model.fork(w))).collect();
        let blocks = self.live.drain(..).zip(self.model.blocks.drain(..));
        for (j, ((handle, block), origin)) in blocks.zip(self.origins.drain(..)).enumerate() {
            hands[j % n].push((handle, block, origin));
        }
        let (posts, inboxes): (Vec<_>, Vec<_>) = (0..n).map(|_| mpsc::channel()).unzip();
        let barrier = Arc::new(Barrier::new(n));
        let limited = self.model.limit.is_some();
        let pending: Vec<_> = hands
            .into_iter()
            .zip(inboxes)
            .enumerate()
            .map(|(w, (hand, inbox))| {
                let worker = Lane {
                    w,
                    ops: lists.get(w).cloned().unwrap_or_default(),
                    rounds,
                    inbox,
                    posts: posts.clone(),
                    barrier: barrier.clone(),
                    log: self.context.log.clone(),
                    limited,
                };
                let pool = self.pool;
                self.workers[w].start(move || hand.run(pool, worker))
            })
            .collect();
        drop(posts);
        let mut failure = None;
        for (w, result) in pending.into_iter().enumerate() {
            match self.workers[w].finish(result) {
                Ok(Ok(hand)) => {
                    self.live.extend(hand.live);
                    self.origins.extend(hand.origins);
                    self.model.join(hand.model);
                }
                Ok(Err(e)) | Err(e) => {
                    failure.get_or_insert(e);
                }
            }
        }
        match failure {
            Some(e) => Err(e),
            None => check(self.pool, &self.live, self.model, self.context.log),
        }
    }

    /// Frees every live block, each on the worker after the one that
    /// allocated or last resized it; then the pool must be empty.
    fn free_all(&mut self) -> Result<(), String> {
        let n = self.workers.len();
        let mut batches: Vec<Vec<Live<'p>>> = (0..n).map(|_| Vec::new()).collect();
        for (handle, origin) in self.live.drain(..).zip(self.origins.drain(..)) {
            batches[(origin + 1) % n].push(handle);
        }
        self.model.free_all();
        for (worker, batch) in self.workers.iter().zip(batches) {
            let pool = self.pool;
            worker.call(move || batch.into_iter().for_each(|handle| handle.free(pool)))?;
        }
        check(self.pool, &self.live, self.model, self.context.log)?;
        let stats = self.pool.stats();
        if stats.large_blocks != 0 {
            return Err(format!("large blocks left with nothing live: {stats:?}"));
        }
        Ok(())
    }
}

impl<P> Drop for Segment<'_, '_, '_, '_, P> {
    /// Joins every worker: `thread::scope` alone returns once their
    /// closures end, which may be before their thread-locals are destroyed
    /// (and so before the pool sees their caches released).
    fn drop(&mut self) {
        self.workers.drain(..).for_each(Worker::retire);
    }
}

/// Takes the handle at `i` out of `live`; [`put_back`] restores the order.
fn take_out<'p>(live: &mut Vec<Live<'p>>, i: usize) -> Live<'p> {
    live.swap_remove(i)
}

fn put_back<'p>(live: &mut Vec<Live<'p>>, i: usize, handle: Live<'p>) {
    live.push(handle);
    let last = live.len() - 1;
    live.swap(i, last);
}

// --- a worker in the free-running phase ------------------------------------

/// A live block on its way between workers: handle, model, origin.
type Block<'p> = (Live<'p>, ModelBlock, usize);

/// What a worker needs in the free-running phase besides its blocks.
struct Lane<'p> {
    /// Which worker.
    w: usize,
    ops: Vec<RunOp>,
    /// Rounds every worker goes through (the longest list's).
    rounds: usize,
    inbox: Receiver<Block<'p>>,
    posts: Vec<Sender<Block<'p>>>,
    barrier: Arc<Barrier>,
    log: Arc<DropLog>,
    limited: bool,
}

/// The blocks a worker holds in the free-running phase, with its own model.
struct Hand<'p> {
    live: Vec<Live<'p>>,
    origins: Vec<usize>,
    model: Model,
}

impl<'p> Hand<'p> {
    fn new(model: Model) -> Self {
        Hand {
            live: Vec::new(),
            origins: Vec::new(),
            model,
        }
    }

    fn push(&mut self, (handle, block, origin): Block<'p>) {
        self.live.push(handle);
        self.model.blocks.push(block);
        self.origins.push(origin);
    }

    fn remove(&mut self, i: usize) -> Block<'p> {
        (
            self.live.swap_remove(i),
            self.model.blocks.swap_remove(i),
            self.origins.swap_remove(i),
        )
    }

    /// Runs the lane's list, round by round, taking the blocks handed to
    /// this worker between rounds. After a failure it runs nothing more but
    /// still meets the others at every barrier, so that they finish.
    fn run<P: PoolUnderTest>(mut self, pool: &'p P, lane: Lane<'p>) -> Result<Self, String> {
        let mut failure = None;
        let me = thread::current().name().unwrap_or("a worker").to_owned();
        lane.barrier.wait();
        for round in 0..lane.rounds {
            let ops = lane.ops.iter().enumerate().skip(round * ROUND).take(ROUND);
            for (k, run_op) in ops {
                if failure.is_some() {
                    break;
                }
                let outcome =
                    panic::catch_unwind(AssertUnwindSafe(|| self.step(pool, run_op, &lane)))
                        .unwrap_or_else(|p| {
                            Err(format!("thread '{me}' panicked: {}", message(&*p)))
                        });
                if let Err(e) = outcome {
                    failure = Some(format!(
                        "worker {}, operation {k} ({run_op:?}): {e}",
                        lane.w
                    ));
                }
            }
            // Every hand-over of the round is sent before anyone takes one,
            // and taken before anyone sends the next round's.
            lane.barrier.wait();
            lane.inbox.try_iter().for_each(|block| self.push(block));
            lane.barrier.wait();
        }
        failure.map_or(Ok(self), Err)
    }

    fn step<P: PoolUnderTest>(
        &mut self,
        pool: &'p P,
        run_op: &RunOp,
        lane: &Lane<'p>,
    ) -> Result<(), String> {
        match *run_op {
            RunOp::Pass { pick, to } => {
                if !self.live.is_empty() {
                    let block = self.remove(pick % self.live.len());
                    let post = &lane.posts[to % lane.posts.len()];
                    if let Err(mpsc::SendError(block)) = post.send(block) {
                        self.push(block);
                    }
                }
                Ok(())
            }
            RunOp::Op(ref op) => self.apply(pool, op, lane),
        }
    }

    /// One operation on this worker's blocks, checking the block it touches.
    fn apply<P: PoolUnderTest>(
        &mut self,
        pool: &'p P,
        op: &Op,
        lane: &Lane<'p>,
    ) -> Result<(), String> {
        let (live, model, limited) = (&mut self.live, &mut self.model, lane.limited);
        let touched = match *op {
            Op::Reset | Op::Recreate { .. } => None,
            Op::Alloc { .. } | Op::AllocTyped { .. } | Op::AllocValue => {
                let reserved = pool.stats().reserved_bytes;
                let Request { call, expect, kind } =
                    request(op, model, &lane.log, reserved).expect("an allocating operation");
                let before = live.len();
                allocated(
                    call.run(pool),
                    expect.concurrent(limited),
                    kind,
                    live,
                    model,
                )?;
                self.origins.resize(live.len(), lane.w);
                (live.len() > before).then_some(before)
            }
            Op::Free { pick } => {
                if !live.is_empty() {
                    let i = pick % live.len();
                    live.swap_remove(i).free(pool);
                    self.origins.swap_remove(i);
                    model.swap_free(i);
                }
                None
            }
            Op::Realloc { pick, new_len } => (!live.is_empty())
                .then(|| {
                    let i = pick % live.len();
                    let reserved = pool.stats().reserved_bytes;
                    let (expect, elem_size) =
                        realloc_expect(&model.blocks[i], new_len, model.limit, reserved);
                    if let Some(result) = live[i].try_realloc(pool, new_len) {
                        judge(&expect.concurrent(limited), &result)?;
                        if result.is_ok() {
                            resized(&mut model.blocks[i], new_len, elem_size);
                            self.origins[i] = lane.w;
                        }
                    }
                    Ok::<_, String>(i)
                })
                .transpose()?,
            Op::Write { pick, seed } => (!live.is_empty()).then(|| {
                let i = pick % live.len();
                let bytes = write_pattern(&mut model.blocks[i], seed);
                live[i].bytes_mut().copy_from_slice(bytes);
                i
            }),
        };
        match touched {
            Some(i) => check_block(i, &live[i], &model.blocks[i]).map(drop),
            None => Ok(()),
        }
    }
}
