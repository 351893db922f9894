//! Fleet export on the async driver: every selected database of an account, a few at a time,
//! under the client's shared request budget (see [`ClientConfig::budget`](crate::ClientConfig)).

use crate::Client;
use d1_export_core::wire::DatabaseInfo;
use d1_export_core::{AccountId, DatabaseId, Job};
use d1_export_transport::{
    dump_file_name, DatabaseReport, DatabaseStatus, Error, FleetHooks, FleetOptions,
};
use futures_util::stream::{self, StreamExt};
use std::path::Path;
use std::time::{Instant, SystemTime};

impl Client {
    /// Every database of the account, page after page.
    pub async fn list_all_databases(
        &self,
        account: &AccountId,
        per_page: u32,
    ) -> Result<Vec<DatabaseInfo>, Error> {
        let mut all = Vec::new();
        let mut page = 1;
        loop {
            let listing = self.list_databases(account, page, per_page).await?;
            let next = listing.next_page(page, per_page);
            all.extend(listing.databases);
            match next {
                Some(n) => page = n,
                None => return Ok(all),
            }
        }
    }

    /// Exports every selected database of the account into `dir` as `<name>-<uuid>.sql`, at
    /// most `options.concurrency` at once, one export per database. One database failing
    /// never stops the others; the reports come back in listing order. Only a failed listing
    /// fails the whole call.
    ///
    /// Give the client a shared budget ([`ClientConfig::budget`](crate::ClientConfig)) to keep
    /// the whole fleet within the API's rate limit; polls of running exports come first.
    pub async fn export_all(
        &self,
        account: &AccountId,
        dir: &Path,
        options: &FleetOptions,
        hooks: &impl FleetHooks,
    ) -> Result<Vec<DatabaseReport>, Error> {
        let databases = options.select(self.list_all_databases(account, options.per_page).await?);
        let mut reports: Vec<(usize, DatabaseReport)> =
            stream::iter(databases.into_iter().enumerate())
                .map(|(i, db)| async move {
                    (i, self.export_one(account, dir, options, hooks, db).await)
                })
                .buffer_unordered(options.concurrency.max(1))
                .collect()
                .await;
        reports.sort_by_key(|(i, _)| *i);
        Ok(reports.into_iter().map(|(_, r)| r).collect())
    }

    async fn export_one(
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
            .await
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

    async fn export_status(
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
                let current = self.current_bookmark(account, &database).await?;
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
            Some(feed) => self.export_to_feed(&job, &mut feed?, on_event).await?,
            None => self.export_to_path(&job, path, on_event).await?,
        };
        Ok(DatabaseStatus::Exported(outcome))
    }
}
