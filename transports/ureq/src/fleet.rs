//! Fleet export on the blocking driver: every selected database of an account, on a few
//! threads, under the client's shared request budget (see
//! [`ClientConfig::budget`](crate::ClientConfig)).

use crate::Client;
use d1_export_core::wire::DatabaseInfo;
use d1_export_core::{AccountId, DatabaseId, Job};
use d1_export_transport::{
    dump_file_name, DatabaseReport, DatabaseStatus, Error, FleetHooks, FleetOptions,
};
use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Mutex, PoisonError};
use std::time::{Instant, SystemTime};

impl Client {
    /// Every database of the account, page after page.
    pub fn list_all_databases(
        &self,
        account: &AccountId,
        per_page: u32,
    ) -> Result<Vec<DatabaseInfo>, Error> {
        let mut all = Vec::new();
        let mut page = 1;
        loop {
            let listing = self.list_databases(account, page, per_page)?;
            let next = listing.next_page(page, per_page);
            all.extend(listing.databases);
            match next {
                Some(n) => page = n,
                None => return Ok(all),
            }
        }
    }

    /// Exports every selected database of the account into `dir` as `<name>-<uuid>.sql`, on
    /// `options.concurrency` threads, one export per database. One database failing never
    /// stops the others; the reports come back in listing order. Only a failed listing fails
    /// the whole call.
    pub fn export_all(
        &self,
        account: &AccountId,
        dir: &Path,
        options: &FleetOptions,
        hooks: &(impl FleetHooks + Sync),
    ) -> Result<Vec<DatabaseReport>, Error> {
        let databases: VecDeque<(usize, DatabaseInfo)> = options
            .select(self.list_all_databases(account, options.per_page)?)
            .into_iter()
            .enumerate()
            .collect();
        let workers = options.concurrency.clamp(1, databases.len().max(1));
        let queue = Mutex::new(databases);
        let done = Mutex::new(Vec::new());
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let next = queue
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .pop_front();
                    let Some((i, database)) = next else { break };
                    let report = self.export_one(account, dir, options, hooks, database);
                    done.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((i, report));
                });
            }
        });
        let mut reports = done.into_inner().unwrap_or_else(PoisonError::into_inner);
        reports.sort_by_key(|(i, _)| *i);
        Ok(reports.into_iter().map(|(_, r)| r).collect())
    }

    fn export_one(
        &self,
        account: &AccountId,
        dir: &Path,
        options: &FleetOptions,
        hooks: &impl FleetHooks,
        database: DatabaseInfo,
    ) -> DatabaseReport {
        let started = SystemTime::now();
        let clock = Instant::now();
        let path = dir.join(dump_file_name(&database));
        let status = self
            .export_status(account, &path, options, hooks, &database)
            .unwrap_or_else(DatabaseStatus::Failed);
        let report = DatabaseReport {
            database,
            path,
            status,
            started,
            elapsed: clock.elapsed(),
        };
        hooks.on_done(&report);
        report
    }

    fn export_status(
        &self,
        account: &AccountId,
        path: &Path,
        options: &FleetOptions,
        hooks: &impl FleetHooks,
        info: &DatabaseInfo,
    ) -> Result<DatabaseStatus, Error> {
        let database = DatabaseId::new(&info.uuid).map_err(|e| Error::Config(e.to_string()))?;
        if options.skip_unchanged {
            if let Some(previous) = hooks.previous_bookmark(info, path) {
                let current = self.current_bookmark(account, &database)?;
                if current == previous {
                    return Ok(DatabaseStatus::Skipped { bookmark: current });
                }
            }
        }
        let job = Job {
            account: account.clone(),
            database,
            options: options.dump.clone(),
        };
        let on_event = |event: &_| hooks.on_event(info, event);
        let outcome = match hooks.open_feed(info, path) {
            Some(feed) => self.export_to_feed(&job, &mut feed?, on_event)?,
            None => self.export_to_path(&job, path, on_event)?,
        };
        Ok(DatabaseStatus::Exported(outcome))
    }
}
