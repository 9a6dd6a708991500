//! Bulk reads that a list resolver makes up front for the fields its client selected.
//!
//! Batched loaders group the lookups that resolvers make at about the same time, but how
//! many batches a list of many items takes depends on timing. For the dashboard query (a
//! cycle's objectives with owners, teams, key results and last check-ins) the objective
//! list reads each of those with one statement before its items resolve, so the number of
//! statements is the same for 5 objectives and for 500.

use super::context::ContextExt;
use super::error::{ApiError, store_failure};
use super::loaders::KeyResultsOf;
use async_graphql::{Context, Lookahead};
use headway_domain::ids::{CheckInId, TeamId, UserId};
use headway_domain::model::{KeyResult, Objective};
use std::collections::{BTreeSet, HashMap};

/// The selections of a connection's items, through `nodes` and through `edges { node }`.
fn items<'a>(connection: &Lookahead<'a>) -> [Lookahead<'a>; 2] {
    [
        connection.field("nodes"),
        connection.field("edges").field("node"),
    ]
}

fn selects(selections: &[Lookahead<'_>], field: &str) -> bool {
    selections
        .iter()
        .any(|selection| selection.field(field).exists())
}

fn fields<'a>(selections: &[Lookahead<'a>], field: &str) -> Vec<Lookahead<'a>> {
    selections
        .iter()
        .map(|selection| selection.field(field))
        .collect()
}

/// Reads the owners, teams, key results and last check-ins of a page of objectives, as far
/// as the query selects them, and remembers them for the item resolvers.
pub async fn objective_page(ctx: &Context<'_>, objectives: &[Objective]) -> Result<(), ApiError> {
    if objectives.is_empty() {
        return Ok(());
    }
    let look = ctx.look_ahead();
    let selected = items(&look);
    let organization_id = ctx.read_scope()?;
    let store = ctx.store()?;
    let loader = ctx.loader()?;
    let mut users: BTreeSet<UserId> = BTreeSet::new();

    if selects(&selected, "owner") {
        users.extend(objectives.iter().filter_map(|objective| objective.owner_id));
    }
    if selects(&selected, "team") {
        let team_ids: Vec<TeamId> = objectives
            .iter()
            .filter_map(|objective| objective.team_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        if !team_ids.is_empty() {
            let teams = store
                .teams_by_ids(organization_id, &team_ids)
                .await
                .map_err(store_failure)?;
            loader.remember(teams.into_iter().map(|team| (team.id, team)));
        }
    }

    let key_results_field = fields(&selected, "keyResults");
    let key_result_items: Vec<Lookahead<'_>> = key_results_field.iter().flat_map(items).collect();
    if key_results_field.iter().any(Lookahead::exists) {
        let objective_ids: Vec<_> = objectives.iter().map(|objective| objective.id).collect();
        let key_results = store
            .key_results_of_objectives(organization_id, &objective_ids, false)
            .await
            .map_err(store_failure)?;
        let mut groups: HashMap<KeyResultsOf, Vec<KeyResult>> = objective_ids
            .iter()
            .map(|id| (KeyResultsOf(*id), Vec::new()))
            .collect();
        for key_result in &key_results {
            groups
                .entry(KeyResultsOf(key_result.objective_id))
                .or_default()
                .push(key_result.clone());
        }
        loader.remember(groups);
        loader.remember(
            key_results
                .iter()
                .map(|key_result| (key_result.id, key_result.clone())),
        );

        let last_check_in = fields(&key_result_items, "lastCheckIn");
        if last_check_in.iter().any(Lookahead::exists) {
            let check_in_ids: Vec<CheckInId> = key_results
                .iter()
                .filter_map(|key_result| key_result.current_check_in_id)
                .collect();
            if !check_in_ids.is_empty() {
                let check_ins = store
                    .check_ins_by_ids(organization_id, &check_in_ids)
                    .await
                    .map_err(store_failure)?;
                if selects(&last_check_in, "author") {
                    users.extend(check_ins.iter().filter_map(|check_in| check_in.author_id));
                }
                loader.remember(
                    check_ins
                        .into_iter()
                        .map(|check_in| (check_in.id, check_in)),
                );
            }
        }
        if selects(&key_result_items, "owner") {
            users.extend(
                key_results
                    .iter()
                    .filter_map(|key_result| key_result.owner_id),
            );
        }
    }

    if !users.is_empty() {
        let user_ids: Vec<UserId> = users.into_iter().collect();
        let found = store
            .users_by_ids(organization_id, &user_ids)
            .await
            .map_err(store_failure)?;
        loader.remember(found.into_iter().map(|user| (user.id, user)));
    }
    Ok(())
}
