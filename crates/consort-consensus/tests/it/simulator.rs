//! Many seeds of the deterministic simulator. `CONSORT_SIM_SEEDS` sets how many (default
//! 3000); `CONSORT_SIM_SEED=n` replays one seed exactly. Seeds vary the engine's
//! batching and how many committed entries it holds, so leaders also catch followers up
//! from entries read back from their durable logs.

use consort_consensus::sim::Sim;

#[test]
fn safety_and_liveness_across_seeds() {
    let seeds: Vec<u64> = match std::env::var("CONSORT_SIM_SEED") {
        Ok(s) => vec![s.parse().expect("CONSORT_SIM_SEED is a number")],
        Err(_) => {
            let n: u64 = std::env::var("CONSORT_SIM_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(3000);
            (0..n).collect()
        }
    };
    let mut committed = 0;
    let mut views = 0;
    let mut stored_reads = 0;
    let mut reading_seeds = 0;
    for seed in &seeds {
        let mut sim = Sim::new(*seed);
        match sim.run() {
            Ok(r) => {
                committed += r.committed;
                views += r.views;
                stored_reads += r.stored_reads;
                reading_seeds += u64::from(r.stored_reads > 0);
            }
            Err(v) => panic!(
                "{} violated at step {}: {}\nreproduce: CONSORT_SIM_SEED={seed} cargo test -p consort-consensus --test it simulator\nconfig: {:?}",
                v.property, v.step, v.detail, sim.cfg
            ),
        }
    }
    assert!(
        committed > seeds.len() as u64 * 10,
        "the simulated clusters committed work: {committed}"
    );
    assert!(views > seeds.len() as u64, "elections happened: {views}");
    // Bounded logs: lagging followers were caught up from entries the leader had stopped
    // holding, in a good share of the seeds (a single seed may not lag).
    if seeds.len() >= 100 {
        assert!(
            reading_seeds * 10 > seeds.len() as u64,
            "{reading_seeds} of {} seeds read entries back ({stored_reads} entries)",
            seeds.len()
        );
    }
    eprintln!(
        "{} seeds: {committed} committed, {views} views, {stored_reads} entries read back from durable logs in {reading_seeds} seeds",
        seeds.len()
    );
}

#[test]
fn the_same_seed_replays_identically() {
    let a = Sim::new(42).run().unwrap();
    let b = Sim::new(42).run().unwrap();
    assert_eq!((a.committed, a.views), (b.committed, b.views));
}
