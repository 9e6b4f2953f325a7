//! Background work in progress, for `GET /_active_tasks`: Mango index
//! builds (CouchDB's `indexer` tasks) and database compactions
//! (`database_compaction`), with CouchDB's progress counters.
//!
//! Work registers a task when it starts and holds the [`TaskHandle`]; the
//! task is gone when the handle is dropped, as a CouchDB task is when the
//! process that added it exits.
//!
//! Tasks also report to the log: a compaction, or an index build with at
//! least [`LOG_FROM_CHANGES`] changes to do, logs when it starts and when
//! it ends; any task logs its progress every [`PROGRESS_EVERY`] while it
//! runs (so a build that turns out long is logged too), and its end once it
//! has logged progress.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A task with this many changes to do is logged from its start.
pub const LOG_FROM_CHANGES: u64 = 1000;

/// How often a running task logs its progress.
pub const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// What a task does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskKind {
    /// Building or catching up a Mango index defined in this design doc.
    Indexer { design_document: String },
    /// Dropping old revision bodies and unreferenced attachments.
    DatabaseCompaction,
}

/// One running task, as `_active_tasks` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// Unique while the server runs; stands in for CouchDB's pid.
    pub id: u64,
    pub kind: TaskKind,
    pub database: String,
    /// Unix seconds.
    pub started_on: u64,
    pub updated_on: u64,
    pub changes_done: u64,
    pub total_changes: u64,
}

impl TaskKind {
    /// The `type` `_active_tasks` shows.
    pub fn type_name(&self) -> &'static str {
        match self {
            TaskKind::Indexer { .. } => "indexer",
            TaskKind::DatabaseCompaction => "database_compaction",
        }
    }

    /// The design document of an index build ("" for others).
    fn design_document(&self) -> &str {
        match self {
            TaskKind::Indexer { design_document } => design_document,
            TaskKind::DatabaseCompaction => "",
        }
    }
}

impl Task {
    /// Percent done, rounded down, as CouchDB computes it (0 with nothing
    /// to do).
    pub fn progress(&self) -> u64 {
        match self.total_changes {
            0 => 0,
            total => self.changes_done.min(total) * 100 / total,
        }
    }
}

/// The server's running tasks.
#[derive(Debug, Default)]
pub struct ActiveTasks {
    next_id: AtomicU64,
    tasks: Mutex<BTreeMap<u64, Task>>,
}

impl ActiveTasks {
    /// Registers a task; it is listed until the handle is dropped.
    pub fn start(
        self: &Arc<Self>,
        kind: TaskKind,
        database: &str,
        total_changes: u64,
    ) -> TaskHandle {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let now = unix_now();
        let logged =
            matches!(kind, TaskKind::DatabaseCompaction) || total_changes >= LOG_FROM_CHANGES;
        if logged {
            tracing::info!(
                task = kind.type_name(),
                db = %database,
                design_document = kind.design_document(),
                total_changes,
                "task started"
            );
        }
        self.lock().insert(
            id,
            Task {
                id,
                kind,
                database: database.to_string(),
                started_on: now,
                updated_on: now,
                changes_done: 0,
                total_changes,
            },
        );
        TaskHandle {
            tasks: Arc::clone(self),
            id,
            started: Instant::now(),
            next_log: Mutex::new(Instant::now() + PROGRESS_EVERY),
            logged: AtomicBool::new(logged),
        }
    }

    /// Every running task, oldest first.
    pub fn list(&self) -> Vec<Task> {
        self.lock().values().cloned().collect()
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<u64, Task>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A registered task; dropping it ends the task.
#[derive(Debug)]
pub struct TaskHandle {
    tasks: Arc<ActiveTasks>,
    id: u64,
    started: Instant,
    /// When the next progress line is due.
    next_log: Mutex<Instant>,
    /// Whether the task has been logged (its end is logged then too).
    logged: AtomicBool,
}

impl TaskHandle {
    /// Records progress (`total_changes` never shrinks below what is done),
    /// and logs it when a progress line is due.
    pub fn update(&self, changes_done: u64, total_changes: u64) {
        let snapshot = {
            let mut tasks = self.tasks.lock();
            let Some(task) = tasks.get_mut(&self.id) else {
                return;
            };
            task.changes_done = changes_done;
            task.total_changes = total_changes.max(changes_done);
            task.updated_on = unix_now();
            task.clone()
        };
        let now = Instant::now();
        let mut next = self.next_log.lock().unwrap_or_else(|p| p.into_inner());
        if now >= *next {
            *next = now + PROGRESS_EVERY;
            self.logged.store(true, Ordering::Relaxed);
            tracing::info!(
                task = snapshot.kind.type_name(),
                db = %snapshot.database,
                design_document = snapshot.kind.design_document(),
                changes_done = snapshot.changes_done,
                total_changes = snapshot.total_changes,
                progress = snapshot.progress(),
                "task progress"
            );
        }
    }
}

impl Drop for TaskHandle {
    fn drop(&mut self) {
        let Some(task) = self.tasks.lock().remove(&self.id) else {
            return;
        };
        if self.logged.load(Ordering::Relaxed) {
            tracing::info!(
                task = task.kind.type_name(),
                db = %task.database,
                design_document = task.kind.design_document(),
                changes_done = task.changes_done,
                total_changes = task.total_changes,
                millis = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
                "task ended"
            );
        }
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_are_listed_until_their_handle_drops() {
        let tasks = Arc::new(ActiveTasks::default());
        let build = tasks.start(
            TaskKind::Indexer {
                design_document: "_design/a".into(),
            },
            "db",
            200,
        );
        let compaction = tasks.start(TaskKind::DatabaseCompaction, "other", 0);
        build.update(50, 200);
        let listed = tasks.list();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].database, "db");
        assert_eq!(listed[0].progress(), 25);
        assert_eq!(listed[1].progress(), 0);
        assert!(listed[0].id < listed[1].id);
        drop(build);
        assert_eq!(tasks.list().len(), 1);
        // More done than announced: the total follows.
        compaction.update(7, 3);
        assert_eq!(tasks.list()[0].total_changes, 7);
        assert_eq!(tasks.list()[0].progress(), 100);
        drop(compaction);
        assert!(tasks.list().is_empty());
    }
}
