//! Simulation throughput of the mm_cid model at the latest kernel, at 64 and 256 CPUs.
//!
//! `cargo bench -p mmcid-model --bench simulate`. Items are simulation steps, so divan's
//! throughput column is steps per second. Each sample is one run of the `thread-pool` workload
//! (4 threads per CPU) with the invariants checked after every step, as `mmcid simulate` does
//! by default: `*_ramp` from one thread (the pool grows during the run), `*_full` with the
//! whole pool created in the initial state, `*_init` the initial state alone (0 steps, one
//! item).

use mmcid_checker::SimConfig;
use mmcid_model::sim::{default_watchdog, run, Workload};
use mmcid_model::{KernelVersion, MmCidModel, Stage};

fn main() {
    divan::main();
}

fn bench(bencher: divan::Bencher, cpus: usize, steps: u64, workload: Workload, full: bool) {
    let threads = workload.default_threads(cpus);
    let mut scenario = workload.scenario(KernelVersion::new(Stage::B5), cpus, threads);
    if full {
        // The pool exists from the start (created before the timed loop's first step, but
        // inside it: see the `_init` benchmarks for that part).
        scenario.initial_threads = threads;
    }
    let model = MmCidModel::new(scenario).unwrap();
    let config = SimConfig {
        seed: 1,
        steps,
        watchdog: default_watchdog(cpus),
        ..SimConfig::default()
    };
    bencher
        .counter(divan::counter::ItemsCount::new(steps.max(1)))
        .bench(|| {
            let (report, metrics) = run(&model, workload, &config, None);
            assert_eq!(report.steps, steps);
            metrics
        });
}

/// 8 CPUs, 32 threads, 20 000 steps from one thread.
#[divan::bench(sample_count = 5)]
fn thread_pool_8_cpus_ramp(bencher: divan::Bencher) {
    bench(bencher, 8, 20_000, Workload::ThreadPool, false);
}

/// 64 CPUs, 256 threads, 4 000 steps from one thread.
#[divan::bench(sample_count = 3)]
fn thread_pool_64_cpus_ramp(bencher: divan::Bencher) {
    bench(bencher, 64, 4_000, Workload::ThreadPool, false);
}

/// 64 CPUs, 256 threads from the start, 2 000 steps.
#[divan::bench(sample_count = 3)]
fn thread_pool_64_cpus_full(bencher: divan::Bencher) {
    bench(bencher, 64, 2_000, Workload::ThreadPool, true);
}

/// 64 CPUs, 256 threads: the initial state alone.
#[divan::bench(sample_count = 3)]
fn thread_pool_64_cpus_init(bencher: divan::Bencher) {
    bench(bencher, 64, 0, Workload::ThreadPool, true);
}

/// 256 CPUs, 1024 threads, 1 000 steps from one thread.
#[divan::bench(sample_count = 3)]
fn thread_pool_256_cpus_ramp(bencher: divan::Bencher) {
    bench(bencher, 256, 1_000, Workload::ThreadPool, false);
}

/// 256 CPUs, 1024 threads from the start, 300 steps.
#[divan::bench(sample_count = 3)]
fn thread_pool_256_cpus_full(bencher: divan::Bencher) {
    bench(bencher, 256, 300, Workload::ThreadPool, true);
}

/// 256 CPUs, 1024 threads: the initial state alone.
#[divan::bench(sample_count = 3)]
fn thread_pool_256_cpus_init(bencher: divan::Bencher) {
    bench(bencher, 256, 0, Workload::ThreadPool, true);
}
