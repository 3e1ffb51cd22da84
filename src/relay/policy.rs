//! The relay scheduler's user-space policy: weighted virtual time, as
//! `fair` does in BPF, decided here instead. Pure (no syscall, no clock):
//! the session feeds it the tasks BPF handed up and sends back what it
//! returns.
//!
//! Each task's virtual time advances by the CPU time it used since it was
//! last seen, times `100 / weight`. A task that slept keeps at most one
//! maximum slice of credit (its virtual time is raised to
//! `floor - max_slice`, `floor` being the smallest virtual time dispatched
//! so far). Every round dispatches its batch smallest virtual time first,
//! each with a slice computed here: the target latency shared by the tasks
//! of the round, scaled by the task's weight, within `[min_slice,
//! max_slice]`.

use std::collections::HashMap;

use super::wire::{RelayDispatch, RelayTask};

/// Knobs of the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyConfig {
    /// The time every runnable task of a round should get to run in (ns).
    pub target_latency_ns: u64,
    pub min_slice_ns: u64,
    pub max_slice_ns: u64,
    /// Tasks remembered before the longest-unseen ones are forgotten.
    pub max_tasks: usize,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            target_latency_ns: 20_000_000,
            min_slice_ns: 500_000,
            max_slice_ns: 20_000_000,
            max_tasks: 65_536,
        }
    }
}

/// What the policy remembers of a task.
#[derive(Debug, Clone, Copy)]
struct TaskState {
    vtime: u64,
    sum_exec_ns: u64,
    last_round: u64,
}

/// Weighted virtual-time order with slices computed per round.
#[derive(Debug, Default)]
pub struct Policy {
    config: PolicyConfig,
    tasks: HashMap<i32, TaskState>,
    floor: u64,
    round: u64,
}

impl Policy {
    #[must_use]
    pub fn new(config: PolicyConfig) -> Self {
        Policy {
            config,
            ..Policy::default()
        }
    }

    /// Tasks the policy currently remembers.
    #[must_use]
    pub fn tracked(&self) -> usize {
        self.tasks.len()
    }

    /// Orders one batch of runnable tasks and gives each its slice.
    pub fn decide(&mut self, batch: &[RelayTask]) -> Vec<RelayDispatch> {
        self.round += 1;
        let slice = self.round_slice(batch.len());
        let mut keyed: Vec<(u64, RelayDispatch)> = batch
            .iter()
            .map(|t| {
                let vtime = self.charge(t);
                let dispatch = RelayDispatch {
                    pid: t.pid,
                    slice_ns: self.weighted(slice, t.weight),
                    enqueued_ns: t.enqueued_ns,
                };
                (vtime, dispatch)
            })
            .collect();
        keyed.sort_by_key(|(vtime, d)| (*vtime, d.pid));
        if let Some((first, _)) = keyed.first() {
            self.floor = self.floor.max(*first);
        }
        self.forget_oldest();
        keyed.into_iter().map(|(_, d)| d).collect()
    }

    /// The slice of a nice-0 task when `n` tasks share the target latency.
    fn round_slice(&self, n: usize) -> u64 {
        let n = u64::try_from(n.max(1)).unwrap_or(u64::MAX);
        (self.config.target_latency_ns / n)
            .clamp(self.config.min_slice_ns, self.config.max_slice_ns)
    }

    fn weighted(&self, slice: u64, weight: u32) -> u64 {
        (slice.saturating_mul(u64::from(weight.max(1))) / 100)
            .clamp(self.config.min_slice_ns, self.config.max_slice_ns)
    }

    /// Advances `t`'s virtual time by the CPU time used since last seen
    /// and returns it, sleeper credit bounded by one maximum slice.
    fn charge(&mut self, t: &RelayTask) -> u64 {
        let lowest = self.floor.saturating_sub(self.config.max_slice_ns);
        let round = self.round;
        let state = self.tasks.entry(t.pid).or_insert(TaskState {
            vtime: self.floor,
            sum_exec_ns: t.sum_exec_ns,
            last_round: round,
        });
        let used = t.sum_exec_ns.saturating_sub(state.sum_exec_ns);
        state.vtime = state
            .vtime
            .saturating_add(used.saturating_mul(100) / u64::from(t.weight.max(1)))
            .max(lowest);
        state.sum_exec_ns = t.sum_exec_ns;
        state.last_round = round;
        state.vtime
    }

