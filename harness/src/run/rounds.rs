//! The schedule of an experiment that compares within itself or stops on its data: runs go in rounds, and
//! the cells of a pair (the cells that differ only in the axis of `[ci] baseline`) run back to back in each
//! round, in an order drawn for that round, so that whatever the machine does during the round falls on
//! both sides alike and neither side always runs first.

use std::collections::HashSet;

use super::{Shard, Slot, shuffle};
use crate::experiment::{Experiment, Order};

/// The cells of the experiment in groups that run back to back: the cells of each pair, in the order of
/// their first cell; a cell of no pair is a group of its own.
pub(crate) fn groups(experiment: &Experiment) -> Vec<Vec<usize>> {
    let Some(baseline) = &experiment.gate.baseline else {
        return (0..experiment.cells.len()).map(|c| vec![c]).collect();
    };
    let mut groups: Vec<(Vec<String>, Vec<usize>)> = Vec::new();
    for (index, cell) in experiment.cells.iter().enumerate() {
        let key = cell.pair_key(&baseline.pair_by);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, cells)) => cells.push(index),
            None => groups.push((key, vec![index])),
        }
    }
    groups.into_iter().map(|(_, cells)| cells).collect()
}

/// Whether the experiment's runs go by [`schedule`]: it compares within itself, or stops on its data.
pub(crate) fn applies(experiment: &Experiment) -> bool {
    experiment.gate.baseline.is_some() || experiment.rounds.is_range()
}

/// The runs in rounds: the measured runs of `shard` not in `done`, each cell's warmups first. The shards
/// deal out (round, group) units in canonical order, so a pair is never split between two machines.
/// `interleaved` visits the groups in order each round, `random` in an order drawn per round, `sequential`
/// (only for a fixed count of rounds) every round of a group before the next group. Within a group, the
/// order is drawn per round.
pub(crate) fn schedule(experiment: &Experiment, shard: Option<Shard>, done: &HashSet<(usize, u32)>) -> Vec<Slot> {
    let groups = groups(experiment);
    let mut units: Vec<(u32, usize)> = (1..=experiment.repetitions)
        .flat_map(|round| (0..groups.len()).map(move |group| (round, group)))
        .enumerate()
        .filter(|(position, _)| shard.is_none_or(|s| s.keeps(*position)))
        .map(|(_, unit)| unit)
        .collect();
    match experiment.order {
        Order::Interleaved => {}
        Order::Sequential => units.sort_by_key(|&(round, group)| (group, round)),
        Order::Random => {
            // Within each round: the rounds stay in order, so that a run may stop after any of them.
            let mut start = 0;
            while start < units.len() {
                let round = units[start].0;
                let end = start + units[start..].iter().take_while(|u| u.0 == round).count();
                shuffle(&mut units[start..end], experiment.seed ^ u64::from(round).wrapping_mul(0x9e37_79b9));
                start = end;
            }
        }
    }
    let measured: Vec<Slot> = units
        .iter()
        .flat_map(|&(round, group)| {
            let mut cells = groups[group].clone();
            if cells.len() > 1 {
                shuffle(
                    &mut cells,
                    crate::stats::Rng::for_stream(experiment.seed, &format!("pair {round} {group}")).next_u64(),
                );
            }
            cells.into_iter().map(move |cell| Slot { cell, repetition: Some(round) })
        })
        .filter(|slot| !done.contains(&(slot.cell, slot.repetition.unwrap_or_default())))
        .collect();
    let mut active: Vec<usize> = measured.iter().map(|s| s.cell).collect();
    active.sort_unstable();
    active.dedup();
    let mut slots: Vec<Slot> =
        (0..experiment.warmup).flat_map(|_| active.iter().map(|&cell| Slot { cell, repetition: None })).collect();
    slots.extend(measured);
    slots
}
