//! The run's schedule: each phase's step, and how many iterations a batch records.

use super::{MAX_STEP, MOMENTUM_EARLY, MOMENTUM_LATE};
use crate::tsne::{CHECK_EVERY, LearningRates};

/// What the update step does in one phase of the optimization.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step {
    /// The factor on the attraction (α during early exaggeration, else 1).
    pub exaggeration: f32,
    pub momentum: f32,
    pub learning_rate: f32,
    /// The longest step a point takes (the norm of its update); infinity for no cap.
    pub max_step: f32,
}

/// The whole run's steps: early exaggeration, the two phases' step sizes and the cap on a step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    pub early_exaggeration: f32,
    pub learning_rates: LearningRates,
    /// See [`Step::max_step`].
    pub max_step: f32,
}

impl Schedule {
    /// Exaggeration and step sizes with the default cap [`MAX_STEP`].
    pub fn new(early_exaggeration: f32, learning_rates: impl Into<LearningRates>) -> Schedule {
        Schedule {
            early_exaggeration,
            learning_rates: learning_rates.into(),
            max_step: MAX_STEP,
        }
    }

    /// The step of each phase: exaggerated with momentum 0.5, or not with momentum 0.8.
    pub fn step(&self, early: bool) -> Step {
        let (exaggeration, momentum, learning_rate) = if early {
            (
                self.early_exaggeration,
                MOMENTUM_EARLY,
                self.learning_rates.early,
            )
        } else {
            (1.0, MOMENTUM_LATE, self.learning_rates.late)
        };
        Step {
            exaggeration,
            momentum,
            learning_rate,
            max_step: self.max_step,
        }
    }
}

/// How many iterations the optimizer records into one command buffer. The repulsion grid is
/// re-sized between batches from what the last one measured; while the map grows fast (after
/// early exaggeration 20,000 text embeddings spread from 3 to 50 units in 50 iterations) a grid
/// sized at the batch's start is soon far too coarse for its plain interpolation, the forces go
/// wrong and the run ends at a poor KL. So a batch after which the grid had to change is followed
/// by one a quarter as long (down to one iteration), and one after which it still fitted by one
/// twice as long, up to [`CHECK_EVERY`]. Each phase starts with a batch of one iteration (the
/// late phase's step size is the early one times the exaggeration). Batches end at every check
/// and at the phase's end; the schedule depends only on what the runs measure, so it is the same
/// every run.
#[derive(Clone, Debug)]
pub struct Batches {
    len: usize,
    exaggerated: usize,
    total: usize,
}

impl Batches {
    /// Batches for `total` iterations of which the first `exaggerated` are exaggerated.
    pub fn new(exaggerated: usize, total: usize) -> Batches {
        Batches {
            len: 1,
            exaggerated: exaggerated.min(total),
            total,
        }
    }

    /// Where the batch that starts at iteration `t` ends.
    pub fn end(&mut self, t: usize) -> usize {
        if t == 0 || t == self.exaggerated {
            self.len = 1;
        }
        let phase_end = if t < self.exaggerated {
            self.exaggerated
        } else {
            self.total
        };
        let check = (t / CHECK_EVERY + 1) * CHECK_EVERY;
        (t + self.len).min(check).min(phase_end)
    }

    /// After a batch: whether the repulsion grid had to change.
    pub fn after(&mut self, grid_changed: bool) {
        self.len = if grid_changed {
            (self.len / 4).max(1)
        } else {
            (self.len * 2).min(CHECK_EVERY)
        };
    }
}