    /// Bounds memory: past `max_tasks`, forgets the half seen longest ago.
    fn forget_oldest(&mut self) {
        if self.tasks.len() <= self.config.max_tasks {
            return;
        }
        let mut rounds: Vec<u64> = self.tasks.values().map(|s| s.last_round).collect();
        rounds.sort_unstable();
        let cut = rounds[rounds.len() / 2];
        self.tasks.retain(|_, s| s.last_round > cut);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(pid: i32, weight: u32, sum_exec_ns: u64) -> RelayTask {
        RelayTask {
            pid,
            weight,
            sum_exec_ns,
            enqueued_ns: 1,
        }
    }

    #[test]
    fn the_task_that_used_less_weighted_cpu_time_runs_first() {
        let mut p = Policy::new(PolicyConfig::default());
        p.decide(&[task(1, 100, 0), task(2, 100, 0), task(3, 200, 0)]);
        // 1 used 10 ms, 2 used 2 ms, 3 (double weight) used 8 ms = 4 ms weighted.
        let order: Vec<i32> = p
            .decide(&[
                task(1, 100, 10_000_000),
                task(2, 100, 2_000_000),
                task(3, 200, 8_000_000),
            ])
            .iter()
            .map(|d| d.pid)
            .collect();
        assert_eq!(order, [2, 3, 1]);
    }

    #[test]
    fn slices_shrink_with_the_batch_and_grow_with_weight_within_bounds() {
        let cfg = PolicyConfig::default();
        let mut p = Policy::new(cfg);
        let one = p.decide(&[task(1, 100, 0)]);
        assert_eq!(one[0].slice_ns, cfg.target_latency_ns);
        let four: Vec<RelayTask> = (1..=4).map(|i| task(i, 100, 0)).collect();
        assert_eq!(p.decide(&four)[0].slice_ns, cfg.target_latency_ns / 4);
        let heavy = p.decide(&[task(9, 10_000, 0), task(8, 1, 0)]);
        let slice = |pid| heavy.iter().find(|d| d.pid == pid).unwrap().slice_ns;
        assert_eq!(slice(9), cfg.max_slice_ns);
        assert_eq!(slice(8), cfg.min_slice_ns);
        let many: Vec<RelayTask> = (1..=1000).map(|i| task(i, 100, 0)).collect();
        assert!(
            p.decide(&many)
                .iter()
                .all(|d| d.slice_ns == cfg.min_slice_ns)
        );
    }

    #[test]
    fn a_sleeper_keeps_at_most_one_slice_of_credit() {
        let cfg = PolicyConfig::default();
        let mut p = Policy::new(cfg);
        p.decide(&[task(1, 100, 0), task(2, 100, 0)]);
        // Task 1 runs a whole second while task 2 sleeps.
        for ms in 1..=100 {
            p.decide(&[task(1, 100, ms * 10_000_000)]);
        }
        let d = p.decide(&[task(2, 100, 0), task(1, 100, 1_000_000_000)]);
        assert_eq!(d[0].pid, 2, "the sleeper goes first");
        let v2 = p.tasks[&2].vtime;
        assert!(
            v2 + cfg.max_slice_ns >= p.floor,
            "credit bounded: vtime {v2}, floor {}",
            p.floor
        );
    }

    #[test]
    fn memory_is_bounded_by_forgetting_the_longest_unseen() {
        let mut p = Policy::new(PolicyConfig {
            max_tasks: 10,
            ..PolicyConfig::default()
        });
        for pid in 0..30 {
            p.decide(&[task(pid, 100, 0)]);
        }
        assert!(p.tracked() <= 10, "{}", p.tracked());
        assert!(p.tasks.contains_key(&29), "the newest is kept");
    }

    #[test]
    fn an_empty_batch_decides_nothing() {
        let mut p = Policy::new(PolicyConfig::default());
        assert!(p.decide(&[]).is_empty());
    }
}
